"""scripts/check_accelerator.sh --cpu: every stage of the accelerator check runs on CPU in CI."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import REPO

STAGES = (
    "install (platform: cpu)",
    "devices",
    "kernel accuracy tests",
    "pretrained parity tests",
    "demo: 20 steps, probe every 5",
    "bench/spectral.py",
    "bench/train_throughput.py",
)


def test_the_script_parses() -> None:
    """`bash -n`: a syntax error anywhere in the script, not only on the paths a run takes."""
    proc = subprocess.run(
        ["bash", "-n", "scripts/check_accelerator.sh"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


# About 100 s on 2 cores (two pytest sessions, a demo and two benches, each a fresh process):
# `make test-slow`. Each stage's code is tested in the default run on its own.
@pytest.mark.slow
def test_dry_run_on_cpu_passes_every_stage() -> None:
    proc = subprocess.run(
        ["bash", "scripts/check_accelerator.sh", "--cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for stage in STAGES:
        assert f"==> {stage}" in proc.stdout, stage
    assert "spectra store: 5 snapshots, steps 0..20" in proc.stdout
    assert "probe method=auto" in proc.stdout and "ms/step" in proc.stdout
    assert proc.stdout.rstrip().endswith("==> all checks passed on cpu")


def test_refuses_to_guess_without_an_accelerator() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TPU_NAME"}
    env["PATH"] = "/usr/bin:/bin"  # no nvidia-smi
    proc = subprocess.run(
        ["bash", "scripts/check_accelerator.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert "run with --cpu for a dry run" in proc.stderr
