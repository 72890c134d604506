"""Is the α depth profile persistent? An equivalence test that a drifting profile fails.

Over the final third of snapshots, the profile's shape is summarised by two coordinates: its
projections on the linear and quadratic depth polynomials orthonormal over the layer grid
(both orthogonal to a constant, so a uniform shift of α is no change of shape). Each coordinate
gets a linear trend over time; the change it implies over the final third has an
AR(1)-inflated standard error (`stats.trend`). The profile is **settled** when both changes
are shown to be smaller than `tol` × the profile's size (norm of the mean coordinates over the
window): each one-sided 95% bound |change| + t·SE below the margin (two one-sided tests, joined
as an intersection–union test). Absence of a significant drift is not enough: a short or noisy
run cannot show that its profile stopped moving, and says so.

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


@dataclass(frozen=True)
class DriftTest:
    """Batched: change of each shape coordinate over the window `[..., 2]`, its SE, the margin."""

    change: np.ndarray
    se: np.ndarray
    margin: np.ndarray
    dof: int

    @property
    def settled(self) -> np.ndarray:
        bound = np.abs(self.change) + t_crit(self.dof, 0.95, sides=1) * self.se
        return (bound <= self.margin[..., None]).all(-1)

    @property
    def relative(self) -> np.ndarray:
        """|change| / profile size (the drift over the window, relative)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.linalg.norm(self.change, axis=-1) / (self.margin / self.tol)

    tol: float = 0.1


def shape_basis(n_layers: int) -> np.ndarray:
    """`[L, 2]` linear and quadratic polynomials over the layer grid, orthonormal, mean zero."""
    x = np.arange(n_layers) / max(n_layers - 1, 1)
    q, _ = np.linalg.qr(polynomial_design(x, 2))
    return q[:, 1:]


def drift_test(steps: np.ndarray, alpha: np.ndarray, tol: float = 0.1) -> DriftTest:
    """Drift of the shape of α `[..., n, L]` over the snapshots `steps` `[n]` (complete data)."""
    steps = np.asarray(steps, float)
    coords = np.asarray(alpha, float) @ shape_basis(alpha.shape[-1])  # [..., n, 2]
    fit = trend(steps, np.swapaxes(coords, -1, -2))  # [..., 2]
    span = steps[-1] - steps[0]
    size = np.linalg.norm(coords.mean(-2), axis=-1)
    return DriftTest(fit.slope * span, fit.se * span, tol * size, fit.dof, tol)


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
