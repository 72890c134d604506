"""The Q/K–V asymmetry: Q and K carry the depth-dependent timing, V and O compress uniformly.

For each group (Q/K: compression averaged over q and k; V/O: over v and o; wave.py definitions,
same smoothing) every layer gets its onset (half-maximum step). The statistic is the depth
dependence of the *timing* of compression on a log scale: the least-squares slope s of
ln(onset − t₀) on relative depth x (e^s: how many times later the last layer's onset is than
the first's). Timing is untouched by fixed offsets of compression between layers and by noise
that does not move the half-maximum crossing, unlike a variance share.

Every slope is a GLS fit over layers with the correlation of adjacent layers' noise estimated
from the run (`analysis.stats.noise`, on ln R_s(t)/R_s(t₀) of each group, and of their
difference for the paired slope), weighted by the noise SD's trend over depth: noise smooth
across depth makes onsets that drift with depth (with ρ = 0.7 the old least-squares and
Spearman tests called 12–22% of runs without any asymmetry asymmetric). A run whose noise
correlation cannot be estimated well enough gets no verdict.

- `qk_p`: the t-test of the Q/K slope (does Q/K timing depend on depth?).
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

from analysis.lifecycle.wave import MIN_COMPRESSION, SMOOTH, compression, onsets, rank_noise
from analysis.results import Analysis
from analysis.run import QK_KINDS, VO_KINDS, Run, load_run
from analysis.stats import (
    ALPHA,
    as_float,
    as_interval,
    nanmean,
    polynomial_design,
    smooth_time,
    t_interval,
    t_pvalue,
)
from analysis.stats.gls import gls
from analysis.stats.noise import NoiseEstimate, depth_sd, estimate_noise

MIN_LAYERS = 5


@dataclass(frozen=True, kw_only=True)
class AsymmetrySummary:
    """Depth dependence of compression timing for Q/K and V/O, and the verdicts."""

    title: ClassVar[str] = "Q/K–V asymmetry (slopes of ln onset on relative depth)"
    kinds: tuple[str, ...]
    qk_slope: float | None = None
    qk_slope_ci: tuple[float, float] | None = None
    qk_p: float | None = None
    layer_corr: dict[str, float] = field(default_factory=dict)  # "qk", "vo", "difference"
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


@dataclass(frozen=True, kw_only=True)
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


GROUPS = ("qk", "vo", "difference")


def timing_test(
    x: np.ndarray,
    log_qk: np.ndarray,
    log_vo: np.ndarray,
    noise: dict[str, NoiseEstimate],
    layers: np.ndarray | None = None,
) -> TimingTest:
    """GLS slopes of log onsets `[..., n]` (complete data) on relative depth x `[n]`, each with
    its group's noise (`GROUPS`: layer correlation ρ ≥ 0 and SD trend) at `layers`."""
    layers = np.arange(len(x)) if layers is None else np.asarray(layers)
    design = polynomial_design(x, 1)
    fits = {}
    for name, y in zip(GROUPS, (log_qk, log_vo, log_qk - log_vo), strict=True):
        est = noise[name]
        rho = np.clip(np.nan_to_num(est.layer_corr), 0.0, None)
        sd = depth_sd(est)[..., layers]
        fits[name] = gls(design, y, rho, positions=layers, sd=sd)
    slope = {k: f.coef[..., 1] for k, f in fits.items()}
    se = {k: f.se(1) for k, f in fits.items()}
    dof = fits["qk"].dof
    with np.errstate(invalid="ignore", divide="ignore"):
        qk_p = t_pvalue(slope["qk"] / se["qk"], dof)
    return TimingTest(
        qk=slope["qk"],
        qk_ci=t_interval(slope["qk"], se["qk"], dof),
        qk_p=qk_p,
        vo=slope["vo"],
        vo_ci90=t_interval(slope["vo"], se["vo"], dof, level=0.90),
        diff=slope["difference"],
        diff_ci=t_interval(slope["difference"], se["difference"], dof),
    )


def group_noise(raw_qk: np.ndarray, raw_vo: np.ndarray) -> dict[str, NoiseEstimate]:
    """Noise of each group's ln(1 − c) `[..., T, L]` and of their difference."""
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.log(np.clip(1 - raw_qk, 1e-9, None)) - np.log(np.clip(1 - raw_vo, 1e-9, None))
    return {"qk": rank_noise(raw_qk), "vo": rank_noise(raw_vo), "difference": estimate_noise(diff)}


def log_onset(steps: np.ndarray, c: np.ndarray, min_compression: float) -> np.ndarray:
    """ln(onset − t₀) `[..., L]`; onsets at t₀ count as half a snapshot interval later."""
    onset, _ = onsets(steps, c, min_compression)
    floor = 0.5 * float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0
    return np.log(np.maximum(onset - steps[0], floor))


def qk_v_asymmetry(
    run: Run | str | Path,
    kinds: Iterable[str] | str | None = None,
    *,
    smooth: int = SMOOTH,
    min_compression: float = MIN_COMPRESSION,
    margin: float = 0.5,
) -> AsymmetryResult:
    """Timing of compression vs depth for Q/K and V/O, with the asymmetry verdict."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    raw = {k: compression(run, k) for k in kinds}
    comp = {k: smooth_time(v, smooth) for k, v in raw.items()}
    groups = {
        name: [k for k in members if k in comp]
        for name, members in (("qk", QK_KINDS), ("vo", VO_KINDS))
    }
    logs: dict[str, np.ndarray] = {}
    group_raw: dict[str, np.ndarray] = {}
    for name, members in groups.items():
        if members and len(steps) >= 3:
            c = nanmean(np.stack([comp[k] for k in members]), 0)
            logs[name] = log_onset(steps, c, min_compression)
            group_raw[name] = nanmean(np.stack([raw[k] for k in members]), 0)
    why = None
    test = None
    if len(logs) < 2:
        why = "needs q or k and v or o among the kinds, and ≥ 3 snapshots"
    else:
        ok = np.isfinite(logs["qk"]) & np.isfinite(logs["vo"])
        noise = group_noise(group_raw["qk"], group_raw["vo"])
        if ok.sum() < MIN_LAYERS:
            why = (
                f"needs ≥ {MIN_LAYERS} layers where both Q/K and V/O compress "
                f"by ≥ {min_compression} (have {int(ok.sum())})"
            )
        else:
            why = next((e.reason for e in noise.values() if e.reason is not None), None)
        if why is None:
            layers = np.flatnonzero(ok)
            test = timing_test(run.rel_depth[ok], logs["qk"][ok], logs["vo"][ok], noise, layers)
    curves = AsymmetryCurves(
        steps=run.steps,
        compression=comp,
        onsets={name: np.exp(v) + steps[0] for name, v in logs.items()},
    )
    if test is None:
        summary = AsymmetrySummary(kinds=kinds, margin=margin, reasons={"asymmetric": why})
        return Analysis(summary, curves)
    summary = AsymmetrySummary(
        kinds=kinds,
        qk_slope=as_float(test.qk),
        qk_slope_ci=as_interval(*test.qk_ci),
        qk_p=as_float(test.qk_p),
        layer_corr={k: max(float(e.layer_corr), 0.0) for k, e in noise.items()},
        vo_slope=as_float(test.vo),
        vo_slope_ci90=as_interval(*test.vo_ci90),
        vo_uniform=bool(test.vo_uniform(margin)),
        difference=as_float(test.diff),
        difference_ci=as_interval(*test.diff_ci),
        asymmetric=bool(test.asymmetric(margin)),
        margin=margin,
    )
    return Analysis(summary, curves)
