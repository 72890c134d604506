"""A pod in miniature: two JAX processes on CPU (gloo collectives) train one run via the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectral_jax.store import SpectraStore
from tests.helpers import TINY, read_metrics, run_cli, run_two_processes

ARGS = [*TINY, "train.steps=12", "spectral.every=5", "train.checkpoint_every=5", "optim.lr=1e-2"]


def test_two_processes_train_like_one(tmp_path: Path) -> None:
    """Data parallel across processes: the same losses and spectra as one process on the same
    global batches; checkpoints from both processes; spectra written once, by process 0."""
    results = run_two_processes([*ARGS, f"run.dir={tmp_path / 'two'}"])
    for rank, (code, err) in enumerate(results):
        assert code == 0, f"process {rank} exited {code}:\n{err[-3000:]}"
    single = run_cli([*ARGS, f"run.dir={tmp_path / 'one'}"])
    assert single.returncode == 0, single.stderr[-3000:]

    two, one = read_metrics(tmp_path / "two"), read_metrics(tmp_path / "one")
    assert [r["step"] for r in two] == [r["step"] for r in one] == list(range(1, 13))
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-5)
    assert sorted(int(p.name) for p in (tmp_path / "two" / "checkpoints").iterdir()) == [5, 10, 12]

    store_two, store_one = (
        SpectraStore(tmp_path / "two" / "spectra"),
        SpectraStore(tmp_path / "one" / "spectra"),
    )
    assert store_two.steps() == store_one.steps() == [0, 5, 10, 12]
    np.testing.assert_allclose(store_two.sigma("q"), store_one.sigma("q"), rtol=1e-4, atol=1e-6)
    frame_two, frame_one = store_two.metrics_frame(), store_one.metrics_frame()
    np.testing.assert_allclose(
        frame_two["stable_rank"].to_numpy(), frame_one["stable_rank"].to_numpy(), rtol=1e-4
    )
