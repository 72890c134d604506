"""A checkpoint series (e.g. Pythia's training revisions) → one spectra store, one entry per step.

`analyse_series(SOURCE, OUT)` where SOURCE is

- a directory with one Hugging Face-layout checkpoint per step in subdirectories named
  `step<N>` (Pythia's revisions: `step0/ … step143000/`) or `checkpoint-<N>` (the HF Trainer),
  optionally restricted to `revisions`; or
- a hub name with `revisions` (`step0,step1000,...`), each fetched by `huggingface_hub`.

It writes `OUT/spectra/` (the trainer's store schema, entry step = N), `OUT/config.yaml` and
`OUT/metrics.csv`, so `python -m analysis report OUT` draws the pretrained model's lifecycle
with the same figures as a trained run. Resumable: steps already in the store are skipped, so
an interrupted series picks up where it stopped. Our own runs' Orbax checkpoints are not a
series source: a run probed during training already has its spectra in `RUN/spectra`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.checkpoints.pretrained_spectra import (
    CheckpointSpectraError,
    probe_checkpoint,
    resolve_kinds,
    step_of,
    store_meta,
    write_config,
    write_csv,
)
from spectral_jax.paths import user_path
from spectral_jax.pretrained import describe_source, load_pretrained
from spectral_jax.run_layout import CHECKPOINTS, SPECTRA
from spectral_jax.store import SpectraStore, SpectraWriter, is_store

_STEP_DIR = re.compile(r"^(?:step|checkpoint-)(\d+)$")


@dataclass(frozen=True)
class SeriesPoint:
    """One checkpoint of a series: its step, and how `load_pretrained` finds it."""

    step: int
    source: str
    revision: str


def series_points(source: str | Path, revisions: Sequence[str] | None = None) -> list[SeriesPoint]:
    """The checkpoints of a series, by ascending step."""
    path = user_path(source)
    if path.is_dir():
        points = _local_points(path)
        if revisions is not None:
            by_name = {p.revision: p for p in points}
            missing = [r for r in revisions if r not in by_name]
            if missing:
                raise CheckpointSpectraError(
                    f"{path} has no checkpoint subdirectory '{missing[0]}' (with config.json)"
                )
            points = [by_name[r] for r in revisions]
    else:
        if not revisions:
            raise CheckpointSpectraError(
                f"'{source}' is not a local directory; a hub series needs --revisions "
                "(e.g. step0,step1000,step143000)"
            )
        points = []
        for revision in revisions:
            step = step_of(revision)
            if step is None:
                raise CheckpointSpectraError(
                    f"revision '{revision}' names no step; series revisions are step<N>"
                )
            points.append(SeriesPoint(step, str(source), revision))
    steps = [p.step for p in points]
    if len(set(steps)) < len(steps):
        twice = next(s for s in steps if steps.count(s) > 1)
        raise CheckpointSpectraError(f"step {twice} appears twice in the series {source}")
    return sorted(points, key=lambda p: p.step)


def _local_points(path: Path) -> list[SeriesPoint]:
    points = []
    for child in path.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir() and (child / "config.json").is_file():
            points.append(SeriesPoint(int(match.group(1)), str(path), child.name))
    if not points:
        if (path / CHECKPOINTS).is_dir() or (path / SPECTRA).is_dir():
            raise CheckpointSpectraError(
                f"{path} is a spectral-jax run: a series over its own Orbax checkpoints is not "
                "supported (a run probed while training has its spectra in RUN/spectra)"
            )
        raise CheckpointSpectraError(
            f"{path} holds no checkpoint subdirectories (step<N>/ or checkpoint-<N>/ with "
            "config.json)"
        )
    return points


def analyse_series(
    source: str | Path,
    out: str | Path,
    *,
    revisions: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    method: str = "auto",
    log: Callable[[str], None] = print,
) -> Path:
    """Probe every checkpoint of the series not yet in `out/spectra`; returns `out`."""
    out = user_path(out)
    points = series_points(source, revisions)
    store_path = out / SPECTRA
    done = set(SpectraStore(store_path).steps()) if is_store(store_path) else set()
    todo = [p for p in points if p.step not in done]
    if len(todo) < len(points):
        log(f"{store_path}: {len(points) - len(todo)} of {len(points)} steps already written")
    writer, first_cfg, chosen = None, None, ()
    try:
        for point in todo:
            started = time.perf_counter()
            model, cfg = load_pretrained(point.source, revision=point.revision)
            if writer is None:
                info = describe_source(point.source, point.revision)
                info = {k: info[k] for k in ("family", "architecture")}
                info = {"source": str(source), "series": True, **info}
                chosen = resolve_kinds(cfg, kinds)
                write_config(out, cfg, info)
                meta = store_meta(cfg, info["family"], chosen, method, info)
                writer, first_cfg = SpectraWriter(store_path, meta, from_step=point.step), cfg
            elif cfg != first_cfg:
                raise CheckpointSpectraError(
                    f"{point.revision} of {source} has a different architecture from the "
                    "series' first checkpoint"
                )
            writer.write(point.step, probe_checkpoint(model, chosen, method))
            del model
            log(f"step {point.step} ({point.revision}): {time.perf_counter() - started:.1f} s")
    finally:
        if writer is not None:
            writer.close()
    write_csv(store_path, out / "metrics.csv", str(source))
    return out
