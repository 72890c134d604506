"""Layer importance: does a block's spectrum predict how much the model needs it?

`layer_importance(SOURCE)` scores every block l of a model on the *evaluation* half of the
evaluation data (`analysis.importance.eval_data`):

- `delta_loss`: mean next-token loss with block l skipped (its residual branches removed, the
  stream passed on unchanged) minus the full model's: the ablation importance;
- `block_influence` (ShortGPT): 1 − mean over tokens of cos(x_l, x_{l+1}), x_l the residual
  stream entering block l and x_{l+1} the one leaving it, before the final norm;
- `angular_distance` (Gromov et al.): arccos of that mean cosine / π (the same ranking);
- `alpha_<kind>`, `alpha_rank_<kind>`, `stable_rank_<kind>` for q, k, v, o, mlp_in, mlp_out
  (and mlp_gate in SwiGLU models), the probe's definitions; `alpha`, `alpha_rank` and
  `stable_rank` are their means over q, k, v, o, mlp_in, mlp_out (NaN-aware: a degenerate,
  e.g. zero, matrix is left out of its block's mean);

then Spearman ρ between each score and `delta_loss` (`analysis.stats`): block-level
scores form one Holm family (alpha, alpha_rank, stable_rank, block_influence; angular_distance
ranks layers exactly as block_influence does, so it is reported but not tested twice), the
per-kind α and stable rank a second, exploratory one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import numpy as np
import pandas as pd

from analysis.importance.ablation import DEFAULT_BATCH, BlockEvaluator, single_skip_masks
from analysis.importance.eval_data import DEFAULT_TOKENS, EvalData, load_eval_data
from analysis.importance.model_source import ModelSource, load_source
from analysis.results import Analysis
from analysis.stats import (
    ALPHA,
    N_PERMUTATIONS,
    bootstrap_rho,
    holm,
    min_spearman_p,
    permutation_pvalue,
)
from spectral_jax.matrices import default_kinds, named_matrices
from spectral_jax.probe import probe

MEAN_KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out")
SPECTRAL_METRICS = ("alpha", "alpha_rank", "stable_rank")
BLOCK_SCORES = ("alpha", "alpha_rank", "stable_rank", "block_influence")


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What both analyses start from: the model, its data, the compiled evaluator."""

    source: ModelSource
    data: EvalData
    evaluator: BlockEvaluator
    settings: dict[str, Any]


def prepare(
    source: ModelSource | Any,
    *,
    data: str | EvalData = "shakespeare",
    tokens: int = DEFAULT_TOKENS,
    seq_len: int | None = None,
    revision: str | None = None,
    step: int | None = None,
    method: str = "auto",
    batch_size: int = DEFAULT_BATCH,
    n_boot: int = 1000,
    n_perm: int = N_PERMUTATIONS,
    seed: int = 0,
    progress: bool = True,
) -> Setup:
    """Load the model and the evaluation data, and build the evaluator."""
    source = load_source(source, revision=revision, step=step)
    if not isinstance(data, EvalData):
        data = load_eval_data(source, data, tokens=tokens, seq_len=seq_len, seed=seed)
    evaluator = BlockEvaluator(source.model, batch_size=batch_size, progress=progress)
    settings = {"method": method, "batch_size": batch_size, "n_boot": n_boot, "n_perm": n_perm}
    return Setup(source=source, data=data, evaluator=evaluator, settings={**settings, "seed": seed})


def spectral_scores(source: ModelSource, method: str = "auto") -> pd.DataFrame:
    """`[layer, alpha_<kind>…, alpha_rank_<kind>…, stable_rank_<kind>…, alpha, alpha_rank,
    stable_rank]`, one row per block (see module docstring)."""
    kinds = default_kinds(source.cfg)
    entry = jax.device_get(probe(named_matrices(source.model, kinds), method))
    frame = pd.DataFrame({"layer": np.arange(source.cfg.n_layers)})
    for metric in SPECTRAL_METRICS:
        for kind in kinds:
            frame[f"{metric}_{kind}"] = np.asarray(entry["metrics"][metric][kind], float)
        per_kind = frame[[f"{metric}_{kind}" for kind in MEAN_KINDS]].to_numpy()
        frame[metric] = _nanmean_rows(per_kind)
    frame["alpha_tail_min"] = np.min(
        [np.asarray(entry["metrics"]["alpha_n"][k], float) for k in MEAN_KINDS], axis=0
    )
    return frame


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(1)
    count = finite.sum(1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def stream_scores(mean_cos: np.ndarray) -> pd.DataFrame:
    """Block influence and angular distance of every block from the mean stream cosines
    `[L + 1, L + 1]`."""
    n_layers = mean_cos.shape[0] - 1
    cos = np.array([mean_cos[l, l + 1] for l in range(n_layers)])
    return pd.DataFrame(
        {
            "block_influence": 1.0 - cos,
            "angular_distance": np.arccos(np.clip(cos, -1.0, 1.0)) / math.pi,
        }
    )


@dataclass(frozen=True, kw_only=True)
class ImportanceSummary:
    """What was measured on what: the source, model, evaluation data and settings, the full
    model's loss, and each score's correlation with `delta_loss` (ρ, p, CI, Holm p, decision)."""

    title: ClassVar[str] = "layer importance"
    source: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    half: str
    settings: dict[str, Any]
    full_loss: float
    correlations: dict[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True, eq=False)
class ImportanceCurves:
    """`layers`: one row per block (every score); `correlation_table`: one row per score;
    `per_sequence`: `[n_eval, L]` delta_loss of each evaluation window."""

    layers: pd.DataFrame
    correlation_table: pd.DataFrame
    per_sequence: np.ndarray


ImportanceResult = Analysis[ImportanceSummary, ImportanceCurves]


def layer_importance(source: ModelSource | Any, **kwargs: Any) -> ImportanceResult:
    """Scores of every block and their correlations with `delta_loss` (module docstring).

    `source`: a run directory, a pretrained checkpoint (directory or hub name), a loaded
    `ModelSource` or a `Transformer`; keyword arguments as `prepare` takes them.
    """
    return importance_from(prepare(source, **kwargs))


def importance_from(setup: Setup) -> ImportanceResult:
    """`layer_importance` on an already prepared model and data."""
    source, data, evaluator = setup.source, setup.data, setup.evaluator
    n_layers = source.cfg.n_layers
    masks = np.vstack([np.zeros((1, n_layers), bool), single_skip_masks(n_layers)])
    losses = evaluator.losses(data.evaluation, masks, desc="block ablations")
    per_sequence = (losses[1:] - losses[0]).T  # [n_eval, L]
    layers = pd.DataFrame({"layer": np.arange(n_layers), "delta_loss": per_sequence.mean(0)})
    mean_cos = evaluator.cosines(data.evaluation).mean(0)
    layers = pd.concat([layers, stream_scores(mean_cos)], axis=1)
    spectral = spectral_scores(source, setup.settings["method"])
    layers = layers.merge(spectral, on="layer")
    kinds = default_kinds(source.cfg)
    correlations = correlate(layers, per_sequence, setup.settings, kinds)
    by_score = {
        row["score"]: {k: v for k, v in row.items() if k != "score"}
        for row in correlations.to_dict(orient="records")
    }
    summary = ImportanceSummary(
        source={"name": source.name, **source.info},
        model=source.cfg.describe(),
        data=data.info,
        half="evaluation",
        settings=setup.settings,
        full_loss=float(losses[0].mean()),
        correlations=by_score,
    )
    curves = ImportanceCurves(
        layers=layers, correlation_table=correlations, per_sequence=per_sequence
    )
    return Analysis(summary=summary, curves=curves)


def correlate(
    layers: pd.DataFrame, per_sequence: np.ndarray, settings: dict, kinds: tuple[str, ...]
) -> pd.DataFrame:
    """Spearman ρ, permutation p, bootstrap CI, Holm p and decision of each score."""
    families = {
        "block": [*BLOCK_SCORES, "angular_distance"],
        "per_kind": [f"{metric}_{kind}" for metric in SPECTRAL_METRICS for kind in kinds],
    }
    rows = []
    for family, scores in families.items():
        family_rows = [_correlation(layers, per_sequence, score, settings) for score in scores]
        tested = [r for r in family_rows if r["tested"]]
        for row, adjusted in zip(tested, holm([r["p"] for r in tested]), strict=True):
            row["p_holm"] = adjusted
        for row in family_rows:
            if not row["tested"]:  # angular_distance: block_influence's ranking, tested once
                twin = next(r for r in family_rows if r["score"] == "block_influence")
                row["p_holm"] = twin["p_holm"]
            row["family"] = family
            row.update(_reading(row))
        rows.extend(family_rows)
    return pd.DataFrame(rows)


def _correlation(
    layers: pd.DataFrame, per_sequence: np.ndarray, score: str, settings: dict
) -> dict:
    values = layers[score].to_numpy(float)
    rho, p, exact = permutation_pvalue(
        values, layers["delta_loss"], n_perm=settings["n_perm"], seed=settings["seed"]
    )
    ci = bootstrap_rho(values, per_sequence, n_boot=settings["n_boot"], seed=settings["seed"])
    return {
        "score": score,
        "n_layers": int(np.sum(np.isfinite(values) & np.isfinite(layers["delta_loss"]))),
        "rho": rho,
        "p": p,
        "exact": exact,
        "ci_lo": ci[0] if ci else math.nan,
        "ci_hi": ci[1] if ci else math.nan,
        "tested": score != "angular_distance",
    }


def _reading(row: dict) -> dict[str, str]:
    """The sign in words and the decision (significant, not, or refused with the reason)."""
    rho, n = row["rho"], row["n_layers"]
    if not np.isfinite(rho):
        why = "fewer than 3 layers with finite values, or a constant score"
        return {"sign": "undefined", "reading": "", "decision": f"refused: ρ undefined ({why})"}
    sign = "positive" if rho > 0 else "negative" if rho < 0 else "zero"
    higher = "more" if rho > 0 else "less"
    reading = f"higher {row['score']} goes with {higher} important blocks (larger delta_loss)"
    if rho == 0:
        reading = f"{row['score']} does not rank blocks by delta_loss"
    floor = min_spearman_p(n)
    if floor > ALPHA:
        decision = f"refused: with {n} layers the smallest possible p is {floor:.3g} > {ALPHA}"
    elif row["p_holm"] < ALPHA:
        decision = f"ρ ≠ 0 (Holm-adjusted p < {ALPHA})"
    else:
        decision = f"not significant (Holm-adjusted p ≥ {ALPHA})"
    return {"sign": sign, "reading": reading, "decision": decision}
