"""The depth scaling law Δα = c·L^β, fitted on log–log, with a bootstrap CI and out-of-sample error.

- Fit: least squares of ln Δα on ln L (points with Δα > 0); β the slope, c = exp(intercept),
  r2 the R² on the log scale.
- `beta_ci`: percentile 95% interval of β over bootstrap resamples of the runs (stats.py;
  resamples with fewer than 2 distinct depths are dropped). With few runs this interval is
  somewhat narrow (≈ 92% coverage with 6 runs in simulation); `beta_se`, the ordinary
  least-squares standard error of β, is reported beside it.
- `loo_error`: leave-one-out prediction error — each run's ln Δα predicted by the law fitted to
  the other runs; the RMS of those errors (natural log units: 0.1 ≈ 10% off). Needs ≥ 3 runs.
  `loo_predictions` holds the predicted Δα of each run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.stats import linregress

from analysis.profile import alpha_profile
from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import N_BOOT, bootstrap_counts, percentile_ci, weighted_linfit


@dataclass(frozen=True, kw_only=True)
class ScalingSummary:
    """Δα = c·L^β across runs: exponent with CI and SE, R², leave-one-out error."""

    title: ClassVar[str] = "scaling law Δα = c·L^β"
    metric: str = "alpha"
    runs: tuple[str, ...] = ()
    depths: np.ndarray
    delta_alpha: np.ndarray
    beta: float | None = None
    c: float | None = None
    r2: float | None = None
    beta_ci: tuple[float, float] | None = None
    beta_se: float | None = None
    loo_error: float | None = None  # RMS of leave-one-out errors of ln Δα
    loo_predictions: np.ndarray  # predicted Δα of each point from the others
    n: int
    n_boot: int
    seed: int
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


def fit_scaling_law(
    depths: Sequence[float],
    delta_alpha: Sequence[float],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    metric: str = "alpha",
    runs: Iterable[str] = (),
) -> ScalingResult:
    """Δα = c·L^β by least squares on log–log, with `beta_ci` and `loo_error`."""
    depths = np.asarray(depths, float)
    delta = np.asarray(delta_alpha, float)
    if depths.shape != delta.shape or depths.ndim != 1:
        raise ValueError("depths and delta_alpha must be 1-D sequences of the same length")
    reasons: dict[str, str] = {}
    ok = np.isfinite(depths) & np.isfinite(delta) & (depths > 0) & (delta > 0)
    lx, ly = np.log(depths[ok]), np.log(delta[ok])
    n = int(ok.sum())
    beta = c = r2 = ci = se = loo = None
    loo_pred = np.full(len(depths), np.nan)
    if n < 2 or np.ptp(lx) == 0:
        reasons["beta"] = f"needs ≥ 2 distinct depths with Δα > 0 (have {n} points)"
    else:
        fit = linregress(lx, ly)
        beta, c = float(fit.slope), float(math.exp(fit.intercept))
        r2 = float(fit.rvalue**2) if np.ptp(ly) > 0 else None
        se = float(fit.stderr) if n > 2 else None
        boot, _ = weighted_linfit(lx, ly, bootstrap_counts(n, n_boot, seed))
        ci = percentile_ci(boot)
        if ci is None:
            reasons["beta_ci"] = "too few bootstrap resamples with ≥ 2 distinct depths"
        if n < 3:
            reasons["loo_error"] = "leave-one-out needs ≥ 3 runs"
        else:
            held = 1 - np.eye(n)  # row i: every point but i
            s, b = weighted_linfit(lx, ly, held)
            pred = b + s * lx
            if np.isfinite(pred).all():
                loo = float(np.sqrt(np.mean((pred - ly) ** 2)))
                loo_pred[np.flatnonzero(ok)] = np.exp(pred)
            else:
                reasons["loo_error"] = "some leave-one-out fits have < 2 distinct depths"
    if n < len(depths):
        reasons["points"] = f"{len(depths) - n} point(s) without a positive finite Δα were left out"
    summary = ScalingSummary(
        metric=metric,
        runs=tuple(runs),
        depths=depths,
        delta_alpha=delta,
        beta=beta,
        c=c,
        r2=r2,
        beta_ci=ci,
        beta_se=se,
        loo_error=loo,
        loo_predictions=loo_pred,
        n=n,
        n_boot=n_boot,
        seed=seed,
        reasons=reasons,
    )
    grid = (
        np.geomspace(depths[ok].min(), depths[ok].max(), 50) if beta is not None else np.array([])
    )
    fitted = summary.predict(grid) if beta is not None else np.array([])
    return Analysis(summary, ScalingCurves(depth_grid=grid, fitted=np.asarray(fitted)))


def scaling_from_runs(
    runs: Iterable[Run | str | Path],
    *,
    step: int | None = None,
    metric: str = "alpha",
    kinds: Iterable[str] | str | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> ScalingResult:
    """Δα (alpha_profile at `step`, default each run's last) vs depth across runs, then the fit."""
    loaded = [load_run(r) for r in runs]
    depths, deltas, names = [], [], []
    for run in loaded:
        profile = alpha_profile(run, step, metric=metric, kinds=kinds, n_boot=0)
        depths.append(run.n_layers)
        deltas.append(np.nan if profile.delta_alpha is None else profile.delta_alpha)
        names.append(str(run.path) if run.path is not None else "<in memory>")
    return fit_scaling_law(depths, deltas, n_boot=n_boot, seed=seed, metric=metric, runs=names)
