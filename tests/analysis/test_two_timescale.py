"""The two-timescale ODE fit recovers planted time constants, delay and targets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from analysis import fit_two_timescale
from tests.analysis import planted


def test_planted_timescales_are_recovered(lifecycle_run: Path) -> None:
    fit = fit_two_timescale(lifecycle_run, kinds=("q", "k"))
    p = fit.params
    # Tolerances: the model's switch is smooth (ε = 1% of the run), the planted one sharp.
    assert fit.tau_fast == pytest.approx(planted.TAU_F, rel=0.1)
    assert fit.tau_slow == pytest.approx(planted.TAU_S, rel=0.05)
    assert fit.ratio == pytest.approx(planted.TAU_S / planted.TAU_F, rel=0.1)
    assert p["delay"] == pytest.approx(planted.DELAY, rel=0.05)
    assert p["a0"] == pytest.approx(planted.A0, abs=0.03)
    assert p["a1"] == pytest.approx(planted.A1, abs=0.03)
    assert p["b2"] == pytest.approx(-planted.K, rel=0.05)
    assert -p["b1"] / (2 * p["b2"]) == pytest.approx(planted.VERTEX, abs=0.02)
    assert fit.r2_fast > 0.98 and fit.r2_slow > 0.98
    for name, se in fit.stderr.items():
        assert se is not None and 0 < se < abs(p[name]) + 1, name
    assert 0 < fit.ratio_se < fit.ratio
    assert fit.curves.predictions["compression"].shape == (81, 12)
    assert np.isfinite(fit.curves.predictions["alpha"]).all()
    assert fit.to_dict()["tau_fast"] == pytest.approx(fit.tau_fast)


def test_short_run_gives_reasons(tiny_run: Path) -> None:
    fit = fit_two_timescale(tiny_run)
    assert fit.tau_fast is None and fit.ratio is None
    assert "≥ 6 snapshots" in fit.reasons["fast"]
    d = fit.to_dict()
    assert d["params"]["tau_slow"] is None and "slow" in d["reasons"]
    assert not math.isnan(fit.gate_width)
