"""Scalar logging to TensorBoard (`RUN/tb`) and `RUN/metrics.jsonl`, process 0 only."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from tensorboardX import SummaryWriter


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Drop rows past `last_step` (a resumed run recomputes them); atomic rewrite."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed process
        if row.get("step", -1) <= last_step:
            kept.append(line)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept))
    os.replace(tmp, path)


def _clean(value: Any) -> Any:
    value = float(value) if hasattr(value, "__float__") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TrainingLog:
    """Writes one JSON line and TensorBoard scalars per logged step."""

    def __init__(self, run_dir: Path, *, resume_step: int | None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.jsonl_path = run_dir / "metrics.jsonl"
        self.tb: SummaryWriter | None = None
        if not enabled:
            return
        if resume_step is not None:
            truncate_jsonl(self.jsonl_path, resume_step)
        else:
            self.jsonl_path.unlink(missing_ok=True)
        purge = None if resume_step is None else resume_step + 1
        self.tb = SummaryWriter(logdir=str(run_dir / "tb"), purge_step=purge, flush_secs=30)
        self._jsonl = self.jsonl_path.open("a", buffering=1)

    def log(self, step: int, values: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: _clean(v) for k, v in values.items()}}
        self._jsonl.write(json.dumps(row) + "\n")
        assert self.tb is not None
        for key, value in row.items():
            if key != "step" and isinstance(value, int | float):
                self.tb.add_scalar(f"{prefix}/{key}", value, global_step=step)

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            assert self.tb is not None
            self.tb.close()
