"""Plain-Python reference implementations the vectorised kernels are checked against."""

from __future__ import annotations

import numpy as np


def loop_power_law_fit(eigenvalues: np.ndarray) -> tuple[float, float, int, float]:
    """Clauset MLE + KS, one xmin candidate at a time (float64): (alpha, xmin, n, ks)."""
    x = np.sort(np.asarray(eigenvalues, np.float64))
    best: tuple[float, float, int, float] | None = None
    best_d = np.inf
    for j in range(len(x) - 1):  # every candidate but the largest
        if x[j] <= 0:
            continue
        tail = x[j:]
        n = len(tail)
        total = float(np.sum(np.log(tail / x[j])))
        if total <= 0:
            continue
        alpha = 1.0 + n / total
        empirical = np.arange(n) / n
        fitted = 1.0 - (tail / x[j]) ** (1.0 - alpha)
        d = float(np.max(np.abs(empirical - fitted)))
        if d < best_d:
            best_d, best = d, (alpha, float(x[j]), n, d)
    if best is None:
        return (np.nan, np.nan, 0, np.nan)
    return best


def pareto_eigenvalues(alpha0: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws from a Pareto density ∝ λ^(-alpha0) on [1, ∞)."""
    return (rng.pareto(alpha0 - 1.0, n) + 1.0).astype(np.float32)


def matrix_with_spectrum(sigma: np.ndarray, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random m×n matrix U·diag(σ)·Vᵀ with the given singular values."""
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return (u * np.asarray(sigma, np.float64)[None, :k]) @ v.T
