"""Seed groups: runs that differ only in `run.seed` (and `run.dir`) analysed together.

Every statistic gets a seed-level interval: the mean over seeds with a t-interval (n − 1
degrees of freedom) for fewer than 10 seeds, a cluster bootstrap over seeds (percentile,
`n_boot` resamples of whole seeds) from 10 on; a one-run interval describes that run only, this
one describes what another seed would give. A claim is supported for the group when every seed
that can test it supports it (the group's false-positive rate stays at most each seed's), and
the finding says in how many seeds it held.

Each claim is also decided at the seed level (`analysis.lifecycle.seed_tests`: one statistic
per seed and a t-test across seeds). From 3 seeds that is the group's verdict: it rests on
seed-to-seed variation, not on one run's model of its own noise. With 2 seeds the verdict is the
conjunction of the seeds' within-run tests, and the finding says so (`basis`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.formatting import fmt
from analysis.lifecycle.seed_tests import seed_tests
from analysis.report.findings import (
    NOT_SUPPORTED,
    SUPPORTED,
    UNTESTABLE,
    WITHIN_RUN,
    Finding,
    run_findings,
)
from analysis.run import Run, RunError
from analysis.stats import as_float, as_interval, t_interval

MIN_BOOTSTRAP_SEEDS = 10
STATISTICS = {
    "wave": ("slope", "speed", "spearman_rho", "end_gradient", "reversal_step"),
    "alpha_profile": ("curvature", "vertex", "delta_alpha", "drift"),
    "asymmetry": ("qk_slope", "vo_slope", "difference"),
    "two_timescale": ("tau_fast", "tau_slow", "ratio"),
}


def seed_key(run: Run) -> str:
    """The run's config without `run.seed` and `run.dir`: equal keys form a seed group."""
    config = json.loads(json.dumps(run.config, default=str))
    section = config.get("run") if isinstance(config.get("run"), dict) else {}
    for key in ("seed", "dir"):
        section.pop(key, None)
    return json.dumps(config, sort_keys=True)


def check_group(runs: Sequence[Run]) -> None:
    """Raise RunError unless the runs differ only in run.seed (and run.dir)."""
    keys = {seed_key(r) for r in runs}
    if len(keys) > 1:
        raise RunError(
            f"runs {', '.join(str(r.path) for r in runs)} differ in more than run.seed: "
            "a seed group must share every other setting"
        )


def interval(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float] | None:
    """Seed-level 95% interval of the mean (t below 10 seeds, cluster bootstrap from 10)."""
    values = values[np.isfinite(values)]
    n = len(values)
    if n < 2:
        return None
    if n < MIN_BOOTSTRAP_SEEDS:
        return as_interval(*t_interval(values.mean(), values.std(ddof=1) / np.sqrt(n), n - 1))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, (n_boot, n))].mean(1)
    return as_interval(*np.percentile(means, [2.5, 97.5]))


def across_seeds(summaries: Sequence[dict[str, Any]], n_boot: int, seed: int) -> dict[str, Any]:
    """Mean, seed-level interval and per-seed values of every statistic in `STATISTICS`."""
    out: dict[str, Any] = {}
    for section, keys in STATISTICS.items():
        out[section] = {}
        for key in keys:
            raw = [s.get(section, {}).get(key) for s in summaries]
            values = np.array([np.nan if v is None else v for v in raw], float)
            finite = values[np.isfinite(values)]
            out[section][key] = {
                "mean": as_float(finite.mean()) if len(finite) else None,
                "ci": interval(values, n_boot, seed),
                "n": len(finite),
                "values": raw,
            }
    return out


def group_findings(summaries: Sequence[dict[str, Any]]) -> list[Finding]:
    """Each claim over the seeds: the test across seeds from 3 seeds on, else supported when
    every seed able to test it supports it; says in how many seeds it held within-run."""
    per_seed = [run_findings(s) for s in summaries]
    out = []
    for i, (first, test) in enumerate(zip(per_seed[0], seed_tests(summaries), strict=True)):
        verdicts = [findings[i].verdict for findings in per_seed]
        tested = [v for v in verdicts if v != UNTESTABLE]
        held = sum(v == SUPPORTED for v in tested)
        within = f"within-run: supported in {held} of {len(verdicts)} seeds" + (
            f" ({len(verdicts) - len(tested)} could not test it)"
            if len(tested) < len(verdicts)
            else ""
        )
        caveats = [c for c in dict.fromkeys(c for f in per_seed for c in f[i].caveats)]
        if test.reason is None:
            verdict = SUPPORTED if test.supported else NOT_SUPPORTED
            estimate = (
                f"mean of {test.statistic} {fmt(test.mean, 3)}; p = {fmt(test.p, 2)}; {within}"
            )
            basis = f"{test.n} seeds: t-test across seeds of each seed's {test.statistic}"
            caveats = [c for c in caveats if not c.startswith(WITHIN_RUN)]
        else:
            all_held = SUPPORTED if held == len(tested) else NOT_SUPPORTED
            verdict = all_held if tested else UNTESTABLE
            estimate = within
            basis = f"{len(verdicts)} seeds, each on its own within-run noise ({test.reason})"
        out.append(
            Finding(
                claim=first.claim,
                verdict=verdict,
                estimate=estimate,
                caveats=tuple(caveats),
                basis=basis,
            )
        )
    return out
