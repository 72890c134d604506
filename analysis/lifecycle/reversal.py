"""The early-vs-late gradient G(t) and a calibrated test of its reversal.

G(t) = mean compression of the last ⌊L/3⌋ layers − mean of the first ⌊L/3⌋. The paper's
reversal: G takes one sign while the wave runs (early layers ahead) and the other at the end
(late layers over-compress). Two permutation tests, both on the same permutations of the
layers (`analysis.stats.layer_permutation`: layers made exchangeable by removing the estimated
correlation of adjacent layers' noise, ρ, and dividing by the noise SD's depth trend; exact
when there are at most 2000 orders):

- end: |G| averaged over the final `tail` of snapshots (two-sided);
- opposite: the largest excursion of G, before that window, with the sign opposite to G's sign
  at the end.

The reversal is supported when both p-values are below 0.05 (an intersection–union test: its
false-positive rate is at most 5% whichever part is false). A permutation moves a layer's whole
time series, so noise that is correlated in time is allowed for; relabelling layers as if they
were independent (the old test) read noise smooth across depth as a gradient (9–24% false
reversals at ρ = 0.7). A depth whose smallest attainable p-value is above 0.05 (L ≤ 5: 20 or
fewer choices of the two bands) cannot show a reversal and is refused.

The reversal step is where G crosses zero from the opposite sign to the end sign: linear
interpolation of the unsmoothed G between the two snapshots that bracket it, with Fieller's 95%
interval for that line's zero (`crossing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.lifecycle.parts import Part, refused
from analysis.stats import ALPHA, as_float, as_interval, band_contrasts, fieller
from analysis.stats.layer_permutation import (
    innovations,
    layer_orders,
    permuted_weights,
)
from analysis.stats.noise import NoiseEstimate, depth_sd, estimate_noise

CHUNK = 64  # data sets per block of the batched permutation test (bounds memory)


@dataclass(frozen=True, kw_only=True)
class ReversalTest:
    """Batched results: p-values `[...]`, the sign of G at the end, G averaged over the end."""

    p_end: np.ndarray
    p_opposite: np.ndarray
    end_sign: np.ndarray
    end_gradient: np.ndarray

    @property
    def p(self) -> np.ndarray:
        """p-value of the intersection–union test (the larger of the two)."""
        return np.maximum(self.p_end, self.p_opposite)


def end_window(n_steps: int, tail: float) -> int:
    """Snapshots in the final window (at least 2, at most half the run)."""
    return max(2, min(n_steps // 2, math.ceil(tail * n_steps)))


def band_gradient(c: np.ndarray) -> np.ndarray:
    """G(t) `[..., T]` of compression `[..., T, L]`."""
    return c @ band_contrasts(c.shape[-1]).weights[0]


def reversal_test(
    c: np.ndarray,
    rho: np.ndarray | float = 0.0,
    sd: np.ndarray | None = None,
    tail: float = 0.2,
) -> ReversalTest:
    """Both permutation tests for every data set of c `[..., T, L]` (complete data), with the
    correlation ρ `[...]` of adjacent layers' noise and its SD `[..., L]` over depth."""
    c = np.asarray(c, float)
    lead, (n_steps, n_layers) = c.shape[:-2], c.shape[-2:]
    flat = c.reshape(-1, n_steps, n_layers)
    rhos = np.broadcast_to(np.clip(np.nan_to_num(rho), 0, None), lead).reshape(-1)
    sds = None if sd is None else np.broadcast_to(sd, (*lead, n_layers)).reshape(-1, n_layers)
    orders = layer_orders(n_layers)
    weights = band_contrasts(n_layers).weights[0]
    n_end = end_window(n_steps, tail)
    out = np.empty((4, flat.shape[0]))
    for start in range(0, flat.shape[0], CHUNK):
        block = slice(start, start + CHUNK)
        part_sd = None if sds is None else sds[block]
        u = innovations(flat[block], rhos[block], part_sd)
        w = permuted_weights(weights, rhos[block], orders, part_sd)  # [b, P, L]
        g = np.einsum("btl,bpl->btp", u, w)  # [b, T, P]
        end = g[:, -n_end:].mean(1)  # [b, P]
        sign = np.sign(end)
        excursion = (g[:, :-n_end] * -sign[:, None, :]).max(1)
        out[0, block] = _pvalue(np.abs(end))
        out[1, block] = _pvalue(excursion)
        out[2, block] = sign[:, 0]
        out[3, block] = end[:, 0]
    p_end, p_opp, sign, end = (row.reshape(lead) for row in out)
    return ReversalTest(p_end=p_end, p_opposite=p_opp, end_sign=sign, end_gradient=end)


def _pvalue(stat: np.ndarray) -> np.ndarray:
    """P(stat_π ≥ stat_observed) over the permutations on the last axis (row 0 observed)."""
    return (stat >= stat[..., :1] - 1e-12).sum(-1) / stat.shape[-1]


def min_reversal_p(n_layers: int) -> float:
    """Smallest p-value the reversal test can reach with this many layers (with independent
    layers only the choice of the two bands matters: 12 choices for 4 layers, 20 for 5)."""
    return band_contrasts(n_layers).min_pvalue if n_layers >= 3 else 1.0


@dataclass(frozen=True)
class Crossing:
    """Zero crossing of G `[...]` (steps) with its 95% Fieller interval; NaN where none."""

    step: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def baseline_variance(
    raw: np.ndarray, smooth: np.ndarray, rho: np.ndarray | float = 0.0
) -> np.ndarray:
    """Variance `[...]` that the first snapshot's noise adds to G at every later step.

    c is relative to R_s(t₀), so the noise of that one snapshot shifts a layer's whole curve by
    ≈ e₀·(1 − c). It is measured like every other snapshot: its relative variance is that of
    the snapshot noise of ln R_s (`analysis.stats.noise`, allowing for its time correlation),
    and adjacent layers' shifts are correlated ρ `[...]` (AR(1) across depth).
    """
    noise = estimate_noise(np.log(np.clip(1 - raw, 1e-9, None))).sd ** 2  # [..., L]
    n_layers = raw.shape[-1]
    weights = band_contrasts(n_layers).weights[0]
    level = 1 - np.nanmean(smooth[..., -raw.shape[-2] // 2 :, :], axis=-2)
    scaled = weights * np.sqrt(noise) * level  # [..., L]
    lags = np.abs(np.subtract.outer(np.arange(n_layers), np.arange(n_layers)))
    corr = np.clip(np.asarray(rho, float), 0, None)[..., None, None] ** lags
    return np.einsum("...k,...kl,...l->...", scaled, corr, scaled)


def gradient_noise(raw: np.ndarray, rho: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot noise of G `[...]` — its variance and AR(1) coefficient in time — from each
    layer's noise in raw c `[..., T, L]` (`analysis.stats.noise`, robust to the kinks where
    layers start to compress) and the correlation ρ `[...]` of adjacent layers."""
    est = estimate_noise(raw)
    n_layers = raw.shape[-1]
    scaled = band_contrasts(n_layers).weights[0] * np.nan_to_num(est.sd)
    lags = np.abs(np.subtract.outer(np.arange(n_layers), np.arange(n_layers)))
    corr = np.clip(np.asarray(rho, float), 0, None)[..., None, None] ** lags
    return np.einsum("...k,...kl,...l->...", scaled, corr, scaled), est.time_corr


def crossing(
    steps: np.ndarray,
    g_smooth: np.ndarray,
    g_raw: np.ndarray,
    end_sign: np.ndarray,
    *,
    noise: tuple[np.ndarray, np.ndarray],
    baseline_var: np.ndarray,
    tail: float = 0.2,
) -> Crossing:
    """Where G turns from the opposite sign to the end sign (batched over leading axes).

    The smoothed G picks the pair of snapshots that brackets the crossing; the line through
    the unsmoothed G at those two gives the step, and Fieller's interval for the line's zero
    uses the snapshot noise of G (`noise`: its variance σ² and AR(1) coefficient φ from
    `gradient_noise`, so the two snapshots' mean has variance σ²(1 + φ)/2 and their difference
    2σ²(1 − φ) — noise slow in time moves the line rather than tilting it) plus
    `baseline_var`, the shift the first snapshot's noise gives every value.
    Only two snapshots enter, so a kink of G nearby (a layer starting to compress) biases it
    no more than linear interpolation does.
    """
    steps = np.asarray(steps, float)
    n_steps = len(steps)
    n_end = end_window(n_steps, tail)
    signed = g_smooth * end_sign[..., None]
    before = np.where(np.arange(n_steps) < n_steps - n_end, -signed, -np.inf)
    extreme = before.argmax(-1)
    index = np.arange(n_steps)
    up = (signed > 0) & (np.roll(signed, 1, -1) <= 0) & (index > extreme[..., None]) & (index > 0)
    found = up.any(-1)
    j = np.where(found, up.argmax(-1), 1)
    # the raw sign change nearest the smoothed one (smoothing drags a crossing near a kink)
    raw = g_raw * end_sign[..., None]
    raw_up = (raw > 0) & (np.roll(raw, 1, -1) <= 0) & (index > extreme[..., None]) & (index > 0)
    distance = np.where(raw_up, np.abs(index - j[..., None]), n_steps)
    j = np.where(raw_up.any(-1), distance.argmin(-1), j)
    a = np.take_along_axis(g_raw, (j - 1)[..., None], -1)[..., 0]
    b = np.take_along_axis(g_raw, j[..., None], -1)[..., 0]
    width = steps[j] - steps[j - 1]
    var, phi = noise
    level, slope = (a + b) / 2, (b - a) / width
    var_level = var * (1 + phi) / 2 + baseline_var
    var_slope = 2 * var * (1 - phi) / width**2
    lo, hi = fieller(-level, slope, var_num=var_level, var_den=var_slope, cov=0.0, dof=n_steps)
    centre = (steps[j] + steps[j - 1]) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        step = centre - level / slope
    nan = np.full(np.shape(step), np.nan)
    return Crossing(
        np.where(found, step, nan),
        np.where(found, centre + lo, nan),
        np.where(found, centre + hi, nan),
    )


def decide(test: ReversalTest) -> np.ndarray:
    """Reversal supported: both parts significant at 5%."""
    return (test.p_end < ALPHA) & (test.p_opposite < ALPHA)


def reversal_part(
    steps: np.ndarray, c: np.ndarray, raw: np.ndarray, noise: NoiseEstimate, tail: float
) -> Part:
    """The reversal's fields of a wave summary: the reversal test, G's extreme before the end
    window and the reversal step of one run (smoothed and raw compression `[T, L]`, the noise
    of ln R_s), or the reason it cannot."""
    n_steps, n_layers = c.shape
    floor = min_reversal_p(n_layers)
    why = (
        f"{n_layers} layers cannot show a reversal of G(t): the smallest permutation "
        f"p-value is {floor:.3g}"
        if n_layers < 3 or floor >= ALPHA
        else f"needs ≥ 6 snapshots (have {n_steps})"
        if n_steps < 6
        else "some compression values are NaN (stable rank missing)"
        if not np.isfinite(c).all()
        else noise.reason
    )
    if why is not None:
        return refused("has_reversal", why)
    rho = max(float(noise.layer_corr), 0.0)
    test = reversal_test(c, rho, depth_sd(noise), tail)
    g = band_gradient(c)
    n_end = end_window(n_steps, tail)
    i = int((-test.end_sign * g[: n_steps - n_end]).argmax())
    has_reversal = bool(decide(test))
    found = Crossing(np.nan, np.nan, np.nan)
    if has_reversal:
        found = crossing(
            steps,
            g,
            band_gradient(raw),
            test.end_sign,
            noise=gradient_noise(raw, rho),
            baseline_var=baseline_variance(raw, c, rho),
            tail=tail,
        )
    interval = as_interval(found.lo, found.hi)
    reasons = {}
    if not has_reversal:
        reasons["reversal_step"] = (
            f"no significant reversal (p = {test.p_end:.3g} at the end, "
            f"{test.p_opposite:.3g} for the opposite sign before it)"
        )
    elif interval is None:
        reasons["reversal_step"] = (
            "G's slope at the crossing is not significant: the data do not locate the reversal"
        )
    return dict(
        end_gradient=as_float(test.end_gradient),
        early_gradient=as_float(g[: n_steps - n_end].mean()),
        reversal_p=as_float(test.p),
        has_reversal=has_reversal,
        reversal_step=as_float(found.step) if interval else None,
        reversal_step_ci=interval,
        peak_step=float(steps[i]),
        peak_value=float(g[i]),
        reasons=reasons,
    )
