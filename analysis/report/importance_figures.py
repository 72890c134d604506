"""Figures of the importance and pruning analyses; each function returns a matplotlib Figure
(no backend chosen here: notebooks keep theirs, the CLI selects Agg)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from analysis.importance.pruning import PruningResult
    from analysis.importance.scores import ImportanceResult

COLORS = {
    "spectral": "tab:red",
    "last_n": "tab:blue",
    "random": "tab:gray",
    "stable_rank": "tab:orange",
    "block_influence": "tab:green",
    "angular": "tab:purple",
    "oracle_best": "black",
    "oracle_worst": "black",
}


def alpha_scatter(result: ImportanceResult) -> Figure:
    """Block-mean α (tail MLE) against delta_loss, each point labelled with its layer; ρ, its
    permutation p and bootstrap CI in the title."""
    layers = result.layers
    row = result.correlations["alpha"]
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.scatter(layers["alpha"], layers["delta_loss"], c=layers["layer"], cmap="viridis")
    for x, y, layer in zip(layers["alpha"], layers["delta_loss"], layers["layer"], strict=True):
        if np.isfinite(x) and np.isfinite(y):
            ax.annotate(str(layer), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ci = ""
    if np.isfinite(row["ci_lo"]):
        ci = f", 95% CI [{row['ci_lo']:+.2f}, {row['ci_hi']:+.2f}]"
    ax.set_title(
        f"{result.source['name']}: Spearman ρ = {row['rho']:+.3f} (p = {row['p']:.3g}{ci})",
        fontsize=9,
    )
    ax.set_xlabel("block-mean α (tail MLE) over q, k, v, o, mlp_in, mlp_out")
    ax.set_ylabel("delta_loss (block skipped − full), evaluation half")
    ax.axhline(0.0, color="0.7", lw=0.8)
    return fig


def pruning_curves(result: PruningResult) -> Figure:
    """Perplexity on the evaluation half against blocks removed, one line per strategy (random:
    mean over draws with its 2.5–97.5% band); log scale when the range spans over 3x."""
    table = result.table
    full = table[table["strategy"] == "none"]["perplexity"].iloc[0]
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for strategy in table["strategy"].unique():
        if strategy == "none":
            continue
        rows = table[table["strategy"] == strategy].sort_values("n_removed")
        x = np.concatenate([[0], rows["n_removed"].to_numpy()])
        y = np.concatenate([[full], rows["perplexity"].to_numpy()])
        style = "--" if strategy == "oracle_worst" else "-"
        ax.plot(x, y, style, marker="o", ms=3, color=COLORS.get(strategy), label=strategy)
        if strategy == "random":
            lo = np.concatenate([[full], rows["perplexity_lo"].to_numpy()])
            hi = np.concatenate([[full], rows["perplexity_hi"].to_numpy()])
            ax.fill_between(x, lo, hi, color=COLORS["random"], alpha=0.2, lw=0)
    if table["perplexity"].max() > 3 * table["perplexity"].min():
        ax.set_yscale("log")
    ax.set_xlabel("blocks removed")
    ax.set_ylabel("perplexity (evaluation half)")
    ax.set_title(f"{result.source['name']}: layer pruning", fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7)
    return fig
