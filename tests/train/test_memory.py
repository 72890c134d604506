"""The start-up memory estimate: the state's bytes per device, the gathered copy, activations."""

from __future__ import annotations

import math

import jax
import numpy as np
import optax

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


def test_the_trainer_logs_the_estimate_before_training(tmp_path, tiny) -> None:
    proc = run_cli([*tiny, "train.steps=1", "spectral.every=0", f"run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("memory: "))
    assert "per device: state" in line and "(mesh data=1 x fsdp=1)" in line
