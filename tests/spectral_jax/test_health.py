"""Health rules on hand-built snapshots: each rule fires for the right matrix on the K-th
consecutive snapshot, clears on the first that no longer holds, skips what it cannot judge, and
an evaluator rebuilt from the first snapshots continues exactly as an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from spectral_jax.health import (
    KS_CRITICAL,
    MIN_TAIL,
    HealthConfig,
    HealthEvaluator,
    alpha_trusted,
)
from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.probe import probe

LAYERS = {"q": [0, 1], "v": [0, 1, 2]}
HEALTHY = {
    "stable_rank": 40.0,
    "alpha": 3.0,
    "alpha_n": 50.0,
    "alpha_ks": 0.05,
    "spectral_norm": 1.0,
    "frobenius_norm": 5.0,
}


def entry(**planted: dict[tuple[int, str], float]) -> dict:
    """A healthy snapshot with `metric={(layer, kind): value}` planted."""
    metrics = {
        name: {k: np.full(len(ls), HEALTHY.get(name, 1.0), np.float32) for k, ls in LAYERS.items()}
        for name in METRIC_NAMES
    }
    for name, values in planted.items():
        for (layer, kind), value in values.items():
            metrics[name][kind][LAYERS[kind].index(layer)] = value
    return {"metrics": metrics}


def feed(evaluator: HealthEvaluator, snapshots: list[tuple[int, dict]]) -> list:
    return [event for step, snap in snapshots for event in evaluator.update(step, snap)]


def test_alpha_gate_needs_a_long_tail_and_an_unrejected_fit() -> None:
    n = np.array([MIN_TAIL - 1, MIN_TAIL, 100, 100, np.nan, 100])
    ks = np.array([0.0, 0.1, KS_CRITICAL / 10 - 1e-6, KS_CRITICAL / 10 + 1e-6, 0.0, np.nan])
    assert alpha_trusted(n, ks).tolist() == [False, True, True, False, False, False]


def test_rank_collapse_fires_on_the_second_snapshot_and_clears() -> None:
    ev = HealthEvaluator(HealthConfig(rank_collapse=0.1, persistence=2), LAYERS)
    low = {(2, "v"): 3.9}  # < 0.1 × 40
    events = feed(
        ev,
        [
            (0, entry()),
            (25, entry(stable_rank=low)),
            (50, entry(stable_rank={(2, "v"): 12.0})),  # one snapshot: not yet
            (75, entry(stable_rank=low)),
            (100, entry(stable_rank=low)),
            (125, entry(stable_rank=low)),
            (150, entry()),
        ],
    )
    assert [(e.step, e.rule, e.state, e.layer, e.kind, e.since) for e in events] == [
        (100, "rank_collapse", "start", 2, "v", 75),
        (150, "rank_collapse", "clear", 2, "v", 75),
    ]
    assert events[0].value == pytest.approx(3.9) and events[0].threshold == pytest.approx(4.0)
    assert events[0].message == "layer 2 v: stable rank 3.9 < 0.1 × initial 40.0 since step 75"
    assert events[1].message.startswith("layer 2 v: rank_collapse cleared at step 150")
    assert ev.flags() == [] and ev.counts()["rank_collapse"] == 0


def test_message_reads_as_documented() -> None:
    ev = HealthEvaluator(HealthConfig(rank_collapse=0.1), {"v": [7]})
    one = {"v": np.ones(1, np.float32)}

    def snap(rank: float) -> dict:
        return {"metrics": {**{m: one for m in METRIC_NAMES}, "stable_rank": {"v": [rank]}}}

    ev.update(0, snap(41.0))
    ev.update(2975, snap(3.1))
    (event,) = ev.update(3000, snap(3.1))
    assert event.message == "layer 7 v: stable rank 3.1 < 0.1 × initial 41.0 since step 2,975"
    assert event.row()["event"] == "health" and event.row()["step"] == 3000


def test_first_snapshot_is_the_reference_not_the_largest() -> None:
    ev = HealthEvaluator(HealthConfig(rank_collapse=0.5), LAYERS)
    events = feed(ev, [(s, entry(stable_rank={(0, "q"): r})) for s, r in [(0, 10), (1, 100)]])
    events += feed(ev, [(s, entry(stable_rank={(0, "q"): 6.0})) for s in (2, 3)])
    assert events == []  # 6 > 0.5 × 10, though < 0.5 × 100


def test_alpha_rules_skip_untrusted_fits_and_the_warmup() -> None:
    ev = HealthEvaluator(HealthConfig(alpha_floor=2.0, alpha_ceiling=6.0, warmup=100), LAYERS)
    low, high = {(1, "q"): 1.5}, {(0, "v"): 8.0}
    untrusted = {(1, "q"): 5.0}  # tail too short: neither extends nor breaks the streak
    events = feed(
        ev,
        [
            (0, entry(alpha={**low, **high})),  # warm-up: not judged
            (50, entry(alpha={**low, **high})),
            (100, entry(alpha={**low, **high})),
            (125, entry(alpha={**low, (0, "v"): 8.0}, alpha_n=untrusted)),
            (150, entry(alpha={**low, (0, "v"): 5.0})),
            (175, entry(alpha={(1, "q"): 2.5})),
        ],
    )
    assert [(e.step, e.rule, e.state, e.layer, e.kind, e.since) for e in events] == [
        (125, "alpha_high", "start", 0, "v", 100),
        (150, "alpha_low", "start", 1, "q", 100),
        (150, "alpha_high", "clear", 0, "v", 100),
        (175, "alpha_low", "clear", 1, "q", 100),
    ]
    assert events[1].message == "layer 1 q: α 1.50 < floor 2 since step 100"


def test_sigma_growth_over_the_window_after_the_warmup() -> None:
    cfg = HealthConfig(sigma_growth=4.0, sigma_window=2, warmup=20, persistence=1)
    ev = HealthEvaluator(cfg, LAYERS)
    norms = [1.0, 10.0, 1.0, 2.0, 3.0, 9.0, 30.0, 31.0]  # step 0 is before the warm-up
    events = feed(ev, [(10 * i, entry(spectral_norm={(1, "v"): s})) for i, s in enumerate(norms)])
    # judged from step 40 (2 snapshots after the warm-up began at 20): 3/1, 9/2, 30/3, 31/9
    assert [(e.step, e.state, e.kind, e.layer) for e in events] == [
        (50, "start", "v", 1),
        (70, "clear", "v", 1),
    ]
    assert events[0].value == pytest.approx(4.5)
    assert events[0].message == (
        "layer 1 v: σ_max grew 4.5× (> 4×) over 2 snapshots, from 2 since step 50"
    )


def test_non_finite_fires_at_once_on_a_probed_nan_matrix() -> None:
    rng = np.random.default_rng(0)
    w = {
        (layer, kind): rng.standard_normal((16, 8)).astype(np.float32)
        for layer in (0, 1)
        for kind in ("q", "v")
    }
    poisoned = dict(w)
    poisoned[(1, "v")] = w[(1, "v")].copy()
    poisoned[(1, "v")][3, 4] = np.nan
    layers = {"q": [0, 1], "v": [0, 1]}
    ev = HealthEvaluator(HealthConfig(persistence=3), layers)
    with pytest.warns(UserWarning, match=r"degenerate spectra.*\(layer 1, v\)"):
        bad = probe(poisoned, "svd")
    snaps = [(0, probe(w, "svd")), (25, bad), (50, probe(w, "svd"))]
    events = feed(ev, [(s, {k: dict(v) for k, v in snap.items()}) for s, snap in snaps])
    assert [(e.step, e.rule, e.state, e.layer, e.kind) for e in events] == [
        (25, "non_finite", "start", 1, "v"),
        (50, "non_finite", "clear", 1, "v"),
    ]
    assert events[0].message == "layer 1 v: non-finite values (NaN/Inf) since step 25"
    assert events[0].value is None


def test_rebuilt_evaluator_continues_like_an_uninterrupted_one() -> None:
    rng = np.random.default_rng(3)
    ranks, alphas = rng.uniform(0.5, 40, 60), rng.uniform(1.0, 7.0, 60)
    norms = rng.lognormal(0.0, 1.5, 60)
    snaps = [
        (25 * i, entry(stable_rank={(1, "v"): r}, alpha={(0, "q"): a}, spectral_norm={(2, "v"): s}))
        for i, (r, a, s) in enumerate(zip(ranks, alphas, norms, strict=True))
    ]
    cfg = HealthConfig(alpha_floor=2.0, rank_collapse=0.2, sigma_window=2, sigma_growth=3.0)
    whole = feed(HealthEvaluator(cfg, LAYERS), snaps)
    resumed = HealthEvaluator(cfg, LAYERS)
    feed(resumed, snaps[:25])  # rebuilt up to the restored step 600, alpha_high in force
    after = feed(resumed, snaps[25:])
    assert (after[0].step, after[0].rule, after[0].state) == (625, "alpha_high", "clear")
    assert len(whole) > 4 and after == [e for e in whole if e.step > snaps[24][0]]


def test_out_of_order_snapshot_is_refused() -> None:
    ev = HealthEvaluator(HealthConfig(), LAYERS)
    ev.update(25, entry())
    with pytest.raises(ValueError, match="step 25 after step 25"):
        ev.update(25, entry())


def test_turned_off_rules_are_not_evaluated() -> None:
    cfg = HealthConfig(alpha_floor=None, sigma_growth=None)
    assert cfg.enabled() == ("alpha_high", "rank_collapse", "non_finite")
    ev = HealthEvaluator(cfg, LAYERS)
    assert feed(ev, [(s, entry(alpha={(0, "q"): 1.1})) for s in (100, 200, 300)]) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"alpha_floor": 6.0, "alpha_ceiling": 2.0}, r"alpha_floor \(6.0\) must be below"),
        ({"rank_collapse": None, "stop_on": ["rank_collapse"]}, "'rank_collapse' is turned off"),
        ({"stop_on": ["nan"]}, "stop_on"),
        ({"persistence": 0}, "persistence"),
    ],
)
def test_bad_settings_name_the_key(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HealthConfig(**settings)
