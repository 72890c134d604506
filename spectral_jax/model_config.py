"""Typed description of a decoder-only transformer (the `model.*` config section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

DTypeName = Literal["float32", "bfloat16", "float16"]


class ModelConfig(BaseModel):
    """Architecture of a decoder-only transformer; every field is a config key `model.<field>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    vocab_size: int = 512
    max_seq_len: int = 128
    positions: Literal["learned", "rotary"] = "learned"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    mlp: Literal["gelu", "swiglu"] = "gelu"
    tied_embeddings: bool = True
    use_bias: bool = True
    dropout: float = 0.0
    init_std: float = 0.02
    dtype: DTypeName = "float32"
    param_dtype: DTypeName = "float32"

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.n_heads ({self.n_heads})"
            )
        if self.positions == "rotary" and (self.d_model // self.n_heads) % 2:
            raise ValueError("model.positions=rotary needs an even head dimension")
        for name in ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size", "max_seq_len"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("model.dropout must be in [0, 1)")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def describe(self) -> dict:
        """The model description stored in spectra meta.json."""
        return {
            "family": "spectral_jax.Transformer",
            "layers": self.n_layers,
            "d_model": self.d_model,
            "heads": self.n_heads,
            "d_ff": self.d_ff,
            "vocab_size": self.vocab_size,
            "mlp": self.mlp,
        }
