"""The persistent spectral gradient: α vs relative depth, its inverted U and when it settles.

At a step (default: the last), α_l is the chosen α metric (`alpha`, the tail MLE, by default;
`alpha_rank` on request) averaged over the chosen kinds, at relative depth x_l = l / (L − 1).

- Quadratic fit α(x) ≈ c0 + c1·x + c2·x² by least squares over layers; vertex x* = −c1 / (2·c2);
  curvature = α''(x) = 2·c2. Both get a layer-bootstrap 95% CI (stats.py).
- `is_inverted_u`: curvature < 0, its CI excludes 0, and the vertex lies inside (0, 1).
- Δα = max_l α_l − min_l α_l at that step (the range over depth; no other definition).
- Settling (the "persistent" part): the profile's shape is the depth-centred profile
  P(t) = α(t) − mean_l α(t), smoothed in time over `smooth` snapshots. Its distance to the final
  shape (mean over the last `tail` fraction of snapshots) is d(t) = RMS_l(P(t) − P_final) /
  RMS_l(P_final), less the part snapshot noise alone explains: d ← √max(⟨d²⟩ − floor², 0) (⟨⟩
  the same moving average over `smooth` snapshots), floor
  from the per-layer noise variance (the median squared step-to-step change of the raw shape,
  / (2 · median of χ²₁), which slow drift barely affects). `settle_step` is the first step from
  which d stays ≤ `settle_tol`; `persistent_fraction` is the fraction of the run after it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.results import Analysis
from analysis.run import Run, RunError, load_run
from analysis.stats import (
    N_BOOT,
    bootstrap_counts,
    nanmean,
    percentile_ci,
    r_squared,
    smooth_time,
    weighted_quadfit,
)

CHI2_1_MEDIAN = 0.4549364231195724  # median of χ²₁: turns a median squared change into a variance


@dataclass(frozen=True, kw_only=True)
class ProfileSummary:
    """The α depth profile at one step: quadratic fit, inverted U, Δα and settling."""

    metric: str
    kinds: tuple[str, ...]
    step: int | None
    alpha: np.ndarray  # [L] at `step`
    coef: tuple[float, float, float] | None = None  # c0, c1, c2
    vertex: float | None = None
    vertex_ci: tuple[float, float] | None = None
    curvature: float | None = None
    curvature_ci: tuple[float, float] | None = None
    r2: float | None = None
    is_inverted_u: bool = False
    delta_alpha: float | None = None
    settle_step: float | None = None
    persistent_fraction: float | None = None
    n_boot: int
    seed: int
    reasons: dict[str, str] = field(default_factory=dict)

    def title(self) -> str:
        return f"α depth profile ({self.metric}) at step {self.step}"


@dataclass(frozen=True, kw_only=True)
class ProfileCurves:
    """The profile over time (for plots): α grid `[T, L]` and per-step Δα, vertex, curvature."""

    steps: np.ndarray
    rel_depth: np.ndarray
    alpha_grid: np.ndarray
    delta_alpha_t: np.ndarray
    vertex_t: np.ndarray
    curvature_t: np.ndarray
    shape_distance: np.ndarray


ProfileResult = Analysis[ProfileSummary, ProfileCurves]


def _vertex_curvature(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c1, c2 = coef[..., 1], coef[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        vertex = np.where(c2 != 0, -c1 / (2 * np.where(c2 != 0, c2, 1)), np.nan)
    return vertex, 2 * c2


def settling(
    steps: np.ndarray, grid: np.ndarray, *, smooth: int, tail: float, tol: float
) -> tuple[np.ndarray, float | None, str | None]:
    """Shape distance d(t) to the final profile and the step from which d stays ≤ tol."""
    shape = smooth_time(grid - nanmean(grid, 1)[:, None], smooth)
    n_tail = max(1, math.ceil(tail * len(steps)))
    final = nanmean(shape[-n_tail:], 0)
    scale = math.sqrt(float(nanmean(final**2, 0))) if np.isfinite(final).any() else math.nan
    if not scale > 0:
        return np.full(len(steps), np.nan), None, "the final profile is flat"
    dist = np.sqrt(nanmean((shape - final) ** 2, 1)) / scale
    # Noise floor: the distance that snapshot noise alone leaves (per-layer noise variance from
    # the median squared step-to-step change of the raw shape, which drift barely affects).
    raw = grid - nanmean(grid, 1)[:, None]
    diffs = np.diff(raw, axis=0) ** 2
    with warnings.catch_warnings():  # all-NaN layers are simply left out
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(diffs, 0) if len(diffs) else np.array([0.0])
    noise_var = float(nanmean(med, 0) / (2 * CHI2_1_MEDIAN)) if np.isfinite(med).any() else 0.0
    floor = math.sqrt(noise_var * (1 / min(smooth, len(steps)) + 1 / n_tail)) / scale
    dist = np.sqrt(np.clip(smooth_time(dist**2, smooth) - floor**2, 0, None))
    above = ~(dist <= tol)  # NaN counts as not settled
    if above[-1]:
        return dist, None, f"the profile shape is still changing at the last step (tol {tol})"
    last_above = np.flatnonzero(above)
    i = int(last_above[-1]) + 1 if len(last_above) else 0
    return dist, float(steps[i]), None


def alpha_profile(
    run: Run | str | Path,
    step: int | None = None,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | str | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    smooth: int = 5,
    tail: float = 0.1,
    settle_tol: float = 0.1,
) -> ProfileResult:
    """α vs relative depth at `step` (default last): quadratic fit with CIs, Δα, settling."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps
    grid = run.grid(metric, kinds)
    x = run.rel_depth
    reasons: dict[str, str] = {}
    n_steps, n_layers = grid.shape
    empty = np.full(n_steps, np.nan)
    if n_steps == 0:
        reasons["alpha"] = "the run has no snapshots"
        summary = ProfileSummary(
            metric=metric,
            kinds=kinds,
            step=None,
            alpha=np.full(n_layers, np.nan),
            n_boot=n_boot,
            seed=seed,
            reasons=reasons,
        )
        curves = ProfileCurves(
            steps=steps,
            rel_depth=x,
            alpha_grid=grid,
            delta_alpha_t=empty,
            vertex_t=empty,
            curvature_t=empty,
            shape_distance=empty,
        )
        return Analysis(summary, curves)
    if step is None:
        index = n_steps - 1
    else:
        hits = np.flatnonzero(steps == step)
        if not len(hits):
            raise RunError(f"no snapshot at step {step} (steps {steps[0]}..{steps[-1]})")
        index = int(hits[0])
    alpha = grid[index]
    ok = np.isfinite(alpha)
    # Over time: Δα, vertex and curvature at every step (no bootstrap).
    with np.errstate(invalid="ignore"):
        delta_t = np.where(
            np.isfinite(grid).sum(1) >= 2,
            np.nanmax(np.where(np.isfinite(grid), grid, -np.inf), 1)
            - np.nanmin(np.where(np.isfinite(grid), grid, np.inf), 1),
            np.nan,
        )
    coef_t = (
        np.stack([weighted_quadfit(x, row, np.ones(n_layers)) for row in grid])
        if (n_layers >= 4)
        else np.full((n_steps, 3), np.nan)
    )
    vertex_t, curv_t = _vertex_curvature(coef_t)
    delta = float(delta_t[index]) if np.isfinite(delta_t[index]) else None
    if delta is None:
        reasons["delta_alpha"] = f"needs ≥ 2 layers with a finite {metric}"
    coef = vertex = vertex_ci = curv = curv_ci = r2 = None
    inverted = False
    if ok.sum() < 4:
        reasons["vertex"] = (
            f"the quadratic fit needs ≥ 4 layers with a finite {metric} (have {int(ok.sum())})"
        )
    else:
        c = weighted_quadfit(x[ok], alpha[ok], np.ones(int(ok.sum())))
        boot = weighted_quadfit(x[ok], alpha[ok], bootstrap_counts(int(ok.sum()), n_boot, seed))
        v, k = _vertex_curvature(c)
        bv, bk = _vertex_curvature(boot)
        coef = (float(c[0]), float(c[1]), float(c[2]))
        vertex, curv = float(v), float(k)
        vertex_ci, curv_ci = percentile_ci(bv), percentile_ci(bk)
        fitted = c[0] + c[1] * x[ok] + c[2] * x[ok] ** 2
        r2v = r_squared(alpha[ok], fitted)
        r2 = None if math.isnan(r2v) else r2v
        inverted = bool(
            curv < 0
            and curv_ci is not None
            and curv_ci[1] < 0
            and math.isfinite(vertex)
            and 0 < vertex < 1
        )
    settle_step = fraction = None
    dist = np.full(n_steps, np.nan)
    if n_layers < 2 or n_steps < 2:
        reasons["settle_step"] = "needs ≥ 2 layers and ≥ 2 snapshots"
    else:
        dist, settle_step, why = settling(steps, grid, smooth=smooth, tail=tail, tol=settle_tol)
        if why:
            reasons["settle_step"] = why
        elif steps[-1] > steps[0]:
            fraction = float((steps[-1] - settle_step) / (steps[-1] - steps[0]))
    summary = ProfileSummary(
        metric=metric,
        kinds=kinds,
        step=int(steps[index]),
        alpha=alpha,
        coef=coef,
        vertex=vertex,
        vertex_ci=vertex_ci,
        curvature=curv,
        curvature_ci=curv_ci,
        r2=r2,
        is_inverted_u=inverted,
        delta_alpha=delta,
        settle_step=settle_step,
        persistent_fraction=fraction,
        n_boot=n_boot,
        seed=seed,
        reasons=reasons,
    )
    curves = ProfileCurves(
        steps=steps,
        rel_depth=x,
        alpha_grid=grid,
        delta_alpha_t=delta_t,
        vertex_t=vertex_t,
        curvature_t=curv_t,
        shape_distance=dist,
    )
    return Analysis(summary, curves)
