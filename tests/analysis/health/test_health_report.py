"""The run report's health section and figure: a run whose α of one matrix is planted below the
floor is flagged there; a clean planted run says nothing fired."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.calibration import simulate
from analysis.health.report import health_section
from analysis.health.timeline import run_timeline
from analysis.report.run_report import write_report
from analysis.run import Run, load_run

STEPS = np.arange(0, 1001, 50)


def planted(alpha_v1: float) -> pd.DataFrame:
    """Two layers, q and v; α of layer 1 v is `alpha_v1` from step 500 on."""
    rng = np.random.default_rng(1)
    flat = np.zeros((len(STEPS), 2))
    stable = {k: simulate.stable_rank(rng, 1, flat)[0] for k in ("q", "v")}
    alpha = {k: np.full((len(STEPS), 2), 3.0) for k in ("q", "v")}
    alpha["v"][STEPS >= 500, 1] = alpha_v1
    return simulate.frame(STEPS, stable, alpha)


def test_report_has_the_health_section_and_figure(tmp_path: Path) -> None:
    run = simulate.write_run(planted(1.1), tmp_path / "run", n_layers=2)
    out = write_report(run, tmp_path / "report")
    summary = json.loads((out / "summary.json").read_text())
    health = summary["health"]
    assert health["ever_flagged"] is True and health["fired"] == 1
    assert health["in_force_at_end"] == ["layer 1 v: α 1.10 < floor 1.2 since step 500"]
    assert health["events"] == ["step 550 start: layer 1 v: α 1.10 < floor 1.2 since step 500"]
    assert (out / "health.png").read_bytes()[:4] == b"\x89PNG"
    assert "src='health.png'" in (out / "index.html").read_text()


def test_in_memory_run_gives_the_same_timeline_as_its_store(tmp_path: Path) -> None:
    frame = planted(1.1)
    on_disk = run_timeline(load_run(simulate.write_run(frame, tmp_path / "run", n_layers=2)))
    in_memory = run_timeline(Run.from_frame(frame, n_layers=2))

    def key(events: tuple) -> list[tuple]:  # the store holds float32 values, the frame float64
        return [(e.step, e.rule, e.state, e.layer, e.kind, e.since, e.message) for e in events]

    assert key(in_memory.events) == key(on_disk.events) and len(on_disk.events) == 1


def test_clean_run_reports_nothing_fired() -> None:
    section = health_section(Run.from_frame(planted(3.0), n_layers=2))
    assert section["ever_flagged"] is False and section["events"] == []
    assert section["rules"] == [
        "alpha_low",
        "alpha_high",
        "rank_collapse",
        "sigma_growth",
        "non_finite",
    ]
