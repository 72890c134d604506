"""Per-process sharding of validation: two processes evaluate the same global batches as one
(slow: three trainer processes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TINY, read_metrics, run_cli, run_two_processes

ARGS = [
    *TINY,
    "train.steps=4",
    "train.eval_every=2",
    "train.eval_batches=2",
    "spectral.every=0",
    "optim.lr=1e-2",
]


@pytest.mark.slow
def test_two_processes_validate_like_one(tmp_path: Path) -> None:
    """Each process evaluates its own rows of every validation batch: the mean over both equals
    the single-process validation loss (evaluating the same rows twice would not)."""
    results = run_two_processes([*ARGS, f"run.dir={tmp_path / 'two'}"], timeout=240)
    for rank, (code, err) in enumerate(results):
        assert code == 0, f"process {rank} exited {code}:\n{err[-3000:]}"
    single = run_cli([*ARGS, f"run.dir={tmp_path / 'one'}"])
    assert single.returncode == 0, single.stderr[-3000:]

    def val_losses(run_dir: Path) -> dict[int, float]:
        return {r["step"]: r["val_loss"] for r in read_metrics(run_dir) if "val_loss" in r}

    two, one = val_losses(tmp_path / "two"), val_losses(tmp_path / "one")
    assert sorted(two) == sorted(one) == [2, 4]
    np.testing.assert_allclose([two[s] for s in (2, 4)], [one[s] for s in (2, 4)], rtol=1e-5)
    train_two, train_one = read_metrics(tmp_path / "two"), read_metrics(tmp_path / "one")
    np.testing.assert_allclose(
        [r["loss"] for r in train_two if "loss" in r],
        [r["loss"] for r in train_one if "loss" in r],
        rtol=1e-5,
    )
