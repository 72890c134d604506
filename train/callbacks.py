"""Step callbacks, in the shape of Levanter's `JitCallback`: a device half run at a step and a
host half that receives what it computed.

The loop registers a callback with the steps it runs at (`Schedule`: step 0, every N steps and
the last step) and calls `Callbacks.inside_step` after every train step. At a scheduled step the
callback's `inside_step(step, state)` dispatches its device work and returns without waiting;
what that work computes reaches the callback's `on_step(step, info)` on the host, in the
callback's own time. The spectral monitor (`train/monitor.py`) is the one callback: its device
half is the jitted probe (a function of its own, not a branch of the train step:
docs/architecture.md), its host half writes the snapshot the probe hands over through
`io_callback` (in the sink thread, `train/spectra_sink.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Schedule:
    """The steps a callback runs at: step 0 (or the step a run resumes from), every `every`
    steps, and the last step."""

    every: int
    last: int

    def __call__(self, step: int) -> bool:
        return step % self.every == 0 or step == self.last


class JitCallback(Protocol):
    """What the loop calls at a scheduled step, and what receives the result on the host."""

    def inside_step(self, step: int, state: dict[str, Any]) -> None:
        """Dispatch the device work for `state` (the train state after `step` updates)."""

    def on_step(self, step: int, info: Any) -> None:
        """Take what `inside_step` computed for `step` (host; possibly another thread)."""


class Callbacks:
    """The registered callbacks, each with its schedule."""

    def __init__(self) -> None:
        self._hooks: list[tuple[JitCallback, Schedule]] = []

    def add(self, callback: JitCallback, *, every: Schedule) -> None:
        self._hooks.append((callback, every))

    def inside_step(self, step: int, state: dict[str, Any]) -> None:
        """Run the device half of every callback scheduled at `step`."""
        for callback, schedule in self._hooks:
            if schedule(step):
                callback.inside_step(step, state)
