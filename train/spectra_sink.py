"""The sink thread: takes probe results off the io_callback and writes them to disk.

`put` only enqueues (it runs inside the io_callback, so it must not block); a niced thread
writes each snapshot to the spectra store (Orbax) and then to spectral TensorBoard, and judges
it by the layer-health rules (`train/health_watch.py`), so the training loop never waits on disk
or on the rules. Process 0 only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Iterable

from spectral_jax.health import HealthEvent
from spectral_jax.probe import degenerate_entries
from spectral_jax.store import SpectraWriter
from train.health_watch import HealthWatch
from train.spectral_tb import SpectralTensorBoard

log = logging.getLogger("spectral_jax.train")
WRITER_NICENESS = 10
WRITE_TIMEOUT_S = 600.0


def _lower_thread_priority() -> None:
    """Nice the calling thread (Linux: per-thread), so that writing spectra yields the cores to
    the training step's compute threads and runs in their idle gaps."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux / not permitted: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)


class SpectraSink:
    """Owns the spectra writer and spectral TensorBoard; writes snapshots in a thread.

    `already_written`: steps the store holds from before a restart. A snapshot recomputed for
    one of them (the restored step) is identical and is not written (or judged) twice.
    `health`: the health rules, fed every snapshot written.
    """

    def __init__(
        self,
        writer: SpectraWriter,
        tensorboard: SpectralTensorBoard,
        layers: dict[str, list[int]],
        already_written: Iterable[int] = (),
        health: HealthWatch | None = None,
    ) -> None:
        self.writer, self.tensorboard, self.layers = writer, tensorboard, layers
        self.health = health
        self._already_written = set(already_written)
        self._queue: queue.Queue = queue.Queue()
        self._failure: BaseException | None = None
        self._unwritten: set[int] = set()  # expected steps the thread has not finished
        self._written = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="spectra-sink", daemon=True)
        self._thread.start()

    def expect(self, step: int) -> None:
        """Note that a snapshot of `step` is on its way (called before dispatching it)."""
        self.raise_failure()
        with self._written:
            self._unwritten.add(step)

    def put(self, step: int, entry: dict) -> None:
        """Hand over one snapshot (numpy, the store's entry layout); never blocks."""
        self._queue.put((step, entry))

    def wait_for_entries_before(self, step: int, timeout: float = WRITE_TIMEOUT_S) -> None:
        """Block until every expected snapshot of a step before `step` is on disk."""
        with self._written:
            done = self._written.wait_for(
                lambda: self._failure is not None or all(s >= step for s in self._unwritten),
                timeout=timeout,
            )
        self.raise_failure()
        if not done:
            late = sorted(s for s in self._unwritten if s < step)
            raise RuntimeError(f"spectra of steps {late} not written after {timeout:.0f} s")

    @property
    def health_stop(self) -> HealthEvent | None:
        """The first start of a rule in `spectral.health.stop_on`, once the thread has seen it."""
        return self.health.stop if self.health is not None else None

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"spectra writer failed: {self._failure}") from self._failure

    def _run(self) -> None:
        _lower_thread_priority()
        while (item := self._queue.get()) is not None:
            step, entry = item
            try:
                if step not in self._already_written:
                    self._write(step, entry)
            except BaseException as err:  # reported on the next expect() or close()
                self._failure = err
            finally:
                with self._written:
                    self._unwritten.discard(step)
                    self._written.notify_all()

    def _write(self, step: int, entry: dict) -> None:
        bad = degenerate_entries(entry, self.layers)
        if bad:
            names = ", ".join(f"(layer {layer}, {kind})" for layer, kind in bad)
            log.warning("step %d: degenerate spectra, metrics are NaN for %s", step, names)
        self.writer.write(step, entry)
        self.tensorboard.write(step, entry)
        if self.health is not None:
            self.health.observe(step, entry)
        self.tensorboard.flush()  # on disk with its entry: a resume keeps both or neither

    def close(self) -> None:
        """Write what is queued, then close the store and TensorBoard."""
        self._queue.put(None)
        self._thread.join()
        self.writer.close()
        self.tensorboard.close()
        self.raise_failure()
