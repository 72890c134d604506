"""Bootstrap over evaluation sequences: resampled means, ρ intervals, percentile intervals."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from analysis.stats.intervals import LEVEL
from analysis.stats.permutation import _pearson_rows


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis."""
    return rankdata(x, axis=-1)


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
