"""The run report (`RUN/report/`: PNG figures, summary.json, index.html) and the scaling report.

Every analysis runs even when the run is too short or too shallow for it: a quantity it cannot
compute is `null` in summary.json with a reason under that section's `reasons`, and its figure
is replaced by one that states the reason.
"""

from __future__ import annotations

import html
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from analysis import plots
from analysis.asymmetry import qk_v_asymmetry
from analysis.profile import alpha_profile
from analysis.results import fmt, to_jsonable
from analysis.run import Run, load_run
from analysis.scaling import scaling_from_runs
from analysis.stats import N_BOOT
from analysis.two_timescale import fit_two_timescale
from analysis.wave import compression_wave

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
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All report analyses: (results by section, summary dict ready for JSON)."""
    kinds = run.resolve_kinds(kinds)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    calls = {
        "wave": lambda: compression_wave(run, kinds, n_boot=n_boot, seed=seed),
        "alpha_profile": lambda: alpha_profile(
            run, metric=metric, kinds=kinds, n_boot=n_boot, seed=seed
        ),
        "asymmetry": lambda: qk_v_asymmetry(run, kinds, n_boot=n_boot, seed=seed),
        "two_timescale": lambda: fit_two_timescale(run, metric=metric, kinds=kinds),
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
            "model": run.meta.get("model"),
        },
    }
    for name in SECTIONS:
        result = results[name]
        summary[name] = (
            result.to_dict() if result is not None else {"reasons": {"analysis": errors[name]}}
        )
    return results, to_jsonable(summary)


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
            "Compression of Q, K, V, O per layer (colour = depth) and each kind's "
            "between-layer share of variance.",
            need("asymmetry", plots.asymmetry_panel),
        ),
        (
            "two_timescale.png",
            f"Two-timescale ODE fit vs data (compression and {name}).",
            need("two_timescale", plots.two_timescale_panel),
        ),
        ("loss.png", "Training and validation loss.", lambda: plots.loss_curve(run)),
    ]


def write_report(
    run: Run | str | Path,
    out: str | Path | None = None,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    dpi: int = 100,
) -> Path:
    """Write figures, summary.json and index.html to `out` (default RUN/report); returns it."""
    started = time.perf_counter()
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    if out is None:
        if run.path is None:
            raise ValueError("an in-memory run needs an explicit output directory")
        out = run.path / "report"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, summary = analyse(run, metric=metric, kinds=kinds, n_boot=n_boot, seed=seed)
    figures = []
    for file, caption, build in _figures(run, results, metric, kinds):
        fig, why = _attempt(file, build)
        if fig is None:
            fig = plots.placeholder(file, why or "")
        _save(fig, out / file, dpi)
        figures.append((file, caption))
    summary["run"]["report_seconds"] = round(time.perf_counter() - started, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    title = f"Spectral lifecycle report: {run.path or 'in-memory run'}"
    (out / "index.html").write_text(_html(title, figures, summary))
    return out


def write_scaling_report(
    runs: Iterable[Run | str | Path],
    out: str | Path,
    *,
    metric: str = "alpha",
    kinds: Iterable[str] | None = None,
    step: int | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    dpi: int = 100,
) -> Path:
    """scaling.json, scaling.png and index.html for Δα = c·L^β across runs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = scaling_from_runs(
        runs, step=step, metric=metric, kinds=kinds, n_boot=n_boot, seed=seed
    )
    summary = {"scaling": to_jsonable(result.to_dict())}
    (out / "scaling.json").write_text(json.dumps(summary, indent=1))
    fig, why = _attempt("scaling.png", lambda: plots.scaling_panel(result))
    _save(
        fig if fig is not None else plots.placeholder("scaling", why or ""),
        out / "scaling.png",
        dpi,
    )
    caption = "Δα vs depth (log–log), the fitted law and leave-one-out predictions."
    (out / "index.html").write_text(_html("Depth scaling law", [("scaling.png", caption)], summary))
    return out


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows = []
        for key, sub in value.items():
            if key != "reasons":
                rows += _rows(f"{prefix}.{key}" if prefix else key, sub)
        return rows
    return [(prefix, fmt(value))]


def _html(title: str, figures: list[tuple[str, str]], summary: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
        "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:left}"
        ".why{color:#a33}",
        f"</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    for section, value in summary.items():
        parts.append(f"<h2>{html.escape(section)}</h2><table>")
        for key, text in _rows("", value):
            parts.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(text)}</td></tr>")
        reasons = value.get("reasons", {}) if isinstance(value, dict) else {}
        for key, why in reasons.items():
            parts.append(
                f"<tr><td>{html.escape(key)}</td>"
                f"<td class='why'>null: {html.escape(str(why))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for file, caption in figures:
        parts.append(
            f"<figure><img src='{html.escape(file)}' alt='{html.escape(file)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
