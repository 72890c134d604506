"""Planted runs for the analysis tests, built from `analysis.calibration.simulate` and written as stores.

`lifecycle_frame` plants, for L layers and snapshots every 50 steps up to 4000:
- q, k: a compression wave c_l(t) = (A0 + A1·x_l)·(1 − exp(−(t − DELAY·x_l)/TAU_F)) after the
  delay (late layers end more compressed → G(t) reverses);
- v, o: depth-independent compression 0.4·(1 − exp(−t/TAU_F));
- every kind: α_l(t) = α*(x_l) + (ALPHA_INIT − α*(x_l))·exp(−t/TAU_S), the inverted U
  α*(x) = ALPHA_TOP − K·(x − VERTEX)²;
with 1% multiplicative noise on the stable rank and N(0, ALPHA_NOISE) noise on α.
`null_frame` plants none of it: every kind compresses uniformly, α is linear in depth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.calibration import simulate
from analysis.calibration.simulate import INDEPENDENT, Noise, Profile, Wave, write_run

STEPS = simulate.STEPS
KINDS = ("k", "o", "q", "v")
WAVE = Wave()
A0, A1, DELAY, TAU_F = WAVE.a0, WAVE.a1, WAVE.delay, WAVE.tau
PROFILE = Profile()
TAU_S, ALPHA_INIT, ALPHA_TOP, K, VERTEX = (
    PROFILE.tau,
    PROFILE.init,
    PROFILE.top,
    PROFILE.k,
    PROFILE.vertex,
)
ALPHA_NOISE = 0.05
NOISE = replace(INDEPENDENT, alpha=ALPHA_NOISE)
UNIFORM = Wave(delay=0.0, a0=0.4, a1=0.0)
WIDTH = simulate.WIDTH

__all__ = ["write_run"]


def wave_compression(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Noise-free planted q/k compression `[T, L]`."""
    return simulate.wave_compression(t, len(x), WAVE)


def planted_alpha(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Noise-free planted α `[T, L]`."""
    return simulate.profile_alpha(t, len(x), PROFILE)


def _kinds_frame(
    steps: np.ndarray,
    n_layers: int,
    waves: dict[str, Wave],
    profile: Profile,
    seed: int,
    embed: bool,
    noise: Noise = NOISE,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stable, alpha = {}, {}
    clean_alpha = simulate.profile_alpha(steps, n_layers, profile)
    for kind, wave in waves.items():
        c = simulate.wave_compression(steps, n_layers, wave)
        stable[kind] = simulate.stable_rank(rng, 1, c, noise)[0]
        alpha[kind] = simulate.noisy_alpha(rng, 1, clean_alpha, noise)[0]
    return simulate.frame(steps, stable, alpha, seed=seed, embed=embed)


def lifecycle_frame(
    n_layers: int = 12, seed: int = 0, steps: np.ndarray = STEPS, embed: bool = False
) -> pd.DataFrame:
    waves = {k: WAVE if k in ("q", "k") else UNIFORM for k in KINDS}
    return _kinds_frame(steps, n_layers, waves, PROFILE, seed, embed)


def null_frame(n_layers: int = 12, seed: int = 1, steps: np.ndarray = STEPS) -> pd.DataFrame:
    """Uniform compression in every kind; α = 3 + 0.3·x (linear, no U) from the start."""
    linear = Profile(top=3.0, k=0.0, init=3.0)
    frame = _kinds_frame(steps, n_layers, dict.fromkeys(KINDS, UNIFORM), linear, seed, False)
    frame["alpha"] += 0.3 * frame["layer"] / (n_layers - 1)
    return frame


def scaling_frame(n_layers: int, delta_alpha: float, steps: np.ndarray) -> pd.DataFrame:
    """α with a noise-free inverted U whose range over x ∈ [0, 1] is exactly `delta_alpha`."""
    x = np.arange(n_layers) / (n_layers - 1)
    shape = -((x - VERTEX) ** 2) / (1 - VERTEX) ** 2  # range 1 over [0, 1]
    alpha = np.repeat((3.0 + delta_alpha * shape)[None, :], len(steps), 0)
    stable = np.full((len(steps), n_layers), 40.0)
    return simulate.frame(steps, {"q": stable, "v": stable}, {"q": alpha, "v": alpha})


@dataclass(frozen=True, kw_only=True)
class Sweep:
    """Runs of several depths with a planted scaling law Δα = c·L^β·exp(noise)."""

    paths: list[Path]
    depths: tuple[int, ...]
    delta_alpha: np.ndarray
    beta: float
    c: float


def write_sweep(
    root: Path,
    depths: tuple[int, ...] = (4, 8, 12, 16, 24, 36),
    beta: float = 0.26,
    c: float = 0.3,
    noise: float = 0.02,
) -> Sweep:
    """One run per depth under `root`, written with `scaling_frame`."""
    eps = np.random.default_rng(7).normal(0, noise, len(depths))
    deltas = c * np.array(depths, float) ** beta * np.exp(eps)
    paths = []
    for depth, delta in zip(depths, deltas, strict=True):
        frame = scaling_frame(depth, float(delta), np.array([0, 500, 1000]))
        paths.append(write_run(frame, root / f"L{depth}", n_layers=depth, losses=False))
    return Sweep(paths=paths, depths=depths, delta_alpha=deltas, beta=beta, c=c)
