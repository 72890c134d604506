"""Least squares on a leading batch of data sets (`y[..., n]` against one shared design), so the
calibration harness runs thousands of simulated runs through the very code a real run uses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class OLSFit:
    """Least-squares fit of `y[..., n]` on one design `[n, p]`: coefficients and covariance."""

    coef: np.ndarray  # [..., p]
    cov: np.ndarray  # [..., p, p]
    ssr: np.ndarray  # [...]
    dof: int

    def se(self, i: int) -> np.ndarray:
        return np.sqrt(self.cov[..., i, i])

    def combination(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimate and standard error of Σ w_i·coef_i."""
        w = np.asarray(weights, float)
        var = np.einsum("i,...ij,j->...", w, self.cov, w)
        return self.coef @ w, np.sqrt(np.clip(var, 0, None))


def ols(design: np.ndarray, y: np.ndarray) -> OLSFit:
    """Least squares of every row of `y[..., n]` on `design[n, p]` (complete data)."""
    design, y = np.asarray(design, float), np.asarray(y, float)
    n, p = design.shape
    gram_inv = np.linalg.pinv(design.T @ design)
    coef = y @ (design @ gram_inv)  # [..., p]
    resid = y - coef @ design.T
    ssr = (resid**2).sum(-1)
    dof = n - p
    s2 = ssr / dof if dof > 0 else np.full_like(ssr, np.nan)
    return OLSFit(coef=coef, cov=s2[..., None, None] * gram_inv, ssr=ssr, dof=dof)


def wls(design: np.ndarray, y: np.ndarray, weights: np.ndarray) -> OLSFit:
    """Weighted least squares of `y[..., n]` with weights `[..., n]` ∝ 1/variance; the scale
    is estimated from the weighted residuals (n − p degrees of freedom)."""
    design, y, w = np.asarray(design, float), np.asarray(y, float), np.asarray(weights, float)
    n, p = design.shape
    xtw = np.einsum("np,...n->...pn", design, w)
    gram_inv = np.linalg.pinv(xtw @ design)
    coef = np.einsum("...pq,...qn,...n->...p", gram_inv, xtw, y)
    resid = y - coef @ design.T
    ssr = (w * resid**2).sum(-1)
    dof = n - p
    s2 = ssr / dof if dof > 0 else np.full_like(ssr, np.nan)
    return OLSFit(coef=coef, cov=s2[..., None, None] * gram_inv, ssr=ssr, dof=dof)


def polynomial_design(x: np.ndarray, degree: int) -> np.ndarray:
    """`[n, degree + 1]` columns 1, x, x², …"""
    return np.asarray(x, float)[:, None] ** np.arange(degree + 1)


def r_squared(y: np.ndarray, fitted: np.ndarray) -> float:
    """1 − SSR/SST over the finite entries (NaN when y is constant or empty)."""
    y, fitted = np.asarray(y, float).ravel(), np.asarray(fitted, float).ravel()
    ok = np.isfinite(y) & np.isfinite(fitted)
    if ok.sum() < 2:
        return math.nan
    sst = float(((y[ok] - y[ok].mean()) ** 2).sum())
    if sst <= 0:
        return math.nan
    return 1.0 - float(((y[ok] - fitted[ok]) ** 2).sum()) / sst
