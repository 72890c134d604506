"""The health timeline figure: which matrices were flagged by which rule, and when.

One row per matrix that was ever flagged; each stretch a rule was in force is a bar from the
first snapshot of its streak to the snapshot that cleared it (or the last one), one colour per
rule. A run nothing flagged gets a figure that says so. Returns a matplotlib Figure and does not
choose a backend (the CLI selects Agg).
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.health.timeline import HealthTimeline
from spectral_jax.health import RULES, matrix_name

COLOURS = dict(
    zip(RULES, ("tab:blue", "tab:purple", "tab:orange", "tab:red", "black"), strict=True)
)


def timeline_figure(timeline: HealthTimeline, title: str = "Layer health") -> Figure:
    """Flagged matrices (rows) × steps, a bar per stretch a rule was in force."""
    intervals = timeline.intervals
    steps = timeline.steps
    if not intervals:
        fig = Figure(figsize=(7, 1.8), layout="constrained")
        ax = fig.subplots()
        ax.axis("off")
        span = f"steps {steps[0]:,}–{steps[-1]:,}" if steps else "no snapshots"
        ax.set_title(title)
        ax.text(
            0.5,
            0.45,
            f"no rule fired over {len(steps)} snapshots ({span})",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        return fig
    rows = sorted({(i.layer, i.kind) for i in intervals})
    height = 1.4 + 0.28 * len(rows)
    fig = Figure(figsize=(8, height), layout="constrained")
    ax = fig.subplots()
    last = steps[-1]
    gap = (steps[-1] - steps[0]) / max(len(steps) - 1, 1) if len(steps) > 1 else 1.0
    present = [rule for rule in RULES if any(i.rule == rule for i in intervals)]
    lane = 0.8 / len(present)
    for interval in intervals:
        y = rows.index((interval.layer, interval.kind))
        offset = -0.4 + lane * present.index(interval.rule)
        end = interval.cleared if interval.cleared is not None else last + gap / 2
        ax.broken_barh(
            [(interval.since, max(end - interval.since, gap / 4))],
            (y + offset, lane),
            facecolors=COLOURS[interval.rule],
        )
        ax.plot([interval.fired], [y + offset + lane / 2], "|", color="white", markersize=6)
    ax.set_yticks(range(len(rows)), [matrix_name(layer, kind) for layer, kind in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(steps[0] - gap / 2, last + gap / 2)
    ax.set_xlabel("step")
    ax.set_title(f"{title}: flagged matrices ({len(steps)} snapshots; tick: the rule fired)")
    ax.legend(
        handles=[Patch(color=COLOURS[rule], label=rule) for rule in present],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize="small",
    )
    ax.grid(axis="x", alpha=0.3)
    return fig
