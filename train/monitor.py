"""Spectral monitoring during training: the probe as a step callback (`train/callbacks.py`).

The loop registers the monitor with `spectral.every` (step 0, every N steps and the last step).
Its device half, `inside_step`, dispatches the probe: a jitted function of its own (not a branch
of the train step) that merges the parameters into the model, lists the watched matrices,
computes singular values and metrics with each shape group's stack divided over the mesh's
devices (`probe(..., mesh=mesh)`: FSDP-sharded matrices reach their devices group by group,
never all gathered at once), and hands them to the host with `jax.experimental.io_callback`
(which gathers the small results once); the callback only enqueues them for the sink thread
(`train/spectra_sink.py`), which runs the host half, `on_step`: the spectra store entry, then
spectral TensorBoard and the layer-health rules. Dispatch returns at once; the loop never waits
on the probe's disk writes, except before a checkpoint (`wait_for_entries_before`). Only
process 0 writes.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import io_callback
from jax.sharding import Mesh

from spectral_jax.health import HealthEvent
from spectral_jax.host_blas import single_threaded_blas
from spectral_jax.matrices import matrix_shapes, named_matrices
from spectral_jax.probe import degenerate_entries, probe, splits_over
from spectral_jax.run_layout import SPECTRA, TENSORBOARD
from spectral_jax.store import SpectraStore, SpectraWriter, check_appendable, is_store
from train.callbacks import Schedule
from train.config import Config
from train.health_watch import HealthWatch
from train.mesh import replicated
from train.spectra_meta import spectra_meta, watched_kinds
from train.spectra_sink import SpectraSink
from train.tensorboard import SpectralTensorBoard
from train.training_log import TrainingLog

log = logging.getLogger("spectral_jax.train")


class SpectralMonitor:
    """The probe as a step callback (`inside_step` on the device, `on_step` on the host); a
    context manager around the monitored loop.

    Constructing it checks the run's spectra store can take its entries and writes nothing;
    `start(step)` opens the store, TensorBoard and the sink (process 0) and holds BLAS at one
    thread until `close()`; `health_stop(step)` says when a rule in `spectral.health.stop_on`
    has fired. `schedule`: the probe steps, the one the loop registers it with.
    """

    def __init__(
        self,
        config: Config,
        graphdef: nnx.GraphDef,
        rest: nnx.State,
        mesh: Mesh,
        run_dir: Path,
        is_primary: bool,
        schedule: Schedule,
    ) -> None:
        self.schedule = schedule
        self.heatmap_every = config.spectral.heatmap_every
        self.health = config.spectral.health
        kinds = watched_kinds(config)
        self.meta = spectra_meta(config, kinds)
        self.store_path, self.tb_path = run_dir / SPECTRA, run_dir / TENSORBOARD
        self.is_primary = is_primary
        if is_primary:
            check_appendable(self.store_path, self.meta)
        self._sink: SpectraSink | None = None
        self._writer: SpectraWriter | None = None
        self._tensorboard: SpectralTensorBoard | None = None
        self._health: HealthWatch | None = None
        self._resources = contextlib.ExitStack()
        method, save_sigma = config.spectral.method, config.spectral.save_sigma

        def send(step: np.ndarray, entry: dict) -> None:
            if self._sink is not None:
                self._sink.put(int(step), entry)

        # Simulated CPU devices cannot run the host (callback) route split (`splits_over`): one
        # process moves the parameters to its first device and probes there; several processes
        # (one CPU device each) gather them into every process, as before FSDP.
        shapes = matrix_shapes(config.model)
        whole = mesh.devices.flat[0].platform == "cpu" and not all(
            splits_over(shapes[kind], method, mesh) for kind in kinds
        )
        self._device = mesh.devices.flat[0] if whole and jax.process_count() == 1 else None
        probe_mesh = None if whole else mesh

        def probe_fn(params: nnx.State, step: jax.Array) -> None:
            named = named_matrices(nnx.merge(graphdef, params, rest), kinds)
            entry = probe(named, method, mesh=probe_mesh)
            if not save_sigma:
                entry = {"metrics": entry["metrics"]}
            io_callback(send, None, step, entry, ordered=False)

        gathered = whole and self._device is None
        self._probe = jax.jit(
            probe_fn, in_shardings=(replicated(mesh), replicated(mesh)) if gathered else None
        )

    def start(self, step: int, training_log: TrainingLog | None = None) -> SpectralMonitor:
        """Open the sink for a run (re)starting at `step`: heatmaps and the health rules replay
        the snapshots kept from before it, and the history in meta.json dates a settings change
        from here. Health events go to `training_log` (from the sink's thread)."""
        self._resources.enter_context(single_threaded_blas())
        if not self.is_primary:
            return self
        kept = SpectraStore(self.store_path) if is_store(self.store_path) else None
        kept_steps = kept.steps() if kept else []
        first = step if self.schedule(step) and step not in kept_steps else step + 1
        self._writer = SpectraWriter(self.store_path, self.meta, from_step=first)
        self._resources.callback(self._writer.close)
        self._tensorboard = SpectralTensorBoard(
            self.tb_path, self.meta["layers"], heatmap_every=self.heatmap_every
        )
        self._resources.callback(self._tensorboard.close)
        record = training_log.event if training_log is not None else lambda row: None
        self._health = HealthWatch(
            self.health, self.meta["layers"], self._tensorboard.writer, record
        )
        for kept_step in kept_steps:
            entry = kept.load(kept_step)
            self._tensorboard.remember(kept_step, entry)
            self._health.replay(kept_step, entry)  # first-snapshot references, streaks: the run's
        self._sink = SpectraSink(self.on_step, kept_steps)
        return self

    def __enter__(self) -> SpectralMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inside_step(self, step: int, state: dict) -> None:
        """The device half, at a probe step: snapshot the parameters of `state`."""
        self.dispatch(step, state["params"])

    def dispatch(self, step: int, params: nnx.State) -> None:
        """Start a snapshot of `params` at `step`; returns without waiting for it."""
        if self._sink is not None:
            self._sink.expect(step)
        if self._device is not None:
            params = jax.device_put(params, self._device)
        self._probe(params, jnp.asarray(step, jnp.int32))

    def on_step(self, step: int, entry: dict) -> None:
        """The host half (the sink thread): write the snapshot to the store, then TensorBoard,
        judge it by the health rules, and flush TensorBoard with its entry (a resume keeps both
        or neither)."""
        bad = degenerate_entries(entry, self.meta["layers"])
        if bad:
            names = ", ".join(f"(layer {layer}, {kind})" for layer, kind in bad)
            log.warning("step %d: degenerate spectra, metrics are NaN for %s", step, names)
        self._writer.write(step, entry)
        self._tensorboard.write(step, entry)
        self._health.observe(step, entry)
        self._tensorboard.flush()

    def health_stop(self, step: int) -> str | None:
        """The message of the rule of `spectral.health.stop_on` that started at a snapshot
        before `step`, when `step` is a probe step (None otherwise, and when none did).

        Called by the loop after `step`: a run stops at the first probe step after the snapshot
        where the rule fired, whatever the sink's pace. Waiting for the earlier snapshots to be
        judged rarely waits (they were dispatched a probe interval ago), and only runs with
        `stop_on` do it. Only process 0 judges snapshots; it tells the others (a broadcast)."""
        if not self.health.stop_on or not self.schedule(step):
            return None
        self.wait_for_entries_before(step)
        event: HealthEvent | None = self._health.stop if self._health is not None else None
        if jax.process_count() == 1:
            return event.message if event is not None else None
        from jax.experimental import multihost_utils

        if not int(multihost_utils.broadcast_one_to_all(np.int32(event is not None))):
            return None
        return event.message if event is not None else "a rule of spectral.health.stop_on fired"

    def wait_for_entries_before(self, step: int) -> None:
        """Block until every snapshot of a step before `step` is on disk.

        The trainer calls this before it checkpoints `step`: a resume then recomputes entries
        from the checkpoint on and finds every earlier one written, so a crash leaves no gap.
        Those entries were dispatched at least one probe interval ago, so this rarely waits.
        """
        if self._sink is not None:
            self._sink.wait_for_entries_before(step)

    def close(self) -> None:
        """Wait for every dispatched snapshot to be written, then close the sink, the store
        and TensorBoard."""
        jax.effects_barrier()
        try:
            if self._sink is not None:
                self._sink.close()
        finally:
            self._sink = None
            self._resources.close()


class DisabledMonitor:
    """The monitor of a run with `spectral.every=0`: the same interface, doing nothing."""

    def start(self, step: int, training_log: TrainingLog | None = None) -> DisabledMonitor:
        return self

    def inside_step(self, step: int, state: dict) -> None:
        pass

    def on_step(self, step: int, entry: dict) -> None:
        pass

    def health_stop(self, step: int) -> str | None:
        return None

    def __enter__(self) -> DisabledMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def wait_for_entries_before(self, step: int) -> None:
        pass
