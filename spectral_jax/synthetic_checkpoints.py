"""Random GPT-2 and GPT-NeoX checkpoints in the Hugging Face layout, written with numpy.

They exercise the loader, the `python -m analysis pretrained|series` commands and the
benchmarks without downloading anything: `config.json` and `model.safetensors` (or shards
with `model.safetensors.index.json`) named and laid out as transformers writes them (the
parity tests check that transformers loads them). Weights are Gaussian (std 0.02, biases and
norm parameters perturbed too), so spectra look like an untrained model's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def gpt2_config(
    n_layers: int, d_model: int, n_heads: int, vocab_size: int, max_seq_len: int, **extra: Any
) -> dict[str, Any]:
    """A GPT-2 `config.json` (GPT2LMHeadModel, tied, gelu_new) as a dict."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_layer": n_layers,
        "n_embd": d_model,
        "n_head": n_heads,
        "n_inner": None,
        "vocab_size": vocab_size,
        "n_positions": max_seq_len,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True,
        **extra,
    }


def neox_config(
    n_layers: int, d_model: int, n_heads: int, vocab_size: int, max_seq_len: int, **extra: Any
) -> dict[str, Any]:
    """A Pythia-style GPT-NeoX `config.json` (parallel residual, rotary on 25%, untied)."""
    return {
        "architectures": ["GPTNeoXForCausalLM"],
        "model_type": "gpt_neox",
        "num_hidden_layers": n_layers,
        "hidden_size": d_model,
        "num_attention_heads": n_heads,
        "intermediate_size": 4 * d_model,
        "vocab_size": vocab_size,
        "max_position_embeddings": max_seq_len,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "rotary_pct": 0.25,
        "rotary_emb_base": 10000,
        "use_parallel_residual": True,
        "tie_word_embeddings": False,
        **extra,
    }


Shapes = dict[str, tuple[int, ...]]


def _norm(prefix: str, d: int) -> Shapes:
    """A LayerNorm's weight and bias."""
    return {f"{prefix}.weight": (d,), f"{prefix}.bias": (d,)}


def _conv1d(prefix: str, n_in: int, n_out: int) -> Shapes:
    """A GPT-2 `Conv1D`: the weight stored `[in, out]`."""
    return {f"{prefix}.weight": (n_in, n_out), f"{prefix}.bias": (n_out,)}


def _linear(prefix: str, n_in: int, n_out: int) -> Shapes:
    """A `torch.nn.Linear`: the weight stored `[out, in]`."""
    return {f"{prefix}.weight": (n_out, n_in), f"{prefix}.bias": (n_out,)}


def _gpt2_tensors(c: dict[str, Any]) -> Shapes:
    d, v = c["n_embd"], c["vocab_size"]
    ff = c.get("n_inner") or 4 * d
    shapes: Shapes = {
        "transformer.wte.weight": (v, d),
        "transformer.wpe.weight": (c["n_positions"], d),
    }
    for i in range(c["n_layer"]):
        h = f"transformer.h.{i}"
        shapes |= _norm(f"{h}.ln_1", d) | _norm(f"{h}.ln_2", d)
        shapes |= _conv1d(f"{h}.attn.c_attn", d, 3 * d) | _conv1d(f"{h}.attn.c_proj", d, d)
        shapes |= _conv1d(f"{h}.mlp.c_fc", d, ff) | _conv1d(f"{h}.mlp.c_proj", ff, d)
    shapes |= _norm("transformer.ln_f", d)
    if not c.get("tie_word_embeddings", True):
        shapes["lm_head.weight"] = (v, d)
    return shapes


def _neox_tensors(c: dict[str, Any]) -> Shapes:
    d, v, ff = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    shapes: Shapes = {"gpt_neox.embed_in.weight": (v, d)}
    for i in range(c["num_hidden_layers"]):
        h = f"gpt_neox.layers.{i}"
        shapes |= _norm(f"{h}.input_layernorm", d) | _norm(f"{h}.post_attention_layernorm", d)
        shapes |= _linear(f"{h}.attention.query_key_value", d, 3 * d)
        shapes |= _linear(f"{h}.attention.dense", d, d)
        shapes |= _linear(f"{h}.mlp.dense_h_to_4h", d, ff)
        shapes |= _linear(f"{h}.mlp.dense_4h_to_h", ff, d)
    shapes |= _norm("gpt_neox.final_layer_norm", d)
    if not c.get("tie_word_embeddings", False):
        shapes["embed_out.weight"] = (v, d)
    return shapes


def tensor_shapes(config: dict[str, Any]) -> Shapes:
    """Every stored tensor of a checkpoint with this `config.json`, as transformers names it."""
    if config["model_type"] == "gpt2":
        return _gpt2_tensors(config)
    if config["model_type"] == "gpt_neox":
        return _neox_tensors(config)
    raise ValueError(f"model_type must be gpt2 or gpt_neox, got {config['model_type']!r}")


def _random(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    if len(shape) == 2:
        return x * np.float32(0.02)
    if "norm" in name or ".ln_" in name:  # LayerNorm: weight near 1, bias near 0
        return (1.0 + 0.1 * x) if name.endswith(".weight") else 0.1 * x
    return 0.02 * x


def write_checkpoint(
    directory: str | Path,
    config: dict[str, Any],
    *,
    dtype: str = "float32",
    seed: int = 0,
    shard_bytes: int | None = None,
) -> Path:
    """Write `config.json` and random weights for `config` into `directory`; returns it.

    `shard_bytes`: split the weights into shards of about this size with an index file (as
    transformers' `max_shard_size` does), instead of one `model.safetensors`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for name, shape in tensor_shapes(config).items():
        tensor = _random(name, shape, rng).astype(_DTYPES[dtype])
        if shard_bytes is not None and shards[-1] and size + tensor.nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += tensor.nbytes
    meta = {"format": "pt"}
    if shard_bytes is None:
        save_file(shards[0], str(directory / "model.safetensors"), metadata=meta)
    else:
        weight_map = {}
        for i, shard in enumerate(shards):
            file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(directory / file), metadata=meta)
            weight_map |= dict.fromkeys(shard, file)
        index = {"metadata": {}, "weight_map": weight_map}
        (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    (directory / "config.json").write_text(json.dumps({**config, "dtype": dtype}, indent=1))
    return directory
