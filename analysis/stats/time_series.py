"""Time along the snapshots: AR(1)-aware trends, moving averages, NaN-aware means."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Trend:
    """Linear trend of `y[..., n]` over t with an AR(1)-inflated standard error."""

    slope: np.ndarray
    se: np.ndarray
    dof: int


def trend(t: np.ndarray, y: np.ndarray, rho_floor: np.ndarray | float = 0.0) -> Trend:
    """OLS slope of y on t; the SE grows by √((1+ρ)/(1−ρ)), ρ the lag-1 autocorrelation of the
    residuals (Marriott–Pope bias-corrected, clipped to [0, 0.95]) or `rho_floor` `[...]` if
    larger (e.g. the AR(1) coefficient measured over a whole run, where a short window's own
    residuals understate slow noise): snapshots are not independent, and an ordinary SE
    would make a drifting profile look settled."""
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
    rho = np.clip(np.maximum(rho, np.nan_to_num(rho_floor)), 0.0, 0.95)
    se = np.sqrt(ss / (n - 2) / sxx * (1 + rho) / (1 - rho))
    return Trend(slope, se, n - 2)


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
