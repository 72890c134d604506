"""The device mesh `(data, fsdp)` and the batch layout on it; a single device is a mesh of one.

Devices are laid out in `jax.devices()` order (host by host), row-major over `(data, fsdp)`, so
each process's devices hold a contiguous block of every global batch: the rows its own loader
reads. How parameters and optimizer state are split over `fsdp` is `train/sharding.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from train.config import ConfigError, MeshConfig

DATA_AXIS = "data"
FSDP_AXIS = "fsdp"
AXES = (DATA_AXIS, FSDP_AXIS)


def mesh_shape(cfg: MeshConfig, n_devices: int) -> tuple[int, int]:
    """`(data, fsdp)` for `n_devices`, with -1 filled in; ConfigError naming both keys unless
    their product is exactly the device count."""
    data, fsdp = cfg.data, cfg.fsdp
    given = f"mesh.data={data} x mesh.fsdp={fsdp}"
    if -1 in (data, fsdp):
        other = fsdp if data == -1 else data
        if n_devices % other:
            raise ConfigError(
                f"{given}: {other} does not divide the {n_devices} devices, so -1 cannot take "
                "the rest; mesh.data * mesh.fsdp must equal the device count"
            )
        data, fsdp = (n_devices // other, other) if data == -1 else (other, n_devices // other)
    if data * fsdp != n_devices:
        raise ConfigError(
            f"{given} = {data * fsdp} devices, but {n_devices} are visible; mesh.data * "
            "mesh.fsdp must equal the device count"
        )
    return data, fsdp


def make_mesh(cfg: MeshConfig, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The `(data, fsdp)` mesh over `devices` (default: every device of every process)."""
    devices = list(jax.devices() if devices is None else devices)
    shape = mesh_shape(cfg, len(devices))
    return Mesh(np.asarray(devices, dtype=object).reshape(shape), AXES)


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches are split along their leading (example) axis over every device: data and fsdp
    together, so an FSDP device computes on its own examples with gathered weights."""
    return NamedSharding(mesh, PartitionSpec(AXES))


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble each process's slice of the batch into one globally sharded array."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
