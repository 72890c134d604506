"""Typed description of a decoder-only transformer (the `model.*` config section)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DTypeName = Literal["float32", "bfloat16", "float16"]
Activation = Literal["gelu_tanh", "gelu", "swiglu"]

# Keys added after the first stores were written, with their defaults: `describe()` lists them
# only when they differ, so a store written before they existed stays appendable on resume.
_ARCHITECTURE_DEFAULTS: dict[str, Any] = {
    "activation": "gelu_tanh",
    "parallel_residual": False,
    "rotary_fraction": 1.0,
    "rotary_base": 10_000.0,
    "norm_eps": 1e-5,
}


class ModelConfig(BaseModel):
    """Architecture of a decoder-only transformer; every field is a config key `model.<field>`.

    `mlp` is the MLP's form (`gelu`: mlp_in → activation → mlp_out; `swiglu`: gated, with an
    extra `mlp_gate` matrix); `activation` is its nonlinearity. Either key alone decides the
    other: `mlp: gelu` means `activation: gelu_tanh` (what `mlp: gelu` has always computed),
    `mlp: swiglu` means `activation: swiglu`, and `activation: gelu` (exact erf GELU) keeps
    `mlp: gelu`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_layers: int = Field(4, gt=0)
    d_model: int = Field(128, gt=0)
    n_heads: int = Field(4, gt=0)
    d_ff: int = Field(512, gt=0)
    vocab_size: int = Field(512, gt=0)
    max_seq_len: int = Field(128, gt=0)
    positions: Literal["learned", "rotary"] = "learned"
    rotary_fraction: float = Field(1.0, gt=0.0, le=1.0)  # share of each head's dims rotated
    rotary_base: float = Field(10_000.0, gt=0.0)  # θ of inv_freq = θ^(−2i/n)
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    norm_eps: float = Field(1e-5, gt=0.0)
    mlp: Literal["gelu", "swiglu"] = "gelu"
    activation: Activation = "gelu_tanh"
    parallel_residual: bool = False  # x + attn(norm(x)) + mlp(norm(x)) (GPT-NeoX, GPT-J)
    tied_embeddings: bool = True
    use_bias: bool = True
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    init_std: float = Field(0.02, gt=0.0)
    dtype: DTypeName = "float32"
    param_dtype: DTypeName = "float32"

    @model_validator(mode="before")
    @classmethod
    def _one_key_decides_the_other(cls, data: Any) -> Any:
        if isinstance(data, dict):
            mlp, activation = data.get("mlp"), data.get("activation")
            if activation is None and mlp == "swiglu":
                data = {**data, "activation": "swiglu"}
            elif mlp is None and activation == "swiglu":
                data = {**data, "mlp": "swiglu"}
        return data

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model.d_model ({self.d_model}) must be divisible by model.n_heads ({self.n_heads})"
            )
        if (self.mlp == "swiglu") != (self.activation == "swiglu"):
            raise ValueError(
                f"model.activation={self.activation} does not fit model.mlp={self.mlp} "
                "(swiglu goes with swiglu; gelu and gelu_tanh with mlp=gelu)"
            )
        if self.positions == "rotary":
            if self.rotary_fraction == 1.0 and self.head_dim % 2:
                raise ValueError("model.positions=rotary needs an even head dimension")
            if self.rotary_dims < 2 or self.rotary_dims % 2:
                raise ValueError(
                    f"model.rotary_fraction ({self.rotary_fraction}) of head dimension "
                    f"{self.head_dim} rotates {self.rotary_dims} dims; it must be an even "
                    "number ≥ 2"
                )
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def rotary_dims(self) -> int:
        """Leading dims of each head that rotary rotates: int(head_dim · rotary_fraction)."""
        return int(self.head_dim * self.rotary_fraction)

    def describe(self) -> dict:
        """The model description stored in spectra meta.json (architecture keys listed only
        where they depart from their defaults)."""
        described = {
            "family": "spectral_jax.Transformer",
            "layers": self.n_layers,
            "d_model": self.d_model,
            "heads": self.n_heads,
            "d_ff": self.d_ff,
            "vocab_size": self.vocab_size,
            "mlp": self.mlp,
        }
        for key, default in _ARCHITECTURE_DEFAULTS.items():
            value = getattr(self, key)
            if value != default and not (key == "activation" and value == "swiglu"):
                described[key] = value
        return described
