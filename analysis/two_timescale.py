"""A two-timescale model of the spectral lifecycle, fitted to every layer at once.

For layer l at relative depth x_l = l / (L − 1), with t counted from the first snapshot:

    fast (stable-rank compression u_l ≈ c_l, wave.py):
        du_l/dt = g(t − δ·x_l) · (a0 + a1·x_l − u_l) / τ_fast,      u_l(0) = 0
        g(z) = 1 / (1 + exp(−z / ε))                                 (a smooth switch)
    slow (α shape):
        dα_l/dt = (b0 + b1·x_l + b2·x_l² − α_l) / τ_slow,            α_l(0) = observed α_l(0)

Compression reaches layer l after a delay δ·x_l proportional to depth (δ in steps per unit of
relative depth; the wave speed it implies is (L − 1) / δ layers per step) and relaxes at rate
1/τ_fast to a depth-dependent level a0 + a1·x (a1 > 0: late layers end more compressed, the
reversal of the early-vs-late gradient). α relaxes at rate 1/τ_slow to a quadratic depth
target (b2 < 0: the inverted U). ε is fixed (`gate_width` × run length, default 1%).

Each system (L coupled-free ODEs) is integrated with `scipy.integrate.solve_ivp` (LSODA) and
its 4 parameters fitted by `scipy.optimize.least_squares` (trust-region, bounds τ > 0, δ ≥ 0)
to all layers and snapshots at once. Standard errors: sqrt(diag(s² (JᵀJ)⁻¹)) with J the
Jacobian at the optimum and s² = SSR / (n − p); the ratio τ_slow / τ_fast gets its SE by the
delta method (the two fits are independent). R² = 1 − SSR/SST over all layers and snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import (
    nanmean,
    r_squared,
    smooth_time,
    weighted_linfit,
    weighted_quadfit,
)
from analysis.wave import compression, onsets

FAST = ("tau_fast", "delay", "a0", "a1")
SLOW = ("tau_slow", "b0", "b1", "b2")
_TIME_PARAMS = {"tau_fast", "delay", "tau_slow"}


@dataclass(frozen=True, kw_only=True)
class TwoTimescaleSummary:
    """Fitted parameters (τ and δ in steps) with standard errors, the τ ratio and R²."""

    title: ClassVar[str] = "two-timescale model (times in steps)"
    metric: str
    kinds: tuple[str, ...]
    params: dict[str, float | None]
    stderr: dict[str, float | None]
    tau_fast: float | None
    tau_fast_se: float | None
    tau_slow: float | None
    tau_slow_se: float | None
    ratio: float | None  # τ_slow / τ_fast
    ratio_se: float | None
    r2_fast: float | None
    r2_slow: float | None
    gate_width: float  # ε in steps
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TwoTimescaleCurves:
    """Data and predictions `[T, L]` under "compression" and "alpha"."""

    steps: np.ndarray
    data: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]


TwoTimescaleResult = Analysis[TwoTimescaleSummary, TwoTimescaleCurves]


def _logistic(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def simulate_fast(theta: np.ndarray, s: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """u `[T, L]` at scaled times s (s[0] = 0) for θ = (τ, δ, a0, a1) in scaled time units."""
    tau, delay, a0, a1 = theta
    target, lag = a0 + a1 * x, delay * x

    def rhs(t: float, u: np.ndarray) -> np.ndarray:
        return _logistic((t - lag) / eps) * (target - u) / tau

    return _solve(rhs, np.zeros_like(x), s)


def simulate_slow(theta: np.ndarray, s: np.ndarray, x: np.ndarray, y0: np.ndarray) -> np.ndarray:
    """α `[T, L]` at scaled times s for θ = (τ, b0, b1, b2) and initial profile y0."""
    tau, b0, b1, b2 = theta
    target = b0 + b1 * x + b2 * x * x

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        return (target - y) / tau

    return _solve(rhs, y0, s)


def _solve(rhs: Callable, y0: np.ndarray, s: np.ndarray) -> np.ndarray:
    sol = solve_ivp(rhs, (0.0, float(s[-1])), y0, method="LSODA", t_eval=s, rtol=1e-8, atol=1e-10)
    if not sol.success or sol.y.shape[1] != len(s):
        return np.full((len(s), len(y0)), np.nan)
    return sol.y.T


def _fit(
    residual: Callable, theta0: np.ndarray, lower: np.ndarray, upper: np.ndarray, n_obs: int
) -> tuple[np.ndarray, np.ndarray]:
    margin = 1e-6 * (upper - lower)
    margin = np.where(np.isfinite(margin), margin, 0.0)
    theta0 = np.clip(theta0, lower + margin, upper - margin)
    res = least_squares(
        residual,
        theta0,
        bounds=(lower, upper),
        method="trf",
        x_scale="jac",
        diff_step=1e-5,
        max_nfev=200,
    )
    dof = n_obs - len(theta0)
    jac = res.jac
    ssr = float(res.fun @ res.fun)
    cov = np.linalg.pinv(jac.T @ jac) * (ssr / dof if dof > 0 else np.nan)
    return res.x, np.sqrt(np.clip(np.diag(cov), 0, None))


def _none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def fit_two_timescale(
    run: Run | str | Path,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | str | None = None,
    gate_width: float = 0.01,
) -> TwoTimescaleResult:
    """Fit the fast/slow ODE model above; parameters with SEs, τ ratio, R², predictions."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    c = compression(run, kinds)
    alpha = run.grid(metric, kinds)
    x = run.rel_depth
    span = float(steps[-1] - steps[0]) if len(steps) > 1 else 0.0
    params: dict[str, float | None] = dict.fromkeys(FAST + SLOW)
    stderr: dict[str, float | None] = dict.fromkeys(FAST + SLOW)
    reasons: dict[str, str] = {}
    preds = {"compression": np.full_like(c, np.nan), "alpha": np.full_like(alpha, np.nan)}
    r2 = {"fast": None, "slow": None}
    if len(steps) < 6 or run.n_layers < 3 or span <= 0:
        why = f"needs ≥ 6 snapshots and ≥ 3 layers (have {len(steps)} and {run.n_layers})"
        reasons.update(fast=why, slow=why)
    else:
        s = (steps - steps[0]) / span
        eps = gate_width
        spacing = float(np.median(np.diff(s)))
        # -- fast --------------------------------------------------------------------------------
        ok = np.isfinite(c)
        try:
            if ok.sum() <= len(FAST):
                raise ValueError("too few finite compression values (stable rank is NaN)")
            on, _ = onsets(s, smooth_time(c, 3), 0.02)
            good = np.isfinite(on)
            slope, icept = (
                weighted_linfit(x[good], on[good], np.ones(good.sum()))
                if good.sum() >= 2
                else (np.nan, np.nan)
            )
            tau0 = icept / math.log(2) if np.isfinite(icept) and icept > 0 else 0.1
            end = nanmean(c[-max(1, len(s) // 10) :], 0)
            a1_0, a0_0 = weighted_linfit(x, end, np.ones(len(x)))
            theta0 = np.array(
                [
                    max(tau0, spacing),
                    max(float(np.nan_to_num(slope)), 0.0),
                    np.nan_to_num(a0_0),
                    np.nan_to_num(a1_0),
                ]
            )
            lower = np.array([spacing / 4, 0.0, -2.0, -4.0])
            upper = np.array([10.0, 1.0, 2.0, 4.0])

            def res_fast(theta: np.ndarray) -> np.ndarray:
                return np.nan_to_num(simulate_fast(theta, s, x, eps)[ok] - c[ok], nan=1e3)

            theta, se = _fit(res_fast, theta0, lower, upper, int(ok.sum()))
            preds["compression"] = simulate_fast(theta, s, x, eps)
            r2["fast"] = _none(r_squared(c, preds["compression"]))
            for name, v, e in zip(FAST, theta, se, strict=True):
                scale = span if name in _TIME_PARAMS else 1.0
                params[name], stderr[name] = _none(v * scale), _none(e * scale)
        except (ValueError, np.linalg.LinAlgError) as err:
            reasons["fast"] = f"fit failed: {err}"
        # -- slow --------------------------------------------------------------------------------
        ok = np.isfinite(alpha)
        y0 = alpha[0]
        if ok.sum() <= len(SLOW) or not np.isfinite(y0).all():
            reasons["slow"] = f"the first snapshot has non-finite {metric} in some layer"
        else:
            try:
                end = nanmean(alpha[-max(1, len(s) // 10) :], 0)
                b0 = weighted_quadfit(x, end, np.ones(len(x)))
                mean = nanmean(alpha, 1)
                change = mean - mean[0]
                total = change[-1]
                reached = np.flatnonzero(np.abs(change) >= 0.63 * abs(total)) if total else []
                tau0 = s[reached[0]] if len(reached) else 0.3
                theta0 = np.array([max(tau0, spacing), *np.nan_to_num(b0)])
                lower = np.array([spacing / 4, -np.inf, -np.inf, -np.inf])
                upper = np.array([100.0, np.inf, np.inf, np.inf])

                def res_slow(theta: np.ndarray) -> np.ndarray:
                    return np.nan_to_num(simulate_slow(theta, s, x, y0)[ok] - alpha[ok], nan=1e3)

                theta, se = _fit(res_slow, theta0, lower, upper, int(ok.sum()))
                preds["alpha"] = simulate_slow(theta, s, x, y0)
                r2["slow"] = _none(r_squared(alpha, preds["alpha"]))
                for name, v, e in zip(SLOW, theta, se, strict=True):
                    scale = span if name in _TIME_PARAMS else 1.0
                    params[name], stderr[name] = _none(v * scale), _none(e * scale)
            except (ValueError, np.linalg.LinAlgError) as err:
                reasons["slow"] = f"fit failed: {err}"
    tf, ts = params["tau_fast"], params["tau_slow"]
    ratio = ratio_se = None
    if tf and ts:
        ratio = ts / tf
        ef, es = stderr["tau_fast"], stderr["tau_slow"]
        if ef is not None and es is not None:
            ratio_se = ratio * math.hypot(ef / tf, es / ts)
    elif "fast" in reasons or "slow" in reasons:
        reasons["ratio"] = "needs both fits"
    summary = TwoTimescaleSummary(
        metric=metric,
        kinds=kinds,
        params=params,
        stderr=stderr,
        tau_fast=tf,
        tau_fast_se=stderr["tau_fast"],
        tau_slow=ts,
        tau_slow_se=stderr["tau_slow"],
        ratio=ratio,
        ratio_se=ratio_se,
        r2_fast=r2["fast"],
        r2_slow=r2["slow"],
        gate_width=gate_width * span,
        reasons=reasons,
    )
    curves = TwoTimescaleCurves(
        steps=run.steps, data={"compression": c, "alpha": alpha}, predictions=preds
    )
    return Analysis(summary, curves)
