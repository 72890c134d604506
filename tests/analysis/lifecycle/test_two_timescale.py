"""The two-timescale model: planted time constants recovered inside their bootstrap intervals,
parameters at a bound flagged, the model compared with simpler ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import Run, fit_two_timescale
from analysis.calibration.model_rates import two_timescale_coverage
from tests.analysis import planted


def test_planted_timescales_are_recovered(lifecycle_run: Path) -> None:
    fit = fit_two_timescale(lifecycle_run, kinds=("q", "k"))
    p, ci = fit.params, fit.intervals
    for name, truth in (
        ("tau_fast", planted.TAU_F),
        ("tau_slow", planted.TAU_S),
        ("delay", planted.DELAY),
    ):
        assert ci[name][0] <= truth <= ci[name][1], name
        assert p[name] == pytest.approx(truth, rel=0.02), name
    ratio = planted.TAU_S / planted.TAU_F
    assert fit.ratio_ci[0] <= ratio <= fit.ratio_ci[1]
    assert p["a0"] == pytest.approx(planted.A0, abs=0.01)
    assert p["a1"] == pytest.approx(planted.A1, abs=0.01)
    assert -p["b1"] / (2 * p["b2"]) == pytest.approx(planted.VERTEX, abs=0.01)
    assert fit.r2_fast > 0.99 and fit.r2_slow > 0.99 and fit.at_bound == ()
    # both simpler models lose by a wide margin
    assert fit.delta_aic["one_timescale"] > 100 and fit.delta_aic["no_depth"] > 100
    assert fit.curves.predictions["compression"].shape == (81, 12)
    assert fit.to_dict()["tau_fast"] == pytest.approx(fit.tau_fast)


def test_a_parameter_at_its_bound_is_flagged() -> None:
    """Every layer compresses at once: the delay sits at 0, its lower bound."""
    steps = np.arange(0, 2001, 50)
    frame = planted.null_frame(n_layers=6, steps=steps)
    fit = fit_two_timescale(Run.from_frame(frame))
    assert "delay" in fit.at_bound and "edge of its search range" in fit.reasons["delay"]
    assert fit.params["delay"] is None and fit.intervals["delay"] is None  # not beside it
    assert fit.delta_aic["no_depth"] < 10  # depth terms add nothing here


def test_intervals_cover_the_planted_time_constants() -> None:
    """Old fits: 95% intervals covered τ_slow 30–60% and τ_fast 0–5% of the time."""
    rates = two_timescale_coverage(10, seed=1)  # ~1 s
    assert rates["tau_fast"].hits >= 8 and rates["tau_slow"].hits >= 8, rates


def test_short_run_gives_reasons(tiny_run: Path) -> None:
    fit = fit_two_timescale(tiny_run)
    assert fit.tau_fast is None and fit.ratio is None
    assert "≥ 6 snapshots" in fit.reasons["fit"]
    d = fit.to_dict()
    assert d["params"] == {} and "fit" in d["reasons"]


def test_all_nan_alpha_is_a_reason_not_a_crash() -> None:
    frame = planted.lifecycle_frame(n_layers=4, steps=np.arange(0, 500, 50))
    frame["alpha"] = np.nan
    fit = fit_two_timescale(Run.from_frame(pd.DataFrame(frame)))
    assert "too few finite" in fit.reasons["fit"]
