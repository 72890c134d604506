"""One spectral snapshot of a model: singular values and metrics of every named matrix.

`probe({(layer, kind): W})` groups matrices of equal shape into stacks, so a snapshot is one
batched SVD (or Gram eigendecomposition) and one metrics call per distinct shape, then returns
the spectra store's entry layout `{"sigma": {kind: [layers, k]}, "metrics": {metric: {kind:
[layers]}}}` with each kind's layers in ascending order. It is traceable (usable inside the
trainer's own jit); called eagerly it goes through a jitted function cached per set of shapes
and warns about every matrix whose metrics are NaN.

With a `mesh`, the work is divided: each shape group's stack is split along its stack axis over
every device of the mesh (zero-padded to a multiple of the device count), each device
decomposes its own whole matrices (`shard_map`), and the group's singular values (small) are
gathered before its metrics. Matrices sharded FSDP-style reach their devices group by group,
each group after the previous one's decomposition, so no device holds more than a group's
share at once. The values are bit-identical to the unsharded probe's: every matrix goes
through the same per-matrix kernels, and the metrics see arrays of the same shapes.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from spectral_jax.host_blas import single_threaded_blas
from spectral_jax.metrics import METRIC_NAMES, spectral_metrics
from spectral_jax.singular_values import current_backend, resolve_method, singular_values

Key = tuple[int, str]
Entry = dict[str, dict]


def _after(x: jax.Array, previous: jax.Array) -> jax.Array:
    """`x`, but only once `previous` is computed: a real data dependency, via a branch whose
    predicate reads `previous` (XLA:CPU orders thunks by buffer use, so an optimization
    barrier alone does not sequence them)."""
    return jax.lax.cond(jnp.isnan(previous.ravel()[0]), jnp.copy, jnp.copy, x)


def _sigma(stack: jax.Array, method: str, backend: str | None, one_at_a_time: bool) -> jax.Array:
    """Singular values of a stack, batched or (`one_at_a_time`) matrix by matrix."""
    if one_at_a_time:
        return jax.lax.map(
            functools.partial(singular_values, method=method, backend=backend), stack
        )
    return singular_values(stack, method, backend=backend)


def splits_over(
    shape: tuple[int, ...], method: str, mesh: Mesh | None, backend: str | None = None
) -> bool:
    """Whether `probe(..., mesh=mesh)` divides the decompositions of `[..., m, n]` matrices
    over the mesh's devices.

    Not on a mesh of one, and not on CPU devices for the host route (`gram`, `gram64` with the
    CPU backend): simulated CPU devices share the host's cores, which that route's LAPACK calls
    already use all of, and a host callback in a program whose other devices wait in
    collectives can deadlock XLA:CPU's small thread pool. Such a group is decomposed whole."""
    if mesh is None or mesh.size == 1:
        return False
    host_route = (backend or current_backend()) == "cpu" and resolve_method(
        method, backend, shape
    ) in ("gram", "gram64")
    return not (host_route and mesh.devices.flat[0].platform == "cpu")


def _sigma_split(stack: jax.Array, method: str, backend: str | None, mesh: Mesh) -> jax.Array:
    """Singular values of `stack` with its matrices divided over every device of `mesh`,
    gathered back (small) onto every device.

    The stack axis is split over the mesh axes last axis first, so matrices sharded along the
    last axis (FSDP) reach their devices by an all-to-all, never as a full copy."""
    count, share = stack.shape[0], -(-stack.shape[0] // mesh.size)
    if share * mesh.size != count:  # zero matrices fill the last devices' shares; dropped below
        padding = jnp.zeros((share * mesh.size - count, *stack.shape[1:]), stack.dtype)
        stack = jnp.concatenate([stack, padding])
    spec = PartitionSpec(tuple(reversed(mesh.axis_names)))
    # XLA:CPU's batched LAPACK kernels split their batch over the intra-op pool that every
    # simulated CPU device shares, and wait for it: run on several devices at once they can take
    # every pool thread and deadlock (as in `_after`). One matrix at a time never waits on it.
    one_at_a_time = mesh.devices.flat[0].platform == "cpu"
    sigma = jax.shard_map(
        functools.partial(_sigma, method=method, backend=backend, one_at_a_time=one_at_a_time),
        mesh=mesh,
        in_specs=spec,
        out_specs=spec,
        check_vma=False,
    )(stack)
    # One all-gather of the group's singular values; the metrics are then computed on arrays of
    # the single-device probe's shapes, so XLA emits the same reductions (same bits).
    return jax.lax.with_sharding_constraint(sigma, NamedSharding(mesh, PartitionSpec()))[:count]


def _probe(
    named: Mapping[Key, jax.Array], method: str, backend: str | None, mesh: Mesh | None = None
) -> Entry:
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
        if splits_over(stack.shape, method, mesh, backend):
            sigma = _sigma_split(stack, method, backend, mesh)
        else:
            if mesh is not None:  # whole matrices: the same sums as on one device
                stack = jax.lax.with_sharding_constraint(
                    stack, NamedSharding(mesh, PartitionSpec())
                )
            sigma = _sigma(stack, method, backend, one_at_a_time=False)
        metrics = spectral_metrics(sigma)
        previous = sigma
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


@functools.partial(jax.jit, static_argnames=("method", "backend", "mesh"))
def _probe_jit(
    named: Mapping[Key, jax.Array], method: str, backend: str | None, mesh: Mesh | None
) -> Entry:
    return _probe(named, method, backend, mesh)


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
    named: Mapping[Key, jax.Array],
    method: str = "auto",
    *,
    backend: str | None = None,
    mesh: Mesh | None = None,
) -> Entry:
    """Singular values and metrics of every matrix in `{(layer, kind): W}` (see module doc).

    `backend`: whose decomposition route to take (`singular_values`); default: the current one.
    `mesh`: divide the decompositions over its devices (None: wherever the inputs are). Called
    eagerly with a CPU mesh on which some group does not split (`splits_over`), the whole probe
    runs on the mesh's first device instead: the same values, with no host callback inside a
    multi-device CPU program.
    """
    if not named:
        raise ValueError("probe needs at least one matrix")
    for key, matrix in named.items():
        if jnp.ndim(matrix) != 2:
            raise ValueError(f"matrix {key} must be 2-D, got shape {jnp.shape(matrix)}")
    resolve_method(method, backend)  # validates both names before any work
    named = {key: jnp.asarray(value) for key, value in named.items()}
    if any(isinstance(v, jax.core.Tracer) for v in named.values()):
        return _probe(named, method, backend, mesh)
    if mesh is not None and not all(
        splits_over(value.shape, method, mesh, backend) for value in named.values()
    ):
        named, mesh = jax.device_put(named, mesh.devices.flat[0]), None
    with single_threaded_blas():  # the decompositions run between dispatch and device_get
        entry = _probe_jit(named, method, backend, mesh)
        host_entry = jax.device_get(entry)
    bad = degenerate_entries(host_entry, layers_by_kind(named))
    if bad:
        names = ", ".join(f"(layer {layer}, {kind})" for layer, kind in bad)
        warnings.warn(f"degenerate spectra, metrics are NaN for: {names}", stacklevel=2)
    return entry
