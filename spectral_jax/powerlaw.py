"""Vectorised power-law tail fit of eigenvalues (Clauset–Shalizi–Newman), as WeightWatcher does.

For eigenvalues λ = σ² sorted ascending, x_0 ≤ … ≤ x_{k-1}, every candidate xmin = x_j (all but
the largest, and only positive ones) gets the continuous MLE

    α_j = 1 + n_j / Σ_{i ≥ j} ln(x_i / x_j),      n_j = k − j,

and the Kolmogorov–Smirnov distance between the empirical and fitted tail CDFs at the tail
points (the `powerlaw` package's convention):

    D_j = max_{i ≥ j} | (i − j) / n_j − (1 − (x_i / x_j)^(1 − α_j)) |.

The fit keeps the candidate with the smallest D (the first one on ties). All candidates are
evaluated at once: Σ ln(x_i/x_j) is a suffix sum of non-negative log-gaps weighted by their
count, Σ_{t > j} (ln x_t − ln x_{t−1})·(k − t), which avoids float cancellation, and D is a
masked [k, k] reduction. Spectra are processed in chunks with `lax.map` to bound memory. The fit
runs in float32: the gap formulation keeps the MLE's relative error near float32 round-off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ALPHA_FIELDS = ("alpha", "alpha_xmin", "alpha_n", "alpha_ks")


def _fit_one(lam: jax.Array) -> jax.Array:
    """[alpha, xmin, n, ks] for one spectrum of eigenvalues (any order, NaN-free)."""
    k = lam.shape[-1]
    x = jnp.sort(lam)
    positive = x > 0
    logx = jnp.log(jnp.where(positive, x, 1.0))
    gaps = jnp.where(positive, jnp.diff(logx, prepend=logx[:1]), 0.0)  # gap t: ln x_t - ln x_{t-1}
    idx = jnp.arange(k)
    weighted = gaps * (k - idx)
    # denom_j = sum over t > j of weighted_t  (reverse exclusive cumulative sum)
    denom = jnp.cumsum(weighted[::-1])[::-1] - weighted
    n = (k - idx).astype(x.dtype)
    candidate = positive & (idx <= k - 2) & (denom > 0)
    alpha = 1.0 + n / jnp.where(candidate, denom, 1.0)
    # KS distance for every (candidate j, point i >= j) pair.
    i, j = idx[None, :], idx[:, None]
    empirical = (i - j) / n[:, None]
    log_ratio = logx[None, :] - logx[:, None]
    fitted = 1.0 - jnp.exp((1.0 - alpha[:, None]) * log_ratio)
    dist = jnp.where(i >= j, jnp.abs(empirical - fitted), 0.0)
    ks = jnp.where(candidate, dist.max(axis=1), jnp.inf)
    best = jnp.argmin(ks)
    found = jnp.isfinite(ks[best])
    nan = jnp.asarray(jnp.nan, x.dtype)
    return jnp.stack(
        [
            jnp.where(found, alpha[best], nan),
            jnp.where(found, x[best], nan),
            jnp.where(found, n[best], nan),
            jnp.where(found, ks[best], nan),
        ]
    )


def _chunk(k: int) -> int:
    """Spectra per `lax.map` step: about 4M [k, k] elements at a time (cache-sized on CPU:
    2x faster than 16M for 72 spectra of k=768 on 2 cores, bench/spectral.py)."""
    return max(1, (1 << 22) // max(k * k, 1))


@jax.jit
def fit_power_law(eigenvalues: jax.Array) -> dict[str, jax.Array]:
    """Fit every spectrum in `eigenvalues[..., k]`; returns `ALPHA_FIELDS` arrays `[...]`.

    Jitted (compiled once per input shape); usable inside jit and vmap.
    Spectra containing NaN/Inf, or with fewer than two positive eigenvalues, give NaN.
    """
    lam = jnp.asarray(eigenvalues)
    batch, k = lam.shape[:-1], lam.shape[-1]
    flat = lam.reshape(-1, k)
    finite = jnp.all(jnp.isfinite(flat), axis=-1)
    clean = jnp.where(finite[:, None], flat, 0.0).astype(jnp.float32)
    if flat.shape[0] == 0 or k < 2:
        out = jnp.full((flat.shape[0], 4), jnp.nan, jnp.float32)
    else:
        out = jax.lax.map(_fit_one, clean, batch_size=_chunk(k))
    out = jnp.where(finite[:, None], out, jnp.nan)
    return {name: out[:, c].reshape(batch) for c, name in enumerate(ALPHA_FIELDS)}
