"""What `python -m analysis health` prints: the rules in force, the events, a layer × kind table
of what is flagged at the last snapshot, and the verdict line."""

from __future__ import annotations

from analysis.health.sources import Judged
from analysis.health.timeline import HealthTimeline
from spectral_jax.health import HealthConfig


def describe_rules(config: HealthConfig) -> str:
    """One line: every rule evaluated, with its threshold, and when rules fire."""
    c = config
    parts = {
        "alpha_low": lambda: f"alpha_low (α < {c.alpha_floor:g})",
        "alpha_high": lambda: f"alpha_high (α > {c.alpha_ceiling:g})",
        "rank_collapse": lambda: f"rank_collapse (stable rank < {c.rank_collapse:g} × first)",
        "sigma_growth": lambda: (
            f"sigma_growth (σ_max × > {c.sigma_growth:g} over {c.sigma_window} snapshots)"
        ),
        "non_finite": lambda: "non_finite",
    }
    rules = ", ".join(parts[rule]() for rule in config.enabled())
    return (
        f"rules: {rules}; a rule fires after {config.persistence} consecutive snapshots "
        f"(non_finite at once); α and σ_max rules judged from step {config.warmup:,}"
    )


def flag_table(timeline: HealthTimeline, layers: dict[str, list[int]]) -> str:
    """Layer × kind: the rules in force for each matrix at the last snapshot (`ok`: none)."""
    kinds = sorted(layers)
    rows = sorted({layer for ls in layers.values() for layer in ls})
    cell: dict[tuple[int, str], list[str]] = {}
    for flag in timeline.flags:
        cell.setdefault((flag.layer, flag.kind), []).append(flag.rule)
    table = [["layer", *kinds]]
    for layer in rows:
        label = "emb" if layer < 0 else str(layer)
        table.append(
            [label]
            + [
                "+".join(cell.get((layer, kind), [])) or ("ok" if layer in layers[kind] else "")
                for kind in kinds
            ]
        )
    widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table
    )


def report(judged: Judged) -> str:
    """The whole printout for one source."""
    t = judged.timeline
    span = f"steps {t.steps[0]:,}–{t.steps[-1]:,}" if len(t.steps) > 1 else f"step {t.steps[0]:,}"
    lines = [
        f"health of {judged.source}: {judged.kind}, {len(t.steps)} snapshot(s) ({span})",
        describe_rules(t.config),
    ]
    for rule, why in t.not_judged.items():
        lines.append(f"not judged: {rule} ({why})")
    if judged.kind in ("run", "store"):
        for event in t.events:
            state = "fired  " if event.state == "start" else "cleared"
            lines.append(f"step {event.step:>9,}  {state}  {event.message}")
    else:
        latest = {(e.rule, e.layer, e.kind): e for e in t.events if e.state == "start"}
        lines.append(f"at step {t.steps[-1]:,}:")
        lines.append(flag_table(t, judged.layers))
        lines += [
            f"  {latest[(f.rule, f.layer, f.kind)].message}"
            for f in t.flags
            if (f.rule, f.layer, f.kind) in latest
        ]
    lines.append(verdict(judged))
    return "\n".join(lines)


def verdict(judged: Judged) -> str:
    """`flagged: ...` or `clean: ...` (the exit code follows it)."""
    t = judged.timeline
    if judged.kind in ("run", "store"):
        fired = [e for e in t.events if e.state == "start"]
        if not fired:
            return "clean: no rule fired"
        matrices = {(e.layer, e.kind) for e in fired}
        return (
            f"flagged: {len(fired)} rule start(s) on {len(matrices)} matrix(es); "
            f"in force at the last snapshot: {len(t.flags)}"
        )
    if not t.flags:
        return "clean: nothing flagged at the last snapshot"
    counts: dict[str, int] = {}
    for flag in t.flags:
        counts[flag.rule] = counts.get(flag.rule, 0) + 1
    listed = ", ".join(f"{rule} {n}" for rule, n in counts.items())
    return f"flagged: {len(t.flags)} rule(s) in force at the last snapshot ({listed})"
