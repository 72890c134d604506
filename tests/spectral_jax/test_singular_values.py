"""singular_values against numpy float64 SVD, for every method, shape and kind of matrix."""

from __future__ import annotations

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


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_methods_match_float64_svd(shape: tuple[int, int], kind: str) -> None:
    rng = np.random.default_rng(10 * SHAPES.index(shape) + KINDS.index(kind))  # fixed per case
    w64 = make(kind, *shape, rng)
    w32 = w64.astype(np.float32)
    ref = np.linalg.svd(w32.astype(np.float64), compute_uv=False)
    s1 = ref[0]
    for method in ("svd", "gram64"):
        got = np.asarray(singular_values(jnp.asarray(w32), method))
        assert got.dtype == np.float32 and got.shape == (min(shape),)
        assert np.all(np.diff(got) <= 0), "descending"
        # float32 precision: a few ulps of σ1 (backward-stable SVD bound).
        np.testing.assert_allclose(got, ref, rtol=0, atol=8 * min(shape) * EPS * s1)
    got = np.asarray(singular_values(jnp.asarray(w32), "gram"))
    # Documented bound: relative error ≲ ε·(σ1/σi)², i.e. absolute error of λ ≈ k·ε·λ1.
    bound = 4 * min(shape) * EPS * s1**2 / np.maximum(ref, 1e-30) ** 2 * ref + 8 * EPS * ref
    rounded_to_zero = got == 0
    assert np.all(np.abs(got - ref)[~rounded_to_zero] <= bound[~rounded_to_zero])
    # Values set to 0 are those below the round-off floor √(k·ε)·σ1.
    assert np.all(ref[rounded_to_zero] <= np.sqrt(4 * min(shape) * EPS) * s1)


def test_batched_jit_and_vmap() -> None:
    rng = np.random.default_rng(0)
    stack = jnp.asarray(rng.standard_normal((3, 2, 16, 24)), jnp.float32)
    direct = singular_values(stack, "svd")
    assert direct.shape == (3, 2, 16)
    jitted = jax.jit(singular_values, static_argnames="method")(stack, method="gram")
    mapped = jax.vmap(lambda w: singular_values(w, "svd"))(stack)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(direct), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(direct), rtol=1e-6)


def test_auto_resolves_per_backend_and_rejects_unknown() -> None:
    assert resolve_method("auto", (768, 768), "gpu") == "gram"
    assert resolve_method("auto", (768, 3072), "tpu") == "svd"
    assert resolve_method("auto", (768, 768), "cpu") == "svd"
    assert resolve_method("auto", (4, 768, 3072), "cpu") == "gram"
    assert resolve_method("auto", (3072, 768), "cpu") == "gram"
    assert resolve_method("svd", (3072, 768), "gpu") == "svd"
    with pytest.raises(ValueError, match="unknown spectral method 'qr'"):
        singular_values(jnp.ones((3, 3)), "qr")
