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

import numpy as np

from analysis.profile import alpha_profile
from analysis.run import Run, load_run
from analysis.stats import N_BOOT, Result, bootstrap_counts, percentile_ci, weighted_linfit


@dataclass(frozen=True, eq=False, repr=False)
class ScalingResult(Result):
    depths: np.ndarray
    delta_alpha: np.ndarray
    beta: float | None
    c: float | None
    r2: float | None
    beta_ci: tuple[float, float] | None
    beta_se: float | None
    loo_error: float | None  # RMS of leave-one-out errors of ln Δα
    loo_predictions: np.ndarray  # predicted Δα of each point from the others
    n: int
    n_boot: int
    seed: int
    metric: str = "alpha"
    runs: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    _json_fields = (
        "metric",
        "runs",
        "depths",
        "delta_alpha",
        "beta",
        "c",
        "r2",
        "beta_ci",
        "beta_se",
        "loo_error",
        "loo_predictions",
        "n",
        "n_boot",
        "seed",
    )
    _title = "scaling law Δα = c·L^β"

    def predict(self, depth: float | np.ndarray) -> float | np.ndarray:
        """Δα the fitted law predicts at depth L."""
        if self.beta is None or self.c is None:
            raise ValueError("the scaling law was not fitted (see .reasons)")
        return self.c * np.asarray(depth, float) ** self.beta


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
        slope, icept = weighted_linfit(lx, ly, np.ones(n))
        beta, c = float(slope), float(math.exp(icept))
        resid = ly - (icept + slope * lx)
        sst = float(((ly - ly.mean()) ** 2).sum())
        r2 = 1 - float((resid**2).sum()) / sst if sst > 0 else None
        if n > 2:
            se = math.sqrt(float((resid**2).sum()) / (n - 2) / float(((lx - lx.mean()) ** 2).sum()))
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
    return ScalingResult(
        depths,
        delta,
        beta,
        c,
        r2,
        ci,
        se,
        loo,
        loo_pred,
        n,
        n_boot,
        seed,
        metric,
        tuple(runs),
        reasons,
    )


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
