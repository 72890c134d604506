"""Spectral monitoring in a real run: probed steps, values, TensorBoard tags."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from spectral_jax.matrices import named_matrices
from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.model import Transformer
from spectral_jax.probe import probe
from spectral_jax.store import SpectraStore, SpectraWriter
from tests.helpers import TINY, blas_threads, event_tags, last_text, tag_steps
from train.checkpoint import Checkpointer
from train.config import load_config
from train.loop import train
from train.monitor import SpectralMonitor
from train.optim import make_optimizer
from train.step import init_state


def test_probe_steps_values_and_tensorboard(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            *TINY,
            "train.steps=60",
            "spectral.every=25",
            "spectral.heatmap_every=50",
            "train.checkpoint_every=0",
            f"run.dir={tmp_path}",
        ],
    )
    train(cfg)
    store = SpectraStore(tmp_path / "spectra")
    assert store.steps() == [0, 25, 50, 60]
    assert store.meta["kinds"] == sorted(["q", "k", "v", "o", "mlp_in", "mlp_out"])
    assert store.meta["model"]["layers"] == 2

    # Metrics in the store equal the kernels recomputed from the saved checkpoint's parameters.
    model = Transformer(cfg.model, rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx, _ = make_optimizer(cfg.optim, cfg.train.steps)
    ckpt = Checkpointer(tmp_path / "checkpoints", keep=3)
    state, _ = ckpt.restore(60, init_state(params, tx))
    ckpt.close()
    expected = jax.device_get(
        probe(named_matrices(nnx.merge(graphdef, state["params"], rest)), cfg.spectral.method)
    )
    saved = store.load(60)
    for name in METRIC_NAMES:
        for kind in store.meta["kinds"]:
            np.testing.assert_allclose(
                saved["metrics"][name][kind], expected["metrics"][name][kind], rtol=1e-5, atol=1e-7
            )
    np.testing.assert_allclose(saved["sigma"]["q"], expected["sigma"]["q"], rtol=1e-5, atol=1e-7)

    tags = event_tags(tmp_path / "tb")
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s"} <= tags
    assert "spectral/stable_rank/q/L00" in tags and "spectral/alpha/mlp_out/L01" in tags
    assert all(f"spectral/{m}/v/L01" in tags for m in METRIC_NAMES)
    assert "spectral_hist/log10_sigma/k" in tags
    assert {"spectral_heatmap/stable_rank", "spectral_heatmap/alpha"} <= tags
    # heatmap_every counts steps: the first image once two snapshots exist, the next at the
    # first snapshot 50 steps later (none: 50 and 60 are too close), and one at the end.
    assert tag_steps(tmp_path / "tb", "spectral_heatmap/alpha") == [25, 60]


def test_metrics_only_store_and_chosen_kinds(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            *TINY,
            "train.steps=10",
            "spectral.every=5",
            "spectral.save_sigma=false",
            "spectral.kinds=[q, embed]",
            f"run.dir={tmp_path}",
        ],
    )
    train(cfg)
    store = SpectraStore(tmp_path / "spectra")
    assert store.steps() == [0, 5, 10]
    assert store.meta["layers"] == {"embed": [-1], "q": [0, 1]}
    assert "sigma" not in store.load(5)
    frame = store.metrics_frame()
    assert set(frame.kind) == {"q", "embed"} and len(frame) == 3 * 3


def test_extending_a_finished_run_keeps_its_final_snapshot(tmp_path: Path) -> None:
    """A finished run (last step 60, not a multiple of 25) resumed with more steps keeps the
    step-60 entry it cannot recompute, and probes on from there."""
    base = [*TINY, "spectral.every=25", "train.checkpoint_every=0", f"run.dir={tmp_path}"]
    train(load_config(None, [*base, "train.steps=60"]))
    first = SpectraStore(tmp_path / "spectra")
    assert first.steps() == [0, 25, 50, 60]
    before = first.load(60)
    train(load_config(None, [*base, "train.steps=80", "run.allow_config_change=true"]))
    store = SpectraStore(tmp_path / "spectra")
    assert store.steps() == [0, 25, 50, 60, 75, 80]
    for name in METRIC_NAMES:
        for kind, values in before["metrics"][name].items():
            np.testing.assert_array_equal(store.load(60)["metrics"][name][kind], values)
    assert "spectral/stable_rank/q/L01" in event_tags(tmp_path / "tb")
    # The heatmaps of the resumed process span the whole run, not only its own snapshots.
    assert "x: snapshots 0–80" in last_text(tmp_path / "tb", "spectral_heatmap/alpha/legend")


def test_lapack_is_single_threaded_while_monitoring_and_restored_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenBLAS workers busy-wait after each probe decomposition and steal the train step's
    cores, so the monitor holds BLAS at one thread while it runs, and gives the old limits back."""
    import scipy.linalg.cython_lapack  # noqa: F401  (the LAPACK jaxlib calls on CPU)

    before = blas_threads()
    assert before, "no BLAS library found in the process"
    seen: list[list[int]] = []
    original = SpectralMonitor.dispatch

    def recording_dispatch(self: SpectralMonitor, step: int, params: object) -> None:
        seen.append(blas_threads())
        original(self, step, params)

    monkeypatch.setattr(SpectralMonitor, "dispatch", recording_dispatch)
    cfg = [*TINY, "train.steps=10", "spectral.every=5", f"run.dir={tmp_path}"]
    train(load_config(None, cfg))
    assert len(seen) == 3 and all(threads == [1] * len(before) for threads in seen)
    assert blas_threads() == before


def test_checkpoint_waits_for_the_spectra_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint at step s is saved only once every spectra entry before s is on disk: a
    crash right after it leaves no gap, since a resume recomputes entries from s on."""
    original_write, original_save = SpectraWriter.write, Checkpointer.save

    def slow_write(self: SpectraWriter, step: int, entry: dict) -> None:
        time.sleep(0.3)  # a writer far behind training
        original_write(self, step, entry)

    written_at_save: dict[int, list[int]] = {}

    def recording_save(self: Checkpointer, step: int, *args: object) -> None:
        written_at_save[step] = SpectraStore(tmp_path / "spectra").steps()
        original_save(self, step, *args)

    monkeypatch.setattr(SpectraWriter, "write", slow_write)
    monkeypatch.setattr(Checkpointer, "save", recording_save)
    cfg = [*TINY, "train.steps=20", "spectral.every=2", "train.checkpoint_every=5"]
    train(load_config(None, [*cfg, f"run.dir={tmp_path}"]))
    assert sorted(written_at_save) == [5, 10, 15, 20]
    for step, written in written_at_save.items():
        assert [s for s in written if s < step] == list(range(0, step, 2)), step
    assert SpectraStore(tmp_path / "spectra").steps() == list(range(0, 21, 2))


ROUTE_RUN = [*TINY, "train.steps=10", "spectral.every=5", "spectral.method=auto"]


@pytest.fixture(scope="module")
def cpu_route_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short probed run on the CPU route (the reference for the other backends' routes)."""
    run_dir = tmp_path_factory.mktemp("cpu_route")
    train(load_config(None, [*ROUTE_RUN, f"run.dir={run_dir}"]))
    return run_dir


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
def test_trainer_probe_takes_each_backends_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, cpu_route_run: Path
) -> None:
    """The trainer's own jitted probe, run as on a GPU (Gram eigenvalues by XLA's eigvalsh) or
    a TPU (`auto` is the SVD), records the same spectra as the CPU route."""
    import importlib

    routes = importlib.import_module("spectral_jax.singular_values")
    monkeypatch.setattr(routes, "current_backend", lambda: backend)
    train(load_config(None, [*ROUTE_RUN, f"run.dir={tmp_path / backend}"]))
    here, there = (
        SpectraStore(cpu_route_run / "spectra"),
        SpectraStore(tmp_path / backend / "spectra"),
    )
    assert here.steps() == there.steps() == [0, 5, 10]
    eps = float(np.finfo(np.float32).eps)
    for kind in here.meta["kinds"]:
        a, b = here.sigma(kind), there.sigma(kind)  # [steps, layers, k]
        k, s1 = a.shape[-1], a[..., :1]
        # The `gram` bound (either route may use it): absolute error of λ ≈ k·ε·λ1, and values
        # below √(k·ε)·σ1 may be rounded to zero by one route and not the other.
        bound = 4 * k * eps * s1**2 / np.maximum(a, b).clip(1e-30) + 8 * eps * a
        both = (a > 0) & (b > 0)
        assert np.all(np.abs(a - b)[both] <= bound[both]), kind
        assert np.all(
            np.maximum(a, b)[~both] <= np.sqrt(4 * k * eps) * np.broadcast_to(s1, a.shape)[~both]
        )
    np.testing.assert_allclose(
        there.metrics_frame()["stable_rank"], here.metrics_frame()["stable_rank"], rtol=1e-4
    )
