"""One line per claim of the paper: verdict, estimate with its interval, caveats.

Built from a report's summary (plain JSON), so it reads the same numbers summary.json keeps.
A verdict is "supported", "not supported" or "cannot be tested here" (the run cannot answer:
too few layers, snapshots or compressing layers; the reason is given).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from analysis.formatting import fmt

SUPPORTED, NOT_SUPPORTED, UNTESTABLE = "supported", "not supported", "cannot be tested here"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A claim and what this run says about it."""

    claim: str
    verdict: str
    estimate: str
    caveats: tuple[str, ...] = ()


def _verdict(value: bool | None) -> str:
    return UNTESTABLE if value is None else SUPPORTED if value else NOT_SUPPORTED


def _why(section: dict[str, Any], *keys: str) -> tuple[str, ...]:
    reasons = section.get("reasons") or {}
    return tuple(reasons[k] for k in keys if k in reasons)


def _ci(value: Any, ci: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    interval = f" [{fmt(ci[0], 3)}, {fmt(ci[1], 3)}]" if ci else " [interval undetermined]"
    return f"{fmt(value, 3)}{unit}{interval}"


def run_caveats(summary: dict[str, Any]) -> tuple[str, ...]:
    """Caveats that hold for every claim of this run."""
    run, out = summary.get("run", {}), []
    layers, snaps = run.get("n_layers") or 0, run.get("n_snapshots") or 0
    if layers < 5:
        out.append(f"{layers} layers: too few to test an inverted U or a wave (needs ≥ 5)")
    if snaps < 20:
        out.append(f"only {snaps} snapshots")
    seeds = run.get("seeds") or 1
    if seeds < 2:
        out.append("one seed: intervals describe this run, not seed-to-seed variation")
    fit = summary.get("two_timescale", {})
    spacing = run.get("probe_interval")
    if fit.get("tau_fast") is not None and spacing and fit["tau_fast"] < 2 * spacing:
        out.append(
            f"the probe interval ({spacing:g} steps) is not much shorter than the compression "
            f"time (τ_fast ≈ {fit['tau_fast']:.3g} steps)"
        )
    span = (run.get("last_step") or 0) - (run.get("first_step") or 0)
    if fit.get("tau_slow") is not None and span and fit["tau_slow"] > span:
        out.append(
            f"τ_slow ≈ {fit['tau_slow']:.3g} steps is longer than the run ({span} steps): the "
            "slow timescale is extrapolated"
        )
    prof = summary.get("alpha_profile", {})
    if prof.get("low_quality_fits"):
        out.append(
            f"{prof['low_quality_fits']} of {prof['fits']} α fits low quality (short tail or "
            "rejected by their KS distance) and left out"
        )
    return tuple(out)


def _claim(claim: str, section: dict[str, Any], decision: str, estimate: str, *why: str) -> Finding:
    """A finding whose verdict is `section[decision]`, caveats the reasons under `why`."""
    return Finding(
        claim=claim,
        verdict=_verdict(section.get(decision)),
        estimate=estimate,
        caveats=_why(section, decision, *why),
    )


def run_findings(summary: dict[str, Any]) -> list[Finding]:
    """The six lifecycle claims for one run."""
    wave, prof = summary.get("wave", {}), summary.get("alpha_profile", {})
    asym, fit = summary.get("asymmetry", {}), summary.get("two_timescale", {})
    direction = wave.get("direction")
    has_wave = wave.get("has_wave")
    early_to_late = None if has_wave is None else has_wave and direction == "early_to_late"
    ratio_ci = fit.get("ratio_ci")
    two = None if fit.get("ratio") is None else bool(ratio_ci and ratio_ci[0] > 1)
    aic = (fit.get("delta_aic") or {}).get("one_timescale")
    wave_finding = _claim(
        "Compression travels from early to late layers (wave)",
        {**wave, "early_to_late": early_to_late},
        "early_to_late",
        f"speed {_ci(wave.get('speed'), wave.get('speed_ci'), ' layers/1k steps')}; exact "
        f"Spearman p = {fmt(wave.get('spearman_p'), 2)}",
        "has_wave",
        "speed_ci",
    )
    if direction == "late_to_early":
        wave_finding = dataclasses.replace(
            wave_finding, caveats=(*wave_finding.caveats, "the wave runs late to early")
        )
    return [
        wave_finding,
        _claim(
            "The early–late gradient G(t) reverses",
            wave,
            "has_reversal",
            f"reversal at step {_ci(wave.get('reversal_step'), wave.get('reversal_step_ci'))}; "
            f"p = {fmt(wave.get('reversal_p'), 2)}",
            "reversal_step_ci",
        ),
        _claim(
            "α forms an inverted U over depth",
            prof,
            "is_inverted_u",
            f"vertex {_ci(prof.get('vertex'), prof.get('vertex_ci'))}, curvature "
            f"{_ci(prof.get('curvature'), prof.get('curvature_ci'))}; two-lines p = "
            f"{fmt(prof.get('inverted_u_p'), 2)}",
            "vertex_ci",
            "coef",
        ),
        _claim(
            "The α depth profile persists (stopped moving over the final third)",
            prof,
            "is_persistent",
            f"shape change over the final third {fmt(prof.get('drift'), 2)} of the profile; "
            f"Δα = {fmt(prof.get('delta_alpha'), 3)}",
            "settle_step",
        ),
        _claim(
            "Q/K carry the depth dependence, V/O compress uniformly",
            asym,
            "asymmetric",
            f"ln-onset slope Q/K {_ci(asym.get('qk_slope'), asym.get('qk_slope_ci'))}, "
            f"V/O {_ci(asym.get('vo_slope'), asym.get('vo_slope_ci90'))} (90%)",
        ),
        _claim(
            "Two timescales: α settles slower than compression",
            {**fit, "two_timescales": two},
            "two_timescales",
            f"τ_slow/τ_fast {_ci(fit.get('ratio'), ratio_ci)}; ΔAIC vs one timescale {fmt(aic, 3)}",
            "fit",
            "at_bound",
        ),
    ]


def scaling_findings(scaling: dict[str, Any]) -> list[Finding]:
    """The scaling law and the vertex shift across depths."""
    return [
        _claim(
            "Δα grows (or shrinks) with depth as a power law (β ≠ 0)",
            scaling,
            "beta_nonzero",
            f"β {_ci(scaling.get('beta'), scaling.get('beta_ci'))}; leave-one-out error "
            f"{fmt(scaling.get('loo_error'), 2)}",
            "beta",
            "points",
        ),
        _claim(
            "The inverted-U vertex moves with depth",
            scaling,
            "vertex_moves",
            "slope per ln L " + _ci(scaling.get("vertex_slope"), scaling.get("vertex_slope_ci")),
        ),
    ]
