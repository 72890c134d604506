"""The training loop in-process: loss falls, logs are complete, non-finite loss stops at once."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import pytest

import train.loop as loop
from tests.helpers import TINY, read_metrics
from train.checkpoint import Checkpointer
from train.config import load_config


def test_loss_falls_on_synthetic_corpus(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            *TINY,
            "train.steps=150",
            "optim.lr=1e-2",
            "spectral.every=0",
            "train.eval_every=50",
            f"run.dir={tmp_path}",
        ],
    )
    result = loop.train(cfg)
    rows = read_metrics(tmp_path)
    losses = {r["step"]: r["loss"] for r in rows if "loss" in r}
    assert sorted(losses) == list(range(1, 151))
    first = sum(losses[s] for s in range(1, 6)) / 5
    last = sum(losses[s] for s in range(146, 151)) / 5
    assert last < first - 1.0, (first, last)
    vals = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in vals] == [50, 100, 150]
    assert result.final_val_loss == pytest.approx(vals[-1]["val_loss"])
    assert {"lr", "grad_norm", "tokens_per_s"} <= set(rows[0])
    # Every row's rate covers the steps since the previous row, the last one included (with
    # metrics drained a step late, the last row used to count zero steps: 0 tokens/s).
    rates = [r["tokens_per_s"] for r in rows if "loss" in r]
    assert len(rates) == 150 and min(rates) > 0
    assert (tmp_path / "config.yaml").exists()
    assert any((tmp_path / "tb").iterdir())


def test_non_finite_loss_stops_naming_the_step(tmp_path: Path, monkeypatch) -> None:
    real = loop.make_train_step

    def poisoned(*args, **kwargs):
        step_fn = real(*args, **kwargs)

        def wrapped(state, batch):
            new_state, metrics = step_fn(state, batch)
            bad = new_state["step"] >= 7
            metrics = dict(metrics, loss=jnp.where(bad, jnp.nan, metrics["loss"]))
            return new_state, metrics

        return wrapped

    monkeypatch.setattr(loop, "make_train_step", poisoned)
    cfg = load_config(
        None,
        [
            *TINY,
            "train.steps=20",
            "train.checkpoint_every=5",
            "spectral.every=0",
            f"run.dir={tmp_path}",
        ],
    )
    with pytest.raises(loop.NonFiniteLossError, match="loss is nan at step 7"):
        loop.train(cfg)
    ckpt = Checkpointer(tmp_path / "checkpoints", keep=3)
    assert ckpt.latest_step() == 5  # the last good checkpoint stays
    ckpt.close()
    logged = [r["step"] for r in read_metrics(tmp_path) if "loss" in r]
    assert max(logged) == 6
