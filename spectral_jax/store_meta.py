"""The spectra store's `meta.json`, built in one place for every writer: the trainer's monitor,
the pretrained-checkpoint probe and the analysis' simulator. A reader (and a resumed run's
append check) relies on its keys, so a writer never assembles them itself.

`metrics_version` is always `spectral_jax.metrics.METRIC_DEFINITIONS_VERSION` (a writer that
hard-coded it would label new definitions with an old version), `metrics` always every metric
the probe computes, and `kinds` the sorted keys of `layers` (the probe's order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spectral_jax.matrices import kind_layers, matrix_shapes
from spectral_jax.metrics import METRIC_DEFINITIONS_VERSION, METRIC_NAMES
from spectral_jax.model_config import ModelConfig


def store_meta(
    *,
    model: Mapping[str, Any],
    layers: Mapping[str, Sequence[int]],
    shapes: Mapping[str, Sequence[int]],
    save_sigma: bool,
    **settings: Any,
) -> dict[str, Any]:
    """`meta.json` for matrices of the given kinds: `layers[kind]` (ascending layer indices)
    and `shapes[kind]` (`[m, n]`); `model` describes where they come from; `settings` (e.g.
    `method`, `every`, `source`) are recorded as they are."""
    kinds = sorted(layers)
    return {
        "metrics_version": METRIC_DEFINITIONS_VERSION,
        "model": dict(model),
        "kinds": kinds,
        "layers": {k: [int(i) for i in layers[k]] for k in kinds},
        "shapes": {k: [int(n) for n in shapes[k]] for k in kinds},
        "metrics": list(METRIC_NAMES),
        "save_sigma": save_sigma,
        **settings,
    }


def model_store_meta(
    cfg: ModelConfig,
    kinds: Iterable[str],
    *,
    save_sigma: bool,
    model: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """`store_meta` for the `kinds` of a `spectral_jax.Transformer` of config `cfg` (layers and
    shapes from `spectral_jax.matrices`); `model` defaults to `cfg.describe()`."""
    ordered = sorted(set(kinds))
    shapes = matrix_shapes(cfg)
    return store_meta(
        model=cfg.describe() if model is None else model,
        layers=kind_layers(cfg, ordered),
        shapes={k: shapes[k] for k in ordered},
        save_sigma=save_sigma,
        **settings,
    )
