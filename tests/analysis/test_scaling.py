"""Δα = c·L^β: planted exponent recovered with a CI and an out-of-sample error."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import fit_scaling_law, scaling_from_runs
from tests.analysis.planted import Sweep


def test_exact_power_law() -> None:
    depths = np.array([4, 8, 16, 32])
    res = fit_scaling_law(depths, 0.5 * depths**0.3)
    assert res.beta == pytest.approx(0.3) and res.c == pytest.approx(0.5)
    assert res.r2 == pytest.approx(1.0) and res.loo_error == pytest.approx(0, abs=1e-9)
    assert res.beta_ci[0] == pytest.approx(0.3) and res.beta_ci[1] == pytest.approx(0.3)
    assert res.predict(64) == pytest.approx(0.5 * 64**0.3)


def test_planted_exponent_from_runs(scaling_runs: Sweep) -> None:
    res = scaling_from_runs(scaling_runs.paths)
    np.testing.assert_array_equal(res.depths, scaling_runs.depths)
    np.testing.assert_allclose(
        res.delta_alpha, scaling_runs.delta_alpha, rtol=1e-5
    )  # float32 store round trip
    # Stated tolerance: β within ±0.03; the 95% CI reaches the ±0.02 band around the truth
    # (the percentile bootstrap over 6 runs is slightly narrow: ~92% coverage in simulation).
    assert res.beta == pytest.approx(scaling_runs.beta, abs=0.03)
    assert res.beta_ci[0] <= scaling_runs.beta + 0.02 and res.beta_ci[1] >= scaling_runs.beta - 0.02
    assert res.beta_ci[0] < res.beta < res.beta_ci[1]
    assert abs(res.beta - scaling_runs.beta) < 4 * res.beta_se
    assert res.c == pytest.approx(scaling_runs.c, rel=0.2)
    assert res.r2 > 0.9
    assert res.loo_error < 0.05  # the law predicts held-out depths within ~5%
    assert np.isfinite(res.loo_predictions).all()
    d = res.to_dict()
    assert {"beta", "c", "r2", "beta_ci", "loo_error"} <= set(d) and len(d["runs"]) == 6


def test_no_depth_dependence_gives_beta_near_zero() -> None:
    rng = np.random.default_rng(1)
    depths = np.array([4, 8, 12, 16, 24, 36])
    res = fit_scaling_law(depths, 0.5 * np.exp(rng.normal(0, 0.02, 6)))
    assert res.beta_ci[0] <= 0 <= res.beta_ci[1]


def test_too_few_runs_and_bad_points() -> None:
    res = fit_scaling_law([4, 8], [0.3, 0.4])
    assert res.beta is not None and res.loo_error is None
    assert "≥ 3 runs" in res.reasons["loo_error"]
    res = fit_scaling_law([4, 8, 16], [0.3, float("nan"), -1])
    assert res.beta is None and "≥ 2 distinct depths" in res.reasons["beta"]
    assert "2 point(s)" in res.reasons["points"]
    with pytest.raises(ValueError, match="same length"):
        fit_scaling_law([4, 8], [0.3])
    with pytest.raises(ValueError, match="not fitted"):
        res.predict(8)
