"""`python -m analysis report|scaling`: every file, nulls with reasons, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import Run
from analysis.__main__ import main
from analysis.report.run_report import write_report
from tests.analysis import planted
from tests.analysis.planted import Sweep
from tests.analysis.reports import check_report, no_failed_analysis
from tests.helpers import REPO


def test_report_on_planted_run(lifecycle_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rep"
    assert main(["report", str(lifecycle_run), "--out", str(out), "--n-boot", "100"]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    summary = check_report(out)
    assert summary["wave"]["has_wave"] is True and summary["wave"]["speed"] > 0
    assert summary["alpha_profile"]["is_inverted_u"] is True
    assert summary["alpha_profile"]["metric"] == "alpha"
    assert summary["asymmetry"]["asymmetric"] is True
    assert summary["two_timescale"]["tau_slow"] > summary["two_timescale"]["tau_fast"]
    verdicts = [f["verdict"] for f in summary["findings"]]
    assert verdicts == ["supported"] * 6, summary["findings"]
    assert summary["run"]["n_layers"] == 12 and summary["run"]["final_loss"] is not None
    assert no_failed_analysis(summary)


def test_report_on_too_short_run_gives_nulls_with_reasons(tiny_run: Path) -> None:
    assert main(["report", str(tiny_run), "--metric", "alpha_rank"]) == 0
    summary = check_report(tiny_run / "report")  # default output: RUN/report
    assert summary["alpha_profile"]["metric"] == "alpha_rank"
    assert summary["wave"]["speed"] is None and summary["wave"]["reasons"]["has_wave"]
    assert summary["alpha_profile"]["vertex"] is None
    assert summary["two_timescale"]["tau_fast"] is None
    assert "≥ 6 snapshots" in summary["two_timescale"]["reasons"]["fit"]
    assert {f["verdict"] for f in summary["findings"]} == {"cannot be tested here"}
    assert no_failed_analysis(summary)


def test_scaling_cli(scaling_runs: Sweep, tmp_path: Path) -> None:
    paths = scaling_runs.paths
    assert main(["scaling", *map(str, paths), "--out", str(tmp_path / "sc")]) == 0
    data = json.loads((tmp_path / "sc" / "scaling.json").read_text())["scaling"]
    assert data["beta"] == pytest.approx(0.26, abs=0.03) and data["loo_error"] < 0.05
    findings = json.loads((tmp_path / "sc" / "scaling.json").read_text())["findings"]
    assert findings[0]["verdict"] == "supported" and "β" in findings[0]["estimate"]
    assert (tmp_path / "sc" / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert "scaling.png" in (tmp_path / "sc" / "index.html").read_text()


def test_bad_run_path_is_a_one_line_error_with_exit_code_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(tmp_path / "nope")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: no run directory at {tmp_path / 'nope'}"]
    assert main(["scaling", str(tmp_path)]) == 2


@pytest.mark.filterwarnings("error::RuntimeWarning", "error::UserWarning")
def test_all_nan_metrics_give_reasons_without_warnings(tmp_path: Path) -> None:
    frame = planted.lifecycle_frame(n_layers=6, steps=np.arange(0, 500, 50))
    frame[["stable_rank", "alpha"]] = np.nan
    out = write_report(Run.from_frame(frame), tmp_path / "rep", n_boot=50)
    summary = check_report(out)
    assert summary["wave"]["onset"] == [None] * 6
    assert "too few finite" in summary["two_timescale"]["reasons"]["fit"]
    assert no_failed_analysis(summary)


def test_the_cli_methods_are_the_kernels_methods() -> None:
    """analysis/cli.py spells the methods out so `--help` needs no JAX; they must be the same."""
    from analysis.cli import METHODS
    from spectral_jax.singular_values import METHODS as KERNEL_METHODS

    assert METHODS == KERNEL_METHODS


def test_help_lists_every_command(capsys) -> None:
    from analysis.__main__ import COMMAND_MODULES

    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for module in COMMAND_MODULES:
        for command in module.COMMANDS:
            assert command in shown
