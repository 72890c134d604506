"""Load a pretrained GPT-2 or GPT-NeoX/Pythia checkpoint into the Flax `Transformer`.

    model, cfg = load_pretrained("path/to/pythia-160m")          # a local HF-layout directory
    model, cfg = load_pretrained("EleutherAI/pythia-160m", revision="step1000")   # the hub
    named = named_matrices(model)     # q, k, v split out of the fused attention weights

The checkpoint's `config.json` becomes a `ModelConfig` computing the same function
(`spectral_jax.hf_architectures`); its tensors are read one at a time
(`spectral_jax.checkpoint_files`), split or transposed into our `[in, out]` layout, cast to
`dtype` and placed into a model built abstractly (`nnx.eval_shape`, nothing initialised), so
peak host memory is the loaded model plus the largest stored tensor. Known buffers (causal
masks, rotary `inv_freq`) are skipped by name; any other tensor the model does not have, any
tensor it lacks, and any shape that does not fit `config.json` is refused with a one-line
`PretrainedError` naming the tensor.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from spectral_jax.checkpoint_files import (
    PretrainedError,
    TensorFile,
    load_tokenizer,
    read_config,
    resolve_source,
)
from spectral_jax.hf_architectures import FAMILIES, Family, TensorSpec, family_of
from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig

__all__ = [
    "FAMILIES",
    "PretrainedError",
    "describe_source",
    "load_pretrained",
    "load_tokenizer",
    "resolve_source",
]
DTYPES = ("float32", "bfloat16", "float16")
try:
    _LIBC = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
except OSError:  # a Linux without glibc (musl)
    _LIBC = None


def load_pretrained(
    source: str | Path, *, revision: str | None = None, dtype: str = "float32"
) -> tuple[Transformer, ModelConfig]:
    """The model stored at `source` (a local directory or a hub name) and its config.

    `revision`: a hub revision (branch, tag or commit, e.g. Pythia's `step1000`), or for a
    local directory the subdirectory of that name. `dtype`: the parameters' and the
    computation's dtype (float32, bfloat16 or float16), whatever the stored one.
    """
    if dtype not in DTYPES:
        raise PretrainedError(f"dtype '{dtype}' is not supported (use {', '.join(DTYPES)})")
    directory = resolve_source(source, revision)
    hf_config = read_config(directory)
    family = family_of(hf_config)
    cfg = family.model_config(hf_config, dtype)
    with TensorFile(directory) as tensors:
        model = _fill(cfg, family, tensors, np.dtype(jnp.dtype(dtype)))
    return model, cfg


def describe_source(source: str | Path, revision: str | None = None) -> dict:
    """What a spectra store records about a checkpoint: source, revision, family, format."""
    directory = resolve_source(source, revision)
    family = family_of(read_config(directory))
    with TensorFile(directory) as tensors:
        stored = sorted(tensors.dtypes())
        fmt = tensors.format
    return {
        "source": str(source),
        "revision": revision,
        "family": family.model_type,
        "architecture": family.description,
        "format": fmt,
        "stored_dtypes": stored,
        "directory": str(directory.resolve()),
    }


def _canonical_names(family: Family, tensors: TensorFile) -> dict[str, str]:
    """Stored names keyed by their name without the family prefix."""
    canonical: dict[str, str] = {}
    for stored in sorted(tensors.names()):
        name = stored.removeprefix(family.prefix)
        if name in canonical:
            raise PretrainedError(
                f"{tensors.directory}: tensor '{name}' is stored twice "
                f"('{canonical[name]}' and '{stored}')"
            )
        canonical[name] = stored
    return canonical


def _check_names(
    cfg: ModelConfig, family: Family, specs: list[TensorSpec], names: dict[str, str], where: Path
) -> None:
    wanted = {spec.name for spec in specs}
    for spec in specs:
        if spec.name not in names:
            raise PretrainedError(
                f"{where}: tensor '{family.prefix}{spec.name}' is missing (a {family.model_type} "
                f"model with this config.json has it)"
            )
    tied_head = family.head if cfg.tied_embeddings else None
    for name, stored in names.items():
        if name not in wanted and name != tied_head and not family.is_buffer(name):
            raise PretrainedError(
                f"{where}: unexpected tensor '{stored}' (no parameter of a {family.model_type} "
                "model with this config.json, nor a known buffer)"
            )


def _fill(cfg: ModelConfig, family: Family, tensors: TensorFile, dtype: np.dtype) -> Transformer:
    specs = family.tensor_specs(cfg)
    names = _canonical_names(family, tensors)
    _check_names(cfg, family, specs, names, tensors.directory)
    for spec in specs:
        shape = tensors.shape(names[spec.name])
        if shape != spec.shape:
            raise PretrainedError(
                f"{tensors.directory}: tensor '{names[spec.name]}' has shape {list(shape)}, "
                f"config.json implies {list(spec.shape)}"
            )
    abstract = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    variables = dict(nnx.to_flat_state(state))
    filled: set[tuple] = set()
    for spec in specs:
        stored = tensors.read(names[spec.name])
        for path, value in spec.place(stored).items():
            variables[path].set_value(jnp.asarray(np.asarray(value, dtype)))
            filled.add(path)
        del stored  # one stored tensor alive at a time
        _return_freed_memory()
    if family.head in names and cfg.tied_embeddings:
        _check_tied_head(family, tensors, names)
    unfilled = sorted(set(variables) - filled, key=str)
    if unfilled:  # a plan that misses a parameter is a bug here, not in the checkpoint
        raise RuntimeError(f"{family.model_type} loader left parameter {unfilled[0]} unset")
    return nnx.merge(graphdef, state)


def _return_freed_memory() -> None:
    """Hand freed heap memory back to the OS (glibc only; elsewhere a no-op).

    glibc raises its mmap threshold once a large buffer is freed, so the next tensors' numpy
    buffers come from the heap, interleaved with the model's arrays; without a trim the freed
    ones stay resident and a float32 load peaks near 1.4x the model instead of 1.1x.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _check_tied_head(family: Family, tensors: TensorFile, names: dict[str, str]) -> None:
    """A tied model whose file still stores its head: accept it only if it is the embedding."""
    head, embedding = tensors.read(names[family.head]), tensors.read(names[family.embedding])
    if not np.array_equal(head, embedding):
        raise PretrainedError(
            f"{tensors.directory}: tensor '{names[family.head]}' differs from the embedding, "
            "but config.json ties them (tie_word_embeddings)"
        )
