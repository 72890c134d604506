"""The spectral probe during training: a jitted probe whose results reach a host writer thread.

Every `spectral.every` steps (and at step 0 and the last step) the loop dispatches `probe_fn`,
a separate jitted function — not a branch of the train step. It computes singular values and
metrics of every watched matrix and hands them to the host through
`jax.experimental.io_callback`; the callback only enqueues, and a writer thread saves the
snapshot to the spectra store (Orbax) and TensorBoard. The loop never waits on disk.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import io_callback
from jax.sharding import Mesh

from spectral_jax.matrices import model_kinds, named_matrices
from spectral_jax.metrics import METRIC_DEFINITIONS_VERSION, METRIC_NAMES
from spectral_jax.probe import probe
from spectral_jax.store import SpectraWriter
from train.config import Config
from train.mesh import replicated
from train.spectral_tb import SpectralTensorBoard

log = logging.getLogger("spectral_jax.train")


def _watched_kinds(config: Config) -> tuple[str, ...]:
    available = model_kinds(config.model)
    if config.spectral.kinds is None:
        return available
    extra = {"embed"} | ({"unembed"} if not config.model.tied_embeddings else set())
    missing = [k for k in config.spectral.kinds if k not in available and k not in extra]
    if missing:
        raise ValueError(f"spectral.kinds: this model has no '{missing[0]}' matrices")
    return tuple(config.spectral.kinds)


class SpectralMonitor:
    """Owns the probe function, the writer thread, the spectra store and spectral TensorBoard."""

    def __init__(
        self, config: Config, graphdef: nnx.GraphDef, rest: nnx.State, run_dir: Path,
        mesh: Mesh, is_primary: bool, start_step: int,
    ) -> None:
        self.every = config.spectral.every
        self.kinds = _watched_kinds(config)
        self.save_sigma = config.spectral.save_sigma
        self.is_primary = is_primary
        method = config.spectral.method
        kinds = self.kinds

        def matrices(params: nnx.State) -> dict:
            return named_matrices(nnx.merge(graphdef, params, rest), kinds)

        shapes = jax.eval_shape(matrices, nnx.state(nnx.merge(graphdef, _abstract(rest), rest)))
        del shapes  # placeholder removed below
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None

        def send(step: jax.Array, result: dict) -> None:
            self._queue.put((int(step), jax.tree.map(np.asarray, result)))

        def probe_fn(params: nnx.State, step: jax.Array) -> None:
            result = probe(matrices(params), method=method)
            if not self.save_sigma:
                result = {"metrics": result["metrics"]}
            io_callback(send, None, step, result, ordered=False)

        self._probe = jax.jit(probe_fn, in_shardings=(replicated(mesh), None))
        self._matrices = matrices
        self.store: SpectraWriter | None = None
        self.tb: SpectralTensorBoard | None = None
        self._thread: threading.Thread | None = None
        self._run_dir = run_dir
        self._config = config
        self._start_step = start_step

    @classmethod
    def create(
        cls, config: Config, graphdef: nnx.GraphDef, rest: nnx.State, run_dir: Path,
        mesh: Mesh, is_primary: bool, start_step: int,
    ) -> SpectralMonitor | None:
        """A monitor, or None when `spectral.every` is 0."""
        if config.spectral.every == 0:
            return None
        return cls(config, graphdef, rest, run_dir, mesh, is_primary, start_step)
