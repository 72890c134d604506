"""Layer-band relabellings: the permutation engine of the G(t) reversal test."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class BandContrasts:
    """Weights `[P, L]` of G = mean(last band) − mean(first band) under P layer relabellings.

    Row 0 is the observed labelling. `exact`: every distinct relabelling is there once (p-values
    are exact); otherwise the rows after the first are random draws.
    """

    weights: np.ndarray
    exact: bool

    def pvalue(self, stat: np.ndarray) -> np.ndarray:
        """P(stat_π ≥ stat_observed) over relabellings; `stat[..., P]` with P on the last axis."""
        # Row 0 counts itself: exact enumeration gives k/P, random draws (1 + k)/(1 + N).
        return (stat >= stat[..., :1] - 1e-12).sum(-1) / stat.shape[-1]

    @property
    def min_pvalue(self) -> float:
        """Smallest attainable p of a statistic that swapping the two bands leaves unchanged."""
        return min(1.0, 2 / self.weights.shape[0])


@lru_cache(maxsize=64)
def band_contrasts(n_layers: int, max_relabellings: int = 2000, seed: int = 0) -> BandContrasts:
    """Relabellings of which ⌊L/3⌋ layers form the first and the last band."""
    band = n_layers // 3
    layers = np.arange(n_layers)
    total = math.comb(n_layers, band) * math.comb(n_layers - band, band)
    rows = [(layers[:band], layers[-band:])]
    if total <= max_relabellings:
        for first in itertools.combinations(range(n_layers), band):
            rest = [l for l in range(n_layers) if l not in first]
            for last in itertools.combinations(rest, band):
                if first != tuple(rows[0][0]) or last != tuple(rows[0][1]):
                    rows.append((np.array(first), np.array(last)))
    else:
        rng = np.random.default_rng(seed)
        for _ in range(max_relabellings - 1):
            perm = rng.permutation(n_layers)
            rows.append((perm[:band], perm[-band:]))
    weights = np.zeros((len(rows), n_layers))
    for i, (first, last) in enumerate(rows):
        weights[i, first] = -1 / band
        weights[i, last] = 1 / band
    return BandContrasts(weights, total <= max_relabellings)
