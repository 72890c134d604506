"""Statistics shared by the analyses: least squares with t-based intervals, Fieller ratios,
AR(1)-aware trends, exact rank tests and layer-band permutations.

Every function takes a leading batch of data sets where it can (`y[..., n]` against one shared
design), so the calibration harness (`analysis.calibration`) runs thousands of simulated runs
through the very code a real run goes through. Intervals are t-based with the residual degrees
of freedom, because the units (layers, runs, seeds) are few; tests on ranks are exact
permutation tests for the same reason.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL = 0.95  # every interval
ALPHA = 0.05  # every decision
EXACT_MAX_N = 9  # exact enumeration of n! permutations up to here
N_PERMUTATIONS = 100_000  # Monte Carlo draws beyond it (fixed seed: a property of n, not data)


def as_float(value: float | np.floating | None) -> float | None:
    """A finite float, or None (JSON null) for NaN, ±Inf and None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def as_interval(lo: float, hi: float) -> tuple[float, float] | None:
    """(lo, hi) when both ends are finite, else None."""
    lo_f, hi_f = as_float(lo), as_float(hi)
    return None if lo_f is None or hi_f is None else (lo_f, hi_f)


def t_crit(dof: float | np.ndarray, level: float = LEVEL, sides: int = 2) -> np.ndarray:
    """Student-t critical value of a two-sided (or one-sided) interval at `level`."""
    tail = (1 - level) / sides
    with np.errstate(invalid="ignore"):
        return sps.t.ppf(1 - tail, np.asarray(dof, float))


@dataclass(frozen=True)
class OLSFit:
    """Least-squares fit of `y[..., n]` on one design `[n, p]`: coefficients and covariance."""

    coef: np.ndarray  # [..., p]
    cov: np.ndarray  # [..., p, p]
    ssr: np.ndarray  # [...]
    dof: int

    def se(self, i: int) -> np.ndarray:
        return np.sqrt(self.cov[..., i, i])

    def combination(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimate and standard error of Σ w_i·coef_i."""
        w = np.asarray(weights, float)
        var = np.einsum("i,...ij,j->...", w, self.cov, w)
        return self.coef @ w, np.sqrt(np.clip(var, 0, None))


def ols(design: np.ndarray, y: np.ndarray) -> OLSFit:
    """Least squares of every row of `y[..., n]` on `design[n, p]` (complete data)."""
    design, y = np.asarray(design, float), np.asarray(y, float)
    n, p = design.shape
    gram_inv = np.linalg.pinv(design.T @ design)
    coef = y @ (design @ gram_inv)  # [..., p]
    resid = y - coef @ design.T
    ssr = (resid**2).sum(-1)
    dof = n - p
    s2 = ssr / dof if dof > 0 else np.full_like(ssr, np.nan)
    return OLSFit(coef, s2[..., None, None] * gram_inv, ssr, dof)


def wls(design: np.ndarray, y: np.ndarray, weights: np.ndarray) -> OLSFit:
    """Weighted least squares of `y[..., n]` with weights `[..., n]` ∝ 1/variance; the scale
    is estimated from the weighted residuals (n − p degrees of freedom)."""
    design, y, w = np.asarray(design, float), np.asarray(y, float), np.asarray(weights, float)
    n, p = design.shape
    xtw = np.einsum("np,...n->...pn", design, w)
    gram_inv = np.linalg.pinv(xtw @ design)
    coef = np.einsum("...pq,...qn,...n->...p", gram_inv, xtw, y)
    resid = y - coef @ design.T
    ssr = (w * resid**2).sum(-1)
    dof = n - p
    s2 = ssr / dof if dof > 0 else np.full_like(ssr, np.nan)
    return OLSFit(coef, s2[..., None, None] * gram_inv, ssr, dof)


def polynomial_design(x: np.ndarray, degree: int) -> np.ndarray:
    """`[n, degree + 1]` columns 1, x, x², …"""
    return np.asarray(x, float)[:, None] ** np.arange(degree + 1)


def t_interval(
    est: np.ndarray, se: np.ndarray, dof: float, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """est ± t·se."""
    half = t_crit(dof, level) * se
    return est - half, est + half


def t_pvalue(t: np.ndarray, dof: float, sides: int = 2) -> np.ndarray:
    """p-value of a t statistic (one-sided: P(T ≥ t))."""
    t = np.asarray(t, float)
    if sides == 1:
        return sps.t.sf(t, dof)
    return 2 * sps.t.sf(np.abs(t), dof)


def fieller(
    num: np.ndarray,
    den: np.ndarray,
    var_num: np.ndarray,
    var_den: np.ndarray,
    cov: np.ndarray,
    dof: float,
    level: float = LEVEL,
) -> tuple[np.ndarray, np.ndarray]:
    """Fieller interval for num/den: every θ with |num − θ·den| ≤ t·SE(num − θ·den).

    Bounded only where den is significantly non-zero; NaN ends otherwise (the ratio is then not
    determined by the data, and a delta-method interval would pretend it is).
    """
    t2 = t_crit(dof, level) ** 2
    a = den**2 - t2 * var_den
    b = num * den - t2 * cov
    c = num**2 - t2 * var_num
    disc = b**2 - a * c
    ok = (a > 0) & (disc >= 0)
    root = np.sqrt(np.where(ok, disc, 0.0))
    safe = np.where(ok, a, 1.0)
    lo = np.where(ok, (b - root) / safe, np.nan)
    hi = np.where(ok, (b + root) / safe, np.nan)
    return lo, hi


@dataclass(frozen=True)
class Trend:
    """Linear trend of `y[..., n]` over t with an AR(1)-inflated standard error."""

    slope: np.ndarray
    se: np.ndarray
    dof: int


def trend(t: np.ndarray, y: np.ndarray) -> Trend:
    """OLS slope of y on t; the SE grows by √((1+ρ)/(1−ρ)), ρ the lag-1 autocorrelation of the
    residuals (Marriott–Pope bias-corrected, clipped to [0, 0.95]): snapshots are not
    independent, and an ordinary SE would make a drifting profile look settled."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    n = t.shape[0]
    tc = t - t.mean()
    sxx = float(tc @ tc)
    yc = y - y.mean(-1, keepdims=True)
    slope = yc @ tc / sxx
    resid = yc - slope[..., None] * tc
    ss = (resid**2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (resid[..., 1:] * resid[..., :-1]).sum(-1) / ss
    rho = np.clip(np.nan_to_num(rho + (1 + 3 * rho) / n), 0.0, 0.95)
    se = np.sqrt(ss / (n - 2) / sxx * (1 + rho) / (1 - rho))
    return Trend(slope, se, n - 2)


# -- exact rank correlation ---------------------------------------------------------------------


@lru_cache(maxsize=64)
def _spearman_null(n: int) -> np.ndarray:
    """Sorted |ρ| over all n! permutations (n ≤ EXACT_MAX_N) or N_PERMUTATIONS random ones."""
    if n <= EXACT_MAX_N:
        perms = np.array(list(itertools.permutations(range(n))), np.int64)
    else:
        rng = np.random.default_rng(n)
        perms = rng.permuted(np.tile(np.arange(n), (N_PERMUTATIONS, 1)), axis=1)
    d2 = ((perms - np.arange(n)) ** 2).sum(1)
    return np.sort(np.abs(1 - 6 * d2 / (n * (n * n - 1))))


def min_spearman_p(n: int) -> float:
    """The smallest two-sided p-value n points can reach (perfect order)."""
    if n < 3:
        return 1.0
    null = _spearman_null(n)
    count = int((null >= 1 - 1e-12).sum())
    return count / len(null) if n <= EXACT_MAX_N else (1 + count) / (1 + len(null))


def spearman_exact(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ of x `[n]` against each row of y `[..., n]` with its exact two-sided p-value.

    Exact over all n! orderings up to n = 9, a permutation p-value from 10⁵ fixed draws beyond
    (resolution 10⁻⁵). Rows with tied y fall back to permuting their own ranks.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.shape[0]
    if n < 3:
        nan = np.full(y.shape[:-1], np.nan)
        return nan, nan
    rx = sps.rankdata(x)
    if np.ptp(rx) == 0:
        nan = np.full(y.shape[:-1], np.nan)
        return nan, nan
    ry = sps.rankdata(y.reshape(-1, n), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = _pearson(rx, ry)
    null = _spearman_null(n)
    count = len(null) - np.searchsorted(null, np.abs(rho) - 1e-12, side="left")
    p = count / len(null) if n <= EXACT_MAX_N else (1 + count) / (1 + len(null))
    p = np.where(np.isfinite(rho), p, np.nan)
    for i in np.flatnonzero([len(np.unique(row)) < n for row in ry]):
        p[i] = _tied_p(rx, ry[i], float(rho[i]))
    return rho.reshape(y.shape[:-1]), p.reshape(y.shape[:-1])


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ac = a - a.mean()
    bc = b - b.mean(-1, keepdims=True)
    return (bc @ ac) / np.sqrt((ac @ ac) * (bc * bc).sum(-1))


def _tied_p(rx: np.ndarray, ry: np.ndarray, rho: float) -> float:
    n = len(rx)
    if not math.isfinite(rho):
        return math.nan
    if n <= EXACT_MAX_N:
        perms = np.array(list(itertools.permutations(range(n))), np.int64)
    else:
        perms = np.random.default_rng(n).permuted(np.tile(np.arange(n), (20_000, 1)), axis=1)
    null = np.abs(_pearson(rx, ry[perms]))
    count = int((null >= abs(rho) - 1e-12).sum())
    return count / len(null) if n <= EXACT_MAX_N else (1 + count) / (1 + len(null))


# -- layer bands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandContrasts:
    """Weights `[P, L]` of G = mean(last band) − mean(first band) under P layer relabellings.

    Row 0 is the observed labelling. `exact`: every distinct relabelling is there once (p-values
    are exact); otherwise the rows after the first are random draws.
    """

    weights: np.ndarray
    exact: bool

    def pvalue(self, stat: np.ndarray) -> np.ndarray:
        """P(stat_π ≥ stat_observed) over relabellings; `stat[..., P]` with P on the last axis."""
        # Row 0 counts itself: exact enumeration gives k/P, random draws (1 + k)/(1 + N).
        return (stat >= stat[..., :1] - 1e-12).sum(-1) / stat.shape[-1]

    @property
    def min_pvalue(self) -> float:
        """Smallest attainable p of a statistic that swapping the two bands leaves unchanged."""
        return min(1.0, 2 / self.weights.shape[0])


@lru_cache(maxsize=64)
def band_contrasts(n_layers: int, max_relabellings: int = 2000, seed: int = 0) -> BandContrasts:
    """Relabellings of which ⌊L/3⌋ layers form the first and the last band."""
    band = n_layers // 3
    layers = np.arange(n_layers)
    total = math.comb(n_layers, band) * math.comb(n_layers - band, band)
    rows = [(layers[:band], layers[-band:])]
    if total <= max_relabellings:
        for first in itertools.combinations(range(n_layers), band):
            rest = [l for l in range(n_layers) if l not in first]
            for last in itertools.combinations(rest, band):
                if first != tuple(rows[0][0]) or last != tuple(rows[0][1]):
                    rows.append((np.array(first), np.array(last)))
    else:
        rng = np.random.default_rng(seed)
        for _ in range(max_relabellings - 1):
            perm = rng.permutation(n_layers)
            rows.append((perm[:band], perm[-band:]))
    weights = np.zeros((len(rows), n_layers))
    for i, (first, last) in enumerate(rows):
        weights[i, first] = -1 / band
        weights[i, last] = 1 / band
    return BandContrasts(weights, total <= max_relabellings)


# -- small helpers -------------------------------------------------------------------------------


def r_squared(y: np.ndarray, fitted: np.ndarray) -> float:
    """1 − SSR/SST over the finite entries (NaN when y is constant or empty)."""
    y, fitted = np.asarray(y, float).ravel(), np.asarray(fitted, float).ravel()
    ok = np.isfinite(y) & np.isfinite(fitted)
    if ok.sum() < 2:
        return math.nan
    sst = float(((y[ok] - y[ok].mean()) ** 2).sum())
    if sst <= 0:
        return math.nan
    return 1.0 - float(((y[ok] - fitted[ok]) ** 2).sum()) / sst


def smooth_time(values: np.ndarray, window: int) -> np.ndarray:
    """Centred, NaN-aware moving average along axis 0 over an odd `window` (shrinks at the ends)."""
    values = np.asarray(values, float)
    if window <= 1 or values.shape[0] < 2:
        return values.copy()
    flat = pd.DataFrame(values.reshape(values.shape[0], -1))
    window = 2 * (window // 2) + 1
    return flat.rolling(window, center=True, min_periods=1).mean().to_numpy().reshape(values.shape)


def nanmean(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """`np.nanmean` without the all-NaN warning (an all-NaN slice is simply NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(values, float), axis=axis)
