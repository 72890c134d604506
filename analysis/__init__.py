"""Post-hoc analysis of spectra stores: the spectral lifecycle with error bars.

Notebook API::

    from analysis import load_run, compression_wave, alpha_profile, qk_v_asymmetry
    from analysis import fit_two_timescale, fit_scaling_law, scaling_from_runs
    run = load_run("runs/demo")
    compression_wave(run).speed, alpha_profile(run).vertex_ci
    compression_wave(run).to_dict()  # the summary as JSON; .curves holds the arrays for plots
    layer_importance("runs/demo").layers, prune_layers("gpt2").table  # run the model

Command line: `python -m analysis report RUN` and `python -m analysis scaling RUN [RUN ...]`.
This package reads runs; it never imports the trainer.
"""

from analysis.asymmetry import AsymmetryResult, qk_v_asymmetry
from analysis.profile import ProfileResult, alpha_profile
from analysis.results import Analysis
from analysis.run import Run, RunError, load_run
from analysis.scaling import ScalingResult, fit_scaling_law, scaling_from_runs
from analysis.two_timescale import TwoTimescaleResult, fit_two_timescale
from analysis.wave import WaveResult, compression_wave

__all__ = [
    "Analysis",
    "AsymmetryResult",
    "ImportanceResult",
    "ProfileResult",
    "PruningResult",
    "Run",
    "RunError",
    "ScalingResult",
    "TwoTimescaleResult",
    "WaveResult",
    "alpha_profile",
    "compression_wave",
    "fit_scaling_law",
    "fit_two_timescale",
    "layer_importance",
    "load_run",
    "prune_layers",
    "qk_v_asymmetry",
    "scaling_from_runs",
]

# Importance and pruning build and run the model (Flax, the checkpoint loaders): imported on
# first use, so reading a run's spectra does not pay for them.
_LAZY = {
    "ImportanceResult": "analysis.importance",
    "layer_importance": "analysis.importance",
    "PruningResult": "analysis.pruning",
    "prune_layers": "analysis.pruning",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
