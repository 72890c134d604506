"""Bootstrap and regression helpers against direct computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis.results import to_jsonable
from analysis.stats import (
    bootstrap_counts,
    percentile_ci,
    r_squared,
    smooth_time,
    spearman,
    weighted_linfit,
    weighted_quadfit,
)


def test_bootstrap_counts_are_seeded_resamples() -> None:
    counts = bootstrap_counts(7, 50, seed=3)
    assert counts.shape == (50, 7)
    assert (counts.sum(1) == 7).all()
    np.testing.assert_array_equal(counts, bootstrap_counts(7, 50, seed=3))
    assert not np.array_equal(counts, bootstrap_counts(7, 50, seed=4))


def test_weighted_fits_equal_fits_on_resampled_points() -> None:
    rng = np.random.default_rng(0)
    x, y = np.linspace(0, 1, 9), rng.normal(size=9)
    counts = bootstrap_counts(9, 20, seed=1)
    slope, icept = weighted_linfit(x, y, counts)
    coef = weighted_quadfit(x, y, counts)
    for b in range(20):
        idx = np.repeat(np.arange(9), counts[b])
        if len(np.unique(idx)) >= 3:
            np.testing.assert_allclose(
                [icept[b], slope[b]], np.polyfit(x[idx], y[idx], 1)[::-1], rtol=1e-9, atol=1e-9
            )
            np.testing.assert_allclose(
                coef[b], np.polyfit(x[idx], y[idx], 2)[::-1], rtol=1e-7, atol=1e-9
            )


def test_degenerate_resamples_give_nan_and_nan_points_are_ignored() -> None:
    x, y = np.arange(4.0), np.array([1.0, 3.0, np.nan, 7.0])
    w = np.array([[4, 0, 0, 0], [1, 1, 1, 1], [0, 2, 0, 2]])
    slope, _ = weighted_linfit(x, y, w)
    assert math.isnan(slope[0]) and slope[1] == pytest.approx(2.0) and slope[2] == pytest.approx(2)
    assert np.isnan(weighted_quadfit(x, y, w[2])).all()


def test_percentile_ci_needs_enough_finite_samples() -> None:
    samples = np.concatenate([np.arange(100.0), [np.nan] * 5])
    lo, hi = percentile_ci(samples)
    assert lo == pytest.approx(2.475) and hi == pytest.approx(96.525)
    assert percentile_ci(np.array([1.0, np.nan])) is None


def test_small_helpers() -> None:
    assert r_squared(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 1.0
    assert math.isnan(r_squared(np.ones(3), np.ones(3)))
    rho, p = spearman(np.arange(5), np.arange(5) ** 3)
    assert rho == pytest.approx(1.0) and p < 0.05
    assert math.isnan(spearman(np.arange(5), np.ones(5))[0])
    values = np.array([[1.0, 0], [2, 0], [np.nan, 0], [4, 0], [5, 0]])
    np.testing.assert_allclose(smooth_time(values, 3)[:, 0], [1.5, 1.5, 3, 4.5, 4.5])
    out = to_jsonable({"a": np.float32(np.nan), "b": (np.int64(2), np.inf), "c": np.arange(2)})
    assert json.dumps(out) == '{"a": null, "b": [2, null], "c": [0, 1]}'
