"""The report CLI on a real (tiny) training run: every file, no failed analysis.

Slow (~35 s on 2 CPU cores: training with the spectral probe, then the report process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.report import SECTIONS
from tests.analysis.test_cli import check_report

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "model.n_layers=4",
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
    "train.eval_every=20",
    "optim.warmup_steps=5",
    "train.progress=false",
    "train.steps=60",
    "train.checkpoint_every=0",
    "spectral.every=5",
]


@pytest.mark.slow
def test_report_cli_on_a_real_short_training_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--config",
            "configs/demo.yaml",
            f"run.dir={run_dir}",
            *TINY,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    report = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(run_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    assert str(run_dir / "report" / "index.html") in report.stdout
    summary = check_report(run_dir / "report")
    assert summary["run"]["n_layers"] == 4 and summary["run"]["n_snapshots"] == 13
    assert summary["run"]["final_loss"] is not None
    assert set(summary["run"]["kinds"]) >= {"q", "k", "v", "o", "mlp_in", "mlp_out"}
    for section in SECTIONS:
        assert "analysis" not in summary[section].get("reasons", {}), section
    assert summary["alpha_profile"]["delta_alpha"] is not None
