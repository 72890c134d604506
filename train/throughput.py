"""Tokens/s and model-FLOPs utilisation (MFU) against a known per-chip peak."""

from __future__ import annotations

import jax

# Dense bf16 peak FLOP/s per chip, from vendor datasheets. MFU is reported against these.
PEAK_FLOPS = {
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
}


def peak_flops_per_device() -> float | None:
    """Peak FLOP/s of one local device, or None when unknown (CPU, unlisted chips)."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    kind = device.device_kind
    for name, peak in PEAK_FLOPS.items():
        if name.lower() in kind.lower():
            return peak
    return None


def mfu(tokens_per_s: float, flops_per_token: float) -> float | None:
    """Achieved / peak FLOP/s over all devices; None where the peak is unknown."""
    peak = peak_flops_per_device()
    if peak is None:
        return None
    return tokens_per_s * flops_per_token / (peak * jax.device_count())
