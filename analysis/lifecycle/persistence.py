"""Is the α depth profile persistent? An equivalence test on the drift it reports.

Over the final third of snapshots, the profile's shape is summarised by two coordinates: its
projections on the linear and quadratic depth polynomials orthonormal over the layer grid
(both orthogonal to a constant, so a uniform shift of α is no change of shape). Each coordinate
gets a linear trend over time; the change it implies over the window is the vector Δ, with a
covariance from the trend residuals inflated for their lag-1 autocorrelation (AR(1) in time,
`stats.trend`). `drift` = ‖Δ‖ / size, size the norm of the mean coordinates over the window:
the change of the shape relative to the shape.

The test decides on that same quantity: the profile is **settled** when a one-sided 95% upper
confidence bound of the drift, (‖Δ‖ + t·√λ_max) / size with λ_max the largest eigenvalue of
Δ's covariance, is at most `tol`. Valid at the boundary whatever the direction of the change:
‖Δ̂‖ is at least Δ̂'s component along the true Δ, which is normal with variance ≤ λ_max, so a
profile whose shape still moves by exactly `tol` is called settled at most 5% of the time (the
old test bounded each coordinate separately, so a change of `tol` split between the two passed
87–99% of the time). Absence of a significant drift is not enough: a short or noisy run cannot
show that its profile stopped moving, and says so. The size's own noise is left out (it is
estimated from the whole window, the change from its trend, ~3.5 times less precisely).

A separate, descriptive curve: the shape distance d(t) = RMS_l(P(t) − P_final) / RMS_l(P_final)
of the depth-centred, time-smoothed profile P to its final shape, less the part that snapshot
noise explains; `settle_step` is the first step from which d stays ≤ `tol` (reported only for a
settled profile).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from analysis.stats import nanmean, polynomial_design, smooth_time, t_crit, trend

CHI2_1_MEDIAN = 0.4549364231195724  # median of χ²₁: turns a median squared change into a variance
MIN_WINDOW = 6  # snapshots in the final third


@dataclass(frozen=True, kw_only=True)
class DriftTest:
    """Batched: change Δ `[..., 2]` of the shape coordinates over the window, its covariance
    `[..., 2, 2]`, the profile's size `[...]`, the tolerance and the degrees of freedom."""

    change: np.ndarray
    cov: np.ndarray
    size: np.ndarray
    tol: float
    dof: int

    @property
    def relative(self) -> np.ndarray:
        """‖Δ‖ / size: the drift over the window, relative to the profile."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.linalg.norm(self.change, axis=-1) / self.size

    @property
    def upper(self) -> np.ndarray:
        """One-sided 95% upper confidence bound of `relative`."""
        a, b, d = self.cov[..., 0, 0], self.cov[..., 0, 1], self.cov[..., 1, 1]
        largest = (a + d) / 2 + np.sqrt(((a - d) / 2) ** 2 + b**2)
        bound = np.linalg.norm(self.change, axis=-1) + t_crit(self.dof, 0.95, sides=1) * np.sqrt(
            largest
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return bound / self.size

    @property
    def settled(self) -> np.ndarray:
        return self.upper <= self.tol


def shape_basis(n_layers: int) -> np.ndarray:
    """`[L, 2]` linear and quadratic polynomials over the layer grid, orthonormal, mean zero."""
    x = np.arange(n_layers) / max(n_layers - 1, 1)
    q, _ = np.linalg.qr(polynomial_design(x, 2))
    return q[:, 1:]


def drift_test(
    steps: np.ndarray,
    alpha: np.ndarray,
    tol: float = 0.2,
    time_corr: np.ndarray | float = 0.0,
) -> DriftTest:
    """Drift of the shape of α `[..., n, L]` over the snapshots `steps` `[n]` (complete data);
    `time_corr` `[...]`: the noise's AR(1) coefficient measured over the whole run
    (`analysis.stats.noise`), a floor for the window's own (which a few dozen snapshots of slow
    noise understate)."""
    steps = np.asarray(steps, float)
    coords = np.swapaxes(np.asarray(alpha, float) @ shape_basis(alpha.shape[-1]), -1, -2)
    fit = trend(steps, coords, np.asarray(time_corr, float)[..., None])  # [..., 2]
    span = steps[-1] - steps[0]
    tc = steps - steps.mean()
    resid = coords - coords.mean(-1, keepdims=True) - fit.slope[..., None] * tc
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.sqrt((resid**2).sum(-1))
        corr = (resid[..., 0, :] * resid[..., 1, :]).sum(-1) / (scale[..., 0] * scale[..., 1])
    se = fit.se * span
    off = np.nan_to_num(corr) * se[..., 0] * se[..., 1]
    cov = np.stack([np.stack([se[..., 0] ** 2, off], -1), np.stack([off, se[..., 1] ** 2], -1)], -2)
    size = np.linalg.norm(coords.mean(-1), axis=-1)
    return DriftTest(change=fit.slope * span, cov=cov, size=size, tol=tol, dof=fit.dof)


def final_third(n_steps: int) -> int:
    """Snapshots in the final third (at least one)."""
    return max(1, math.ceil(n_steps / 3))


def shape_distance(grid: np.ndarray, *, smooth: int, tail: int) -> np.ndarray:
    """d(t) of the module docstring, NaN where the final profile is flat."""
    centred = grid - nanmean(grid, 1)[:, None]
    shape = smooth_time(centred, smooth)
    final = nanmean(shape[-tail:], 0)
    scale = math.sqrt(float(nanmean(final**2, 0))) if np.isfinite(final).any() else math.nan
    if not scale > 0:
        return np.full(len(grid), np.nan)
    dist = np.sqrt(nanmean((shape - final) ** 2, 1)) / scale
    diffs = np.diff(centred, axis=0) ** 2
    with warnings.catch_warnings():  # all-NaN layers are simply left out
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(diffs, 0) if len(diffs) else np.array([0.0])
    noise_var = float(nanmean(med, 0) / (2 * CHI2_1_MEDIAN)) if np.isfinite(med).any() else 0.0
    floor = math.sqrt(noise_var * (1 / min(smooth, len(grid)) + 1 / tail)) / scale
    return np.sqrt(np.clip(smooth_time(dist**2, smooth) - floor**2, 0, None))


def settle_step(steps: np.ndarray, dist: np.ndarray, tol: float) -> float | None:
    """First step from which d stays ≤ tol (None if it is above tol at the end)."""
    above = ~(dist <= tol)
    if above[-1]:
        return None
    last = np.flatnonzero(above)
    return float(steps[int(last[-1]) + 1 if len(last) else 0])
