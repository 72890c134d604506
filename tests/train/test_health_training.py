"""Layer health in real training runs, with the fault planted by a test hook: the value
projection of layer 1 forced to rank one mid-run fires `rank_collapse` for that matrix at the
right step and clears after it is released, across a resume that rebuilds the rules' state
from the store; a NaN in one probed matrix fires `non_finite` at once, and with `stop_on` the
run ends with exit code 3 and a checkpoint the same command resumes from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import train.loop as loop
from analysis.health.sources import judge
from spectral_jax.store import SpectraStore
from tests.helpers import TINY, events, read_metrics
from train.__main__ import main
from train.checkpoint import Checkpointer
from train.config import load_config
from train.monitor import SpectralMonitor

V1 = "['blocks'][1]['attn']['v']['kernel']"
Q0 = "['blocks'][0]['attn']['q']['kernel']"
FORCE, RELEASE = 35, 65  # v of layer 1 is rank one after steps 35..64 (probes at 40, 50, 60)


def replace(params, path: str, fn):
    """`params` with the leaf at `path` (a keystr prefix) replaced by `fn(leaf)`."""

    def one(key, leaf):
        return fn(leaf) if jax.tree_util.keystr(key).startswith(path) else leaf

    return jax.tree_util.tree_map_with_path(one, params)


def rank_one(w: jax.Array) -> jax.Array:
    u, s, vt = np.linalg.svd(np.asarray(w, np.float64))
    return jax.device_put(jnp.asarray(s[0] * np.outer(u[:, 0], vt[0]), w.dtype), w.sharding)


def force_low_rank(monkeypatch: pytest.MonkeyPatch, original: dict) -> None:
    """After each step in [FORCE, RELEASE) v of layer 1 is projected to rank one; at RELEASE
    the kernel it had before is put back (kept in `original` across runs of the test)."""
    real = loop.make_train_step

    def hooked(*args, **kwargs):
        step_fn = real(*args, **kwargs)

        def wrapped(state, batch):
            state, metrics = step_fn(state, batch)
            step = int(state["step"])
            if FORCE <= step < RELEASE:
                if not original:
                    replace(state["params"], V1, lambda w: original.setdefault("v", w))
                state = {**state, "params": replace(state["params"], V1, rank_one)}
            elif step == RELEASE:
                state = {**state, "params": replace(state["params"], V1, lambda w: original["v"])}
            return state, metrics

        return wrapped

    monkeypatch.setattr(loop, "make_train_step", hooked)


def health_rows(run_dir: Path) -> list[tuple]:
    return [
        (r["step"], r["rule"], r["state"], r["layer"], r["kind"], r["since"])
        for r in read_metrics(run_dir)
        if r.get("event") == "health"
    ]


def scalars(run_dir: Path, tag: str) -> dict[int, float]:
    return {
        e.step: v.simple_value
        for e in events(run_dir / "tb")
        for v in e.summary.value
        if v.tag == tag
    }


def texts(run_dir: Path, tag: str) -> dict[int, str]:
    return {
        e.step: v.tensor.string_val[0].decode()
        for e in events(run_dir / "tb")
        for v in e.summary.value
        if v.tag.startswith(tag)  # tensorboardX appends /text_summary
    }


BASE = [*TINY, "spectral.every=10", "spectral.health.rank_collapse=0.2"]


def check_low_rank_run(run_dir: Path, log: str) -> None:
    """What every channel says about the planted collapse (fired at 50, cleared at 70)."""
    first_rank = float(SpectraStore(run_dir / "spectra").load(0)["metrics"]["stable_rank"]["v"][1])
    fired = f"layer 1 v: stable rank 1.0 < 0.2 × initial {first_rank:.1f} since step 40"
    assert f"health at step 50: {fired}" in log
    assert "health at step 70: layer 1 v: rank_collapse cleared at step 70" in log
    assert "flagged since step 40" in log
    assert health_rows(run_dir) == [
        (50, "rank_collapse", "start", 1, "v", 40),
        (70, "rank_collapse", "clear", 1, "v", 40),
    ]
    counts = scalars(run_dir, "health/rank_collapse")
    assert counts == {s: float(s in (50, 60)) for s in range(0, 81, 10)}
    assert set(scalars(run_dir, "health/non_finite").values()) == {0.0}
    notes = texts(run_dir, "health/events")
    assert sorted(notes) == [50, 70] and notes[50] == f"start: {fired}"
    # The offline command applies the same rules to the store and finds the same events.
    offline = judge(str(run_dir), overrides={"rank_collapse": 0.2}).timeline.events
    assert [e.row() for e in offline] == [r for r in read_metrics(run_dir) if r.get("event")]


def test_forced_low_rank_value_projection_fires_and_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    force_low_rank(monkeypatch, {})
    caplog.set_level(logging.WARNING, logger="spectral_jax")
    loop.train(load_config(None, [*BASE, "train.steps=80", f"run.dir={tmp_path}"]))
    check_low_rank_run(tmp_path, caplog.text)


@pytest.mark.slow
def test_a_resumed_run_rebuilds_the_rules_from_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped at 50 with the collapse in force, extended to 80: the clear at 70 keeps the
    streak's start (40) and the reference is step 0's stable rank, not the resume's."""
    force_low_rank(monkeypatch, {})
    caplog.set_level(logging.WARNING, logger="spectral_jax")
    loop.train(load_config(None, [*BASE, "train.steps=50", f"run.dir={tmp_path}"]))
    first = caplog.text
    caplog.clear()
    extended = [*BASE, "train.steps=80", "run.allow_config_change=true", f"run.dir={tmp_path}"]
    loop.train(load_config(None, extended))
    assert "health at step 50" not in caplog.text  # in force at the restore: no second warning
    check_low_rank_run(tmp_path, first + caplog.text)


def poison_probe_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """The probe of `step` sees a NaN in q of layer 0; training itself is untouched."""
    real = SpectralMonitor.dispatch

    def dispatch(self, at: int, params) -> None:
        if at == step:
            params = replace(params, Q0, lambda w: w.at[0, 0].set(jnp.nan))
        real(self, at, params)

    monkeypatch.setattr(SpectralMonitor, "dispatch", dispatch)


def test_nan_matrix_stops_the_run_with_exit_3_and_the_same_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    poison_probe_at(monkeypatch, 30)
    argv = [
        *TINY,
        "train.steps=60",
        "train.checkpoint_every=0",
        "spectral.every=10",
        "spectral.health.stop_on=[non_finite]",
        f"run.dir={tmp_path}",
    ]
    assert main(argv) == 3
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    stopped = Checkpointer(tmp_path / "checkpoints", keep=3)
    at = stopped.latest_step()
    stopped.close()
    assert at == 40  # the first probe step after the snapshot that fired
    assert last_line == (
        f"stopped by spectral.health.stop_on at step {at} (checkpoint saved): layer 0 q: "
        f"non-finite values (NaN/Inf) since step 30; run in {tmp_path} (the same command "
        "resumes it)"
    )
    assert health_rows(tmp_path)[0] == (30, "non_finite", "start", 0, "q", 30)
    assert max(r["step"] for r in read_metrics(tmp_path)) == at
    assert main(argv) == 0  # resumed: the rule in force at the checkpoint does not stop it again
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("done: step 60")
    assert health_rows(tmp_path) == [
        (30, "non_finite", "start", 0, "q", 30),
        (40, "non_finite", "clear", 0, "q", 30),
    ]
    losses = [r["step"] for r in read_metrics(tmp_path) if "loss" in r]
    assert losses == list(range(1, 61))  # each step once, across the stop and the resume
    rows = [json.dumps(r) for r in read_metrics(tmp_path) if r.get("event")]
    assert all('"value": null' in r for r in rows)  # NaN is not a JSON number
