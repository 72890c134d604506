"""Shared statistics against direct computations and known exact values."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.results import to_jsonable
from analysis.stats import (
    band_contrasts,
    fieller,
    min_spearman_p,
    ols,
    polynomial_design,
    r_squared,
    smooth_time,
    spearman_exact,
    t_interval,
    trend,
    wls,
)


def test_ols_and_wls_match_numpy_fits_row_by_row() -> None:
    rng = np.random.default_rng(0)
    x, y = np.linspace(0, 1, 9), rng.normal(size=(4, 9))
    fit = ols(polynomial_design(x, 2), y)
    for row, coef in zip(y, fit.coef, strict=True):
        np.testing.assert_allclose(coef, np.polyfit(x, row, 2)[::-1], rtol=1e-9, atol=1e-12)
    _, cov = np.polyfit(x, y[0], 2, cov="unscaled")
    s2 = fit.ssr[0] / fit.dof
    np.testing.assert_allclose(fit.cov[0], s2 * cov[::-1, ::-1], rtol=1e-9)
    w = rng.uniform(0.5, 2, 9)
    weighted = wls(polynomial_design(x, 1), y[0], w)
    np.testing.assert_allclose(weighted.coef, np.polyfit(x, y[0], 1, w=np.sqrt(w))[::-1])


def test_exact_spearman_small_samples() -> None:
    # Perfect order: p = 2/n! exactly (both directions), not the asymptotic 0.
    for n, p in ((3, 2 / 6), (4, 2 / 24), (5, 2 / 120)):
        rho, pv = spearman_exact(np.arange(n), np.arange(n) ** 2.0)
        assert rho == pytest.approx(1.0) and pv == pytest.approx(p)
        assert min_spearman_p(n) == pytest.approx(p)
    # Against a direct enumeration for n = 6, ties included.
    x, y = np.arange(6.0), np.array([0.3, 0.1, 0.5, 0.5, 0.9, 0.2])
    rho, p = spearman_exact(x, y)
    ry = sps.rankdata(y)
    null = [sps.pearsonr(x, ry[list(perm)])[0] for perm in itertools.permutations(range(6))]
    assert p == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-12))
    assert rho == pytest.approx(sps.spearmanr(x, y).statistic)
    assert np.isnan(spearman_exact(np.arange(5), np.ones(5))[1])


def test_exact_spearman_is_calibrated_beyond_enumeration() -> None:
    rng = np.random.default_rng(1)
    _, p = spearman_exact(np.arange(12), rng.normal(size=(4000, 12)))
    assert abs(np.mean(p < 0.05) - 0.05) < 0.011  # 3.2 binomial SDs at n = 4000


def test_fieller_interval_of_a_ratio() -> None:
    # Significant denominator: bounded, contains the ratio; insignificant: no interval.
    lo, hi = fieller(np.array(2.0), np.array(4.0), var_num=0.01, var_den=0.01, cov=0.0, dof=1000)
    assert lo < 0.5 < hi and hi - lo < 0.2
    lo, hi = fieller(np.array(2.0), np.array(0.1), var_num=0.01, var_den=0.01, cov=0.0, dof=1000)
    assert np.isnan(lo) and np.isnan(hi)


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float) -> np.ndarray:
    eps = rng.normal(size=shape)
    out = np.empty(shape)
    out[:, 0] = eps[:, 0]
    for i in range(1, shape[1]):
        out[:, i] = phi * out[:, i - 1] + math.sqrt(1 - phi * phi) * eps[:, i]
    return out


def test_trend_inflates_its_error_for_autocorrelated_noise() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(40.0)

    def coverage(noise: np.ndarray) -> tuple[float, float]:
        fit = trend(t, noise)
        plain = ols(polynomial_design(t, 1), noise)
        lo, hi = t_interval(fit.slope, fit.se, fit.dof)
        plo, phi = t_interval(plain.coef[:, 1], plain.se(1), plain.dof)
        return np.mean((lo <= 0) & (hi >= 0)), np.mean((plo <= 0) & (phi >= 0))

    iid, iid_plain = coverage(rng.normal(size=(2000, 40)))
    assert abs(iid - 0.95) < 0.02 and abs(iid_plain - 0.95) < 0.02
    ar, ar_plain = coverage(_ar1(rng, (2000, 40), 0.5))
    assert ar_plain < 0.85 and ar > 0.9  # the plain SE pretends 40 independent snapshots


def test_band_contrasts() -> None:
    small = band_contrasts(6)  # ⌊6/3⌋ = 2 layers per band: 15 · 6 = 90 relabellings
    assert small.exact and small.weights.shape == (90, 6)
    np.testing.assert_allclose(small.weights[0], [-0.5, -0.5, 0, 0, 0.5, 0.5])
    assert len({tuple(w) for w in small.weights}) == 90
    assert band_contrasts(4).min_pvalue == pytest.approx(2 / 12)
    large = band_contrasts(24)
    assert not large.exact and large.weights.shape == (2000, 24)


def test_small_helpers() -> None:
    assert r_squared(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 1.0
    assert math.isnan(r_squared(np.ones(3), np.ones(3)))
    values = np.array([[1.0, 0], [2, 0], [np.nan, 0], [4, 0], [5, 0]])
    np.testing.assert_allclose(smooth_time(values, 3)[:, 0], [1.5, 1.5, 3, 4.5, 4.5])
    out = to_jsonable({"a": np.float32(np.nan), "b": (np.int64(2), np.inf), "c": np.arange(2)})
    assert json.dumps(out) == '{"a": null, "b": [2, null], "c": [0, 1]}'
