"""The compression wave: planted speed, onsets, peak and reversal recovered; none where none."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import Run, compression_wave, load_run
from tests.analysis import planted

L = 12
SPEED = 1000 * (L - 1) / planted.DELAY  # layers per 1k steps
SPACING = 50  # steps between planted snapshots


def true_gradient() -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0, 4001, 1.0)
    c = planted.wave_compression(t, np.arange(L) / (L - 1))
    return t, c[:, -L // 3 :].mean(1) - c[:, : L // 3].mean(1)


def test_planted_wave_is_recovered(lifecycle_run: Path) -> None:
    wave = compression_wave(lifecycle_run, kinds=("q", "k"))
    assert wave.has_wave and wave.direction == "early_to_late"
    # Stated tolerance: 3% on the speed, and the 95% CI reaches the ±3% band around the truth
    # (the percentile bootstrap over 12 layers is slightly narrow: ~85% coverage in simulation).
    assert wave.speed == pytest.approx(SPEED, rel=0.03)
    assert wave.speed_ci[0] <= SPEED * 1.03 and wave.speed_ci[1] >= SPEED * 0.97
    assert wave.speed_ci[0] < wave.speed < wave.speed_ci[1]
    assert wave.spearman_rho > 0.95 and wave.spearman_p < 1e-6
    truth = planted.DELAY * np.arange(L) / (L - 1) + planted.TAU_F * math.log(2)
    np.testing.assert_allclose(wave.onset, truth, atol=SPACING)
    t, g = true_gradient()
    peak = int(np.argmin(g))
    reversal = t[np.flatnonzero((t > t[peak]) & (g > 0))[0]]
    assert wave.peak_value == pytest.approx(g[peak], rel=0.1)
    assert abs(wave.peak_step - t[peak]) <= 6 * SPACING  # G is flat near its extreme
    assert abs(wave.reversal_step - reversal) <= SPACING
    assert wave.reasons == {}
    d = wave.to_dict()
    assert d["speed"] == pytest.approx(wave.speed) and len(d["onset"]) == L
    assert "speed" in repr(wave)


def test_wave_over_all_kinds_is_still_detected(lifecycle_run: Path) -> None:
    wave = compression_wave(load_run(lifecycle_run))
    assert wave.has_wave and wave.speed_ci[0] > 0
    assert wave.reversal_step is not None


def test_no_wave_where_none_was_planted(null_run: Path) -> None:
    wave = compression_wave(null_run)
    assert not wave.has_wave and wave.direction is None
    assert wave.speed is None and wave.speed_ci is None
    assert "no wave" in wave.reasons["speed"]
    assert wave.slope_ci[0] <= 0 <= wave.slope_ci[1]
    assert wave.peak_step is None and wave.reversal_step is None
    assert wave.to_dict()["speed"] is None


def test_gradient_without_reversal_and_a_reversed_wave() -> None:
    """Late layers compress first (a late-to-early wave) and all end equal: no reversal."""
    steps = np.arange(0, 3001, 50)
    x = np.arange(L) / (L - 1)
    lag = np.clip(steps[:, None] - 1500 * (1 - x)[None, :], 0, None)
    c = 0.4 * (1 - np.exp(-lag / 150))
    frame = pd.DataFrame(
        {
            "step": np.repeat(steps, L),
            "layer": np.tile(np.arange(L), len(steps)),
            "kind": "q",
            "stable_rank": (30 * (1 - c)).ravel(),
        }
    )
    wave = compression_wave(Run.from_frame(frame))
    assert wave.has_wave and wave.direction == "late_to_early"
    assert wave.speed == pytest.approx(-1000 * (L - 1) / 1500, rel=0.03)
    assert wave.peak_value > 0 and wave.reversal_step is None
    assert wave.reasons["reversal_step"] == "G(t) never changes sign"


def test_too_short_and_too_shallow_give_reasons(tiny_run: Path) -> None:
    wave = compression_wave(tiny_run)
    assert wave.speed is None and wave.peak_step is None
    assert "≥ 3 layers" in wave.reasons["slope"] and "≥ 3 layers" in wave.reasons["peak_step"]
    one = Run.from_frame(
        pd.DataFrame({"step": [0], "layer": [0], "kind": ["q"], "stable_rank": [3.0]})
    )
    assert "≥ 3 snapshots" in compression_wave(one).reasons["onset"]
