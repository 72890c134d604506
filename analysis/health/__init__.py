"""Layer health: the trainer's live rules (α out of range, stable-rank collapse, σ_max growth,
non-finite values), applied to a run, a store, a checkpoint or a series after the fact.

The rules are defined once, in `spectral_jax.health` (re-exported here); this package runs them
over whole runs (`timeline`), probes checkpoints for them (`sources`), draws the timeline
(`figures`) and is the `python -m analysis health` command (`cli`). Names load on first use: `python -m analysis --help` does not wait for JAX.
"""

from analysis._lazy import lazy_getattr

__all__ = [
    "RULES",
    "Flag",
    "HealthConfig",
    "HealthEvaluator",
    "HealthEvent",
    "HealthTimeline",
    "alpha_trusted",
    "judge",
    "run_timeline",
    "timeline_figure",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        **dict.fromkeys(
            ("RULES", "Flag", "HealthConfig", "HealthEvaluator", "HealthEvent", "alpha_trusted"),
            "spectral_jax.health",
        ),
        "HealthTimeline": "analysis.health.timeline",
        "run_timeline": "analysis.health.timeline",
        "judge": "analysis.health.sources",
        "timeline_figure": "analysis.health.figures",
    },
)
