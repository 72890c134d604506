"""singular_values against numpy float64 SVD, for every method, shape and kind of matrix."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_jax.singular_values import resolve_method, singular_values
from tests.spectral_jax.reference import matrix_with_spectrum

SHAPES = [(64, 64), (64, 256), (256, 64), (300, 700)]
EPS = float(np.finfo(np.float32).eps)


def make(kind: str, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    k = min(m, n)
    if kind == "gaussian":
        return rng.standard_normal((m, n)) / np.sqrt(n)
    if kind == "low_rank":
        return rng.standard_normal((m, 5)) @ rng.standard_normal((5, n)) / n
    # heavy-tailed: power-law spectrum with condition number 1e3
    sigma = np.logspace(0, -3, k)
    return matrix_with_spectrum(sigma, m, n, rng)


KINDS = ["gaussian", "low_rank", "heavy_tailed"]
ROUTES = ["cpu", "gpu", "tpu"]  # each backend's decomposition route, all run on this CPU


def check_accuracy(got: np.ndarray, ref: np.ndarray, method: str, k: int) -> None:
    """The documented error bound of `method` against the float64 reference `ref`."""
    s1 = ref[0]
    assert got.dtype == np.float32 and got.shape == (k,)
    assert np.all(np.diff(got) <= 0), "descending"
    if method in ("svd", "gram64"):
        # float32 precision: a few ulps of σ1 (backward-stable SVD bound).
        np.testing.assert_allclose(got, ref, rtol=0, atol=8 * k * EPS * s1)
        return
    # gram: relative error ≲ ε·(σ1/σi)², i.e. absolute error of λ ≈ k·ε·λ1.
    bound = 4 * k * EPS * s1**2 / np.maximum(ref, 1e-30) ** 2 * ref + 8 * EPS * ref
    rounded_to_zero = got == 0
    assert np.all(np.abs(got - ref)[~rounded_to_zero] <= bound[~rounded_to_zero])
    # Values set to 0 are those below the round-off floor √(k·ε)·σ1.
    assert np.all(ref[rounded_to_zero] <= np.sqrt(4 * k * EPS) * s1)


@pytest.mark.parametrize("backend", ROUTES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_methods_match_float64_svd(shape: tuple[int, int], kind: str, backend: str) -> None:
    rng = np.random.default_rng(10 * SHAPES.index(shape) + KINDS.index(kind))  # fixed per case
    w32 = make(kind, *shape, rng).astype(np.float32)
    ref = np.linalg.svd(w32.astype(np.float64), compute_uv=False)
    jitted = jax.jit(singular_values, static_argnames=("method", "backend"))
    for method in ("svd", "gram", "gram64", "auto"):
        concrete = resolve_method(method, backend, shape)
        got = np.asarray(singular_values(jnp.asarray(w32), method, backend=backend))
        check_accuracy(got, ref, concrete, min(shape))
        inside = np.asarray(jitted(jnp.asarray(w32), method=method, backend=backend))
        np.testing.assert_array_equal(inside, got)


@pytest.mark.parametrize("backend", ROUTES)
@pytest.mark.parametrize("method", ["svd", "gram", "gram64"])
def test_rank_r_matrix_has_exactly_k_minus_r_zeros(method: str, backend: str) -> None:
    """An exactly rank-5 float32 matrix (small-integer factors: the product has no rounding)
    reports exactly min(m, n) − 5 zeros and 5 non-zeros, by every method on every route."""
    rng = np.random.default_rng(3)
    for m, n in ((48, 80), (80, 48), (64, 64)):
        a = rng.integers(-3, 4, size=(m, 5)).astype(np.float32)
        b = rng.integers(-3, 4, size=(5, n)).astype(np.float32)
        sigma = np.asarray(singular_values(jnp.asarray(a @ b), method, backend=backend))
        assert (sigma == 0).sum() == min(m, n) - 5, (m, n)
        ref = np.linalg.svd((a @ b).astype(np.float64), compute_uv=False)[:5]
        np.testing.assert_allclose(sigma[:5], ref, rtol=1e-4)


@pytest.mark.parametrize("backend", ROUTES)
def test_batched_jit_and_vmap(backend: str) -> None:
    rng = np.random.default_rng(0)
    stack = jnp.asarray(rng.standard_normal((3, 2, 16, 24)), jnp.float32)
    direct = singular_values(stack, "svd", backend=backend)
    assert direct.shape == (3, 2, 16)
    for method in ("gram", "gram64"):
        jitted = jax.jit(singular_values, static_argnames=("method", "backend"))(
            stack, method=method, backend=backend
        )
        mapped = jax.vmap(jax.vmap(lambda w, m=method: singular_values(w, m, backend=backend)))(
            stack
        )
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(direct), rtol=1e-4)
        np.testing.assert_allclose(np.asarray(mapped), np.asarray(jitted), rtol=1e-6)


def test_auto_resolves_per_backend_and_rejects_unknown() -> None:
    assert [resolve_method("auto", b, (768, 768)) for b in ROUTES] == ["gram", "gram", "svd"]
    assert [resolve_method("auto", b, (64, 3072)) for b in ROUTES] == ["svd", "gram", "svd"]
    assert resolve_method("auto", "cpu", (4, 128, 512)) == "gram"
    assert [resolve_method(m, "tpu") for m in ("svd", "gram", "gram64")] == [
        "svd",
        "gram",
        "gram64",
    ]
    assert resolve_method("auto") == resolve_method("auto", "cpu")  # the backend running now
    with pytest.raises(ValueError, match="unknown spectral method 'qr'"):
        singular_values(jnp.ones((3, 3)), "qr")
    with pytest.raises(ValueError, match="unknown backend 'npu'"):
        singular_values(jnp.ones((3, 3)), "svd", backend="npu")


def test_current_backend_names_gpu_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("spectral_jax.singular_values")

    for platform, expected in (("cuda", "gpu"), ("rocm", "gpu"), ("tpu", "tpu"), ("cpu", "cpu")):
        monkeypatch.setattr(module.jax, "default_backend", lambda p=platform: p)
        assert module.current_backend() == expected
