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
from tests.helpers import REPO, cli_env, read_metrics, run_cli, tag_steps, train_losses

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
    assert again.returncode == 1
    assert "different config (keys: optim.lr)" in again.stderr
    assert "Traceback" not in again.stderr
    assert (run_dir / "config.yaml").read_text() == before


def _corrupt(step_dir: Path) -> None:
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "data" not in f.parts[-2:]:
            f.write_bytes(b"garbage")


def test_corrupt_latest_checkpoint_falls_back_to_an_older_one(
    tmp_path: Path, tiny: list[str]
) -> None:
    """The newest checkpoint is unreadable: warn naming it, move it aside, resume from the one
    before, rewind logs and spectra to it, and end where an uninterrupted run ends."""
    args = [*tiny, "train.steps=8", "train.checkpoint_every=4", "spectral.every=2"]
    straight = run_cli([*args, f"run.dir={tmp_path / 'straight'}"])
    assert straight.returncode == 0, straight.stderr
    run_dir = tmp_path / "run"
    assert run_cli([*args, f"run.dir={run_dir}"]).returncode == 0
    _corrupt(run_dir / "checkpoints" / "8")
    resumed = run_cli(
        [*args, "train.steps=12", "run.allow_config_change=true", f"run.dir={run_dir}"]
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"cannot restore checkpoint {run_dir / 'checkpoints' / '8'}" in resumed.stderr
    assert (run_dir / "corrupt_checkpoints" / "8").is_dir()  # kept for the user to inspect
    assert "resumed" in resumed.stderr and "from step 4" in resumed.stderr
    losses = [r["step"] for r in read_metrics(run_dir) if "loss" in r]
    assert losses == list(range(1, 13))
    reference = train_losses(tmp_path / "straight")
    assert all(train_losses(run_dir)[s] == reference[s] for s in range(1, 8))
    assert SpectraStore(run_dir / "spectra").steps() == list(range(0, 13, 2))
    assert sorted(tag_steps(run_dir / "tb", "train/loss")) == list(range(1, 13))


def test_the_only_checkpoint_corrupt_is_a_one_line_error_that_moves_nothing(
    tmp_path: Path, tiny: list[str]
) -> None:
    run_dir = tmp_path / "run"
    args = [*tiny, "train.steps=4", "spectral.every=0", f"run.dir={run_dir}"]
    assert run_cli(args).returncode == 0
    step_dir = run_dir / "checkpoints" / "4"
    _corrupt(step_dir)
    proc = run_cli([*args, "train.steps=8", "run.allow_config_change=true"])
    assert proc.returncode == 1
    assert f"error: cannot restore checkpoint {step_dir}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert step_dir.exists()  # the cause may be the config, not the files: nothing is moved
    assert len(read_metrics(run_dir)) == 4  # and nothing rewound


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
    assert proc.returncode == 1
    assert f"run directory {blocker / 'run'}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
