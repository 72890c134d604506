"""Where the model of an importance or pruning analysis comes from.

`load_source(SOURCE)` accepts

- a spectral-jax run directory: `config.yaml` (its `model:` section), the newest checkpoint under
  `checkpoints/` that restores (or `step=`), and `tokenizer.json` when the run trained a BPE;
- anything `spectral_jax.pretrained.load_pretrained` accepts: a GPT-2 or GPT-NeoX/Pythia
  directory in the Hugging Face layout, or a hub name (with `revision=`), and its
  `tokenizer.json` when it ships one;
- a `Transformer` already in memory (notebooks, tests), with no tokenizer.

Only the parameters are read from a run's Orbax checkpoint (partial restore, as numpy), so
neither the optimizer state nor the trainer is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import yaml
from flax import nnx
from pydantic import ValidationError

from spectral_jax.documents import VAL_FRACTION
from spectral_jax.event_loops import draining_event_loops
from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig
from spectral_jax.paths import user_path
from spectral_jax.run_layout import (
    CHECKPOINTS,
    CONFIG_FILE,
    TOKENIZER_FILE,
    checkpoint_dir,
    checkpoint_state,
    checkpoint_steps,
)


class SourceError(ValueError):
    """A model source that cannot be loaded; the one-line message names what is wrong."""


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelSource:
    """A loaded model and what the evaluation data needs to know about it.

    `tokenizer`: a `tokenizers.Tokenizer` or None; `byte_level`: the run encoded text as raw
    UTF-8 bytes (data.tokenizer=byte); `val_fraction`: the held-out tail of each text document
    (the trainer's validation split, used by `--data shakespeare`); `info`: a JSON-able
    description written into the outputs.
    """

    model: Transformer
    cfg: ModelConfig
    name: str
    tokenizer: Any = None
    byte_level: bool = False
    val_fraction: float = VAL_FRACTION
    info: dict[str, Any] = field(default_factory=dict)


def load_source(
    source: ModelSource | Transformer | str | Path,
    *,
    revision: str | None = None,
    step: int | None = None,
    dtype: str = "float32",
) -> ModelSource:
    """The model at `source` (see the module docstring); a `ModelSource` passes through.

    `step`: a run's checkpoint step (default: the newest that restores); `revision`, `dtype`:
    as for `load_pretrained` (pretrained checkpoints only).
    """
    if isinstance(source, ModelSource):
        return source
    if isinstance(source, Transformer):
        return ModelSource(
            model=source, cfg=source.cfg, name="model", info={"kind": "in-memory model"}
        )
    path = user_path(source)
    if (path / CONFIG_FILE).is_file() and not (path / "config.json").is_file():
        if revision is not None:
            raise SourceError(f"--revision applies to pretrained checkpoints, not to run {path}")
        return _load_run(path, step)
    if step is not None:
        raise SourceError(f"--step applies to run directories; {source} is not one")
    return _load_pretrained(str(source), revision, dtype)


def _load_pretrained(source: str, revision: str | None, dtype: str) -> ModelSource:
    from spectral_jax.pretrained import (
        PretrainedError,
        describe_source,
        load_pretrained,
        load_tokenizer,
    )

    path = Path(source)
    if path.is_dir() and not (path / "config.json").is_file() and revision is None:
        raise SourceError(
            f"{path} is neither a run directory (config.yaml and checkpoints/) nor a "
            "checkpoint directory (config.json)"
        )
    try:
        model, cfg = load_pretrained(source, revision=revision, dtype=dtype)
        tokenizer = load_tokenizer(source, revision=revision)
        info = {"kind": "pretrained", **describe_source(source, revision)}
    except PretrainedError as err:
        raise SourceError(str(err)) from None
    name = path.resolve().name if path.is_dir() else source.replace("/", "--")
    return ModelSource(
        model=model,
        cfg=cfg,
        name=f"{name}@{revision}" if revision else name,
        tokenizer=tokenizer,
        info=info,
    )


def _load_run(path: Path, step: int | None) -> ModelSource:
    try:
        config = yaml.safe_load((path / CONFIG_FILE).read_text()) or {}
    except yaml.YAMLError as err:
        raise SourceError(f"{path / CONFIG_FILE} is not valid YAML: {err}") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise SourceError(f"{path / CONFIG_FILE} has no model: section")
    pretrained = config.get("pretrained")
    if isinstance(pretrained, dict) and not (path / CHECKPOINTS).is_dir():
        raise SourceError(
            f"{path} holds the spectra of a pretrained checkpoint, not its weights; pass the "
            f"checkpoint itself ({pretrained.get('source')})"
        )
    try:
        cfg = ModelConfig(**config["model"])
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "model"
        raise SourceError(f"{path / CONFIG_FILE}: model.{where}: {first['msg']}") from None
    restored_step, params = _restore_params(path / CHECKPOINTS, step)
    model = _model_from_params(cfg, params, checkpoint_dir(path / CHECKPOINTS, restored_step))
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    tokenizer = None
    if (path / TOKENIZER_FILE).is_file():
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        except Exception as err:
            raise SourceError(
                f"{path / TOKENIZER_FILE} is not a readable tokenizer ({err})"
            ) from None
    info = {
        "kind": "run",
        "directory": str(path.resolve()),
        "step": restored_step,
        "corpus": data.get("corpus"),
    }
    return ModelSource(
        model=model,
        cfg=cfg,
        name=path.resolve().name,
        tokenizer=tokenizer,
        byte_level=data.get("tokenizer") == "byte" and tokenizer is None,
        val_fraction=float(data.get("val_fraction", VAL_FRACTION)),
        info=info,
    )


def _restore_params(directory: Path, step: int | None) -> tuple[int, dict]:
    """`(step, params)`: the parameters (a nested dict of numpy arrays) of checkpoint `step`, or
    of the newest checkpoint that restores."""
    steps = checkpoint_steps(directory)
    if not steps:
        raise SourceError(f"{directory} holds no checkpoints (train with train.checkpoint_every)")
    if step is not None:
        if step not in steps:
            raise SourceError(f"{directory} has no checkpoint at step {step} (it has {steps})")
        return step, _read_params(checkpoint_state(directory, step))
    errors = []
    for candidate in reversed(steps):
        try:
            return candidate, _read_params(checkpoint_state(directory, candidate))
        except SourceError as err:
            errors.append(err)
            logging.getLogger(__name__).warning("%s; trying an older checkpoint", err)
    raise errors[0]


def _read_params(state_dir: Path) -> dict:
    import orbax.checkpoint as ocp

    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)  # Orbax warns about metadata the trainer never writes
    try:
        # A damaged checkpoint fails inside Orbax's asynchronous reads: drained loops let them
        # all finish, so the failure is one line and not hundreds of asyncio tracebacks.
        with draining_event_loops():
            checkpointer = ocp.PyTreeCheckpointer()
            tree = checkpointer.metadata(state_dir).item_metadata.tree
            if not isinstance(tree, dict) or "params" not in tree:
                raise SourceError(f"checkpoint {state_dir} holds no params")
            target = {"params": _numpy_like(tree["params"])}
            restore_args = _map_leaves(target, lambda _: ocp.RestoreArgs(restore_type=np.ndarray))
            restored = checkpointer.restore(
                state_dir,
                args=ocp.args.PyTreeRestore(
                    item=target, restore_args=restore_args, partial_restore=True
                ),
            )
    except SourceError:
        raise
    except Exception as err:  # Orbax raises many types for a damaged directory
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise SourceError(f"cannot restore checkpoint {state_dir.parent}: {first}") from None
    finally:
        absl_logger.setLevel(level)
    return restored["params"]


def _map_leaves(tree: Any, fn) -> Any:
    if isinstance(tree, dict):
        return {k: _map_leaves(v, fn) for k, v in tree.items()}
    return fn(tree)


def _numpy_like(tree: Any) -> Any:
    return _map_leaves(tree, lambda meta: np.zeros(meta.shape, meta.dtype))


def _flatten(tree: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], np.ndarray]:
    """Leaves of a nested dict keyed by path; a trailing `value` key (how NNX variables are
    saved) is dropped."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    if set(tree) == {"value"} and not isinstance(tree["value"], dict):
        return {prefix: tree["value"]}
    out = {}
    for key, value in tree.items():
        out.update(_flatten(value, (*prefix, str(key))))
    return out


def _model_from_params(cfg: ModelConfig, params: dict, where: Path) -> Transformer:
    """A `Transformer` of `cfg` holding the restored parameters (every one checked)."""
    abstract = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    stored = _flatten(params)
    used = set()
    for path, variable in nnx.to_flat_state(state):
        key = tuple(str(p) for p in path)
        if key not in stored:
            raise SourceError(f"checkpoint {where} lacks parameter {'.'.join(key)}")
        value = np.asarray(stored[key])
        if value.shape != tuple(variable.shape):
            raise SourceError(
                f"checkpoint {where}: parameter {'.'.join(key)} has shape {list(value.shape)}, "
                f"config.yaml implies {list(variable.shape)}"
            )
        variable.set_value(jnp.asarray(value, variable.dtype))
        used.add(key)
    extra = sorted(set(stored) - used)
    if extra:
        raise SourceError(f"checkpoint {where} has parameter {'.'.join(extra[0])} the model lacks")
    return nnx.merge(graphdef, state)
