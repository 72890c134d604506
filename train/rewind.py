"""Rewind a run directory to a checkpoint: the one place a resumed run removes what it wrote.

A run restored from its checkpoint at step S will recompute every step after S. Before it
starts, `rewind(run_dir, S)` makes the training log, the spectra store and the TensorBoard event
files say exactly what they said when the run was at S, so nothing is missing or doubled after
the resume. A fresh start (`step=None`) removes all three.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from spectral_jax.run_layout import SPECTRA, TENSORBOARD, TRAINING_LOG
from spectral_jax.store import SpectraStore, truncate_after
from train.tb_events import event_files, filter_event_file
from train.tensorboard import EVENTS_SUFFIX as SPECTRAL_EVENTS_SUFFIX

log = logging.getLogger("spectral_jax.train")


def rewind(run_dir: Path, step: int | None) -> None:
    """Drop every log row, spectra entry and TensorBoard event past `step` (all of them when
    `step` is None). Spectral TensorBoard events are kept only for steps the store kept, so the
    two agree even after a crash between writing one and the other."""
    run_dir = Path(run_dir)
    spectra, tb = run_dir / SPECTRA, run_dir / TENSORBOARD
    if step is None:
        (run_dir / TRAINING_LOG).unlink(missing_ok=True)
        shutil.rmtree(spectra, ignore_errors=True)
        for path in event_files(tb):
            path.unlink()
        return
    _truncate_training_log(run_dir / TRAINING_LOG, step)
    kept_spectra: set[int] = set()
    if (spectra / "meta.json").exists():
        removed = truncate_after(spectra, step)
        if removed:
            log.info("rewound spectra to step %d (removed steps %s)", step, removed)
        kept_spectra = set(SpectraStore(spectra).steps())
    for path in event_files(tb):
        if path.name.endswith(SPECTRAL_EVENTS_SUFFIX):
            filter_event_file(path, kept_spectra.__contains__)
        else:
            filter_event_file(path, lambda s: s <= step)


def _truncate_training_log(path: Path, step: int) -> None:
    """Keep the rows of steps ≤ `step`; a torn last line from a killed process goes too."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step", -1) <= step:
            kept.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept))
    os.replace(tmp, path)
