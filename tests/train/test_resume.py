"""Resume: exact after a crash at any point, clean SIGTERM exit, fallbacks and refusals that
keep data, and the run-directory lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectral_jax.store import SpectraStore
from tests.helpers import (
    REPO,
    cli_env,
    damage_binary_files,
    read_metrics,
    run_cli,
    tag_steps,
    train_losses,
)

# Runs the trainer CLI in-process with a hook that signals the process itself at a known point:
# `python -c HOOKED <point> <step> <signal> [trainer args...]`.
HOOKED = """
import os, signal, sys
import train.loop, train.monitor, train.training_log
from train.__main__ import main

point, at, signum = sys.argv[1], int(sys.argv[2]), getattr(signal, sys.argv[3])

def fire():
    os.kill(os.getpid(), signum)

def after(cls, name, when):
    original = getattr(cls, name)
    def hooked(self, step, *args, **kwargs):
        out = original(self, step, *args, **kwargs)
        if step == at and when(args, kwargs):
            if name == "save":
                self.wait()  # the checkpoint is complete on disk
            fire()
        return out
    setattr(cls, name, hooked)

if point == "checkpoint":  # right after the checkpoint at `at` is on disk
    after(train.loop.Checkpointer, "save", lambda a, k: True)
elif point == "probe":  # right after dispatching the snapshot of `at` (not yet written)
    after(train.monitor.SpectralMonitor, "dispatch", lambda a, k: True)
elif point == "log":  # right after the training-log row of `at`
    after(train.training_log.TrainingLog, "log", lambda a, k: "loss" in a[0])
sys.exit(main(sys.argv[4:]))
"""


def run_hooked(
    point: str, step: int, signal_name: str, args: list[str]
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HOOKED, point, str(step), signal_name, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=300,
    )


CRASH_ARGS = [
    "train.steps=40",
    "train.checkpoint_every=10",
    "spectral.every=5",
    "train.eval_every=20",
]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers import TINY

    run_dir = tmp_path_factory.mktemp("straight")
    proc = run_cli([*TINY, *CRASH_ARGS, f"run.dir={run_dir}"])
    assert proc.returncode == 0, proc.stderr
    return run_dir


@pytest.mark.parametrize(
    ("point", "step"),
    [("checkpoint", 20), ("probe", 25), ("log", 27)],
    ids=["at-a-checkpoint", "at-a-probe-step", "between-checkpoints"],
)
def test_crash_then_resume_is_exact_and_consistent(
    straight_run: Path, tmp_path: Path, tiny: list[str], point: str, step: int
) -> None:
    """SIGKILL at a checkpoint, at a probe step and between them; the resumed run's losses,
    spectra and TensorBoard events equal an uninterrupted run's: nothing missing or doubled."""
    args = [*tiny, *CRASH_ARGS, f"run.dir={tmp_path}"]
    crashed = run_hooked(point, step, "SIGKILL", args)
    assert crashed.returncode == -9, crashed.stderr
    assert max(train_losses(tmp_path)) >= step - 1
    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr

    a, b = train_losses(straight_run), train_losses(tmp_path)
    assert [r["step"] for r in read_metrics(tmp_path) if "loss" in r] == list(range(1, 41))
    assert all(a[s] == b[s] for s in a)  # bitwise: same floats
    evals = [r["step"] for r in read_metrics(tmp_path) if "val_loss" in r]
    assert evals == [20, 40]

    store, reference = SpectraStore(tmp_path / "spectra"), SpectraStore(straight_run / "spectra")
    assert store.steps() == reference.steps() == list(range(0, 41, 5))
    pd.testing.assert_frame_equal(store.metrics_frame(), reference.metrics_frame())
    index = np.fromfile(tmp_path / "spectra" / "index.bin", dtype=store._dtype)
    assert sorted(index["step"].tolist()) == list(range(0, 41, 5))

    # TensorBoard holds each step exactly once, as the log and the store do.
    tb = tmp_path / "tb"
    assert tag_steps(tb, "train/loss") == list(range(1, 41))
    assert tag_steps(tb, "eval/val_loss") == [20, 40]
    assert sorted(tag_steps(tb, "spectral/stable_rank/q/L00")) == list(range(0, 41, 5))


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path: Path, tiny: list[str]) -> None:
    """SIGTERM during step 6 (after step 5's log row): the loop saves step 6 and exits 0."""
    args = [*tiny, "train.steps=1000", "train.checkpoint_every=0", f"run.dir={tmp_path}"]
    proc = run_hooked("log", 5, "SIGTERM", args)
    assert proc.returncode == 0, proc.stderr
    assert "preempted (checkpoint saved): step 6" in proc.stdout
    saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert saved == [6]
    # The last logged step is the checkpointed one: nothing was trained and lost.
    assert max(train_losses(tmp_path)) == 6


def test_resume_with_a_different_config_refuses(tmp_path: Path, tiny: list[str]) -> None:
    run_dir = tmp_path / "run"
    first = run_cli([*tiny, "train.steps=3", "spectral.every=0", f"run.dir={run_dir}"])
    assert first.returncode == 0, first.stderr
    before = (run_dir / "config.yaml").read_text()
    again = run_cli(
        [*tiny, "train.steps=3", "spectral.every=0", "optim.lr=0.5", f"run.dir={run_dir}"]
    )
    assert again.returncode == 2  # bad input: nothing trained
    assert "different config (keys: optim.lr)" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert (run_dir / "config.yaml").read_text() == before


def test_corrupt_latest_checkpoint_falls_back_to_the_newest_older_one(
    straight_run: Path, tmp_path: Path, tiny: list[str]
) -> None:
    """Checkpoints at 10, 20 and 30, the one at 30 damaged: one line says so and where it went,
    the run resumes from 20 (not 10), and ends bitwise where an uninterrupted run ends."""
    args = [*tiny, *CRASH_ARGS, f"run.dir={tmp_path}"]
    crashed = run_hooked("checkpoint", 30, "SIGKILL", args)
    assert crashed.returncode == -9, crashed.stderr
    checkpoints = tmp_path / "checkpoints"
    assert sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit()) == [10, 20, 30]
    damage_binary_files(checkpoints / "30")

    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr + resumed.stdout
    assert len(resumed.stderr.strip().splitlines()) <= 5, resumed.stderr  # memory, 1 per event
    moved = tmp_path / "corrupt_checkpoints" / "30"
    [line] = [x for x in resumed.stderr.splitlines() if "checkpoint at step 30" in x]
    assert line.startswith("checkpoint at step 30 is corrupt (state/")
    assert line.endswith(f"; moved it to {moved}")
    assert f"resumed {tmp_path} from step 20" in resumed.stderr
    assert sorted(p.name for p in moved.parent.iterdir()) == ["30"]  # kept for the user
    assert any(moved.rglob("manifest.ocdbt"))

    a, b = train_losses(straight_run), train_losses(tmp_path)
    assert [r["step"] for r in read_metrics(tmp_path) if "loss" in r] == list(range(1, 41))
    assert all(a[s] == b[s] for s in a)  # bitwise: same floats
    store, reference = SpectraStore(tmp_path / "spectra"), SpectraStore(straight_run / "spectra")
    assert store.steps() == reference.steps() == list(range(0, 41, 5))
    pd.testing.assert_frame_equal(store.metrics_frame(), reference.metrics_frame())
    assert sorted(tag_steps(tmp_path / "tb", "train/loss")) == list(range(1, 41))


def damage_the_only_checkpoint(run_dir: Path, tiny: list[str], steps: int) -> list[str]:
    """Train `steps` steps into `run_dir` (no probe) and damage its one checkpoint; returns the
    arguments that resume the run to twice as many steps."""
    args = [*tiny, f"train.steps={steps}", "spectral.every=0", f"run.dir={run_dir}"]
    assert run_cli(args).returncode == 0
    damage_binary_files(run_dir / "checkpoints" / str(steps))
    return [*args, f"train.steps={2 * steps}", "run.allow_config_change=true"]


def test_the_only_checkpoint_corrupt_is_a_one_line_error_that_moves_nothing(
    tmp_path: Path, tiny: list[str]
) -> None:
    run_dir = tmp_path / "run"
    proc = run_cli(damage_the_only_checkpoint(run_dir, tiny, steps=4))
    assert proc.returncode == 2  # docs/training.md: no checkpoint restores is bad input
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert errors == [
        f"error: no checkpoint in {run_dir / 'checkpoints'} restores: checkpoint at step 4 is "
        "corrupt (state/manifest.ocdbt: Error decoding manifest: Encoded length (7) is less "
        "than minimum length (16)); nothing was moved or deleted (move the checkpoints "
        "directory away to start anew, or use another run.dir)"
    ]
    assert "Traceback" not in proc.stderr and "Event loop" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr  # the memory line, the error
    # The cause may be the config, not the files: nothing is moved.
    assert (run_dir / "checkpoints" / "4").exists()
    assert not (run_dir / "corrupt_checkpoints").exists()
    assert len(read_metrics(run_dir)) == 4  # and nothing rewound


def test_debug_adds_the_traceback_of_an_unreadable_checkpoint(
    tmp_path: Path, tiny: list[str]
) -> None:
    again = damage_the_only_checkpoint(tmp_path / "run", tiny, steps=2)
    for proc in (run_cli(["--debug", *again]), run_cli(again, SPECTRAL_JAX_DEBUG="1")):
        assert proc.returncode == 2
        assert "Traceback" in proc.stderr and "DATA_LOSS" in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("error: no checkpoint in ")


HOLD_LOCK = """
import sys
from train.config import load_config
from train.run_dir import open_run_dir
with open_run_dir(load_config(None, sys.argv[1:])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_trainer_on_a_run_dir_in_use_exits_2(tmp_path: Path, tiny: list[str]) -> None:
    args = [*tiny, "train.steps=2", f"run.dir={tmp_path}"]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, *args],
        cwd=REPO,
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = run_cli(args)
        assert proc.returncode == 2
        assert f"run directory {tmp_path} is in use by process {holder.pid}" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "checkpoints").exists()  # nothing was started
    finally:
        holder.communicate("")
    # Released when its holder exits, however it exits: the next trainer takes it over.
    assert run_cli(args).returncode == 0


def test_a_stale_lock_file_is_taken_over(tmp_path: Path, tiny: list[str]) -> None:
    (tmp_path / ".lock").write_text("process 99999999 on gone-host\n")  # no live holder
    proc = run_cli([*tiny, "train.steps=2", "spectral.every=0", f"run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr


def test_unwritable_run_dir_is_a_one_line_error(tmp_path: Path, tiny: list[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    proc = run_cli([*tiny, "train.steps=2", f"run.dir={blocker / 'run'}"])
    assert proc.returncode == 2
    assert f"run directory {blocker / 'run'}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
