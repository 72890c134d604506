"""Post-hoc analysis of spectra stores: the spectral lifecycle with error bars.

Notebook API::

    from analysis import load_run, compression_wave, alpha_profile, qk_v_asymmetry
    from analysis import fit_two_timescale, fit_scaling_law, scaling_from_runs
    run = load_run("runs/demo")
    compression_wave(run).speed, alpha_profile(run).vertex_ci
    compression_wave(run).to_dict()  # the summary as JSON; .curves holds the arrays for plots
    layer_importance("runs/demo").layers, prune_layers("gpt2").table  # run the model

Packages by role: `lifecycle` (the paper's claims), `stats` (tests, intervals, permutation
engines), `importance` (block ablation, importance, pruning), `checkpoints` (pretrained models
and series), `report` (findings, figures, HTML), `calibration` (simulator and error rates).
Command line: `python -m analysis --help` lists every command. This package reads runs; it
never imports the trainer.
"""

from analysis import importance
from analysis._lazy import lazy_getattr
from analysis.lifecycle.asymmetry import AsymmetryResult, qk_v_asymmetry
from analysis.lifecycle.profile import ProfileResult, alpha_profile
from analysis.lifecycle.scaling import ScalingResult, fit_scaling_law, scaling_from_runs
from analysis.lifecycle.two_timescale import TwoTimescaleResult, fit_two_timescale
from analysis.lifecycle.wave import WaveResult, compression_wave
from analysis.results import Analysis
from analysis.run import Run, RunError, load_run

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
__getattr__ = lazy_getattr(__name__, dict.fromkeys(importance.__all__, "analysis.importance"))
