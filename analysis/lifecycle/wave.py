"""The transient compression wave: stable-rank compression travelling from early to late layers.

Definitions (per layer l, over the chosen kinds):

- compression c_l(t) = (R_s(t₀) − R_s(t)) / R_s(t₀), R_s the stable rank and t₀ the first
  snapshot; computed per kind, averaged over the kinds, smoothed in time by a centred moving
  average of `smooth` snapshots.
- onset_l: the first step at which c_l reaches half of its peak (the median of c where c
  smoothed over T/8 snapshots is within 10% of its maximum; linear interpolation between
  snapshots); none when the peak is below `min_compression`.
- the wave: the slope s of onset on layer index by GLS with the correlation ρ of adjacent
  layers' noise estimated from the run (`analysis.stats.noise` on ln R_s(t)/R_s(t₀), whose
  noise is relative), weighted by the noise SD's trend over depth over each layer's compression;
  `has_wave` when its t-test (n − 2 degrees of freedom) gives p < 0.05. Noise smooth across
  depth makes onsets that drift smoothly with depth, which a test of independent layers
  (Spearman's, the old decision) reads as a wave: with ρ = 0.7 it said so in 25–35% of
  runs without one. Spearman ρ and its exact p stay as descriptions. Fewer than 5 layers with
  an onset cannot show a wave, and a run whose noise correlation cannot be estimated well
  enough gets no verdict: `has_wave` is null with the reason.
- speed: s with its GLS t-interval (n − 2 degrees of freedom), reported as 1000 / s layers
  per 1k steps when there is a wave (the test and the interval are one: a wave is an interval
  that excludes 0).
- G(t) and its reversal: `analysis.lifecycle.reversal`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from analysis.lifecycle import reversal
from analysis.lifecycle.parts import Part, refused, summary_fields
from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import (
    ALPHA,
    as_float,
    as_interval,
    nanmean,
    polynomial_design,
    smooth_time,
    spearman_exact,
    t_interval,
    t_pvalue,
)
from analysis.stats.gls import gls
from analysis.stats.noise import NoiseEstimate, depth_sd, estimate_noise

MIN_WAVE_LAYERS = 5
SMOOTH = 3  # snapshots in the centred moving average of compression over time
MIN_COMPRESSION = 0.02  # a layer whose compression peaks below this has no onset
TOP_SHARE = 0.9  # the peak: median of c where its smoothed curve is within 10% of its maximum


@dataclass(frozen=True, kw_only=True)
class WaveSummary:
    """Onsets, the wave test and speed, and the reversal of G(t); `reasons` for every null."""

    title: ClassVar[str] = "compression wave (stable rank; speed in layers per 1k steps)"
    kinds: tuple[str, ...]
    onset: np.ndarray  # [L] steps (NaN: no onset)
    max_compression: np.ndarray  # [L]
    spearman_rho: float | None = None  # description; the decision is `wave_p`
    spearman_p: float | None = None  # exact, for independent layers
    wave_p: float | None = None  # GLS t-test of the onset slope (layer correlation allowed for)
    layer_corr: float | None = None  # estimated correlation of adjacent layers' noise
    has_wave: bool | None = None  # None: this run cannot show one (see reasons)
    direction: str | None = None  # "early_to_late" | "late_to_early"
    slope: float | None = None  # steps per layer
    slope_ci: tuple[float, float] | None = None
    speed: float | None = None  # layers per 1k steps
    speed_ci: tuple[float, float] | None = None
    end_gradient: float | None = None  # G averaged over the final window
    early_gradient: float | None = None  # G averaged before it (a seed group's statistic)
    reversal_p: float | None = None  # intersection–union p (max of the two parts)
    has_reversal: bool | None = None
    reversal_step: float | None = None
    reversal_step_ci: tuple[float, float] | None = None
    peak_step: float | None = None  # the opposite-sign extreme of G before the final window
    peak_value: float | None = None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class WaveCurves:
    """What the wave figure draws: smoothed compression `[T, L]` and G(t) `[T]`."""

    steps: np.ndarray
    compression: np.ndarray
    gradient: np.ndarray


WaveResult = Analysis[WaveSummary, WaveCurves]


def compression(run: Run, kinds: Iterable[str] | str | None = None) -> np.ndarray:
    """Unsmoothed c `[steps, layers]`: per-kind (R_s(t₀) − R_s(t)) / R_s(t₀), mean over kinds."""
    kinds = run.resolve_kinds(kinds)
    per_kind = []
    for kind in kinds:
        rs = run.grid("stable_rank", kind)
        base = rs[:1] if len(rs) else rs
        with np.errstate(invalid="ignore", divide="ignore"):
            per_kind.append(np.where(base > 0, (base - rs) / np.where(base > 0, base, 1), np.nan))
    if not per_kind:
        return np.zeros((len(run.steps), run.n_layers))
    return nanmean(np.stack(per_kind), axis=0)


def onsets(
    steps: np.ndarray, c: np.ndarray, min_compression: float
) -> tuple[np.ndarray, np.ndarray]:
    """Half-peak onset step and peak of every column of c `[..., T, L]` (batched).

    The peak is the median of c over the snapshots where c smoothed over a longer window (T/8
    snapshots) is within 10% of its maximum: the maximum of a noisy plateau is biased upwards,
    the more so the longer the plateau, i.e. the earlier the layer — which tilted the onsets
    against depth (by 0.8 of the slope's SE at 24 layers under noise AR(1) 0.9 in time, where
    smoothing cannot average it away); the median of the top of the curve is not.
    """
    steps = np.asarray(steps, float)
    finite = np.isfinite(c)
    filled = np.where(finite, c, -np.inf)
    wide = smooth_time(np.moveaxis(c, -2, 0), max(3, len(steps) // 8))
    top = np.where(np.isfinite(wide), wide, -np.inf).max(0)
    near = wide >= TOP_SHARE * top
    with warnings.catch_warnings():  # a layer with no finite value has no peak
        warnings.simplefilter("ignore", RuntimeWarning)
        peak = np.nanmedian(np.where(near, np.moveaxis(c, -2, 0), np.nan), axis=0)
    peak = np.where(finite.any(-2), peak, np.nan)
    reached = filled >= (peak / 2)[..., None, :]
    i = reached.argmax(-2)  # first snapshot at or above half the maximum
    before = np.clip(i - 1, 0, None)
    prev = np.take_along_axis(c, before[..., None, :], -2)[..., 0, :]
    here = np.take_along_axis(c, i[..., None, :], -2)[..., 0, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (peak / 2 - prev) / (here - prev)
        interpolated = steps[before] + frac * (steps[i] - steps[before])
    onset = np.where((i == 0) | ~np.isfinite(prev), steps[i], interpolated)
    found = (peak >= min_compression) & reached.any(-2)
    return np.where(found, onset, np.nan), peak


def rank_noise(raw: np.ndarray) -> NoiseEstimate:
    """Noise of ln(1 − c) = ln R_s(t)/R_s(t₀) `[..., T, L]` (relative noise made additive)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return estimate_noise(np.log(np.clip(1 - raw, 1e-9, None)))


@dataclass(frozen=True, kw_only=True)
class WaveTest:
    """Batched GLS fit of onset on layer index: slope `[...]`, its SE, dof and p-value."""

    slope: np.ndarray
    se: np.ndarray
    dof: int
    p: np.ndarray

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        return t_interval(self.slope, self.se, self.dof)


def wave_test(
    onset: np.ndarray,
    noise: NoiseEstimate,
    peak: np.ndarray,
    layers: np.ndarray | None = None,
) -> WaveTest:
    """GLS slope of onset `[..., n]` on `layers` (default 0..n−1; complete rows) with the
    noise's layer correlation ρ ≥ 0 `[...]`, weighted by the noise SD's depth trend over each
    layer's compression `peak` (a layer compressing less crosses its half-maximum more slowly,
    so noise moves its onset further)."""
    n = onset.shape[-1]
    layers = np.arange(n) if layers is None else np.asarray(layers)
    sd = depth_sd(noise)[..., layers] / np.abs(peak)
    rho = np.clip(np.nan_to_num(noise.layer_corr), 0.0, None)
    fit = gls(polynomial_design(layers.astype(float), 1), onset, rho, positions=layers, sd=sd)
    slope, se = fit.coef[..., 1], fit.se(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = t_pvalue(slope / se, fit.dof)
    return WaveTest(slope=slope, se=se, dof=fit.dof, p=p)


def compression_wave(
    run: Run | str | Path,
    kinds: Iterable[str] | str | None = None,
    *,
    smooth: int = SMOOTH,
    min_compression: float = MIN_COMPRESSION,
    tail: float = 0.2,
) -> WaveResult:
    """Onsets, the wave test and speed, and the reversal test of G(t)."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    raw = compression(run, kinds)
    c = smooth_time(raw, smooth)
    n_layers = run.n_layers
    onset = peak = np.full(n_layers, np.nan)
    too_short: Part = {}
    if len(steps) < 3:
        too_short = refused("onset", f"needs ≥ 3 snapshots (have {len(steps)})")
    else:
        onset, peak = onsets(steps, c, min_compression)
    noise = rank_noise(raw)
    wave = _wave(onset, peak, noise, min_compression)
    rev = reversal.reversal_part(steps, c, raw, noise, tail)
    parts = summary_fields(too_short, wave, rev)
    summary = WaveSummary(kinds=kinds, onset=onset, max_compression=peak, **parts)
    g = reversal.band_gradient(np.nan_to_num(c)) if n_layers >= 3 else np.full(len(steps), np.nan)
    return Analysis(summary, WaveCurves(steps=run.steps, compression=c, gradient=g))


def _wave(
    onset: np.ndarray, peak: np.ndarray, noise: NoiseEstimate, min_compression: float
) -> Part:
    """The wave test's fields of the summary, with the reasons for its nulls."""
    ok = np.isfinite(onset)
    n = int(ok.sum())
    if n < MIN_WAVE_LAYERS:
        why = (
            f"needs ≥ {MIN_WAVE_LAYERS} layers whose compression reaches "
            f"min_compression={min_compression} (have {n}): fewer cannot show a wave"
        )
        return refused("has_wave", why)
    layers = np.flatnonzero(ok)
    rho, p = spearman_exact(layers.astype(float), onset[ok])
    spearman = dict(spearman_rho=as_float(rho), spearman_p=as_float(p))
    if noise.reason is not None:
        return refused("has_wave", noise.reason, **spearman)
    test = wave_test(onset[ok], noise, peak[ok], layers)
    lo, hi = test.interval()
    has_wave = bool(test.p < ALPHA)
    reasons = {}
    if not has_wave:
        reasons["speed"] = f"no wave: onset does not change with depth (p = {test.p:.3g})"
    return dict(
        **spearman,
        wave_p=as_float(test.p),
        layer_corr=max(float(noise.layer_corr), 0.0),
        has_wave=has_wave,
        direction=("early_to_late" if test.slope > 0 else "late_to_early") if has_wave else None,
        slope=as_float(test.slope),
        slope_ci=as_interval(lo, hi),
        speed=as_float(1000.0 / test.slope) if has_wave else None,
        speed_ci=tuple(sorted((1000.0 / lo, 1000.0 / hi))) if has_wave else None,
        reasons=reasons,
    )
