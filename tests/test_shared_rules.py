"""Rules the trainer and the analysis share live once, in `spectral_jax`, and both sides follow
them: the run directory's layout, the spectra store's meta.json, the default validation share.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import pandas as pd

from analysis.calibration.simulate import write_store
from analysis.checkpoints.pretrained_spectra import store_meta as pretrained_meta
from analysis.importance.model_source import ModelSource
from spectral_jax.documents import VAL_FRACTION
from spectral_jax.metrics import METRIC_DEFINITIONS_VERSION, METRIC_NAMES
from spectral_jax.run_layout import CHECKPOINTS, checkpoint_state, checkpoint_steps
from spectral_jax.store import SpectraStore
from train.checkpoint import Checkpointer
from train.config import DataConfig, load_config
from train.spectra_meta import spectra_meta

IDENTITY = ("kinds", "layers", "shapes", "metrics", "save_sigma", "metrics_version")


def test_the_checkpoints_the_trainer_writes_are_where_the_layout_says(tmp_path: Path) -> None:
    directory = tmp_path / CHECKPOINTS
    with Checkpointer(directory, keep=3, async_save=False) as checkpointer:
        for step in (5, 10):
            checkpointer.save(step, {"w": jnp.ones(3) * step}, {"position": step})
    assert checkpoint_steps(directory) == [5, 10]
    assert checkpoint_state(directory, 10).is_dir()
    assert checkpoint_steps(tmp_path / "none") == []


def test_every_store_writer_builds_the_same_meta(tmp_path: Path) -> None:
    """The trainer's monitor and the pretrained probe describe the same matrices alike, and the
    simulator's store records the current metric definitions (it once hard-coded version 1)."""
    config = load_config(None, ["model.n_layers=2", "spectral.kinds=[q,mlp_in]"])
    run = spectra_meta(config, ("q", "mlp_in"))
    pretrained = pretrained_meta(config.model, "gpt2", ("mlp_in", "q"), "auto", {"source": "x"})
    assert {k: run[k] for k in IDENTITY} == {k: pretrained[k] for k in IDENTITY}
    assert run["metrics_version"] == METRIC_DEFINITIONS_VERSION

    tidy = pd.DataFrame(
        [
            {"step": s, "layer": layer, "kind": "q", **dict.fromkeys(METRIC_NAMES, 1.0)}
            for s in (0, 10)
            for layer in (0, 1)
        ]
    )
    meta = SpectraStore(write_store(tidy, tmp_path / "spectra")).meta
    assert meta["metrics_version"] == METRIC_DEFINITIONS_VERSION
    assert meta["metrics"] == list(METRIC_NAMES) and meta["kinds"] == ["q"]


def test_the_default_validation_share_is_one_number() -> None:
    assert DataConfig().val_fraction == VAL_FRACTION
    assert ModelSource.__dataclass_fields__["val_fraction"].default == VAL_FRACTION
