"""Every lifecycle decision, simulated many times: false positives under nulls ≤ 5%, intervals
covering planted truth at their nominal 95%, and refusals where the depth cannot decide.

Rates are judged by binomial tests at 1% (`Rate.above`, `Rate.differs`), seeds are fixed, and
the simulations are batched through the analyses' own cores. The `slow` test runs the full
table of `bench/calibration.py` at depths 4, 8, 12 and 24 (false positives not above 5%,
coverage within 5 points of 95%).
"""

from __future__ import annotations

import pytest

from analysis.calibration import rates as cal
from analysis.calibration.rates import Rate
from analysis.calibration.simulate import Noise, Wave

SWEEP = (4, 8, 12, 16, 24, 36)


def at_most_5_percent(rate: Rate) -> None:
    assert not rate.refused and not rate.above(0.05), str(rate)


def nominal(rate: Rate, level: float = 0.95) -> None:
    assert not rate.refused and not rate.differs(level), str(rate)


def test_depths_that_cannot_decide_are_refused() -> None:
    # 3 or 4 layers in perfect order have exact p = 1/3 and 1/12: no wave can be shown
    assert cal.wave_false_positives(4, 10).refused
    assert cal.reversal_false_positives(5, 10).refused  # 20 relabellings: p ≥ 0.1
    assert cal.inverted_u_false_positives(4, 10).refused
    assert cal.asymmetry_false_positives(4, 10).refused


@pytest.mark.parametrize("layers", [8, 12])
def test_wave_false_positive_rate(layers: int) -> None:
    at_most_5_percent(cal.wave_false_positives(layers, 400, seed=layers))


def test_wave_speed_interval_coverage() -> None:
    nominal(cal.wave_speed_coverage(8, 400, seed=1))


def test_reversal_false_positive_rate() -> None:
    at_most_5_percent(cal.reversal_false_positives(8, 400, seed=2))  # a wave, no reversal
    at_most_5_percent(cal.reversal_false_positives(12, 100, seed=3))
    at_most_5_percent(cal.reversal_false_positives(8, 400, seed=4, wave=cal.NULL_WAVE))


def test_reversal_step_interval_coverage() -> None:
    nominal(cal.reversal_step_coverage(8, 200, seed=5))


@pytest.mark.parametrize("layers", [8, 12])
def test_inverted_u_false_positive_rate(layers: int) -> None:
    # the hardest null: α rising to its peak exactly at the last layer (slope 0 there)
    at_most_5_percent(cal.inverted_u_false_positives(layers, 2000, seed=layers))
    flat = cal.inverted_u_false_positives(layers, 2000, seed=layers + 1, vertex=3.0)
    at_most_5_percent(flat)


def test_profile_interval_coverage() -> None:
    rates = cal.profile_coverage(12, 2000, seed=6)
    nominal(rates["curvature"])
    nominal(rates["vertex"])  # among runs whose curvature is significant


def test_persistence_is_not_claimed_for_a_drifting_profile() -> None:
    at_most_5_percent(cal.persistence_false_positives(12, 1000, seed=7))
    drifting = cal.persistence_false_positives(12, 1000, seed=8, tol=0.05)  # drift 0.2 ≫ 0.05
    assert drifting.hits == 0, str(drifting)
    steady = cal.settled_power(12, 1000, seed=9, noise=Noise(alpha=0.02, ar=0.3))
    assert steady.rate > 0.9, str(steady)  # a profile that stopped moving is shown to


def test_asymmetry_false_positive_rate() -> None:
    at_most_5_percent(cal.asymmetry_false_positives(12, 300, seed=10, noise=Noise(rank=0.03)))
    both = cal.asymmetry_false_positives(12, 300, seed=11, qk=Wave())  # V/O depend on depth too
    at_most_5_percent(both)


def test_scaling_law_on_noise() -> None:
    # Pure-noise α over depths 4–36: max − min over layers "finds" β > 0 in most sweeps …
    assert cal.range_beta_false_positives(SWEEP, 400, seed=12).rate > 0.3
    # … the noise-shrunk amplitude with the depth-matched noise gate does not.
    at_most_5_percent(cal.scaling_false_positives(SWEEP, 400, seed=12))
    at_most_5_percent(cal.scaling_false_positives(SWEEP, 400, seed=13, amplitude=0.5, sd=0.05))


def test_beta_interval_coverage() -> None:
    nominal(cal.beta_coverage(SWEEP, 1000, seed=14))


def test_vertex_shift() -> None:
    at_most_5_percent(cal.vertex_shift(SWEEP, 1000, seed=15))
    nominal(cal.vertex_shift(SWEEP, 1000, seed=16, slope=-0.05))


@pytest.mark.slow
def test_full_calibration_table() -> None:
    from bench.calibration import table

    for row in table(n=2000):
        if row.kind == "false positives" and row.checked:
            assert row.rate.refused or not row.rate.above(0.05), row
        elif row.nominal is not None and row.checked:
            assert abs(row.rate.rate - row.nominal) <= 0.05, row
