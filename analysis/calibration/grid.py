"""The calibration grid: every decision's false-positive rate beside its power, and every
interval's coverage, over noise structures — correlation of adjacent layers 0, 0.3, 0.5, 0.7 ×
AR(1) in time 0, 0.5, 0.9, with a trend every layer shares — at 8, 12 and 24 layers; the
persistence test at its tolerance boundary and at half of it over α noise 0.02–0.2.

`grid_rows` measures it (`bench/calibration.py` prints it), `worst` keeps the worst cell of each
row (the highest false-positive rate, the lowest coverage and power), which is what the README
shows. A power of 0 is reported as such: a false-positive rate beside no power is no pass.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from analysis.calibration import model_rates
from analysis.calibration import profile_rates as prof
from analysis.calibration import rates as cal
from analysis.calibration.rates import Rate
from analysis.calibration.simulate import Noise, Wave

DEPTHS = (8, 12, 24)
LAYER_CORR = (0.0, 0.3, 0.5, 0.7)
AR = (0.0, 0.5, 0.9)
SWEEP = (4, 8, 12, 16, 24, 36)
ALPHA_NOISE = (0.02, 0.05, 0.1, 0.2)  # persistence
PERSISTENCE_AR = (0.5, 0.9)
TOL = 0.2


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One noise structure of the grid."""

    layer_corr: float = 0.0
    ar: float = 0.0
    depth_sd: float = 0.0
    alpha: float = 0.2  # SD of α per snapshot

    def noise(self) -> Noise:
        return Noise(
            alpha=self.alpha, ar=self.ar, layer_corr=self.layer_corr, depth_sd=self.depth_sd
        )

    def __str__(self) -> str:
        out = f"ρ_L {self.layer_corr:g}, AR {self.ar:g}"
        return out + (f", SD×(1+{self.depth_sd:g}x)" if self.depth_sd else "")


CELLS = tuple(Cell(layer_corr=r, ar=a) for r, a in itertools.product(LAYER_CORR, AR))
DEPTH_SD_CELLS = (Cell(depth_sd=2.0, ar=0.5), Cell(depth_sd=2.0, ar=0.5, layer_corr=0.7))


@dataclass(frozen=True, kw_only=True)
class Row:
    """One decision or interval at one depth and one noise structure."""

    decision: str
    kind: str  # "false positives" | "power" | "coverage"
    depth: str
    cell: Cell
    rate: Rate
    checked: bool = True  # part of the done criteria (FP ≤ 0.05, coverage ≥ 0.90)


Measure = Callable[[int, int, int, Noise], Rate]

# (decision, kind, measure(layers, n, seed, noise)); a power row follows its false positives
DECISIONS: tuple[tuple[str, str, Measure], ...] = (
    ("wave (all layers compress together)", "false positives", cal.wave_rate),
    (
        "wave (onsets 100 steps apart end to end)",
        "power",
        lambda L, n, s, z: cal.wave_rate(L, n, s, z, cal.WEAK_WAVE),
    ),
    ("G reversal (wave, no reversal)", "false positives", cal.reversal_rate),
    (
        "G reversal (no wave)",
        "false positives",
        lambda L, n, s, z: cal.reversal_rate(L, n, s, z, cal.NULL_WAVE),
    ),
    ("G reversal (planted)", "power", lambda L, n, s, z: cal.reversal_rate(L, n, s, z, Wave())),
    ("inverted U (peak at last layer)", "false positives", prof.inverted_u_rate),
    (
        "inverted U (k = 0.5, vertex 0.5)",
        "power",
        lambda L, n, s, z: prof.inverted_u_rate(L, n, s, z, prof.WEAK_U),
    ),
    ("Q/K–V asymmetry (none)", "false positives", cal.asymmetry_rate),
    (
        "Q/K–V asymmetry (all kinds alike)",
        "false positives",
        lambda L, n, s, z: cal.asymmetry_rate(L, n, s, z, qk=Wave()),
    ),
    (
        "Q/K–V asymmetry (planted)",
        "power",
        lambda L, n, s, z: cal.asymmetry_rate(L, n, s, z, qk=Wave(), vo=cal.NULL_WAVE),
    ),
    ("wave speed CI", "coverage", cal.wave_speed_coverage),
    ("reversal step CI", "coverage", cal.reversal_step_coverage),
)


def _seed(seed: int, *parts: object) -> int:
    """A fixed seed per row and cell (so rows do not share simulated runs)."""
    return (seed * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % 2**31


def _profile_rows(depth: int, cell: Cell, n: int, seed: int) -> list[Row]:
    rates = prof.profile_coverage(depth, n, _seed(seed, "profile", depth, cell), cell.noise())
    return [
        Row(
            decision="curvature CI",
            kind="coverage",
            depth=str(depth),
            cell=cell,
            rate=rates["curvature"],
        ),
        Row(
            decision="vertex CI (when reported)",
            kind="coverage",
            depth=str(depth),
            cell=cell,
            rate=rates["vertex"],
        ),
        Row(
            decision="vertex CI reported",
            kind="power",
            depth=str(depth),
            cell=cell,
            rate=rates["vertex_reported"],
        ),
    ]


def grid_rows(
    n: int = 200,
    seed: int = 0,
    *,
    depths: Iterable[int] = DEPTHS,
    cells: Iterable[Cell] = CELLS + DEPTH_SD_CELLS,
    model: bool = True,
    sweeps: bool = True,
) -> list[Row]:
    """Every row of the grid, `n` simulated runs each (two-timescale fits: n // 2, at 8 layers)."""
    rows: list[Row] = []
    cells = tuple(cells)
    for depth, cell in itertools.product(depths, cells):
        noise = cell.noise()
        checked = cell.depth_sd == 0
        for decision, kind, measure in DECISIONS:
            rate = measure(depth, n, _seed(seed, decision, depth, cell), noise)
            rows.append(
                Row(
                    decision=decision,
                    kind=kind,
                    depth=str(depth),
                    cell=cell,
                    rate=rate,
                    checked=checked,
                )
            )
        rows += [
            Row(
                decision=r.decision,
                kind=r.kind,
                depth=r.depth,
                cell=cell,
                rate=r.rate,
                checked=checked,
            )
            for r in _profile_rows(depth, cell, n, seed)
        ]
    if model:
        for cell in cells:
            if cell.depth_sd:
                continue
            noise = Noise(rank=0.01, alpha=0.1, ar=cell.ar, layer_corr=cell.layer_corr)
            fits = model_rates.two_timescale_coverage(
                max(n // 2, 20), _seed(seed, "model", cell), 8, noise
            )
            rows += [
                Row(
                    decision="τ_fast CI",
                    kind="coverage",
                    depth="8",
                    cell=cell,
                    rate=fits["tau_fast"],
                ),
                Row(
                    decision="τ_slow CI",
                    kind="coverage",
                    depth="8",
                    cell=cell,
                    rate=fits["tau_slow"],
                ),
            ]
    if sweeps:
        rows += _sweep_rows(n, seed, cells)
    return rows


def _sweep_rows(n: int, seed: int, cells: tuple[Cell, ...]) -> list[Row]:
    """The scaling law and vertex shift over depths 4–36 (α noise 0.05 for the planted laws)."""
    rows = []
    sweep = "4–36"
    for cell in cells:
        if cell.depth_sd:
            continue
        noise = cell.noise()
        planted = Noise(alpha=0.05, ar=cell.ar, layer_corr=cell.layer_corr)
        rows += [
            Row(
                decision="β ≠ 0 (pure noise)",
                kind="false positives",
                depth=sweep,
                cell=cell,
                rate=prof.scaling_false_positives(SWEEP, n, _seed(seed, "beta0", cell), noise),
            ),
            Row(
                decision="β ≠ 0 (same Δα at every depth)",
                kind="false positives",
                depth=sweep,
                cell=cell,
                rate=prof.scaling_false_positives(
                    SWEEP, n, _seed(seed, "beta1", cell), planted, amplitude=0.5
                ),
            ),
            Row(
                decision="β CI",
                kind="coverage",
                depth=sweep,
                cell=cell,
                rate=prof.beta_coverage(SWEEP, n, _seed(seed, "beta", cell), planted),
            ),
            Row(
                decision="vertex shift",
                kind="false positives",
                depth=sweep,
                cell=cell,
                rate=prof.vertex_shift(SWEEP, n, _seed(seed, "vs0", cell), planted),
            ),
            Row(
                decision="vertex shift slope CI",
                kind="coverage",
                depth=sweep,
                cell=cell,
                rate=prof.vertex_shift(SWEEP, n, _seed(seed, "vs1", cell), planted, slope=-0.05),
            ),
        ]
    return rows


def persistence_rows(n: int = 1000, seed: int = 0, depths: Iterable[int] = DEPTHS) -> list[Row]:
    """The persistence test at its boundary (drift = tol) and at half of it, per α noise."""
    rows = []
    for depth, sd, ar in itertools.product(depths, ALPHA_NOISE, PERSISTENCE_AR):
        cell = Cell(alpha=sd, ar=ar)
        for drift, kind in ((TOL, "false positives"), (TOL / 2, "power")):
            rate = prof.persistence_rate(
                depth,
                n,
                _seed(seed, "persist", drift, depth, cell),
                drift=drift,
                tol=TOL,
                noise=cell.noise(),
            )
            name = f"persistence, α noise {sd:g} (drift {'= tol' if drift == TOL else '= tol/2'})"
            rows.append(Row(decision=name, kind=kind, depth=str(depth), cell=cell, rate=rate))
    return rows


def worst(rows: Iterable[Row]) -> list[Row]:
    """Per (decision, kind, depth) over the checked cells: the highest false-positive rate,
    the lowest coverage or power (declined-only cells left aside)."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        if row.checked and row.rate.n:
            groups.setdefault((row.decision, row.kind, row.depth), []).append(row)
    out = []
    for group in groups.values():
        pick = max if group[0].kind == "false positives" else min
        out.append(pick(group, key=lambda r: r.rate.rate))
    return out
