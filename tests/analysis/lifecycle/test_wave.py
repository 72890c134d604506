"""The compression wave and the reversal of G(t): planted ones recovered with intervals that
cover the truth; none where none; refusals where the depth cannot decide."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import Run, compression_wave, load_run
from analysis.lifecycle.reversal import band_gradient
from tests.analysis import planted

L = 12
SPEED = 1000 * (L - 1) / planted.DELAY  # layers per 1k steps
SPACING = 50  # steps between planted snapshots


def true_reversal() -> float:
    """Zero crossing of the noise-free G after its negative extreme (1-step grid)."""
    t = np.arange(0, 4001, 1.0)
    g = band_gradient(planted.wave_compression(t, np.arange(L) / (L - 1)))
    low = int(np.argmin(g))
    return float(t[low + int(np.argmax(g[low:] > 0))])


def _frame(c: np.ndarray, steps: np.ndarray) -> pd.DataFrame:
    n = c.shape[1]
    return pd.DataFrame(
        {
            "step": np.repeat(steps, n),
            "layer": np.tile(np.arange(n), len(steps)),
            "kind": "q",
            "stable_rank": (30 * (1 - c)).ravel(),
        }
    )


def test_planted_wave_and_reversal_are_recovered(lifecycle_run: Path) -> None:
    wave = compression_wave(lifecycle_run, kinds=("q", "k"))
    assert wave.has_wave and wave.direction == "early_to_late"
    assert wave.speed_ci[0] <= SPEED <= wave.speed_ci[1]
    assert wave.speed == pytest.approx(SPEED, rel=0.01)
    # 12 layers in perfect order: the Monte Carlo p-value sits at its floor (1 / 100001)
    assert wave.spearman_rho == pytest.approx(1.0) and wave.spearman_p < 2e-5
    truth = planted.DELAY * np.arange(L) / (L - 1) + planted.TAU_F * math.log(2)
    np.testing.assert_allclose(wave.onset, truth, atol=SPACING)  # the probe resolution
    assert wave.has_reversal and wave.reversal_p < 0.01 and wave.end_gradient > 0
    assert wave.peak_value < 0
    lo, hi = wave.reversal_step_ci
    assert lo <= true_reversal() <= hi and hi - lo < 4 * SPACING
    assert wave.reasons == {}
    d = wave.to_dict()
    assert d["speed"] == pytest.approx(wave.speed) and len(d["onset"]) == L
    assert "speed" in repr(wave) and wave.curves.gradient.shape == (len(planted.STEPS),)


def test_wave_over_all_kinds_is_still_detected(lifecycle_run: Path) -> None:
    wave = compression_wave(load_run(lifecycle_run))
    assert wave.has_wave and wave.speed_ci[0] > 0
    assert wave.has_reversal


def test_no_wave_and_no_reversal_where_none_was_planted(null_run: Path) -> None:
    wave = compression_wave(null_run)
    assert wave.has_wave is False and wave.direction is None
    assert wave.speed is None and wave.speed_ci is None
    assert "no wave" in wave.reasons["speed"]
    assert wave.slope_ci[0] <= 0 <= wave.slope_ci[1]
    assert wave.has_reversal is False and wave.reversal_step is None
    assert wave.to_dict()["speed"] is None


def test_perfect_order_in_a_few_layers_is_not_a_wave() -> None:
    """4 layers in perfect order cannot show a wave (exact Spearman p = 1/12; the asymptotic p
    was 0): refused, with no statistic beside the refusal; 5 layers can."""
    steps = np.arange(0, 2001, 50)
    for n_layers in (4, 5):
        x = np.arange(n_layers) / (n_layers - 1)
        lag = np.clip(steps[:, None] - 1000 * x[None, :], 0, None)
        wave = compression_wave(Run.from_frame(_frame(0.4 * (1 - np.exp(-lag / 100)), steps)))
        if n_layers == 4:
            assert wave.has_wave is None and "cannot show a wave" in wave.reasons["has_wave"]
            assert wave.spearman_p is None and wave.wave_p is None and wave.speed is None
            assert "cannot show a reversal" in wave.reasons["has_reversal"]
        else:
            assert wave.spearman_rho == pytest.approx(1.0)
            assert wave.spearman_p == pytest.approx(2 / 120)  # exact
            assert wave.has_wave is True and wave.wave_p < 0.001


def test_a_late_to_early_wave_without_reversal() -> None:
    """Late layers compress first and all end equal: a wave, but G never changes sign."""
    steps = np.arange(0, 3001, 50)
    x = np.arange(L) / (L - 1)
    lag = np.clip(steps[:, None] - 1500 * (1 - x)[None, :], 0, None)
    wave = compression_wave(Run.from_frame(_frame(0.4 * (1 - np.exp(-lag / 150)), steps)))
    assert wave.has_wave and wave.direction == "late_to_early"
    assert wave.speed == pytest.approx(-1000 * (L - 1) / 1500, rel=0.01)
    assert wave.peak_value > 0 and wave.has_reversal is False and wave.reversal_step is None


def test_too_short_and_too_shallow_give_reasons(tiny_run: Path) -> None:
    wave = compression_wave(tiny_run)
    assert wave.speed is None and wave.has_wave is None and wave.has_reversal is None
    assert "≥ 5 layers" in wave.reasons["has_wave"]
    assert "2 layers cannot show a reversal" in wave.reasons["has_reversal"]
    one = Run.from_frame(
        pd.DataFrame({"step": [0], "layer": [0], "kind": ["q"], "stable_rank": [3.0]})
    )
    assert "≥ 3 snapshots" in compression_wave(one).reasons["onset"]
