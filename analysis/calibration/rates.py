"""Calibration harness: false-positive rates under nulls and CI coverage under planted truth.

Every function simulates `n` runs at once (`analysis.calibration.simulate`) and passes them through the
same batched cores the analyses use (onsets, exact rank tests, band permutations, quadratic
fits, drift and timing tests, log–log fits), so what is measured is what a report decides.
Each returns a `Rate`: how often a decision fired (under a null: the false-positive rate) or an
interval covered the truth. `tests/analysis/calibration/test_calibration.py` checks them with fixed seeds;
`bench/calibration.py` prints the full table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from analysis.calibration.simulate import (
    Noise,
    Profile,
    Wave,
    compression_of,
    noisy_alpha,
    profile_alpha,
    rel_depth,
    stable_rank,
    wave_compression,
)
from analysis.calibration.simulate import (
    ar1 as ar1_noise,
)
from analysis.lifecycle import reversal
from analysis.lifecycle.asymmetry import log_onset, timing_test
from analysis.lifecycle.persistence import drift_test
from analysis.lifecycle.quadratic import MIN_U_LAYERS, fit_quadratic
from analysis.lifecycle.scaling import loglog_fit, vertex_shift_fit
from analysis.lifecycle.wave import onsets, wave_test
from analysis.stats import ALPHA, min_spearman_p, ols, polynomial_design, smooth_time, t_interval

STEPS = np.arange(0, 4001, 50).astype(float)
NULL_WAVE = Wave(delay=0.0, a0=0.4, a1=0.0)  # every layer compresses alike
NO_REVERSAL = Wave(a1=0.0)  # a wave whose layers all end equally compressed
NOISE = Noise()
DRIFT_NOISE = Noise(ar=0.3)  # snapshots of α correlated in time


@dataclass(frozen=True)
class Rate:
    """`hits` of `n` simulated runs; `refused` when the decision is not made at this depth."""

    hits: int
    n: int
    refused: bool = False

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else math.nan

    def above(self, p: float, alpha: float = 0.01) -> bool:
        """Is the rate significantly above p (one-sided binomial test at `alpha`)?"""
        return bool(sps.binomtest(self.hits, self.n, p, alternative="greater").pvalue < alpha)

    def differs(self, p: float, alpha: float = 0.01) -> bool:
        """Is the rate significantly different from p (two-sided binomial test at `alpha`)?"""
        return bool(sps.binomtest(self.hits, self.n, p).pvalue < alpha)

    def __str__(self) -> str:
        return "refused" if self.refused else f"{self.rate:.3f} ({self.hits}/{self.n})"


def _count(hits: np.ndarray) -> Rate:
    return Rate(int(np.sum(hits)), int(np.size(hits)))


def _compression(rng: np.random.Generator, n: int, layers: int, wave: Wave, noise: Noise):
    c = compression_of(stable_rank(rng, n, wave_compression(STEPS, layers, wave), noise))
    return smooth_time(c.swapaxes(0, 1), 3).swapaxes(0, 1), c


# -- compression wave ----------------------------------------------------------------------------


def wave_false_positives(layers: int, n: int, seed: int = 0, noise: Noise = NOISE) -> Rate:
    """has_wave under uniform compression (onsets do not depend on depth)."""
    if min_spearman_p(layers) >= ALPHA:
        return Rate(0, n, refused=True)
    c, _ = _compression(np.random.default_rng(seed), n, layers, NULL_WAVE, noise)
    onset, _ = onsets(STEPS, c, 0.02)
    _, p = wave_test(onset)
    return _count(p < ALPHA)


def wave_speed_coverage(layers: int, n: int, seed: int = 0, noise: Noise = NOISE) -> Rate:
    """95% t-interval of the onset slope covers the slope of the noise-free onsets.

    (Those differ from the planted delay / (L − 1) only by the probe grid's interpolation,
    ~0.02% here: a property of the probe interval, not of the statistics.)"""
    wave = Wave()
    c, _ = _compression(np.random.default_rng(seed), n, layers, wave, noise)
    design = polynomial_design(np.arange(layers), 1)
    fit = ols(design, onsets(STEPS, c, 0.02)[0])
    lo, hi = t_interval(fit.coef[..., 1], fit.se(1), fit.dof)
    clean = wave_compression(STEPS, layers, wave)
    truth = ols(design, onsets(STEPS, smooth_time(clean, 3), 0.02)[0]).coef[1]
    return _count((lo <= truth) & (truth <= hi))


# -- reversal of G(t) ----------------------------------------------------------------------------


def reversal_false_positives(
    layers: int, n: int, seed: int = 0, noise: Noise = NOISE, wave: Wave = NO_REVERSAL
) -> Rate:
    """has_reversal under a wave whose layers all end alike (or any wave given)."""
    if reversal.min_reversal_p(layers) >= ALPHA:
        return Rate(0, n, refused=True)
    c, _ = _compression(np.random.default_rng(seed), n, layers, wave, noise)
    return _count(reversal.decide(reversal.reversal_test(c)))


def reversal_step_coverage(layers: int, n: int, seed: int = 0, noise: Noise = NOISE) -> Rate:
    """95% Fieller interval of the crossing covers the noise-free G's zero crossing."""
    wave = Wave()
    c, raw = _compression(np.random.default_rng(seed), n, layers, wave, noise)
    test = reversal.reversal_test(c)
    g, g_raw = reversal.band_gradient(c), reversal.band_gradient(raw)
    base = reversal.baseline_variance(raw, c)
    cross = reversal.crossing(STEPS, g, g_raw, test.end_sign, base)
    fine = np.arange(0, STEPS[-1] + 1, 1.0)
    g_true = reversal.band_gradient(wave_compression(fine, layers, wave))
    low = int(np.argmin(g_true))
    truth = fine[low + int(np.argmax(g_true[low:] > 0))]
    found = np.isfinite(cross.lo)
    return _count(found & (cross.lo <= truth) & (truth <= cross.hi))


# -- α profile -----------------------------------------------------------------------------------


def _profiles(rng: np.random.Generator, n: int, layers: int, profile: Profile, sd: float):
    clean = profile.top - profile.k * (rel_depth(layers) - profile.vertex) ** 2
    return clean + sd * rng.standard_normal((n, layers))


def inverted_u_false_positives(
    layers: int, n: int, seed: int = 0, sd: float = 0.2, vertex: float = 1.0
) -> Rate:
    """is_inverted_u for a profile that rises to its peak at x = `vertex` ≥ 1 (no U inside)."""
    if layers < MIN_U_LAYERS:
        return Rate(0, n, refused=True)
    alpha = _profiles(np.random.default_rng(seed), n, layers, Profile(k=1.0, vertex=vertex), sd)
    return _count(fit_quadratic(rel_depth(layers), alpha).p_inverted_u < ALPHA)


def profile_coverage(layers: int, n: int, seed: int = 0, sd: float = 0.2) -> dict[str, Rate]:
    """Coverage of the curvature t-interval and of the vertex Fieller interval (planted U).

    The vertex interval exists only when the curvature is significant; `vertex` counts
    coverage among those, `vertex_reported` how often one was reported."""
    planted = Profile(k=2.0, vertex=0.35)
    alpha = _profiles(np.random.default_rng(seed), n, layers, planted, sd)
    fit = fit_quadratic(rel_depth(layers), alpha)
    lo, hi = t_interval(fit.curvature, fit.curvature_se, fit.dof)
    curv = -2 * planted.k
    bounded = np.isfinite(fit.vertex_lo)
    vertex_ok = (fit.vertex_lo <= planted.vertex) & (planted.vertex <= fit.vertex_hi)
    return {
        "curvature": _count((lo <= curv) & (curv <= hi)),
        "vertex": _count(vertex_ok[bounded]),
        "vertex_reported": _count(bounded),
    }


# -- persistence ---------------------------------------------------------------------------------


def persistence_false_positives(
    layers: int, n: int, seed: int = 0, tol: float = 0.2, noise: Noise = DRIFT_NOISE
) -> Rate:
    """`settled` for a profile whose shape drifts by exactly `tol` of itself over the window."""
    steps = STEPS[-math.ceil(len(STEPS) / 3) :]
    ramp = (steps - steps[0]) / (steps[-1] - steps[0])
    growth = tol / (1 - tol / 2)  # change / mean size = tol over the window
    shape = profile_alpha(np.array([1e9]), layers, Profile())[0]
    clean = 3.0 + (shape - shape.mean())[None, :] * (1 + growth * ramp)[:, None]
    alpha = noisy_alpha(np.random.default_rng(seed), n, clean, noise)
    return _count(drift_test(steps, alpha, tol).settled)


def settled_power(
    layers: int, n: int, seed: int = 0, tol: float = 0.2, noise: Noise = DRIFT_NOISE
) -> Rate:
    """`settled` for a profile that does not move at all (how often persistence is shown)."""
    steps = STEPS[-math.ceil(len(STEPS) / 3) :]
    clean = profile_alpha(np.full(len(steps), 1e9), layers, Profile())
    alpha = noisy_alpha(np.random.default_rng(seed), n, clean, noise)
    return _count(drift_test(steps, alpha, tol).settled)


# -- Q/K–V asymmetry -----------------------------------------------------------------------------


def asymmetry_false_positives(
    layers: int, n: int, seed: int = 0, noise: Noise = NOISE, qk: Wave = NULL_WAVE
) -> Rate:
    """`asymmetric` when Q/K timing is `qk` and V/O is the same kind of run (default: neither
    depends on depth)."""
    if layers < 5:
        return Rate(0, n, refused=True)
    rng = np.random.default_rng(seed)
    c_qk, _ = _compression(rng, n, layers, qk, noise)
    c_vo, _ = _compression(rng, n, layers, qk, noise)
    test = timing_test(
        rel_depth(layers), log_onset(STEPS, c_qk, 0.02), log_onset(STEPS, c_vo, 0.02)
    )
    return _count(test.asymmetric(0.5))


# -- across depths -------------------------------------------------------------------------------


def _amplitudes(
    rng: np.random.Generator, depths: tuple[int, ...], n: int, amplitude: np.ndarray, sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Shrunk Δα, its SE and profile p-values `[n, depths]` for planted U amplitudes."""
    deltas, ses, ps = [], [], []
    for depth, amp in zip(depths, amplitude, strict=True):
        x = rel_depth(depth)
        shape = -((x - 0.35) ** 2) / (1 - 0.35) ** 2  # range 1 over [0, 1]
        fit = fit_quadratic(x, 3 + amp * shape + sd * rng.standard_normal((n, depth)))
        deltas.append(fit.amplitude)
        ses.append(fit.amplitude_se)
        ps.append(fit.p_profile)
    return np.stack(deltas, -1), np.stack(ses, -1), np.stack(ps, -1)


def scaling_false_positives(
    depths: tuple[int, ...], n: int, seed: int = 0, sd: float = 0.2, amplitude: float = 0.0
) -> Rate:
    """beta_nonzero when Δα does not change with depth (0: α is pure noise)."""
    rng = np.random.default_rng(seed)
    delta, _, p = _amplitudes(rng, depths, n, np.full(len(depths), amplitude), sd)
    decided = (p < ALPHA).all(-1) & (delta > 0).all(-1)
    positive = np.where(decided[:, None], delta, 1.0)
    fit = loglog_fit(np.array(depths, float), positive)
    return _count(decided & ((fit.lo > 0) | (fit.hi < 0)))


def beta_coverage(
    depths: tuple[int, ...], n: int, seed: int = 0, sd: float = 0.05, beta: float = 0.26
) -> Rate:
    """95% t-interval of β covers the planted exponent (Δα = 0.3·L^β, α noise `sd`)."""
    rng = np.random.default_rng(seed)
    truth = 0.3 * np.array(depths, float) ** beta
    delta, _, _ = _amplitudes(rng, depths, n, truth, sd)
    ok = (delta > 0).all(-1)
    fit = loglog_fit(np.array(depths, float), delta[ok])
    return _count((fit.lo <= beta) & (beta <= fit.hi))


def range_beta_false_positives(
    depths: tuple[int, ...], n: int, seed: int = 0, sd: float = 0.2
) -> Rate:
    """What Δα = max − min over layers and an ordinary log–log fit give on pure noise: how
    often β's interval excludes 0 (the range grows with the number of layers by itself)."""
    rng = np.random.default_rng(seed)
    ranges = np.stack([np.ptp(sd * rng.standard_normal((n, d)), -1) for d in depths], -1)
    fit = ols(polynomial_design(np.log(depths), 1), np.log(ranges))
    lo, hi = t_interval(fit.coef[..., 1], fit.se(1), fit.dof)
    return _count((lo > 0) | (hi < 0))


def vertex_shift(
    depths: tuple[int, ...], n: int, seed: int = 0, sd: float = 0.05, slope: float = 0.0
) -> Rate:
    """vertex_moves (slope = 0: false positives) or slope coverage (slope ≠ 0)."""
    rng = np.random.default_rng(seed)
    vertices, supported = [], []
    for depth in depths:
        x = rel_depth(depth)
        v = 0.5 + slope * math.log(depth / depths[0])
        fit = fit_quadratic(x, 3 - 2 * (x - v) ** 2 + sd * rng.standard_normal((n, depth)))
        vertices.append(fit.vertex)
        supported.append(fit.p_inverted_u < ALPHA)
    vertex = np.stack(vertices, -1)
    ok = np.stack(supported, -1).all(-1)
    _, lo, hi = vertex_shift_fit(np.array(depths, float), vertex)
    if slope == 0:
        return _count(ok & ((lo > 0) | (hi < 0)))
    return _count((lo <= slope) & (slope <= hi))


# -- two-timescale model -------------------------------------------------------------------------


def two_timescale_coverage(
    n: int, seed: int = 0, layers: int = 6, noise: float = 0.01, ar: float = 0.3
) -> dict[str, Rate]:
    """The 95% intervals of τ_fast and τ_slow covering the planted values, for runs
    simulated from the model itself (AR(`ar`) noise of SD `noise` on c and 10·`noise` on α)."""
    import pandas as pd

    from analysis.lifecycle.two_timescale import fast_basis, fit_two_timescale
    from analysis.run import Run

    steps = np.arange(0, 2001, 50).astype(float)
    s, x = steps / steps[-1], rel_depth(layers)
    tau_f, tau_s, delay = 100.0, 600.0, 800.0
    c = fast_basis(s, x, tau_f / steps[-1], delay / steps[-1], 0.002) @ np.array([0.3, 0.3])
    target = 3 - 2 * (x - 0.35) ** 2
    decay = np.exp(-steps / tau_s)[:, None]
    alpha = target * (1 - decay) + 5 * decay
    rng = np.random.default_rng(seed)
    hits = {"tau_fast": 0, "tau_slow": 0}
    for _ in range(n):
        eps = ar1_noise(rng, (2, len(steps), layers), ar)
        c_obs = c + noise * eps[0]
        c_obs[0] = 0.0
        rows = {
            "step": np.repeat(steps, layers),
            "layer": np.tile(np.arange(layers), len(steps)),
            "kind": "q",
            "stable_rank": (30 * (1 - c_obs)).ravel(),
            "alpha": (alpha + 10 * noise * eps[1]).ravel(),
        }
        fit = fit_two_timescale(Run.from_frame(pd.DataFrame(rows)))
        for name, truth in (("tau_fast", tau_f), ("tau_slow", tau_s)):
            ci = fit.intervals.get(name)
            hits[name] += bool(ci is not None and ci[0] <= truth <= ci[1])
    return {name: Rate(h, n) for name, h in hits.items()}
