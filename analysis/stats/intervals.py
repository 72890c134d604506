"""Intervals and decisions shared by every analysis: the level, t-based intervals, Fieller ratios.

Intervals are t-based with the residual degrees of freedom because the units (layers, runs,
seeds) are few.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

LEVEL = 0.95  # every interval
ALPHA = 0.05  # every decision


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
    *,
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
    ok = (a > 0) & (disc >= -1e-12 * (b**2 + np.abs(a * c)))  # exact data: 0 up to round-off
    root = np.sqrt(np.where(ok, np.clip(disc, 0.0, None), 0.0))
    safe = np.where(ok, a, 1.0)
    lo = np.where(ok, (b - root) / safe, np.nan)
    hi = np.where(ok, (b + root) / safe, np.nan)
    return lo, hi
