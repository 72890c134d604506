"""How the Hugging Face GPT-2 and GPT-NeoX (Pythia) checkpoints map onto `Transformer`.

For each family: its `config.json` → a `ModelConfig` that computes the same function, and the
list of stored tensors (`TensorSpec`) with where each lands in our parameter tree. Layouts, as
transformers writes them:

- GPT-2 (`GPT2LMHeadModel`): `Conv1D` weights are stored `[in, out]`, like our kernels.
  `attn.c_attn` `[d, 3d]` holds q | k | v side by side along its output axis. `gelu_new` is the
  tanh GELU; `lm_head` is tied to `wte`. Names carry a `transformer.` prefix in files written
  by current transformers and none in the hub's original files, whose `h.N.attn.bias` and
  `h.N.attn.masked_bias` are causal-mask buffers (not `attn.c_attn.bias`, a real bias).
- GPT-NeoX (`GPTNeoXForCausalLM`): `nn.Linear` weights are stored `[out, in]` (transposed
  here). `attention.query_key_value` `[3d, d]` interleaves q, k, v per head: its output axis
  is `[heads, 3, head_dim]`. Rotary acts on the first `int(head_dim · partial_rotary_factor)`
  dims of each head (rotate-half); the settings sit in `rope_parameters` (current
  transformers) or `rotary_pct` / `rotary_emb_base` (Pythia's own files). `hidden_act: gelu`
  is the exact erf GELU; `use_parallel_residual` defaults to true; `embed_out` is the untied
  unembedding (no bias). Old files hold buffers `attention.bias`, `attention.masked_bias` and
  `rotary_emb.inv_freq`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from spectral_jax.checkpoint_files import PretrainedError
from spectral_jax.model_config import ModelConfig

ParamPath = tuple[str | int, ...]
Placer = Callable[[np.ndarray], dict[ParamPath, np.ndarray]]
_REQUIRED = object()
_TANH_GELUS = ("gelu_new", "gelu_fast", "gelu_pytorch_tanh")


@dataclass(frozen=True)
class TensorSpec:
    """A stored tensor (name without the family prefix), its shape, and where it goes."""

    name: str
    shape: tuple[int, ...]
    place: Placer


@dataclass(frozen=True)
class Family:
    """One supported `model_type`: its name prefix, buffers, config and tensor plan."""

    model_type: str
    description: str
    prefix: str  # stripped from stored names that carry it
    buffers: tuple[re.Pattern, ...]  # stored non-parameters, skipped
    embedding: str  # the token embedding's name
    head: str  # the unembedding's name (present only when untied)
    model_config: Callable[[dict[str, Any], str], ModelConfig]
    tensor_specs: Callable[[ModelConfig], list[TensorSpec]]

    def is_buffer(self, name: str) -> bool:
        return any(pattern.fullmatch(name) for pattern in self.buffers)


def _get(hf: dict[str, Any], key: str, default: Any = _REQUIRED) -> Any:
    value = hf.get(key)
    if value is None:
        if default is _REQUIRED:
            raise PretrainedError(f"config.json lacks '{key}'")
        return default
    return value


def _refuse(hf: dict[str, Any], key: str, supported: Any, what: str) -> None:
    if key in hf and hf[key] is not None and hf[key] != supported:
        raise PretrainedError(
            f"config.json {key}={hf[key]!r} is not supported ({what}; only {supported!r} is)"
        )


def _activation(hf: dict[str, Any], key: str, default: str) -> str:
    name = _get(hf, key, default)
    if name == "gelu":
        return "gelu"
    if name in _TANH_GELUS:
        return "gelu_tanh"
    raise PretrainedError(
        f"config.json {key}={name!r} is not supported (gelu, {', '.join(_TANH_GELUS)})"
    )


def _build_config(**fields: Any) -> ModelConfig:
    try:
        return ModelConfig(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise PretrainedError(
            f"config.json describes a model spectral-jax cannot build: {first['msg']}"
        ) from None


def _copy(path: ParamPath) -> Placer:
    return lambda w: {path: w}


def _transposed(path: ParamPath) -> Placer:
    return lambda w: {path: w.T}


def _linear(name: str, path: ParamPath, d_in: int, d_out: int, stored_in_out: bool) -> list:
    """Weight and bias of a linear layer; `stored_in_out`: Conv1D `[in, out]`, else `[out, in]`."""
    if stored_in_out:
        weight = TensorSpec(f"{name}.weight", (d_in, d_out), _copy((*path, "kernel")))
    else:
        weight = TensorSpec(f"{name}.weight", (d_out, d_in), _transposed((*path, "kernel")))
    return [weight, TensorSpec(f"{name}.bias", (d_out,), _copy((*path, "bias")))]


def _layernorm(name: str, path: ParamPath, d: int) -> list[TensorSpec]:
    return [
        TensorSpec(f"{name}.weight", (d,), _copy((*path, "scale"))),
        TensorSpec(f"{name}.bias", (d,), _copy((*path, "bias"))),
    ]


# -- GPT-2 -------------------------------------------------------------------------------------


def gpt2_config(hf: dict[str, Any], dtype: str) -> ModelConfig:
    _refuse(hf, "scale_attn_weights", True, "unscaled attention scores")
    _refuse(hf, "scale_attn_by_inverse_layer_idx", False, "scores scaled by 1/(layer+1)")
    _refuse(hf, "add_cross_attention", False, "encoder-decoder cross-attention")
    d_model = _get(hf, "n_embd")
    return _build_config(
        n_layers=_get(hf, "n_layer"),
        d_model=d_model,
        n_heads=_get(hf, "n_head"),
        d_ff=_get(hf, "n_inner", 4 * d_model),
        vocab_size=_get(hf, "vocab_size"),
        max_seq_len=_get(hf, "n_positions"),
        positions="learned",
        norm="layernorm",
        norm_eps=_get(hf, "layer_norm_epsilon", 1e-5),
        mlp="gelu",
        activation=_activation(hf, "activation_function", "gelu_new"),
        tied_embeddings=_get(hf, "tie_word_embeddings", True),
        use_bias=True,
        dtype=dtype,
        param_dtype=dtype,
    )


def _split_gpt2_qkv(block: ParamPath, leaf: str, d: int) -> Placer:
    """c_attn `[d, 3d]` (or its bias `[3d]`): q | k | v along the last axis."""
    return lambda w: {
        (*block, "attn", kind, leaf): w[..., j * d : (j + 1) * d] for j, kind in enumerate("qkv")
    }


def gpt2_specs(cfg: ModelConfig) -> list[TensorSpec]:
    d, ff = cfg.d_model, cfg.d_ff
    specs = [
        TensorSpec("wte.weight", (cfg.vocab_size, d), _copy(("embed", "embedding"))),
        TensorSpec("wpe.weight", (cfg.max_seq_len, d), _copy(("pos_embed", "embedding"))),
    ]
    for i in range(cfg.n_layers):
        h, block = f"h.{i}", ("blocks", i)
        specs += [
            *_layernorm(f"{h}.ln_1", (*block, "norm_attn"), d),
            TensorSpec(f"{h}.attn.c_attn.weight", (d, 3 * d), _split_gpt2_qkv(block, "kernel", d)),
            TensorSpec(f"{h}.attn.c_attn.bias", (3 * d,), _split_gpt2_qkv(block, "bias", d)),
            *_linear(f"{h}.attn.c_proj", (*block, "attn", "o"), d, d, stored_in_out=True),
            *_layernorm(f"{h}.ln_2", (*block, "norm_mlp"), d),
            *_linear(f"{h}.mlp.c_fc", (*block, "mlp", "mlp_in"), d, ff, stored_in_out=True),
            *_linear(f"{h}.mlp.c_proj", (*block, "mlp", "mlp_out"), ff, d, stored_in_out=True),
        ]
    specs += _layernorm("ln_f", ("norm_out",), d)
    if not cfg.tied_embeddings:
        specs.append(
            TensorSpec("lm_head.weight", (cfg.vocab_size, d), _transposed(("unembed", "kernel")))
        )
    return specs


# -- GPT-NeoX / Pythia -------------------------------------------------------------------------


def _neox_rotary(hf: dict[str, Any]) -> tuple[float, float]:
    """(partial rotary factor, base) from `rope_parameters` or Pythia's `rotary_pct`/`_base`."""
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    if not isinstance(rope, dict):
        raise PretrainedError("config.json rope_parameters must be an object")
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise PretrainedError(
            f"config.json rope_type={rope_type!r} is not supported (only 'default' rotary)"
        )
    fraction = rope.get("partial_rotary_factor", _get(hf, "rotary_pct", 0.25))
    base = rope.get("rope_theta", _get(hf, "rotary_emb_base", 10_000.0))
    return float(fraction), float(base)


def neox_config(hf: dict[str, Any], dtype: str) -> ModelConfig:
    _refuse(hf, "attention_bias", True, "attention without biases")
    fraction, base = _neox_rotary(hf)
    return _build_config(
        n_layers=_get(hf, "num_hidden_layers"),
        d_model=_get(hf, "hidden_size"),
        n_heads=_get(hf, "num_attention_heads"),
        d_ff=_get(hf, "intermediate_size"),
        vocab_size=_get(hf, "vocab_size"),
        max_seq_len=_get(hf, "max_position_embeddings"),
        positions="rotary",
        rotary_fraction=fraction,
        rotary_base=base,
        norm="layernorm",
        norm_eps=_get(hf, "layer_norm_eps", 1e-5),
        mlp="gelu",
        activation=_activation(hf, "hidden_act", "gelu"),
        parallel_residual=_get(hf, "use_parallel_residual", True),
        tied_embeddings=_get(hf, "tie_word_embeddings", False),
        use_bias=True,
        dtype=dtype,
        param_dtype=dtype,
    )


def _split_neox_qkv(block: ParamPath, leaf: str, heads: int, head_dim: int) -> Placer:
    """query_key_value `[3d, d]` (or its bias `[3d]`): output axis `[heads, 3, head_dim]`."""

    def place(w: np.ndarray) -> dict[ParamPath, np.ndarray]:
        per_head = w.reshape(heads, 3, head_dim, *w.shape[1:])
        out = {}
        for j, kind in enumerate("qkv"):
            rows = per_head[:, j].reshape(heads * head_dim, *w.shape[1:])  # [out, in] or [out]
            out[(*block, "attn", kind, leaf)] = rows.T if leaf == "kernel" else rows
        return out

    return place


def neox_specs(cfg: ModelConfig) -> list[TensorSpec]:
    d, ff, heads, hd = cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.head_dim
    specs = [TensorSpec("embed_in.weight", (cfg.vocab_size, d), _copy(("embed", "embedding")))]
    for i in range(cfg.n_layers):
        h, block = f"layers.{i}", ("blocks", i)
        qkv = f"{h}.attention.query_key_value"
        specs += [
            *_layernorm(f"{h}.input_layernorm", (*block, "norm_attn"), d),
            *_layernorm(f"{h}.post_attention_layernorm", (*block, "norm_mlp"), d),
            TensorSpec(f"{qkv}.weight", (3 * d, d), _split_neox_qkv(block, "kernel", heads, hd)),
            TensorSpec(f"{qkv}.bias", (3 * d,), _split_neox_qkv(block, "bias", heads, hd)),
            *_linear(f"{h}.attention.dense", (*block, "attn", "o"), d, d, stored_in_out=False),
            *_linear(f"{h}.mlp.dense_h_to_4h", (*block, "mlp", "mlp_in"), d, ff, False),
            *_linear(f"{h}.mlp.dense_4h_to_h", (*block, "mlp", "mlp_out"), ff, d, False),
        ]
    specs += _layernorm("final_layer_norm", ("norm_out",), d)
    if not cfg.tied_embeddings:
        specs.append(
            TensorSpec("embed_out.weight", (cfg.vocab_size, d), _transposed(("unembed", "kernel")))
        )
    return specs


FAMILIES = {
    "gpt2": Family(
        model_type="gpt2",
        description="GPT-2 (GPT2LMHeadModel)",
        prefix="transformer.",
        buffers=(re.compile(r"h\.\d+\.attn\.(bias|masked_bias)"),),
        embedding="wte.weight",
        head="lm_head.weight",
        model_config=gpt2_config,
        tensor_specs=gpt2_specs,
    ),
    "gpt_neox": Family(
        model_type="gpt_neox",
        description="GPT-NeoX / Pythia (GPTNeoXForCausalLM)",
        prefix="gpt_neox.",
        buffers=(
            re.compile(r"layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)"),
            re.compile(r"rotary_emb\.inv_freq"),
        ),
        embedding="embed_in.weight",
        head="embed_out.weight",
        model_config=neox_config,
        tensor_specs=neox_specs,
    ),
}
_ARCHITECTURES = {"GPT2LMHeadModel": "gpt2", "GPTNeoXForCausalLM": "gpt_neox"}


def family_of(hf: dict[str, Any]) -> Family:
    """The family of a `config.json` (by `model_type`, else by `architectures`)."""
    model_type = hf.get("model_type")
    if model_type is None:
        architectures = hf.get("architectures") or []
        model_type = next((_ARCHITECTURES[a] for a in architectures if a in _ARCHITECTURES), None)
    if model_type not in FAMILIES:
        raise PretrainedError(
            f"config.json model_type {model_type!r} is not supported "
            f"(supported: {', '.join(FAMILIES)})"
        )
    return FAMILIES[model_type]
