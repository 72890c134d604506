"""Singular values of stacks of matrices, by full SVD or from the Gram matrix's eigenvalues.

Methods:
- `svd`: values-only SVD in float32 (`jnp.linalg.svd(compute_uv=False)`).
- `gram`: λ = eigvalsh(W·Wᵀ) of the smaller Gram matrix, built at `precision=HIGHEST`, σ = √λ.
  Eigenvalues carry an absolute error ≈ ε·λ1 (times a factor ≤ k), so σi has relative
  error ≈ ε·(σ1/σi)²
  (ε = 2⁻²³ ≈ 1.2e-7 in float32): σ below ~3e-3·σ1 are approximate, and λ below k·ε·λ1 —
  pure round-off — are set to 0. Fast on GPUs, where batched SVD is slow.
- `gram64`: the same Gram route in float64 (exact to float32 output precision).
- `auto`: the measured best per backend: `gram` on GPU, `svd` on TPU, and on CPU `CPU_AUTO`
  (see bench/spectral.py).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp

Method = Literal["auto", "svd", "gram", "gram64"]
METHODS = ("auto", "svd", "gram", "gram64")
# On a 2-core CPU, bench/spectral.py measured `gram` faster than `svd` for GPT-2-shaped stacks.
CPU_AUTO: Method = "gram"


def resolve_method(method: str, backend: str | None = None) -> Method:
    """The concrete method `auto` stands for on `backend` (default: JAX's default backend)."""
    if method not in METHODS:
        raise ValueError(f"unknown spectral method '{method}' (choose from {', '.join(METHODS)})")
    if method != "auto":
        return method  # type: ignore[return-value]
    backend = backend or jax.default_backend()
    return {"gpu": "gram", "cuda": "gram", "rocm": "gram", "tpu": "svd"}.get(backend, CPU_AUTO)


def _gram_eigvals(w: jax.Array) -> jax.Array:
    """Descending, clamped eigenvalues of the smaller Gram matrix of `w[..., m, n]`."""
    m, n = w.shape[-2:]
    wt = jnp.swapaxes(w, -1, -2)
    gram = (
        jnp.matmul(w, wt, precision=jax.lax.Precision.HIGHEST)
        if m <= n
        else jnp.matmul(wt, w, precision=jax.lax.Precision.HIGHEST)
    )
    lam = jnp.linalg.eigvalsh(gram)[..., ::-1]
    k = min(m, n)
    floor = k * jnp.finfo(w.dtype).eps * lam[..., :1]
    return jnp.where(lam > floor, lam, 0.0)


def singular_values(matrices: jax.Array, method: str = "auto") -> jax.Array:
    """All singular values of `matrices[..., m, n]`, descending, float32 `[..., min(m, n)]`.

    Jitted per (shape, method); usable inside jit and vmap.
    """
    matrices = jnp.asarray(matrices)
    if matrices.ndim < 2:
        raise ValueError(f"singular_values needs [..., m, n] matrices, got shape {matrices.shape}")
    return _singular_values(matrices, resolve_method(method))


@functools.partial(jax.jit, static_argnames="method")
def _singular_values(matrices: jax.Array, method: str) -> jax.Array:
    w = matrices.astype(jnp.float32)
    if method == "svd":
        return jnp.linalg.svd(w, compute_uv=False)
    if method == "gram":
        return jnp.sqrt(_gram_eigvals(w))
    with jax.enable_x64(True):
        return jnp.sqrt(_gram_eigvals(w.astype(jnp.float64))).astype(jnp.float32)
