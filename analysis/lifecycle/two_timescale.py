"""A two-timescale model of the spectral lifecycle, fitted to every layer at once.

For layer l at relative depth x_l, with t counted from the first snapshot:

    fast (compression u_l ≈ c_l, wave.py):
        du_l/dt = g(t − δ·x_l) · (a0 + a1·x_l − u_l) / τ_fast,     u_l(0) = 0
        g(z) = 1 / (1 + exp(−z / ε))                                (a smooth switch)
    slow (α):
        dα_l/dt = (b0 + b1·x_l + b2·x_l² − α_l) / τ_slow,           α_l(0) = α0_l

Both are linear ODEs with closed-form solutions: u_l = a_l·(1 − exp(−G_l(t)/τ_fast)) with
G_l(t) = ∫₀ᵗ g(s − δ·x_l) ds = ε·[softplus((t − δx_l)/ε) − softplus(−δx_l/ε)], and
α_l = T(x_l) + (α0_l − T(x_l))·exp(−t/τ_slow). Given the time constants the models are linear
in the other parameters (a0, a1; b0, b1, b2 and one free initial value α0_l per layer), so
those are solved exactly by least squares and only τ_fast, δ and τ_slow are searched
(variable projection). α's initial values are free: no single noisy snapshot is pinned
(compression is 0 at the first snapshot by its definition, so u_l(0) = 0 is no assumption).

Uncertainty: Gauss–Newton standard errors of log τ_fast, δ and log τ_slow with every linear
parameter (the free start values included) counted against the degrees of freedom, as a
sandwich with residuals AR(1) across layers (the larger of their pooled correlation between
adjacent layers and the data's own, `analysis.stats.noise`), inflated by (1 + ρ)/(1 − ρ) for
their lag-1 autocorrelation ρ in time; 95% t-intervals, on the log scale for the time
constants (`timescale_model.SearchModel.theta_cov`). (A block bootstrap of the residuals was
tried first: it covered τ_slow only ~85% of the time in simulation.) A parameter at a bound of
its search range is listed in `at_bound` and left null with that reason: its estimate would
be a limit, not a measurement. The solutions and their search: `timescale_model`.

Model comparison (Gaussian AIC over both variables, each with its own variance): the full model
against one timescale (τ_fast = τ_slow) and against no depth terms (δ = a1 = b1 = b2 = 0).
`delta_aic` > 0 favours the full model. Residuals correlated in time overstate AIC differences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.optimize import minimize

from analysis.lifecycle.alpha_quality import alpha_grid
from analysis.lifecycle.timescale_model import ModelFit, SearchModel, search_models
from analysis.lifecycle.wave import compression
from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import as_float, as_interval, r_squared, t_crit


@dataclass(frozen=True, kw_only=True)
class TwoTimescaleSummary:
    """Time constants and delay (steps) with 95% intervals, model comparison, R²."""

    title: ClassVar[str] = "two-timescale model (times in steps)"
    metric: str
    kinds: tuple[str, ...]
    params: dict[str, float | None]
    intervals: dict[str, tuple[float, float] | None]
    tau_fast: float | None = None
    tau_slow: float | None = None
    ratio: float | None = None  # τ_slow / τ_fast
    ratio_ci: tuple[float, float] | None = None
    at_bound: tuple[str, ...] = ()
    r2_fast: float | None = None
    r2_slow: float | None = None
    delta_aic: dict[str, float | None] = field(default_factory=dict)
    gate_width: float = 0.0  # ε in steps
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TwoTimescaleCurves:
    """Data and predictions `[T, L]` under "compression" and "alpha"."""

    steps: np.ndarray
    data: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]


TwoTimescaleResult = Analysis[TwoTimescaleSummary, TwoTimescaleCurves]


def _gaussian_aic(ssr: float, n: int, k: int) -> float:
    return n * math.log(ssr / n) + 2 * k if ssr > 0 and n > 0 else math.nan


def fit_two_timescale(
    run: Run | str | Path,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | str | None = None,
    gate_width: float = 0.002,
) -> TwoTimescaleResult:
    """Fit the fast/slow model above; t-intervals, bound flags, AIC comparison."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    c = compression(run, kinds)
    alpha = alpha_grid(run, metric, kinds).values
    span = float(steps[-1] - steps[0]) if len(steps) > 1 else 0.0
    data = {"compression": c, "alpha": alpha}
    why = None
    if len(steps) < 6 or run.n_layers < 3 or span <= 0:
        why = f"needs ≥ 6 snapshots and ≥ 3 layers (have {len(steps)} and {run.n_layers})"
    elif (np.isfinite(c).sum() <= 5) or (np.isfinite(alpha).sum() <= 4 + run.n_layers):
        why = f"too few finite compression or {metric} values (stable rank or α NaN)"
    if why is not None:
        summary = TwoTimescaleSummary(
            metric=metric,
            kinds=kinds,
            params={},
            intervals={},
            gate_width=gate_width * span,
            reasons={"fit": why},
        )
        preds = {k: np.full_like(v, np.nan) for k, v in data.items()}
        return Analysis(summary, TwoTimescaleCurves(steps=run.steps, data=data, predictions=preds))
    s = (steps - steps[0]) / span
    models = search_models(s, run.rel_depth, gate_width, float(np.median(np.diff(s))))
    summary, preds = _fit_all(
        models, data, span, metric=metric, kinds=kinds, gate_width=gate_width * span
    )
    return Analysis(summary, TwoTimescaleCurves(steps=run.steps, data=data, predictions=preds))


def _fit_all(
    models: dict[str, SearchModel],
    data: dict[str, np.ndarray],
    span: float,
    *,
    metric: str,
    kinds: tuple[str, ...],
    gate_width: float,
) -> tuple[TwoTimescaleSummary, dict[str, np.ndarray]]:
    y = {"fast": data["compression"], "slow": data["alpha"]}
    ok = {k: np.isfinite(v) for k, v in y.items()}
    fits = {k: models[k].fit(y[k], ok[k]) for k in ("fast", "slow")}
    names = {"fast": ("tau_fast", "delay"), "slow": ("tau_slow",)}
    a0, a1 = fits["fast"].coef.tolist()
    b0, b1, b2 = fits["slow"].coef[:3].tolist()
    params = {
        "tau_fast": math.exp(fits["fast"].theta[0]) * span,
        "delay": fits["fast"].theta[1] * span,
        "tau_slow": math.exp(fits["slow"].theta[0]) * span,
        "a0": a0,
        "a1": a1,
        "b0": b0,
        "b1": b1,
        "b2": b2,
    }
    at_bound = [n for k in fits for n in models[k].bound_names(fits[k].theta, names[k])]
    intervals = _intervals(models, fits, y, ok, span)
    ratio = params["tau_slow"] / params["tau_fast"]
    reasons = {}
    for name in at_bound:  # a limit, not a measurement: no estimate beside that statement
        params[name], intervals[name] = math.nan, None
        reasons[name] = "at the edge of its search range: a limit, not a measurement"
    if {"tau_fast", "tau_slow"} & set(at_bound):
        ratio, intervals["ratio"] = math.nan, None
        reasons["ratio"] = (
            f"{' and '.join(n for n in at_bound if n.startswith('tau'))} at the edge of the "
            "search range: the ratio is not measured"
        )
    n_obs = {k: int(ok[k].sum()) for k in ok}
    summary = TwoTimescaleSummary(
        metric=metric,
        kinds=kinds,
        params={k: as_float(v) for k, v in params.items()},
        intervals={k: v for k, v in intervals.items() if k != "ratio"},
        tau_fast=as_float(params["tau_fast"]),
        tau_slow=as_float(params["tau_slow"]),
        ratio=as_float(ratio),
        ratio_ci=intervals["ratio"],
        at_bound=tuple(at_bound),
        r2_fast=as_float(r_squared(y["fast"], fits["fast"].fitted)),
        r2_slow=as_float(r_squared(y["slow"], fits["slow"].fitted)),
        delta_aic=_compare(models, fits, y, ok, n_obs),
        gate_width=gate_width,
        reasons=reasons,
    )
    return summary, {"compression": fits["fast"].fitted, "alpha": fits["slow"].fitted}


def _intervals(
    models: dict[str, SearchModel],
    fits: dict[str, ModelFit],
    y: dict[str, np.ndarray],
    ok: dict[str, np.ndarray],
    span: float,
) -> dict[str, tuple[float, float] | None]:
    """t-intervals (log scale for τ) of τ_fast, δ, τ_slow and the ratio, in steps."""
    (cov_f, dof_f), (cov_s, dof_s) = (models[k].theta_cov(fits[k], y[k], ok[k]) for k in fits)
    log_f, delay = fits["fast"].theta
    log_s = fits["slow"].theta[0]
    se_f, se_d, se_s = math.sqrt(cov_f[0, 0]), math.sqrt(cov_f[1, 1]), math.sqrt(cov_s[0, 0])
    tf, ts = t_crit(dof_f), t_crit(dof_s)
    ratio_se = math.hypot(se_f, se_s)  # independent fits
    tr = t_crit(min(dof_f, dof_s))
    return {
        "tau_fast": as_interval(*(span * np.exp(log_f + np.array([-1, 1]) * tf * se_f))),
        "delay": as_interval(*(span * (delay + np.array([-1, 1]) * tf * se_d))),
        "tau_slow": as_interval(*(span * np.exp(log_s + np.array([-1, 1]) * ts * se_s))),
        "ratio": as_interval(*np.exp(log_s - log_f + np.array([-1, 1]) * tr * ratio_se)),
    }


def _compare(
    models: dict[str, SearchModel],
    fits: dict[str, ModelFit],
    y: dict[str, np.ndarray],
    ok: dict[str, np.ndarray],
    n_obs: dict[str, int],
) -> dict[str, float | None]:
    """AIC of the alternatives minus AIC of the full model (> 0: the full model is better)."""
    n_layers = y["slow"].shape[1]

    def aic(ssr_fast: float, ssr_slow: float, k: int) -> float:
        return (
            _gaussian_aic(ssr_fast, n_obs["fast"], 0)
            + _gaussian_aic(ssr_slow, n_obs["slow"], 0)
            + 2 * k
        )

    full = aic(fits["fast"].ssr, fits["slow"].ssr, 4 + 4 + n_layers)
    flat_fast = models["fast_flat"].fit(y["fast"], ok["fast"])
    flat_slow = models["slow_flat"].fit(y["slow"], ok["slow"])
    flat = aic(flat_fast.ssr, flat_slow.ssr, 2 + 2 + n_layers)

    def shared(theta: np.ndarray) -> float:
        log_tau, delay = theta
        ssr = []
        for key, theta_k in (("fast", np.array([log_tau, delay])), ("slow", np.array([log_tau]))):
            _, fitted = models[key].solve(theta_k, y[key], ok[key])
            r = (fitted - y[key])[ok[key]]
            ssr.append(float(r @ r))
        return aic(ssr[0], ssr[1], 3 + 3 + n_layers)

    lo = max(models["fast"].lower[0], models["slow"].lower[0])
    hi = min(models["fast"].upper[0], models["slow"].upper[0])
    cands = [np.array([t, d]) for t in np.linspace(lo, hi, 30) for d in np.linspace(0, 0.9, 10)]
    start = cands[int(np.nanargmin([shared(c) for c in cands]))]
    bounds = [(lo, hi), (0.0, 1.0)]
    one = minimize(shared, start, method="Nelder-Mead", bounds=bounds).fun
    return {
        "one_timescale": as_float(min(one, shared(start)) - full),
        "no_depth": as_float(flat - full),
    }
