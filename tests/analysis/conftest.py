"""Planted runs written with the store's own writer, shared by the analysis tests (session)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from tests.analysis import planted

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def lifecycle_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 layers, 81 snapshots: wave in q/k, uniform v/o, inverted-U α; a few NaN metrics."""
    frame = planted.lifecycle_frame(embed=True)
    bad_rs = (frame.kind == "q") & (frame.layer == 3) & (frame.step == 2000)
    bad_alpha = (frame.kind == "v") & (frame.layer == 5) & (frame.step == 4000)
    frame.loc[bad_rs, "stable_rank"] = np.nan
    frame.loc[bad_alpha, "alpha"] = np.nan
    return planted.write_run(frame, tmp_path_factory.mktemp("lifecycle"), n_layers=12)


@pytest.fixture(scope="session")
def null_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No wave, no depth dependence, α linear in depth (41 snapshots)."""
    frame = planted.null_frame(steps=np.arange(0, 4001, 100))
    return planted.write_run(frame, tmp_path_factory.mktemp("null"), n_layers=12)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Too short and too shallow for most quantities: 2 layers, 3 snapshots, sigma saved."""
    frame = planted.lifecycle_frame(n_layers=2, steps=np.array([0, 25, 50]))
    return planted.write_run(frame, tmp_path_factory.mktemp("tiny"), n_layers=2, save_sigma=True)


@pytest.fixture(scope="session")
def scaling_runs(tmp_path_factory: pytest.TempPathFactory) -> planted.Sweep:
    """Runs of 6 depths whose final Δα = c·L^β·exp(noise), β = 0.26."""
    return planted.write_sweep(tmp_path_factory.mktemp("depths"))
