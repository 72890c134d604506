"""The noise of a run, measured from the run itself: how much each layer's values scatter around
their own smoothed trajectory (a local quadratic over a few snapshots), how that scatter is correlated in time, and how it is correlated
between adjacent layers.

Why: tests whose unit is the layer (the wave, the inverted U, the asymmetry, the reversal) are
valid only if they know how the layers' noise is correlated. Noise that is smooth across depth
makes smooth depth trends that a test assuming independent layers reads as signal. The
correlation between adjacent layers is estimated from residuals around each layer's smoothed
trajectory over many snapshots: a smoother acting on time alone leaves the correlation between
layers of noise that is separable in time and depth unchanged, whatever its time correlation,
so the estimate does not depend on how slowly the noise drifts.

Robust throughout: scales are trimmed (the 80% of residuals nearest the median) and
correlations are Gnanadesikan–Kettenring estimates, ρ = (S(u+v)² − S(u−v)²)/(S(u+v)² +
S(u−v)²) with S that scale, so the few snapshots where a trajectory kinks (a layer starting to
compress, which every layer of a shared trend does at once) barely pass for correlated noise:
a shared kink of 40% compression under 1% noise reads as a correlation of about 0.05, an error
on the safe side (a test then allows for more correlation than there is). The layer correlation's
standard error is a jackknife over blocks of snapshots.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.signal import savgol_coeffs

if TYPE_CHECKING:
    from analysis.run import Run

KEEP = 0.8  # share of residuals (nearest the median) a robust scale uses
_Z = float(sps.norm.ppf(0.5 + KEEP / 2))
_KEPT_VARIANCE = (KEEP - 2 * _Z * float(sps.norm.pdf(_Z))) / KEEP  # E[z² | |z| < _Z]
MIN_SNAPSHOTS = 15  # interior snapshots needed to estimate the noise
MAX_LAYER_CORR = 0.9  # beyond this, layer-level differences are indistinguishable from noise
MAX_LAYER_CORR_SE = 0.25  # a coarser estimate is not good enough to correct a test with
JACKKNIFE_BLOCKS = 8


@dataclass(frozen=True, kw_only=True)
class NoiseEstimate:
    """Noise of `values[..., snapshots, layers]` (leading axes: independent data sets).

    sd `[..., L]`: per-snapshot SD of each layer's noise (residual SD corrected for what the
    smoother absorbs, given `time_corr`); residual_sd `[..., L]`: robust SD of the residuals
    around the local quadratic; time_corr `[...]`: AR(1) coefficient in time implied by the residuals' lag-1
    autocorrelation (poorly identified beyond about 0.8 with a 5-snapshot window: slower noise
    looks like trajectory, so `sd` is then rough; `layer_corr` does not depend on it); layer_corr `[...]`: correlation of adjacent layers'
    noise, with its jackknife standard error; reason: why the estimate is not good enough to
    correct a test with (None when it is).
    """

    sd: np.ndarray
    residual_sd: np.ndarray
    time_corr: np.ndarray
    layer_corr: np.ndarray
    layer_corr_se: np.ndarray
    n_snapshots: int
    n_layers: int
    window: int

    @property
    def reason(self) -> str | None:
        """Why one run's estimate cannot be used (single data set), or None."""
        return refusal(self)

    def frame(self) -> pd.DataFrame:
        """One row per layer: layer, sd, residual_sd (single data set)."""
        return pd.DataFrame(
            {"layer": np.arange(self.n_layers), "sd": self.sd, "residual_sd": self.residual_sd}
        )


def refusal(noise: NoiseEstimate) -> str | None:
    """Why the estimate (of one data set) is not good enough to correct a test with, or None."""
    if bool(_quiet(noise)):
        return None  # no noise in time: nothing to correct for
    interior = noise.n_snapshots - noise.window + 1
    if interior < MIN_SNAPSHOTS or noise.n_layers < 3:
        return (
            f"the noise correlation between layers needs ≥ {MIN_SNAPSHOTS} snapshots away from "
            f"the ends and ≥ 3 layers (have {max(interior, 0)} and {noise.n_layers})"
        )
    rho, se = float(noise.layer_corr), float(noise.layer_corr_se)
    if not math.isfinite(rho) or not math.isfinite(se):
        return "the noise correlation between layers could not be estimated (constant values)"
    if se > MAX_LAYER_CORR_SE:
        return (
            f"the noise correlation between layers is too uncertain to correct for "
            f"({rho:.2f} ± {se:.2f}; needs SE ≤ {MAX_LAYER_CORR_SE})"
        )
    if rho > MAX_LAYER_CORR:
        return (
            f"the noise of adjacent layers is correlated {rho:.2f} (> {MAX_LAYER_CORR}): "
            "differences between layers cannot be told from noise"
        )
    return None


def _quiet(noise: NoiseEstimate) -> np.ndarray:
    """`[...]` no layer has any noise in time (every residual is 0)."""
    sd = np.asarray(noise.residual_sd)
    return np.all(np.nan_to_num(sd) == 0, axis=-1) if sd.shape[-1] else np.ones(sd.shape[:-1], bool)


def usable(noise: NoiseEstimate) -> np.ndarray:
    """`[...]` the estimate is good enough to correct a test with (`refusal` says why not)."""
    interior = noise.n_snapshots - noise.window + 1
    enough = interior >= MIN_SNAPSHOTS and noise.n_layers >= 3
    rho, se = np.asarray(noise.layer_corr), np.asarray(noise.layer_corr_se)
    with np.errstate(invalid="ignore"):
        good = enough & (se <= MAX_LAYER_CORR_SE) & (rho <= MAX_LAYER_CORR)
    return _quiet(noise) | good


def robust_scale(x: np.ndarray) -> np.ndarray:
    """Robust SD along the last axis (NaN-aware): the RMS deviation from the median of the
    `KEEP` share of values nearest it, scaled to be the SD of a normal sample."""
    with warnings.catch_warnings():  # an all-NaN layer simply has no scale
        warnings.simplefilter("ignore", RuntimeWarning)
        dev = np.abs(x - np.nanmedian(x, -1, keepdims=True))
        cut = np.nanquantile(dev, KEEP, axis=-1, keepdims=True)
        kept = np.where(dev <= cut, dev**2, np.nan)
        return np.sqrt(np.nanmean(kept, -1) / _KEPT_VARIANCE)


def robust_corr(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Gnanadesikan–Kettenring correlation of standardised `u`, `v` along the last axis."""
    plus, minus = robust_scale(u + v) ** 2, robust_scale(u - v) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return (plus - minus) / (plus + minus)


@lru_cache(maxsize=8)
def residual_filter(window: int, order: int = 2) -> np.ndarray:
    """Weights `[window]` that turn `window` consecutive values into the residual of the centre
    one around a local polynomial (Savitzky–Golay; order 0: the moving average). A local
    quadratic follows the bend of a trajectory, so a layer's decay or rise leaves little
    behind, only its kinks do; the moving average's residuals show the time correlation
    better."""
    coeffs = savgol_coeffs(window, order, use="dot") if order else np.full(window, 1 / window)
    centre = np.zeros(window)
    centre[window // 2] = 1.0
    return centre - coeffs


@lru_cache(maxsize=8)
def _filter_table(window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For AR(1) noise φ on a grid: the variance the moving-average residuals keep and their
    lag-1 autocorrelation."""
    a = residual_filter(window, 0)
    phis = np.linspace(0.0, 0.95, 96)
    lags = np.abs(np.subtract.outer(np.arange(window + 1), np.arange(window + 1)))
    first, second = np.append(a, 0.0), np.append(0.0, a)
    kept, lag1 = [], []
    for phi in phis:
        r = phi**lags
        var = first @ r @ first
        kept.append(var)
        lag1.append(first @ r @ second / var)
    return phis, np.array(kept), np.array(lag1)


def _time_corr(lag1: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) φ whose residuals have this lag-1 autocorrelation, and the variance they keep."""
    phis, kept, table = _filter_table(window)
    order = np.maximum.accumulate(table)  # monotone for the inversion
    phi = np.interp(lag1, order, phis, left=0.0, right=phis[-1])
    return phi, np.interp(phi, phis, kept)


def residuals(values: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Residuals `[..., T − window + 1, L]` of every interior snapshot around its local
    polynomial of `order` (NaN where the window holds a NaN)."""
    a = residual_filter(window, order)
    n = values.shape[-2]
    out = np.zeros((*values.shape[:-2], n - window + 1, values.shape[-1]))
    for k, weight in enumerate(a):
        out += weight * values[..., k : n - window + 1 + k, :]
    return out


def _layer_corr(z: np.ndarray) -> np.ndarray:
    """Pooled robust correlation of adjacent layers of standardised residuals `[..., T, L]`."""
    lead = z.shape[:-2]
    u = z[..., :, :-1].reshape(*lead, -1)
    v = z[..., :, 1:].reshape(*lead, -1)
    return robust_corr(u, v)


def _standardise(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return resid / np.where(scale > 0, scale, np.nan)[..., None, :]


def estimate_noise(values: np.ndarray, *, window: int = 5) -> NoiseEstimate:
    """Noise of `values[..., snapshots, layers]` around each layer's local quadratic over
    `window` snapshots (odd, ≥ 5; NaN entries are left out). Fields: `NoiseEstimate`."""
    values = np.asarray(values, float)
    n, n_layers = values.shape[-2:]
    window = max(5, 2 * (window // 2) + 1)
    lead = values.shape[:-2]
    nan = np.full(lead, np.nan)
    if n - window + 1 < 3 or n_layers < 1:
        return NoiseEstimate(
            sd=np.full((*lead, n_layers), np.nan),
            residual_sd=np.full((*lead, n_layers), np.nan),
            time_corr=nan,
            layer_corr=nan,
            layer_corr_se=nan,
            n_snapshots=n,
            n_layers=n_layers,
            window=window,
        )
    resid = residuals(values, window)
    scale = robust_scale(np.swapaxes(resid, -1, -2))  # [..., L]
    z = _standardise(resid, scale)
    average = residuals(values, window, 0)
    level = robust_scale(np.swapaxes(average, -1, -2))
    w = _standardise(average, level)
    lag1 = robust_corr(
        np.swapaxes(w[..., :-1, :], -1, -2).reshape(*lead, -1),
        np.swapaxes(w[..., 1:, :], -1, -2).reshape(*lead, -1),
    )
    phi, kept = _time_corr(np.nan_to_num(lag1), window)
    quiet = ~(scale > 0).any(-1)  # no noise in time at all: nothing is shared either
    rho = np.where(quiet, 0.0, _layer_corr(z) if n_layers > 1 else np.nan)
    blocks = np.array_split(np.arange(z.shape[-2]), min(JACKKNIFE_BLOCKS, z.shape[-2]))
    jack = np.stack([_layer_corr(np.delete(z, b, axis=-2)) for b in blocks], -1)
    jack = jack if n_layers > 1 else np.full_like(jack, np.nan)
    k = jack.shape[-1]
    se = np.sqrt((k - 1) / k * ((jack - jack.mean(-1, keepdims=True)) ** 2).sum(-1))
    se = np.where(quiet, 0.0, se)
    return NoiseEstimate(
        sd=level / np.sqrt(kept)[..., None],
        residual_sd=scale,
        time_corr=phi,
        layer_corr=rho,
        layer_corr_se=se,
        n_snapshots=n,
        n_layers=n_layers,
        window=window,
    )


def depth_sd(noise: NoiseEstimate) -> np.ndarray:
    """Per-layer noise SD `[..., L]` smoothed over depth (log SD linear in the layer index), up
    to a common factor: weights for a fit over layers that do not carry the noise of L separate
    SD estimates. Ones where a layer has no noise in time."""
    layers = np.arange(noise.n_layers, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sd = np.log(noise.residual_sd)
    ok = np.isfinite(log_sd)
    count = np.maximum(ok.sum(-1, keepdims=True), 1)
    lc = np.where(ok, layers - (ok * layers).sum(-1, keepdims=True) / count, 0.0)
    y = np.where(ok, log_sd, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (lc * y).sum(-1) / (lc * lc).sum(-1)
    slope = np.where(np.isfinite(slope), slope, 0.0)
    return np.exp(slope[..., None] * (layers - layers.mean()))


def run_noise(
    run: Run,
    metric: str,
    kinds: Iterable[str] | str | None = None,
    *,
    window: int = 5,
    log: bool | None = None,
    stride: int = 1,
) -> NoiseEstimate:
    """`estimate_noise` of a `Run`'s `[steps, layers]` grid of `metric` over `kinds`.

    `log` (default: True for `stable_rank`, whose noise is relative) measures the noise of the
    logarithm, so that a layer's noise does not grow with its level. `stride` keeps every
    stride-th snapshot: the noise as a coarser probe would see it (snapshot noise keeps its SD
    at any spacing; noise that drifts grows with it).
    """
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    grid = run.grid(metric, kinds)[::stride]
    if log if log is not None else metric == "stable_rank":
        with np.errstate(invalid="ignore", divide="ignore"):
            grid = np.where(grid > 0, np.log(np.where(grid > 0, grid, 1.0)), np.nan)
    return estimate_noise(grid, window=window)
