"""The noise estimate recovers planted layer and time correlations, ignores a shared trend and
the kinks where every layer starts to compress, and refuses what one run cannot estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import Run
from analysis.stats.noise import estimate_noise, run_noise


def separable(rng: np.random.Generator, shape: tuple[int, ...], time: float, layer: float):
    """Unit-variance noise `[..., T, L]`, AR(1) `time` along T and `layer` along L."""
    e = rng.standard_normal(shape)
    for i in range(1, shape[-1]):
        e[..., i] = layer * e[..., i - 1] + np.sqrt(1 - layer**2) * e[..., i]
    for t in range(1, shape[-2]):
        e[..., t, :] = time * e[..., t - 1, :] + np.sqrt(1 - time**2) * e[..., t, :]
    return e


def test_layer_correlation_is_recovered_whatever_the_time_correlation() -> None:
    rng = np.random.default_rng(0)
    for time in (0.0, 0.9):
        for layer in (0.0, 0.7):
            est = estimate_noise(separable(rng, (100, 81, 12), time, layer))
            assert abs(float(est.layer_corr.mean()) - layer) < 0.02, (time, layer)
            # the jackknife SE matches the run-to-run scatter within a fifth
            ratio = float(est.layer_corr_se.mean() / est.layer_corr.std())
            assert 0.8 < ratio < 1.25, (time, layer, ratio)
    est = estimate_noise(separable(rng, (100, 81, 12), 0.5, 0.0))
    assert abs(float(np.median(est.time_corr)) - 0.5) < 0.1
    assert abs(float(np.median(est.sd)) - 1.0) < 0.1


def test_a_shared_trend_with_a_kink_is_not_correlated_noise() -> None:
    """Every layer compresses at once (a kink at the same snapshot in every layer): residuals
    there are large and identical across layers, yet the robust estimate stays near 0."""
    rng = np.random.default_rng(1)
    steps = np.arange(81) * 50.0
    trend = 0.4 * (1 - np.exp(-np.clip(steps - 1000, 0, None) / 200))
    values = np.log(1 - trend)[None, :, None] + 0.01 * rng.standard_normal((200, 81, 12))
    est = estimate_noise(values)
    assert 0 <= float(est.layer_corr.mean()) < 0.06  # residuals' Pearson correlation: 0.3
    r = values[:, 2:-2] - (values[:, :-4] + values[:, 1:-3] + values[:, 3:-1] + values[:, 4:]) / 4
    assert np.corrcoef(r[..., :-1].ravel(), r[..., 1:].ravel())[0, 1] > 0.2


def test_run_noise_and_its_refusals() -> None:
    rng = np.random.default_rng(2)
    steps, layers = np.arange(0, 2001, 25), 8
    noise = separable(rng, (len(steps), layers), 0.5, 0.5)
    frame = pd.DataFrame(
        {
            "step": np.repeat(steps, layers),
            "layer": np.tile(np.arange(layers), len(steps)),
            "kind": "q",
            "stable_rank": (40 * np.exp(0.01 * noise)).ravel(),
        }
    )
    est = run_noise(Run.from_frame(frame), "stable_rank")
    assert est.reason is None
    assert abs(float(est.layer_corr) - 0.5) < 0.2
    assert list(est.frame().columns) == ["layer", "sd", "residual_sd"]
    assert np.allclose(est.sd, 0.01, rtol=0.3)
    short = estimate_noise(noise[:12])
    assert "needs ≥ 15 snapshots" in short.reason
    smooth = estimate_noise(separable(rng, (81, 8), 0.0, 0.97))
    assert "cannot be told from noise" in smooth.reason


def _alpha_run(values: np.ndarray) -> Run:
    steps, layers = np.arange(values.shape[0]) * 5, values.shape[1]
    return Run.from_frame(
        pd.DataFrame(
            {
                "step": np.repeat(steps, layers),
                "layer": np.tile(np.arange(layers), len(steps)),
                "kind": "q",
                "alpha": (3.0 + values).ravel(),
            }
        )
    )


def test_a_sparser_probe_sees_snapshot_noise_unchanged_and_drift_grow() -> None:
    """`stride`: the residual scale of white snapshot noise is the same when every 5th
    snapshot is kept; a random walk's grows by √5 (its steps add up)."""
    rng = np.random.default_rng(3)
    white = _alpha_run(0.05 * rng.standard_normal((400, 8)))
    dense, sparse = run_noise(white, "alpha"), run_noise(white, "alpha", stride=5)
    assert np.median(sparse.residual_sd) == pytest.approx(np.median(dense.residual_sd), rel=0.15)
    walk = _alpha_run(np.cumsum(0.01 * rng.standard_normal((400, 8)), axis=0))
    dense, sparse = run_noise(walk, "alpha"), run_noise(walk, "alpha", stride=5)
    grows = np.median(sparse.residual_sd) / np.median(dense.residual_sd)
    assert grows == pytest.approx(np.sqrt(5), rel=0.2)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        run_noise(white, "alpha", stride=0)
