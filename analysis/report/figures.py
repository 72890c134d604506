"""Figures of the report and the notebook; each function returns a matplotlib Figure.

Importing this module does not choose a backend: notebooks keep theirs, the CLI selects Agg.
Every figure says which α (`alpha` tail MLE or `alpha_rank`) it shows.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.lifecycle.alpha_quality import alpha_grid
from analysis.lifecycle.asymmetry import AsymmetryResult
from analysis.lifecycle.profile import ProfileResult
from analysis.lifecycle.scaling import ScalingResult
from analysis.lifecycle.two_timescale import TwoTimescaleResult
from analysis.lifecycle.wave import WaveResult
from analysis.run import QK_KINDS, VO_KINDS, Run

ALPHA_NAMES = {"alpha": "α (tail MLE)", "alpha_rank": "α_rank (rank-decay slope)"}


def _figure(n_panels: int, cols: int = 3, size: tuple[float, float] = (4.2, 3.2)) -> tuple:
    cols = max(1, min(cols, n_panels))
    rows = max(1, math.ceil(n_panels / cols))
    fig = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def placeholder(title: str, reason: str) -> Figure:
    """A figure that says why the real one could not be drawn."""
    fig = Figure(figsize=(6, 2.5), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, reason, ha="center", va="center", wrap=True, transform=ax.transAxes)
    return fig


def _shared_limits(grids: list[np.ndarray], skip: float = 0.1) -> tuple[float, float] | None:
    """One colour range for several `[steps, layers]` panels: the 2–98% range of the values
    after the first `skip` of snapshots, so the initial values do not swamp the scale."""
    values = [g[int(skip * len(g)) :].ravel() for g in grids if len(g)]
    finite = np.concatenate(values)[np.isfinite(np.concatenate(values))] if values else []
    if len(finite) == 0:
        return None
    lo, hi = np.percentile(finite, [2, 98])
    return (float(lo), float(hi)) if hi > lo else None


def _layer_axis(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))


def _heatmap(
    fig: Figure,
    ax,
    steps: np.ndarray,
    values: np.ndarray,
    title: str,
    label: str,
    cmap: str,
    limits: tuple[float, float] | None = None,
) -> None:
    """values `[steps, layers]` as an image: x = step, y = layer (integer ticks)."""
    if len(steps) > 1:
        half = (steps[1] - steps[0]) / 2, (steps[-1] - steps[-2]) / 2
        extent = (steps[0] - half[0], steps[-1] + half[1], -0.5, values.shape[1] - 0.5)
    else:
        extent = (steps[0] - 0.5, steps[0] + 0.5, -0.5, values.shape[1] - 0.5)
    vmin, vmax = limits if limits else (None, None)
    image = ax.imshow(
        values.T,
        aspect="auto",
        origin="lower",
        extent=extent,
        cmap=cmap,
        interpolation="nearest",
        vmin=vmin,
        vmax=vmax,
    )
    ax.set(title=title, xlabel="step", ylabel="layer")
    _layer_axis(ax.yaxis)
    fig.colorbar(image, ax=ax, label=label)


def stable_rank_heatmaps(run: Run, kinds: tuple[str, ...] | None = None) -> Figure:
    """R_s(t) / R_s(t₀) per kind, step × layer: the compression wave shows as a diagonal front."""
    kinds = run.resolve_kinds(kinds)
    fig, axes = _figure(len(kinds))
    rel = {}
    for kind in kinds:
        rs = run.grid("stable_rank", kind)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel[kind] = rs / rs[:1]
    limits = _shared_limits(list(rel.values()), skip=0.0)
    for ax, kind in zip(axes, kinds, strict=True):
        title = f"{kind}: stable rank / initial"
        _heatmap(fig, ax, run.steps, rel[kind], title, "R_s(t) / R_s(0)", "magma", limits)
    fig.suptitle("Stable-rank compression (step × layer)")
    return fig


def alpha_heatmaps(run: Run, metric: str = "alpha", kinds: tuple[str, ...] | None = None) -> Figure:
    """α per kind, step × layer, low-quality fits blank; one colour scale for every panel."""
    kinds = run.resolve_kinds(kinds)
    fig, axes = _figure(len(kinds))
    name = ALPHA_NAMES.get(metric, metric)
    grids = {kind: alpha_grid(run, metric, kind).values for kind in kinds}
    limits = _shared_limits(list(grids.values()))
    for ax, kind in zip(axes, kinds, strict=True):
        _heatmap(fig, ax, run.steps, grids[kind], f"{kind}: {name}", name, "viridis", limits)
    fig.suptitle(f"{name} (step × layer)")
    return fig


def alpha_profiles(profile: ProfileResult, n_curves: int = 6) -> Figure:
    """α vs relative depth at several steps, with the quadratic fit at the profile's step."""
    fig, (ax, bx) = _figure(2, cols=2, size=(5.0, 3.6))
    curves = profile.curves
    steps, grid, x = curves.steps, curves.alpha_grid, curves.rel_depth
    picks = np.unique(np.linspace(0, len(steps) - 1, min(n_curves, len(steps))).round().astype(int))
    colors = [_cmap("viridis")(i / max(len(picks) - 1, 1)) for i in range(len(picks))]
    for color, i in zip(colors, picks, strict=True):
        ax.plot(x, grid[i], "o-", ms=3, color=color, label=f"step {steps[i]}")
    if profile.coef is not None:
        dense = np.linspace(0, 1, 101)
        c0, c1, c2 = profile.coef
        ax.plot(
            dense,
            c0 + c1 * dense + c2 * dense**2,
            "k--",
            lw=1,
            label=f"quadratic fit, step {profile.step}",
        )
        if profile.is_inverted_u and profile.vertex is not None:
            ax.axvline(profile.vertex, color="k", lw=0.6, ls=":", label="vertex")
    name = ALPHA_NAMES.get(profile.metric, profile.metric)
    ax.set(xlabel="relative depth l / (L − 1)", ylabel=name, title=f"{name} vs depth")
    _legend(ax)
    bx.plot(steps, curves.delta_alpha_t, label="Δα (noise-shrunk profile range)")
    bx.plot(steps, curves.shape_distance, label="shape distance to final")
    if profile.settle_step is not None:
        bx.axvline(profile.settle_step, color="k", ls=":", label="settled")
    bx.set(xlabel="step", ylabel="Δα / relative distance", title="profile over time")
    _legend(bx)
    return fig


def wave_panel(wave: WaveResult) -> Figure:
    """Onset vs layer with the regression line, and G(t) with its peak and reversal."""
    fig, (ax, bx) = _figure(2, cols=2, size=(5.0, 3.6))
    layers = np.arange(len(wave.onset))
    ax.plot(layers, wave.onset, "o")
    if wave.slope is not None:
        ok = np.isfinite(wave.onset)
        icept = np.mean(wave.onset[ok]) - wave.slope * np.mean(layers[ok])
        ax.plot(layers, icept + wave.slope * layers, "k--", lw=1)
    speed = (
        "no wave"
        if wave.speed is None
        else (
            f"speed {wave.speed:.3g} layers/1k steps"
            + (f" [{wave.speed_ci[0]:.3g}, {wave.speed_ci[1]:.3g}]" if wave.speed_ci else "")
        )
    )
    ax.set(xlabel="layer", ylabel="onset step (half max compression)", title=speed)
    _layer_axis(ax.xaxis)
    bx.plot(wave.curves.steps, wave.curves.gradient)
    bx.axhline(0, color="gray", lw=0.6)
    if wave.peak_step is not None:
        bx.plot([wave.peak_step], [wave.peak_value], "ro", label="opposite-sign extreme")
    if wave.reversal_step is not None:
        bx.axvline(wave.reversal_step, color="k", ls=":", label="reversal")
        if wave.reversal_step_ci is not None:
            bx.axvspan(*wave.reversal_step_ci, color="k", alpha=0.1, label="95% interval")
    bx.set(
        xlabel="step",
        ylabel="G(t) = c(last third) − c(first third)",
        title="early-vs-late gradient",
    )
    if wave.peak_step is not None:
        _legend(bx)
    return fig


def asymmetry_panel(asym: AsymmetryResult) -> Figure:
    """c(t) per layer for Q, K, V, O (colour = depth, the colour bar beside those panels only),
    and the onsets vs layer on their own to the right."""
    curves = asym.curves
    shown = [k for k in (*QK_KINDS, *VO_KINDS) if k in curves.compression]
    cols = min(2, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig = Figure(figsize=(4.2 * cols + 4.6, 3.2 * rows), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[4.2 * cols + 0.6, 4.0])
    kind_axes = left.subplots(rows, cols, squeeze=False).ravel()
    for ax in kind_axes[len(shown) :]:
        ax.set_visible(False)
    cmap = _cmap("viridis")
    n_layers = max((c.shape[1] for c in curves.compression.values()), default=1)
    for ax, kind in zip(kind_axes, shown, strict=False):
        c = curves.compression[kind]
        for l in range(c.shape[1]):
            ax.plot(curves.steps, c[:, l], color=cmap(l / max(n_layers - 1, 1)), lw=0.8)
        ax.set(title=kind, xlabel="step", ylabel="compression c")
    if shown:
        norm = Normalize(-0.5, n_layers - 0.5)
        bar = left.colorbar(
            ScalarMappable(norm, cmap), ax=list(kind_axes[: len(shown)]), label="layer"
        )
        _layer_axis(bar.ax.yaxis)
    ax = right.subplots()
    for name, color in (("qk", "C3"), ("vo", "C0")):
        onset = curves.onsets.get(name)
        if onset is not None:
            ax.plot(np.arange(len(onset)), onset, "o-", color=color, label=name.upper())
    ax.set(xlabel="layer", ylabel="onset step (half max)", yscale="log", title=_asym_title(asym))
    _layer_axis(ax.xaxis)
    _legend(ax)
    fig.suptitle("Q/K vs V/O: compression per layer and the timing of its onset")
    return fig


def _asym_title(asym: AsymmetryResult) -> str:
    if asym.asymmetric is None:
        return "asymmetry: cannot be tested"
    return f"ln-onset slope Q/K {asym.qk_slope:.2g}, V/O {asym.vo_slope:.2g}"


def two_timescale_panel(fit: TwoTimescaleResult, n_layers_shown: int = 4) -> Figure:
    """Data (dots) vs fitted ODE (lines) for compression and α at a few layers."""
    fig, axes = _figure(2, cols=2, size=(5.0, 3.6))
    name = ALPHA_NAMES.get(fit.metric, fit.metric)
    for ax, key, label, tau in (
        (axes[0], "compression", "compression c", fit.tau_fast),
        (axes[1], "alpha", name, fit.tau_slow),
    ):
        data, pred = fit.curves.data[key], fit.curves.predictions[key]
        n = data.shape[1]
        picks = np.unique(np.linspace(0, n - 1, min(n_layers_shown, n)).round().astype(int))
        for j, l in enumerate(picks):
            color = f"C{j}"
            ax.plot(fit.curves.steps, data[:, l], ".", ms=3, color=color, label=f"layer {l}")
            ax.plot(fit.curves.steps, pred[:, l], "-", color=color, lw=1)
        tau_text = "not fitted" if tau is None else f"τ = {tau:.3g} steps"
        ax.set(xlabel="step", ylabel=label, title=f"{label}: {tau_text}")
        _legend(ax)
    ratio = "" if fit.ratio is None else f" (τ_slow / τ_fast = {fit.ratio:.3g})"
    fig.suptitle("Two-timescale ODE fit" + ratio)
    return fig


def loss_curve(run: Run) -> Figure:
    """Train loss (and eval loss when logged) vs step."""
    fig, (ax,) = _figure(1, size=(6.0, 3.6))
    log = run.log
    train = log[log["loss"].notna()]
    ax.plot(train["step"], train["loss"], label="train loss", lw=1)
    evals = log[log["val_loss"].notna()]
    if len(evals):
        ax.plot(evals["step"], evals["val_loss"], "o-", label="val loss", ms=3)
    ax.set(xlabel="step", ylabel="loss", title="loss")
    if len(train) or len(evals):
        _legend(ax)
    else:
        ax.text(0.5, 0.5, "no metrics.jsonl", ha="center", transform=ax.transAxes)
    return fig


def scaling_panel(result: ScalingResult) -> Figure:
    """Δα vs depth on log–log axes with the fitted law and leave-one-out predictions."""
    fig, (ax,) = _figure(1, size=(5.5, 4.0))
    ok = np.isfinite(result.delta_alpha) & (result.delta_alpha > 0)
    ax.loglog(result.depths[ok], result.delta_alpha[ok], "o", label="runs")
    if np.isfinite(result.loo_predictions).any():
        ax.loglog(
            result.depths,
            result.loo_predictions,
            "x",
            color="C3",
            label=f"leave-one-out prediction (RMS ln error {result.loo_error:.3g})",
        )
    if result.beta is not None and ok.sum():
        ci = (
            ""
            if result.beta_ci is None
            else (f" [{result.beta_ci[0]:.3g}, {result.beta_ci[1]:.3g}]")
        )
        r2 = "" if result.r2 is None else f", R² {result.r2:.3f}"
        ax.loglog(
            result.curves.depth_grid,
            result.curves.fitted,
            "k--",
            label=f"Δα = {result.c:.3g}·L^{result.beta:.3g}{ci}{r2}",
        )
    name = ALPHA_NAMES.get(result.metric, result.metric)
    ax.set(xlabel="depth L (layers)", ylabel=f"Δα ({name})", title="depth scaling law")
    _legend(ax)
    return fig


def _legend(ax) -> None:
    """A legend only when something is labelled (no warning on empty panels)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def _cmap(name: str):
    from matplotlib import colormaps

    return colormaps[name]
