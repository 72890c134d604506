"""The short report of one checkpoint's spectra: depth profiles and empirical spectral densities.

`write_checkpoint_report(DIR)` reads `DIR/spectra` (its last step) and `DIR/config.yaml`, and
writes `DIR/report/`: `depth.png` (α and stable rank vs layer, one line per kind),
`esd.png` (for the first, middle and last layer of up to four kinds: a log-log histogram of the
eigenvalues λ = σ² with the fitted power-law tail p(λ) ∝ λ^−α drawn from xmin, and xmin
marked), a per-kind summary and `index.html`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from spectral_jax.run_layout import CONFIG_FILE, REPORT, SPECTRA
from spectral_jax.store import SpectraStore

ESD_KINDS = ("q", "v", "mlp_in", "mlp_out")  # preferred for the ESD panels, when probed


def depth_figure(frame: pd.DataFrame) -> Figure:
    """α (tail MLE) and stable rank vs layer, one line per kind."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    blocks = frame[frame["layer"] >= 0]
    for kind, rows in blocks.groupby("kind", sort=True):
        rows = rows.sort_values("layer")
        for ax, metric in zip(axes, ("alpha", "stable_rank"), strict=True):
            ax.plot(rows["layer"], rows[metric], marker="o", ms=3, label=kind)
    axes[0].set(title="α (tail MLE) vs depth", xlabel="layer", ylabel="α")
    axes[1].set(title="stable rank vs depth", xlabel="layer", ylabel="Σσ² / σ₁²")
    axes[1].legend(fontsize=8, ncol=2)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def esd_panel(ax: Any, sigma: np.ndarray, alpha: float, xmin: float, title: str) -> None:
    """Log-log density of λ = σ² with the power-law tail fitted from xmin (if α is finite)."""
    lam = np.asarray(sigma, np.float64) ** 2
    lam = lam[lam > 0]
    if len(lam) < 2:
        ax.set_title(f"{title}: no positive eigenvalues")
        return
    bins = np.geomspace(lam.min(), lam.max(), min(60, max(10, len(lam) // 8)) + 1)
    density, edges = np.histogram(lam, bins=bins, density=True)
    centres = np.sqrt(edges[:-1] * edges[1:])
    shown = density > 0
    ax.loglog(centres[shown], density[shown], "o", ms=3, color="0.3", label="ESD")
    if np.isfinite(alpha) and np.isfinite(xmin) and xmin > 0:
        tail = lam >= xmin
        grid = np.geomspace(xmin, lam.max(), 50)
        # p(λ) = (α−1)/xmin · (λ/xmin)^−α on the tail, weighted by the tail's share of λ.
        fitted = tail.mean() * (alpha - 1) / xmin * (grid / xmin) ** -alpha
        ax.loglog(grid, fitted, "-", color="C3", label=f"power law α={alpha:.2f}")
        ax.axvline(xmin, color="C0", ls="--", lw=1, label=f"xmin={xmin:.3g}")
        title = f"{title}, tail n={int(tail.sum())}"
    ax.set(title=title, xlabel="λ = σ²", ylabel="density")
    ax.xaxis.set_minor_formatter(NullFormatter())  # keep only the decade labels
    ax.legend(fontsize=7)


def esd_figure(store: SpectraStore, frame: pd.DataFrame, step: int) -> Figure:
    """ESD panels: rows = up to four kinds, columns = first, middle and last layer."""
    kinds = [k for k in ESD_KINDS if k in store.meta["kinds"]] or list(store.meta["kinds"])[:4]
    steps = store.steps()
    fig = Figure(figsize=(12, 3.0 * len(kinds)), layout="constrained")
    axes = fig.subplots(len(kinds), 3, squeeze=False)
    for row, kind in enumerate(kinds):
        layers = store.meta["layers"][kind]
        sigma = store.sigma(kind)[steps.index(step)]  # [layers, k]
        picks = sorted({0, len(layers) // 2, len(layers) - 1})
        for col, index in enumerate(picks):
            layer = layers[index]
            found = frame[(frame["kind"] == kind) & (frame["layer"] == layer)].iloc[0]
            esd_panel(
                axes[row, col],
                sigma[index],
                float(found["alpha"]),
                float(found["alpha_xmin"]),
                f"{kind} layer {layer}",
            )
        for col in range(len(picks), 3):
            axes[row, col].set_visible(False)
    return fig


def kind_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per kind: layers, median and range of α, median stable rank, median tail size, max KS."""
    groups = frame.groupby("kind", sort=True)
    return pd.DataFrame(
        {
            "layers": groups["layer"].count(),
            "alpha_median": groups["alpha"].median(),
            "alpha_min": groups["alpha"].min(),
            "alpha_max": groups["alpha"].max(),
            "stable_rank_median": groups["stable_rank"].median(),
            "alpha_n_median": groups["alpha_n"].median(),
            "alpha_ks_max": groups["alpha_ks"].max(),
        }
    ).reset_index()


def write_checkpoint_report(directory: str | Path, dpi: int = 90) -> Path:
    """Write `directory/report/` for the last step of `directory/spectra`; returns its path."""
    directory = Path(directory)
    store = SpectraStore(directory / SPECTRA)
    step = store.steps()[-1]
    frame = store.metrics_frame()
    frame = frame[frame["step"] == step]
    out = directory / REPORT
    out.mkdir(parents=True, exist_ok=True)
    depth_figure(frame).savefig(out / "depth.png", dpi=dpi)
    esd_figure(store, frame, step).savefig(out / "esd.png", dpi=dpi)
    summary = kind_summary(frame)
    summary.to_csv(out / "summary.csv", index=False)
    config_path = directory / CONFIG_FILE
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    source = (config or {}).get("pretrained") or store.meta.get("source") or {}
    (out / "index.html").write_text(_html(directory.name, step, source, summary))
    return out


def _html(name: str, step: int, source: dict[str, Any], summary: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in source.items()
    )
    table = summary.to_html(index=False, float_format=lambda x: f"{x:.3f}", border=0)
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>Spectra of {html.escape(name)}</title><style>",
            "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
            "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:left}",
            f"</style></head><body><h1>Spectra of {html.escape(name)} (step {step})</h1>",
            f"<h2>Source</h2><table>{rows}</table>",
            "<h2>Per kind</h2><p>α is the tail MLE (Clauset–Shalizi–Newman); alpha_n is the "
            "tail size and alpha_ks its KS distance: a short tail or a large KS distance makes "
            "α less trustworthy.</p>",
            table,
            "<h2>Depth profiles</h2><img src='depth.png' alt='alpha and stable rank vs depth'>",
            "<h2>Empirical spectral densities</h2><p>Log-log histogram of λ = σ², the fitted "
            "power-law tail from xmin (dashed line), for the first, middle and last layer.</p>",
            "<img src='esd.png' alt='empirical spectral densities'>",
            "</body></html>",
        ]
    )
