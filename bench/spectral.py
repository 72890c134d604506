"""Print how fast one spectral snapshot of a GPT-2-124M-shaped model is, per method.

Usage: python bench/spectral.py [--repeats 5] [--layers 12] [--d-model 768]

Builds 12 layers x (q, k, v, o: 768x768; mlp_in: 768x3072; mlp_out: 3072x768) float32 weights
with heavy-tailed spectra (σ² drawn from a Pareto law, exponent 3) and prints, with the device:
- the compile time of `probe` and the time of one snapshot through it for each method,
- the same snapshot done the obvious way (device_get every matrix, numpy SVD, a per-matrix
  Python loop α fit) and the ratio,
- the vectorised α fit of all 72 spectra against the loop reference, and the ratio.
Times are the median of `--repeats` runs after a warm-up. No pass/fail: it prints figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.gpt2_shapes import add_size_options, block_shapes
from bench.timing import median_time
from spectral_jax.host_blas import single_threaded_blas
from spectral_jax.metrics import spectral_metrics
from spectral_jax.powerlaw import fit_power_law
from spectral_jax.probe import probe
from spectral_jax.singular_values import METHODS, resolve_method
from tests.spectral_jax.reference import (
    loop_power_law_fit,
    matrix_with_spectrum,
    pareto_eigenvalues,
)


def gpt2_weights(layers: int, d_model: int, seed: int = 0) -> dict[tuple[int, str], jax.Array]:
    """`{(layer, kind): W}` shaped like GPT-2 124M, each with a heavy-tailed spectrum."""
    rng = np.random.default_rng(seed)
    named = {}
    for layer in range(layers):
        for kind, (m, n) in block_shapes(d_model).items():
            lam = np.sort(pareto_eigenvalues(3.0, min(m, n), rng))[::-1]
            w = matrix_with_spectrum(np.sqrt(lam) * 0.02, m, n, rng)
            named[(layer, kind)] = jnp.asarray(w, jnp.float32)
    return named


@jax.jit
def previous_cpu_auto(stacks: list[jax.Array]) -> list[dict[str, jax.Array]]:
    """The CPU `auto` before the values-only eigensolver: SVD for near-square stacks, and for
    stacks at least twice as long as wide the values-only SVD of the Gram matrix (XLA:CPU's
    eigh computes eigenvectors too)."""
    out = []
    for w in stacks:
        m, n = w.shape[-2:]
        if max(m, n) >= 2 * min(m, n):
            wt = jnp.swapaxes(w, -1, -2)
            gram = jnp.matmul(w, wt) if m <= n else jnp.matmul(wt, w)
            lam = jnp.linalg.svd(gram, compute_uv=False)
            sigma = jnp.sqrt(jnp.where(lam > min(m, n) * 1.2e-7 * lam[..., :1], lam, 0.0))
        else:
            sigma = jnp.linalg.svd(w, compute_uv=False)
        out.append(spectral_metrics(sigma))
    return out


def obvious_snapshot(named: dict[tuple[int, str], jax.Array]) -> list[tuple]:
    """The baseline: every matrix to the host, numpy SVD, a per-candidate Python α fit."""
    out = []
    for w in named.values():
        sigma = np.linalg.svd(np.asarray(jax.device_get(w)), compute_uv=False)
        out.append((sigma, loop_power_law_fit(sigma.astype(np.float64) ** 2)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    add_size_options(parser)
    args = parser.parse_args()
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}), jax {jax.__version__}")
    named = gpt2_weights(args.layers, args.d_model)
    n_params = sum(w.size for w in named.values())
    print(f"{len(named)} matrices, {n_params / 1e6:.1f}M weights (GPT-2-124M block shapes)")

    times = {}
    for method in METHODS:
        t0 = time.perf_counter()
        jax.block_until_ready(probe(named, method))
        first = time.perf_counter() - t0
        times[method] = median_time(lambda m=method: probe(named, m), args.repeats)
        print(
            f"probe method={method:7s} snapshot {1e3 * times[method]:8.1f} ms   "
            f"(first call incl. compile {first:.2f} s)"
        )
    shapes = sorted({tuple(w.shape) for w in named.values()})
    picks = ", ".join(f"{m}x{n}: {resolve_method('auto', shape=(m, n))}" for m, n in shapes)
    print(f"auto on {jax.default_backend()} picks {picks}")
    auto = "auto"

    if jax.default_backend() == "cpu":
        groups: dict[tuple[int, ...], list[jax.Array]] = {}
        for w in named.values():
            groups.setdefault(tuple(w.shape), []).append(w)
        stacks = [jnp.stack(ws) for ws in groups.values()]
        with single_threaded_blas():
            previous = median_time(lambda: previous_cpu_auto(stacks), args.repeats)
        print(
            f"previous CPU auto (SVD; SVD of the Gram when aspect >= 2) {1e3 * previous:8.1f} ms; "
            f"probe auto is {previous / times['auto']:.2f}x faster"
        )

    baseline = median_time(lambda: obvious_snapshot(named), max(1, args.repeats // 2))
    best = min(times, key=times.get)
    print(
        f"obvious way (numpy SVD + loop α per matrix) {1e3 * baseline:8.1f} ms; "
        f"probe auto is {baseline / times[auto]:.1f}x faster, best ({best}) "
        f"{baseline / times[best]:.1f}x"
    )

    sigma = np.concatenate(
        [np.asarray(probe({k: w}, "svd")["sigma"][k[1]]) for k, w in named.items()]
    )
    lam = jnp.asarray(sigma.astype(np.float32) ** 2)
    vectorised = median_time(lambda: fit_power_law(lam), args.repeats)
    loop = median_time(
        lambda: [loop_power_law_fit(row) for row in np.asarray(lam, np.float64)],
        max(1, args.repeats // 2),
    )
    print(
        f"α fit of {lam.shape[0]} spectra (k={lam.shape[1]}): vectorised "
        f"{1e3 * vectorised:.1f} ms, loop reference {1e3 * loop:.1f} ms, "
        f"{loop / vectorised:.1f}x faster"
    )
    metrics = median_time(lambda: spectral_metrics(jnp.asarray(sigma)), args.repeats)
    print(f"all metrics of {sigma.shape[0]} spectra: {1e3 * metrics:.1f} ms")


if __name__ == "__main__":
    main()
