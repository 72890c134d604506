"""The quadratic depth profile α(x) ≈ c0 + c1·x + c2·x² and the tests built on it (batched).

With n layers at relative depths x and iid noise, ordinary least squares gives exact t-based
inference with n − 3 degrees of freedom. When adjacent layers share their noise (correlation ρ,
estimated from the run: `analysis.stats.noise`) the fit is GLS with AR(1) noise across depth
(`analysis.stats.gls`), optionally weighted by a per-layer noise SD; the same t and F
inference then holds on the transformed layers:

- curvature 2·c2 with its t-interval;
- vertex −c1 / (2·c2) with Fieller's interval (null when the curvature is not significant: the
  data then do not locate a vertex);
- `p_profile`: F-test of the quadratic against a flat profile (is there depth dependence?);
- `p_inverted_u`: the two-lines test of Lind & Mehlum (2010): the slope at x = 0 is positive
  and the slope at x = 1 negative, each by a one-sided t-test; p is the larger of the two (an
  intersection–union test, so at most 5% false positives when either slope is not of that
  sign). A fitted vertex inside (0, 1) with negative curvature is not enough: noise makes one.
- `amplitude` (Δα): the range of the fitted c1·x + c2·x² over x ∈ [0, 1], shrunk by the share
  of its explained variance that noise alone would produce, max(0, 1 − 1/F). The range over
  the layer grid (max − min of α over layers) grows with the number of layers under pure noise;
  this estimator does not, and it does not depend on where the layer grid falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from analysis.stats import fieller, polynomial_design, t_pvalue
from analysis.stats.gls import gls
from analysis.stats.noise import NoiseEstimate, depth_sd

MIN_FIT_LAYERS = 4  # one residual degree of freedom
MIN_U_LAYERS = 5


@dataclass(frozen=True, kw_only=True)
class QuadraticFit:
    """Batched quadratic fits over layers; every field `[...]` (coef `[..., 3]`)."""

    coef: np.ndarray
    curvature: np.ndarray
    curvature_se: np.ndarray
    vertex: np.ndarray
    vertex_lo: np.ndarray
    vertex_hi: np.ndarray
    p_profile: np.ndarray
    p_inverted_u: np.ndarray
    amplitude: np.ndarray
    amplitude_se: np.ndarray  # delta method through the fitted (c1, c2)
    r2: np.ndarray
    dof: int


def smooth_range(coef: np.ndarray) -> np.ndarray:
    """max − min of c1·x + c2·x² over x ∈ [0, 1]."""
    c1, c2 = coef[..., 1], coef[..., 2]
    at1 = c1 + c2
    with np.errstate(invalid="ignore", divide="ignore"):
        v = -c1 / (2 * c2)
    inside = np.isfinite(v) & (v > 0) & (v < 1)
    at_v = np.where(inside, -(c1**2) / np.where(c2 != 0, 4 * c2, 1.0), 0.0)
    values = np.stack([np.zeros_like(c1), at1, at_v])
    return values.max(0) - values.min(0)


def _range_se(coef: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """SE of smooth_range by the delta method (numerical gradient in c1, c2)."""
    grad = []
    for i in (1, 2):
        step = 1e-6 * np.maximum(np.abs(coef[..., i]), 1e-3)
        bump = np.zeros(coef.shape[-1])
        bump[i] = 1.0
        up = smooth_range(coef + step[..., None] * bump)
        down = smooth_range(coef - step[..., None] * bump)
        grad.append((up - down) / (2 * step))
    g = np.stack(grad, -1)
    var = np.einsum("...i,...ij,...j->...", g, cov[..., 1:, 1:], g)
    return np.sqrt(np.clip(var, 0, None))


def fit_quadratic(
    x: np.ndarray,
    alpha: np.ndarray,
    *,
    rho: np.ndarray | float = 0.0,
    positions: np.ndarray | None = None,
    sd: np.ndarray | None = None,
) -> QuadraticFit:
    """Fit every row of α `[..., n]` (complete data, n ≥ 4) against x `[n]`; GLS with AR(1)
    correlation ρ `[...]` between layers at `positions` (default 0..n−1) and per-layer SD `sd`
    (default equal), ordinary least squares when ρ = 0 and no `sd`."""
    alpha = np.asarray(alpha, float)
    fit = gls(polynomial_design(x, 2), alpha, rho, positions=positions, sd=sd)
    c, cov, dof = fit.coef, fit.cov, fit.dof
    sst = gls(polynomial_design(x, 0), alpha, rho, positions=positions, sd=sd).ssr
    with np.errstate(invalid="ignore", divide="ignore"):
        f_stat = ((sst - fit.ssr) / 2) / (fit.ssr / dof)
        r2 = 1 - fit.ssr / sst
    p_profile = sps.f.sf(f_stat, 2, dof)
    left, left_se = fit.combination(np.array([0.0, 1.0, 0.0]))  # slope at x = 0
    right, right_se = fit.combination(np.array([0.0, 1.0, 2.0]))  # slope at x = 1
    with np.errstate(invalid="ignore", divide="ignore"):
        p_left = t_pvalue(left / left_se, dof, sides=1)
        p_right = t_pvalue(-right / right_se, dof, sides=1)
        vertex = -c[..., 1] / (2 * c[..., 2])
    lo, hi = fieller(
        -c[..., 1],
        2 * c[..., 2],
        var_num=cov[..., 1, 1],
        var_den=4 * cov[..., 2, 2],
        cov=-2 * cov[..., 1, 2],
        dof=dof,
    )
    shrink = np.clip(1 - 1 / np.where(np.isfinite(f_stat), f_stat, np.inf), 0, None)
    shrink = np.where(np.isnan(f_stat), np.nan, shrink)
    return QuadraticFit(
        coef=c,
        curvature=2 * c[..., 2],
        curvature_se=2 * np.sqrt(cov[..., 2, 2]),
        vertex=vertex,
        vertex_lo=lo,
        vertex_hi=hi,
        p_profile=p_profile,
        p_inverted_u=np.maximum(p_left, p_right),
        amplitude=shrink * smooth_range(c),
        amplitude_se=shrink * _range_se(c, cov),
        r2=r2,
        dof=dof,
    )


def fit_with_noise(
    x: np.ndarray, alpha: np.ndarray, noise: NoiseEstimate, layers: np.ndarray | None = None
) -> QuadraticFit:
    """`fit_quadratic` of α `[..., n]` at `layers` (default 0..n−1) with the run's own noise:
    its layer correlation (≥ 0) and SD trend over depth (`analysis.stats.noise`)."""
    layers = np.arange(len(x)) if layers is None else np.asarray(layers)
    rho = np.clip(np.nan_to_num(noise.layer_corr), 0.0, None)
    sd = depth_sd(noise)[..., layers]
    return fit_quadratic(x, alpha, rho=rho, positions=layers, sd=sd)
