"""The sink thread: the host side of the spectral monitor, off the training loop's thread.

`put` only enqueues (it runs inside the probe's `io_callback`, so it must not block); a niced
thread hands each snapshot to the monitor's `on_step` (which writes the spectra store, spectral
TensorBoard and the health rules' verdicts), so the training loop never waits on disk or on the
rules. `expect`/`wait_for_entries_before` let the loop wait for snapshots before a checkpoint.
Process 0 only.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterable

WRITER_NICENESS = 10
WRITE_TIMEOUT_S = 600.0


def _lower_thread_priority() -> None:
    """Nice the calling thread (Linux: per-thread), so that writing spectra yields the cores to
    the training step's compute threads and runs in their idle gaps."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux / not permitted: as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)


class SpectraSink:
    """Runs `on_step(step, entry)` for every snapshot put, in a thread, in order.

    `already_written`: steps the store holds from before a restart. A snapshot recomputed for
    one of them (the restored step) is identical and is not handed over (written or judged)
    twice.
    """

    def __init__(
        self, on_step: Callable[[int, dict], None], already_written: Iterable[int] = ()
    ) -> None:
        self.on_step = on_step
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

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"spectra writer failed: {self._failure}") from self._failure

    def _run(self) -> None:
        _lower_thread_priority()
        while (item := self._queue.get()) is not None:
            step, entry = item
            try:
                if step not in self._already_written:
                    self.on_step(step, entry)
            except BaseException as err:  # reported on the next expect() or close()
                self._failure = err
            finally:
                with self._written:
                    self._unwritten.discard(step)
                    self._written.notify_all()

    def close(self) -> None:
        """Hand over what is queued, stop the thread, and raise what failed in it."""
        self._queue.put(None)
        self._thread.join()
        self.raise_failure()
