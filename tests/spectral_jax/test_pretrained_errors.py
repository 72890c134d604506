"""`load_pretrained` on bad input: each problem is one line naming the tensor, key or file.

Checkpoints are written with numpy (`spectral_jax.synthetic_checkpoints`), so these tests need
neither torch nor transformers; the hub path runs against a hand-built offline cache.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer
from tokenizers.models import WordLevel

from spectral_jax.checkpoint_files import PretrainedError
from spectral_jax.pretrained import describe_source, load_pretrained, load_tokenizer
from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint


def gpt2_dir(path: Path, **extra: object) -> Path:
    return write_checkpoint(path, gpt2_config(2, 16, 2, 40, 8, **extra))


def neox_dir(path: Path, **extra: object) -> Path:
    return write_checkpoint(path, neox_config(2, 16, 2, 40, 8, **extra))


def edit_tensors(directory: Path, edit) -> None:
    tensors = load_file(directory / "model.safetensors")
    edit(tensors)
    save_file(tensors, directory / "model.safetensors")


def edit_config(directory: Path, **changes: object) -> None:
    config = json.loads((directory / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (directory / "config.json").write_text(json.dumps(config))


def refused(source: object, match: str, **kw: object) -> str:
    with pytest.raises(PretrainedError, match=match) as err:
        load_pretrained(source, **kw)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_synthetic_checkpoints_load(tmp_path: Path) -> None:
    _, cfg = load_pretrained(neox_dir(tmp_path / "neox"))
    assert (cfg.positions, cfg.rotary_fraction, cfg.parallel_residual) == ("rotary", 0.25, True)
    assert (cfg.activation, cfg.tied_embeddings) == ("gelu", False)
    _, cfg = load_pretrained(gpt2_dir(tmp_path / "gpt2"))
    assert (cfg.positions, cfg.activation, cfg.tied_embeddings) == ("learned", "gelu_tanh", True)
    info = describe_source(tmp_path / "gpt2")
    assert info["family"] == "gpt2" and info["format"] == "safetensors"
    assert info["stored_dtypes"] == ["F32"]


def test_unsupported_model_type_names_the_supported_ones(tmp_path: Path) -> None:
    edit_config(gpt2_dir(tmp_path), model_type="llama")
    refused(tmp_path, r"model_type 'llama' is not supported \(supported: gpt2, gpt_neox\)")


def test_missing_tensor(tmp_path: Path) -> None:
    edit_tensors(gpt2_dir(tmp_path), lambda t: t.pop("transformer.h.1.attn.c_attn.bias"))
    refused(tmp_path, r"tensor 'transformer\.h\.1\.attn\.c_attn\.bias' is missing")


def test_unexpected_tensor(tmp_path: Path) -> None:
    def add(tensors: dict) -> None:
        tensors["gpt_neox.layers.0.attention.lora_a"] = np.zeros((2, 2), np.float32)

    edit_tensors(neox_dir(tmp_path), add)
    refused(tmp_path, r"unexpected tensor 'gpt_neox\.layers\.0\.attention\.lora_a'")


def test_untied_head_in_a_tied_config_is_unexpected_only_if_it_differs(tmp_path: Path) -> None:
    def same_head(tensors: dict) -> None:
        tensors["lm_head.weight"] = tensors["transformer.wte.weight"].copy()

    edit_tensors(gpt2_dir(tmp_path), same_head)
    load_pretrained(tmp_path)

    def other_head(tensors: dict) -> None:
        tensors["lm_head.weight"] = tensors["transformer.wte.weight"] + 1

    edit_tensors(tmp_path, other_head)
    refused(tmp_path, r"'lm_head\.weight' differs from the embedding")


def test_buffers_are_skipped_by_name_only(tmp_path: Path) -> None:
    """`h.N.attn.bias` is a causal-mask buffer; it cannot stand in for `attn.c_attn.bias`."""

    def buffers(tensors: dict) -> None:
        tensors["transformer.h.0.attn.bias"] = np.ones((1, 1, 8, 8), np.float32)
        tensors["transformer.h.0.attn.masked_bias"] = np.full((), -1e4, np.float32)

    edit_tensors(gpt2_dir(tmp_path), buffers)
    load_pretrained(tmp_path)
    edit_tensors(tmp_path, lambda t: t.pop("transformer.h.0.attn.c_attn.bias"))
    refused(tmp_path, r"'transformer\.h\.0\.attn\.c_attn\.bias' is missing")

    def neox_buffers(tensors: dict) -> None:
        tensors["gpt_neox.layers.1.attention.rotary_emb.inv_freq"] = np.ones(2, np.float32)
        tensors["gpt_neox.rotary_emb.inv_freq"] = np.ones(2, np.float32)

    edit_tensors(neox_dir(tmp_path / "neox"), neox_buffers)
    load_pretrained(tmp_path / "neox")


def test_shape_mismatch(tmp_path: Path) -> None:
    def shrink(tensors: dict) -> None:
        name = "gpt_neox.layers.1.mlp.dense_h_to_4h.weight"
        tensors[name] = tensors[name][:-1]

    edit_tensors(neox_dir(tmp_path), shrink)
    refused(
        tmp_path,
        r"'gpt_neox\.layers\.1\.mlp\.dense_h_to_4h\.weight' has shape \[63, 16\], "
        r"config\.json implies \[64, 16\]",
    )


@pytest.mark.parametrize(
    ("writer", "change", "match"),
    [
        (gpt2_dir, {"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
        (gpt2_dir, {"activation_function": "relu"}, "activation_function='relu'"),
        (gpt2_dir, {"n_embd": None}, "lacks 'n_embd'"),
        (neox_dir, {"attention_bias": False}, "attention_bias=False"),
        (neox_dir, {"rope_scaling": {"type": "linear", "factor": 2.0}}, "rope_type='linear'"),
        (neox_dir, {"rotary_pct": 0.1}, "rotary_fraction"),
        (neox_dir, {"num_attention_heads": 3}, "divisible"),
    ],
)
def test_unsupported_settings_name_the_key(
    tmp_path: Path, writer, change: dict, match: str
) -> None:
    edit_config(writer(tmp_path), **change)
    refused(tmp_path, match)


def test_missing_files_and_bad_sources(tmp_path: Path) -> None:
    refused(tmp_path / "nowhere" / "x", "no checkpoint directory")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "holds no config.json")
    gpt2_dir(tmp_path / "noweights")
    (tmp_path / "noweights" / "model.safetensors").unlink()
    refused(tmp_path / "noweights", "holds no weights")
    refused(tmp_path / "noweights" / "config.json", "is a file")
    refused(tmp_path, "has no subdirectory 'step7'", revision="step7")
    refused(gpt2_dir(tmp_path / "ok"), "dtype 'int8' is not supported", dtype="int8")
    (tmp_path / "noweights" / "config.json").write_text("{not json")
    refused(tmp_path / "noweights", "is not valid JSON")


def test_shard_index_naming_a_missing_shard(tmp_path: Path) -> None:
    config = neox_config(2, 16, 2, 40, 8)
    write_checkpoint(tmp_path, config, shard_bytes=4000)
    shards = sorted(tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 2
    load_pretrained(tmp_path)
    shards[1].unlink()
    refused(tmp_path, f"names shard '{shards[1].name}', which is missing")


def test_pickle_without_torch_says_how_to_convert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gpt2_dir(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    real_import = builtins.__import__

    def no_torch(name: str, *args: object, **kwargs: object) -> object:
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    message = refused(tmp_path, r"pytorch_model\.bin is a PyTorch pickle")
    assert "safetensors.torch.save_file" in message


def test_hub_name_offline_says_where_to_put_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    message = refused(
        "EleutherAI/pythia-70m", "cannot fetch EleutherAI/pythia-70m@step3000", revision="step3000"
    )
    assert "put its config.json and model.safetensors" in message


def test_hub_errors_are_quoted_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's own message, all of it on the one line: it was cut at 160 characters or the
    first '. ', mid-word, and its advice (e.g. how to go online) is often its last sentence."""
    hub = pytest.importorskip("huggingface_hub")
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(Exception) as real:  # what the hub itself says, offline
        hub.snapshot_download("EleutherAI/pythia-70m", revision="step3000")
    message = refused("EleutherAI/pythia-70m", "cannot fetch", revision="step3000")
    assert " ".join(str(real.value).split()) in message

    long = (
        "401 Client Error. Repository Not Found for url: https://huggingface.co/api/models/"
        "acme/private-model/revision/main.\nPlease make sure you specified the correct "
        "`repo_id` and `repo_type`.\nIf you are trying to access a private or gated repo, "
        "make sure you are authenticated (hf auth login)."
    )

    def failing(*args: object, **kwargs: object) -> str:
        raise RuntimeError(long)

    monkeypatch.setattr(hub, "snapshot_download", failing)
    message = refused("acme/private-model", "cannot fetch acme/private-model")
    assert f"(RuntimeError: {' '.join(long.split())})" in message


def test_hub_name_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub name resolves through huggingface_hub's cache (here pre-filled, offline)."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    commit = "a" * 40
    repo = tmp_path / "models--acme--tiny-neox"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "step1000").write_text(commit)
    neox_dir(repo / "snapshots" / commit)
    Tokenizer(WordLevel({"a": 0, "b": 1}, unk_token="a")).save(
        str(repo / "snapshots" / commit / "tokenizer.json")
    )
    _, cfg = load_pretrained("acme/tiny-neox", revision="step1000")
    assert cfg.n_layers == 2 and cfg.positions == "rotary"
    tokenizer = load_tokenizer("acme/tiny-neox", revision="step1000")
    assert tokenizer is not None and tokenizer.token_to_id("b") == 1
    assert load_tokenizer(neox_dir(tmp_path / "local")) is None
