"""The transient compression wave: stable-rank compression travelling from early to late layers.

Definitions (per layer l, over the chosen kinds):

- compression c_l(t) = (R_s(t₀) − R_s(t)) / R_s(t₀), R_s the stable rank and t₀ the first
  snapshot (the initialisation, step 0, in a fresh run); computed per kind and then averaged
  over the kinds, then smoothed in time by a centred moving average of `smooth` snapshots.
- onset_l: the first step at which c_l reaches half of its maximum over the run (linear
  interpolation between snapshots); none when the maximum is below `min_compression`.
- wave speed: the least-squares slope s of onset on layer index (steps per layer), reported as
  1000 / s layers per 1k steps, with a layer-bootstrap 95% CI (stats.py) and Spearman ρ of onset
  vs depth. `has_wave` needs the slope's CI to exclude 0 and Spearman p < 0.05; the speed is
  null otherwise (onsets do not move with depth).
- G(t) = mean c over the last third of layers − mean c over the first third (⌊L/3⌋ layers
  each, L ≥ 3). During an early-to-late wave G < 0. Its peak is the extreme of G with the sign
  G first takes; the reversal is the first zero crossing after the peak after which G reaches
  the opposite sign by more than max(`min_gradient`, 10% of |peak|). |G| below `min_gradient`
  counts as no gradient (peak and reversal null).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from analysis.results import Analysis
from analysis.run import Run, load_run
from analysis.stats import (
    N_BOOT,
    bootstrap_counts,
    nanmean,
    percentile_ci,
    smooth_time,
    spearman,
    weighted_linfit,
)

REVERSAL_FRACTION = 0.1


@dataclass(frozen=True, kw_only=True)
class WaveSummary:
    """Onsets, wave speed and the events of G(t); `reasons` says why a field is null."""

    title: ClassVar[str] = "compression wave (stable rank; speed in layers per 1k steps)"
    kinds: tuple[str, ...]
    onset: np.ndarray  # [L] steps (NaN: no onset)
    max_compression: np.ndarray  # [L]
    slope: float | None  # steps per layer
    slope_ci: tuple[float, float] | None
    speed: float | None  # layers per 1k steps
    speed_ci: tuple[float, float] | None
    spearman_rho: float | None
    spearman_p: float | None
    has_wave: bool
    direction: str | None  # "early_to_late" | "late_to_early"
    peak_step: float | None
    peak_value: float | None
    reversal_step: float | None
    n_boot: int
    seed: int
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
        if rs.shape[0] == 0:
            per_kind.append(rs)
            continue
        base = rs[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_kind.append(np.where(base > 0, (base - rs) / np.where(base > 0, base, 1), np.nan))
    if not per_kind:
        return np.zeros((len(run.steps), run.n_layers))
    return nanmean(np.stack(per_kind), axis=0)


def onsets(steps: np.ndarray, c: np.ndarray, min_compression: float) -> tuple[np.ndarray, ...]:
    """Half-maximum onset step and maximum compression of each column of c `[T, L]`."""
    n_layers = c.shape[1]
    onset, peak = np.full(n_layers, np.nan), np.full(n_layers, np.nan)
    for l in range(n_layers):
        col = c[:, l]
        if not np.isfinite(col).any():
            continue
        peak[l] = np.nanmax(col)
        if peak[l] < min_compression:
            continue
        half = peak[l] / 2
        i = int(np.argmax(np.where(np.isfinite(col), col, -np.inf) >= half))
        if i == 0 or not np.isfinite(col[i - 1]):
            onset[l] = steps[i]
        else:
            frac = (half - col[i - 1]) / (col[i] - col[i - 1])
            onset[l] = steps[i - 1] + frac * (steps[i] - steps[i - 1])
    return onset, peak


def _crossing(steps: np.ndarray, g: np.ndarray, i: int) -> float:
    """Step where g crosses zero between snapshots i−1 and i (linear interpolation)."""
    a, b = g[i - 1], g[i]
    if not (np.isfinite(a) and np.isfinite(b)) or a == b:
        return float(steps[i])
    return float(steps[i - 1] + a / (a - b) * (steps[i] - steps[i - 1]))


def gradient_events(
    steps: np.ndarray, g: np.ndarray, min_gradient: float
) -> tuple[float | None, float | None, float | None, str | None]:
    """(peak_step, peak_value, reversal_step, reason) of G(t) as defined in the module doc."""
    finite = np.isfinite(g)
    if not finite.any() or np.nanmax(np.abs(g)) < min_gradient:
        return None, None, None, f"|G| never exceeds min_gradient={min_gradient}"
    first = int(np.argmax(finite & (np.abs(g) >= min_gradient)))
    sign = float(np.sign(g[first]))
    signed = np.where(finite, sign * g, np.nan)
    # Walk forward: the peak is the running extreme until G turns to the opposite sign decisively.
    peak_i, reversal = first, None
    for i in range(first, len(g)):
        if not finite[i]:
            continue
        if signed[i] > signed[peak_i]:
            peak_i = i
        if signed[i] < -max(min_gradient, REVERSAL_FRACTION * signed[peak_i]):
            j = i  # back to the start of this stretch of opposite sign: the zero crossing
            while j - 1 > peak_i and not signed[j - 1] >= 0:
                j -= 1
            reversal = _crossing(steps, g, j)
            break
    return float(steps[peak_i]), float(g[peak_i]), reversal, None


def compression_wave(
    run: Run | str | Path,
    kinds: Iterable[str] | str | None = None,
    *,
    smooth: int = 3,
    min_compression: float = 0.02,
    min_gradient: float = 0.01,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> WaveResult:
    """Onsets, wave speed (bootstrap CI, Spearman ρ) and the early-vs-late gradient G(t)."""
    run = load_run(run)
    kinds = run.resolve_kinds(kinds)
    steps = run.steps.astype(float)
    c = smooth_time(compression(run, kinds), smooth)
    reasons: dict[str, str] = {}
    n_layers = run.n_layers
    onset = np.full(n_layers, np.nan)
    peak = np.full(n_layers, np.nan)
    slope = slope_ci = speed = speed_ci = rho = p = None
    has_wave, direction = False, None
    if len(steps) < 3:
        reasons["onset"] = f"needs ≥ 3 snapshots (have {len(steps)})"
    else:
        onset, peak = onsets(steps, c, min_compression)
    ok = np.isfinite(onset)
    if len(steps) >= 3 and ok.sum() < 3:
        reasons["slope"] = (
            f"needs ≥ 3 layers whose compression reaches min_compression="
            f"{min_compression} (have {int(ok.sum())})"
        )
    elif ok.sum() >= 3:
        layers = np.arange(n_layers, dtype=float)
        s, _ = weighted_linfit(layers[ok], onset[ok], np.ones(int(ok.sum())))
        counts = bootstrap_counts(int(ok.sum()), n_boot, seed)
        boot, _ = weighted_linfit(layers[ok], onset[ok], counts)
        slope, slope_ci = float(s), percentile_ci(boot)
        r, pv = spearman(layers[ok], onset[ok])
        rho, p = (None if math.isnan(r) else r), (None if math.isnan(pv) else pv)
        excludes_zero = slope_ci is not None and (slope_ci[0] > 0 or slope_ci[1] < 0)
        has_wave = bool(excludes_zero and p is not None and p < 0.05)
        if has_wave:
            direction = "early_to_late" if slope > 0 else "late_to_early"
            speed = 1000.0 / slope
            lo, hi = sorted((1000.0 / slope_ci[0], 1000.0 / slope_ci[1]))
            speed_ci = (lo, hi)
        else:
            reasons["speed"] = "no wave: onset does not change significantly with depth"
    g = np.full(len(steps), np.nan)
    peak_step = peak_value = reversal = None
    if n_layers < 3:
        reasons["peak_step"] = f"G(t) needs ≥ 3 layers (have {n_layers})"
    elif len(steps) < 2:
        reasons["peak_step"] = f"G(t) needs ≥ 2 snapshots (have {len(steps)})"
    else:
        third = n_layers // 3
        g = nanmean(c[:, -third:], 1) - nanmean(c[:, :third], 1)
        peak_step, peak_value, reversal, why = gradient_events(steps, g, min_gradient)
        if why:
            reasons["peak_step"] = why
    if reversal is None and "peak_step" not in reasons:
        reasons["reversal_step"] = "G(t) never changes sign"
    summary = WaveSummary(
        kinds=kinds,
        onset=onset,
        max_compression=peak,
        slope=slope,
        slope_ci=slope_ci,
        speed=speed,
        speed_ci=speed_ci,
        spearman_rho=rho,
        spearman_p=p,
        has_wave=has_wave,
        direction=direction,
        peak_step=peak_step,
        peak_value=peak_value,
        reversal_step=reversal,
        n_boot=n_boot,
        seed=seed,
        reasons=reasons,
    )
    return Analysis(summary, WaveCurves(steps=run.steps, compression=c, gradient=g))
