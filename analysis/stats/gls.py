"""Generalised least squares over layers whose noise is AR(1) across depth.

Why: a fit over layers (onset against depth, α's quadratic profile, ln onset against depth)
treats layers as independent units; when adjacent layers share their noise (correlation ρ),
smooth noise makes smooth trends and the ordinary intervals are too narrow. Given ρ (estimated
from the run, `analysis.stats.noise`), the Prais–Winsten transform turns the layers into
independent units: u₀ = y₀, u_k = (y_k − r·y_{k−1}) / √(1 − r²) with r = ρ^gap (layers left
out make gaps; AR(1) sampled at any positions is still Markov). Least squares on the
transformed data and design is GLS; its scale is estimated from the transformed residuals, so
t-tests and t-intervals keep n − p degrees of freedom and need ρ only up to the noise's scale.
`sd` (per-layer noise SD, up to a common factor) makes it weighted too. ρ = 0 and no `sd` give
ordinary least squares exactly.
"""

from __future__ import annotations

import numpy as np

from analysis.stats.regression import OLSFit


def whiten(
    values: np.ndarray, rho: np.ndarray | float, positions: np.ndarray | None = None
) -> np.ndarray:
    """Prais–Winsten transform along axis −2 of `values[..., n, p]` with ρ `[...]` per data set
    and layer `positions[n]` (default 0..n−1; gaps raise ρ to the gap)."""
    values = np.asarray(values, float)
    n = values.shape[-2]
    pos = np.arange(n, dtype=float) if positions is None else np.asarray(positions, float)
    rho = np.clip(np.asarray(rho, float), 0.0, 0.999)[..., None, None]
    gaps = np.diff(pos)[:, None]  # [n−1, 1]
    r = rho**gaps  # [..., n−1, 1]
    rest = (values[..., 1:, :] - r * values[..., :-1, :]) / np.sqrt(1 - r * r)
    first = np.broadcast_to(values[..., :1, :], (*rest.shape[:-2], 1, rest.shape[-1]))
    return np.concatenate([first, rest], -2)


def gls(
    design: np.ndarray,
    y: np.ndarray,
    rho: np.ndarray | float,
    *,
    positions: np.ndarray | None = None,
    sd: np.ndarray | None = None,
) -> OLSFit:
    """GLS of every row of `y[..., n]` on `design[n, p]` (complete data) with AR(1) ρ `[...]`
    across the layer positions and optional per-layer SD `[..., n]`; scale from the residuals."""
    design, y = np.asarray(design, float), np.asarray(y, float)
    n, p = design.shape
    lead = np.broadcast_shapes(y.shape[:-1], np.shape(rho))
    x = np.broadcast_to(design, (*lead, n, p))
    yy = np.broadcast_to(y, (*lead, n))
    if sd is not None:
        sd = np.broadcast_to(np.asarray(sd, float), (*lead, n))
        x, yy = x / sd[..., None], yy / sd
    wx = whiten(x, np.broadcast_to(rho, lead), positions)
    wy = whiten(yy[..., None], np.broadcast_to(rho, lead), positions)[..., 0]
    gram_inv = np.linalg.pinv(np.swapaxes(wx, -1, -2) @ wx)
    coef = np.einsum("...pq,...nq,...n->...p", gram_inv, wx, wy)
    resid = wy - np.einsum("...np,...p->...n", wx, coef)
    ssr = (resid**2).sum(-1)
    dof = n - p
    s2 = ssr / dof if dof > 0 else np.full_like(ssr, np.nan)
    return OLSFit(coef=coef, cov=s2[..., None, None] * gram_inv, ssr=ssr, dof=dof)
