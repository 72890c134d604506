"""The health rules over a whole run: every event, the stretch each rule was in force, and what
is still flagged at the last snapshot.

The rules themselves live in `spectral_jax.health` (the trainer evaluates the same ones live);
this module feeds them a store's snapshots in step order, or a tidy metrics frame's (a `Run`
built in memory), and keeps what a report or the `health` command shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from analysis.run import Run, RunError
from spectral_jax.health import Flag, HealthConfig, HealthEvaluator, HealthEvent
from spectral_jax.store import SpectraStore

Snapshot = tuple[int, Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Interval:
    """One stretch a rule was in force for a matrix: its streak began at `since`, it fired at
    `fired` and cleared at `cleared` (None: still in force at the last snapshot)."""

    rule: str
    layer: int
    kind: str
    since: int
    fired: int
    cleared: int | None


@dataclass(frozen=True, kw_only=True)
class HealthTimeline:
    """The rules' verdicts over a sequence of snapshots (see the module docstring)."""

    config: HealthConfig
    steps: tuple[int, ...]
    events: tuple[HealthEvent, ...]
    flags: tuple[Flag, ...]  # in force after the last snapshot
    not_judged: dict[str, str] = field(default_factory=dict)  # rule → why it could not be

    @property
    def intervals(self) -> list[Interval]:
        """Every stretch a rule was in force, in the order the rules fired."""
        open_: dict[tuple[str, int, str], HealthEvent] = {}
        done: list[Interval] = []
        for event in self.events:
            key = (event.rule, event.layer, event.kind)
            if event.state == "start":
                open_[key] = event
            elif key in open_:
                start = open_.pop(key)
                done.append(_interval(start, event.step))
        done += [_interval(e, None) for e in open_.values()]
        return sorted(done, key=lambda i: (i.fired, i.rule, i.kind, i.layer))

    @property
    def ever_flagged(self) -> bool:
        """Whether any rule fired for any matrix at any snapshot."""
        return any(event.state == "start" for event in self.events)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, snapshots, events, intervals and the flags at the end."""
        return {
            "settings": self.config.model_dump(mode="json", exclude={"stop_on"}),
            "rules": list(self.config.enabled()),
            "not_judged": dict(self.not_judged),
            "snapshots": len(self.steps),
            "first_step": self.steps[0] if self.steps else None,
            "last_step": self.steps[-1] if self.steps else None,
            "ever_flagged": self.ever_flagged,
            "events": [event.row() for event in self.events],
            "intervals": [asdict(i) for i in self.intervals],
            "flagged_at_end": [asdict(f) for f in self.flags],
        }


def _interval(start: HealthEvent, cleared: int | None) -> Interval:
    return Interval(
        rule=start.rule,
        layer=start.layer,
        kind=start.kind,
        since=start.since,
        fired=start.step,
        cleared=cleared,
    )


def evaluate(
    snapshots: Iterable[Snapshot], layers: Mapping[str, Sequence[int]], config: HealthConfig
) -> HealthTimeline:
    """Run the rules over `(step, entry)` snapshots in step order."""
    evaluator = HealthEvaluator(config, layers)
    steps, events = [], []
    for step, entry in snapshots:
        events += evaluator.update(int(step), entry)
        steps.append(int(step))
    return HealthTimeline(
        config=config, steps=tuple(steps), events=tuple(events), flags=tuple(evaluator.flags())
    )


def store_snapshots(store: SpectraStore) -> Iterator[Snapshot]:
    """Every finalised entry of a store, in step order."""
    for step in store.steps():
        yield step, store.load(step)


def frame_snapshots(frame: pd.DataFrame, layers: Mapping[str, Sequence[int]]) -> Iterator[Snapshot]:
    """Snapshots (metrics only) from a tidy `step, layer, kind, <metrics>` frame; a matrix
    missing at a step has NaN metrics there."""
    names = [c for c in frame.columns if c not in ("step", "layer", "kind")]
    for step, rows in frame.groupby("step", sort=True):
        metrics: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
        for kind, ls in layers.items():
            part = rows[rows["kind"] == kind].set_index("layer").reindex(list(ls))
            for name in names:
                metrics[name][kind] = part[name].to_numpy(float)
        yield int(step), {"metrics": metrics}


def health_config(
    run_config: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
) -> HealthConfig:
    """The thresholds a run was trained with (`spectral.health` of its config.yaml, defaults
    where absent) with `overrides` on top (None turns a rule off); RunError names a bad key."""
    spectral = (run_config or {}).get("spectral") or {}
    settings = dict(spectral.get("health") or {}) if isinstance(spectral, dict) else {}
    settings.update(overrides or {})
    try:
        return HealthConfig(**settings)
    except ValidationError as err:
        first = err.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            key = ".".join(str(p) for p in first["loc"])
            message = f"spectral.health.{key}: {message} (got {first.get('input')!r})"
        raise RunError(message) from None


def run_timeline(run: Run, config: HealthConfig | None = None) -> HealthTimeline:
    """The rules over every snapshot of a run (its store when on disk, else its frame), with the
    run's own thresholds unless `config` is given."""
    config = config or health_config(run.config)
    if run.store is not None:
        return evaluate(store_snapshots(run.store), run.store.meta["layers"], config)
    frame = run.metrics
    layers = run.meta.get("layers") or {
        kind: sorted(int(v) for v in frame.loc[frame["kind"] == kind, "layer"].unique())
        for kind in sorted(frame["kind"].unique())
    }
    return evaluate(frame_snapshots(frame, layers), layers, config)
