"""GPT-2 124M's sizes, which several benchmarks take by default: 12 layers of width 768, each
with q, k, v, o (768x768), mlp_in (768x3072) and mlp_out (3072x768)."""

from __future__ import annotations

import argparse

from spectral_jax.matrices import default_kinds, matrix_shapes
from spectral_jax.model_config import ModelConfig

LAYERS, D_MODEL = 12, 768


def block_shapes(d_model: int = D_MODEL) -> dict[str, tuple[int, int]]:
    """`(in, out)` of each matrix of a GPT-2 block of width `d_model` (its MLP 4x wider), named
    and oriented as the model's own (`spectral_jax.matrices`)."""
    cfg = ModelConfig(d_model=d_model, n_heads=1, d_ff=4 * d_model)  # heads change no shape
    return {kind: matrix_shapes(cfg)[kind] for kind in default_kinds(cfg)}


def add_size_options(parser: argparse.ArgumentParser) -> None:
    """`--layers` and `--d-model`, GPT-2 124M's by default."""
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--d-model", type=int, default=D_MODEL)
