"""Across depths: the scaling law Δα = c·L^β and the shift of the inverted-U vertex with depth.

Scaling law. Δα is each run's noise-shrunk amplitude of its fitted depth profile
(`analysis.lifecycle.quadratic`): its expectation does not grow with L when α has no depth structure,
unlike max − min over layers. Least squares of ln Δα on ln L gives β, c = exp(intercept), R²
(log scale), the t-interval of β from a weighted fit (`loglog_fit`; n − 2 degrees of freedom:
honest for few runs; ≥ 3 distinct depths, else no fit) and `loo_error`, the RMS leave-one-out error of ln Δα (does the law
*predict*?). `beta_nonzero` is decided only when every run's profile is distinguishable from
noise (its F-test p < 0.05, the depth-matched noise null): a sweep of noise has no profile
whose amplitude could scale, and is refused rather than fitted.

Vertex shift. The vertex (relative depth of the peak) of every run whose inverted U is
supported, regressed on ln L: slope with its t-interval (≥ 3 such runs at distinct depths).
`vertex_moves` when the interval excludes 0 (negative: the peak moves earlier in deeper
models, the paper's claim).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from analysis.lifecycle.parts import Part, refused, summary_fields
from analysis.lifecycle.profile import alpha_profile
from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import ALPHA, as_float, as_interval, ols, polynomial_design, t_interval, wls

MIN_DEPTHS = 3


@dataclass(frozen=True, kw_only=True)
class ScalingSummary:
    """Δα = c·L^β across runs, and the vertex shift with depth."""

    title: ClassVar[str] = "scaling law Δα = c·L^β and vertex shift"
    metric: str = "alpha"
    runs: tuple[str, ...] = ()
    depths: np.ndarray
    delta_alpha: np.ndarray
    profile_p: np.ndarray
    beta: float | None = None
    c: float | None = None
    r2: float | None = None
    beta_ci: tuple[float, float] | None = None
    beta_se: float | None = None
    beta_nonzero: bool | None = None
    loo_error: float | None = None  # RMS of leave-one-out errors of ln Δα
    loo_predictions: np.ndarray  # predicted Δα of each point from the others
    vertex: np.ndarray  # per run (NaN where no inverted U)
    vertex_slope: float | None = None  # per unit ln L
    vertex_slope_ci: tuple[float, float] | None = None
    vertex_moves: bool | None = None
    n: int
    reasons: dict[str, str] = field(default_factory=dict)

    def predict(self, depth: float | np.ndarray) -> float | np.ndarray:
        """Δα the fitted law predicts at depth L."""
        if self.beta is None or self.c is None:
            raise ValueError("the scaling law was not fitted (see .reasons)")
        return self.c * np.asarray(depth, float) ** self.beta


@dataclass(frozen=True, kw_only=True)
class ScalingCurves:
    """The fitted law on a dense depth grid (empty when not fitted)."""

    depth_grid: np.ndarray
    fitted: np.ndarray


ScalingResult = Analysis[ScalingSummary, ScalingCurves]


@dataclass(frozen=True, kw_only=True)
class LogLogFit:
    """Batched least squares of ln Δα `[..., n]` on ln L `[n]`."""

    beta: np.ndarray
    intercept: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    se: np.ndarray
    dof: int


def loglog_fit(depths: np.ndarray, delta_alpha: np.ndarray) -> LogLogFit:
    """β with its t-interval for every row of Δα (complete, positive), weighted least squares.

    var(ln Δα) ≈ var(Δα)/Δα², and a run of L layers measures its profile's amplitude with a
    variance ∝ σ²/L; the working weights L·Δα² make deep and shallow runs count by their
    precision (an unweighted fit covers β only ~90% of the time on a 4–36 sweep). Only relative
    weights matter: the scale is estimated from the residuals (n − 2 degrees of freedom)."""
    design = polynomial_design(np.log(depths), 1)
    fit = wls(design, np.log(delta_alpha), depths * delta_alpha**2)
    lo, hi = t_interval(fit.coef[..., 1], fit.se(1), fit.dof)
    return LogLogFit(
        beta=fit.coef[..., 1], intercept=fit.coef[..., 0], lo=lo, hi=hi, se=fit.se(1), dof=fit.dof
    )


def fit_scaling_law(
    depths: Sequence[float],
    delta_alpha: Sequence[float],
    *,
    profile_p: Sequence[float] | None = None,
    vertex: Sequence[float] | None = None,
    metric: str = "alpha",
    runs: Iterable[str] = (),
) -> ScalingResult:
    """Δα = c·L^β by least squares on log–log (t-interval, LOO error) and the vertex shift."""
    depths = np.asarray(depths, float)
    delta = np.asarray(delta_alpha, float)
    if depths.shape != delta.shape or depths.ndim != 1:
        raise ValueError("depths and delta_alpha must be 1-D sequences of the same length")
    p = np.full(len(depths), np.nan) if profile_p is None else np.asarray(profile_p, float)
    vert = np.full(len(depths), np.nan) if vertex is None else np.asarray(vertex, float)
    ok = np.isfinite(depths) & np.isfinite(delta) & (depths > 0) & (delta > 0)
    n = int(ok.sum())
    gate = {}
    noise = ~(p < ALPHA)
    if profile_p is None:
        gate["beta_nonzero"] = "no profile p-values: cannot tell a profile from noise"
    elif noise.any():
        bad = ", ".join(f"L={d:g}" for d in depths[noise])
        gate["beta_nonzero"] = (
            f"no depth profile distinguishable from noise in {bad}: nothing to scale"
        )
    distinct = len(np.unique(depths[ok]))
    if distinct < MIN_DEPTHS:
        few = f"needs ≥ {MIN_DEPTHS} distinct depths with Δα > 0 (have {distinct})"
        law = refused("beta", few, loo_predictions=np.full(len(depths), np.nan))
        gate.setdefault("beta_nonzero", few)
    else:
        law = _law(depths, delta, ok)
        if law["beta_ci"] is None:
            gate.setdefault("beta_nonzero", "β's interval is undetermined")
    left_out = {}
    if n < len(depths):
        left_out["points"] = (
            f"{len(depths) - n} point(s) without a positive finite Δα were left out"
        )
    shift = _vertex_shift(depths, vert)
    beta_ci = law.get("beta_ci")
    decided = beta_ci is not None and "beta_nonzero" not in gate
    summary = ScalingSummary(
        metric=metric,
        runs=tuple(runs),
        depths=depths,
        delta_alpha=delta,
        profile_p=p,
        beta_nonzero=bool(beta_ci[0] > 0 or beta_ci[1] < 0) if decided else None,
        vertex=vert,
        n=n,
        **summary_fields({"reasons": gate}, law, {"reasons": left_out}, shift),
    )
    if summary.beta is None:
        return Analysis(summary, ScalingCurves(depth_grid=np.array([]), fitted=np.array([])))
    grid = np.geomspace(depths[ok].min(), depths[ok].max(), 50)
    return Analysis(
        summary, ScalingCurves(depth_grid=grid, fitted=np.asarray(summary.predict(grid)))
    )


def _law(depths: np.ndarray, delta: np.ndarray, ok: np.ndarray) -> Part:
    """The fitted law's fields of the summary: the law fitted to the usable points `ok`, and
    leave-one-out predictions at those points."""
    fit = loglog_fit(depths[ok], delta[ok])
    ly, lx = np.log(delta[ok]), np.log(depths[ok])
    resid = ly - fit.intercept - fit.beta * lx
    sst = float(((ly - ly.mean()) ** 2).sum())
    n = len(ly)
    held = ~np.eye(n, dtype=bool)
    pred = np.full(n, np.nan)
    for i in range(n):
        if len(np.unique(lx[held[i]])) >= 2:
            sub = ols(polynomial_design(lx[held[i]], 1), ly[held[i]])
            pred[i] = sub.coef[0] + sub.coef[1] * lx[i]
    loo = np.full(len(depths), np.nan)
    loo[ok] = np.exp(pred)
    complete = bool(np.isfinite(pred).all())
    return dict(
        beta=float(fit.beta),
        c=float(np.exp(fit.intercept)),
        r2=as_float(1 - float((resid**2).sum()) / sst) if sst > 0 else None,
        beta_ci=as_interval(fit.lo, fit.hi),
        beta_se=as_float(fit.se),
        loo_error=float(np.sqrt(np.mean((pred - ly) ** 2))) if complete else None,
        loo_predictions=loo,
        reasons={}
        if complete
        else {"loo_error": "some leave-one-out fits have < 2 distinct depths"},
    )


def vertex_shift_fit(depths: np.ndarray, vertex: np.ndarray) -> tuple[np.ndarray, ...]:
    """Slope of vertex `[..., n]` on ln L and its t-interval (batched), weighted by L: a run
    of L layers locates its vertex with a variance ∝ 1/L."""
    fit = wls(polynomial_design(np.log(depths), 1), vertex, np.broadcast_to(depths, vertex.shape))
    lo, hi = t_interval(fit.coef[..., 1], fit.se(1), fit.dof)
    return fit.coef[..., 1], lo, hi


def _vertex_shift(depths: np.ndarray, vertex: np.ndarray) -> Part:
    """The vertex shift's fields of the summary, with the reason for its nulls."""
    ok = np.isfinite(vertex) & np.isfinite(depths) & (depths > 0)
    distinct = len(np.unique(depths[ok]))
    if distinct < MIN_DEPTHS:
        why = f"needs ≥ {MIN_DEPTHS} depths with a supported inverted U (have {distinct})"
        return refused("vertex_moves", why)
    slope, lo, hi = vertex_shift_fit(depths[ok], vertex[ok])
    return dict(
        vertex_slope=float(slope),
        vertex_slope_ci=as_interval(lo, hi),
        vertex_moves=bool(lo > 0 or hi < 0),
    )


def scaling_from_runs(
    runs: Iterable[Run | str | Path],
    *,
    step: int | None = None,
    metric: str = "alpha",
    kinds: Iterable[str] | str | None = None,
) -> ScalingResult:
    """Each run's profile (at `step`, default its final window), then the fits across depths."""
    depths, deltas, ps, vertices, names = [], [], [], [], []
    for run in (load_run(r) for r in runs):
        profile = alpha_profile(run, step, metric=metric, kinds=kinds)
        depths.append(run.n_layers)
        deltas.append(np.nan if profile.delta_alpha is None else profile.delta_alpha)
        ps.append(np.nan if profile.profile_p is None else profile.profile_p)
        vertices.append(profile.vertex if profile.is_inverted_u else np.nan)
        names.append(str(run.path) if run.path is not None else "<in memory>")
    return fit_scaling_law(depths, deltas, profile_p=ps, vertex=vertices, metric=metric, runs=names)
