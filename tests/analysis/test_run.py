"""load_run: config, store frame joined with the log, depth grids, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import RunError, load_run
from tests.analysis import planted


def test_load_run_joins_loss_and_reads_config(lifecycle_run: Path) -> None:
    run = load_run(str(lifecycle_run))
    assert run.n_layers == 12 and run.config["model"]["n_layers"] == 12
    assert run.kinds == ("embed", "k", "o", "q", "v")
    assert run.depth_kinds == ("k", "o", "q", "v")
    np.testing.assert_array_equal(run.steps, planted.STEPS)
    m = run.metrics
    assert {
        "step",
        "layer",
        "kind",
        "stable_rank",
        "alpha",
        "loss",
        "loss_step",
        "val_loss",
    } <= set(m.columns)
    at50 = m[m.step == 50].iloc[0]
    assert at50.loss_step == 50 and at50.loss == pytest.approx(5 * np.exp(-50 / 2000) + 1)
    at0 = m[m.step == 0].iloc[0]
    assert at0.loss_step == 10  # step 0 was never logged: nearest logged step
    assert np.isnan(at50.val_loss)
    assert m[m.step == 100].val_loss.iloc[0] == pytest.approx(5 * np.exp(-0.05) + 1.1)
    assert "embed" in repr(run) and "12 layers" in repr(run)
    assert load_run(run) is run


def test_grid_excludes_global_layer_and_averages_kinds(lifecycle_run: Path) -> None:
    run = load_run(lifecycle_run)
    grid = run.grid("stable_rank", ("q", "k"))
    assert grid.shape == (len(planted.STEPS), 12)
    m = run.metrics
    rows = m[(m.step == 500) & (m.layer == 2) & m.kind.isin(["q", "k"])]
    assert grid[10, 2] == pytest.approx(rows.stable_rank.mean())
    # q layer 3 at step 2000 is NaN: the mean is k's value alone
    k_only = m[(m.step == 2000) & (m.layer == 3) & (m.kind == "k")].stable_rank.item()
    assert grid[40, 3] == pytest.approx(k_only)
    np.testing.assert_allclose(run.rel_depth, np.arange(12) / 11)
    with pytest.raises(RunError, match="no per-layer kind 'embed'"):
        run.grid("alpha", "embed")
    with pytest.raises(RunError, match="no metric 'nope'"):
        run.grid("nope")


def test_sigma_passes_through(tiny_run: Path, lifecycle_run: Path) -> None:
    assert load_run(tiny_run).sigma("q").shape == (3, 2, planted.WIDTH)
    with pytest.raises(RunError, match="save_sigma=false"):
        load_run(lifecycle_run).sigma("q")


def test_bad_paths_raise_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no run directory at"):
        load_run(tmp_path / "missing")
    with pytest.raises(RunError, match="holds no spectra store"):
        load_run(tmp_path)
    (tmp_path / "spectra").mkdir()
    (tmp_path / "spectra" / "meta.json").write_text(json.dumps({"schema_version": 999}))
    with pytest.raises(RunError, match="schema version 999"):
        load_run(tmp_path)


def test_log_with_eval_only_rows_and_torn_line(tmp_path: Path) -> None:
    frame = planted.lifecycle_frame(n_layers=3, steps=np.array([0, 10, 20]))
    run_dir = planted.write_run(frame, tmp_path / "run", n_layers=3, losses=False)
    (run_dir / "metrics.jsonl").write_text(
        '{"step": 10, "val_loss": 2.5}\n{"step": 20, "loss": 1.5, "lr": 0.1}\n{"step": 3'
    )
    run = load_run(run_dir)
    m = run.metrics
    assert (m.loss == 1.5).all() and (m.loss_step == 20).all()
    assert m[m.step == 10].val_loss.iloc[0] == 2.5
    assert list(run.log.step) == [10, 20]
    (run_dir / "metrics.jsonl").unlink()
    assert load_run(run_dir).metrics.loss.isna().all()
