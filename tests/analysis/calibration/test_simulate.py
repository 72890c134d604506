"""The simulator's noise has the structure its `Noise` names: per-snapshot SDs, AR(1) in time,
and a layer correlation of its own for the stable rank and for α (real runs differ there)."""

from __future__ import annotations

import numpy as np

from analysis.calibration.simulate import Noise, noisy_alpha, stable_rank
from analysis.stats.noise import estimate_noise


def test_rank_and_alpha_noise_have_their_own_time_and_layer_correlation() -> None:
    noise = Noise(
        rank=0.02, alpha=0.1, ar=0.5, layer_corr=-0.1, rank_ar=0.2, rank_layer_corr=0.5, offset=0
    )
    rng = np.random.default_rng(0)
    ranks = stable_rank(rng, 60, np.zeros((81, 12)), noise)
    alpha = noisy_alpha(rng, 60, np.full((81, 12), 3.0), noise)
    rank_est, alpha_est = estimate_noise(np.log(ranks)), estimate_noise(alpha)
    assert abs(float(np.median(rank_est.layer_corr)) - 0.5) < 0.05
    assert abs(float(np.median(alpha_est.layer_corr)) + 0.1) < 0.05
    assert abs(float(np.median(alpha_est.time_corr)) - 0.5) < 0.1
    assert abs(float(np.median(rank_est.time_corr)) - 0.2) < 0.1
    assert abs(float(np.median(alpha_est.sd)) - 0.1) < 0.01
    assert abs(float(np.median(rank_est.sd)) - 0.02) < 0.002
    same = stable_rank(
        np.random.default_rng(1),
        60,
        np.zeros((81, 12)),
        Noise(layer_corr=0.5, rank_layer_corr=None),
    )
    assert abs(float(np.median(estimate_noise(np.log(same)).layer_corr)) - 0.5) < 0.05
