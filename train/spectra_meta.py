"""What the probe records for a config: the watched kinds and the spectra store's meta.json."""

from __future__ import annotations

from spectral_jax.matrices import available_kinds, default_kinds, kind_layers, matrix_shapes
from spectral_jax.metrics import METRIC_DEFINITIONS_VERSION, METRIC_NAMES
from train.config import Config


def watched_kinds(config: Config) -> tuple[str, ...]:
    """The kinds the probe records: `spectral.kinds`, or every per-layer kind of the model."""
    if config.spectral.kinds is None:
        return default_kinds(config.model)
    missing = [k for k in config.spectral.kinds if k not in available_kinds(config.model)]
    if missing:
        raise ValueError(f"spectral.kinds: this model has no '{missing[0]}' matrices")
    return tuple(sorted(set(config.spectral.kinds), key=config.spectral.kinds.index))


def spectra_meta(config: Config, kinds: tuple[str, ...]) -> dict:
    """meta.json of the spectra store: what was probed and how to read it."""
    shapes = matrix_shapes(config.model)
    ordered = sorted(kinds)  # the probe orders kinds alphabetically
    return {
        "metrics_version": METRIC_DEFINITIONS_VERSION,
        "model": config.model.describe(),
        "kinds": ordered,
        "layers": kind_layers(config.model, ordered),
        "shapes": {k: list(shapes[k]) for k in ordered},
        "metrics": list(METRIC_NAMES),
        "save_sigma": config.spectral.save_sigma,
        "method": config.spectral.method,
        "every": config.spectral.every,
    }
