"""Each lifecycle claim decided across seeds: one statistic per seed and a t-test of their mean.

Why: a run's own tests rest on its model of its own noise (its layer correlation, its time
correlation); seeds are independent replicates, so a test whose unit is the seed needs no such
model. The per-seed statistics are each run's estimates — the onset slope, G at the end and G
before the end window (a mean, not the largest excursion, whose per-seed values would be biased
away from 0 under the null), α's slopes at the first and last layer, the drift, the ln-onset
slopes, ln τ_slow/τ_fast — and the test is a one-sample t-test (n − 1 degrees of freedom: valid
for 3–9 seeds when the per-seed statistics are close to normal, which averages over layers and
snapshots make them), an intersection–union of t-tests where a claim has parts. Every function
takes `[..., seeds]` arrays, so the calibration harness decides thousands of groups at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from analysis.stats import ALPHA, as_float

MIN_TEST_SEEDS = 3


def t_test(values: np.ndarray, null: float = 0.0, sides: str = "two") -> np.ndarray:
    """p-values `[...]` of one-sample t-tests of the mean of `values[..., n]` against `null`;
    `sides`: "two", "greater" (H1: mean > null) or "less"."""
    values = np.asarray(values, float)
    n = values.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (values.mean(-1) - null) / (values.std(-1, ddof=1) / math.sqrt(n))
    if sides == "greater":
        return sps.t.sf(t, n - 1)
    if sides == "less":
        return sps.t.cdf(t, n - 1)
    return 2 * sps.t.sf(np.abs(t), n - 1)


def wave(slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, supported): the onset slope differs from 0, early to late."""
    p = t_test(slope)
    return p, (p < ALPHA) & (slope.mean(-1) > 0)


def reversal(end: np.ndarray, early: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, supported): G at the end differs from 0 and G before it has the other sign."""
    up = end.mean(-1) > 0
    p = np.maximum(
        t_test(end), np.where(up, t_test(early, sides="less"), t_test(early, sides="greater"))
    )
    return p, p < ALPHA


def inverted_u(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, supported): α rises at the first layer and falls at the last (two-lines test)."""
    p = np.maximum(t_test(left, sides="greater"), t_test(right, sides="less"))
    return p, p < ALPHA


def persistence(drift: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, supported): the mean drift is below the tolerance (an equivalence test; a seed's
    drift is a norm, biased upwards by noise, so this errs towards "still moving")."""
    p = t_test(drift, tol, sides="less")
    return p, p < ALPHA


def asymmetry(
    qk: np.ndarray, vo: np.ndarray, diff: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """(p, supported): Q/K timing depends on depth, more than V/O's in Q/K's direction, and
    V/O's is within ±ln(1 + margin) (two one-sided tests)."""
    bound = math.log1p(margin)
    up = qk.mean(-1) > 0
    directed = np.where(up, t_test(diff, sides="greater"), t_test(diff, sides="less"))
    equivalent = np.maximum(t_test(vo, -bound, "greater"), t_test(vo, bound, "less"))
    p = np.maximum.reduce([t_test(qk), directed, equivalent])
    return p, p < ALPHA


def two_timescales(log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, supported): τ_slow/τ_fast > 1."""
    p = t_test(log_ratio, sides="greater")
    return p, p < ALPHA


@dataclass(frozen=True, kw_only=True)
class SeedTest:
    """One claim across seeds: its statistic, the number of seeds with it, the mean of the
    first part, p and the verdict; `reason` (and no numbers) when it cannot be tested."""

    statistic: str
    n: int
    mean: float | None = None
    p: float | None = None
    supported: bool | None = None
    reason: str | None = None


def _column(summaries: Sequence[dict[str, Any]], section: str, get: Callable[[dict], Any]):
    """Per-seed values (NaN where a seed has none)."""
    out = []
    for summary in summaries:
        try:
            value = get(summary.get(section) or {})
        except (KeyError, TypeError, IndexError, ValueError):
            value = None
        out.append(math.nan if value is None else float(value))
    return np.array(out, float)


def _decide(statistic: str, columns: list[np.ndarray], rule: Callable[..., tuple]) -> SeedTest:
    ok = np.logical_and.reduce([np.isfinite(c) for c in columns])
    n = int(ok.sum())
    if n < MIN_TEST_SEEDS:
        return SeedTest(
            statistic=statistic,
            n=n,
            reason=f"a test across seeds needs ≥ {MIN_TEST_SEEDS} seeds with {statistic} "
            f"(have {n})",
        )
    kept = [c[ok] for c in columns]
    p, supported = rule(*kept)
    if not np.isfinite(p):
        return SeedTest(statistic=statistic, n=n, reason=f"{statistic} is the same in every seed")
    return SeedTest(
        statistic=statistic,
        n=n,
        mean=as_float(kept[0].mean()),
        p=float(p),
        supported=bool(supported),
    )


def seed_tests(summaries: Sequence[dict[str, Any]]) -> list[SeedTest]:
    """Each lifecycle claim (in the order of `report.findings.run_findings`) across seeds."""

    def col(section: str, get: Callable[[dict], Any]) -> np.ndarray:
        return _column(summaries, section, get)

    prof = next((s["alpha_profile"] for s in summaries if s.get("alpha_profile")), {})
    asym = next((s["asymmetry"] for s in summaries if s.get("asymmetry")), {})
    tol = prof.get("tolerance") or 0.2
    margin = asym.get("margin") or 0.5
    flat = col("alpha_profile", lambda s: s["profile_p"])
    drift = col("alpha_profile", lambda s: s["drift"])
    drift = np.where(flat < ALPHA, drift, np.nan)  # a seed without a profile has no shape to hold
    return [
        _decide("the onset slope (steps per layer)", [col("wave", lambda s: s["slope"])], wave),
        _decide(
            "G at the end and G before it",
            [col("wave", lambda s: s["end_gradient"]), col("wave", lambda s: s["early_gradient"])],
            reversal,
        ),
        _decide(
            "α's slope at the first and at the last layer",
            [
                col("alpha_profile", lambda s: s["coef"][1]),
                col("alpha_profile", lambda s: s["coef"][1] + 2 * s["coef"][2]),
            ],
            inverted_u,
        ),
        _decide(
            f"the drift of the profile's shape (equivalence: mean < {tol:g})",
            [drift],
            lambda d: persistence(d, tol),
        ),
        _decide(
            "the ln-onset slopes of Q/K, V/O and their difference",
            [
                col("asymmetry", lambda s: s["qk_slope"]),
                col("asymmetry", lambda s: s["vo_slope"]),
                col("asymmetry", lambda s: s["difference"]),
            ],
            lambda qk, vo, diff: asymmetry(qk, vo, diff, margin),
        ),
        _decide(
            "ln τ_slow/τ_fast",
            [col("two_timescale", lambda s: math.log(s["ratio"]))],
            two_timescales,
        ),
    ]
