"""Calibration harness, compression decisions: how often the wave, the reversal of G(t) and the
Q/K–V asymmetry fire under nulls (false positives) and under planted effects (power), and how
often the wave speed and reversal step intervals cover planted truth.

Every function simulates `n` runs at once (`analysis.calibration.simulate`) with a `Noise` —
independent or correlated between adjacent layers, AR(1) in time, SD growing with depth — and
passes them through the batched cores the analyses use (onsets, the noise estimate, GLS over
layers, whitened layer permutations), so what is measured is what a report decides. A run
whose noise the analysis refuses to estimate is counted under `declined`, not as a decision.
α-profile decisions: `analysis.calibration.profile_rates`; the two-timescale model:
`analysis.calibration.model_rates`; the grid over noise structures: `analysis.calibration.grid`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from analysis.calibration.simulate import (
    INDEPENDENT,
    Noise,
    Wave,
    compression_of,
    rel_depth,
    stable_rank,
    wave_compression,
)
from analysis.lifecycle import reversal
from analysis.lifecycle.asymmetry import MIN_LAYERS, group_noise, log_onset, timing_test
from analysis.lifecycle.wave import (
    MIN_COMPRESSION,
    MIN_WAVE_LAYERS,
    SMOOTH,
    onsets,
    rank_noise,
    wave_test,
)
from analysis.stats import ALPHA, polynomial_design, smooth_time
from analysis.stats.gls import gls
from analysis.stats.noise import depth_sd, usable

STEPS = np.arange(0, 4001, 50).astype(float)  # 81 snapshots
NULL_WAVE = Wave(delay=0.0, a0=0.4, a1=0.0)  # every layer compresses alike: a shared trend
NO_REVERSAL = Wave(a1=0.0)  # a wave whose layers all end equally compressed
WEAK_WAVE = Wave(delay=100.0, a1=0.0)  # a wave 100 steps from the first to the last layer
NOISE = INDEPENDENT  # the grid's baseline (simulate.INDEPENDENT)


@dataclass(frozen=True, kw_only=True)
class Rate:
    """`hits` of `n` decided runs; `declined` runs the analysis refused (noise it could not
    estimate); `refused`: the decision is not made at this depth at all."""

    hits: int
    n: int
    refused: bool = False
    declined: int = 0

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else math.nan

    def above(self, p: float, alpha: float = 0.01) -> bool:
        """Is the rate significantly above p (one-sided binomial test at `alpha`)?"""
        return bool(sps.binomtest(self.hits, self.n, p, alternative="greater").pvalue < alpha)

    def below(self, p: float, alpha: float = 0.01) -> bool:
        """Is the rate significantly below p (one-sided binomial test at `alpha`)?"""
        return bool(sps.binomtest(self.hits, self.n, p, alternative="less").pvalue < alpha)

    def differs(self, p: float, alpha: float = 0.01) -> bool:
        """Is the rate significantly different from p (two-sided binomial test at `alpha`)?"""
        return bool(sps.binomtest(self.hits, self.n, p).pvalue < alpha)

    def __str__(self) -> str:
        if self.refused:
            return "refused"
        if not self.n:
            return f"all {self.declined} declined"
        out = f"{self.rate:.3f} ({self.hits}/{self.n})"
        return out + (f", {self.declined} declined" if self.declined else "")


def count(
    hits: np.ndarray, decided: np.ndarray | None = None, among: np.ndarray | None = None
) -> Rate:
    """A Rate of `hits` among the `decided` runs (default: all; the others are `declined`),
    restricted to `among` (e.g. runs that report the interval) without counting the rest."""
    hits = np.asarray(hits, bool)
    decided = np.ones(hits.shape, bool) if decided is None else np.asarray(decided, bool)
    among = decided if among is None else decided & np.asarray(among, bool)
    return Rate(hits=int((hits & among).sum()), n=int(among.sum()), declined=int((~decided).sum()))


def simulate_compression(
    rng: np.random.Generator, n: int, layers: int, wave: Wave, noise: Noise
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed and raw compression `[n, T, L]` of simulated runs."""
    c = compression_of(stable_rank(rng, n, wave_compression(STEPS, layers, wave), noise))
    return smooth_time(c.swapaxes(0, 1), SMOOTH).swapaxes(0, 1), c


# -- compression wave ----------------------------------------------------------------------------


def _wave_fits(layers: int, n: int, seed: int, noise: Noise, wave: Wave):
    c, raw = simulate_compression(np.random.default_rng(seed), n, layers, wave, noise)
    onset, peak = onsets(STEPS, c, MIN_COMPRESSION)
    est = rank_noise(raw)
    complete = np.isfinite(onset).all(-1)
    test = wave_test(np.where(complete[:, None], onset, 0.0), est, np.where(peak > 0, peak, 1.0))
    return test, usable(est) & complete


def wave_rate(layers: int, n: int, seed: int = 0, noise: Noise = NOISE, wave: Wave = NULL_WAVE):
    """has_wave: false positives under `NULL_WAVE` (every layer compresses at once), power
    under a planted wave."""
    if layers < MIN_WAVE_LAYERS:
        return Rate(hits=0, n=n, refused=True)
    test, decided = _wave_fits(layers, n, seed, noise, wave)
    return count(test.p < ALPHA, decided)


def wave_speed_coverage(layers: int, n: int, seed: int = 0, noise: Noise = NOISE) -> Rate:
    """The 95% GLS interval of the onset slope covers the slope of the noise-free onsets
    (those differ from the planted delay / (L − 1) only by the probe grid's interpolation)."""
    if layers < MIN_WAVE_LAYERS:
        return Rate(hits=0, n=n, refused=True)
    wave = Wave()
    test, decided = _wave_fits(layers, n, seed, noise, wave)
    lo, hi = test.interval()
    clean = smooth_time(wave_compression(STEPS, layers, wave), SMOOTH)
    clean_onset, _ = onsets(STEPS, clean, MIN_COMPRESSION)
    slope = gls(polynomial_design(np.arange(layers), 1), clean_onset, 0.0).coef[1]
    return count((lo <= slope) & (slope <= hi), decided)


# -- reversal of G(t) ----------------------------------------------------------------------------


def reversal_rate(
    layers: int, n: int, seed: int = 0, noise: Noise = NOISE, wave: Wave = NO_REVERSAL
) -> Rate:
    """has_reversal: false positives under a wave whose layers all end alike (or no wave),
    power under a wave that reverses (`Wave()`)."""
    if reversal.min_reversal_p(layers) >= ALPHA:
        return Rate(hits=0, n=n, refused=True)
    c, raw = simulate_compression(np.random.default_rng(seed), n, layers, wave, noise)
    est = rank_noise(raw)
    test = reversal.reversal_test(c, est.layer_corr, depth_sd(est))
    return count(reversal.decide(test), usable(est))


def reversal_step_coverage(layers: int, n: int, seed: int = 0, noise: Noise = NOISE) -> Rate:
    """The 95% Fieller interval of the crossing covers the noise-free G's zero crossing, among
    runs where it is bounded (the report shows it only beside a supported reversal; at 8
    layers the planted reversal is rarely supported, so the interval is measured on its own)."""
    if reversal.min_reversal_p(layers) >= ALPHA:
        return Rate(hits=0, n=n, refused=True)
    wave = Wave()
    c, raw = simulate_compression(np.random.default_rng(seed), n, layers, wave, noise)
    est = rank_noise(raw)
    rho = np.clip(np.nan_to_num(est.layer_corr), 0, None)
    test = reversal.reversal_test(c, rho, depth_sd(est))
    g, g_raw = reversal.band_gradient(c), reversal.band_gradient(raw)
    base = reversal.baseline_variance(raw, c, rho)
    noise_g = reversal.gradient_noise(raw, rho)
    cross = reversal.crossing(STEPS, g, g_raw, test.end_sign, noise=noise_g, baseline_var=base)
    fine = np.arange(0, STEPS[-1] + 1, 1.0)
    g_true = reversal.band_gradient(wave_compression(fine, layers, wave))
    low = int(np.argmin(g_true))
    truth = fine[low + int(np.argmax(g_true[low:] > 0))]
    reported = np.isfinite(cross.lo)
    return count((cross.lo <= truth) & (truth <= cross.hi), usable(est), reported)


# -- Q/K–V asymmetry -----------------------------------------------------------------------------


def asymmetry_rate(
    layers: int,
    n: int,
    seed: int = 0,
    noise: Noise = NOISE,
    qk: Wave = NULL_WAVE,
    vo: Wave | None = None,
) -> Rate:
    """`asymmetric` when Q/K compress as `qk` and V/O as `vo` (default: like Q/K). False
    positives: neither depends on depth, or both do; power: a Q/K wave over uniform V/O."""
    if layers < MIN_LAYERS:
        return Rate(hits=0, n=n, refused=True)
    rng = np.random.default_rng(seed)
    c_qk, raw_qk = simulate_compression(rng, n, layers, qk, noise)
    c_vo, raw_vo = simulate_compression(rng, n, layers, qk if vo is None else vo, noise)
    log_qk = log_onset(STEPS, c_qk, MIN_COMPRESSION)
    log_vo = log_onset(STEPS, c_vo, MIN_COMPRESSION)
    complete = np.isfinite(log_qk).all(-1) & np.isfinite(log_vo).all(-1)
    noise_est = group_noise(raw_qk, raw_vo)
    test = timing_test(
        rel_depth(layers),
        np.where(complete[:, None], log_qk, 0.0),
        np.where(complete[:, None], log_vo, 0.0),
        noise_est,
    )
    decided = complete & np.logical_and.reduce([usable(e) for e in noise_est.values()])
    return count(test.asymmetric(0.5), decided)
