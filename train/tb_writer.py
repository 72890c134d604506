"""A synchronous TensorBoard event file: `flush()` means every event written is on disk.

tensorboardX's `SummaryWriter` hands events to a background thread, and its `flush()` does not
wait for that thread's queue. A trainer that checkpoints must know what TensorBoard holds (a
resume rewinds it to the checkpoint), so events are written here in the caller's thread: a few
small records per logged step, which costs microseconds. Summaries are built with tensorboardX.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.summary_pb2 import Summary


class EventWriter:
    """Writes events to a new file `events.out.tfevents.<time>.<host>.<id><suffix>` in `logdir`
    (the random id keeps two writers opened in the same second from sharing a file)."""

    def __init__(self, logdir: Path, suffix: str = "") -> None:
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self._file = EventsWriter(str(Path(logdir) / "events"), f".{uuid.uuid4().hex[:8]}{suffix}")

    def add(self, step: int, values: Summary | list[Summary.Value]) -> None:
        """One event holding `values` (a Summary, or its values) at `step`."""
        if not isinstance(values, Summary):
            values = Summary(value=values)
        self._file.write_event(Event(wall_time=time.time(), step=int(step), summary=values))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.add(step, summary.scalar(tag, value))

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self.add(step, summary.histogram(tag, values, "auto"))  # numpy bins over the data

    def image(self, tag: str, hwc: np.ndarray, step: int) -> None:
        """An RGB image, floats in [0, 1], height × width × 3."""
        self.add(step, summary.image(tag, hwc, dataformats="HWC"))

    def text(self, tag: str, text: str, step: int) -> None:
        self.add(step, summary.text(tag, text))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
