"""spectral-jax core: the transformer, the spectral kernels and the spectra store.

The public names are imported lazily, so `import spectral_jax.store` (what analysis and
notebooks need) does not pull in Flax, and `import spectral_jax` stays cheap.

    from spectral_jax import singular_values, spectral_metrics, probe
    sigma = singular_values(w)              # [..., m, n] -> [..., min(m, n)], descending
    metrics = spectral_metrics(sigma)       # {"stable_rank": [...], "alpha": [...], ...}
    entry = probe(named_matrices(model))    # {"sigma": {kind: ...}, "metrics": {...}}
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "singular_values": "spectral_jax.spectra",
    "resolve_method": "spectral_jax.spectra",
    "METHODS": "spectral_jax.spectra",
    "spectral_metrics": "spectral_jax.metrics",
    "METRIC_NAMES": "spectral_jax.metrics",
    "METRIC_DEFINITIONS_VERSION": "spectral_jax.metrics",
    "fit_power_law": "spectral_jax.powerlaw",
    "probe": "spectral_jax.snapshot",
    "named_matrices": "spectral_jax.matrices",
    "model_kinds": "spectral_jax.matrices",
    "matrix_shapes": "spectral_jax.matrices",
    "Transformer": "spectral_jax.model",
    "count_params": "spectral_jax.model",
    "ModelConfig": "spectral_jax.model_config",
    "SpectraStore": "spectral_jax.store",
    "SpectraWriter": "spectral_jax.store",
    "StoreError": "spectral_jax.store",
    "SCHEMA_VERSION": "spectral_jax.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spectral_jax' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
