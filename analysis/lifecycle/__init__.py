"""The paper's lifecycle claims, each with its test and interval: the compression wave and the
reversal of its gradient, the α profile (inverted U, vertex, persistence), the Q/K–V asymmetry,
the two-timescale model, the depth scaling law, and seed groups.

Every analysis takes a `Run` and returns an `Analysis` (a frozen summary and its curves).
"""

from analysis.lifecycle.asymmetry import qk_v_asymmetry
from analysis.lifecycle.profile import alpha_profile
from analysis.lifecycle.scaling import fit_scaling_law, scaling_from_runs
from analysis.lifecycle.seeds import across_seeds
from analysis.lifecycle.two_timescale import fit_two_timescale
from analysis.lifecycle.wave import compression_wave

__all__ = [
    "across_seeds",
    "alpha_profile",
    "compression_wave",
    "fit_scaling_law",
    "fit_two_timescale",
    "qk_v_asymmetry",
    "scaling_from_runs",
]
