"""The training log: `RUN/metrics.jsonl` and TensorBoard scalars (loss, lr, ...), process 0 only.

Spectral metrics go to the spectra store instead (see `train/monitor.py`). The log only appends;
a resumed run first rewinds it (`train/rewind.py`).
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from spectral_jax.run_layout import TENSORBOARD, TRAINING_LOG
from train.tensorboard import EventWriter


def _clean(value: Any) -> Any:
    value = float(value) if hasattr(value, "__float__") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TrainingLog:
    """Writes one JSON line and TensorBoard scalars per logged step (a no-op when disabled).

    `event(row)` adds a row from another thread (the spectra sink's health events): writes to
    `metrics.jsonl` go through one lock.
    """

    def __init__(self, run_dir: Path, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        if not enabled:
            return
        self._tb = EventWriter(run_dir / TENSORBOARD)
        self._jsonl = (run_dir / TRAINING_LOG).open("a", buffering=1)

    def __enter__(self) -> TrainingLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self, step: int, values: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: _clean(v) for k, v in values.items()}}
        with self._lock:
            self._jsonl.write(json.dumps(row) + "\n")
        self._tb.scalars(
            step,
            {
                f"{prefix}/{key}": value
                for key, value in row.items()
                if key != "step" and isinstance(value, int | float)
            },
        )

    def event(self, row: dict[str, Any]) -> None:
        """One event row (it carries its `step`, so a rewind keeps or drops it); JSON only."""
        with self._lock:
            if self.enabled:
                self._jsonl.write(json.dumps(row) + "\n")

    def flush(self) -> None:
        """Put every logged row on disk (before a checkpoint: a resume rewinds to it)."""
        if self.enabled:
            with self._lock:
                self._jsonl.flush()
            self._tb.flush()

    def close(self) -> None:
        if self.enabled:
            with self._lock:
                self._jsonl.close()
            self._tb.close()
            self.enabled = False
