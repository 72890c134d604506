"""The Q/K–V asymmetry: Q and K carry the depth-dependent timing, V and O compress uniformly.

For each group (Q/K: compression averaged over q and k; V/O: over v and o; wave.py definitions,
same smoothing) every layer gets its onset (half-maximum step). The statistic is the depth
dependence of the *timing* of compression on a log scale: the least-squares slope s of
ln(onset − t₀) on relative depth x (e^s: how many times later the last layer's onset is than
the first's). Timing is untouched by fixed offsets of compression between layers and by noise
that does not move the half-maximum crossing, unlike a variance share.

- `qk_p`: exact Spearman p of the Q/K onsets against layer (does Q/K timing depend on depth?).
- `vo_uniform`: an equivalence test that V/O timing does not: the 90% t-interval of s_VO lies
  within ±ln(1 + `margin`) (default: onsets of the first and last layer within a factor 1.5).
- `difference` = s_QK − s_VO, from the per-layer differences of log onsets (paired by layer, so
  anything a layer shares across kinds cancels), with its t-interval.
- `asymmetric`: Q/K significant, the difference's interval excludes 0 in Q/K's direction, and
  V/O uniform.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from analysis.lifecycle.wave import compression, onsets
from analysis.results import Analysis
from analysis.run import QK_KINDS, VO_KINDS, Run, load_run
from analysis.stats import (
    ALPHA,
    as_float,
    as_interval,
    min_spearman_p,
    nanmean,
    ols,
    polynomial_design,
    smooth_time,
    spearman_exact,
    t_interval,
)

MIN_LAYERS = 5


@dataclass(frozen=True, kw_only=True)
class AsymmetrySummary:
    """Depth dependence of compression timing for Q/K and V/O, and the verdicts."""

    title: ClassVar[str] = "Q/K–V asymmetry (slopes of ln onset on relative depth)"
    kinds: tuple[str, ...]
    qk_slope: float | None = None
    qk_slope_ci: tuple[float, float] | None = None
    qk_p: float | None = None
    vo_slope: float | None = None
    vo_slope_ci90: tuple[float, float] | None = None
    vo_uniform: bool | None = None
    difference: float | None = None
    difference_ci: tuple[float, float] | None = None
    asymmetric: bool | None = None
    margin: float = 0.5
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AsymmetryCurves:
    """Smoothed compression `[T, L]` per kind, and onsets `[L]` per group ("qk", "vo")."""

    steps: np.ndarray
    compression: dict[str, np.ndarray]
    onsets: dict[str, np.ndarray]


AsymmetryResult = Analysis[AsymmetrySummary, AsymmetryCurves]


@dataclass(frozen=True)
class TimingTest:
    """Batched slopes of ln onset on depth for two groups and their paired difference."""

    qk: np.ndarray
    qk_ci: tuple[np.ndarray, np.ndarray]
    qk_p: np.ndarray
    vo: np.ndarray
    vo_ci90: tuple[np.ndarray, np.ndarray]
    diff: np.ndarray
    diff_ci: tuple[np.ndarray, np.ndarray]

    def vo_uniform(self, margin: float) -> np.ndarray:
        bound = np.log1p(margin)
        return (self.vo_ci90[0] > -bound) & (self.vo_ci90[1] < bound)

    def asymmetric(self, margin: float) -> np.ndarray:
        lo, hi = self.diff_ci
        directed = np.where(self.qk > 0, lo > 0, hi < 0)
        return (self.qk_p < ALPHA) & directed & self.vo_uniform(margin)


def timing_test(x: np.ndarray, log_qk: np.ndarray, log_vo: np.ndarray) -> TimingTest:
    """Slopes of log onsets `[..., L]` (complete data) on relative depth x `[L]`."""
    design = polynomial_design(x, 1)
    both = ols(design, np.stack([log_qk, log_vo, log_qk - log_vo]))
    slope, se = both.coef[..., 1], both.se(1)
    _, qk_p = spearman_exact(x, log_qk)
    return TimingTest(
        qk=slope[0],
        qk_ci=t_interval(slope[0], se[0], both.dof),
        qk_p=qk_p,
        vo=slope[1],
        vo_ci90=t_interval(slope[1], se[1], both.dof, level=0.90),
        diff=slope[2],
        diff_ci=t_interval(slope[2], se[2], both.dof),
    )


def log_onset(steps: np.ndarray, c: np.ndarray, min_compression: float) -> np.ndarray:
    """ln(onset − t₀) `[..., L]`; onsets at t₀ count as half a snapshot interval later."""
    onset, _ = onsets(steps, c, min_compression)
    floor = 0.5 * float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0
    return np.log(np.maximum(onset - steps[0], floor))


def qk_v_asymmetry(
    run: Run | str | Path,
    kinds: Iterable[str] | str | None = None,
    *,
    smooth: int = 3,
    min_compression: float = 0.02,
    margin: float = 0.5,
) -> AsymmetryResult:
    """Timing of compression vs depth for Q/K and V/O, with the asymmetry verdict."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    reasons: dict[str, str] = {}
    comp = {k: smooth_time(compression(run, k), smooth) for k in kinds}
    groups = {
        name: [k for k in members if k in comp]
        for name, members in (("qk", QK_KINDS), ("vo", VO_KINDS))
    }
    logs: dict[str, np.ndarray] = {}
    for name, members in groups.items():
        if members and len(steps) >= 3:
            c = nanmean(np.stack([comp[k] for k in members]), 0)
            logs[name] = log_onset(steps, c, min_compression)
    values: dict = {}
    if len(logs) < 2:
        reasons["asymmetric"] = "needs q or k and v or o among the kinds, and ≥ 3 snapshots"
    else:
        ok = np.isfinite(logs["qk"]) & np.isfinite(logs["vo"])
        floor = min_spearman_p(int(ok.sum()))
        if ok.sum() < MIN_LAYERS or floor >= ALPHA:
            reasons["asymmetric"] = (
                f"needs ≥ {MIN_LAYERS} layers where both Q/K and V/O compress "
                f"by ≥ {min_compression} (have {int(ok.sum())})"
            )
        else:
            values = _verdicts(run.rel_depth[ok], logs["qk"][ok], logs["vo"][ok], margin)
    curves = AsymmetryCurves(
        steps=run.steps,
        compression=comp,
        onsets={name: np.exp(v) + steps[0] for name, v in logs.items()},
    )
    summary = AsymmetrySummary(kinds=kinds, margin=margin, reasons=reasons, **values)
    return Analysis(summary, curves)


def _verdicts(x: np.ndarray, log_qk: np.ndarray, log_vo: np.ndarray, margin: float) -> dict:
    test = timing_test(x, log_qk, log_vo)
    return {
        "qk_slope": as_float(test.qk),
        "qk_slope_ci": as_interval(*test.qk_ci),
        "qk_p": as_float(test.qk_p),
        "vo_slope": as_float(test.vo),
        "vo_slope_ci90": as_interval(*test.vo_ci90),
        "vo_uniform": bool(test.vo_uniform(margin)),
        "difference": as_float(test.diff),
        "difference_ci": as_interval(*test.diff_ci),
        "asymmetric": bool(test.asymmetric(margin)),
    }
