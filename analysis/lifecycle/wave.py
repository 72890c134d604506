"""The transient compression wave: stable-rank compression travelling from early to late layers.

Definitions (per layer l, over the chosen kinds):

- compression c_l(t) = (R_s(t₀) − R_s(t)) / R_s(t₀), R_s the stable rank and t₀ the first
  snapshot; computed per kind, averaged over the kinds, smoothed in time by a centred moving
  average of `smooth` snapshots.
- onset_l: the first step at which c_l reaches half of its maximum over the run (the maximum
  of c smoothed over T/8 snapshots; linear interpolation between snapshots); none when the
  maximum is below `min_compression`.
- the wave: Spearman ρ of onset against layer index with its exact permutation p-value
  (`stats.spearman_exact`); `has_wave` when p < 0.05. A depth whose smallest attainable p is
  above 0.05 (4 layers: 2/4! = 0.083) cannot show a wave: `has_wave` is null with that reason.
- speed: the least-squares slope s of onset on layer (steps per layer) with its t-interval
  (n − 2 degrees of freedom), reported as 1000 / s layers per 1k steps when there is a wave.
- G(t) and its reversal: `analysis.lifecycle.reversal`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.stats import linregress

from analysis.lifecycle import reversal
from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import (
    ALPHA,
    as_float,
    as_interval,
    min_spearman_p,
    nanmean,
    smooth_time,
    spearman_exact,
    t_interval,
)

MIN_WAVE_LAYERS = 4


@dataclass(frozen=True, kw_only=True)
class WaveSummary:
    """Onsets, the wave test and speed, and the reversal of G(t); `reasons` for every null."""

    title: ClassVar[str] = "compression wave (stable rank; speed in layers per 1k steps)"
    kinds: tuple[str, ...]
    onset: np.ndarray  # [L] steps (NaN: no onset)
    max_compression: np.ndarray  # [L]
    spearman_rho: float | None = None
    spearman_p: float | None = None  # exact
    has_wave: bool | None = None  # None: this run cannot show one (see reasons)
    direction: str | None = None  # "early_to_late" | "late_to_early"
    slope: float | None = None  # steps per layer
    slope_ci: tuple[float, float] | None = None
    speed: float | None = None  # layers per 1k steps
    speed_ci: tuple[float, float] | None = None
    end_gradient: float | None = None  # G averaged over the final window
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
    """Half-maximum onset step and maximum of every column of c `[..., T, L]` (batched).

    The maximum is taken of c smoothed over a longer window (T/8 snapshots): the maximum of a
    noisy plateau is biased upwards, the more so the longer the plateau, i.e. the earlier the
    layer — which would tilt the onsets against depth.
    """
    steps = np.asarray(steps, float)
    finite = np.isfinite(c)
    filled = np.where(finite, c, -np.inf)
    wide = smooth_time(np.moveaxis(c, -2, 0), max(3, len(steps) // 8))
    peak = np.where(np.isfinite(wide), wide, -np.inf).max(0)
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


def wave_test(onset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ of onset `[..., L]` against layer index, exact p-value (complete rows)."""
    return spearman_exact(np.arange(onset.shape[-1]), onset)


def compression_wave(
    run: Run | str | Path,
    kinds: Iterable[str] | str | None = None,
    *,
    smooth: int = 3,
    min_compression: float = 0.02,
    tail: float = 0.2,
) -> WaveResult:
    """Onsets, the exact wave test and speed, and the reversal test of G(t)."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    raw = compression(run, kinds)
    c = smooth_time(raw, smooth)
    reasons: dict[str, str] = {}
    n_layers = run.n_layers
    onset = peak = np.full(n_layers, np.nan)
    if len(steps) < 3:
        reasons["onset"] = f"needs ≥ 3 snapshots (have {len(steps)})"
    else:
        onset, peak = onsets(steps, c, min_compression)
    values = {**_wave(onset, reasons, min_compression), **_reversal(steps, c, raw, tail, reasons)}
    summary = WaveSummary(kinds=kinds, onset=onset, max_compression=peak, reasons=reasons, **values)
    g = reversal.band_gradient(np.nan_to_num(c)) if n_layers >= 3 else np.full(len(steps), np.nan)
    return Analysis(summary, WaveCurves(steps=run.steps, compression=c, gradient=g))


def _wave(onset: np.ndarray, reasons: dict[str, str], min_compression: float) -> dict:
    ok = np.isfinite(onset)
    n = int(ok.sum())
    if n < MIN_WAVE_LAYERS:
        reasons["has_wave"] = (
            f"needs ≥ {MIN_WAVE_LAYERS} layers whose compression reaches "
            f"min_compression={min_compression} (have {n})"
        )
        return {}
    layers = np.flatnonzero(ok).astype(float)
    rho, p = wave_test(onset[ok])
    fit = linregress(layers, onset[ok])
    lo, hi = t_interval(fit.slope, fit.stderr, n - 2)
    out = {
        "spearman_rho": as_float(rho),
        "spearman_p": as_float(p),
        "slope": as_float(fit.slope),
        "slope_ci": as_interval(lo, hi),
    }
    floor = min_spearman_p(n)
    if floor >= ALPHA:
        reasons["has_wave"] = (
            f"{n} layers cannot show a wave: the smallest exact p-value is {floor:.3g}"
        )
        return out
    out["has_wave"] = bool(p < ALPHA)
    if not out["has_wave"]:
        reasons["speed"] = f"no wave: onset does not change with depth (exact p = {p:.3g})"
        return out
    out["direction"] = "early_to_late" if rho > 0 else "late_to_early"
    out["speed"] = as_float(1000.0 / fit.slope) if fit.slope else None
    if lo * hi > 0:
        out["speed_ci"] = tuple(sorted((1000.0 / lo, 1000.0 / hi)))
    else:
        reasons["speed_ci"] = "the slope's interval includes 0: the speed is unbounded"
    return out


def _reversal(
    steps: np.ndarray, c: np.ndarray, raw: np.ndarray, tail: float, reasons: dict[str, str]
) -> dict:
    n_steps, n_layers = c.shape
    floor = reversal.min_reversal_p(n_layers)
    if n_layers < 3 or floor >= ALPHA:
        reasons["has_reversal"] = (
            f"{n_layers} layers cannot show a reversal of G(t): the smallest permutation "
            f"p-value is {floor:.3g}"
        )
        return {}
    if n_steps < 6:
        reasons["has_reversal"] = f"needs ≥ 6 snapshots (have {n_steps})"
        return {}
    if not np.isfinite(c).all():
        reasons["has_reversal"] = "some compression values are NaN (stable rank missing)"
        return {}
    test = reversal.reversal_test(c, tail)
    out = {"end_gradient": as_float(test.end_gradient), "reversal_p": as_float(test.p)}
    g = reversal.band_gradient(c)
    before = -test.end_sign * g[: n_steps - reversal.end_window(n_steps, tail)]
    i = int(before.argmax())
    out["peak_step"], out["peak_value"] = float(steps[i]), float(g[i])
    out["has_reversal"] = bool(reversal.decide(test))
    if not out["has_reversal"]:
        reasons["reversal_step"] = (
            f"no significant reversal (p = {test.p_end:.3g} at the end, "
            f"{test.p_opposite:.3g} for the opposite sign before it)"
        )
        return out
    base = reversal.baseline_variance(raw, c)
    cross = reversal.crossing(steps, g, reversal.band_gradient(raw), test.end_sign, base, tail)
    out["reversal_step"] = as_float(cross.step)
    out["reversal_step_ci"] = as_interval(cross.lo, cross.hi)
    if out["reversal_step_ci"] is None:
        reasons["reversal_step_ci"] = "G's slope at the crossing is not significant"
    return out
