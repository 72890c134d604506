"""Singular values of stacks of matrices, by full SVD or from the Gram matrix's eigenvalues.

Methods:
- `svd`: values-only SVD in float32 (`jnp.linalg.svd(compute_uv=False)`).
- `gram`: λ = eigenvalues of the smaller Gram matrix G = W·Wᵀ (or Wᵀ·W), built at
  `precision=HIGHEST` (TPU matmuls otherwise take bf16 passes), σ = √λ. Eigenvalues carry an
  absolute error ≈ ε·λ1 (times a factor ≤ k), so σi has relative error ≈ ε·(σ1/σi)²
  (ε = 2⁻²³ ≈ 1.2e-7 in float32): σ below ~3e-3·σ1 are approximate, and λ below k·ε·λ1 —
  pure round-off — are set to 0.
- `gram64`: the same Gram route in float64 (exact to float32 output precision).
- `auto`: the measured best per backend (bench/spectral.py): `gram` on GPU, `svd` on TPU, and
  on CPU `gram` unless the matrices are smaller than `CPU_GRAM_MIN_SIDE` on their short side.
  On a 2-core CPU a GPT-2-124M-shaped snapshot takes 2.6 s by `gram` against 6.6 s by `svd`
  and 4.8 s by the earlier per-shape mix (values-only SVD of the Gram matrix).

Every method reports values at or below its round-off floor as exact zeros, so a rank-r
matrix has exactly min(m, n) − r zero singular values: σ ≤ k·ε·σ1 for `svd` and `gram64` (the
float32 input itself cannot resolve smaller values; the metrics use the same numerical rank),
λ ≤ k·ε·λ1 for `gram`.

How the Gram matrix's eigenvalues are computed depends on the backend (the "route"): on GPU and
TPU with batched `eigvalsh`; on CPU with LAPACK's values-only symmetric solver (numpy's
`eigvalsh`, `syevd` with jobz='N') through `jax.pure_callback`, because XLA:CPU's `eigh` always
computes eigenvectors. The route follows `current_backend()` unless a caller names a backend,
which lets tests run every route on a CPU.
"""

from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from spectral_jax.host_blas import single_threaded_blas

Method = Literal["auto", "svd", "gram", "gram64"]
Backend = Literal["cpu", "gpu", "tpu"]
METHODS = ("auto", "svd", "gram", "gram64")
BACKENDS = ("cpu", "gpu", "tpu")
_GPU_PLATFORMS = ("gpu", "cuda", "rocm")
# On a 2-core CPU, `svd` is faster below this short side (64: 3.2 vs 4.3 ms per snapshot of six
# matrices) and the two are even around it (bench/spectral.py --d-model 128).
CPU_GRAM_MIN_SIDE = 128


def current_backend() -> Backend:
    """The backend JAX computes on now, as one of `BACKENDS`."""
    platform = jax.default_backend()
    if platform in _GPU_PLATFORMS:
        return "gpu"
    return "tpu" if platform == "tpu" else "cpu"


def _check_backend(backend: str | None) -> Backend:
    if backend is None:
        return current_backend()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")
    return backend  # type: ignore[return-value]


def resolve_method(
    method: str, backend: str | None = None, shape: tuple[int, ...] | None = None
) -> Method:
    """The concrete method `method` stands for on `backend` (default `current_backend()`) for
    `[..., m, n]` matrices (`shape` matters only on CPU)."""
    if method not in METHODS:
        raise ValueError(f"unknown spectral method '{method}' (choose from {', '.join(METHODS)})")
    backend = _check_backend(backend)
    if method != "auto":
        return method  # type: ignore[return-value]
    if backend == "tpu":
        return "svd"
    if backend == "cpu" and shape is not None and min(shape[-2:]) < CPU_GRAM_MIN_SIDE:
        return "svd"  # the host callback's fixed cost outweighs its gain on small matrices
    return "gram"


_HOST_THREADS = max(1, len(os.sched_getaffinity(0)))


@functools.cache
def _host_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_HOST_THREADS, "spectral-eigvalsh")


def _host_eigvalsh(stack: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of each symmetric matrix of `stack[..., k, k]` (LAPACK values only).

    The stack is split across one single-threaded LAPACK call per core: OpenBLAS's own threads
    would busy-wait after each call and take cores from the training step (`host_blas`)."""
    flat = stack.reshape(-1, *stack.shape[-2:])
    chunks = np.array_split(flat, min(len(flat), _HOST_THREADS)) if len(flat) else []
    with single_threaded_blas():
        parts = list(_host_pool().map(np.linalg.eigvalsh, chunks))
    out = np.concatenate(parts) if parts else np.zeros(flat.shape[:-1], flat.dtype)
    return out.reshape(stack.shape[:-1]).astype(stack.dtype, copy=False)


def _host_eigvalsh_f64_bits(bits: np.ndarray) -> np.ndarray:
    """`_host_eigvalsh` for float64 matrices passed as their bits (`uint32[..., k, k, 2]`).

    Callback operands and results are cast to float32 when JAX runs without x64, so `gram64`
    sends its float64 Gram matrices, and gets their eigenvalues back, as raw bits."""
    stack = np.ascontiguousarray(bits).view(np.float64)[..., 0]
    lam = np.ascontiguousarray(_host_eigvalsh(stack))
    return lam.view(np.uint32).reshape(*lam.shape, 2)


def _eigvalsh_descending(gram: jax.Array, backend: Backend) -> jax.Array:
    if backend != "cpu":
        return jnp.linalg.eigvalsh(gram)[..., ::-1]
    if gram.dtype == jnp.float64:
        bits = jax.lax.bitcast_convert_type(gram, jnp.uint32)
        result = jax.ShapeDtypeStruct((*gram.shape[:-1], 2), jnp.uint32)
        out = jax.pure_callback(_host_eigvalsh_f64_bits, result, bits, vmap_method="broadcast_all")
        lam = jax.lax.bitcast_convert_type(out, jnp.float64)
    else:
        result = jax.ShapeDtypeStruct(gram.shape[:-1], gram.dtype)
        lam = jax.pure_callback(
            lambda g: _host_eigvalsh(np.asarray(g)), result, gram, vmap_method="broadcast_all"
        )
    return lam[..., ::-1]


def _gram_eigvals(w: jax.Array, backend: Backend) -> jax.Array:
    """Descending, clamped eigenvalues of the smaller Gram matrix of `w[..., m, n]`."""
    m, n = w.shape[-2:]
    wt = jnp.swapaxes(w, -1, -2)
    gram = (
        jnp.matmul(w, wt, precision=jax.lax.Precision.HIGHEST)
        if m <= n
        else jnp.matmul(wt, w, precision=jax.lax.Precision.HIGHEST)
    )
    lam = _eigvalsh_descending(gram, backend)
    return _floored(lam, min(m, n) * jnp.finfo(w.dtype).eps)


def _floored(values: jax.Array, relative: float | jax.Array) -> jax.Array:
    """`values` (descending, non-negative in exact arithmetic) with everything at or below
    `relative`·values[0] set to exactly 0: round-off, not spectrum. NaN stays NaN."""
    return jnp.where(values <= relative * values[..., :1], 0.0, values)


def singular_values(
    matrices: jax.Array, method: str = "auto", *, backend: str | None = None
) -> jax.Array:
    """All singular values of `matrices[..., m, n]`, descending, float32 `[..., min(m, n)]`.

    Jitted per (shape, method, backend); usable inside jit and vmap. `backend` picks the route
    (`auto`'s choice and how Gram eigenvalues are computed); default: `current_backend()`.
    """
    matrices = jnp.asarray(matrices)
    if matrices.ndim < 2:
        raise ValueError(f"singular_values needs [..., m, n] matrices, got shape {matrices.shape}")
    backend = _check_backend(backend)
    method = resolve_method(method, backend, matrices.shape)
    # gram64 traces float64 arrays: x64 must hold wherever this call is traced or transformed
    # (an enclosing vmap batches the inner jit here, at the call, not inside its body).
    with jax.enable_x64(True) if method == "gram64" else contextlib.nullcontext():
        return _singular_values(matrices, method, backend)


@functools.partial(jax.jit, static_argnames=("method", "backend"))
def _singular_values(matrices: jax.Array, method: str, backend: Backend) -> jax.Array:
    w = matrices.astype(jnp.float32)
    input_floor = min(w.shape[-2:]) * float(jnp.finfo(jnp.float32).eps)
    if method == "svd":
        return _floored(jnp.linalg.svd(w, compute_uv=False), input_floor)
    if method == "gram":
        return jnp.sqrt(_gram_eigvals(w, backend))
    sigma = jnp.sqrt(_gram_eigvals(w.astype(jnp.float64), backend)).astype(jnp.float32)
    return _floored(sigma, input_floor)
