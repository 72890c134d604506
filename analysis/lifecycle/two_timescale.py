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
sandwich with residuals AR(1) across layers (their pooled lag-1 correlation between adjacent
layers), inflated by (1 + ρ)/(1 − ρ) for their lag-1 autocorrelation ρ in time; 95% t-intervals, on the log scale for the time constants (`theta_cov`). (A block bootstrap of the residuals was tried
first: it covered τ_slow only ~85% of the time in simulation, these intervals ~95%.) A parameter at a
bound of its search range is listed in `at_bound` and left null with that reason: its estimate
would be a limit, not a measurement.

Model comparison (Gaussian AIC over both variables, each with its own variance): the full model
against one timescale (τ_fast = τ_slow) and against no depth terms (δ = a1 = b1 = b2 = 0).
`delta_aic` > 0 favours the full model. Residuals correlated in time overstate AIC differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.optimize import least_squares, minimize, minimize_scalar

from analysis.lifecycle.alpha_quality import alpha_grid
from analysis.lifecycle.wave import compression
from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import as_float, as_interval, polynomial_design, r_squared, t_crit
from analysis.stats.noise import estimate_noise

FAST_TAU = (0.25, 10.0)  # × snapshot spacing (lower) and × run length (upper)
SLOW_TAU = (0.25, 100.0)


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


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def fast_basis(s: np.ndarray, x: np.ndarray, tau: float, delay: float, eps: float) -> np.ndarray:
    """`[T, L, 2]` columns multiplying (a0, a1) in the fast solution."""
    lag = delay * x[None, :]
    gate = eps * (_softplus((s[:, None] - lag) / eps) - _softplus(-lag / eps))
    rise = 1 - np.exp(-gate / tau)
    return np.stack([rise, x[None, :] * rise], -1)


def solve_dense(basis: np.ndarray, y: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of y `[T, L]` on a basis `[T, L, p]` over the observed cells."""
    x = basis[ok]
    coef = np.linalg.lstsq(x.T @ x, x.T @ y[ok], rcond=None)[0]
    return coef, basis @ coef


def solve_slow(
    decay: np.ndarray, depth: np.ndarray, y: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """α_l(t) = (1 − D(t))·T_l + D(t)·α0_l with T = depth @ b: exact least squares.

    Each layer's free α0_l is eliminated in closed form, leaving a weighted fit of b over
    layers: O(T·L) per time constant instead of a dense (T·L) × (L + 3) solve.
    """
    d = np.where(ok, decay[:, None], 0.0)
    u = np.where(ok, 1 - decay[:, None], 0.0)
    yy = np.where(ok, y, 0.0)
    sdd, sdu, suu = (d * d).sum(0), (d * u).sum(0), (u * u).sum(0)
    sdy, suy = (d * yy).sum(0), (u * yy).sum(0)
    sdd = np.where(sdd > 0, sdd, 1.0)
    weight = suu - sdu**2 / sdd
    moment = suy - sdu * sdy / sdd
    b = np.linalg.lstsq(depth.T @ (weight[:, None] * depth), depth.T @ moment, rcond=None)[0]
    target = depth @ b
    start = (sdy - sdu * target) / sdd
    fitted = (1 - decay)[:, None] * target + decay[:, None] * start
    return np.concatenate([b, start]), fitted


def slow_design(decay: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """`[T, L, q + L]` dense columns of the slow solution (b, then one α0 per layer)."""
    target = (1 - decay)[:, None, None] * depth[None]
    start = decay[:, None, None] * np.eye(depth.shape[0])[None]
    return np.concatenate([target, start], -1)


@dataclass(frozen=True, kw_only=True)
class _Fit:
    theta: np.ndarray  # searched parameters (scaled time)
    coef: np.ndarray  # linear parameters
    fitted: np.ndarray  # [T, L]
    ssr: float


class _Model:
    """One subsystem: a basis builder over searched parameters, with bounds."""

    def __init__(
        self,
        *,
        solve: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
        basis: Callable[[np.ndarray], np.ndarray],
        lower: np.ndarray,
        upper: np.ndarray,
        grid: list[np.ndarray],
    ) -> None:
        self.solve, self.basis = solve, basis
        self.lower, self.upper, self.grid = lower, upper, grid

    def theta_cov(
        self, fit: _Fit, y: np.ndarray, ok: np.ndarray, layer_corr: float = 0.0
    ) -> tuple[np.ndarray, int]:
        """Covariance of the searched parameters and its degrees of freedom.

        Gauss–Newton with every parameter's derivative (linear ones included, so the free start
        values cost their degrees of freedom), s² = SSR/(n − p), as a sandwich
        (JᵀJ)⁻¹·Jᵀ·Ω·J·(JᵀJ)⁻¹ whose Ω is AR(1) across the layers of each snapshot with the
        larger of the residuals' pooled lag-1 correlation between adjacent layers and
        `layer_corr`, the data's own (`analysis.stats.noise`: the residuals of a fit whose
        per-layer start values absorb part of the shared noise understate it), times
        (1 + ρ)/(1 − ρ) for their lag-1 autocorrelation ρ in time (≥ 0, Marriott–Pope
        bias-corrected as in `stats.trend`). Treating adjacent layers as
        independent made τ_slow's interval cover only ~72% of the time when their noise is
        correlated 0.7; a sandwich in time too (with the residuals' ρ, which underestimates
        slow noise over a few dozen snapshots) covered less than the inflation does.
        """
        columns = [self.basis(fit.theta)]
        for i in range(len(fit.theta)):
            step = np.zeros(len(fit.theta))
            step[i] = 1e-5
            moved = (self.basis(fit.theta + step) - self.basis(fit.theta - step)) @ fit.coef
            columns.append((moved / 2e-5)[..., None])
        design = np.where(ok[..., None], np.concatenate(columns, -1), 0.0)  # [T, L, p]
        dof = int(ok.sum()) - design.shape[-1]
        resid = np.where(ok, y - fit.fitted, 0.0)
        den = float((resid * resid).sum())
        rho_t = _lag1(resid[1:] * resid[:-1], den)
        rho_t = min(rho_t + (1 + 3 * rho_t) / len(y), 0.95)  # Marriott–Pope: residuals' ρ is low
        rho_l = max(_lag1(resid[:, 1:] * resid[:, :-1], den), min(layer_corr, 0.95))
        bread = np.linalg.pinv(np.einsum("tlp,tlq->pq", design, design))
        meat = np.einsum("tlp,tlq->pq", design, _ar1_layers(design, rho_l))
        inflation = (1 + rho_t) / (1 - rho_t)
        cov = bread @ meat @ bread * fit.ssr / max(dof, 1) * inflation
        k = len(fit.theta)
        return cov[-k:, -k:], dof

    def fit(self, y: np.ndarray, ok: np.ndarray, start: np.ndarray | None = None) -> _Fit:
        def resid(theta: np.ndarray) -> np.ndarray:
            _, fitted = self.solve(theta, y, ok)
            return (fitted - y)[ok]

        if start is None:
            cands = np.stack(np.meshgrid(*self.grid, indexing="ij"), -1).reshape(-1, len(self.grid))
            start = cands[np.argmin([float(resid(c) @ resid(c)) for c in cands])]
        if len(start) == 1:  # a local search around the grid's (or the given) start
            res = minimize_scalar(
                lambda v: float(resid(np.array([v])) @ resid(np.array([v]))),
                bounds=(max(self.lower[0], start[0] - 0.7), min(self.upper[0], start[0] + 0.7)),
                method="bounded",
                options={"xatol": 1e-6},
            )
            theta = np.array([res.x])
            if float(resid(start) @ resid(start)) < res.fun:
                theta = start
        else:
            theta = least_squares(
                resid,
                np.clip(start, self.lower, self.upper),
                bounds=(self.lower, self.upper),
                x_scale="jac",
                diff_step=1e-4,
            ).x
        coef, fitted = self.solve(theta, y, ok)
        r = (fitted - y)[ok]
        return _Fit(theta=theta, coef=coef, fitted=fitted, ssr=float(r @ r))

    def bound_names(self, theta: np.ndarray, names: tuple[str, ...]) -> list[str]:
        span = self.upper - self.lower
        near = (theta - self.lower < 1e-3 * span) | (self.upper - theta < 1e-3 * span)
        return [n for n, hit in zip(names, near, strict=True) if hit]


def _layer_corr(values: np.ndarray) -> float:
    """Correlation of adjacent layers' noise in `values[T, L]` (0 when it cannot be told)."""
    rho = float(estimate_noise(values).layer_corr)
    return max(rho, 0.0) if math.isfinite(rho) else 0.0


def _lag1(products: np.ndarray, den: float) -> float:
    """Pooled lag-1 correlation of residuals, clipped to [0, 0.95]."""
    rho = float(products.sum()) / den if den > 0 else 0.0
    return min(max(rho, 0.0), 0.95)


def _ar1_layers(design: np.ndarray, rho_l: float) -> np.ndarray:
    """Ω·J for `design[T, L, p]` with Ω AR(1) ρ_l across the layers of every snapshot."""
    n_layers = design.shape[1]
    r_l = rho_l ** np.abs(np.subtract.outer(np.arange(n_layers), np.arange(n_layers)))
    return np.einsum("lm,tmq->tlq", r_l, design)


def _dense_model(basis: Callable[[np.ndarray], np.ndarray], bounds: list[np.ndarray]) -> _Model:
    """A model whose solution is a dense basis; `bounds` per searched parameter (grid ends)."""
    lower, upper = np.array([b[0] for b in bounds]), np.array([b[-1] for b in bounds])
    return _Model(
        solve=lambda th, y, ok: solve_dense(basis(th), y, ok),
        basis=basis,
        lower=lower,
        upper=upper,
        grid=bounds,
    )


def _slow_model(s: np.ndarray, depth: np.ndarray, log_tau: np.ndarray) -> _Model:
    """The slow solution with depth target `depth @ b`, searched over log τ."""

    def decay(th: np.ndarray) -> np.ndarray:
        return np.exp(-s / math.exp(th[0]))

    return _Model(
        solve=lambda th, y, ok: solve_slow(decay(th), depth, y, ok),
        basis=lambda th: slow_design(decay(th), depth),
        lower=log_tau[:1],
        upper=log_tau[-1:],
        grid=[log_tau],
    )


def _models(s: np.ndarray, x: np.ndarray, eps: float, spacing: float) -> dict[str, _Model]:
    """Search spaces in log τ (and δ for the fast model), scaled time."""
    fast_tau = np.linspace(*np.log([FAST_TAU[0] * spacing, FAST_TAU[1]]), 30)
    slow_tau = np.linspace(*np.log([SLOW_TAU[0] * spacing, SLOW_TAU[1]]), 30)
    delay = np.linspace(0, 1, 11)
    fast = _dense_model(lambda th: fast_basis(s, x, math.exp(th[0]), th[1], eps), [fast_tau, delay])
    return {
        "fast": fast,
        "slow": _slow_model(s, polynomial_design(x, 2), slow_tau),
        "fast_flat": _dense_model(
            lambda th: fast_basis(s, x, math.exp(th[0]), 0.0, eps)[..., :1], [fast_tau]
        ),
        "slow_flat": _slow_model(s, polynomial_design(x, 0), slow_tau),
    }


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
    models = _models(s, run.rel_depth, gate_width, float(np.median(np.diff(s))))
    summary, preds = _fit_all(
        models, data, span, metric=metric, kinds=kinds, gate_width=gate_width * span
    )
    return Analysis(summary, TwoTimescaleCurves(steps=run.steps, data=data, predictions=preds))


def _fit_all(
    models: dict[str, _Model],
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
    models: dict[str, _Model],
    fits: dict[str, _Fit],
    y: dict[str, np.ndarray],
    ok: dict[str, np.ndarray],
    span: float,
) -> dict[str, tuple[float, float] | None]:
    """t-intervals (log scale for τ) of τ_fast, δ, τ_slow and the ratio, in steps."""
    (cov_f, dof_f), (cov_s, dof_s) = (
        models[k].theta_cov(fits[k], y[k], ok[k], _layer_corr(y[k])) for k in fits
    )
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
    models: dict[str, _Model],
    fits: dict[str, _Fit],
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
