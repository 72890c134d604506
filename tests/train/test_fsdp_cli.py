"""FSDP end to end through `python -m train` (slow): 8 simulated devices in every mesh shape
against one device, a run resumed onto other mesh shapes, and FSDP across two processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from spectral_jax.store import SpectraStore
from tests.helpers import TINY, read_metrics, run_cli, run_two_processes, train_losses

pytestmark = pytest.mark.slow

ARGS = [*TINY, "train.steps=20", "spectral.every=5", "optim.lr=1e-2", "train.checkpoint_every=0"]


def losses(run_dir: Path) -> np.ndarray:
    by_step = train_losses(run_dir)
    return np.array([by_step[s] for s in sorted(by_step)])


def assert_same_spectra(run_dir: Path, reference: Path) -> None:
    store, ref = SpectraStore(run_dir / "spectra"), SpectraStore(reference / "spectra")
    assert store.steps() == ref.steps() == [0, 5, 10, 15, 20]
    for kind in ("q", "mlp_in", "mlp_out"):
        np.testing.assert_allclose(store.sigma(kind), ref.sigma(kind), rtol=1e-4, atol=1e-6)
    frame, ref_frame = store.metrics_frame(), ref.metrics_frame()
    np.testing.assert_allclose(frame["stable_rank"], ref_frame["stable_rank"], rtol=1e-4)


def test_every_mesh_shape_on_eight_devices_trains_like_one(tmp_path: Path) -> None:
    one = run_cli([*ARGS, f"run.dir={tmp_path / 'one'}"], devices=1)
    assert one.returncode == 0, one.stderr[-3000:]
    for name, mesh in [
        ("fsdp8", ["mesh.fsdp=-1"]),
        ("fsdp4_data2", ["mesh.data=2", "mesh.fsdp=4"]),
        ("data8", []),
    ]:
        proc = run_cli([*ARGS, *mesh, f"run.dir={tmp_path / name}"], devices=8)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
        np.testing.assert_allclose(
            losses(tmp_path / name), losses(tmp_path / "one"), rtol=1e-5, err_msg=name
        )
        assert_same_spectra(tmp_path / name, tmp_path / "one")


def test_resume_onto_other_mesh_shapes_continues_the_run(tmp_path: Path) -> None:
    """fsdp=4 → data=2 x fsdp=2 → one device, each resumed from a checkpoint of the previous
    mesh shape: the log continues from the checkpoint with the data position kept."""
    args = [*TINY, "train.steps=12", "spectral.every=0", "optim.lr=1e-2"]
    args += ["train.checkpoint_every=4", "train.keep_checkpoints=5"]
    straight = tmp_path / "straight"
    proc = run_cli([*args, "mesh.fsdp=-1", f"run.dir={straight}"], devices=4)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def resume(source: Path, target: Path, keep_until: int, mesh: list[str], devices: int) -> None:
        shutil.copytree(source, target)
        for checkpoint in (target / "checkpoints").iterdir():
            if int(checkpoint.name) > keep_until:
                shutil.rmtree(checkpoint)
        proc = run_cli([*args, *mesh, f"run.dir={target}"], devices=devices)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"resumed {target} from step {keep_until}" in proc.stderr

    resume(straight, tmp_path / "mixed", 4, ["mesh.data=2", "mesh.fsdp=2"], 4)
    resume(tmp_path / "mixed", tmp_path / "single", 8, ["mesh.data=1"], 1)
    expected = losses(straight)
    for name in ("mixed", "single"):
        rows = [r for r in read_metrics(tmp_path / name) if "loss" in r]
        assert [r["step"] for r in rows] == list(range(1, 13)), name
        # A lost data position would train on other batches: losses far outside round-off.
        np.testing.assert_allclose(losses(tmp_path / name), expected, rtol=1e-5, err_msg=name)
    assert losses(tmp_path / "single")[:8].tolist() == losses(tmp_path / "mixed")[:8].tolist()


def test_fsdp_across_two_processes_trains_like_one(tmp_path: Path) -> None:
    """fsdp=2 with one device in each of two processes (gloo): every parameter is split across
    the processes, so each step gathers weights and reduce-scatters gradients between them."""
    args = [*ARGS, "train.steps=12", "train.checkpoint_every=5", "mesh.fsdp=-1"]
    results = run_two_processes([*args, f"run.dir={tmp_path / 'two'}"])
    for rank, (code, err) in enumerate(results):
        assert code == 0, f"process {rank} exited {code}:\n{err[-3000:]}"
    single = run_cli([*args, f"run.dir={tmp_path / 'one'}"], devices=1)
    assert single.returncode == 0, single.stderr[-3000:]
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(tmp_path / "one"), rtol=1e-5)
    assert sorted(int(p.name) for p in (tmp_path / "two" / "checkpoints").iterdir()) == [5, 10, 12]
    store_two, store_one = (SpectraStore(tmp_path / n / "spectra") for n in ("two", "one"))
    assert store_two.steps() == store_one.steps() == [0, 5, 10, 12]
    np.testing.assert_allclose(store_two.sigma("q"), store_one.sigma("q"), rtol=1e-4, atol=1e-6)
