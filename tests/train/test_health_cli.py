"""`spectral.health.stop_on` through the trainer's command line, with no test hook: a ceiling
every α exceeds (α > 1.01, judged from step 0, at once) fires `alpha_high` at the first
snapshot; the run stops at the next probe step with a checkpoint and exit code 3, in one
process and (slow) in two, where process 0 tells the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TINY, read_metrics, run_cli, run_two_processes

FIRES_AT_ONCE = [
    *TINY,
    "train.steps=30",
    "spectral.every=10",
    "train.checkpoint_every=0",
    "spectral.health.alpha_floor=null",
    "spectral.health.alpha_ceiling=1.01",
    "spectral.health.warmup=0",
    "spectral.health.persistence=1",
    "spectral.health.stop_on=[alpha_high]",
]


def checkpoints(run_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


def test_stop_on_ends_the_run_with_exit_3_and_a_checkpoint(tmp_path: Path) -> None:
    proc = run_cli([*FIRES_AT_ONCE, f"run.dir={tmp_path}"])
    assert proc.returncode == 3, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("stopped by spectral.health.stop_on at step 10 (checkpoint saved): ")
    assert "> ceiling 1.01 since step 0" in last and "(the same command resumes it)" in last
    assert "health at step 0: " in proc.stderr
    assert checkpoints(tmp_path) == [10]
    assert max(r["step"] for r in read_metrics(tmp_path)) == 10
    started = [r for r in read_metrics(tmp_path) if r.get("event") == "health"]
    assert started[0]["step"] == 0  # fits untrusted at step 0 may start at 10, before the stop
    assert {(r["rule"], r["state"]) for r in started} == {("alpha_high", "start")}
    assert {r["step"] for r in started} <= {0, 10}


@pytest.mark.slow
def test_two_processes_stop_together(tmp_path: Path) -> None:
    results = run_two_processes([*FIRES_AT_ONCE, f"run.dir={tmp_path}"])
    for rank, (code, err) in enumerate(results):
        assert code == 3, f"process {rank} exited {code}:\n{err[-3000:]}"
    assert checkpoints(tmp_path) == [10]
    assert max(r["step"] for r in read_metrics(tmp_path)) == 10
