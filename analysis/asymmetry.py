"""The Q/K–V asymmetry: which kinds' compression depends on depth.

For each kind, c(t, l) is its stable-rank compression (wave.py, smoothed the same way). Two
measures of depth dependence:

- `depth_share` η² = Σ_t Σ_l (c(t,l) − c̄(t))² / Σ_t Σ_l (c(t,l) − c̄)²: the share of the
  variance of c over all steps and layers that lies *between layers at the same step*, i.e. is
  not explained by the step alone (c̄(t) is the mean over layers at step t, c̄ the grand mean).
  0 when every layer compresses identically; near 1 when layers differ at each step.
- `peak_spread`: the largest standard deviation of c across layers at one step, and that step
  (the spread at the wave's peak).

The Q/K vs V/O ratio is mean(η² of q, k) / mean(η² of v, o), with a layer-bootstrap 95% CI
(the same resampled layers for every kind). Missing values of c are replaced by the mean over
layers at that step, which adds nothing to the between-layer variance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from analysis.results import Analysis
from analysis.run import QK_KINDS, VO_KINDS, Run, load_run
from analysis.stats import N_BOOT, bootstrap_counts, nanmean, percentile_ci, smooth_time
from analysis.wave import compression


@dataclass(frozen=True, kw_only=True)
class AsymmetrySummary:
    """Per-kind depth share and peak spread of compression; the Q/K vs V/O ratio with a CI."""

    title: ClassVar[str] = (
        "Q/K–V asymmetry (depth_share = between-layer share of the variance of c)"
    )
    kinds: tuple[str, ...]
    depth_share: dict[str, float | None]
    peak_spread: dict[str, float | None]
    peak_spread_step: dict[str, int | None]
    ratio: float | None  # mean η²(q, k) / mean η²(v, o)
    ratio_ci: tuple[float, float] | None
    n_boot: int
    seed: int
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AsymmetryCurves:
    """Smoothed compression `[T, L]` per kind."""

    steps: np.ndarray
    compression: dict[str, np.ndarray]


AsymmetryResult = Analysis[AsymmetrySummary, AsymmetryCurves]


def depth_share(c: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """η² of c `[T, L]` for every layer-count row of `weights` `[..., L]` (bootstrap-ready)."""
    c = np.asarray(c, float)
    fill = nanmean(c, 1)[:, None]
    c = np.where(np.isfinite(c), c, np.where(np.isfinite(fill), fill, 0.0))
    w = np.asarray(weights, float)
    n = w.sum(-1)[..., None]  # resampled layer count (= L)
    s1 = w @ c.T  # [..., T]
    s2 = w @ (c * c).T
    between = (s2 - s1 * s1 / n).sum(-1)
    steps = c.shape[0]
    total = s2.sum(-1) - s1.sum(-1) ** 2 / (n[..., 0] * steps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 1e-15, between / np.where(total > 0, total, 1), np.nan)


def qk_v_asymmetry(
    run: Run | str | Path,
    kinds: Iterable[str] | str | None = None,
    *,
    smooth: int = 3,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> AsymmetryResult:
    """Depth dependence of compression per kind and the Q/K vs V/O ratio with a bootstrap CI."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps
    reasons: dict[str, str] = {}
    comp = {k: smooth_time(compression(run, k), smooth) for k in kinds}
    share: dict[str, float | None] = {}
    spread: dict[str, float | None] = {}
    spread_step: dict[str, int | None] = {}
    n_layers = run.n_layers
    too_small = len(steps) < 2 or n_layers < 2
    for k, c in comp.items():
        value = float(depth_share(c, np.ones(n_layers))) if not too_small else np.nan
        share[k] = value if np.isfinite(value) else None
        std = (
            np.sqrt(nanmean((c - nanmean(c, 1)[:, None]) ** 2, 1))
            if not too_small
            else np.array([np.nan])
        )
        if np.isfinite(std).any():
            i = int(np.nanargmax(std))
            spread[k], spread_step[k] = float(std[i]), int(steps[i])
        else:
            spread[k] = spread_step[k] = None
    if too_small:
        reasons["depth_share"] = "needs ≥ 2 layers and ≥ 2 snapshots"
    ratio = ratio_ci = None
    qk = [k for k in QK_KINDS if k in comp]
    vo = [k for k in VO_KINDS if k in comp]
    if too_small:
        reasons["ratio"] = "needs ≥ 2 layers and ≥ 2 snapshots"
    elif not qk or not vo:
        reasons["ratio"] = "needs q or k and v or o among the kinds"
    else:
        point_qk = np.mean([share[k] if share[k] is not None else np.nan for k in qk])
        point_vo = np.mean([share[k] if share[k] is not None else np.nan for k in vo])
        if not (np.isfinite(point_qk) and np.isfinite(point_vo)):
            reasons["ratio"] = "the depth share of Q/K or V/O is undefined (no finite compression)"
        elif point_vo <= 0:
            reasons["ratio"] = "V/O compression has no variance between layers"
        else:
            ratio = float(point_qk / point_vo)
            counts = bootstrap_counts(n_layers, n_boot, seed)
            b_qk = np.mean([depth_share(comp[k], counts) for k in qk], 0)
            b_vo = np.mean([depth_share(comp[k], counts) for k in vo], 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio_ci = percentile_ci(np.where(b_vo > 0, b_qk / b_vo, np.nan))
    summary = AsymmetrySummary(
        kinds=kinds,
        depth_share=share,
        peak_spread=spread,
        peak_spread_step=spread_step,
        ratio=ratio,
        ratio_ci=ratio_ci,
        n_boot=n_boot,
        seed=seed,
        reasons=reasons,
    )
    return Analysis(summary, AsymmetryCurves(steps=steps, compression=comp))
