"""The files of the importance and pruning commands: a CSV table, the JSON summary and a figure
each, written beside one another in the output directory."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.importance.layer_importance import ImportanceResult
from analysis.importance.pruning import PruningResult
from analysis.report.importance_figures import alpha_scatter, pruning_curves
from spectral_jax.paths import user_path


def write_importance(result: ImportanceResult, out: str | Path) -> Path:
    """`out/importance.csv`, `out/importance.json`, `out/importance.png`; returns `out`."""
    out = user_path(out)
    out.mkdir(parents=True, exist_ok=True)
    first = ["layer", "delta_loss", "block_influence", "angular_distance", "alpha", "stable_rank"]
    columns = first + [c for c in result.layers.columns if c not in first]
    result.layers[columns].to_csv(out / "importance.csv", index=False)
    (out / "importance.json").write_text(json.dumps(result.to_dict(), indent=1))
    figure = alpha_scatter(result)
    figure.savefig(out / "importance.png", dpi=120)
    figure.clf()
    return out


def write_pruning(result: PruningResult, out: str | Path) -> Path:
    """`out/pruning.csv`, `out/pruning.json`, `out/pruning.png`; returns `out`."""
    out = user_path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "pruning.csv", index=False)
    (out / "pruning.json").write_text(json.dumps(result.to_dict(), indent=1))
    figure = pruning_curves(result)
    figure.savefig(out / "pruning.png", dpi=120)
    figure.clf()
    return out
