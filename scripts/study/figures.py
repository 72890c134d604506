"""Small PNG figures of the results page, drawn from what the analysis stage collected.

Each function takes the collected outputs (`measure.Collected.to_dict()`) and returns a
matplotlib Figure, or None when the plan has nothing to draw for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

PAPER_BETA = 0.26
DPI = 72
STYLES = ("-", "--", ":", "-.")


def _figure(panels: int) -> tuple[Figure, list[Any]]:
    fig = Figure(figsize=(4.2 * panels, 3.0), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    return fig, list(axes)


def _label(axes: Sequence[Any], xlabel: str, ylabel: str) -> None:
    """The same axis labels on every panel, and each panel's legend."""
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)


def _floats(values: Sequence[Any]) -> np.ndarray:
    """A collected list of numbers as floats, its nulls (not computed) as NaN."""
    return np.array([np.nan if v is None else v for v in values], float)


def _colour(i: int, n: int) -> Any:
    from matplotlib import colormaps

    return colormaps["viridis"](i / max(n - 1, 1) * 0.9)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    if len(values) < width or width < 2:
        return values
    kernel = np.ones(width) / width
    return np.convolve(values, kernel, mode="valid")


def _curve(ax: Any, run: dict[str, Any], **style: Any) -> None:
    curve = np.array(run.get("loss_curve") or [], float).reshape(-1, 2)
    if not len(curve):
        return
    width = max(1, len(curve) // 25)
    steps, loss = curve[width - 1 :, 0], _smooth(curve[:, 1], width)
    ax.plot(steps[: len(loss)], loss, **style)


def loss_curves(data: dict[str, Any]) -> Figure | None:
    """Train loss (smoothed) of the depth sweep, and of every seed of every condition."""
    runs, plan = data.get("runs") or [], data["plan"]
    if not runs:
        return None
    fig, (left, right) = _figure(2)
    reference = plan["conditions"][0]["name"]
    sweep = sorted(
        (r for r in runs if r["condition"] == reference and r["seed"] == plan["seeds"][0]),
        key=lambda r: r["depth"],
    )
    for i, run in enumerate(sweep):
        _curve(left, run, color=_colour(i, len(sweep)), label=f"L={run['depth']}")
    left.set_title("depth sweep", fontsize=9)
    names = [c["name"] for c in plan["conditions"]]
    for run in (r for r in runs if r["depth"] == plan["middle_depth"]):
        ci = names.index(run["condition"]) if run["condition"] in names else 0
        seed_i = plan["seeds"].index(run["seed"]) if run["seed"] in plan["seeds"] else 0
        label = run["condition"] if seed_i == 0 else None
        _curve(right, run, color=f"C{ci}", ls=STYLES[seed_i % 4], label=label)
    right.set_title(f"L={plan['middle_depth']}: conditions × seeds", fontsize=9)
    _label((left, right), "step", "train loss")
    return fig


def _profile(summary: dict[str, Any] | None) -> np.ndarray | None:
    alpha = ((summary or {}).get("alpha_profile") or {}).get("alpha")
    if not alpha:
        return None
    return _floats(alpha)


def _x(n: int) -> np.ndarray:
    return np.arange(n) / max(n - 1, 1)


def _seed_lines(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each seed's summary of every condition with the style of its line: colour by condition,
    dashes by seed, the condition named once in the legend."""
    groups = data.get("groups") or {}
    for ci, cond in enumerate(data["plan"]["conditions"]):
        summary = groups.get(cond["name"])
        for si, seed in enumerate(
            (summary or {}).get("per_seed") or ([summary] if summary else [])
        ):
            label = cond["name"] if si == 0 else None
            yield seed, {"ls": STYLES[si % 4], "ms": 3, "color": f"C{ci}", "label": label}


def profiles(data: dict[str, Any]) -> Figure | None:
    """Final α vs relative depth: every depth of the sweep, every seed of every condition."""
    plan, groups = data["plan"], data.get("groups") or {}
    reference = plan["conditions"][0]["name"]
    by_depth = {int(d): s for d, s in (data.get("sweep") or {}).items()}
    ref = groups.get(reference)
    if ref:
        by_depth[plan["middle_depth"]] = (ref.get("per_seed") or [ref])[0]
    if not by_depth and not groups:
        return None
    fig, (left, right) = _figure(2)
    depths = sorted(by_depth)
    for i, depth in enumerate(depths):
        alpha = _profile(by_depth[depth])
        if alpha is not None:
            left.plot(
                _x(len(alpha)), alpha, "o-", ms=3, color=_colour(i, len(depths)), label=f"L={depth}"
            )
    left.set_title("final α profile, depth sweep", fontsize=9)
    for seed, style in _seed_lines(data):
        alpha = _profile(seed)
        if alpha is not None:
            right.plot(_x(len(alpha)), alpha, "o", **style)
    right.set_title(f"final α profile, L={plan['middle_depth']}, seeds", fontsize=9)
    _label((left, right), "relative depth l/(L−1)", "α")
    return fig


def onsets(data: dict[str, Any]) -> Figure | None:
    """Compression onset vs layer, every seed of every condition (the wave)."""
    if not data.get("groups"):
        return None
    fig, (ax,) = _figure(1)
    for seed, style in _seed_lines(data):
        onset = _floats((seed.get("wave") or {}).get("onset") or [])
        ax.plot(np.arange(len(onset)), onset, "o", **style)
    ax.set_title(f"compression onsets, L={data['plan']['middle_depth']}", fontsize=9)
    _label([ax], "layer", "onset step (half-max compression)")
    return fig


def scaling(data: dict[str, Any]) -> Figure | None:
    """Δα vs depth (log–log), the fitted law, and a line of the paper's slope for reference."""
    result = (data.get("scaling") or {}).get("scaling")
    if not result or not result.get("depths"):
        return None
    depth = np.array(result["depths"], float)
    delta = _floats(result["delta_alpha"])
    ok = np.isfinite(delta) & (delta > 0)
    if ok.sum() < 2:  # one point is no law
        return None
    fig, (ax,) = _figure(1)
    ax.plot(depth[ok], delta[ok], "o", color="C0", label="this study")
    grid = np.geomspace(depth.min(), depth.max(), 50)
    if result.get("beta") is not None and result.get("c") is not None:
        ax.plot(
            grid,
            result["c"] * grid ** result["beta"],
            "-",
            color="C0",
            label=f"fit β = {result['beta']:.2f}",
        )
    if ok.any():
        anchor = np.exp(np.mean(np.log(delta[ok]))) / np.exp(np.mean(np.log(depth[ok]))) ** 0.26
        ax.plot(grid, anchor * grid**PAPER_BETA, ":", color="grey", label="slope 0.26 (paper)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("Δα vs depth", fontsize=9)
    _label([ax], "layers L", "Δα (noise-shrunk)")
    return fig


def pruning(data: dict[str, Any]) -> Figure | None:
    """Perplexity vs blocks removed, by strategy, for the deepest pruned run."""
    runs = data.get("pruning") or {}
    if not runs:
        return None
    depth = {r["name"]: r["depth"] for r in data.get("runs") or []}
    name = max(runs, key=lambda n: depth.get(n, 0))
    table = runs[name].get("table") or []
    fig, (ax,) = _figure(1)
    full = next((r["perplexity"] for r in table if r["strategy"] == "none"), None)
    strategies = list(dict.fromkeys(r["strategy"] for r in table if r["strategy"] != "none"))
    for i, strategy in enumerate(strategies):
        rows = sorted((r for r in table if r["strategy"] == strategy), key=lambda r: r["n_removed"])
        n = [0, *(r["n_removed"] for r in rows)]
        ppl = [full, *(r["perplexity"] for r in rows)]
        ax.plot(n, ppl, "o-", ms=3, color=f"C{i}", label=strategy)
    ax.set_yscale("log")
    ax.set_xlabel("blocks removed")
    ax.set_ylabel("evaluation perplexity")
    ax.set_title(f"pruning {name}", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def noise_profile(data: dict[str, Any]) -> Figure | None:
    """Per-snapshot noise SD per layer of α and of the stable rank, every run."""
    per_run = ((data.get("noise") or {}).get("runs")) or {}
    if not any(per_run.values()):
        return None
    fig, axes = _figure(2)
    names = [c["name"] for c in data["plan"]["conditions"]]
    for name, fig_data in per_run.items():
        if not fig_data:
            continue
        ci = names.index(name.split("/")[0]) if name.split("/")[0] in names else 0
        for ax, metric in zip(axes, ("alpha", "stable_rank"), strict=True):
            sd = _floats((fig_data.get(metric) or {}).get("sd") or [])
            ax.plot(_x(len(sd)), sd, "-", lw=0.8, color=f"C{ci}", alpha=0.7)
    axes[0].set_ylabel("noise SD of α per snapshot")
    axes[1].set_ylabel("relative noise SD of stable rank")
    for ax in axes:
        ax.set_xlabel("relative depth")
        ax.set_yscale("log")
    for i, name in enumerate(names):
        axes[0].plot([], [], color=f"C{i}", label=name)
    axes[0].legend(fontsize=7)
    return fig


FIGURES: dict[str, Callable[[dict[str, Any]], Figure | None]] = {
    "loss.png": loss_curves,
    "profiles.png": profiles,
    "onsets.png": onsets,
    "scaling.png": scaling,
    "pruning.png": pruning,
    "noise.png": noise_profile,
}


def write_figures(data: dict[str, Any], directory: Path) -> dict[str, str]:
    """Draw every figure into `directory`; returns {file: "" or why it was not drawn}."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for file, draw in FIGURES.items():
        path = directory / file
        try:
            fig = draw(data)
            if fig is not None:
                fig.savefig(path, dpi=DPI)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            fig, why = None, f"not drawn: {type(err).__name__}: {err}"
        else:
            why = "" if fig is not None else "nothing to draw in this plan"
        if fig is None:
            path.unlink(missing_ok=True)  # a figure of an earlier page that no longer holds
        out[file] = why
    return out
