"""probe: the store's entry layout, grouping by shape, no recompilation, degenerate warnings."""

from __future__ import annotations

import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spectral_jax.metrics import METRIC_NAMES, spectral_metrics
from spectral_jax.probe import probe
from spectral_jax.singular_values import singular_values

probe_module = importlib.import_module("spectral_jax.probe")

SHAPES = {"q": (16, 16), "v": (16, 16), "mlp_in": (16, 40), "mlp_out": (40, 16)}


def model_like(seed: int, layers: int = 3) -> dict[tuple[int, str], jax.Array]:
    rng = np.random.default_rng(seed)
    return {
        (layer, kind): jnp.asarray(rng.standard_normal(shape), jnp.float32)
        for layer in range(layers)
        for kind, shape in SHAPES.items()
    }


def test_layout_and_values_match_per_matrix_computation() -> None:
    named = model_like(0)
    entry = probe(named, method="svd")
    assert set(entry["sigma"]) == set(SHAPES)
    assert set(entry["metrics"]) == set(METRIC_NAMES)
    for kind, (m, n) in SHAPES.items():
        assert entry["sigma"][kind].shape == (3, min(m, n))
        for layer in range(3):
            sigma = singular_values(named[(layer, kind)], "svd")
            np.testing.assert_allclose(entry["sigma"][kind][layer], sigma, rtol=1e-5, atol=1e-6)
            expected = spectral_metrics(sigma)
            for name in METRIC_NAMES:
                np.testing.assert_allclose(
                    entry["metrics"][name][kind][layer], expected[name], rtol=1e-5
                )


def test_equal_shapes_share_one_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = probe_module.singular_values

    def spy(stack, method, backend=None):
        calls.append(tuple(stack.shape))
        return real(stack, method, backend=backend)

    monkeypatch.setattr(probe_module, "singular_values", spy)
    probe_module._probe(model_like(1), "svd", None)
    # q and v (16×16) share a stack; three distinct shapes, three calls.
    assert sorted(calls) == sorted([(6, 16, 16), (3, 16, 40), (3, 40, 16)])


def test_new_values_same_shapes_do_not_recompile() -> None:
    probe(model_like(2), "gram")
    before = probe_module._probe_jit._cache_size()
    probe(model_like(3), "gram")
    assert probe_module._probe_jit._cache_size() == before


def test_traceable_inside_jit() -> None:
    named = model_like(4)
    inside = jax.jit(lambda m: probe(m, "svd"))(named)
    eager = probe(named, "svd")
    np.testing.assert_allclose(inside["sigma"]["q"], eager["sigma"]["q"], rtol=1e-6)


def test_degenerate_matrix_warns_naming_it() -> None:
    named = model_like(5)
    named[(1, "v")] = jnp.zeros((16, 16))
    named[(2, "q")] = named[(2, "q")].at[0, 0].set(jnp.nan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = probe(named, "svd")
    message = " ".join(str(w.message) for w in caught)
    assert "(layer 1, v)" in message and "(layer 2, q)" in message
    assert np.isnan(entry["metrics"]["alpha"]["v"][1])
    assert np.isfinite(entry["metrics"]["alpha"]["v"][0])


def test_public_api_exports_the_kernels() -> None:
    import spectral_jax

    assert spectral_jax.probe is probe
    assert spectral_jax.singular_values is singular_values
    assert spectral_jax.spectral_metrics is spectral_metrics
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = spectral_jax.nope


REPEATED_PROBES = """
import os
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # before XLA sizes its pool
import jax, jax.numpy as jnp, numpy as np
from spectral_jax import probe
rng = np.random.default_rng(0)
shapes = {"q": (128, 128), "k": (128, 128), "v": (128, 128), "o": (128, 128),
          "mlp_in": (128, 512), "mlp_out": (512, 128)}
named = {(l, k): jnp.asarray(rng.standard_normal(s), jnp.float32)
         for l in range(2) for k, s in shapes.items()}
# The XLA eigh route (GPU/TPU's, run here on CPU) is the one that hung without sequencing; the
# CPU route of gram/gram64 runs LAPACK in a host callback while XLA threads wait.
for method, backend in (("gram", "gpu"), ("gram64", "gpu"), ("gram", "cpu"), ("gram64", "cpu"),
                        ("svd", "cpu"), ("auto", "cpu")):
    for _ in range(25):
        jax.block_until_ready(probe(named, method, backend=backend))
print("done")
"""


def test_repeated_multi_shape_probes_never_hang() -> None:
    """Regression: concurrent per-shape LAPACK kernels deadlocked XLA:CPU's 2-thread pool. The
    subprocess pins itself to two cores, so XLA sizes its pool as on the machine that hung,
    however many cores this one has."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", REPEATED_PROBES],
        capture_output=True,
        text=True,
        timeout=240,
        env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "done"
