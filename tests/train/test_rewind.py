"""rewind: the training log, the spectra store and TensorBoard cut back to one step together."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spectral_jax.store import SpectraStore, SpectraWriter
from tests.helpers import read_metrics, tag_steps
from train.rewind import rewind
from train.tensorboard import EVENTS_SUFFIX, EventWriter

META = {
    "model": {"layers": 2},
    "kinds": ["q"],
    "layers": {"q": [0, 1]},
    "shapes": {"q": [4, 4]},
    "metrics": ["stable_rank"],
    "save_sigma": False,
}


def entry(step: int) -> dict:
    return {"metrics": {"stable_rank": {"q": np.full(2, step, np.float32)}}}


def written_run(run_dir: Path) -> Path:
    """Steps 1..12 logged, spectra at 0, 4, 8, 12, TensorBoard for both; a torn last log line
    and a spectral event at step 16 whose store entry never made it (a crash in between)."""
    with (run_dir / "metrics.jsonl").open("w") as log:
        for step in range(1, 13):
            log.write(json.dumps({"step": step, "loss": 1.0 / step}) + "\n")
        log.write('{"step": 13, "lo')
    writer = SpectraWriter(run_dir / "spectra", META)
    train_tb, spectral_tb = EventWriter(run_dir / "tb"), EventWriter(run_dir / "tb", EVENTS_SUFFIX)
    for step in range(1, 13):
        train_tb.scalar("train/loss", 1.0 / step, step)
    for step in (0, 4, 8, 12):
        writer.write(step, entry(step))
        spectral_tb.scalar("spectral/stable_rank/q/L00", float(step), step)
    spectral_tb.scalar("spectral/stable_rank/q/L00", 16.0, 16)
    writer.close()
    train_tb.close()
    spectral_tb.close()
    return run_dir


def test_rewind_keeps_exactly_the_steps_up_to_it_everywhere(tmp_path: Path) -> None:
    run_dir = written_run(tmp_path)
    rewind(run_dir, 8)
    assert [row["step"] for row in read_metrics(run_dir)] == list(range(1, 9))
    store = SpectraStore(run_dir / "spectra")
    assert store.steps() == [0, 4, 8]
    assert store.metrics_frame().step.unique().tolist() == [0, 4, 8]
    assert tag_steps(run_dir / "tb", "train/loss") == list(range(1, 9))
    assert tag_steps(run_dir / "tb", "spectral/stable_rank/q/L00") == [0, 4, 8]
    rewind(run_dir, 8)  # idempotent
    assert SpectraStore(run_dir / "spectra").steps() == [0, 4, 8]
    assert tag_steps(run_dir / "tb", "train/loss") == list(range(1, 9))


def test_spectral_events_follow_the_store_not_the_step(tmp_path: Path) -> None:
    """Rewinding past every step keeps the spectral event at 16 out: its entry is missing."""
    run_dir = written_run(tmp_path)
    rewind(run_dir, 100)
    assert tag_steps(run_dir / "tb", "spectral/stable_rank/q/L00") == [0, 4, 8, 12]
    assert tag_steps(run_dir / "tb", "train/loss") == list(range(1, 13))
    assert [row["step"] for row in read_metrics(run_dir)] == list(range(1, 13))  # torn line gone


def test_rewind_to_a_fresh_start_removes_everything(tmp_path: Path) -> None:
    run_dir = written_run(tmp_path)
    (run_dir / "config.yaml").write_text("kept: true\n")
    rewind(run_dir, None)
    assert not (run_dir / "metrics.jsonl").exists()
    assert not (run_dir / "spectra").exists()
    assert tag_steps(run_dir / "tb", "train/loss") == []
    assert (run_dir / "config.yaml").read_text() == "kept: true\n"
