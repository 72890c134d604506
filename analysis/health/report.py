"""The run report's `health` section: the rules over every snapshot of the run, with the run's
own thresholds, as a compact summary and the timeline figure."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from analysis.health.figures import timeline_figure
from analysis.health.timeline import run_timeline
from analysis.run import Run


def health_section(run: Run) -> dict[str, Any]:
    """summary.json's `health`: settings, whether anything fired, every event as a line, and
    what is still in force at the last snapshot."""
    timeline = run_timeline(run)
    fired = [e for e in timeline.events if e.state == "start"]
    started = {(e.rule, e.layer, e.kind): e for e in fired}
    return {
        "settings": timeline.config.model_dump(mode="json", exclude={"stop_on"}),
        "rules": list(timeline.config.enabled()),
        "ever_flagged": bool(fired),
        "fired": len(fired),
        "matrices_flagged": len({(e.layer, e.kind) for e in fired}),
        "in_force_at_end": [
            started[(f.rule, f.layer, f.kind)].message
            for f in timeline.flags
            if (f.rule, f.layer, f.kind) in started
        ],
        "events": [f"step {e.step:,} {e.state}: {e.message}" for e in timeline.events],
    }


def health_figure(run: Run) -> Figure:
    """The timeline of flagged matrices (`analysis.health.figures.timeline_figure`)."""
    return timeline_figure(run_timeline(run))
