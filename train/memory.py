"""How many bytes one device needs for a run, from shapes alone (nothing is allocated).

Logged at start-up so a user sees before step 1 whether the run fits, and printed for large
configs by `bench/memory.py`. Four parts, per device:

- **state**: parameters and optimizer state as stored, sharded along `fsdp` by the rule of
  `train/sharding.py` (an array no axis of which `fsdp` divides is replicated);
- **gathered parameters**: the train step gathers whole parameters before use
  (`train.step.gathered`), so a full copy in the compute dtype exists while it runs (0 extra
  without FSDP: the stored copy is already whole);
- **activations**: an estimate of what the backward pass keeps for one micro-batch, per layer
  and token: the block's input and two norm outputs (3·d), q, k, v and the attention output
  (4·inner), the MLP's hidden values before and after the activation (2·d_ff, 3·d_ff for
  SwiGLU), in the compute dtype (`model.dtype`); the attention scores (heads·T, float32) and
  probabilities (heads·T, compute dtype); plus the float32 logits, their softmax and gradient
  (3·vocab per token). Each term takes the dtype the model computes it in
  (`spectral_jax/model.py`: scores and logits are float32 whatever `model.dtype`). Real
  programs differ by XLA's fusion and rematerialisation choices: read it as the order of
  magnitude;
- the **total** of the three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from spectral_jax.model_config import ModelConfig
from train.sharding import bytes_per_device

FLOAT32_BYTES = jnp.dtype(jnp.float32).itemsize  # attention scores and logits, in any dtype


@dataclass(frozen=True, kw_only=True)
class MemoryEstimate:
    """Bytes one device needs (module docstring)."""

    state: int
    gathered_params: int
    activations: int

    @property
    def total(self) -> int:
        return self.state + self.gathered_params + self.activations

    def describe(self) -> str:
        return (
            f"{_gib(self.total)} per device: state {_gib(self.state)} (parameters + optimizer, "
            f"sharded), gathered parameters {_gib(self.gathered_params)}, activations "
            f"≈ {_gib(self.activations)}"
        )


def _gib(n_bytes: int) -> str:
    """Bytes in GiB, or MiB below one GiB."""
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:.1f} MiB"
    return f"{n_bytes / 2**30:.2f} GiB"


def activation_bytes(model_cfg: ModelConfig, sequences: int, seq_len: int) -> int:
    """Estimated bytes the backward pass keeps for `sequences` × `seq_len` tokens."""
    inner = model_cfg.n_heads * model_cfg.head_dim
    mlp = (3 if model_cfg.mlp == "swiglu" else 2) * model_cfg.d_ff
    itemsize = jnp.dtype(model_cfg.dtype).itemsize
    attention = model_cfg.n_heads * seq_len * (FLOAT32_BYTES + itemsize)  # scores, probabilities
    per_token_layer = (3 * model_cfg.d_model + 4 * inner + mlp) * itemsize + attention
    tokens = sequences * seq_len
    blocks = tokens * model_cfg.n_layers * per_token_layer
    logits = tokens * 3 * model_cfg.vocab_size * FLOAT32_BYTES
    return blocks + logits


def estimate(
    model_cfg: ModelConfig,
    state: Any,
    *,
    fsdp: int,
    sequences_per_device: int,
    seq_len: int,
) -> MemoryEstimate:
    """Bytes per device for `state` (arrays or shape structs) sharded `fsdp` ways, with
    `sequences_per_device` sequences of `seq_len` tokens in one micro-batch."""
    params = state["params"]
    whole = sum(
        math.prod(leaf.shape) * jnp.dtype(model_cfg.dtype).itemsize
        for leaf in jax.tree.leaves(params)
    )
    return MemoryEstimate(
        state=bytes_per_device(state, fsdp),
        gathered_params=whole if fsdp > 1 else 0,
        activations=activation_bytes(model_cfg, sequences_per_device, seq_len),
    )
