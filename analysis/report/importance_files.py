"""What the importance and pruning commands write: a CSV table, the JSON summary and a figure
each, beside one another in the output directory, and the one line they print."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.importance.pruning import PruningResult
from analysis.importance.scores import ImportanceResult
from analysis.report.importance_figures import alpha_scatter, pruning_curves
from analysis.results import to_jsonable
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
    tables = {
        "headline": result.headline.to_dict(orient="records"),
        "table": result.table.to_dict(orient="records"),
    }
    document = {**result.to_dict(), **to_jsonable(tables)}
    (out / "pruning.json").write_text(json.dumps(document, indent=1))
    figure = pruning_curves(result)
    figure.savefig(out / "pruning.png", dpi=120)
    figure.clf()
    return out


def importance_headline(result: ImportanceResult) -> str:
    """One line: ρ(alpha, delta_loss) with its p-values and decision, and what it was measured on."""
    row = result.correlations["alpha"]
    return (
        f"{result.source['name']}: ρ(alpha, delta_loss) = {row['rho']:+.3f} "
        f"(p = {row['p']:.3g}, Holm {row['p_holm']:.3g}; {row['decision']}), "
        f"on {result.data['description']}"
    )
