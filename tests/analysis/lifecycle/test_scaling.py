"""Across depths: the planted Δα = c·L^β recovered with a covering interval, a noise sweep
refused, and the vertex shift."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import Run, fit_scaling_law, scaling_from_runs
from tests.analysis.planted import Sweep, scaling_frame

DEPTHS = np.array([4, 8, 16, 32])


def test_exact_power_law() -> None:
    res = fit_scaling_law(DEPTHS, 0.5 * DEPTHS**0.3, profile_p=[1e-6] * 4)
    assert res.beta == pytest.approx(0.3) and res.c == pytest.approx(0.5)
    assert res.r2 == pytest.approx(1.0) and res.loo_error == pytest.approx(0, abs=1e-9)
    assert res.beta_ci[0] == pytest.approx(0.3) and res.beta_ci[1] == pytest.approx(0.3)
    assert res.beta_nonzero is True
    assert res.predict(64) == pytest.approx(0.5 * 64**0.3)
    assert res.curves.fitted[0] == pytest.approx(0.5 * 4**0.3)


def test_planted_exponent_from_runs(scaling_runs: Sweep) -> None:
    res = scaling_from_runs(scaling_runs.paths)
    np.testing.assert_array_equal(res.depths, scaling_runs.depths)
    np.testing.assert_allclose(res.delta_alpha, scaling_runs.delta_alpha, rtol=1e-4)
    assert res.beta_ci[0] <= scaling_runs.beta <= res.beta_ci[1]
    assert res.beta == pytest.approx(scaling_runs.beta, abs=0.03)
    assert res.beta_nonzero is True and res.r2 > 0.9
    assert res.c == pytest.approx(scaling_runs.c, rel=0.2)
    assert res.loo_error < 0.05  # the law predicts held-out depths within ~5%
    assert np.isfinite(res.loo_predictions).all()
    # every planted profile is an inverted U with its vertex at 0.35: no shift with depth
    assert np.isnan(res.vertex[0])  # 4 layers cannot show an inverted U
    np.testing.assert_allclose(res.vertex[1:], 0.35, atol=1e-3)
    assert res.vertex_slope_ci[0] <= 0 <= res.vertex_slope_ci[1] and res.vertex_moves is False
    d = res.to_dict()
    assert {"beta", "c", "r2", "beta_ci", "loo_error"} <= set(d) and len(d["runs"]) == 6


def test_a_sweep_of_noise_is_refused() -> None:
    """Per-layer α that is pure noise: max − min grows with L and gave β ≈ 0.3 with a CI
    excluding 0; here no run has a profile, so there is nothing to scale."""
    rng = np.random.default_rng(3)
    runs = []
    for depth in (4, 8, 12, 16, 24, 36):
        steps = np.array([0, 500, 1000])
        frame = scaling_frame(depth, 0.0, steps)
        frame["alpha"] += rng.normal(0, 0.3, len(frame))
        runs.append(Run.from_frame(frame, n_layers=depth))
    res = scaling_from_runs(runs)
    assert res.beta_nonzero is None
    assert "no depth profile distinguishable from noise" in res.reasons["beta_nonzero"]


def test_too_few_depths_and_bad_points() -> None:
    res = fit_scaling_law([4, 8], [0.3, 0.4])
    assert res.beta is None and "≥ 3 distinct depths" in res.reasons["beta"]
    res = fit_scaling_law([4, 8, 16], [0.3, float("nan"), -1])
    assert res.beta is None and "2 point(s)" in res.reasons["points"]
    res = fit_scaling_law([4, 8, 16], [0.3, 0.35, 0.4])
    assert res.beta is not None and res.beta_nonzero is None  # no profile p-values given
    with pytest.raises(ValueError, match="same length"):
        fit_scaling_law([4, 8], [0.3])
    with pytest.raises(ValueError, match="not fitted"):
        fit_scaling_law([4, 8], [0.3, 0.4]).predict(8)


def test_vertex_shift_with_depth() -> None:
    depths = np.array([8, 12, 16, 24, 36])
    vertex = 0.5 - 0.1 * np.log(depths / 8)
    res = fit_scaling_law(depths, 0.3 * depths**0.2, vertex=vertex)
    assert res.vertex_slope == pytest.approx(-0.1) and res.vertex_moves is True
    res = fit_scaling_law(depths, 0.3 * depths**0.2, vertex=[0.4, np.nan, np.nan, np.nan, 0.2])
    assert res.vertex_moves is None and "≥ 3 depths" in res.reasons["vertex_moves"]
