"""FSDP: the sharding rule, mesh checks, and on 4 simulated CPU devices the same numbers as one
device: losses, a probe split over the devices, checkpoints restored onto other mesh shapes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from jax.sharding import PartitionSpec

from tests.helpers import REPO, TINY, cli_env, run_cli
from train.config import ConfigError, MeshConfig, load_config
from train.mesh import mesh_shape
from train.sharding import bytes_per_device, fsdp_axis, fsdp_spec


def test_rule_splits_the_largest_divisible_axis() -> None:
    assert fsdp_axis((768, 3072), 8) == 1  # mlp_in: columns
    assert fsdp_axis((3072, 768), 8) == 0  # mlp_out: rows
    assert fsdp_axis((768, 768), 8) == 0  # a tie: the first axis
    assert fsdp_axis((50257, 768), 8) == 1  # the vocabulary does not divide: d_model does
    assert fsdp_axis((50257,), 8) is None  # nothing divides: replicated
    assert fsdp_axis((), 8) is None  # scalars (step, Adam's count)
    assert fsdp_axis((768, 3072), 1) is None  # no fsdp axis: replicated
    assert fsdp_spec((3072, 768), 4) == PartitionSpec("fsdp", None)
    assert fsdp_spec((7, 5), 4) == PartitionSpec()
    with pytest.raises(ValueError, match="fsdp device count"):
        fsdp_axis((8, 8), 0)


def test_bytes_per_device_divide_by_fsdp() -> None:
    import jax

    tree = {
        "w": jax.ShapeDtypeStruct((64, 32), np.float32),
        "n": jax.ShapeDtypeStruct((), np.int32),
    }
    assert bytes_per_device(tree, 1) == 64 * 32 * 4 + 4
    assert bytes_per_device(tree, 8) == 64 * 32 * 4 // 8 + 4


@pytest.mark.parametrize(
    ("data", "fsdp", "devices", "shape"),
    [
        (-1, 1, 8, (8, 1)),
        (1, -1, 8, (1, 8)),
        (2, -1, 8, (2, 4)),
        (-1, 4, 8, (2, 4)),
        (1, 1, 1, (1, 1)),
    ],
)
def test_mesh_shape_fills_in_the_rest(data: int, fsdp: int, devices: int, shape: tuple) -> None:
    assert mesh_shape(MeshConfig(data=data, fsdp=fsdp), devices) == shape


@pytest.mark.parametrize(("data", "fsdp"), [(-1, 3), (2, 2), (4, 4), (1, 1)])
def test_a_mesh_that_does_not_fit_names_both_keys(data: int, fsdp: int) -> None:
    with pytest.raises(ConfigError) as err:
        mesh_shape(MeshConfig(data=data, fsdp=fsdp), 8)
    message = str(err.value)
    assert "mesh.data" in message and "mesh.fsdp" in message and "\n" not in message


def test_mesh_keys_are_validated() -> None:
    assert load_config(None, ["mesh.fsdp=-1"]).mesh == MeshConfig(data=1, fsdp=-1)
    for bad in (["mesh.data=-1", "mesh.fsdp=-1"], ["mesh.fsdp=0"], ["mesh.data=-2"]):
        with pytest.raises(ConfigError, match="mesh"):
            load_config(None, bad)


def test_cli_bad_mesh_exits_2_naming_both_keys(tmp_path: Path) -> None:
    proc = run_cli(["mesh.fsdp=3", f"run.dir={tmp_path / 'run'}"], devices=8)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "mesh.data" in proc.stderr and "mesh.fsdp" in proc.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from train.checkpoint import Checkpointer
    from train.config import load_config
    from train.corpora import load_corpus
    from train.data import TrainLoader
    from train.mesh import global_batch, make_mesh
    from train.optim import make_optimizer
    from train.sharding import state_shardings
    from train.step import create_state, make_train_step
    from spectral_jax.matrices import named_matrices
    from spectral_jax.probe import probe
    from flax import nnx

    cfg = load_config(None, json.loads(sys.argv[1]))
    steps, ckpt_dir = 20, sys.argv[2]
    tx, schedule = make_optimizer(cfg.optim, steps)
    corpus = load_corpus(cfg.data, cfg.model.vocab_size)
    out = {"devices": jax.device_count()}

    def mesh_of(overrides, devices=None):
        return make_mesh(load_config(None, overrides).mesh, devices)

    def trainer(mesh):
        graphdef, rest, state = create_state(cfg.model, cfg.run.seed, tx, mesh)
        shardings = state_shardings(state, mesh)
        step = make_train_step(graphdef, rest, tx, schedule, mesh, state_sharding=shardings)
        return graphdef, rest, state, shardings, step

    def run(mesh, state, step, loader, n):
        losses = []
        for _ in range(n):
            state, metrics = step(state, global_batch(next(loader), mesh))
            losses.append(float(metrics["loss"]))
        return state, losses

    meshes = {
        "one": mesh_of(["mesh.data=1"], jax.devices()[:1]),
        "fsdp4": mesh_of(["mesh.fsdp=-1"]),
        "data2_fsdp2": mesh_of(["mesh.data=2", "mesh.fsdp=2"]),
        "data4": mesh_of([]),
    }
    trainers = {name: trainer(mesh) for name, mesh in meshes.items()}
    states = {}
    for name, (graphdef, rest, state, _, step) in trainers.items():
        states[name], out[name] = run(meshes[name], state, step, TrainLoader(corpus.train, 32, 8, 0), steps)

    # What one device of fsdp=4 holds of a weight and of its Adam moment.
    params = states["fsdp4"]["params"]
    kernel = params["blocks"][0]["mlp"]["mlp_in"]["kernel"]
    mu = states["fsdp4"]["opt_state"][1][0].mu["blocks"][0]["mlp"]["mlp_in"]["kernel"]
    out["shard"] = {"full": kernel.shape, "kernel": kernel.addressable_shards[0].data.shape,
                    "mu": mu.addressable_shards[0].data.shape}

    # The probe split over the 4 devices against the same matrices whole on one device.
    graphdef = trainers["fsdp4"][0]
    named = named_matrices(nnx.merge(graphdef, params, trainers["fsdp4"][1]))
    host = {key: np.asarray(value) for key, value in named.items()}
    out["probe_identical"] = {}
    for method, backend in (("svd", None), ("gram", "gpu"), ("gram", "cpu")):
        split = jax.device_get(probe(named, method, backend=backend, mesh=meshes["fsdp4"]))
        whole = jax.device_get(probe(host, method, backend=backend))
        out["probe_identical"][f"{method}/{backend}"] = all(
            np.array_equal(a, b, equal_nan=True)
            for a, b in zip(jax.tree.leaves(split), jax.tree.leaves(whole), strict=True))

    # Checkpoint at step 10 of fsdp=4, restore onto data=2 x fsdp=2 and onto one device, go on.
    def fresh(name):  # a new state on a mesh whose step is already compiled
        return create_state(cfg.model, cfg.run.seed, tx, meshes[name])[2]

    loader = TrainLoader(corpus.train, 32, 8, 0)
    state, _ = run(meshes["fsdp4"], fresh("fsdp4"), trainers["fsdp4"][4], loader, 10)
    saved_host = jax.device_get(state)
    with Checkpointer(ckpt_dir, keep=2, async_save=False) as checkpointer:
        checkpointer.save(10, state, loader.get_state())
    out["resumed"] = {}
    for name in ("data2_fsdp2", "one"):
        mesh = meshes[name]
        _, _, _, shardings, step = trainers[name]
        template = fresh(name)
        with Checkpointer(ckpt_dir, keep=2, async_save=False) as checkpointer:
            at, restored, data_state = checkpointer.restore_latest(template)
        bitwise = all(np.array_equal(a, b) for a, b in
                      zip(jax.tree.leaves(jax.device_get(restored)), jax.tree.leaves(saved_host)))
        laid_out = all(a.sharding.is_equivalent_to(b, a.ndim) for a, b in
                       zip(jax.tree.leaves(restored), jax.tree.leaves(shardings)))
        resumed_loader = TrainLoader(corpus.train, 32, 8, 0)
        resumed_loader.set_state(data_state)
        _, resumed = run(mesh, restored, step, resumed_loader, 5)
        # Uninterrupted on the target mesh: the step-10 state moved there in memory.
        moved = jax.device_put(saved_host, shardings)
        reference_loader = TrainLoader(corpus.train, 32, 8, 0)
        reference_loader.set_state(loader.get_state())
        _, reference = run(mesh, moved, step, reference_loader, 5)
        out["resumed"][name] = {"step": at, "bitwise": bitwise, "laid_out": laid_out,
                                "resumed": resumed, "reference": reference,
                                "data_state_kept": data_state == loader.get_state()}
    print("RESULT" + json.dumps(out))
    """
)


def test_fsdp_on_four_devices_matches_one(tmp_path: Path) -> None:
    args = [*TINY, "optim.lr=1e-2"]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args), str(tmp_path / "checkpoints")],
        cwd=REPO,
        env=cli_env(devices=4),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    out = json.loads(line[len("RESULT") :])
    assert out["devices"] == 4

    one = np.array(out["one"])
    assert one.shape == (20,) and one[-1] < one[0]
    for name in ("fsdp4", "data2_fsdp2", "data4"):
        # The same maths; only the order of float32 reductions across devices differs.
        np.testing.assert_allclose(out[name], one, rtol=1e-5, atol=0, err_msg=name)

    # mlp_in is d_model x d_ff = 32 x 64: each of the 4 devices holds a quarter of its columns,
    # and the same quarter of its Adam moment.
    assert out["shard"] == {"full": [32, 64], "kernel": [32, 16], "mu": [32, 16]}

    assert out["probe_identical"] == {"svd/None": True, "gram/gpu": True, "gram/cpu": True}

    for name, resumed in out["resumed"].items():
        assert resumed["step"] == 10, name
        assert resumed["bitwise"] and resumed["laid_out"] and resumed["data_state_kept"], name
        assert resumed["resumed"] == resumed["reference"], name  # bitwise, not approximately
