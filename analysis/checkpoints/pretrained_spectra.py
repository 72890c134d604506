"""Spectra of pretrained checkpoints (GPT-2, GPT-NeoX/Pythia) as run-shaped directories.

`analyse_pretrained(["gpt2", "path/to/pythia-160m"], "out")` loads each checkpoint with
`spectral_jax.pretrained.load_pretrained`, probes every matrix (fused attention split into q, k,
v) and writes, per source, `out/<name>/`:

    spectra/      a spectra store (same schema as a training run; one entry, at the
                  revision's step for `stepN` revisions, else 0) that `load_run`,
                  `SpectraStore` and the notebook read like a trained run
    config.yaml   `model:` the equivalent ModelConfig, `pretrained:` where it came from
    metrics.csv   the tidy table: source, step, layer, kind, one column per metric
    report/       index.html: α and stable rank vs depth per kind, empirical spectral
                  densities with the fitted power-law tail for a few matrices

A source whose store already holds its step is not probed again. The probing helpers here are
shared with `analysis.checkpoints.series` (one store over a checkpoint series).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import yaml

from spectral_jax.matrices import available_kinds, default_kinds, named_matrices
from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig
from spectral_jax.paths import user_path
from spectral_jax.pretrained import PretrainedError, describe_source, load_pretrained
from spectral_jax.probe import probe
from spectral_jax.run_layout import CONFIG_FILE, SPECTRA
from spectral_jax.store import SpectraStore, SpectraWriter, is_store
from spectral_jax.store_meta import model_store_meta

_STEP = re.compile(r"^step(\d+)$")


class CheckpointSpectraError(ValueError):
    """A checkpoint analysis that cannot run as asked; the one-line message says why."""


def step_of(revision: str | None) -> int | None:
    """The training step a revision names (`step1000` → 1000), else None."""
    match = _STEP.match(revision or "")
    return int(match.group(1)) if match else None


def run_name(source: str | Path, revision: str | None = None) -> str:
    """Directory name for a source: a local directory's name, or the hub name with `/` → `--`;
    `@revision` appended when one is given."""
    path = user_path(source)
    name = path.resolve().name if path.exists() else str(source).replace("/", "--")
    return f"{name}@{revision}" if revision else name


def resolve_kinds(cfg: ModelConfig, kinds: Sequence[str] | None) -> tuple[str, ...]:
    """`kinds` checked against the model (None: every per-layer kind), in probe order."""
    if kinds is None:
        return tuple(sorted(default_kinds(cfg)))
    unknown = [k for k in kinds if k not in available_kinds(cfg)]
    if unknown:
        raise CheckpointSpectraError(
            f"--kinds: this model has no '{unknown[0]}' matrices "
            f"(it has {', '.join(available_kinds(cfg))})"
        )
    return tuple(sorted(set(kinds)))


def store_meta(
    cfg: ModelConfig, family: str, kinds: tuple[str, ...], method: str, source: dict[str, Any]
) -> dict[str, Any]:
    """meta.json of a checkpoint's spectra store (`spectral_jax.store_meta`, the trainer's
    builder), its model named by `family`, plus `source`."""
    return model_store_meta(
        cfg,
        kinds,
        save_sigma=True,
        model={**cfg.describe(), "family": family},
        method=method,
        source=source,
    )


def probe_checkpoint(model: Transformer, kinds: tuple[str, ...], method: str) -> dict:
    """One spectra entry (numpy) for every `(layer, kind)` matrix of `model`."""
    return jax.device_get(probe(named_matrices(model, kinds), method))


def write_config(directory: Path, cfg: ModelConfig, source: dict[str, Any]) -> None:
    """`config.yaml` beside the store: the model section a run would have, and the source."""
    directory.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"model": cfg.model_dump(mode="json"), "pretrained": source})
    (directory / CONFIG_FILE).write_text(text)


def write_csv(store_path: Path, csv_path: Path, source: str) -> None:
    """The store's tidy metrics frame as CSV, with the source as its first column."""
    frame = SpectraStore(store_path).metrics_frame()
    frame.insert(0, "source", source)
    frame.to_csv(csv_path, index=False)


def analyse_pretrained(
    sources: Iterable[str | Path],
    out: str | Path,
    *,
    revision: str | None = None,
    kinds: Sequence[str] | None = None,
    method: str = "auto",
    report: bool = True,
    log=print,
) -> list[Path]:
    """Write `out/<name>/` (store, config.yaml, metrics.csv, report/) for each source;
    returns those directories."""
    from analysis.report.checkpoint_figures import write_checkpoint_report

    sources = [str(s) for s in sources]
    names = [run_name(s, revision) for s in sources]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise CheckpointSpectraError(f"two sources would both write {Path(out) / twice}")
    written = []
    for source, name in zip(sources, names, strict=True):
        directory = user_path(out) / name
        info = describe_source(source, revision)
        step = step_of(revision) or 0
        store_path = directory / SPECTRA
        done = is_store(store_path) and step in SpectraStore(store_path).steps()
        if done:
            log(f"{source}: {store_path} already holds step {step}; not probed again")
        else:
            model, cfg = load_pretrained(source, revision=revision)
            chosen = resolve_kinds(cfg, kinds)
            meta = store_meta(cfg, info["family"], chosen, method, info)
            write_config(directory, cfg, info)
            writer = SpectraWriter(store_path, meta, from_step=step)
            try:
                writer.write(step, probe_checkpoint(model, chosen, method))
            finally:
                writer.close()
            del model
            log(
                f"{source}: {info['architecture']}, {cfg.n_layers} layers, probed into {store_path}"
            )
        write_csv(store_path, directory / "metrics.csv", str(source))
        if report:
            write_checkpoint_report(directory)
        written.append(directory)
    return written


__all__ = [
    "CheckpointSpectraError",
    "PretrainedError",
    "analyse_pretrained",
    "probe_checkpoint",
    "resolve_kinds",
    "run_name",
    "step_of",
    "store_meta",
    "write_config",
    "write_csv",
]
