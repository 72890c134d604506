"""One line per claim of the paper: verdict, estimate with its interval, caveats.

Built from a report's summary (plain JSON), so it reads the same numbers summary.json keeps.
A verdict is "supported", "not supported" or "cannot be tested here" (the run cannot answer:
too few layers, snapshots or compressing layers, or noise it cannot measure; the reason is
given). Every finding says what it rests on (`basis`): one run's within-run noise — then its
caveats name what the test assumed about that noise, e.g. the estimated correlation of adjacent
layers — or a test across seeds (`analysis.lifecycle.seeds`). An estimate is never shown
beside a refusal of it: a summary leaves a refused quantity null with its reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from analysis.formatting import fmt

SUPPORTED, NOT_SUPPORTED, UNTESTABLE = "supported", "not supported", "cannot be tested here"
ONE_RUN = "one run: within-run noise only"
WITHIN_RUN = "rests on this run's own noise"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """A claim, what the data say about it, and what that rests on."""

    claim: str
    verdict: str
    estimate: str
    caveats: tuple[str, ...] = ()
    basis: str = ONE_RUN


def _assumes(finding: Finding, assumption: str | None) -> Finding:
    """Add the within-run assumption to a finding that was decided (not to a refusal)."""
    if finding.verdict == UNTESTABLE or assumption is None:
        return finding
    return dataclasses.replace(
        finding, caveats=(*finding.caveats, f"{WITHIN_RUN}: assumes {assumption}")
    )


def _layer_corr(value: Any) -> str | None:
    """'the estimated correlation of adjacent layers' noise of 0.42' (None if not measured)."""
    if isinstance(value, dict):
        parts = [f"{k} {fmt(v, 2)}" for k, v in value.items() if v is not None]
        return f"the estimated correlations of adjacent layers' noise ({', '.join(parts)})"
    if value is None:
        return None
    return f"the estimated correlation of adjacent layers' noise of {fmt(value, 2)}"


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
    two = None if fit.get("ratio") is None or not ratio_ci else bool(ratio_ci[0] > 1)
    aic = (fit.get("delta_aic") or {}).get("one_timescale")
    wave_finding = _claim(
        "Compression travels from early to late layers (wave)",
        {**wave, "early_to_late": early_to_late},
        "early_to_late",
        f"speed {_ci(wave.get('speed'), wave.get('speed_ci'), ' layers/1k steps')}; "
        f"p = {fmt(wave.get('wave_p'), 2)} (onset slope over layers)",
        "has_wave",
        "speed",
    )
    if direction == "late_to_early":
        wave_finding = dataclasses.replace(
            wave_finding, caveats=(*wave_finding.caveats, "the wave runs late to early")
        )
    layers = _layer_corr(wave.get("layer_corr"))
    return [
        _assumes(wave_finding, layers),
        _assumes(
            _claim(
                "The early–late gradient G(t) reverses",
                wave,
                "has_reversal",
                f"reversal at step "
                f"{_ci(wave.get('reversal_step'), wave.get('reversal_step_ci'))}; "
                f"p = {fmt(wave.get('reversal_p'), 2)}",
                "reversal_step",
            ),
            layers,
        ),
        _assumes(
            _claim(
                "α forms an inverted U over depth",
                prof,
                "is_inverted_u",
                f"vertex {_ci(prof.get('vertex'), prof.get('vertex_ci'))}, curvature "
                f"{_ci(prof.get('curvature'), prof.get('curvature_ci'))}; two-lines p = "
                f"{fmt(prof.get('inverted_u_p'), 2)}",
                "vertex",
                "coef",
            ),
            _layer_corr(prof.get("layer_corr")),
        ),
        _assumes(
            _claim(
                "The α depth profile persists (stopped moving over the final third)",
                prof,
                "is_persistent",
                f"shape change over the final third {fmt(prof.get('drift'), 2)} of the profile "
                f"(95% upper bound {fmt(prof.get('drift_upper'), 2)}, tolerance "
                f"{fmt(prof.get('tolerance'), 2)}); Δα = {fmt(prof.get('delta_alpha'), 3)}",
                "settle_step",
            ),
            "noise AR(1) in time (its coefficient measured over the whole run)",
        ),
        _assumes(
            _claim(
                "Q/K carry the depth dependence, V/O compress uniformly",
                asym,
                "asymmetric",
                f"ln-onset slope Q/K {_ci(asym.get('qk_slope'), asym.get('qk_slope_ci'))}, "
                f"V/O {_ci(asym.get('vo_slope'), asym.get('vo_slope_ci90'))} (90%)",
            ),
            _layer_corr(asym.get("layer_corr") or None),
        ),
        _assumes(
            _claim(
                "Two timescales: α settles slower than compression",
                {**fit, "two_timescales": two},
                "two_timescales",
                f"τ_slow/τ_fast {_ci(fit.get('ratio'), ratio_ci)}; "
                f"ΔAIC vs one timescale {fmt(aic, 3)}",
                "fit",
                "ratio",
            ),
            "residuals AR(1) in time and across layers",
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
