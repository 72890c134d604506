"""Training invariants no other test pins: the weight-decay mask, evaluation on the validation
split, and gradient accumulation equal to one full-batch step (with clipping off)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import train.loop as loop
from spectral_jax.model import Transformer
from tests.helpers import TINY, read_metrics
from train.checkpoint import Checkpointer
from train.config import Config, load_config
from train.corpora import Corpus, synthetic_tokens
from train.data import validation_batches
from train.mesh import global_batch, make_mesh
from train.optim import make_optimizer
from train.step import cross_entropy, init_state, make_train_step

EPS = float(np.finfo(np.float32).eps)


def tiny_config(*overrides: str) -> Config:
    return load_config(None, [*TINY, *overrides])


def split_model(cfg: Config) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    return nnx.split(Transformer(cfg.model, rngs=nnx.Rngs(cfg.run.seed)), nnx.Param, ...)


def leaves(tree: object) -> dict[str, jax.Array]:
    """Every leaf of a parameter tree by its path, e.g. `blocks/0/norm_attn/scale`."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    names = (
        "/".join(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))
        for path, _ in flat
    )
    return dict(zip(names, (leaf for _, leaf in flat), strict=True))


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_changes_exactly_the_matrices(name: str) -> None:
    """One update with zero gradients moves only the ≥2-D parameters, each by exactly
    −lr·wd·p; norm scales and biases (1-D) stay bit for bit."""
    lr, wd = 0.1, 0.5
    cfg = tiny_config(
        f"optim.name={name}",
        f"optim.lr={lr}",
        f"optim.weight_decay={wd}",
        "optim.warmup_steps=0",
        "optim.schedule=constant",
        "optim.grad_clip=null",
    )
    _, params, _ = split_model(cfg)
    # Non-zero everywhere: decaying a zero-initialised bias would change nothing.
    rng = np.random.default_rng(0)
    params = jax.tree.map(
        lambda p: p + jnp.asarray(rng.uniform(0.5, 1.5, p.shape), p.dtype), params
    )
    tx, _ = make_optimizer(cfg.optim, total_steps=10)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    before, after = leaves(params), leaves(optax.apply_updates(params, updates))
    vectors = [path for path, p in before.items() if p.ndim < 2]
    matrices = [path for path, p in before.items() if p.ndim >= 2]
    assert any(p.endswith("scale") for p in vectors) and any(p.endswith("bias") for p in vectors)
    assert any("embed" in p for p in matrices) and any("kernel" in p for p in matrices)
    for path in vectors:
        np.testing.assert_array_equal(after[path], before[path], err_msg=path)
    for path in matrices:
        np.testing.assert_allclose(
            after[path], before[path] * (1 - lr * wd), rtol=1e-6, err_msg=path
        )


def test_the_loop_evaluates_on_the_validation_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training tokens use ids 0..31 and validation tokens 32..63, so the two losses part after
    a few steps; the logged val_loss equals the checkpoint's loss on `corpus.val` batches."""
    chain = synthetic_tokens(12_000, 32, seed=5)
    corpus = Corpus(train=chain, val=(chain[:3000] + 32).astype(np.int32))
    monkeypatch.setattr(loop, "load_corpus", lambda data, vocab_size: corpus)
    steps = 6
    cfg = tiny_config(
        f"train.steps={steps}",
        f"train.eval_every={steps}",
        "train.eval_batches=2",
        "optim.lr=3e-2",
        "optim.warmup_steps=0",
        "spectral.every=0",
        f"run.dir={tmp_path}",
    )
    result = loop.train(cfg)
    logged = [r["val_loss"] for r in read_metrics(tmp_path) if "val_loss" in r]
    assert logged == [pytest.approx(result.final_val_loss)]

    graphdef, params, rest = split_model(cfg)
    tx, _ = make_optimizer(cfg.optim, steps)
    with Checkpointer(tmp_path / "checkpoints", keep=3) as ckpt:
        state, _ = ckpt.restore(steps, init_state(params, tx))
    model = nnx.merge(graphdef, state["params"], rest)

    def mean_loss(tokens: np.ndarray) -> float:
        batches = validation_batches(tokens, cfg.train.seq_len, cfg.train.batch_size, 2)
        losses = [cross_entropy(model(b["inputs"]), b["targets"]) for b in batches]
        return float(np.mean(losses))

    on_val, on_train = mean_loss(corpus.val), mean_loss(corpus.train)
    assert result.final_val_loss == pytest.approx(on_val, rel=1e-5)
    assert abs(on_val - on_train) > 1e-2 * on_val  # the two splits are far apart


def _one_step(cfg: Config, grad_accum: int, batch: dict) -> tuple[dict, dict]:
    """Parameters before and after one train step on `batch`, and the step's metrics."""
    graphdef, params, rest = split_model(cfg)
    tx, schedule = make_optimizer(cfg.optim, cfg.train.steps)
    mesh = make_mesh(cfg.mesh)
    before = jax.device_get(leaves(params))
    step = make_train_step(graphdef, rest, tx, schedule, mesh, grad_accum=grad_accum)
    state, metrics = step(init_state(params, tx), global_batch(batch, mesh))
    return before, {"params": jax.device_get(leaves(state["params"])), **jax.device_get(metrics)}


@pytest.mark.parametrize("grad_accum", [4])
def test_grad_accumulation_equals_the_full_batch_without_clipping(grad_accum: int) -> None:
    """With clipping off and plain SGD (update = −lr·g), micro-batch gradients averaged over
    `grad_accum` give the full batch's loss, gradient norm and update to float32 round-off;
    summing instead of averaging is off by a factor of `grad_accum`."""
    cfg = tiny_config(
        "optim.name=sgd",
        "optim.momentum=0",
        "optim.weight_decay=0",
        "optim.schedule=constant",
        "optim.warmup_steps=0",
        "optim.lr=0.5",
        "optim.grad_clip=null",
        "mesh.data=1",
    )
    rng = np.random.default_rng(7)
    windows = rng.integers(0, cfg.model.vocab_size, (cfg.train.batch_size, cfg.train.seq_len + 1))
    batch = {"inputs": windows[:, :-1].astype(np.int32), "targets": windows[:, 1:].astype(np.int32)}
    before, full = _one_step(cfg, 1, batch)
    _, accum = _one_step(cfg, grad_accum, batch)
    assert float(accum["loss"]) == pytest.approx(float(full["loss"]), rel=1e-5)
    assert float(accum["grad_norm"]) == pytest.approx(float(full["grad_norm"]), rel=1e-4)
    want = {path: full["params"][path] - start for path, start in before.items()}
    got = {path: accum["params"][path] - start for path, start in before.items()}
    largest = max(float(np.abs(u).max()) for u in want.values())
    for path, start in before.items():
        # 1e-4 of the largest update, plus the round-off of the subtraction (ulps of p).
        atol = 1e-4 * largest + 4 * EPS * float(np.abs(start).max())
        np.testing.assert_allclose(got[path], want[path], rtol=0, atol=atol, err_msg=path)
