"""Where each array of the train state lives on the `(data, fsdp)` mesh: the FSDP rule, in one place.

The rule (for parameters and optimizer state alike, so Adam's moments sit with their weights):
- an array is split along `fsdp` on its largest axis whose size the fsdp device count divides
  (the first such axis on a tie), so each device holds 1/fsdp of its rows or of its columns;
- an array with no such axis (a scalar such as the step or Adam's count, or a size that does
  not divide) is replicated, as everything is when `fsdp` is 1;
- nothing is split along `data`: data-parallel devices hold the same shards.

The rule reads shapes only, so it applies equally to arrays, to `jax.ShapeDtypeStruct`s
(restore targets, memory estimates) and to every optimizer's state.
"""

from __future__ import annotations

import math
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from train.mesh import FSDP_AXIS


def fsdp_axis(shape: tuple[int, ...], fsdp: int) -> int | None:
    """The axis of `shape` to split over `fsdp` devices, or None to replicate."""
    if fsdp < 1:
        raise ValueError(f"the fsdp device count must be positive, got {fsdp}")
    if fsdp == 1:
        return None
    fits = [i for i, size in enumerate(shape) if size % fsdp == 0]
    return max(fits, key=lambda i: (shape[i], -i)) if fits else None


def fsdp_spec(shape: tuple[int, ...], fsdp: int) -> PartitionSpec:
    """`PartitionSpec` of an array of `shape` under the rule above."""
    axis = fsdp_axis(shape, fsdp)
    if axis is None:
        return PartitionSpec()
    return PartitionSpec(*(FSDP_AXIS if i == axis else None for i in range(len(shape))))


def state_shardings(tree: Any, mesh: Mesh) -> Any:
    """A `NamedSharding` for every leaf of `tree` (arrays or shape structs), same structure."""
    fsdp = mesh.shape[FSDP_AXIS]
    return jax.tree.map(lambda x: NamedSharding(mesh, fsdp_spec(tuple(x.shape), fsdp)), tree)


def bytes_per_device(tree: Any, fsdp: int) -> int:
    """Bytes one device holds of `tree` (arrays or shape structs) under the rule above."""
    total = 0
    for leaf in jax.tree.leaves(tree):
        size = math.prod(leaf.shape) * jax.numpy.dtype(leaf.dtype).itemsize
        total += size // fsdp if fsdp_axis(tuple(leaf.shape), fsdp) is not None else size
    return total
