"""Exact resume with dropout and a changed probe interval: a run stopped at step 4 and resumed
to step 8 equals an uninterrupted run, and its spectra say which settings made which entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectral_jax.store import SpectraStore
from tests.helpers import TINY, read_metrics, tag_steps, train_losses
from train.config import load_config
from train.loop import train

# Dropout on (its keys must follow the step, not the process), a constant learning rate (so a
# run of 4 steps extended to 8 follows the same schedule as a run of 8), no clipping.
BASE = [
    *TINY,
    "model.dropout=0.1",
    "optim.schedule=constant",
    "optim.warmup_steps=0",
    "optim.lr=1e-2",
    "train.checkpoint_every=0",
]


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """Straight: 8 steps probed every 2. Resumed: 4 steps probed every 4 (entries 0 and 4),
    then extended to 8 probed every 2 (6 and 8; the restored step 4 is kept, not rewritten).
    Losses are bitwise equal, every shared snapshot is equal, and meta.json dates the old
    interval as applying to the entries before step 5."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(load_config(None, [*BASE, "train.steps=8", "spectral.every=2", f"run.dir={straight}"]))
    train(load_config(None, [*BASE, "train.steps=4", "spectral.every=4", f"run.dir={resumed}"]))
    extend = ["train.steps=8", "spectral.every=2", "run.allow_config_change=true"]
    train(load_config(None, [*BASE, *extend, f"run.dir={resumed}"]))

    assert [r["step"] for r in read_metrics(resumed)] == list(range(1, 9))
    a, b = train_losses(straight), train_losses(resumed)
    assert all(a[s] == b[s] for s in range(1, 9)), (a, b)

    store, reference = SpectraStore(resumed / "spectra"), SpectraStore(straight / "spectra")
    assert store.steps() == [0, 4, 6, 8]
    index = np.fromfile(resumed / "spectra" / "index.bin", dtype=store._dtype)
    assert sorted(index["step"].tolist()) == [0, 4, 6, 8]  # each entry written once
    for step in store.steps():
        got, want = store.load(step), reference.load(step)
        for kind, sigma in want["sigma"].items():
            np.testing.assert_allclose(got["sigma"][kind], sigma, rtol=1e-6, err_msg=str(step))
    assert store.meta["every"] == 2
    assert store.meta["history"] == [{"before_step": 5, "every": 4}]
    assert sorted(tag_steps(resumed / "tb", "spectral/stable_rank/q/L00")) == [0, 4, 6, 8]
    assert tag_steps(resumed / "tb", "train/loss") == list(range(1, 9))
