"""Parity of `load_pretrained` with transformers (CPU torch is the reference implementation).

Tiny random `GPT2LMHeadModel` and `GPTNeoXForCausalLM` get every parameter perturbed (biases and
norm weights included, so a dropped bias or a misplaced norm cannot hide), are saved the way
transformers saves them, loaded into our Flax model, and must give the same float32 logits
(max |diff| ≤ 1e-4 of the largest |logit|).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from spectral_jax.matrices import named_matrices
from spectral_jax.pretrained import load_pretrained
from spectral_jax.probe import probe
from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

VOCAB, SEQ = 96, 24
RELATIVE_TOLERANCE = 1e-4


def gpt2(**kw: object) -> torch.nn.Module:
    config = dict(vocab_size=VOCAB, n_embd=32, n_layer=3, n_head=4, n_positions=32)
    return _seeded(
        lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(**{**config, **kw}))
    )


def neox(**kw: object) -> torch.nn.Module:
    config = dict(
        vocab_size=VOCAB,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=3,  # head_dim 16: rotary 0.25 rotates 4 dims
        intermediate_size=80,
        max_position_embeddings=32,
    )
    config = transformers.GPTNeoXConfig(**{**config, **kw})
    return _seeded(lambda: transformers.GPTNeoXForCausalLM(config))


def _seeded(build: Callable[[], torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """The model ``build`` makes, the same on every call: transformers initialises from torch's
    global generator, whose state depends on which tests ran before."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn(param.shape, generator=generator))
    return model.eval()


def tokens(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=(2, SEQ))


def reference_logits(model: torch.nn.Module) -> np.ndarray:
    with torch.no_grad():
        return model.float()(torch.as_tensor(tokens())).logits.numpy()


def assert_parity(directory: Path, reference: np.ndarray, *, min_scale: float = 1.0) -> None:
    model, _ = load_pretrained(directory)
    ours = np.asarray(model(jnp.asarray(tokens())))
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    scale = np.abs(reference).max()
    assert scale > min_scale  # perturbed weights: logits far from zero
    assert np.abs(ours - reference).max() <= RELATIVE_TOLERANCE * scale


@pytest.mark.parametrize(
    ("kw", "tied"),
    [
        ({}, True),
        ({"tie_word_embeddings": False, "activation_function": "gelu", "n_inner": 40}, False),
        ({"layer_norm_epsilon": 1e-3}, True),
    ],
    ids=["tied-gelu_new", "untied-exact_gelu", "eps"],
)
def test_gpt2_parity(tmp_path: Path, kw: dict, tied: bool) -> None:
    reference = gpt2(**kw)
    reference.save_pretrained(tmp_path)
    stored = _stored_names(tmp_path)
    assert ("lm_head.weight" in stored) is not tied
    assert all(name.startswith("transformer.") for name in stored - {"lm_head.weight"})
    assert_parity(tmp_path, reference_logits(reference))
    _, cfg = load_pretrained(tmp_path)
    assert cfg.tied_embeddings is tied and cfg.positions == "learned"


def test_gpt2_original_hub_layout_with_mask_buffers(tmp_path: Path) -> None:
    """The hub's original gpt2 files: no `transformer.` prefix, causal-mask buffers stored."""
    reference = gpt2()
    state = {k.removeprefix("transformer."): v for k, v in reference.state_dict().items()}
    state.pop("lm_head.weight", None)
    for i in range(3):
        state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 32, 32))
        state[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    safetensors_torch.save_file(
        {k: v.contiguous() for k, v in state.items()}, tmp_path / "model.safetensors"
    )
    (tmp_path / "config.json").write_text(json.dumps(reference.config.to_dict()))
    assert_parity(tmp_path, reference_logits(reference))


@pytest.mark.parametrize(
    "kw",
    [
        {"use_parallel_residual": True, "rotary_pct": 0.25},
        {"use_parallel_residual": False, "rotary_pct": 1.0, "rotary_emb_base": 500.0},
        {"use_parallel_residual": True, "rotary_pct": 1.0, "tie_word_embeddings": True},
        {"use_parallel_residual": False, "rotary_pct": 0.25, "hidden_act": "gelu_new"},
    ],
    ids=["parallel-rot0.25", "sequential-rot1.0-base500", "tied-parallel-rot1.0", "seq-gelu_new"],
)
def test_neox_parity(tmp_path: Path, kw: dict) -> None:
    reference = neox(**kw)
    reference.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert "rope_parameters" in written  # current transformers' rotary keys
    assert_parity(tmp_path, reference_logits(reference))
    _, cfg = load_pretrained(tmp_path)
    assert cfg.parallel_residual is kw["use_parallel_residual"]
    assert cfg.rotary_fraction == kw["rotary_pct"]
    assert cfg.tied_embeddings is kw.get("tie_word_embeddings", False)
    assert ("embed_out.weight" in _stored_names(tmp_path)) is not cfg.tied_embeddings


def test_pythia_files_pickle_old_config_and_buffers(tmp_path: Path) -> None:
    """Pythia's step revisions: `pytorch_model.bin`, `rotary_pct`/`rotary_emb_base` in
    config.json, persistent `attention.bias`, `masked_bias` and `rotary_emb.inv_freq`."""
    reference = neox(rotary_pct=0.25, rotary_emb_base=10000)
    state = dict(reference.state_dict())
    state["embed_out.weight"] = state.pop("lm_head.weight")  # the name Pythia's files use
    for i in range(3):
        layer = f"gpt_neox.layers.{i}.attention"
        state[f"{layer}.bias"] = torch.tril(torch.ones(1, 1, 32, 32, dtype=torch.bool))
        state[f"{layer}.masked_bias"] = torch.tensor(-1e9)
        state[f"{layer}.rotary_emb.inv_freq"] = torch.ones(2)
    torch.save(state, tmp_path / "pytorch_model.bin")
    config = {k: v for k, v in reference.config.to_dict().items() if k not in ("rope_parameters",)}
    config.update(rotary_pct=0.25, rotary_emb_base=10000)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert_parity(tmp_path, reference_logits(reference))


def test_sharded_safetensors_index(tmp_path: Path) -> None:
    reference = neox()
    reference.save_pretrained(tmp_path, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 2
    assert_parity(tmp_path, reference_logits(reference))


@pytest.mark.parametrize(
    ("build", "dtype"),
    [(neox, torch.bfloat16), (gpt2, torch.float16)],
    ids=["neox-bf16", "gpt2-fp16"],
)
def test_half_precision_checkpoints(tmp_path: Path, build, dtype: torch.dtype) -> None:
    """Stored in bf16/fp16, loaded to float32: the reference is the same rounded weights in
    float32."""
    reference = build().to(dtype)
    reference.save_pretrained(tmp_path)
    assert {str(v.dtype) for v in reference.state_dict().values()} == {str(dtype)}
    assert_parity(tmp_path, reference_logits(reference))


def test_bfloat16_model(tmp_path: Path) -> None:
    reference = neox()
    reference.save_pretrained(tmp_path)
    model, cfg = load_pretrained(tmp_path, dtype="bfloat16")
    assert cfg.param_dtype == "bfloat16" and model.blocks[0].attn.q.kernel.dtype == jnp.bfloat16
    logits = np.asarray(model(jnp.asarray(tokens())))
    expected = reference_logits(reference)
    assert np.isfinite(logits).all()
    assert np.abs(logits - expected).max() <= 0.05 * np.abs(expected).max()  # bf16 rounding


def test_neox_qkv_spectra_are_those_of_the_deinterleaved_matrices(tmp_path: Path) -> None:
    """σ of the probed q, k, v equal numpy's σ of query_key_value de-interleaved per head (and
    not those of the contiguous thirds, which a wrong split would give)."""
    reference = neox()
    reference.save_pretrained(tmp_path)
    heads, head_dim, d = 3, 16, 48
    model, _ = load_pretrained(tmp_path)
    sigma = probe(named_matrices(model, ["q", "k", "v"]), method="svd")["sigma"]
    for layer in range(3):
        fused = reference.gpt_neox.layers[layer].attention.query_key_value.weight.detach().numpy()
        per_head = fused.astype(np.float64).reshape(heads, 3, head_dim, d)
        for j, kind in enumerate("qkv"):
            matrix = per_head[:, j].reshape(d, d)  # [out, in]
            expected = np.linalg.svd(matrix, compute_uv=False)
            # float32 SVD is backward stable, ‖ΔA‖ ≤ c·n·ε·‖A‖ (LAPACK's bound, c modest), so by
            # Weyl each σ is off by at most n·ε·σ1 (XLA:CPU's reaches 7·ε·σ1 on random 48×48
            # matrices, numpy's 0.4); a wrong split is off by tens of percent.
            bound = d * np.finfo(np.float32).eps * expected[0]
            np.testing.assert_allclose(np.asarray(sigma[kind][layer]), expected, rtol=0, atol=bound)
            wrong = np.linalg.svd(fused[j * d : (j + 1) * d], compute_uv=False)
            assert not np.allclose(wrong, expected, rtol=1e-2)


def test_synthetic_checkpoints_load_in_transformers(tmp_path: Path) -> None:
    """The numpy-written checkpoints the CLI tests and benches use are the real layout."""
    for name, config, cls in [
        ("gpt2", gpt2_config(2, 32, 4, VOCAB, 32), transformers.GPT2LMHeadModel),
        ("neox", neox_config(2, 32, 2, VOCAB, 32), transformers.GPTNeoXForCausalLM),
    ]:
        write_checkpoint(tmp_path / name, config, shard_bytes=20_000)
        reference, info = cls.from_pretrained(tmp_path / name, output_loading_info=True)
        assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys"))
        assert_parity(tmp_path / name, reference_logits(reference.eval()), min_scale=0.1)


def _stored_names(directory: Path) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(directory / "model.safetensors"), framework="np") as handle:
        return set(handle.keys())
