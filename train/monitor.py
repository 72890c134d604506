"""The spectral probe during training: a jitted probe whose results reach a host writer thread.

At step 0, every `spectral.every` steps and at the last step, the loop dispatches `probe_fn`, a
jitted function of its own (not a branch of the train step). It merges the parameters into the
model, lists the watched matrices (full matrices, even when parameters are sharded: jit gathers
them), computes singular values and metrics, and hands them to the host with
`jax.experimental.io_callback`. The callback only enqueues; a writer thread saves each snapshot
to the spectra store (Orbax) and TensorBoard, so the loop never waits on disk. Only process 0
writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import io_callback
from jax.sharding import Mesh

from spectral_jax.host_blas import single_threaded_blas
from spectral_jax.matrices import (
    available_kinds,
    default_kinds,
    kind_layers,
    matrix_shapes,
    named_matrices,
)
from spectral_jax.metrics import METRIC_DEFINITIONS_VERSION, METRIC_NAMES
from spectral_jax.probe import degenerate_entries, probe
from spectral_jax.store import SpectraStore, SpectraWriter
from train.config import Config
from train.mesh import replicated
from train.spectral_tb import SpectralTensorBoard

log = logging.getLogger("spectral_jax.train")
WRITER_NICENESS = 10
WRITE_TIMEOUT_S = 600.0


def watched_kinds(config: Config) -> tuple[str, ...]:
    """The kinds the probe records: `spectral.kinds`, or every per-layer kind of the model."""
    if config.spectral.kinds is None:
        return default_kinds(config.model)
    missing = [k for k in config.spectral.kinds if k not in available_kinds(config.model)]
    if missing:
        raise ValueError(f"spectral.kinds: this model has no '{missing[0]}' matrices")
    return tuple(sorted(set(config.spectral.kinds), key=config.spectral.kinds.index))


def spectra_meta(config: Config, kinds: tuple[str, ...]) -> dict:
    """meta.json of the spectra store: what was probed and how to read it."""
    shapes = matrix_shapes(config.model)
    ordered = sorted(kinds)  # the probe orders kinds alphabetically
    return {
        "metrics_version": METRIC_DEFINITIONS_VERSION,
        "model": config.model.describe(),
        "kinds": ordered,
        "layers": kind_layers(config.model, ordered),
        "shapes": {k: list(shapes[k]) for k in ordered},
        "metrics": list(METRIC_NAMES),
        "save_sigma": config.spectral.save_sigma,
        "method": config.spectral.method,
        "every": config.spectral.every,
    }


def _lower_thread_priority() -> None:
    """Nice the calling thread (Linux: per-thread), so that writing spectra yields the cores to
    the training step's compute threads and runs in their idle gaps."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux / not permitted: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)


class SpectralMonitor:
    """Owns the probe function, the writer thread, the spectra store and spectral TensorBoard."""

    def __init__(
        self,
        config: Config,
        graphdef: nnx.GraphDef,
        rest: nnx.State,
        run_dir: Path,
        mesh: Mesh,
        is_primary: bool,
        start_step: int,
    ) -> None:
        self.every = config.spectral.every
        kinds = watched_kinds(config)
        meta = spectra_meta(config, kinds)
        self.layers = meta["layers"]
        self._queue: queue.Queue = queue.Queue()
        self._failure: BaseException | None = None
        self._unwritten: set[int] = set()  # dispatched steps the writer has not finished
        self._written = threading.Condition()
        self.last = config.train.steps
        first_written = start_step if self.is_probe_step(start_step) else start_step + 1
        self.store = SpectraWriter(
            run_dir / "spectra", meta, is_primary=is_primary, from_step=first_written
        )
        self.tb: SpectralTensorBoard | None = None
        self._thread: threading.Thread | None = None
        if is_primary:
            # Entries past the restored step are recomputed: nothing missing, nothing doubled.
            # The restored step's own entry is recomputed when it is a probe step (it may be
            # half-written); otherwise (a finished run resumed with more steps: its old final
            # step) it is kept.
            self.store.truncate_after(first_written - 1)
            self.tb = SpectralTensorBoard(
                run_dir / "tb",
                self.layers,
                purge_step=start_step or None,
                heatmap_every=config.spectral.heatmap_every,
            )
            self._replay(SpectraStore(run_dir / "spectra"), start_step)
            self._thread = threading.Thread(
                target=self._write_loop, name="spectra-writer", daemon=True
            )
            self._thread.start()
        method, save_sigma = config.spectral.method, config.spectral.save_sigma

        def send(step: np.ndarray, entry: dict) -> None:
            if is_primary:
                self._queue.put((int(step), entry))

        def probe_fn(params: nnx.State, step: jax.Array) -> None:
            entry = probe(named_matrices(nnx.merge(graphdef, params, rest), kinds), method)
            if not save_sigma:
                entry = {"metrics": entry["metrics"]}
            io_callback(send, None, step, entry, ordered=False)

        self._probe = jax.jit(probe_fn, in_shardings=(replicated(mesh), replicated(mesh)))
        self._cleanup = contextlib.ExitStack()  # closed by close()
        self._cleanup.enter_context(single_threaded_blas())

    @classmethod
    def create(
        cls,
        config: Config,
        graphdef: nnx.GraphDef,
        rest: nnx.State,
        run_dir: Path,
        mesh: Mesh,
        is_primary: bool,
        start_step: int,
    ) -> SpectralMonitor | None:
        """A monitor, or None when `spectral.every` is 0."""
        if config.spectral.every == 0:
            return None
        return cls(config, graphdef, rest, run_dir, mesh, is_primary, start_step)

    def _replay(self, kept: SpectraStore, start_step: int) -> None:
        """Hand the snapshots kept from before a restart to TensorBoard, so heatmaps span the
        whole run. A kept entry at the restored step itself gets its scalars written again:
        TensorBoard purges events from the restored step on."""
        assert self.tb is not None
        for step in kept.steps():
            if step == start_step:
                self.tb.write(step, kept.load(step))
            else:
                self.tb.remember(step, kept.load(step))

    def is_probe_step(self, step: int) -> bool:
        """Step 0, every `spectral.every` steps, and the last step."""
        return step % self.every == 0 or step == self.last

    def probe(self, params: nnx.State, step: int) -> None:
        """Dispatch a snapshot of `params` at `step`; returns without waiting for it."""
        self._raise_failure()
        if self._thread is not None:
            with self._written:
                self._unwritten.add(step)
        self._probe(params, jnp.asarray(step, jnp.int32))

    def wait_for_entries_before(self, step: int, timeout: float = WRITE_TIMEOUT_S) -> None:
        """Block until every snapshot dispatched for a step before `step` is on disk.

        The trainer calls this before it checkpoints `step`: a resume then recomputes entries
        from the checkpoint on and finds every earlier one written, so a crash leaves no gap.
        Those entries were dispatched at least one probe interval ago, so this rarely waits.
        """
        if self._thread is None:
            return
        with self._written:
            done = self._written.wait_for(
                lambda: self._failure is not None or all(s >= step for s in self._unwritten),
                timeout=timeout,
            )
        self._raise_failure()
        if not done:
            late = sorted(s for s in self._unwritten if s < step)
            raise RuntimeError(f"spectra of steps {late} not written after {timeout:.0f} s")

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"spectra writer failed: {self._failure}") from self._failure

    def _write_loop(self) -> None:
        _lower_thread_priority()
        while True:
            item = self._queue.get()
            if item is None:
                return
            step, entry = item
            try:
                bad = degenerate_entries(entry, self.layers)
                if bad:
                    names = ", ".join(f"(layer {layer}, {kind})" for layer, kind in bad)
                    log.warning("step %d: degenerate spectra, metrics are NaN for %s", step, names)
                self.store.write(step, entry)
                if self.tb is not None:
                    self.tb.write(step, entry)
            except BaseException as err:  # reported on the next probe() or close()
                self._failure = err
            finally:
                with self._written:
                    self._unwritten.discard(step)
                    self._written.notify_all()

    def close(self) -> None:
        """Wait for every dispatched snapshot to be written, then close the store."""
        jax.effects_barrier()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self.store.close()
        if self.tb is not None:
            self.tb.close()
        self._cleanup.close()
        self._raise_failure()
