"""A pod in miniature: two JAX processes on CPU (gloo collectives) train one run via the CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from spectral_jax.store import SpectraStore
from tests.helpers import REPO, TINY, cli_env, read_metrics, run_cli

ARGS = [*TINY, "train.steps=12", "spectral.every=5", "train.checkpoint_every=5", "optim.lr=1e-2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_processes(run_dir: Path, timeout: float = 240) -> list[tuple[int, str]]:
    """Start process 0 and 1 of one run; (exit code, stderr) of each. Kills both on a hang."""
    cluster = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "train",
                *cluster,
                "--process-id",
                str(i),
                *ARGS,
                f"run.dir={run_dir}",
            ],
            cwd=REPO,
            env=cli_env(devices=1),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        return [(proc.wait(timeout=timeout), proc.stderr.read()) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.stderr.close()


def test_two_processes_train_like_one(tmp_path: Path) -> None:
    """Data parallel across processes: the same losses and spectra as one process on the same
    global batches; checkpoints from both processes; spectra written once, by process 0."""
    results = run_two_processes(tmp_path / "two")
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
