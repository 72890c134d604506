"""Calibration harness, seed groups: how often each claim's test across seeds
(`analysis.lifecycle.seed_tests`) fires under nulls and under planted effects, for groups of 3,
5 and 9 seeds whose runs are simulated independently (`n` groups × k seeds at once) with any
`Noise`. The per-seed statistics come from the same batched cores as the single-run rates. The
two-timescale claim is left out here (a model fit per run).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analysis.calibration import profile_rates as prof
from analysis.calibration import rates as cal
from analysis.calibration.rates import NOISE, Rate, count
from analysis.calibration.simulate import INDEPENDENT, Noise, Wave, rel_depth
from analysis.lifecycle import reversal, seed_tests
from analysis.lifecycle.asymmetry import group_noise, log_onset, timing_test
from analysis.lifecycle.persistence import drift_test, final_third
from analysis.lifecycle.wave import MIN_COMPRESSION
from analysis.stats.noise import estimate_noise

SEEDS = (3, 5, 9)


def _groups(values: np.ndarray, seeds: int) -> np.ndarray:
    """`[n·k]` per-run values → `[n, k]` groups."""
    return values.reshape(-1, seeds)


def wave_rate(layers: int, n: int, seeds: int, seed: int = 0, noise=NOISE, wave=cal.NULL_WAVE):
    """Across seeds: the onset slope differs from 0 (false positives under `NULL_WAVE`)."""
    test, _ = cal._wave_fits(layers, n * seeds, seed, noise, wave)
    return count(seed_tests.wave(_groups(test.slope, seeds))[1])


def reversal_rate(
    layers: int, n: int, seeds: int, seed: int = 0, noise=NOISE, wave=cal.NO_REVERSAL
) -> Rate:
    """Across seeds: G at the end ≠ 0 and G before it of the other sign."""
    c, _ = cal.simulate_compression(np.random.default_rng(seed), n * seeds, layers, wave, noise)
    g = reversal.band_gradient(c)
    n_end = reversal.end_window(c.shape[-2], 0.2)
    end, early = g[:, -n_end:].mean(-1), g[:, :-n_end].mean(-1)
    return count(seed_tests.reversal(_groups(end, seeds), _groups(early, seeds))[1])


def inverted_u_rate(
    layers: int, n: int, seeds: int, seed: int = 0, noise=NOISE, profile=prof.PEAK_AT_LAST
) -> Rate:
    """Across seeds: α's slope at the first layer > 0 and at the last < 0."""
    fit, _, _ = prof.profile_fits(layers, n * seeds, seed, noise, profile)
    left, right = fit.coef[:, 1], fit.coef[:, 1] + 2 * fit.coef[:, 2]
    return count(seed_tests.inverted_u(_groups(left, seeds), _groups(right, seeds))[1])


def asymmetry_rate(
    layers: int, n: int, seeds: int, seed: int = 0, noise=NOISE, qk=cal.NULL_WAVE, vo=None
) -> Rate:
    """Across seeds: Q/K slope ≠ 0, the difference in its direction, V/O within the margin."""
    rng = np.random.default_rng(seed)
    c_qk, raw_qk = cal.simulate_compression(rng, n * seeds, layers, qk, noise)
    c_vo, raw_vo = cal.simulate_compression(rng, n * seeds, layers, vo or qk, noise)
    log_qk = log_onset(cal.STEPS, c_qk, MIN_COMPRESSION)
    log_vo = log_onset(cal.STEPS, c_vo, MIN_COMPRESSION)
    test = timing_test(rel_depth(layers), log_qk, log_vo, group_noise(raw_qk, raw_vo))
    qk_s, vo_s, diff = (_groups(v, seeds) for v in (test.qk, test.vo, test.diff))
    return count(seed_tests.asymmetry(qk_s, vo_s, diff, 0.5)[1])


def persistence_rate(
    layers: int, n: int, seeds: int, seed: int = 0, *, drift: float, noise=prof.DRIFT_NOISE
) -> Rate:
    """Across seeds: the mean drift is below the tolerance (0.2), for shapes that change by
    `drift` of themselves over the final third."""
    window = final_third(len(cal.STEPS))
    ramp = np.clip((np.arange(len(cal.STEPS)) - (len(cal.STEPS) - window)) / (window - 1), 0, 1)
    growth = drift / (1 - drift / 2)
    shape = prof.profile_alpha(np.array([1e9]), layers, prof.PLANTED_U)[0]
    clean = 3.0 + (shape - shape.mean())[None, :] * (1 + growth * ramp)[:, None]
    alpha = prof.noisy_alpha(np.random.default_rng(seed), n * seeds, clean, noise)
    time_corr = estimate_noise(alpha).time_corr
    test = drift_test(cal.STEPS[-window:], alpha[:, -window:], 0.2, time_corr)
    return count(seed_tests.persistence(_groups(test.relative, seeds), 0.2)[1])


def _alpha(noise: Noise) -> Noise:
    """The persistence rows' noise: α noise 0.02 per snapshot with `noise`'s correlations."""
    return replace(INDEPENDENT, alpha=0.02, ar=max(noise.ar, 0.5), layer_corr=noise.layer_corr)


def seed_rows(
    n: int = 200, seed: int = 0, layers: int = 12, noises: tuple[Noise, ...] = (NOISE,)
) -> list[tuple[str, str, int, Noise, Rate]]:
    """(decision, measures, seeds, noise, rate) for every claim, group size and noise."""
    rows = []
    for noise in noises:
        for k in SEEDS:
            s = seed + 1000 * k
            rows += [
                ("wave", "false positives", k, noise, wave_rate(layers, n, k, s, noise)),
                ("wave (100 steps end to end)", "power", k, noise,
                 wave_rate(layers, n, k, s + 1, noise, cal.WEAK_WAVE)),
                ("G reversal (wave, no reversal)", "false positives", k, noise,
                 reversal_rate(layers, n, k, s + 2, noise)),
                ("G reversal (planted)", "power", k, noise,
                 reversal_rate(layers, n, k, s + 3, noise, Wave())),
                ("inverted U (peak at last layer)", "false positives", k, noise,
                 inverted_u_rate(layers, n, k, s + 4, noise)),
                ("inverted U (k = 0.5, vertex 0.5)", "power", k, noise,
                 inverted_u_rate(layers, n, k, s + 5, noise, prof.WEAK_U)),
                ("Q/K–V asymmetry (none)", "false positives", k, noise,
                 asymmetry_rate(layers, n, k, s + 6, noise)),
                ("Q/K–V asymmetry (planted)", "power", k, noise,
                 asymmetry_rate(layers, n, k, s + 7, noise, Wave(), cal.NULL_WAVE)),
                ("persistence (drift = tol)", "false positives", k, noise,
                 persistence_rate(layers, n, k, s + 8, drift=0.2, noise=_alpha(noise))),
                ("persistence (drift = tol/2)", "power", k, noise,
                 persistence_rate(layers, n, k, s + 9, drift=0.1, noise=_alpha(noise))),
            ]  # fmt: skip
    return rows
