"""Singular values of stacks of matrices, by full SVD or from the Gram matrix's eigenvalues.

Methods:
- `svd`: values-only SVD in float32 (`jnp.linalg.svd(compute_uv=False)`).
- `gram`: λ = eigenvalues of the smaller Gram matrix G = W·Wᵀ (or Wᵀ·W), built at
  `precision=HIGHEST`, σ = √λ. Eigenvalues carry an absolute error ≈ ε·λ1 (times a factor
  ≤ k), so σi has relative error ≈ ε·(σ1/σi)² (ε = 2⁻²³ ≈ 1.2e-7 in float32): σ below
  ~3e-3·σ1 are approximate, and λ below k·ε·λ1 — pure round-off — are set to 0. On GPU/TPU
  λ comes from `eigvalsh(G)`; on CPU from the values-only SVD of G (G is symmetric positive
  semi-definite, so its singular values are its eigenvalues, with the same ε·λ1 error), because
  XLA:CPU's `eigh` always computes eigenvectors and is ~1.4x slower than values-only SVD.
- `gram64`: the same Gram route in float64 (exact to float32 output precision).
- `auto`: the measured best (bench/spectral.py): `gram` on GPU, `svd` on TPU; on CPU, per
  shape, `gram` for matrices at least `CPU_GRAM_ASPECT` times longer than wide (the Gram matrix
  is much smaller than W there) and `svd` otherwise (as fast as `gram`, and exact).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp

Method = Literal["auto", "svd", "gram", "gram64"]
METHODS = ("auto", "svd", "gram", "gram64")
# On a 2-core CPU (bench/spectral.py) the Gram route wins only where W is far from square.
CPU_GRAM_ASPECT = 2.0
_GPU_BACKENDS = ("gpu", "cuda", "rocm")


def resolve_method(
    method: str, shape: tuple[int, ...] | None = None, backend: str | None = None
) -> Method:
    """The concrete method `method` stands for on `backend` for `[..., m, n]` matrices.

    `backend` defaults to JAX's default backend; `shape` matters only for `auto` on CPU.
    """
    if method not in METHODS:
        raise ValueError(f"unknown spectral method '{method}' (choose from {', '.join(METHODS)})")
    if method != "auto":
        return method  # type: ignore[return-value]
    backend = backend or jax.default_backend()
    if backend in _GPU_BACKENDS:
        return "gram"
    if backend == "tpu" or shape is None:
        return "svd"
    m, n = shape[-2:]
    return "gram" if max(m, n) >= CPU_GRAM_ASPECT * max(min(m, n), 1) else "svd"


def _gram_eigvals(w: jax.Array) -> jax.Array:
    """Descending, clamped eigenvalues of the smaller Gram matrix of `w[..., m, n]`."""
    m, n = w.shape[-2:]
    wt = jnp.swapaxes(w, -1, -2)
    gram = (
        jnp.matmul(w, wt, precision=jax.lax.Precision.HIGHEST)
        if m <= n
        else jnp.matmul(wt, w, precision=jax.lax.Precision.HIGHEST)
    )
    if jax.default_backend() == "cpu":
        lam = jnp.linalg.svd(gram, compute_uv=False)  # descending; = eigenvalues (G is PSD)
    else:
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
    return _singular_values(matrices, resolve_method(method, matrices.shape))


@functools.partial(jax.jit, static_argnames="method")
def _singular_values(matrices: jax.Array, method: str) -> jax.Array:
    w = matrices.astype(jnp.float32)
    if method == "svd":
        return jnp.linalg.svd(w, compute_uv=False)
    if method == "gram":
        return jnp.sqrt(_gram_eigvals(w))
    with jax.enable_x64(True):
        return jnp.sqrt(_gram_eigvals(w.astype(jnp.float64))).astype(jnp.float32)
