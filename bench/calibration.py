"""Print the calibration table: every decision's false-positive rate under its null and every
interval's coverage under planted truth, at depths 4, 8, 12 and 24 (sweeps: depths 4–36).

Usage: python bench/calibration.py [--n 2000] [--seed 0]
Rates come from `analysis.calibration.rates` (simulated runs through the analyses' own cores). A
false-positive rate should be ≤ 0.05, a coverage near 0.95; "refused" means the analysis does
not make that decision at this depth (it says why). Takes ~2 minutes on a 2-core CPU at n=2000.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

from analysis.calibration import rates as cal
from analysis.calibration.rates import Rate
from analysis.calibration.simulate import Noise, Wave

DEPTHS = (4, 8, 12, 24)
SWEEP = (4, 8, 12, 16, 24, 36)


@dataclass(frozen=True)
class Row:
    decision: str
    kind: str  # "false positives" | "coverage" | "power"
    depth: str
    rate: Rate
    nominal: float | None = None
    checked: bool = True  # the slow test holds coverage within 5 points of nominal


def table(n: int = 2000, seed: int = 0) -> list[Row]:
    """Every row of the table (n simulated runs each; fewer for the costlier ones)."""
    rows: list[Row] = []
    few = max(n // 4, 100)
    for depth in DEPTHS:
        d = str(depth)
        rows += [
            Row("wave", "false positives", d, cal.wave_false_positives(depth, n, seed)),
            Row(
                "wave speed CI",
                "coverage",
                d,
                cal.wave_speed_coverage(depth, n, seed),
                0.95,
                checked=depth <= 8,
            ),
            Row(
                "G reversal (wave, no reversal)",
                "false positives",
                d,
                cal.reversal_false_positives(depth, few, seed),
            ),
            Row(
                "G reversal (no wave)",
                "false positives",
                d,
                cal.reversal_false_positives(depth, few, seed, wave=cal.NULL_WAVE),
            ),
            Row(
                "inverted U (peak at last layer)",
                "false positives",
                d,
                cal.inverted_u_false_positives(depth, n, seed),
            ),
            Row(
                "persistence (drift = tolerance)",
                "false positives",
                d,
                cal.persistence_false_positives(depth, n, seed),
            ),
            Row(
                "persistence (static, α noise 0.02)",
                "power",
                d,
                cal.settled_power(depth, n, seed, noise=Noise(alpha=0.02, ar=0.3)),
            ),
            Row(
                "Q/K–V asymmetry (none)",
                "false positives",
                d,
                cal.asymmetry_false_positives(depth, few, seed),
            ),
            Row(
                "Q/K–V asymmetry (all kinds alike)",
                "false positives",
                d,
                cal.asymmetry_false_positives(depth, few, seed, qk=Wave()),
            ),
        ]
        if depth >= 8:
            rows.append(
                Row(
                    "reversal step CI",
                    "coverage",
                    d,
                    cal.reversal_step_coverage(depth, few, seed),
                    0.95,
                    checked=False,
                )
            )
        profile = cal.profile_coverage(depth, n, seed)
        rows += [
            Row("curvature CI", "coverage", d, profile["curvature"], 0.95),
            Row(
                "vertex CI (when reported)",
                "coverage",
                d,
                profile["vertex"],
                0.95,
                checked=depth >= 8,
            ),
            Row("vertex CI reported", "power", d, profile["vertex_reported"]),
        ]
    sweep = "4–36"
    rows += [
        Row(
            "β ≠ 0 (pure noise)",
            "false positives",
            sweep,
            cal.scaling_false_positives(SWEEP, n, seed),
        ),
        Row(
            "β ≠ 0 (same Δα at every depth)",
            "false positives",
            sweep,
            cal.scaling_false_positives(SWEEP, n, seed, amplitude=0.5, sd=0.05),
        ),
        Row(
            "β ≠ 0, max − min estimator (pure noise)",
            "false positives",
            sweep,
            cal.range_beta_false_positives(SWEEP, n, seed),
            checked=False,
        ),
        Row("β CI", "coverage", sweep, cal.beta_coverage(SWEEP, n, seed), 0.95),
        Row("vertex shift", "false positives", sweep, cal.vertex_shift(SWEEP, n, seed)),
        Row(
            "vertex shift slope CI",
            "coverage",
            sweep,
            cal.vertex_shift(SWEEP, n, seed, slope=-0.05),
            0.95,
        ),
    ]
    model = cal.two_timescale_coverage(max(n // 10, 20), seed)
    rows += [
        Row("τ_fast CI", "coverage", "6", model["tau_fast"], 0.95),
        Row("τ_slow CI", "coverage", "6", model["tau_slow"], 0.95),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="simulated runs per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = table(args.n, args.seed)
    cpu = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    print(f"calibration on {cpu}, n={args.n}")
    print("| decision | measures | depth | rate | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        target = (
            "≤ 0.05"
            if row.kind == "false positives"
            else (f"{row.nominal:.2f}" if row.nominal else "—")
        )
        print(f"| {row.decision} | {row.kind} | {row.depth} | {row.rate} | {target} |")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
