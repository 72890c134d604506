"""Checks of a written report directory, shared by the CLI and training-run tests."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.report.run_report import SECTIONS

FIGURES = (
    "stable_rank_heatmap.png",
    "alpha_heatmap.png",
    "alpha_profiles.png",
    "wave.png",
    "qk_vs_vo.png",
    "two_timescale.png",
    "loss.png",
)


def check_report(out: Path) -> dict:
    """Every figure is a PNG, summary.json has every section, index.html shows every figure."""
    for name in (*FIGURES, "summary.json", "index.html"):
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".png"):
            assert path.read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert set(SECTIONS) <= set(summary)
    page = (out / "index.html").read_text()
    for name in FIGURES:
        assert f"src='{name}'" in page
    return summary


def no_failed_analysis(summary: dict) -> bool:
    """True when no section of summary.json records a crashed analysis."""
    return all("analysis" not in summary[s].get("reasons", {}) for s in SECTIONS)
