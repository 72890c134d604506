"""The start-up memory estimate: the state's bytes per device, the gathered copy, activations."""

from __future__ import annotations

import math
from collections.abc import Iterator

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig
from tests.helpers import run_cli
from train import memory
from train.step import abstract_state

CFG = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_ff=64, vocab_size=48, max_seq_len=16)


def test_state_counts_parameters_and_both_adam_moments() -> None:
    state = abstract_state(CFG, optax.adamw(1e-3))
    n_params = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(state["params"]))
    whole = memory.estimate(CFG, state, fsdp=1, sequences_per_device=1, seq_len=16)
    # params + mu + nu in float32, plus small integer counters (step, Adam's count)
    assert 3 * 4 * n_params <= whole.state < 3 * 4 * n_params + 64
    assert whole.gathered_params == 0  # without FSDP the stored copy is already whole
    sharded = memory.estimate(CFG, state, fsdp=4, sequences_per_device=1, seq_len=16)
    assert sharded.gathered_params == 4 * n_params
    assert whole.state / 4 <= sharded.state < whole.state  # small vectors stay replicated


def test_activations_grow_with_tokens_layers_and_the_attention_square() -> None:
    one = memory.activation_bytes(CFG, sequences=1, seq_len=16)
    assert memory.activation_bytes(CFG, sequences=3, seq_len=16) == 3 * one
    deeper = CFG.model_copy(update={"n_layers": 4})
    logits = 16 * 3 * CFG.vocab_size * 4
    assert memory.activation_bytes(deeper, 1, 16) - logits == 2 * (one - logits)
    per_token = [memory.activation_bytes(CFG, 1, t) / t for t in (8, 16)]
    assert np.isclose(per_token[1] - per_token[0], 2 * CFG.n_layers * CFG.n_heads * 8 * 4)


def _dot_generals(jaxpr: jax.extend.core.Jaxpr) -> Iterator[jax.extend.core.JaxprEqn]:
    """Every dot_general of a jaxpr, nested ones (inside jit, einsum) included."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            yield eqn
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if isinstance(inner, jax.extend.core.Jaxpr):
                yield from _dot_generals(inner)


def _model_dtypes(cfg: ModelConfig, batch: int, seq_len: int) -> dict[str, np.dtype]:
    """The dtypes the model really computes in, read off its traced programs (not from
    train/memory.py): the logits, the attention scores [B, H, T, T] and the probabilities that
    multiply V."""
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    tokens = jax.ShapeDtypeStruct((batch, seq_len), np.int32)
    logits = jax.eval_shape(lambda t: model(t), tokens)
    assert logits.shape == (batch, seq_len, cfg.vocab_size)
    x = jnp.zeros((batch, seq_len, cfg.d_model), cfg.dtype)
    jaxpr = jax.make_jaxpr(lambda x: model.blocks[0].attn(x))(x).jaxpr
    square = (batch, cfg.n_heads, seq_len, seq_len)
    dots = list(_dot_generals(jaxpr))
    [scores] = [e.outvars[0].aval.dtype for e in dots if e.outvars[0].aval.shape == square]
    [probs] = [v.aval.dtype for e in dots for v in e.invars if v.aval.shape == square]
    return {"logits": logits.dtype, "scores": scores, "probabilities": probs}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("mlp", ["gelu", "swiglu"])
def test_activation_bytes_use_the_dtype_each_part_is_computed_in(dtype: str, mlp: str) -> None:
    """Exact bytes against a count from the model's own shapes and dtypes: the logits and the
    attention scores stay float32 when the compute dtype is bfloat16 or float16, and counting
    them at the compute dtype's size (or the compute parts at 4 bytes) is the bug caught."""
    fields = {k: v for k, v in CFG.model_dump().items() if k != "activation"}  # mlp decides
    cfg = ModelConfig.model_validate({**fields, "dtype": dtype, "mlp": mlp})
    sequences, seq_len = 3, 16
    dtypes = _model_dtypes(cfg, sequences, seq_len)
    compute = np.dtype(cfg.dtype).itemsize
    tokens = sequences * seq_len
    hidden = (3 if mlp == "swiglu" else 2) * cfg.d_ff
    per_token_layer = (3 * cfg.d_model + 4 * cfg.n_heads * cfg.head_dim + hidden) * compute
    per_token_layer += cfg.n_heads * seq_len * dtypes["scores"].itemsize
    per_token_layer += cfg.n_heads * seq_len * dtypes["probabilities"].itemsize
    logits = 3 * tokens * cfg.vocab_size * dtypes["logits"].itemsize  # logits, softmax, grad
    expected = tokens * cfg.n_layers * per_token_layer + logits
    assert memory.activation_bytes(cfg, sequences, seq_len) == expected


def test_the_trainer_logs_the_estimate_before_training(tmp_path, tiny) -> None:
    proc = run_cli([*tiny, "train.steps=1", "spectral.every=0", f"run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("memory: "))
    assert "per device: state" in line and "(mesh data=1 x fsdp=1)" in line
