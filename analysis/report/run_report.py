"""The run report (`RUN/report/`: PNG figures, summary.json, index.html) and the scaling report.

Every analysis runs even when the run is too short or too shallow for it: a quantity it cannot
compute is `null` in summary.json with a reason under that section's `reasons`, and its figure
is replaced by one that states the reason.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from analysis.health.report import health_figure, health_section
from analysis.lifecycle.asymmetry import qk_v_asymmetry
from analysis.lifecycle.profile import alpha_profile
from analysis.lifecycle.scaling import scaling_from_runs
from analysis.lifecycle.seeds import across_seeds, check_group, group_findings
from analysis.lifecycle.two_timescale import fit_two_timescale
from analysis.lifecycle.wave import compression_wave
from analysis.report import figures as plots
from analysis.report.findings import run_caveats, run_findings, scaling_findings
from analysis.report.html import page
from analysis.results import to_jsonable
from analysis.run import QK_KINDS, Run, load_run
from spectral_jax.paths import user_path
from spectral_jax.run_layout import REPORT

SECTIONS = ("wave", "alpha_profile", "asymmetry", "two_timescale")


def _attempt(name: str, fn: Callable[[], Any]) -> tuple[Any, str | None]:
    """Run one analysis; an unexpected failure becomes a reason, never a crashed report."""
    try:
        return fn(), None
    except Exception as err:  # the report must still be written; the reason is recorded
        print(f"warning: {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return None, f"{name} failed: {type(err).__name__}: {err}"


def analyse(
    run: Run,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All report analyses: (results by section, summary dict ready for JSON)."""
    kinds = run.resolve_kinds(kinds)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    # The model's compression is one travelling front: fit it where the front is (Q/K);
    # averaged with V/O, which compress at once, it describes neither.
    model_kinds = tuple(k for k in kinds if k in QK_KINDS) or kinds
    calls = {
        "wave": lambda: compression_wave(run, kinds),
        "alpha_profile": lambda: alpha_profile(run, metric=metric, kinds=kinds),
        "asymmetry": lambda: qk_v_asymmetry(run, kinds),
        "two_timescale": lambda: fit_two_timescale(run, metric=metric, kinds=model_kinds),
    }
    for name, call in calls.items():
        results[name], why = _attempt(name, call)
        if why:
            errors[name] = why
    steps = run.steps
    losses = run.log["loss"].dropna()
    summary: dict[str, Any] = {
        "run": {
            "path": str(run.path) if run.path else None,
            "n_layers": run.n_layers,
            "n_snapshots": len(steps),
            "first_step": int(steps[0]) if len(steps) else None,
            "last_step": int(steps[-1]) if len(steps) else None,
            "kinds": list(kinds),
            "alpha_metric": metric,
            "final_loss": float(losses.iloc[-1]) if len(losses) else None,
            "probe_interval": float(np.median(np.diff(steps))) if len(steps) > 1 else None,
            "seeds": 1,
            "model": run.meta.get("model"),
        },
    }
    for name in SECTIONS:
        result = results[name]
        summary[name] = (
            result.to_dict() if result is not None else {"reasons": {"analysis": errors[name]}}
        )
    health, why = _attempt("health", lambda: health_section(run))
    summary["health"] = health if health is not None else {"reasons": {"analysis": why}}
    summary = to_jsonable(summary)
    summary["findings"] = [dataclasses.asdict(f) for f in run_findings(summary)]
    summary["caveats"] = list(run_caveats(summary))
    return results, summary


def _save(fig: Figure, path: Path, dpi: int) -> None:
    fig.savefig(path, dpi=dpi)


def _figures(
    run: Run, results: dict[str, Any], metric: str, kinds: tuple[str, ...]
) -> list[tuple[str, str, Callable[[], Figure]]]:
    """(file name, caption, figure builder) of every report figure."""
    name = plots.ALPHA_NAMES.get(metric, metric)

    def need(section: str, draw: Callable[[Any], Figure]) -> Callable[[], Figure]:
        def build() -> Figure:
            if results[section] is None:
                return plots.placeholder(section, f"{section} could not be computed")
            return draw(results[section])

        return build

    return [
        (
            "stable_rank_heatmap.png",
            "Stable rank relative to initialisation, step × layer, per kind: the compression wave.",
            lambda: plots.stable_rank_heatmaps(run, kinds),
        ),
        (
            "alpha_heatmap.png",
            f"{name}, step × layer, per kind.",
            lambda: plots.alpha_heatmaps(run, metric, kinds),
        ),
        (
            "alpha_profiles.png",
            f"{name} vs relative depth at several steps with the quadratic fit; Δα and the shape "
            "distance to the final profile over time.",
            need("alpha_profile", plots.alpha_profiles),
        ),
        (
            "wave.png",
            "Onset step per layer (wave speed) and the early-vs-late gradient G(t).",
            need("wave", plots.wave_panel),
        ),
        (
            "qk_vs_vo.png",
            "Compression of Q, K, V, O per layer (colour = depth) and the onset step of Q/K and "
            "V/O per layer (log scale): the asymmetry is in the timing.",
            need("asymmetry", plots.asymmetry_panel),
        ),
        (
            "two_timescale.png",
            f"Two-timescale model vs data (compression and {name}) on the Q/K kinds when present: "
            "the travelling front the model describes.",
            need("two_timescale", plots.two_timescale_panel),
        ),
        ("loss.png", "Training and validation loss.", lambda: plots.loss_curve(run)),
        (
            "health.png",
            "Layer health: which matrices the health rules flagged, and when (docs/monitoring.md).",
            lambda: health_figure(run),
        ),
    ]


def write_report(
    run: Run | str | Path | Sequence[Run | str | Path],
    out: str | Path | None = None,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    dpi: int = 100,
) -> Path:
    """Figures, summary.json and index.html in `out` (default: the first RUN/report).

    Several runs must form a seed group (`analysis.lifecycle.seeds`): the findings then hold across
    seeds and every statistic gets a seed-level interval (`n_boot`, `seed`: the cluster
    bootstrap over seeds, from 10 seeds on); the figures show the first run.
    """
    started = time.perf_counter()
    runs = [load_run(r) for r in (run if isinstance(run, list | tuple) else [run])]
    first = runs[0]
    if len(runs) > 1:
        check_group(runs)
    kinds = first.resolve_kinds(kinds)
    if out is None:
        if first.path is None:
            raise ValueError("an in-memory run needs an explicit output directory")
        out = first.path / REPORT
    out = user_path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, summary = analyse(first, metric=metric, kinds=kinds)
    if len(runs) > 1:
        others = [analyse(r, metric=metric, kinds=kinds)[1] for r in runs[1:]]
        summary = _group_summary([summary, *others], runs, n_boot, seed)
    figures = []
    for file, caption, build in _figures(first, results, metric, kinds):
        fig, why = _attempt(file, build)
        if fig is None:
            fig = plots.placeholder(file, why or "")
        _save(fig, out / file, dpi)
        figures.append((file, caption))
    summary["run"]["report_seconds"] = round(time.perf_counter() - started, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    title = f"Spectral lifecycle report: {first.path or 'in-memory run'}"
    if len(runs) > 1:
        title += f" and {len(runs) - 1} more seed(s) (figures: the first)"
    (out / "index.html").write_text(page(title, figures, summary))
    return out


def _group_summary(
    summaries: list[dict[str, Any]], runs: list[Run], n_boot: int, seed: int
) -> dict[str, Any]:
    """The first run's sections, the group's findings and every statistic across seeds."""
    summary = dict(summaries[0])
    summary["run"] = {
        **summary["run"],
        "seeds": len(runs),
        "paths": [str(r.path) if r.path else None for r in runs],
        "seed_values": [(r.config.get("run") or {}).get("seed") for r in runs],
    }
    summary["across_seeds"] = to_jsonable(across_seeds(summaries, n_boot, seed))
    summary["per_seed"] = [{k: v for k, v in s.items() if k != "caveats"} for s in summaries]
    summary["findings"] = [dataclasses.asdict(f) for f in group_findings(summaries)]
    summary["caveats"] = list(run_caveats(summary))
    return summary


def write_scaling_report(
    runs: Iterable[Run | str | Path],
    out: str | Path,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | None = None,
    step: int | None = None,
    dpi: int = 100,
) -> Path:
    """scaling.json, scaling.png and index.html for Δα = c·L^β across runs."""
    out = user_path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = scaling_from_runs(runs, step=step, metric=metric, kinds=kinds)
    summary: dict[str, Any] = {"scaling": to_jsonable(result.to_dict())}
    summary["findings"] = [dataclasses.asdict(f) for f in scaling_findings(summary["scaling"])]
    (out / "scaling.json").write_text(json.dumps(summary, indent=1))
    fig, why = _attempt("scaling.png", lambda: plots.scaling_panel(result))
    _save(
        fig if fig is not None else plots.placeholder("scaling", why or ""),
        out / "scaling.png",
        dpi,
    )
    caption = "Δα vs depth (log–log), the fitted law and leave-one-out predictions."
    (out / "index.html").write_text(page("Depth scaling law", [("scaling.png", caption)], summary))
    return out
