"""Calibration harness, the two-timescale model: how often the 95% intervals of τ_fast and
τ_slow cover the planted values, for runs simulated from the model itself with noise that may
be AR(1) in time and correlated between adjacent layers. Each run goes through the public
`fit_two_timescale` (a fit per run: the costliest rows of the calibration)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.calibration.rates import Rate
from analysis.calibration.simulate import INDEPENDENT, Noise, rel_depth
from analysis.lifecycle.timescale_model import fast_basis
from analysis.lifecycle.two_timescale import fit_two_timescale
from analysis.run import Run

MODEL_NOISE = replace(INDEPENDENT, alpha=0.1, ar=0.3)  # SD of c and of α per snapshot
TAU_FAST, TAU_SLOW, DELAY = 100.0, 600.0, 800.0


def two_timescale_coverage(
    n: int, seed: int = 0, layers: int = 6, noise: Noise = MODEL_NOISE
) -> dict[str, Rate]:
    """Coverage of the τ_fast and τ_slow intervals over `n` runs of the model (2000 steps,
    probed every 50) with `noise.rank` on c and `noise.alpha` on α."""
    steps = np.arange(0, 2001, 50).astype(float)
    s, x = steps / steps[-1], rel_depth(layers)
    c = fast_basis(s, x, TAU_FAST / steps[-1], DELAY / steps[-1], 0.002) @ np.array([0.3, 0.3])
    target = 3 - 2 * (x - 0.35) ** 2
    decay = np.exp(-steps / TAU_SLOW)[:, None]
    alpha = target * (1 - decay) + 5 * decay
    rng = np.random.default_rng(seed)
    hits = {"tau_fast": 0, "tau_slow": 0}
    for _ in range(n):
        rank_eps = noise.draw(rng, (len(steps), layers), rank=True)
        alpha_eps = noise.draw(rng, (len(steps), layers))
        c_obs = c + noise.rank * rank_eps
        c_obs[0] = 0.0
        rows = {
            "step": np.repeat(steps, layers),
            "layer": np.tile(np.arange(layers), len(steps)),
            "kind": "q",
            "stable_rank": (30 * (1 - c_obs)).ravel(),
            "alpha": (alpha + noise.alpha * alpha_eps).ravel(),
        }
        fit = fit_two_timescale(Run.from_frame(pd.DataFrame(rows)))
        for name, truth in (("tau_fast", TAU_FAST), ("tau_slow", TAU_SLOW)):
            ci = fit.intervals.get(name)
            hits[name] += bool(ci is not None and ci[0] <= truth <= ci[1])
    return {name: Rate(hits=h, n=n) for name, h in hits.items()}
