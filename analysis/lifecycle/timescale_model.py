"""The two-timescale model's solutions and their search: the closed-form fast and slow
solutions (`analysis.lifecycle.two_timescale` states the model), least squares for the
parameters they are linear in, and a bounded search over the others (variable projection),
with the searched parameters' covariance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, minimize_scalar

from analysis.stats import polynomial_design
from analysis.stats.noise import estimate_noise

FAST_TAU = (0.25, 10.0)  # × snapshot spacing (lower) and × run length (upper)
SLOW_TAU = (0.25, 100.0)


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
class ModelFit:
    theta: np.ndarray  # searched parameters (scaled time)
    coef: np.ndarray  # linear parameters
    fitted: np.ndarray  # [T, L]
    ssr: float


class SearchModel:
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

    def theta_cov(self, fit: ModelFit, y: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, int]:
        """Covariance of the searched parameters and its degrees of freedom.

        Gauss–Newton with every parameter's derivative (linear ones included, so the free start
        values cost their degrees of freedom), s² = SSR/(n − p), as a sandwich
        (JᵀJ)⁻¹·Jᵀ·Ω·J·(JᵀJ)⁻¹ whose Ω is AR(1) across the layers of each snapshot with the
        larger of the residuals' pooled lag-1 correlation between adjacent layers and the
        data's own (`analysis.stats.noise`: the residuals of a fit whose
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
        rho_l = max(_lag1(resid[:, 1:] * resid[:, :-1], den), min(_layer_corr(y), 0.95))
        bread = np.linalg.pinv(np.einsum("tlp,tlq->pq", design, design))
        meat = np.einsum("tlp,tlq->pq", design, _ar1_layers(design, rho_l))
        inflation = (1 + rho_t) / (1 - rho_t)
        cov = bread @ meat @ bread * fit.ssr / max(dof, 1) * inflation
        k = len(fit.theta)
        return cov[-k:, -k:], dof

    def fit(self, y: np.ndarray, ok: np.ndarray, start: np.ndarray | None = None) -> ModelFit:
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
        return ModelFit(theta=theta, coef=coef, fitted=fitted, ssr=float(r @ r))

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


def _dense_model(
    basis: Callable[[np.ndarray], np.ndarray], bounds: list[np.ndarray]
) -> SearchModel:
    """A model whose solution is a dense basis; `bounds` per searched parameter (grid ends)."""
    lower, upper = np.array([b[0] for b in bounds]), np.array([b[-1] for b in bounds])
    return SearchModel(
        solve=lambda th, y, ok: solve_dense(basis(th), y, ok),
        basis=basis,
        lower=lower,
        upper=upper,
        grid=bounds,
    )


def _slow_model(s: np.ndarray, depth: np.ndarray, log_tau: np.ndarray) -> SearchModel:
    """The slow solution with depth target `depth @ b`, searched over log τ."""

    def decay(th: np.ndarray) -> np.ndarray:
        return np.exp(-s / math.exp(th[0]))

    return SearchModel(
        solve=lambda th, y, ok: solve_slow(decay(th), depth, y, ok),
        basis=lambda th: slow_design(decay(th), depth),
        lower=log_tau[:1],
        upper=log_tau[-1:],
        grid=[log_tau],
    )


def search_models(
    s: np.ndarray, x: np.ndarray, eps: float, spacing: float
) -> dict[str, SearchModel]:
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
