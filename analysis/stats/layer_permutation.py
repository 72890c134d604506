"""Permutations of layers whose noise is AR(1) across depth: the engine of the G(t) reversal test.

Why: relabelling which layers form a band assumes the layers are exchangeable; when adjacent
layers share their noise (correlation ρ), a contiguous band averages correlated noise and
varies more than a band of scattered layers, so relabellings understate the noise and noise
reads as a gradient. Prais–Winsten turns AR(1) layers into exchangeable ones: with
u₀ = e₀ and u_k = (e_k − ρ·e_{k−1}) / √(1 − ρ²), u₀…u_{L−1} of stationary AR(1) noise are
independent and identically distributed, whatever their correlation in time (every layer keeps
its whole series). So under the null the data are permuted in that space and mapped back. Every statistic here is linear in the layers at each snapshot
(w·c(t)), so a permutation is a reordering of the weights on u, never of the data: an
`[T, L] @ [L, P]` product per run.

Before the transform each layer is centred on the layers' mean at every snapshot — the trend
every layer shares, which is no signal and would otherwise not be exchangeable (w sums to 0, so
the statistic does not change) — and divided by its noise SD (`sd`, up to a factor), so
depth-dependent noise is allowed for. ρ = 0 and equal SDs give relabellings of independent
layers (the old test).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from analysis.stats.gls import whiten

MAX_ORDERS = 2000  # permutations (all of them when there are at most this many)


@lru_cache(maxsize=64)
def layer_orders(n_layers: int, max_orders: int = MAX_ORDERS, seed: int = 0) -> np.ndarray:
    """`[P, L]` orders of the layers; row 0 is the identity. Every order when L! ≤
    `max_orders`, else the identity and `max_orders − 1` random ones (fixed by `seed`)."""
    if math.factorial(n_layers) <= max_orders:
        return np.array(list(itertools.permutations(range(n_layers))), dtype=np.int64)
    rng = np.random.default_rng(seed)
    base = np.tile(np.arange(n_layers), (max_orders - 1, 1))
    return np.concatenate([np.arange(n_layers)[None], rng.permuted(base, axis=1)])


def recolour(rho: np.ndarray, n_layers: int) -> np.ndarray:
    """`[..., L, L]` lower-triangular C with e = C·u (the inverse Prais–Winsten transform)."""
    rho = np.clip(np.asarray(rho, float), 0.0, 0.999)[..., None, None]
    k = np.arange(n_layers)
    lag = (k[:, None] - k[None, :]).astype(float)
    scale = np.where(k[None, :] == 0, 1.0, np.sqrt(1 - rho**2))
    return np.where(lag >= 0, rho ** np.clip(lag, 0, None) * scale, 0.0)


def innovations(c: np.ndarray, rho: np.ndarray, sd: np.ndarray | None = None) -> np.ndarray:
    """u `[..., T, L]`: c centred over layers at each snapshot, divided by `sd` `[..., L]`,
    and Prais–Winsten transformed across layers with ρ `[...]`."""
    e = c - c.mean(-1, keepdims=True)
    if sd is not None:
        e = e / np.asarray(sd)[..., None, :]
    lead = np.broadcast_shapes(e.shape[:-2], np.shape(rho))
    return np.swapaxes(whiten(np.swapaxes(e, -1, -2), np.broadcast_to(rho, lead)), -1, -2)


def permuted_weights(
    weights: np.ndarray, rho: np.ndarray, orders: np.ndarray, sd: np.ndarray | None = None
) -> np.ndarray:
    """`[..., P, L]` weights on u giving w·c for each order: row p puts the weight of layer l
    on u at position orders[p, l] (order 0, the identity, gives the observed statistic)."""
    n_layers = orders.shape[1]
    w = np.asarray(weights, float)
    if sd is not None:
        w = w * np.asarray(sd)
    v = np.einsum("...kl,...k->...l", recolour(rho, n_layers), w)  # Cᵀ·(D·w)
    out = np.zeros((*v.shape[:-1], orders.shape[0], n_layers))
    index = np.broadcast_to(orders, out.shape)
    np.put_along_axis(out, index, np.broadcast_to(v[..., None, :], out.shape), axis=-1)
    return out
