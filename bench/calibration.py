"""Print the calibration grid: every decision's false-positive rate beside its power and every
interval's coverage, at 8, 12 and 24 layers, over noise whose adjacent layers are correlated 0,
0.3, 0.5 or 0.7 and which is AR(1) 0, 0.5 or 0.9 in time, with a trend every layer shares (and
two cells whose noise SD grows with depth); then the worst cell of each row, re-measured with
fresh runs (the README table: the worst of many noisy cells is biased towards failing, so that
cell is measured again independently);
then the persistence test at its tolerance boundary and at half of it over α noise 0.02–0.2;
then each claim's test across seeds for groups of 3, 5 and 9 seeds at 12 layers.

Usage: python bench/calibration.py [--n 200] [--seed 0] [--confirm 2000] [--quick] [--measured]
`--measured`: only every row at the noise measured on real runs (`Noise()`'s defaults: its SDs,
their growth with depth, AR(1) in time and adjacent-layer correlation), the README's last row.
Rates come from `analysis.calibration.grid` (simulated runs through the analyses' own cores).
A false-positive rate should be ≤ 0.05, a coverage ≥ 0.90 (nominal 0.95); "declined": runs
whose noise correlation the analysis refused to estimate. `--quick`: 12 layers, the corners of
the grid, no two-timescale fits, sweeps or seeds. Takes ~40 minutes on a 2-core CPU at n=200.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

from analysis.calibration.grid import (
    AR,
    CELLS,
    DEPTH_SD_CELLS,
    Cell,
    Row,
    confirm,
    grid_rows,
    measured_cell,
    measured_rows,
    persistence_rows,
    worst,
)
from analysis.calibration.seed_rates import seed_rows
from analysis.calibration.simulate import INDEPENDENT


def _cell_rate(row: Row) -> str:
    rate = row.rate
    if rate.refused:
        return "refused"
    if not rate.n:
        return "declined"
    return f"{rate.rate:.3f}" + ("*" if rate.declined else "")


def print_grid(rows: list[Row], cells: tuple[Cell, ...]) -> None:
    """One line per decision and depth, one column per noise structure."""
    print("| decision | measures | L | " + " | ".join(str(c) for c in cells) + " |")
    print("|---" * (3 + len(cells)) + "|")
    keyed = {(r.decision, r.kind, r.depth, r.cell): r for r in rows}
    order = dict.fromkeys((r.decision, r.kind, r.depth) for r in rows)
    for decision, kind, depth in order:
        rates = [keyed.get((decision, kind, depth, c)) for c in cells]
        text = [_cell_rate(r) if r else "" for r in rates]
        print(f"| {decision} | {kind} | {depth} | " + " | ".join(text) + " |")


def print_worst(rows: list[Row], confirm_n: int, seed: int) -> None:
    """The worst cell of each row, re-measured with `confirm_n` fresh runs (false positives
    and coverage; power rows: the lowest over the cells)."""
    picked = worst(rows)
    checked = [r for r in picked if r.kind != "power"]
    again = dict(zip(map(id, checked), confirm(checked, confirm_n, seed + 1), strict=True))
    print(
        f"| decision | measures | L | worst cell | where | re-measured ({confirm_n} runs) | target |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in picked:
        target = {"false positives": "≤ 0.05", "coverage": "≥ 0.90"}.get(row.kind, "—")
        rate = str(row.rate)
        if row.kind == "power" and row.rate.n and row.rate.hits == 0:
            rate += " (no power)"
        second = str(again[id(row)].rate) if id(row) in again else ""
        print(
            f"| {row.decision} | {row.kind} | {row.depth} | {rate} | {row.cell} | {second} | {target} |"
        )


def print_persistence(rows: list[Row]) -> None:
    """Per depth and α noise: persistent at the boundary (false positives) and at half of it."""
    noises = list(dict.fromkeys((r.cell.ar, r.cell.layer_corr) for r in rows))
    heads = [
        f"{what}, AR {ar:g}, ρ_L {corr:g}"
        for ar, corr in noises
        for what in ("drift = tol", "drift = tol/2")
    ]
    print("| L | α noise | " + " | ".join(heads) + " |")
    print("|---" * (2 + len(heads)) + "|")
    keyed = {(r.depth, r.cell.alpha, r.cell.ar, r.cell.layer_corr, r.kind): r for r in rows}
    for depth, sd in dict.fromkeys((r.depth, r.cell.alpha) for r in rows):
        text = [
            str(keyed[(depth, sd, ar, corr, kind)].rate)
            for ar, corr in noises
            for kind in ("false positives", "power")
        ]
        print(f"| {depth} | {sd:g} | " + " | ".join(text) + " |")


def print_seeds(rows: list) -> None:
    """One line per claim and measure, one column per group size and noise."""
    columns = list(dict.fromkeys((k, noise) for _, _, k, noise, _ in rows))
    heads = [f"{k} seeds, ρ_L {n.layer_corr:g} AR {n.ar:g}" for k, n in columns]
    print("| decision | measures | " + " | ".join(heads) + " |")
    print("|---" * (2 + len(heads)) + "|")
    keyed = {(d, m, k, n): r for d, m, k, n, r in rows}
    for decision, measure in dict.fromkeys((d, m) for d, m, *_ in rows):
        text = [str(keyed[(decision, measure, k, n)]) for k, n in columns]
        print(f"| {decision} | {measure} | " + " | ".join(text) + " |")


def print_measured(n: int, seed: int) -> None:
    """Every decision and interval at the measured noise, one line each."""
    cell = measured_cell()
    print(f"at the noise measured on real runs ({cell}), n={n} runs per row\n")
    print("| decision | measures | L | rate | target |")
    print("|---|---|---|---|---|")
    for row in measured_rows(n, seed, cell=cell):
        target = {"false positives": "≤ 0.05", "coverage": "≥ 0.90"}.get(row.kind, "—")
        print(f"| {row.decision} | {row.kind} | {row.depth} | {_cell_rate(row)} | {target} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="simulated runs per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="12 layers, grid corners only")
    parser.add_argument(
        "--confirm", type=int, default=2000, help="runs re-measuring each row's worst cell"
    )
    parser.add_argument(
        "--measured", action="store_true", help="only every row at the noise of real runs"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    if args.measured:
        print_measured(args.n, args.seed)
        print(f"\n({time.perf_counter() - started:.0f} s)")
        return
    cells = CELLS + DEPTH_SD_CELLS
    depths: tuple[int, ...] = (8, 12, 24)
    if args.quick:
        cells = tuple(c for c in CELLS if c.layer_corr in (0.0, 0.7) and c.ar in (AR[0], AR[-1]))
        depths = (12,)
    rows = grid_rows(
        args.n, args.seed, depths=depths, cells=cells, model=not args.quick, sweeps=not args.quick
    )
    cpu = f"{platform.machine()} CPU, {os.cpu_count()} cores"
    print(f"calibration grid on {cpu}, n={args.n} runs per cell (two-timescale: n/2)")
    print("* some runs declined (noise correlation not estimable); rates are among the others\n")
    print_grid(rows, cells)
    print("\nworst cell of each row (layer correlation ≤ 0.7, AR(1) ≤ 0.9; SD growing with depth")
    print("is shown in the grid but not part of this table)\n")
    print_worst(rows, args.confirm, args.seed)
    persistence = persistence_rows(max(args.n, 500), args.seed, depths=depths)
    print("\npersistence (tolerance 0.2)\n")
    print_persistence(persistence)
    if not args.quick:
        print("\ntests across seeds, 12 layers (independent noise; correlated 0.7, AR(1) 0.9)\n")
        smooth = replace(INDEPENDENT, layer_corr=0.7, ar=0.9)
        print_seeds(seed_rows(args.n, args.seed, 12, (INDEPENDENT, smooth)))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
