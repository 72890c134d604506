"""Typed run configuration: YAML file + dotted `key=value` overrides, validated before any work."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spectral_jax.documents import VAL_FRACTION
from spectral_jax.health_config import HealthConfig
from spectral_jax.matrices import available_kinds
from spectral_jax.model_config import ModelConfig

KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out", "mlp_gate", "embed", "unembed")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunConfig(_Section):
    """Where the run lives and how it is seeded."""

    dir: str = "runs/default"
    seed: int = 0
    allow_config_change: bool = False


class DataConfig(_Section):
    """Which corpus feeds the model and how it is tokenised."""

    corpus: Literal["shakespeare", "text", "tokens", "synthetic"] = "shakespeare"
    path: str | None = None  # text: a file, directory or glob; tokens: a .bin file (train split)
    val_path: str | None = None  # tokens: an optional separate validation .bin
    token_dtype: Literal["uint16", "uint32"] = "uint16"  # tokens corpus only
    tokenizer: Literal["bpe", "byte"] = "bpe"  # text corpora; the vocab size is model.vocab_size
    val_fraction: float = Field(VAL_FRACTION, gt=0.0, lt=0.5)
    cache_dir: str | None = None  # where trained tokenizers and token arrays are cached
    synthetic_tokens: int = Field(200_000, gt=0)  # synthetic corpus length

    @model_validator(mode="after")
    def _check_paths(self) -> DataConfig:
        """A path the corpus would not read is a mistake (the run would silently train on
        something else), and a corpus that reads files needs one."""
        reads_path = self.corpus in ("text", "tokens")
        if self.path is not None and not reads_path:
            raise ValueError(
                f"data.path is set but data.corpus={self.corpus} does not read it; set "
                "data.corpus=text (text files) or data.corpus=tokens (a .bin file), or drop "
                "data.path"
            )
        if self.path is None and reads_path:
            what = "a file, a directory or a glob" if self.corpus == "text" else "a .bin file"
            raise ValueError(f"data.corpus={self.corpus} needs data.path ({what})")
        if self.val_path is not None and self.corpus != "tokens":
            raise ValueError(
                f"data.val_path is read only by data.corpus=tokens (data.corpus is "
                f"{self.corpus}); drop it (text corpora split each document)"
            )
        return self


class OptimConfig(_Section):
    """Optimizer, schedule and clipping (optax)."""

    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(3e-3, gt=0.0)
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = Field(50, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    weight_decay: float = Field(0.1, ge=0.0)
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    grad_clip: float | None = 1.0  # global-norm clip; null disables


class TrainConfig(_Section):
    """Length of the run and how often it logs, evaluates and checkpoints."""

    steps: int = Field(300, gt=0)
    batch_size: int = Field(16, gt=0)  # global batch, in sequences
    seq_len: int = Field(128, ge=2)
    grad_accum: int = Field(1, gt=0)  # micro-batches per step; batch_size must divide evenly
    log_every: int = Field(10, gt=0)
    eval_every: int = Field(100, ge=0)  # 0 disables validation
    eval_batches: int = Field(4, gt=0)
    checkpoint_every: int = Field(100, ge=0)  # 0: only the final (and SIGTERM) checkpoint
    keep_checkpoints: int = Field(3, gt=0)
    progress: bool = True  # a bar on a terminal, plain progress lines otherwise

    @model_validator(mode="after")
    def _check_accum(self) -> TrainConfig:
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be divisible by "
                f"train.grad_accum ({self.grad_accum})"
            )
        return self


class SpectralConfig(_Section):
    """The spectral probe: which matrices, how often, by which method."""

    every: int = Field(25, ge=0)  # 0 disables the probe
    method: Literal["auto", "svd", "gram", "gram64"] = "auto"
    kinds: list[str] | None = None  # null: every kind the model has
    save_sigma: bool = True
    heatmap_every: int = Field(250, gt=0)  # steps between TensorBoard heatmap images
    health: HealthConfig = HealthConfig()  # layer-health rules (docs/monitoring.md)

    @model_validator(mode="after")
    def _check_kinds(self) -> SpectralConfig:
        for kind in self.kinds or []:
            if kind not in KINDS:
                close = difflib.get_close_matches(kind, KINDS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"spectral.kinds: unknown kind '{kind}'{hint}")
        return self


class MeshConfig(_Section):
    """Device mesh `data x fsdp`: data parallel over every device unless told otherwise.

    `mesh.data * mesh.fsdp` must equal the device count (checked once the devices are known,
    `train.mesh.mesh_shape`); -1 on one axis means "the devices the other leaves". Setting only
    `mesh.fsdp=-1` makes the data axis 1, so `mesh.fsdp=-1` alone means FSDP over every device.
    """

    data: int = -1  # devices along the data-parallel axis; -1: the devices fsdp leaves
    fsdp: int = 1  # devices that shard parameters and optimizer state; -1: the rest

    @model_validator(mode="before")
    @classmethod
    def _fsdp_takes_the_rest(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("fsdp") == -1 and "data" not in values:
            return {**values, "data": 1}
        return values

    @model_validator(mode="after")
    def _check_axes(self) -> MeshConfig:
        for key, value in (("mesh.data", self.data), ("mesh.fsdp", self.fsdp)):
            if value == 0 or value < -1:
                raise ValueError(f"{key} must be a positive device count or -1 (got {value})")
        if self.data == -1 and self.fsdp == -1:
            raise ValueError("mesh.data and mesh.fsdp cannot both be -1 (set one of them)")
        return self


class Config(_Section):
    """A whole run. Every field is reachable as a dotted key, e.g. `optim.lr=1e-3`."""

    run: RunConfig = RunConfig()
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    spectral: SpectralConfig = SpectralConfig()
    mesh: MeshConfig = MeshConfig()

    @model_validator(mode="after")
    def _check_cross(self) -> Config:
        if self.train.seq_len > self.model.max_seq_len:
            raise ValueError(
                f"train.seq_len ({self.train.seq_len}) exceeds model.max_seq_len "
                f"({self.model.max_seq_len})"
            )
        available = available_kinds(self.model)
        for kind in self.spectral.kinds or []:
            if kind not in available:
                raise ValueError(
                    f"spectral.kinds: this model has no '{kind}' matrices "
                    f"(it has {', '.join(available)})"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the offending key."""


def _all_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys.extend(_all_keys(sub, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _closest_hint(key: str) -> str:
    close = difflib.get_close_matches(key, _all_keys(Config), n=1, cutoff=0.5)
    return f" (closest valid key: '{close[0]}')" if close else ""


def _parse_value(text: str) -> Any:
    """Parse an override value the way YAML would (numbers, bools, null, lists)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{key}': '{part}' is not a section{_closest_hint(key)}")
        node = child
    node[parts[-1]] = value


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b=value` strings to a nested dict (in place) and return it."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, text = item.split("=", 1)
        _set_dotted(tree, key.strip(), _parse_value(text))
    return tree


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown config key '{key}'{_closest_hint(key)}"
    if first["type"] == "value_error":  # a validator's own message, which names its keys
        return str(first["ctx"]["error"])
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    where = f"config key '{key}'" if key else "config"
    return f"{where}: {first['msg']}{shown}"


def validate(tree: dict[str, Any]) -> Config:
    """Validate a nested dict into a Config, raising ConfigError that names the key."""
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def read_yaml_mapping(path: Path, error: type[Exception], label: str) -> dict[str, Any]:
    """The mapping a YAML file holds (empty for an empty file), or `error` in one line that
    names `label` and where the YAML broke (the study's plans are read the same way)."""
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise error(f"{label} is not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(tree, dict):
        raise error(f"{label} must hold a mapping at the top level")
    return tree


def _yaml_problem(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config file (or the defaults) and apply dotted overrides."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        tree = read_yaml_mapping(path, ConfigError, f"config file {path}")
    apply_overrides(tree, overrides or [])
    return validate(tree)


def diff_configs(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved config dicts."""
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(diff_configs(a, b, f"{prefix}{k}."))
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


def save_config(config: Config, path: Path) -> None:
    """Write the resolved config atomically (other processes of a run may be reading it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    os.replace(tmp, path)
