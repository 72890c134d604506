"""Typed description of a decoder-only transformer (the `model.*` config section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DTypeName = Literal["float32", "bfloat16", "float16"]


class ModelConfig(BaseModel):
    """Architecture of a decoder-only transformer; every field is a config key `model.<field>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_layers: int = Field(4, gt=0)
    d_model: int = Field(128, gt=0)
    n_heads: int = Field(4, gt=0)
    d_ff: int = Field(512, gt=0)
    vocab_size: int = Field(512, gt=0)
    max_seq_len: int = Field(128, gt=0)
    positions: Literal["learned", "rotary"] = "learned"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    mlp: Literal["gelu", "swiglu"] = "gelu"
    tied_embeddings: bool = True
    use_bias: bool = True
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    init_std: float = Field(0.02, gt=0.0)
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
