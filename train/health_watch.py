"""The layer-health rules in the spectra sink: judge each snapshot and say so when a rule starts
or clears — a console warning, an event row in `metrics.jsonl`, TensorBoard text — write every
rule's count as a TensorBoard scalar, and remember the first start of a rule in `stop_on`.

Runs in the sink thread, after the snapshot's store entry: host numpy on the snapshot's metrics
(well under a millisecond, `bench/health.py`), no device work, and the loop never waits for it.
The rules are `spectral_jax.health`'s; `python -m analysis health` applies the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spectral_jax.health import HealthConfig, HealthEvaluator, HealthEvent
from train.tensorboard import EventWriter

log = logging.getLogger("spectral_jax.train")
COUNT_TAG = "health/{rule}"  # scalar at every snapshot: matrices the rule is in force for
EVENTS_TAG = "health/events"  # text at a snapshot where rules start or clear


class HealthWatch:
    """Evaluates the health rules on every snapshot the sink writes (process 0).

    `events`: the spectral TensorBoard file (a rewind keeps its events with their store
    entries); `record(row)`: appends an event row to the training log.
    """

    def __init__(
        self,
        config: HealthConfig,
        layers: Mapping[str, Sequence[int]],
        events: EventWriter,
        record: Callable[[dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.evaluator = HealthEvaluator(config, layers)
        self.events, self.record = events, record
        self.stop: HealthEvent | None = None  # the first start of a rule in `stop_on`

    def replay(self, step: int, entry: Mapping[str, Any]) -> None:
        """Judge a snapshot kept from before a restart, silently: its lines are on disk."""
        self.evaluator.update(step, entry)

    def observe(self, step: int, entry: Mapping[str, Any]) -> None:
        """Judge a new snapshot; report what started or cleared."""
        events = self.evaluator.update(step, entry)
        for event in events:
            log.warning("health at step %s: %s", f"{step:,}", event.message)
            self.record(event.row())
            if self.stop is None and event.state == "start" and event.rule in self.config.stop_on:
                self.stop = event
        self.events.scalars(
            step,
            {COUNT_TAG.format(rule=rule): count for rule, count in self.evaluator.counts().items()},
        )
        if events:
            text = "  \n".join(f"{e.state}: {e.message}" for e in events)  # markdown breaks
            self.events.text(EVENTS_TAG, text, step)
