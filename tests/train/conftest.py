"""Shared helpers for trainer tests: tiny configs and CLI subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A model small enough that a step takes milliseconds on a CPU.
TINY = [
    "model.n_layers=2",
    "model.d_model=32",
    "model.n_heads=2",
    "model.d_ff=64",
    "model.vocab_size=64",
    "model.max_seq_len=32",
    "data.corpus=synthetic",
    "data.synthetic_tokens=20000",
    "train.batch_size=8",
    "train.seq_len=32",
    "train.log_every=1",
    "train.eval_every=0",
    "optim.warmup_steps=5",
    "train.progress=false",
]


def cli_env(devices: int = 1) -> dict[str, str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def run_cli(
    args: list[str], *, devices: int = 1, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(devices),
        timeout=timeout,
    )


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)
