"""The report opens with findings: a verdict, an estimate with its interval, and the caveats
that decide what a run can show (a 4-layer, 500-step demo-sized run cannot show most claims)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis import Run
from analysis.report.run_report import analyse, write_report
from tests.analysis import planted


def test_a_four_layer_run_states_what_it_cannot_show(tmp_path: Path) -> None:
    frame = planted.lifecycle_frame(n_layers=4, steps=np.arange(0, 501, 25))
    out = write_report(Run.from_frame(frame), tmp_path / "rep", n_boot=20)
    _, summary = analyse(Run.from_frame(frame))
    findings = {f["claim"]: f for f in summary["findings"]}
    u = findings["α forms an inverted U over depth"]
    assert u["verdict"] == "cannot be tested here"
    assert any("4 layers cannot show an inverted U" in c for c in u["caveats"])
    wave = findings["Compression travels from early to late layers (wave)"]
    assert wave["verdict"] == "cannot be tested here"
    assert any("cannot show a wave" in c for c in wave["caveats"])
    assert any("4 layers: too few" in c for c in summary["caveats"])
    assert any("one seed" in c for c in summary["caveats"])
    page = (out / "index.html").read_text()
    assert page.index("Findings") < page.index("<img") < page.index("Numbers")
    assert "cannot be tested here" in page and "4 layers cannot show an inverted U" in page


def test_low_quality_fits_and_a_coarse_probe_are_caveats(tmp_path: Path) -> None:
    frame = planted.lifecycle_frame(n_layers=6, steps=np.arange(0, 4001, 250))
    frame.loc[frame.layer == 1, "alpha_n"] = 4.0
    _, summary = analyse(Run.from_frame(frame), kinds=("q", "k"))
    caveats = " ".join(summary["caveats"])
    assert f"{17 * 2} of {17 * 2 * 6} α fits low quality" in caveats
    assert "probe interval (250 steps)" in caveats  # τ_fast = 200 steps
