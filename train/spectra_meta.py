"""What the probe records for a config: the watched kinds and the spectra store's meta.json."""

from __future__ import annotations

from spectral_jax.matrices import available_kinds, default_kinds
from spectral_jax.store_meta import model_store_meta
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
    """meta.json of the run's spectra store (`spectral_jax.store_meta`, the one builder): what
    was probed, and the probe settings a resume may change."""
    return model_store_meta(
        config.model,
        kinds,
        save_sigma=config.spectral.save_sigma,
        method=config.spectral.method,
        every=config.spectral.every,
    )
