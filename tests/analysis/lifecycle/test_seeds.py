"""Seed groups: runs differing only in run.seed get findings across seeds and seed-level
intervals; runs differing in anything else are refused with one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from analysis.__main__ import main
from analysis.calibration import seed_rates
from analysis.calibration.simulate import INDEPENDENT, write_run
from analysis.lifecycle import seed_tests
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
    assert wave["basis"].startswith("3 seeds: t-test across seeds")
    assert not any("rests on this run's own noise" in c for c in wave["caveats"])
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


def test_claims_are_tested_across_seeds() -> None:
    """The test across seeds is a one-sample t-test of per-seed statistics; fewer than 3 seeds
    are refused with the reason, and no mean or p is given beside the refusal."""
    rng = np.random.default_rng(0)
    values = rng.normal(0.3, 1.0, (4, 5))
    np.testing.assert_allclose(
        seed_tests.t_test(values), sps.ttest_1samp(values, 0, axis=-1).pvalue
    )
    greater = sps.ttest_1samp(values, 0.1, axis=-1, alternative="greater").pvalue
    np.testing.assert_allclose(seed_tests.t_test(values, 0.1, "greater"), greater)

    def group(slopes: list[float], ratios: list[float]) -> list[dict]:
        return [
            {"wave": {"slope": s}, "two_timescale": {"ratio": r}}
            for s, r in zip(slopes, ratios, strict=True)
        ]

    tests = seed_tests.seed_tests(group([200.0, 190.0, 210.0], [3.0, 4.0, 5.0]))
    assert tests[0].supported is True and tests[0].n == 3 and tests[0].mean == 200.0
    assert tests[5].supported is True  # ln τ_slow/τ_fast > 0 in every seed
    tests = seed_tests.seed_tests(group([200.0, -190.0, 10.0], [3.0, 0.5, 1.0]))
    assert tests[0].supported is False and tests[5].supported is False
    two = seed_tests.seed_tests(group([200.0, 190.0], [3.0, 4.0]))[0]
    assert two.supported is None and two.mean is None and two.p is None
    assert "needs ≥ 3 seeds" in two.reason


def test_seed_level_tests_hold_when_layers_share_their_noise() -> None:
    """3 seeds, adjacent layers correlated 0.7 and AR(1) 0.9: the tests across seeds do not
    fire more than 5% of the time on nulls (binomial test at 1%)."""
    noise = replace(INDEPENDENT, layer_corr=0.7, ar=0.9)
    for rate in (
        seed_rates.wave_rate(12, 300, 3, seed=1, noise=noise),
        seed_rates.inverted_u_rate(12, 300, 3, seed=2, noise=noise),
    ):
        assert not rate.above(0.05), str(rate)
