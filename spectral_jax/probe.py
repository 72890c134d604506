"""One spectral snapshot of a model: singular values and metrics of every named matrix.

`probe({(layer, kind): W})` groups matrices of equal shape into stacks, so a snapshot is one
batched SVD (or Gram eigendecomposition) and one metrics call per distinct shape, then returns
the spectra store's entry layout `{"sigma": {kind: [layers, k]}, "metrics": {metric: {kind:
[layers]}}}` with each kind's layers in ascending order. It is traceable (usable inside the
trainer's own jit); called eagerly it goes through a jitted function cached per set of shapes
and warns about every matrix whose metrics are NaN.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from spectral_jax.host_blas import single_threaded_blas
from spectral_jax.metrics import METRIC_NAMES, spectral_metrics
from spectral_jax.singular_values import resolve_method, singular_values

Key = tuple[int, str]
Entry = dict[str, dict]


def _after(x: jax.Array, previous: jax.Array) -> jax.Array:
    """`x`, but only once `previous` is computed: a real data dependency, via a branch whose
    predicate reads `previous` (XLA:CPU orders thunks by buffer use, so an optimization
    barrier alone does not sequence them)."""
    return jax.lax.cond(jnp.isnan(previous.ravel()[0]), jnp.copy, jnp.copy, x)


def _probe(named: Mapping[Key, jax.Array], method: str, backend: str | None) -> Entry:
    groups: dict[tuple[int, int], list[Key]] = defaultdict(list)
    for key in sorted(named, key=lambda key: (key[1], key[0])):
        groups[tuple(named[key].shape)].append(key)
    sigma_of: dict[Key, jax.Array] = {}
    metrics_of: dict[Key, dict[str, jax.Array]] = {}
    previous: jax.Array | None = None
    for keys in groups.values():
        stack = jnp.stack([named[key] for key in keys])
        if previous is not None:
            # One decomposition at a time: XLA:CPU would otherwise run the per-shape LAPACK
            # kernels concurrently, and each blocks an intra-op pool thread waiting for batch
            # tasks queued on that same pool: with as many groups as threads, it deadlocks.
            stack = _after(stack, previous)
        sigma = singular_values(stack, method, backend=backend)
        previous = sigma
        metrics = spectral_metrics(sigma)
        for i, key in enumerate(keys):
            sigma_of[key] = sigma[i]
            metrics_of[key] = {name: values[i] for name, values in metrics.items()}
    kinds = sorted({kind for _, kind in named})
    layers = {kind: sorted(layer for layer, k in named if k == kind) for kind in kinds}
    return {
        "sigma": {kind: jnp.stack([sigma_of[(l, kind)] for l in layers[kind]]) for kind in kinds},
        "metrics": {
            name: {
                kind: jnp.stack([metrics_of[(l, kind)][name] for l in layers[kind]])
                for kind in kinds
            }
            for name in METRIC_NAMES
        },
    }


@functools.partial(jax.jit, static_argnames=("method", "backend"))
def _probe_jit(named: Mapping[Key, jax.Array], method: str, backend: str | None) -> Entry:
    return _probe(named, method, backend)


def layers_by_kind(named: Mapping[Key, object]) -> dict[str, list[int]]:
    """Each kind's layers in the order `probe` stacks them."""
    out: dict[str, list[int]] = defaultdict(list)
    for layer, kind in sorted(named, key=lambda key: (key[1], key[0])):
        out[kind].append(layer)
    return dict(out)


def degenerate_entries(entry: Entry, layers: Mapping[str, list[int]]) -> list[Key]:
    """(layer, kind) of every matrix with a NaN metric in a host-side (numpy) probe result."""
    bad: set[Key] = set()
    for per_kind in entry["metrics"].values():
        for kind, values in per_kind.items():
            for layer, value in zip(layers[kind], np.asarray(values), strict=True):
                if not np.isfinite(value):
                    bad.add((layer, kind))
    return sorted(bad, key=lambda key: (key[1], key[0]))


def probe(
    named: Mapping[Key, jax.Array], method: str = "auto", *, backend: str | None = None
) -> Entry:
    """Singular values and metrics of every matrix in `{(layer, kind): W}` (see module doc).

    `backend`: whose decomposition route to take (`singular_values`); default: the current one.
    """
    if not named:
        raise ValueError("probe needs at least one matrix")
    for key, matrix in named.items():
        if jnp.ndim(matrix) != 2:
            raise ValueError(f"matrix {key} must be 2-D, got shape {jnp.shape(matrix)}")
    resolve_method(method, backend)  # validates both names before any work
    named = {key: jnp.asarray(value) for key, value in named.items()}
    if any(isinstance(v, jax.core.Tracer) for v in named.values()):
        return _probe(named, method, backend)
    with single_threaded_blas():  # the decompositions run between dispatch and device_get
        entry = _probe_jit(named, method, backend)
        host_entry = jax.device_get(entry)
    bad = degenerate_entries(host_entry, layers_by_kind(named))
    if bad:
        names = ", ".join(f"(layer {layer}, {kind})" for layer, kind in bad)
        warnings.warn(f"degenerate spectra, metrics are NaN for: {names}", stacklevel=2)
    return entry
