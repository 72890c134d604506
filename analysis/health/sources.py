"""What `python -m analysis health SOURCE` judges: a run's (or a bare store's) every snapshot,
or the probed spectra of one pretrained checkpoint or of a checkpoint series.

A single checkpoint is one snapshot of a trained model: it is judged with no warm-up and no
persistence (there is no second snapshot to wait for), and the rules that compare a snapshot
with earlier ones (`rank_collapse`, `sigma_growth`) cannot judge it. A series is judged like a
run, over its checkpoints in step order; what counts is what is flagged at its last one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from analysis.checkpoints.pretrained_spectra import (
    CheckpointSpectraError,
    probe_checkpoint,
    resolve_kinds,
)
from analysis.checkpoints.series import series_points
from analysis.health.timeline import (
    HealthTimeline,
    Snapshot,
    evaluate,
    health_config,
    run_timeline,
    store_snapshots,
)
from analysis.run import RunError, load_run
from spectral_jax.matrices import kind_layers
from spectral_jax.paths import looks_local, user_path
from spectral_jax.pretrained import load_pretrained
from spectral_jax.run_layout import CHECKPOINTS, SPECTRA
from spectral_jax.store import SpectraStore, is_store

HISTORY_RULES = ("rank_collapse", "sigma_growth")


@dataclass(frozen=True, kw_only=True)
class Judged:
    """A source's timeline, what kind of source it was, and whether it counts as flagged."""

    source: str
    kind: str  # "run", "store", "checkpoint" or "series"
    timeline: HealthTimeline
    layers: dict[str, list[int]]  # the judged matrices: layers per kind

    @property
    def flagged(self) -> bool:
        """A run or store: any rule fired at any snapshot; a checkpoint or series: a rule is in
        force at the last snapshot."""
        if self.kind in ("run", "store"):
            return self.timeline.ever_flagged
        return bool(self.timeline.flags)


def judge(
    source: str,
    *,
    revision: str | None = None,
    revisions: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    method: str = "auto",
    overrides: dict | None = None,
) -> Judged:
    """Evaluate the health rules on `source` (see the module docstring)."""
    overrides = overrides or {}
    path = user_path(source)
    if path.is_dir() and is_store(path / SPECTRA):
        run = load_run(path)
        timeline = run_timeline(run, health_config(run.config, overrides))
        return Judged(source=source, kind="run", timeline=timeline, layers=run.meta["layers"])
    if path.is_dir() and is_store(path):
        store = SpectraStore(path)
        timeline = evaluate(
            store_snapshots(store), store.meta["layers"], health_config(None, overrides)
        )
        return Judged(source=source, kind="store", timeline=timeline, layers=store.meta["layers"])
    if path.is_dir() and (path / CHECKPOINTS).is_dir():
        raise RunError(
            f"{path} has no spectra store (spectra/meta.json): trained with spectral.every=0?"
        )
    if revisions or (path.is_dir() and not (path / "config.json").is_file()):
        config = health_config(None, overrides)
        layers, snapshots = _series(source, revisions, kinds, method)
        timeline = evaluate(snapshots, layers, config)
        return Judged(source=source, kind="series", timeline=timeline, layers=layers)
    if not path.exists() and looks_local(source):
        raise RunError(f"no run, spectra store or checkpoint at {path}")
    return _checkpoint(source, revision, kinds, method, overrides)


def _checkpoint(
    source: str, revision: str | None, kinds: Sequence[str] | None, method: str, overrides: dict
) -> Judged:
    config = health_config(None, {**overrides, "warmup": 0, "persistence": 1})
    model, cfg = load_pretrained(source, revision=revision)
    chosen = resolve_kinds(cfg, kinds)
    entry = probe_checkpoint(model, chosen, method)
    layers = kind_layers(cfg, chosen)
    timeline = evaluate([(0, entry)], layers, config)
    reason = "one snapshot: nothing earlier to compare with"
    skipped = {rule: reason for rule in HISTORY_RULES if rule in config.enabled()}
    timeline = dataclasses.replace(timeline, not_judged=skipped)
    return Judged(source=source, kind="checkpoint", timeline=timeline, layers=layers)


def _series(
    source: str, revisions: Sequence[str] | None, kinds: Sequence[str] | None, method: str
) -> tuple[dict[str, list[int]], Iterator[Snapshot]]:
    points = series_points(source, revisions)
    first, cfg = load_pretrained(points[0].source, revision=points[0].revision)
    chosen = resolve_kinds(cfg, kinds)

    def snapshots() -> Iterator[Snapshot]:
        model = first
        for i, point in enumerate(points):
            if i:
                model, other = load_pretrained(point.source, revision=point.revision)
                if other != cfg:
                    raise CheckpointSpectraError(
                        f"{point.revision} of {source} has a different architecture from the "
                        "series' first checkpoint"
                    )
            yield point.step, probe_checkpoint(model, chosen, method)

    return kind_layers(cfg, chosen), snapshots()
