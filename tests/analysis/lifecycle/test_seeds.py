"""Seed groups: runs differing only in run.seed get findings across seeds and seed-level
intervals; runs differing in anything else are refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.__main__ import main
from analysis.calibration.simulate import write_run
from analysis.lifecycle.seeds import across_seeds, interval
from tests.analysis import planted
from tests.analysis.reports import check_report

STEPS = np.arange(0, 4001, 200)


def _run(root: Path, seed: int, layers: int = 6) -> Path:
    config = {"model": {"n_layers": layers, "d_model": 16}, "run": {"seed": seed}}
    frame = planted.lifecycle_frame(n_layers=layers, seed=seed, steps=STEPS)
    return write_run(frame, root / f"seed{seed}", n_layers=layers, config=config)


def test_a_seed_group_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = [str(_run(tmp_path, s)) for s in (0, 1, 2)]
    out = tmp_path / "group"
    assert main(["report", *runs, "--out", str(out)]) == 0
    summary = check_report(out)
    assert summary["run"]["seeds"] == 3 and summary["run"]["seed_values"] == [0, 1, 2]
    speed = summary["across_seeds"]["wave"]["speed"]
    assert speed["n"] == 3 and speed["ci"][0] <= speed["mean"] <= speed["ci"][1]
    assert len(summary["per_seed"]) == 3
    wave = summary["findings"][0]
    assert wave["verdict"] == "supported" and "in 3 of 3 seeds" in wave["estimate"]
    assert not any("one seed" in c for c in summary["caveats"])
    assert "more seed(s)" in (out / "index.html").read_text()


def test_runs_that_differ_in_more_than_the_seed_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a, b = _run(tmp_path, 0), _run(tmp_path / "deeper", 1, layers=8)
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differ in more than run.seed" in err[0]


def test_seed_level_intervals() -> None:
    values = np.array([1.0, 2.0, 3.0])
    lo, hi = interval(values, 100, 0)  # t with 2 dof: mean ± 4.30·SE
    assert lo == pytest.approx(2 - 4.303 * 1 / np.sqrt(3), abs=1e-3) and hi > 3
    many = np.random.default_rng(0).normal(size=12)  # from 10 seeds: cluster bootstrap
    lo, hi = interval(many, 2000, 0)
    assert lo < many.mean() < hi
    stats = across_seeds([{"wave": {"speed": 1.0}}, {"wave": {"speed": None}}], 100, 0)
    assert stats["wave"]["speed"]["n"] == 1 and stats["wave"]["speed"]["ci"] is None
    assert json.dumps(stats)  # plain JSON
