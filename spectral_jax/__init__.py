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

# `probe` and `singular_values` are both a module and the function it defines. Importing them here
# binds the package attribute to the function for good: Python sets a submodule as an attribute
# of its package only when it first loads it, so a later `import spectral_jax.probe` cannot
# shadow the function. They need only JAX, which every other entry point loads anyway.
from spectral_jax.probe import probe as probe
from spectral_jax.singular_values import singular_values as singular_values

_EXPORTS = {
    "resolve_method": "spectral_jax.singular_values",
    "METHODS": "spectral_jax.singular_values",
    "spectral_metrics": "spectral_jax.metrics",
    "METRIC_NAMES": "spectral_jax.metrics",
    "METRIC_DEFINITIONS_VERSION": "spectral_jax.metrics",
    "fit_power_law": "spectral_jax.powerlaw",
    "named_matrices": "spectral_jax.matrices",
    "default_kinds": "spectral_jax.matrices",
    "matrix_shapes": "spectral_jax.matrices",
    "Transformer": "spectral_jax.model",
    "count_params": "spectral_jax.model",
    "ModelConfig": "spectral_jax.model_config",
    "SpectraStore": "spectral_jax.store",
    "SpectraWriter": "spectral_jax.store",
    "StoreError": "spectral_jax.store",
    "SCHEMA_VERSION": "spectral_jax.store",
}

__all__ = sorted([*_EXPORTS, "probe", "singular_values"])


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
