"""Finding and reading the files of a Hugging Face-layout checkpoint, one tensor at a time.

A checkpoint is a directory holding `config.json` and weights as `model.safetensors`, sharded
safetensors (`model.safetensors.index.json` naming the shard of each tensor), or a PyTorch
pickle (`pytorch_model.bin`, or sharded through `pytorch_model.bin.index.json`), which is what
Pythia's intermediate revisions ship. Safetensors are read with the `safetensors` library into
numpy (bfloat16 through ml_dtypes); a pickle is read only by `torch.load(weights_only=True)`,
which refuses anything but tensors and plain containers, and only when torch is installed.
Nothing else is ever unpickled. A hub name (`gpt2`, `EleutherAI/pythia-160m`) is fetched with
`huggingface_hub` into its usual cache.

`TensorFile` reads tensors lazily, so a loader holds one at a time beside what it has built.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from spectral_jax.paths import user_path

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
PICKLE, PICKLE_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
_SAFETENSORS_FILES = [SAFETENSORS, SAFETENSORS_INDEX, "model-*.safetensors"]
_PICKLE_FILES = [PICKLE, PICKLE_INDEX, "pytorch_model-*.bin"]
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL (\S+)")  # torch's name for the refusal


class PretrainedError(ValueError):
    """A checkpoint that cannot be loaded; the one-line message names what is wrong."""


def resolve_source(source: str | Path, revision: str | None = None) -> Path:
    """The local directory holding checkpoint `source` (at `revision`).

    A directory is used as it is; with `revision`, its subdirectory of that name (a series
    directory such as `pythia-160m/step1000/`). Anything else that looks like a hub name is
    fetched from the Hugging Face hub (safetensors when the revision has them, else the
    PyTorch pickle).
    """
    path = user_path(source)
    if path.is_dir():
        if revision is None:
            return path
        if (path / revision).is_dir():
            return path / revision
        raise PretrainedError(f"{path} has no subdirectory '{revision}' (the revision asked for)")
    if path.exists():
        raise PretrainedError(f"{path} is a file; give the directory holding {CONFIG}")
    if not _HUB_NAME.match(str(source)):
        raise PretrainedError(f"no checkpoint directory at {path}")
    return _download(str(source), revision)


def _download(name: str, revision: str | None) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise PretrainedError(
            f"'{name}' is not a local directory, and fetching it from the hub needs "
            "huggingface_hub (pip install huggingface_hub)"
        ) from None
    at = f"{name}@{revision}" if revision else name
    try:
        path = Path(snapshot_download(name, revision=revision, allow_patterns=_patterns(True)))
        if not (path / SAFETENSORS).is_file() and not (path / SAFETENSORS_INDEX).is_file():
            path = Path(snapshot_download(name, revision=revision, allow_patterns=_patterns(False)))
    except Exception as err:  # offline, unknown repo or revision, gated, ...
        reason = " ".join(str(err).split())  # whole (its advice is often in a later sentence)
        raise PretrainedError(
            f"no local directory '{name}', and cannot fetch {at} from the Hugging Face hub "
            f"({type(err).__name__}: {reason}); put its {CONFIG} and {SAFETENSORS} (or "
            f"{PICKLE}) in a directory and pass that directory, or fetch it once while online "
            "(it stays in the hub cache, HF_HUB_CACHE)"
        ) from None
    return path


def _patterns(safetensors: bool) -> list[str]:
    return [CONFIG, TOKENIZER, *(_SAFETENSORS_FILES if safetensors else _PICKLE_FILES)]


def read_config(directory: Path) -> dict[str, Any]:
    """The checkpoint's `config.json` as a dict."""
    path = directory / CONFIG
    if not path.is_file():
        raise PretrainedError(f"{directory} holds no {CONFIG}")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PretrainedError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise PretrainedError(f"{path} must hold a JSON object")
    return config


def load_tokenizer(source: str | Path, *, revision: str | None = None) -> Any | None:
    """The checkpoint's `tokenizers.Tokenizer` (from `tokenizer.json`), or None if it has none."""
    path = resolve_source(source, revision) / TOKENIZER
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:
        raise PretrainedError(f"{path} is not a readable tokenizer ({err})") from None


class TensorFile:
    """The tensors of a checkpoint directory: names and shapes up front, data on demand.

    Use as a context manager; `read(name)` returns a numpy array in the stored dtype. A
    safetensors file is opened (memory-mapped) afresh for each read, so the mapped pages of
    tensors already read do not stay resident beside the model being built.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._dtypes: dict[str, str] = {}
        self._where: dict[str, Any] = {}  # name -> safetensors file path or torch state dict
        self.format = "safetensors"  # or "pytorch": a pickle read by torch
        if (directory / SAFETENSORS_INDEX).is_file():
            self._open_safetensors(self._shards(directory / SAFETENSORS_INDEX))
        elif (directory / SAFETENSORS).is_file():
            self._open_safetensors([directory / SAFETENSORS])
        elif (directory / PICKLE_INDEX).is_file():
            self._open_pickles(self._shards(directory / PICKLE_INDEX))
        elif (directory / PICKLE).is_file():
            self._open_pickles([directory / PICKLE])
        else:
            raise PretrainedError(
                f"{directory} holds no weights ({SAFETENSORS}, {SAFETENSORS_INDEX} or {PICKLE})"
            )

    def __enter__(self) -> TensorFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._where.clear()

    def names(self) -> set[str]:
        return set(self._shapes)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._shapes[name]

    def dtypes(self) -> set[str]:
        """The stored dtypes, e.g. {"F32"} or {"torch.float16"}."""
        return set(self._dtypes.values())

    def read(self, name: str) -> np.ndarray:
        """One tensor as a numpy array (a fresh copy, in its stored dtype)."""
        from safetensors import safe_open

        source = self._where[name]
        if isinstance(source, dict):
            return _torch_to_numpy(source[name])
        with safe_open(str(source), framework="np") as handle:
            return handle.get_tensor(name)

    def _shards(self, index: Path) -> list[Path]:
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise PretrainedError(f"{index} is not a shard index (no 'weight_map')") from None
        shards = sorted(set(weight_map.values()))
        for shard in shards:
            if not (index.parent / shard).is_file():
                raise PretrainedError(f"{index.name} names shard '{shard}', which is missing")
        return [index.parent / shard for shard in shards]

    def _open_safetensors(self, files: list[Path]) -> None:
        from safetensors import safe_open

        for path in files:
            try:
                with safe_open(str(path), framework="np") as handle:
                    for name in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                        view = handle.get_slice(name)
                        self._add(name, tuple(view.get_shape()), view.get_dtype(), path, path)
            except PretrainedError:
                raise
            except Exception as err:
                raise PretrainedError(
                    f"{path} is not a readable safetensors file ({err})"
                ) from None

    def _open_pickles(self, files: list[Path]) -> None:
        try:
            import torch
        except ImportError:
            raise PretrainedError(
                f"{files[0]} is a PyTorch pickle, which is read only with torch installed "
                "(pip install torch), or convert it once to model.safetensors elsewhere: "
                "safetensors.torch.save_file(torch.load(path, weights_only=True), "
                "'model.safetensors')"
            ) from None
        self.format = "pytorch"
        for path in files:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except pickle.UnpicklingError as err:  # objects beyond tensors: possibly code
                found = _UNSUPPORTED.search(str(err))
                what = found.group(1) if found else "objects"
                raise PretrainedError(
                    f"{path} is not a loadable state dict: it holds {what} besides tensors and "
                    "plain containers, and a pickle is only ever read as data "
                    "(torch.load(weights_only=True)); convert it to safetensors where you trust it"
                ) from None
            except Exception as err:
                reason = " ".join(str(err).split())
                raise PretrainedError(f"{path} is not a loadable state dict ({reason})") from None
            if not isinstance(state, dict):
                raise PretrainedError(f"{path} holds a {type(state).__name__}, not a state dict")
            for name, tensor in state.items():
                self._add(name, tuple(tensor.shape), str(tensor.dtype), state, path)

    def _add(self, name: str, shape: tuple[int, ...], dtype: str, source: Any, path: Path) -> None:
        if name in self._where:
            raise PretrainedError(f"tensor '{name}' appears twice (again in {path.name})")
        self._shapes[name], self._dtypes[name], self._where[name] = shape, dtype, source


def _torch_to_numpy(tensor: Any) -> np.ndarray:
    import ml_dtypes
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return tensor.numpy().copy()
