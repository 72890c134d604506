"""The report CLI on a real (tiny) training run: every file, no failed analysis.

Slow (~35 s on 2 CPU cores: training with the spectral probe, then the report process).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.analysis.reports import check_report, no_failed_analysis
from tests.helpers import REPO, cli_env, run_cli

RUN = ["model.n_layers=4", "train.eval_every=20", "train.steps=60", "train.checkpoint_every=0"]


@pytest.mark.slow
def test_report_cli_on_a_real_short_training_run(tmp_path: Path, tiny: list[str]) -> None:
    run_dir = tmp_path / "run"
    overrides = [f"run.dir={run_dir}", *tiny, *RUN, "spectral.every=5"]
    trained = run_cli(["--config", "configs/demo.yaml", *overrides], timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    report = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(run_dir)],
        cwd=REPO,
        env=cli_env(MPLBACKEND="Agg"),
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
    assert no_failed_analysis(summary)
    assert summary["alpha_profile"]["delta_alpha"] is not None
