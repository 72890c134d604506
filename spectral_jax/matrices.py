"""The probed matrices of a model, named `(layer, kind)` (docs/architecture.md).

Every matrix is returned float32 in `[in, out]` orientation (the layout of `nnx.Linear.kernel`):
q/k/v `d_model x heads*head_dim`, o `heads*head_dim x d_model`, mlp_in/mlp_gate `d_model x d_ff`,
mlp_out `d_ff x d_model`; embed `vocab x d_model` and unembed `d_model x vocab` (untied models
only) at layer -1.

Default kinds are the per-layer matrices only (`default_kinds`): the embeddings are one matrix each,
not part of the depth profiles the paper studies, and their SVD (vocab x d_model) can cost more
than all blocks together; ask for them with `kinds=[..., "embed", "unembed"]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig

BLOCK_KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_gate", "mlp_out")
GLOBAL_KINDS = ("embed", "unembed")  # layer -1; probed only when asked for


def default_kinds(cfg: ModelConfig) -> tuple[str, ...]:
    """Kinds probed by default: every per-layer matrix (`mlp_gate` only for SwiGLU)."""
    return tuple(k for k in BLOCK_KINDS if k != "mlp_gate" or cfg.mlp == "swiglu")


def available_kinds(cfg: ModelConfig) -> tuple[str, ...]:
    """Every kind this model has: `default_kinds` plus embed (and unembed when untied)."""
    return (*default_kinds(cfg), "embed", *(() if cfg.tied_embeddings else ("unembed",)))


def matrix_shapes(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    """Shape `(in, out)` of each available kind's matrix (`available_kinds` order)."""
    inner = cfg.n_heads * cfg.head_dim
    shapes = {
        "q": (cfg.d_model, inner),
        "k": (cfg.d_model, inner),
        "v": (cfg.d_model, inner),
        "o": (inner, cfg.d_model),
        "mlp_in": (cfg.d_model, cfg.d_ff),
        "mlp_gate": (cfg.d_model, cfg.d_ff),
        "mlp_out": (cfg.d_ff, cfg.d_model),
        "embed": (cfg.vocab_size, cfg.d_model),
        "unembed": (cfg.d_model, cfg.vocab_size),
    }
    return {k: shapes[k] for k in available_kinds(cfg)}


def kind_layers(cfg: ModelConfig, kinds: Sequence[str]) -> dict[str, list[int]]:
    """Layer indices of each kind: 0..L-1 for block matrices, [-1] for embeddings."""
    return {k: [-1] if k in GLOBAL_KINDS else list(range(cfg.n_layers)) for k in kinds}


def named_matrices(
    model: Transformer, kinds: Sequence[str] | None = None
) -> dict[tuple[int, str], jax.Array]:
    """Every probed matrix as float32 `[in, out]`, keyed `(layer, kind)`.

    `kinds=None` means `default_kinds(model.cfg)`. Pure array reads, so it works on a model merged
    from traced parameters inside `jax.jit` (the probe's own jit).
    """
    cfg = model.cfg
    if isinstance(kinds, str):
        kinds = (kinds,)
    wanted = tuple(kinds) if kinds is not None else default_kinds(cfg)
    unknown = [k for k in wanted if k not in available_kinds(cfg)]
    if unknown:
        raise ValueError(
            f"this model has no '{unknown[0]}' matrices (it has: {', '.join(available_kinds(cfg))})"
        )
    out: dict[tuple[int, str], jax.Array] = {}
    for layer, block in enumerate(model.blocks):
        found = {
            "q": block.attn.q,
            "k": block.attn.k,
            "v": block.attn.v,
            "o": block.attn.o,
            "mlp_in": block.mlp.mlp_in,
            "mlp_gate": block.mlp.mlp_gate,
            "mlp_out": block.mlp.mlp_out,
        }
        for kind in wanted:
            if kind in found:
                out[(layer, kind)] = jnp.asarray(found[kind].kernel[...], jnp.float32)
    if "embed" in wanted:
        out[(-1, "embed")] = jnp.asarray(model.embed.embedding[...], jnp.float32)
    if "unembed" in wanted:
        out[(-1, "unembed")] = jnp.asarray(model.unembed.kernel[...], jnp.float32)
    return out
