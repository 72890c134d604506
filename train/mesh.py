"""Device mesh and shardings: one `data` axis; a single device is a mesh of one."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from train.config import MeshConfig

DATA_AXIS = "data"


def make_mesh(cfg: MeshConfig) -> Mesh:
    """A 1-D data-parallel mesh over `cfg.data` devices (-1: all devices of all processes)."""
    devices = jax.devices()
    n = len(devices) if cfg.data == -1 else cfg.data
    if n < 1 or n > len(devices):
        raise ValueError(f"mesh.data={cfg.data} but {len(devices)} devices are visible")
    return Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches are split along their leading (example) dimension over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble each process's slice of the batch into one globally sharded array."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
