"""Layer pruning: remove n = 1 … N blocks chosen by each strategy, score the pruned models.

Every choice is made on the *calibration* half of the evaluation data and scored (loss and
perplexity) on the *evaluation* half (`analysis.importance.eval_data`). A removed block is skipped: its
residual branches are dropped and the stream passes on unchanged. Strategies:

- `spectral`: blocks ranked by their mean α; the direction is the one the calibration half
  supports: if ρ(α, delta_loss) ≥ 0 there, low α marks unimportant blocks and the lowest go
  first, else the highest (the result says which);
- `stable_rank`: the same rule with the block-mean stable rank;
- `last_n`: the n deepest blocks except the final one (L = 6, n = 2: blocks 3 and 4);
- `random`: `random_draws` (≥ 20) seeded random orderings, each removing its first n; mean and
  95% interval (2.5–97.5 percentiles over draws) of the perplexity;
- `block_influence` (ShortGPT): lowest Block Influence first;
- `angular` (Gromov et al.): the contiguous run of n blocks whose input and output streams are
  closest in angular distance;
- `oracle_best`, `oracle_worst`: greedy, one block at a time, the block whose removal (on top of
  those already removed) gives the lowest / highest calibration loss.

Headline figures per n, as the paper reports them: (perplexity increase of `last_n`) /
(perplexity increase of `spectral`), and oracle worst / best, each with a 95% bootstrap CI over
evaluation sequences; and the share of random draws at least as good as `spectral`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analysis.importance.ablation import mask_of, single_skip_masks
from analysis.importance.scores import (
    Setup,
    prepare,
    spectral_scores,
    stream_scores,
)
from analysis.results import Analysis
from analysis.stats import bootstrap_means, percentile_interval, spearman

STRATEGIES = (
    "spectral",
    "last_n",
    "random",
    "stable_rank",
    "block_influence",
    "angular",
    "oracle_best",
    "oracle_worst",
)
RANDOM_DRAWS = 20


class PruningError(ValueError):
    """A pruning sweep that cannot run as asked; the one-line message says why."""


def last_n_layers(n_layers: int, n: int) -> list[int]:
    """The n deepest blocks except the final one."""
    if not 1 <= n <= n_layers - 1:
        raise PruningError(f"last_n can remove 1 to {n_layers - 1} of {n_layers} blocks, not {n}")
    return list(range(n_layers - 1 - n, n_layers - 1))


def ranked(score: np.ndarray, *, ascending: bool) -> list[int]:
    """Block indices by score (ties by index; NaN scores last, whatever the direction)."""
    score = np.asarray(score, float)
    key = np.where(np.isfinite(score), score if ascending else -score, np.inf)
    return [int(i) for i in np.argsort(key, kind="stable")]


def angular_run(mean_cos: np.ndarray, n: int) -> list[int]:
    """The n contiguous blocks l … l+n-1 minimising arccos(cos(x_l, x_{l+n})) / π."""
    n_layers = mean_cos.shape[0] - 1
    cos = np.array([mean_cos[l, l + n] for l in range(n_layers - n + 1)])
    start = int(np.argmin(np.arccos(np.clip(cos, -1.0, 1.0))))
    return list(range(start, start + n))


def direction(score: np.ndarray, delta_loss: np.ndarray, name: str) -> dict[str, Any]:
    """Which end of a score's ranking to prune first, chosen on the calibration half."""
    rho = spearman(score, delta_loss)
    ascending = not (np.isfinite(rho) and rho < 0)
    end = "lowest" if ascending else "highest"
    why = (
        f"on the calibration half ρ({name}, delta_loss) = {rho:+.3f}, so the {end} {name} marks "
        "the least important blocks"
        if np.isfinite(rho)
        else f"ρ({name}, delta_loss) is undefined on the calibration half; lowest first by default"
    )
    return {"ascending": ascending, "prune_first": end, "rho_calibration": rho, "why": why}


@dataclass(frozen=True, kw_only=True)
class PruningSummary:
    """What was pruned how: source, model, data, settings and strategies; the full model's loss;
    each strategy's removed blocks per n (`choices`), the directions and oracle paths chosen on
    the calibration half (with that half's scores under `calibration`), the random orders."""

    title: ClassVar[str] = "layer pruning"
    source: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    settings: dict[str, Any]
    strategies: list[str]
    full_loss: float
    full_perplexity: float
    choices: dict[str, dict[int, list[int]]]
    directions: dict[str, dict[str, Any]]
    calibration: dict[str, Any]
    oracle: dict[str, Any]
    random_orders: list[list[int]]


@dataclass(frozen=True, kw_only=True, eq=False)
class PruningCurves:
    """`table`: strategy, n_removed, removed_layers, loss, perplexity (+ random's interval) on
    the evaluation half; `headline`: the per-n perplexity ratios between strategies."""

    table: pd.DataFrame
    headline: pd.DataFrame


PruningResult = Analysis[PruningSummary, PruningCurves]


def prune_layers(
    source: Any,
    *,
    max_remove: int | None = None,
    strategies: Sequence[str] | None = None,
    random_draws: int = RANDOM_DRAWS,
    **kwargs: Any,
) -> PruningResult:
    """Prune 1 … `max_remove` (default L // 4, at least 1) blocks by each strategy; other
    keyword arguments as `analysis.importance.scores.prepare` takes them."""
    strategies = check_strategies(strategies, random_draws)
    return pruning_from(prepare(source, **kwargs), max_remove, strategies, random_draws)


def check_strategies(strategies: Sequence[str] | None, random_draws: int) -> tuple[str, ...]:
    """The strategies asked for (None: all), checked, duplicates dropped."""
    if strategies is None:
        strategies = STRATEGIES
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise PruningError(f"unknown strategy '{unknown[0]}' (choose from {', '.join(STRATEGIES)})")
    if not strategies:
        raise PruningError("no strategies given")
    if random_draws < RANDOM_DRAWS and "random" in strategies:
        raise PruningError(f"--random-draws must be at least {RANDOM_DRAWS}, got {random_draws}")
    return tuple(dict.fromkeys(strategies))


def pruning_from(
    setup: Setup,
    max_remove: int | None,
    strategies: Sequence[str],
    random_draws: int = RANDOM_DRAWS,
) -> PruningResult:
    """`prune_layers` on an already prepared model and data."""
    evaluator, data, n_layers = setup.evaluator, setup.data, setup.source.cfg.n_layers
    n_max = max(1, n_layers // 4) if max_remove is None else int(max_remove)
    if not 1 <= n_max <= n_layers - 1:
        raise PruningError(f"--max-remove must be 1 to {n_layers - 1} for {n_layers} blocks")
    sizes = range(1, n_max + 1)
    masks = np.vstack([np.zeros((1, n_layers), bool), single_skip_masks(n_layers)])
    cal = evaluator.losses(data.calibration, masks, desc="calibration ablations").mean(1)
    delta_cal = cal[1:] - cal[0]
    spectral = None  # the probe runs only for the strategies that rank by a spectrum
    if {"spectral", "stable_rank"} & set(strategies):
        spectral = spectral_scores(setup.source, setup.settings["method"])
    mean_cos = evaluator.cosines(data.calibration).mean(0)
    streams = stream_scores(mean_cos)
    choices: dict[str, dict[int, list[int]]] = {}
    directions: dict[str, dict] = {}
    for name, column in (("spectral", "alpha"), ("stable_rank", "stable_rank")):
        if name in strategies:
            directions[name] = direction(spectral[column].to_numpy(), delta_cal, column)
            order = ranked(spectral[column].to_numpy(), ascending=directions[name]["ascending"])
            choices[name] = {n: sorted(order[:n]) for n in sizes}
    if "last_n" in strategies:
        choices["last_n"] = {n: last_n_layers(n_layers, n) for n in sizes}
    if "block_influence" in strategies:
        order = ranked(streams["block_influence"].to_numpy(), ascending=True)
        choices["block_influence"] = {n: sorted(order[:n]) for n in sizes}
    if "angular" in strategies:
        choices["angular"] = {n: angular_run(mean_cos, n) for n in sizes}
    oracle_paths = {}
    for name, best in (("oracle_best", True), ("oracle_worst", False)):
        if name in strategies:
            path, losses = greedy(setup, n_max, cal, best=best)
            choices[name] = {n: sorted(path[:n]) for n in sizes}
            oracle_paths[name] = {"order": path, "calibration_loss": losses}
    draws = []
    if "random" in strategies:
        rng = np.random.default_rng(setup.settings["seed"])
        draws = [[int(i) for i in rng.permutation(n_layers)] for _ in range(random_draws)]
    scored = _score(setup, choices, draws, sizes)
    table, headline = _tables(scored, choices, draws, sizes, setup.settings)
    summary = PruningSummary(
        source={"name": setup.source.name, **setup.source.info},
        model=setup.source.cfg.describe(),
        data=data.info,
        settings={**setup.settings, "max_remove": n_max, "random_draws": random_draws},
        strategies=list(strategies),
        choices=choices,
        full_loss=scored["full"],
        full_perplexity=math.exp(scored["full"]),
        directions=directions,
        calibration={
            "full_loss": float(cal[0]),
            "delta_loss": delta_cal.tolist(),
            "alpha": None if spectral is None else spectral["alpha"].tolist(),
            "stable_rank": None if spectral is None else spectral["stable_rank"].tolist(),
            "block_influence": streams["block_influence"].tolist(),
        },
        oracle=oracle_paths,
        random_orders=draws,
    )
    return Analysis(summary=summary, curves=PruningCurves(table=table, headline=headline))


def greedy(setup: Setup, n_max: int, first: np.ndarray, *, best: bool) -> tuple[list[int], list]:
    """Greedy removal order on the calibration half and the calibration loss after each step
    (`first`: full-model then single-skip calibration losses, reused for step one)."""
    n_layers = setup.source.cfg.n_layers
    removed: list[int] = []
    losses: list[float] = []
    for _ in range(n_max):
        candidates = [l for l in range(n_layers) if l not in removed]
        if not removed:
            values = first[1:][candidates]
        else:
            masks = np.stack([mask_of(n_layers, [*removed, c]) for c in candidates])
            values = setup.evaluator.losses(
                setup.data.calibration, masks, desc="oracle search"
            ).mean(1)
        pick = int(np.argmin(values) if best else np.argmax(values))
        removed.append(candidates[pick])
        losses.append(float(values[pick]))
    return removed, losses


def _score(
    setup: Setup, choices: dict[str, dict[int, list[int]]], draws: list[list[int]], sizes: range
) -> dict[str, Any]:
    """Per-sequence evaluation losses of every distinct chosen set (one evaluator pass)."""
    sets = {()} | {tuple(c) for ch in choices.values() for c in ch.values()}
    sets |= {tuple(sorted(order[:n])) for order in draws for n in sizes}
    keys = sorted(sets, key=lambda s: (len(s), s))
    n_layers = setup.source.cfg.n_layers
    masks = np.stack([mask_of(n_layers, k) for k in keys])
    losses = setup.evaluator.losses(setup.data.evaluation, masks, desc="pruned models")
    return {
        "keys": {k: i for i, k in enumerate(keys)},
        "losses": losses,
        "full": float(losses[0].mean()),
    }


def _tables(
    scored: dict, choices: dict, draws: list[list[int]], sizes: range, settings: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    index, losses = scored["keys"], scored["losses"]
    mean_loss = losses.mean(1)
    rows = [_row("none", 0, [], mean_loss[0])]
    for name in STRATEGIES:
        if name == "random" and draws:
            for n in sizes:
                per_draw = np.array([mean_loss[index[tuple(sorted(o[:n]))]] for o in draws])
                ppl = np.exp(per_draw)
                lo, hi = np.percentile(ppl, [2.5, 97.5])
                row = _row("random", n, [], per_draw.mean())
                row |= {"perplexity": ppl.mean(), "perplexity_lo": lo, "perplexity_hi": hi}
                rows.append({**row, "draws": len(draws)})
        elif name in choices:
            for n in sizes:
                layers = choices[name][n]
                rows.append(_row(name, n, layers, mean_loss[index[tuple(layers)]]))
    table = pd.DataFrame(rows)
    boot = np.exp(bootstrap_means(losses.T, n_boot=settings["n_boot"], seed=settings["seed"]))
    ppl = np.exp(mean_loss)
    heads = []
    for n in sizes:
        head: dict[str, Any] = {"n_removed": n}
        for top, bottom in (("last_n", "spectral"), ("oracle_worst", "oracle_best")):
            if top in choices and bottom in choices:
                a, b = index[tuple(choices[top][n])], index[tuple(choices[bottom][n])]
                head.update(_ratio(top, bottom, ppl, boot, a, b))
        if "spectral" in choices and draws:
            spec = ppl[index[tuple(choices["spectral"][n])]]
            per_draw = [ppl[index[tuple(sorted(o[:n]))]] for o in draws]
            head["random_at_least_as_good_as_spectral"] = float(np.mean(np.array(per_draw) <= spec))
        heads.append(head)
    return table, pd.DataFrame(heads)


def _row(strategy: str, n: int, layers: list[int], loss: float) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "n_removed": n,
        "removed_layers": ",".join(str(l) for l in layers),
        "loss": float(loss),
        "perplexity": math.exp(loss),
        "perplexity_lo": math.nan,
        "perplexity_hi": math.nan,
        "draws": 0,
    }


def _ratio(
    top: str, bottom: str, ppl: np.ndarray, boot: np.ndarray, i_top: int, i_bottom: int
) -> dict[str, Any]:
    """`<top>_over_<bottom>` (`oracle_` left out of the label): the ratio of the two choices'
    perplexity increases over the full model (index 0), its bootstrap CI, and which of the two
    has the lower perplexity (from the paired bootstrap of their difference)."""
    label = f"{top.removeprefix('oracle_')}_over_{bottom.removeprefix('oracle_')}"
    diff = percentile_interval(boot[:, i_top] - boot[:, i_bottom])
    verdict = "no clear difference (the 95% CI of the perplexity difference includes 0)"
    if diff and (diff[0] > 0 or diff[1] < 0):
        lower = bottom if diff[0] > 0 else top
        verdict = f"{lower} has the lower perplexity (the 95% CI of the difference excludes 0)"
    out: dict[str, Any] = {label: math.nan, f"{label}_lo": math.nan, f"{label}_hi": math.nan}
    out |= {f"{label}_verdict": verdict, f"{label}_note": ""}
    rise_top, rise_bottom = ppl[i_top] - ppl[0], ppl[i_bottom] - ppl[0]
    if rise_bottom <= 0:
        out[f"{label}_note"] = f"undefined: {bottom}'s choice did not raise perplexity"
        return out
    rises = boot[:, [i_top, i_bottom]] - boot[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = np.where(rises[:, 1] > 0, rises[:, 0] / rises[:, 1], np.nan)
    ci = percentile_interval(samples)
    out[label] = rise_top / rise_bottom
    out[f"{label}_lo"], out[f"{label}_hi"] = ci if ci else (math.nan, math.nan)
    return out
