"""Checkpoints: exact resume after SIGKILL, clean exit on SIGTERM, refusals that keep data."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spectral_jax.store import SpectraStore
from tests.helpers import REPO, cli_env, read_metrics, run_cli


def _train_losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if "loss" in r}


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "train", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_step(run_dir: Path, proc: subprocess.Popen, step: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if max(_train_losses(run_dir), default=0) >= step:
            return
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"step {step} not reached")


def test_sigkill_then_resume_is_bitwise_exact(tmp_path: Path, tiny: list[str]) -> None:
    common = [
        *tiny,
        "train.steps=60",
        "train.checkpoint_every=10",
        "spectral.every=10",
        "train.eval_every=20",
    ]
    straight = run_cli([*common, f"run.dir={tmp_path / 'straight'}"])
    assert straight.returncode == 0, straight.stderr

    killed_dir = tmp_path / "killed"
    # Slow the first attempt down so the kill lands mid-run, between checkpoints.
    proc = _start([*common, f"run.dir={killed_dir}"])
    _wait_for_step(killed_dir, proc, 25)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert max(_train_losses(killed_dir)) < 60
    resumed = run_cli([*common, f"run.dir={killed_dir}"])
    assert resumed.returncode == 0, resumed.stderr

    a, b = _train_losses(tmp_path / "straight"), _train_losses(killed_dir)
    assert sorted(a) == sorted(b) == list(range(1, 61))  # no step missing or doubled
    assert a[60] == b[60]  # bitwise: same float
    assert all(a[s] == b[s] for s in a)
    # The spectra store is gap-free and duplicate-free, and equals the uninterrupted run's.
    straight_store = SpectraStore(tmp_path / "straight" / "spectra")
    killed_store = SpectraStore(killed_dir / "spectra")
    assert straight_store.steps() == killed_store.steps() == list(range(0, 61, 10))
    pd.testing.assert_frame_equal(straight_store.metrics_frame(), killed_store.metrics_frame())
    index = np.fromfile(killed_dir / "spectra" / "index.bin", dtype=killed_store._dtype)
    assert sorted(index["step"].tolist()) == list(range(0, 61, 10))


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path: Path, tiny: list[str]) -> None:
    run_dir = tmp_path / "run"
    args = [
        *tiny,
        "train.steps=100000",
        "train.checkpoint_every=0",
        "spectral.every=0",
        f"run.dir={run_dir}",
    ]
    proc = _start(args)
    _wait_for_step(run_dir, proc, 5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "preempted (checkpoint saved)" in out
    saved = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and saved[-1] >= 5
    # The last logged step is the checkpointed one: nothing was trained and lost.
    assert max(_train_losses(run_dir)) == saved[-1]


def test_resume_with_a_different_config_refuses(tmp_path: Path, tiny: list[str]) -> None:
    run_dir = tmp_path / "run"
    first = run_cli([*tiny, "train.steps=3", "spectral.every=0", f"run.dir={run_dir}"])
    assert first.returncode == 0, first.stderr
    before = (run_dir / "config.yaml").read_text()
    again = run_cli(
        [*tiny, "train.steps=3", "spectral.every=0", "optim.lr=0.5", f"run.dir={run_dir}"]
    )
    assert again.returncode == 1
    assert "different config (keys: optim.lr)" in again.stderr
    assert "Traceback" not in again.stderr
    assert (run_dir / "config.yaml").read_text() == before


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path: Path, tiny: list[str]) -> None:
    run_dir = tmp_path / "run"
    args = [*tiny, "train.steps=4", "spectral.every=0", f"run.dir={run_dir}"]
    assert run_cli(args).returncode == 0
    step_dir = run_dir / "checkpoints" / "4"
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "data" not in f.parts[-2:]:
            f.write_bytes(b"garbage")
    proc = run_cli(
        [
            *tiny,
            "train.steps=8",
            "spectral.every=0",
            "run.allow_config_change=true",
            f"run.dir={run_dir}",
        ]
    )
    assert proc.returncode == 1
    assert str(step_dir) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert step_dir.exists()  # the damaged checkpoint is left for the user to inspect


def test_unwritable_run_dir_is_a_one_line_error(tmp_path: Path, tiny: list[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    proc = run_cli([*tiny, "train.steps=2", f"run.dir={blocker / 'run'}"])
    assert proc.returncode == 1
    assert f"run directory {blocker / 'run'}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
