"""The persistent spectral gradient: α vs relative depth, its inverted U and its persistence.

The profile is α_l (the chosen α metric averaged over the chosen kinds, low-quality tail fits
left out: `analysis.lifecycle.alpha_quality`) at relative depth x_l = l / (L − 1), averaged over the final
`tail` of snapshots (default 10%; `step=` picks one snapshot instead). On it,
`analysis.lifecycle.quadratic` fits α(x) ≈ c0 + c1·x + c2·x² and tests an inverted U (two-lines test,
≥ 5 layers) and any depth dependence (F-test); Δα is the noise-shrunk range of the fitted
profile. The fit is GLS with the correlation of adjacent layers' α noise estimated from the run
(`analysis.stats.noise`: residuals of every layer's α around its own trajectory), weighted by
the noise SD's trend over depth: noise smooth across depth makes smooth profiles, which a fit
treating layers as independent reads as an inverted U. A run whose noise correlation cannot
be estimated well enough gets no layer-level decision, with the reason. `analysis.lifecycle.persistence` tests whether the shape has stopped moving over the final third.
`range_alpha` keeps the paper's max − min over layers, for comparison only: it grows with the
number of layers under pure noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from analysis.lifecycle import persistence
from analysis.lifecycle.alpha_quality import alpha_grid
from analysis.lifecycle.parts import Part, refused, summary_fields
from analysis.lifecycle.quadratic import (
    MIN_FIT_LAYERS,
    MIN_U_LAYERS,
    fit_quadratic,
    fit_with_noise,
)
from analysis.results import Analysis
from analysis.run import Run, RunError, load_run
from analysis.stats import ALPHA, as_float, as_interval, nanmean, t_interval
from analysis.stats.noise import NoiseEstimate, estimate_noise


@dataclass(frozen=True, kw_only=True)
class ProfileSummary:
    """The α depth profile: quadratic fit, inverted U, Δα and persistence."""

    title: ClassVar[str] = "α depth profile (α metric and last step of the window below)"
    metric: str
    kinds: tuple[str, ...]
    step: int | None  # last snapshot of the window
    window: int  # snapshots averaged
    alpha: np.ndarray  # [L]
    coef: tuple[float, float, float] | None = None  # c0, c1, c2
    r2: float | None = None
    profile_p: float | None = None  # F-test: any depth dependence
    curvature: float | None = None
    curvature_ci: tuple[float, float] | None = None
    vertex: float | None = None
    vertex_ci: tuple[float, float] | None = None
    inverted_u_p: float | None = None
    is_inverted_u: bool | None = None
    layer_corr: float | None = None  # estimated correlation of adjacent layers' α noise
    delta_alpha: float | None = None  # noise-shrunk range of the fitted profile
    range_alpha: float | None = None  # max − min over layers (grows with L under noise)
    drift: float | None = None  # shape change over the final third / profile size
    drift_upper: float | None = None  # its one-sided 95% upper bound (persistent: ≤ tolerance)
    tolerance: float = 0.2  # settle_tol: the largest drift that counts as persistent
    is_persistent: bool | None = None
    settle_step: float | None = None
    persistent_fraction: float | None = None
    low_quality_fits: int = 0
    fits: int = 0
    reasons: dict[str, str] = field(default_factory=dict)


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


def alpha_profile(
    run: Run | str | Path,
    step: int | None = None,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | str | None = None,
    tail: float = 0.1,
    smooth: int = 5,
    settle_tol: float = 0.2,
) -> ProfileResult:
    """α vs relative depth over the final window (or at `step`): fit, tests, Δα, persistence."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps
    gated = alpha_grid(run, metric, kinds)
    grid = gated.values
    x = run.rel_depth
    n_steps, n_layers = grid.shape
    empty = refused("alpha", "the run has no snapshots") if n_steps == 0 else {}
    if n_steps == 0:
        index, window = 0, 0
        alpha = np.full(n_layers, np.nan)
    elif step is None:
        index, window = n_steps - 1, max(1, math.ceil(tail * n_steps))
        alpha = nanmean(grid[-window:], 0)
    else:
        hits = np.flatnonzero(steps == step)
        if not len(hits):
            raise RunError(f"no snapshot at step {step} (steps {steps[0]}..{steps[-1]})")
        index, window = int(hits[0]), 1
        alpha = grid[index]
    noise = estimate_noise(grid)
    fit = _fit(x, alpha, metric, noise)
    held = _persistence(steps, grid, fit, settle_tol, noise) if n_steps else {}
    finite = np.isfinite(alpha)
    summary = ProfileSummary(
        metric=metric,
        kinds=kinds,
        step=int(steps[index]) if n_steps else None,
        window=window,
        alpha=alpha,
        range_alpha=as_float(np.ptp(alpha[finite])) if finite.sum() >= 2 else None,
        tolerance=settle_tol,
        low_quality_fits=gated.low_quality,
        fits=gated.fits,
        **summary_fields(empty, fit, held),
    )
    return Analysis(summary, _curves(steps, x, grid, smooth, settle_tol))


def _fit(x: np.ndarray, alpha: np.ndarray, metric: str, noise: NoiseEstimate) -> Part:
    """The quadratic fit's fields of the summary, with the reasons for its nulls."""
    ok = np.isfinite(alpha)
    n = int(ok.sum())
    if n < MIN_FIT_LAYERS:
        why = f"the quadratic fit needs ≥ {MIN_FIT_LAYERS} layers with a finite {metric} (have {n})"
        return refused("coef", why)
    shallow = {}
    if n < MIN_U_LAYERS:
        why = f"{n} layers cannot show an inverted U (the two-lines test needs ≥ {MIN_U_LAYERS})"
        shallow = {"is_inverted_u": why}
    if noise.reason is not None:
        keys = ("is_inverted_u", "curvature", "vertex", "profile_p")
        return {"reasons": dict.fromkeys(keys, noise.reason) | shallow}
    fit = fit_with_noise(x[ok], alpha[ok], noise, np.flatnonzero(ok))
    vertex_ci = as_interval(fit.vertex_lo, fit.vertex_hi)
    located = {}
    if vertex_ci is None:
        located = {"vertex": "the curvature is not significant: the data do not locate a vertex"}
    is_inverted_u = bool(fit.p_inverted_u < ALPHA)
    return dict(
        coef=tuple(float(v) for v in fit.coef),
        r2=as_float(fit.r2),
        profile_p=as_float(fit.p_profile),
        curvature=as_float(fit.curvature),
        curvature_ci=as_interval(*t_interval(fit.curvature, fit.curvature_se, fit.dof)),
        vertex=as_float(fit.vertex) if vertex_ci else None,
        vertex_ci=vertex_ci,
        inverted_u_p=None if shallow else as_float(fit.p_inverted_u),
        is_inverted_u=None if shallow else is_inverted_u,
        layer_corr=max(float(noise.layer_corr), 0.0),
        delta_alpha=as_float(fit.amplitude),
        reasons=shallow | located,
    )


def _persistence(
    steps: np.ndarray, grid: np.ndarray, fit: Part, tol: float, noise: NoiseEstimate
) -> Part:
    """Persistence's fields of the summary (given the fit's), with the reasons for its nulls."""
    n_window = persistence.final_third(len(steps))
    window = grid[-n_window:]
    ok = np.isfinite(window).all(0)
    if n_window < persistence.MIN_WINDOW or ok.sum() < 3:
        why = (
            f"needs ≥ {persistence.MIN_WINDOW} snapshots in the final third and ≥ 3 layers "
            f"(have {n_window} and {int(ok.sum())})"
        )
        return refused("is_persistent", why)
    time_corr = float(np.nan_to_num(noise.time_corr))
    test = persistence.drift_test(steps[-n_window:], window[:, ok], tol, time_corr)
    drift, upper = as_float(test.relative), as_float(test.upper)
    if fit.get("profile_p") is None:
        why = "no test of the depth profile against noise: " + (
            fit["reasons"].get("profile_p") or fit["reasons"].get("coef") or "the fit was not made"
        )
        return refused("is_persistent", why, drift=drift, drift_upper=upper)
    if fit["profile_p"] >= ALPHA:
        why = "no depth profile distinguishable from noise at the end"
        return refused("settle_step", why, drift=drift, drift_upper=upper, is_persistent=False)
    if not bool(test.settled):
        why = (
            f"the shape may still move by up to {test.upper:.2g} of the profile over the final "
            f"third (95% upper bound; change {test.relative:.2g}; tolerance {tol}): the run "
            "cannot show it stopped"
        )
        return refused("settle_step", why, drift=drift, drift_upper=upper, is_persistent=False)
    dist = persistence.shape_distance(grid, smooth=5, tail=max(1, math.ceil(0.1 * len(steps))))
    settled_at = persistence.settle_step(steps, dist, tol)
    fraction = None
    if settled_at is not None and steps[-1] > steps[0]:
        fraction = float((steps[-1] - settled_at) / (steps[-1] - steps[0]))
    return dict(
        drift=drift,
        drift_upper=upper,
        is_persistent=True,
        settle_step=settled_at,
        persistent_fraction=fraction,
    )


def _curves(
    steps: np.ndarray, x: np.ndarray, grid: np.ndarray, smooth: int, tol: float
) -> ProfileCurves:
    n_steps, n_layers = grid.shape
    empty = np.full(n_steps, np.nan)
    delta = vertex = curv = dist = empty
    complete = np.isfinite(grid).all(1)
    if n_layers >= MIN_FIT_LAYERS and complete.any():
        fit = fit_quadratic(x, np.where(complete[:, None], grid, 0.0))
        delta, vertex, curv = (
            np.where(complete, v, np.nan) for v in (fit.amplitude, fit.vertex, fit.curvature)
        )
    if n_steps >= 2 and n_layers >= 2:
        tail = max(1, math.ceil(0.1 * n_steps))
        dist = persistence.shape_distance(grid, smooth=smooth, tail=tail)
    return ProfileCurves(
        steps=steps,
        rel_depth=x,
        alpha_grid=grid,
        delta_alpha_t=delta,
        vertex_t=vertex,
        curvature_t=curv,
        shape_distance=dist,
    )
