"""Spearman rank correlation with permutation p-values, and Holm's correction: one engine for
every rank test (onsets against depth, importance against α).

- ρ is Pearson's correlation of the ranks (ties get their average rank).
- The p-value is two-sided, P(|ρ_perm| ≥ |ρ_obs|) under random pairing: exact, by enumerating
  all n! orderings, for n ≤ `EXACT_MAX_N`; beyond, from random orderings as (1 + hits) /
  (1 + draws), so it is never 0. With n ≤ 4 even a perfect ranking has p ≥ 2/24 > 0.05: callers
  refuse such a decision rather than answer it (`min_spearman_p`).
- Holm's step-down correction controls the family-wise error over the scores tested.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
from scipy.stats import rankdata

EXACT_MAX_N = 9  # exact enumeration of n! orderings up to here (9! = 362,880)
N_PERMUTATIONS = 100_000  # random orderings beyond it (at least this many)
_TOL = 1e-12


@lru_cache(maxsize=EXACT_MAX_N)
def all_orders(n: int) -> np.ndarray:
    """Every ordering of n items, `[n!, n]`."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)


def _pvalue(count: np.ndarray | int, draws: int, exact: bool) -> np.ndarray | float:
    return count / draws if exact else (1 + count) / (1 + draws)


def _pearson_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson correlation of `x[n]` with each row of `ys[..., n]` (NaN for a constant input)."""
    xc = x - x.mean()
    yc = ys - ys.mean(-1, keepdims=True)
    den = np.sqrt((xc * xc).sum()) * np.sqrt((yc * yc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (yc @ xc) / np.where(den > 0, den, 1.0), np.nan)


@lru_cache(maxsize=64)
def _untied_null(n: int) -> np.ndarray:
    """Sorted |ρ| of untied ranks over all n! orderings, or `N_PERMUTATIONS` fixed draws (the
    seed is n: the null is a property of n, not of the data)."""
    if n <= EXACT_MAX_N:
        perms = all_orders(n)
    else:
        rng = np.random.default_rng(n)
        perms = rng.permuted(np.tile(np.arange(n), (N_PERMUTATIONS, 1)), axis=1)
    d2 = ((perms - np.arange(n)) ** 2).sum(1)
    return np.sort(np.abs(1 - 6 * d2 / (n * (n * n - 1))))


def min_spearman_p(n: int) -> float:
    """The smallest two-sided p-value n untied points can reach (a perfect ordering)."""
    if n < 3:
        return 1.0
    null = _untied_null(n)
    count = int((null >= 1 - _TOL).sum())
    return float(_pvalue(count, len(null), n <= EXACT_MAX_N))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ of the pairs where both are finite (NaN if fewer than 3 or one is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return math.nan
    return float(_pearson_rows(rankdata(x[ok]), rankdata(y[ok])[None])[0])


def spearman_exact(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ of x `[n]` against each row of y `[..., n]` with its two-sided p-value, batched.

    Rows with tied y are tested against their own ranks' permutations.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.shape[0]
    rx = rankdata(x) if n else x
    if n < 3 or np.ptp(rx) == 0:
        nan = np.full(y.shape[:-1], np.nan)
        return nan, nan
    ry = rankdata(y.reshape(-1, n), axis=-1)
    rho = _pearson_rows(rx, ry)
    null = _untied_null(n)
    count = len(null) - np.searchsorted(null, np.abs(rho) - _TOL, side="left")
    p = np.where(np.isfinite(rho), _pvalue(count, len(null), n <= EXACT_MAX_N), np.nan)
    for i in np.flatnonzero([len(np.unique(row)) < n for row in ry]):
        p[i] = _tied_pvalue(rx, ry[i], float(rho[i]), n_perm=20_000, seed=n)
    return rho.reshape(y.shape[:-1]), p.reshape(y.shape[:-1])


def _tied_pvalue(rx: np.ndarray, ry: np.ndarray, rho: float, *, n_perm: int, seed: int) -> float:
    """p-value of ρ(rx, ry) by permuting ry itself (exact up to `EXACT_MAX_N`)."""
    n = len(rx)
    if not math.isfinite(rho):
        return math.nan
    if n <= EXACT_MAX_N:
        null = _pearson_rows(rx, ry[all_orders(n)])
        return float(_pvalue(int(np.sum(np.abs(null) >= abs(rho) - _TOL)), len(null), True))
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < n_perm:
        size = min(20_000, n_perm - done)
        shuffled = rng.permuted(np.broadcast_to(ry, (size, n)), axis=1)
        hits += int(np.sum(np.abs(_pearson_rows(rx, shuffled)) >= abs(rho) - _TOL))
        done += size
    return float(_pvalue(hits, n_perm, False))


def permutation_pvalue(
    x: np.ndarray, y: np.ndarray, *, n_perm: int = N_PERMUTATIONS, seed: int = 0
) -> tuple[float, float, bool]:
    """`(rho, p, exact)` over the pairs where both are finite (module docstring); `n_perm`
    random orderings with `seed` when there are more than `EXACT_MAX_N` pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    exact = n <= EXACT_MAX_N
    if n < 3:
        return math.nan, math.nan, exact
    if not exact and n_perm < N_PERMUTATIONS:
        raise ValueError(f"n_perm must be at least {N_PERMUTATIONS}, got {n_perm}")
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    rho = float(_pearson_rows(rx, ry[None])[0])
    return rho, _tied_pvalue(rx, ry, rho, n_perm=n_perm, seed=seed), exact


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (NaN entries stay NaN and do not count as tests)."""
    p = np.asarray(pvalues, float)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(len(p), np.nan)
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
