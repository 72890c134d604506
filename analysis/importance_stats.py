"""Statistics of the importance analysis: Spearman ρ with permutation p-values, a bootstrap over
evaluation sequences, and Holm's correction.

- ρ is Pearson's correlation of the ranks (ties get their average rank); layers where either
  score is not finite are left out.
- The p-value is two-sided, P(|ρ_perm| ≥ |ρ_obs|) under random pairing: exact, by enumerating
  all n! orderings, for n ≤ 8 layers; otherwise from `n_perm` (≥ 100,000) random orderings,
  as (1 + hits) / (1 + n_perm) so it is never 0. With n ≤ 4 layers even a perfect ranking has
  p ≥ 2/24 > 0.05: the decision is refused, not answered.
- The CI resamples the evaluation sequences with replacement, recomputes each layer's
  `delta_loss` from them and ρ against the (fixed) score: the 2.5–97.5 percentiles.
- Holm's step-down correction controls the family-wise error over the scores tested.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy.stats import rankdata

EXACT_MAX_N = 8
MIN_PERMUTATIONS = 100_000
LEVEL = 0.95
ALPHA = 0.05
_TOL = 1e-12


def _ranks(x: np.ndarray) -> np.ndarray:
    return rankdata(x, axis=-1)


def _pearson_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson correlation of `x[n]` with each row of `ys[..., n]` (NaN for a constant input)."""
    xc = x - x.mean()
    yc = ys - ys.mean(-1, keepdims=True)
    den = np.sqrt((xc * xc).sum()) * np.sqrt((yc * yc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (yc @ xc) / np.where(den > 0, den, 1.0), np.nan)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ of the pairs where both are finite (NaN if fewer than 3 or one is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return math.nan
    return float(_pearson_rows(_ranks(x[ok]), _ranks(y[ok])[None])[0])


def permutation_pvalue(
    x: np.ndarray, y: np.ndarray, *, n_perm: int = MIN_PERMUTATIONS, seed: int = 0
) -> tuple[float, float, bool]:
    """`(rho, p, exact)`: Spearman ρ and its two-sided permutation p-value (module docstring)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3:
        return math.nan, math.nan, n <= EXACT_MAX_N
    rx, ry = _ranks(x[ok]), _ranks(y[ok])
    rho = float(_pearson_rows(rx, ry[None])[0])
    if not np.isfinite(rho):
        return rho, math.nan, n <= EXACT_MAX_N
    if n <= EXACT_MAX_N:
        null = _pearson_rows(rx, ry[_all_orders(n)])
        return rho, float(np.mean(np.abs(null) >= abs(rho) - _TOL)), True
    if n_perm < MIN_PERMUTATIONS:
        raise ValueError(f"n_perm must be at least {MIN_PERMUTATIONS}, got {n_perm}")
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < n_perm:
        size = min(20_000, n_perm - done)
        shuffled = rng.permuted(np.broadcast_to(ry, (size, n)), axis=1)
        hits += int(np.sum(np.abs(_pearson_rows(rx, shuffled)) >= abs(rho) - _TOL))
        done += size
    return rho, (1 + hits) / (1 + n_perm), False


@functools.lru_cache(maxsize=EXACT_MAX_N)
def _all_orders(n: int) -> np.ndarray:
    """Every ordering of n items, `[n!, n]` (40320 x 8 at most)."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)


def smallest_pvalue(n: int) -> float:
    """The smallest two-sided permutation p-value n layers can reach (no ties): 2 / n!."""
    return 2.0 / math.factorial(n) if n >= 2 else 1.0


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


def bootstrap_rho(
    score: np.ndarray, per_sequence: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile CI of ρ(score, mean over resampled sequences of `per_sequence[n, L]`)."""
    score = np.asarray(score, float)
    ok = np.isfinite(score)
    n_seq = per_sequence.shape[0]
    if ok.sum() < 3 or n_seq < 2 or n_boot < 1:
        return None
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_seq, np.full(n_seq, 1.0 / n_seq), size=n_boot)  # [B, n]
    deltas = counts @ per_sequence[:, ok] / n_seq  # [B, L_ok]
    rhos = _pearson_rows(_ranks(score[ok]), _ranks(deltas))
    rhos = rhos[np.isfinite(rhos)]
    if rhos.size < min(20, n_boot):
        return None
    lo, hi = np.percentile(rhos, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(lo), float(hi)


def bootstrap_means(per_sequence: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """`[n_boot, ...]` means over resampled sequences (axis 0 of `per_sequence[n, ...]`)."""
    n_seq = per_sequence.shape[0]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_seq, np.full(n_seq, 1.0 / n_seq), size=n_boot)
    return np.tensordot(counts, per_sequence, axes=(1, 0)) / n_seq


def percentile_interval(samples: np.ndarray) -> tuple[float, float] | None:
    """95% percentile interval of the finite samples, or None if there are fewer than 20."""
    finite = np.asarray(samples, float)
    finite = finite[np.isfinite(finite)]
    if finite.size < 20:
        return None
    lo, hi = np.percentile(finite, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(lo), float(hi)
