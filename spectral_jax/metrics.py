"""Spectral metrics of singular-value spectra: one definition, used everywhere
(docs/metrics.md).

For σ descending (float32), k = len(σ), λ = σ²:

| stable_rank      | Σσ² / σ1²                                                          |
| alpha, alpha_*   | power-law tail fit of λ (spectral_jax.powerlaw)                    |
| alpha_rank       | −slope of least squares log σ_i on log i, over ranks i = 1..k with  |
|                  | σ_i > 1e-3·σ1 (below that the `gram` method's values are noise)    |
| entropy          | −Σ p ln p / ln k with p = σ² / Σσ²                                 |
| effective_rank   | exp(−Σ q ln q) with q = σ / Σσ (Roy & Vetterli)                    |
| gap              | σ1 / σ2                                                            |
| spectral_norm    | σ1                                                                 |
| frobenius_norm   | √Σσ²                                                               |

Degenerate input: singular values ≤ k·ε·σ1 (float32 ε) count as zero (numerical rank, as in
numpy.linalg.matrix_rank). A spectrum with NaN/Inf gives NaN for every metric. A zero matrix
has norms 0 and NaN for every ratio. Rank one: stable_rank = effective_rank = 1, entropy = 0,
gap and α (need ≥ 2 non-zero values) NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from spectral_jax.powerlaw import fit_power_law

METRIC_DEFINITIONS_VERSION = 1
METRIC_NAMES = (
    "stable_rank",
    "alpha",
    "alpha_xmin",
    "alpha_n",
    "alpha_ks",
    "alpha_rank",
    "entropy",
    "effective_rank",
    "gap",
    "spectral_norm",
    "frobenius_norm",
)
RANK_FIT_FLOOR = 1e-3


def _xlogx(p: jax.Array) -> jax.Array:
    return jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)


def _alpha_rank(s: jax.Array, s1: jax.Array) -> jax.Array:
    k = s.shape[-1]
    use = s > RANK_FIT_FLOOR * s1[..., None]
    logi = jnp.log(jnp.arange(1, k + 1, dtype=jnp.float32))
    logs = jnp.log(jnp.where(use, s, 1.0))
    count = use.sum(-1)
    w = use.astype(jnp.float32)
    mean_i = (w * logi).sum(-1) / jnp.maximum(count, 1)
    mean_s = (w * logs).sum(-1) / jnp.maximum(count, 1)
    di, ds = (logi - mean_i[..., None]) * w, (logs - mean_s[..., None]) * w
    slope = (di * ds).sum(-1) / jnp.where(count >= 2, (di * di).sum(-1), 1.0)
    return jnp.where(count >= 2, -slope, jnp.nan)


@jax.jit
def spectral_metrics(sigma: jax.Array) -> dict[str, jax.Array]:
    """Every metric of `METRIC_NAMES` for spectra `sigma[..., k]`; returns arrays `[...]`.

    Jitted (compiled once per input shape) and vmappable.
    """
    sigma = jnp.asarray(sigma, jnp.float32)
    k = sigma.shape[-1]
    sigma = -jnp.sort(-sigma, axis=-1)  # descending, whatever the caller passed
    finite = jnp.all(jnp.isfinite(sigma), axis=-1)
    s = jnp.where(finite[..., None], sigma, 0.0)
    s1 = s[..., 0]
    s = jnp.where(s > k * jnp.finfo(jnp.float32).eps * s1[..., None], s, 0.0)
    nonzero = s1 > 0
    safe_s1 = jnp.where(nonzero, s1, 1.0)
    lam = s * s
    sum_lam, sum_s = lam.sum(-1), s.sum(-1)
    p = lam / jnp.where(nonzero, sum_lam, 1.0)[..., None]
    q = s / jnp.where(nonzero, sum_s, 1.0)[..., None]
    s2 = s[..., 1] if k > 1 else jnp.zeros_like(s1)
    nan = jnp.full_like(s1, jnp.nan)
    out = {
        "stable_rank": jnp.where(nonzero, sum_lam / (safe_s1 * safe_s1), nan),
        "entropy": jnp.where(nonzero & (k > 1), -_xlogx(p).sum(-1) / jnp.log(max(k, 2)), nan),
        "effective_rank": jnp.where(nonzero, jnp.exp(-_xlogx(q).sum(-1)), nan),
        "gap": jnp.where(s2 > 0, s1 / jnp.where(s2 > 0, s2, 1.0), nan),
        "alpha_rank": jnp.where(nonzero, _alpha_rank(s, s1), nan),
        "spectral_norm": s1,
        "frobenius_norm": jnp.sqrt(sum_lam),
    }
    fit = fit_power_law(lam)
    out.update(fit)
    return {name: jnp.where(finite, out[name], jnp.nan) for name in METRIC_NAMES}
