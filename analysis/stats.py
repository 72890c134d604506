"""Statistics shared by the analyses: layer bootstrap, batched regressions, JSON-safe results.

Bootstrap (every CI in this package): the resampled unit is the *layer* (for depth analyses) or
the *run* (for the scaling law). One resample draws n units with replacement from the n
observed ones; it is represented by its multinomial count vector, so a statistic of all
resamples at once is a weighted statistic with the counts as weights (a weighted least-squares
fit with integer weights equals the unweighted fit on the resampled points). Resamples are
drawn with a seeded `numpy.random.Generator` (1000 by default); the interval is the 2.5–97.5
percentile of the finite resampled values (percentile bootstrap). Resamples in which the
statistic is undefined (too few distinct units for the fit) are dropped; if fewer than
`MIN_VALID` remain the interval is null.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

N_BOOT = 1000
LEVEL = 0.95
MIN_VALID = 20


def bootstrap_counts(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """`[n_boot, n]` multinomial counts: each row is one resample of n units with replacement."""
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros((n_boot, 0), np.int64)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def percentile_ci(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """Percentile interval of the finite samples, or None if fewer than `MIN_VALID` are finite."""
    samples = np.asarray(samples, float)
    finite = samples[np.isfinite(samples)]
    if finite.size < MIN_VALID:
        return None
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def weighted_linfit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept of y on x for every weight row: x, y `[n]`, w `[..., n]`.

    Points with non-finite x or y get weight 0; a row with fewer than 2 distinct x gives NaN.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    w = np.where(ok, np.asarray(w, float), 0.0)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    sw, sx, sy = w.sum(-1), w @ x, w @ y
    sxx, sxy = w @ (x * x), w @ (x * y)
    den = sw * sxx - sx * sx
    distinct = (w > 0).sum(-1) >= 2  # x values are distinct units here (layers, runs)
    good = distinct & (np.abs(den) > 1e-12 * np.maximum(sw * sxx, 1e-300))
    safe = np.where(good, den, 1.0)
    slope = np.where(good, (sw * sxy - sx * sy) / safe, np.nan)
    intercept = np.where(good, (sy - slope * sx) / np.where(sw > 0, sw, 1.0), np.nan)
    return slope, intercept


def weighted_quadfit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Coefficients `[..., 3]` (c0, c1, c2) of y ≈ c0 + c1·x + c2·x² for every weight row.

    Rows with fewer than 3 points of positive weight (distinct x) give NaN.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    w = np.where(ok, np.asarray(w, float), 0.0)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    design = np.stack([np.ones_like(x), x, x * x], -1)  # [n, 3]
    a = np.einsum("...n,ni,nj->...ij", w, design, design)
    b = np.einsum("...n,ni->...i", w, design * y[:, None])
    good = (w > 0).sum(-1) >= 3
    a = np.where(good[..., None, None], a, np.eye(3))
    coef = np.linalg.solve(a, b[..., None])[..., 0]
    return np.where(good[..., None], coef, np.nan)


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


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman ρ and its two-sided p-value over the finite pairs (NaN if undefined)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan, math.nan
    res = sps.spearmanr(x[ok], y[ok])
    return float(res.statistic), float(res.pvalue)


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
