"""Calibration harness, α-profile decisions: the inverted U, the curvature and vertex intervals,
persistence, and the scaling law and vertex shift across depths.

Runs are simulated as α time series `[n, T, L]` (`analysis.calibration.simulate`: a profile
that every layer reaches together from α = 5, so α falls in every layer at once — a shared
trend — plus noise) and pass through the profile's own path: the noise estimate of the whole
grid, the window mean over the final 10% of snapshots, the GLS quadratic fit, the drift test
over the final third.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from analysis.calibration.rates import NOISE, STEPS, Rate, count
from analysis.calibration.simulate import (
    INDEPENDENT,
    Noise,
    Profile,
    noisy_alpha,
    profile_alpha,
    rel_depth,
)
from analysis.lifecycle.persistence import drift_test, final_third
from analysis.lifecycle.quadratic import MIN_U_LAYERS, QuadraticFit, fit_with_noise
from analysis.lifecycle.scaling import loglog_fit, vertex_shift_fit
from analysis.stats import ALPHA, ols, polynomial_design, t_interval
from analysis.stats.noise import estimate_noise, usable

PEAK_AT_LAST = Profile(k=1.0, vertex=1.0)  # α rises to its peak at the last layer: no U inside
PLANTED_U = Profile(k=2.0, vertex=0.35)
WEAK_U = Profile(k=0.5, vertex=0.5)
TAIL = 0.1  # the profile's window: the final 10% of snapshots
DRIFT_NOISE = replace(INDEPENDENT, alpha=0.02, ar=0.5)


def window_mean(alpha: np.ndarray) -> np.ndarray:
    """α `[..., L]` averaged over the final `TAIL` of snapshots of `[..., T, L]`."""
    return alpha[..., -max(1, math.ceil(TAIL * alpha.shape[-2])) :, :].mean(-2)


def profile_fits(
    layers: int, n: int, seed: int, noise: Noise, profile: Profile
) -> tuple[QuadraticFit, np.ndarray, np.ndarray]:
    """Simulated runs through the profile's path: (fit, decided `[n]`, noise-free window mean)."""
    clean = profile_alpha(STEPS, layers, profile)
    alpha = noisy_alpha(np.random.default_rng(seed), n, clean, noise)
    est = estimate_noise(alpha)
    fit = fit_with_noise(rel_depth(layers), window_mean(alpha), est)
    return fit, usable(est), window_mean(clean)


def inverted_u_rate(
    layers: int, n: int, seed: int = 0, noise: Noise = NOISE, profile: Profile = PEAK_AT_LAST
) -> Rate:
    """is_inverted_u: false positives for α rising to its peak at x = vertex ≥ 1 (the hardest
    null: slope 0 at the last layer), power under a planted U inside."""
    if layers < MIN_U_LAYERS:
        return Rate(hits=0, n=n, refused=True)
    fit, decided, _ = profile_fits(layers, n, seed, noise, profile)
    return count(fit.p_inverted_u < ALPHA, decided)


def profile_coverage(layers: int, n: int, seed: int = 0, noise: Noise = NOISE) -> dict[str, Rate]:
    """Coverage of the curvature t-interval and the vertex Fieller interval (planted U).

    The truth is the noise-free window mean's (α still falls a little in the window: its
    curvature is slightly less than the target's; the vertex is the target's). The vertex
    interval exists only when the curvature is significant: `vertex` counts coverage among
    those, `vertex_reported` how often one was reported."""
    fit, decided, clean = profile_fits(layers, n, seed, noise, PLANTED_U)
    truth = 2 * ols(polynomial_design(rel_depth(layers), 2), clean).coef[2]
    lo, hi = t_interval(fit.curvature, fit.curvature_se, fit.dof)
    bounded = np.isfinite(fit.vertex_lo)
    vertex = PLANTED_U.vertex
    return {
        "curvature": count((lo <= truth) & (truth <= hi), decided),
        "vertex": count((fit.vertex_lo <= vertex) & (vertex <= fit.vertex_hi), decided, bounded),
        "vertex_reported": count(bounded, decided),
    }


# -- persistence ---------------------------------------------------------------------------------


def persistence_rate(
    layers: int,
    n: int,
    seed: int = 0,
    *,
    drift: float,
    tol: float = 0.2,
    noise: Noise = DRIFT_NOISE,
) -> Rate:
    """`settled` for a profile that holds still, then changes its shape by `drift` of itself
    over the final third (drift = tol: false positives at the boundary; tol/2 or 0: power).
    The run's noise is measured over all of it, as the profile does."""
    window = final_third(len(STEPS))
    ramp = np.clip((np.arange(len(STEPS)) - (len(STEPS) - window)) / (window - 1), 0, 1)
    growth = drift / (1 - drift / 2)  # change / mean size over the window = drift
    shape = profile_alpha(np.array([1e9]), layers, PLANTED_U)[0]
    clean = 3.0 + (shape - shape.mean())[None, :] * (1 + growth * ramp)[:, None]
    alpha = noisy_alpha(np.random.default_rng(seed), n, clean, noise)
    time_corr = estimate_noise(alpha).time_corr
    test = drift_test(STEPS[-window:], alpha[:, -window:], tol, time_corr)
    return count(test.settled)


# -- across depths -------------------------------------------------------------------------------


def _amplitudes(
    rng: np.random.Generator,
    depths: tuple[int, ...],
    n: int,
    amplitude: np.ndarray,
    noise: Noise,
    vertex: float = 0.35,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Shrunk Δα, profile p-values, vertices and inverted-U p-values `[n, depths]` of runs
    with a planted U of range `amplitude` per depth; and which runs every depth decided."""
    out: dict[str, list[np.ndarray]] = {"delta": [], "p": [], "vertex": [], "u": []}
    decided = np.ones(n, bool)
    for depth, amp in zip(depths, amplitude, strict=True):
        x = rel_depth(depth)
        shape = -((x - vertex) ** 2) / max(vertex, 1 - vertex) ** 2  # range 1 over [0, 1]
        clean = np.broadcast_to(3 + amp * shape, (len(STEPS), depth))
        alpha = noisy_alpha(rng, n, clean, noise)
        est = estimate_noise(alpha)
        fit = fit_with_noise(x, window_mean(alpha), est)
        out["delta"].append(fit.amplitude)
        out["p"].append(fit.p_profile)
        out["vertex"].append(fit.vertex)
        out["u"].append(fit.p_inverted_u)
        decided &= usable(est)
    return {k: np.stack(v, -1) for k, v in out.items()}, decided


SCALING_NOISE = replace(INDEPENDENT, alpha=0.05)


def _beta_nonzero(
    depths: tuple[int, ...], fits: dict[str, np.ndarray], decided: np.ndarray
) -> Rate:
    """beta_nonzero as `fit_scaling_law` decides it: only when every depth's profile is
    distinguishable from noise with Δα > 0, then when β's interval excludes 0."""
    delta, p = fits["delta"], fits["p"]
    gated = (p < ALPHA).all(-1) & (delta > 0).all(-1)
    fit = loglog_fit(np.array(depths, float), np.where(gated[:, None], delta, 1.0))
    return count(gated & ((fit.lo > 0) | (fit.hi < 0)), decided)


def _planted_law(
    depths: tuple[int, ...], n: int, seed: int, noise: Noise, beta: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`_amplitudes` of runs under a planted law Δα = 0.3·L^β."""
    truth = 0.3 * np.array(depths, float) ** beta
    return _amplitudes(np.random.default_rng(seed), depths, n, truth, noise)


def scaling_false_positives(
    depths: tuple[int, ...],
    n: int,
    seed: int = 0,
    noise: Noise = NOISE,
    amplitude: float = 0.0,
) -> Rate:
    """beta_nonzero when Δα does not change with depth (0: α is pure noise)."""
    rng = np.random.default_rng(seed)
    fits, decided = _amplitudes(rng, depths, n, np.full(len(depths), amplitude), noise)
    return _beta_nonzero(depths, fits, decided)


def beta_power(
    depths: tuple[int, ...], n: int, seed: int = 0, noise: Noise = SCALING_NOISE, beta=0.26
) -> Rate:
    """beta_nonzero under a planted law Δα = 0.3·L^β (the gate and the interval, as decided)."""
    return _beta_nonzero(depths, *_planted_law(depths, n, seed, noise, beta))


def beta_coverage(
    depths: tuple[int, ...], n: int, seed: int = 0, noise: Noise = SCALING_NOISE, beta=0.26
) -> Rate:
    """95% t-interval of β covers the planted exponent (Δα = 0.3·L^β)."""
    fits, decided = _planted_law(depths, n, seed, noise, beta)
    delta = fits["delta"]
    ok = (delta > 0).all(-1) & decided
    fit = loglog_fit(np.array(depths, float), np.where(ok[:, None], delta, 1.0))
    return count((fit.lo <= beta) & (beta <= fit.hi), ok)


def range_beta_false_positives(
    depths: tuple[int, ...], n: int, seed: int = 0, sd: float = 0.2
) -> Rate:
    """What Δα = max − min over layers and an ordinary log–log fit give on pure noise: how
    often β's interval excludes 0 (the range grows with the number of layers by itself)."""
    rng = np.random.default_rng(seed)
    ranges = np.stack([np.ptp(sd * rng.standard_normal((n, d)), -1) for d in depths], -1)
    fit = ols(polynomial_design(np.log(depths), 1), np.log(ranges))
    lo, hi = t_interval(fit.coef[..., 1], fit.se(1), fit.dof)
    return count((lo > 0) | (hi < 0))


def vertex_shift(
    depths: tuple[int, ...],
    n: int,
    seed: int = 0,
    noise: Noise = SCALING_NOISE,
    slope: float = 0.0,
    moves: bool = False,
) -> Rate:
    """vertex_moves (slope = 0: false positives; `moves`: power at a planted slope) or the
    slope interval's coverage (slope ≠ 0), over runs whose inverted U is supported at every
    depth."""
    rng = np.random.default_rng(seed)
    vertices, supported, decided = [], [], np.ones(n, bool)
    for depth in depths:
        v = 0.5 + slope * math.log(depth / depths[0])
        fits, ok = _amplitudes(rng, (depth,), n, np.array([0.5]), noise, vertex=v)
        vertices.append(fits["vertex"][:, 0])
        supported.append(fits["u"][:, 0] < ALPHA)
        decided &= ok
    vertex = np.stack(vertices, -1)
    every = np.stack(supported, -1).all(-1) & decided
    _, lo, hi = vertex_shift_fit(np.array(depths, float), np.where(every[:, None], vertex, 0.5))
    if slope == 0 or moves:
        return count((lo > 0) | (hi < 0), every)
    return count((lo <= slope) & (slope <= hi), every)
