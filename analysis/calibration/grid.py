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
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from analysis.calibration import model_rates
from analysis.calibration import profile_rates as prof
from analysis.calibration import rates as cal
from analysis.calibration.rates import Rate
from analysis.calibration.simulate import INDEPENDENT, Noise, Wave

DEPTHS = (8, 12, 24)
LAYER_CORR = (0.0, 0.3, 0.5, 0.7)
AR = (0.0, 0.5, 0.9)
SWEEP = (4, 8, 12, 16, 24, 36)
ALPHA_NOISE = (0.02, 0.05, 0.1, 0.2)  # persistence
PERSISTENCE_NOISE = ((0.5, 0.0), (0.9, 0.0), (0.5, 0.7))  # (AR(1) in time, layer correlation)
TOL = 0.2
FP, POWER, COVERAGE = "false positives", "power", "coverage"  # the kinds of row


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One noise structure of the grid."""

    layer_corr: float = 0.0
    ar: float = 0.0
    depth_sd: float = 0.0
    alpha: float = 0.2  # SD of α per snapshot
    rank: float = 0.01  # relative SD of the stable rank per snapshot
    offset: float = 0.0  # SD of fixed per-layer offsets of α
    rank_ar: float | None = None  # the stable rank's AR(1) in time, where it differs from α's
    rank_layer_corr: float | None = None  # the stable rank's layer correlation, likewise
    measured: bool = False  # SDs as measured: rows that set their own SD take the cell's

    def noise(self) -> Noise:
        return Noise(**{f.name: getattr(self, f.name) for f in fields(Noise)})

    def __str__(self) -> str:
        out = f"ρ_L {self.layer_corr:g}, AR {self.ar:g}"
        out += f", SD×(1+{self.depth_sd:g}x)" if self.depth_sd else ""
        if self.rank_ar is not None:
            out += f" (stable rank AR {self.rank_ar:g})"
        if self.rank_layer_corr is not None:
            out += f" (stable rank ρ_L {self.rank_layer_corr:g})"
        return out + (f", α SD {self.alpha:g}, rank SD {self.rank:g}" if self.measured else "")


CELLS = tuple(Cell(layer_corr=r, ar=a) for r, a in itertools.product(LAYER_CORR, AR))
DEPTH_SD_CELLS = (Cell(depth_sd=2.0, ar=0.5), Cell(depth_sd=2.0, ar=0.5, layer_corr=0.7))


@dataclass(frozen=True, kw_only=True)
class Row:
    """One decision or interval at one depth and one noise structure."""

    decision: str
    kind: str  # "false positives" | "power" | "coverage" (FP, POWER, COVERAGE)
    depth: str
    cell: Cell
    rate: Rate
    checked: bool = True  # part of the done criteria (FP ≤ 0.05, coverage ≥ 0.90)


@dataclass(frozen=True, kw_only=True)
class Measure:
    """One row of the grid: `rate(layers, n, seed, cell)`; `scope` "depth" (every depth of
    the grid), "model" (the two-timescale fits, 8 layers) or "sweep" (depths 4–36)."""

    decision: str
    kind: str
    rate: Callable[[int, int, int, Cell], Rate]
    scope: str = "depth"


def _model_noise(cell: Cell) -> Noise:
    if cell.measured:
        return cell.noise()
    return replace(INDEPENDENT, alpha=0.1, ar=cell.ar, layer_corr=cell.layer_corr)


@lru_cache(maxsize=64)
def _model_coverage(layers: int, n: int, seed: int, cell: Cell) -> dict[str, Rate]:
    """Both τ intervals from one set of fits (the costliest rows: a fit per run)."""
    return model_rates.two_timescale_coverage(n, seed, layers, _model_noise(cell))


def _planted_noise(cell: Cell) -> Noise:
    if cell.measured:
        return cell.noise()
    return replace(INDEPENDENT, alpha=0.05, ar=cell.ar, layer_corr=cell.layer_corr)


def _at_depth(
    decision: str, kind: str, rate: Callable[..., Rate], *args: object, **kwargs: object
) -> Measure:
    """A decision at every depth of the grid: `rate(layers, n, seed, noise, *args, **kwargs)`
    under the cell's noise."""
    return Measure(
        decision=decision,
        kind=kind,
        rate=lambda layers, n, seed, cell: rate(layers, n, seed, cell.noise(), *args, **kwargs),
    )


def _over_sweep(
    decision: str,
    kind: str,
    rate: Callable[..., Rate],
    *,
    noise: Callable[[Cell], Noise] = _planted_noise,
    **kwargs: object,
) -> Measure:
    """A decision across the depths of `SWEEP`: `rate(SWEEP, n, seed, noise(cell), **kwargs)`."""
    return Measure(
        decision=decision,
        kind=kind,
        rate=lambda layers, n, seed, cell: rate(SWEEP, n, seed, noise(cell), **kwargs),
        scope="sweep",
    )


def _from_model_fits(decision: str, key: str) -> Measure:
    """The coverage of one interval of the two-timescale fits (one set of fits for all)."""
    return Measure(
        decision=decision,
        kind=COVERAGE,
        rate=lambda layers, n, seed, cell: _model_coverage(layers, n, seed, cell)[key],
        scope="model",
    )


def _profile_coverage(layers: int, n: int, seed: int, noise: Noise, key: str) -> Rate:
    return prof.profile_coverage(layers, n, seed, noise)[key]


MEASURES: tuple[Measure, ...] = (
    _at_depth("wave (all layers compress together)", FP, cal.wave_rate),
    _at_depth("wave (onsets 100 steps apart end to end)", POWER, cal.wave_rate, cal.WEAK_WAVE),
    _at_depth("G reversal (wave, no reversal)", FP, cal.reversal_rate),
    _at_depth("G reversal (no wave)", FP, cal.reversal_rate, cal.NULL_WAVE),
    _at_depth("G reversal (planted)", POWER, cal.reversal_rate, Wave()),
    _at_depth("inverted U (peak at last layer)", FP, prof.inverted_u_rate),
    _at_depth("inverted U (k = 0.5, vertex 0.5)", POWER, prof.inverted_u_rate, prof.WEAK_U),
    _at_depth("Q/K–V asymmetry (none)", FP, cal.asymmetry_rate),
    _at_depth("Q/K–V asymmetry (all kinds alike)", FP, cal.asymmetry_rate, qk=Wave()),
    _at_depth("Q/K–V asymmetry (planted)", POWER, cal.asymmetry_rate, Wave(), cal.NULL_WAVE),
    _at_depth("wave speed CI", COVERAGE, cal.wave_speed_coverage),
    _at_depth("reversal step CI", COVERAGE, cal.reversal_step_coverage),
    _at_depth("curvature CI", COVERAGE, _profile_coverage, "curvature"),
    _at_depth("vertex CI (when reported)", COVERAGE, _profile_coverage, "vertex"),
    _at_depth("vertex CI reported", POWER, _profile_coverage, "vertex_reported"),
    _from_model_fits("τ_fast CI", "tau_fast"),
    _from_model_fits("τ_slow CI", "tau_slow"),
    _over_sweep("β ≠ 0 (pure noise)", FP, prof.scaling_false_positives, noise=Cell.noise),
    _over_sweep("β ≠ 0 (same Δα at every depth)", FP, prof.scaling_false_positives, amplitude=0.5),
    _over_sweep("β ≠ 0 (planted β = 0.26)", POWER, prof.beta_power),
    _over_sweep("β CI", COVERAGE, prof.beta_coverage),
    _over_sweep("vertex shift", FP, prof.vertex_shift),
    _over_sweep(
        "vertex shift (planted slope −0.05 per ln L)",
        POWER,
        prof.vertex_shift,
        slope=-0.05,
        moves=True,
    ),
    _over_sweep("vertex shift slope CI", COVERAGE, prof.vertex_shift, slope=-0.05),
)
MODEL_DEPTH = 8
SWEEP_NAME = "4–36"


def _seed(seed: int, *parts: object) -> int:
    """A fixed seed per row and cell (so rows do not share simulated runs)."""
    return (seed * 1_000_003 + zlib.crc32("|".join(map(str, parts)).encode())) % 2**31


def _measure(m: Measure, depth: str, n: int, seed: int, cell: Cell) -> Row:
    layers = MODEL_DEPTH if m.scope == "model" else 0 if m.scope == "sweep" else int(depth)
    runs = max(n // 2, 20) if m.scope == "model" else n
    name = "two-timescale fits" if m.scope == "model" else m.decision  # one set for both τ
    rate = m.rate(layers, runs, _seed(seed, name, depth, cell), cell)
    return Row(
        decision=m.decision,
        kind=m.kind,
        depth=depth,
        cell=cell,
        rate=rate,
        checked=cell.depth_sd == 0,
    )


def grid_rows(
    n: int = 200,
    seed: int = 0,
    *,
    depths: Iterable[int] = DEPTHS,
    cells: Iterable[Cell] = CELLS + DEPTH_SD_CELLS,
    model: bool = True,
    sweeps: bool = True,
) -> list[Row]:
    """Every row of the grid, `n` simulated runs each (two-timescale fits: n // 2, at 8
    layers; those and the sweeps only where the noise SD does not grow with depth)."""
    cells = tuple(cells)
    rows = [
        _measure(m, str(depth), n, seed, cell)
        for depth in depths
        for cell in cells
        for m in MEASURES
        if m.scope == "depth"
    ]
    plain = [c for c in cells if not c.depth_sd]
    for m in MEASURES:
        if (m.scope == "model" and model) or (m.scope == "sweep" and sweeps):
            depth = str(MODEL_DEPTH) if m.scope == "model" else SWEEP_NAME
            rows += [_measure(m, depth, n, seed, cell) for cell in plain]
    return rows


def measured_cell(noise: Noise | None = None) -> Cell:
    """The grid cell of a noise structure (default: `Noise()`, the noise measured on real runs)."""
    noise = noise or Noise()
    return Cell(**{f.name: getattr(noise, f.name) for f in fields(Noise)}, measured=True)


def measured_rows(
    n: int = 400, seed: int = 0, *, cell: Cell | None = None, depths: Iterable[int] = DEPTHS
) -> list[Row]:
    """Every row of the grid at one noise structure (default: as measured on real runs), its
    depth slope included, with the two-timescale fits and the sweeps."""
    cell = cell or measured_cell()
    rows = [
        _measure(m, str(depth), n, seed, cell)
        for depth in depths
        for m in MEASURES
        if m.scope == "depth"
    ]
    for m in MEASURES:
        if m.scope != "depth":
            depth = str(MODEL_DEPTH) if m.scope == "model" else SWEEP_NAME
            rows.append(_measure(m, depth, n, seed, cell))
    return rows


def confirm(rows: Iterable[Row], n: int = 2000, seed: int = 1) -> list[Row]:
    """Each row measured again with `n` fresh runs (another seed): the worst of several noisy
    cells is biased towards failing (a rate at exactly 5% shows ~6.5% as the worst of twelve
    cells of 400 runs), so the cell picked as worst is re-measured independently."""
    by_name = {(m.decision, m.kind): m for m in MEASURES}
    return [_measure(by_name[(r.decision, r.kind)], r.depth, n, seed, r.cell) for r in rows]


def persistence_rows(n: int = 1000, seed: int = 0, depths: Iterable[int] = DEPTHS) -> list[Row]:
    """The persistence test at its boundary (drift = tol) and at half of it, per α noise."""
    rows = []
    for depth, sd, (ar, corr) in itertools.product(depths, ALPHA_NOISE, PERSISTENCE_NOISE):
        cell = Cell(alpha=sd, ar=ar, layer_corr=corr)
        for drift, kind in ((TOL, FP), (TOL / 2, POWER)):
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
        pick = max if group[0].kind == FP else min
        out.append(pick(group, key=lambda r: r.rate.rate))
    return out
