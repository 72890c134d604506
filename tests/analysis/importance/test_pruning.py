"""Pruning strategies on planted truth: the oracle removes the identity blocks first and loses
nothing; Last-N, the angular run and the rankings pick the right indices; the random baseline
is reproducible under its seed; bad settings are refused in one line."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from analysis.importance.ablation import mask_of
from analysis.importance.pruning import (
    STRATEGIES,
    PruningError,
    angular_run,
    check_strategies,
    direction,
    last_n_layers,
    pruning_from,
    ranked,
)
from tests.analysis.importance.importance_planted import PLANTED, PRUNING_COLUMNS, planted_setup


@pytest.fixture(scope="module")
def result():
    return pruning_from(planted_setup(), 3, STRATEGIES, random_draws=20)


def test_last_n_removes_the_deepest_blocks_but_the_final_one() -> None:
    assert last_n_layers(6, 2) == [3, 4]
    assert last_n_layers(6, 1) == [4]
    assert last_n_layers(4, 3) == [0, 1, 2]
    for bad in (0, 6):
        with pytest.raises(PruningError, match="last_n"):
            last_n_layers(6, bad)


def test_rankings_and_angular_run() -> None:
    assert ranked(np.array([0.3, np.nan, 0.1, 0.2]), ascending=True) == [2, 3, 0, 1]
    assert ranked(np.array([0.3, np.nan, 0.1, 0.2]), ascending=False) == [0, 3, 2, 1]
    cos = np.eye(5)
    cos[1, 3] = cos[3, 1] = 0.99  # streams 1 and 3 nearly parallel: blocks 1, 2 are a no-op
    cos[0, 2] = cos[2, 0] = 0.5
    assert angular_run(cos, 2) == [1, 2]
    assert angular_run(cos, 4) == [0, 1, 2, 3]
    up = direction(np.array([1.0, 2, 3, 4]), np.array([0.1, 0.2, 0.4, 0.3]), "alpha")
    down = direction(np.array([4.0, 3, 2, 1]), np.array([0.1, 0.2, 0.4, 0.3]), "alpha")
    assert up["prune_first"] == "lowest" and up["rho_calibration"] > 0
    assert down["prune_first"] == "highest" and "highest alpha" in down["why"]


def test_oracle_best_removes_the_identity_blocks_first_at_no_cost(result) -> None:
    best = result.choices["oracle_best"]
    assert set(best[1]) <= set(PLANTED) and best[2] == sorted(PLANTED)
    table = result.table.set_index(["strategy", "n_removed"])
    full = table.loc[("none", 0), "loss"]
    assert table.loc[("oracle_best", 2), "loss"] == full
    assert table.loc[("oracle_best", 2), "perplexity"] == math.exp(full)
    assert table.loc[("oracle_best", 3), "loss"] > full
    worst = result.choices["oracle_worst"]
    assert not set(worst[2]) & set(PLANTED)
    assert table.loc[("oracle_worst", 2), "loss"] > table.loc[("oracle_best", 2), "loss"]
    # the greedy paths are nested and their calibration losses never fall for the best
    order = result.oracle["oracle_best"]["order"]
    assert [sorted(order[:n]) for n in (1, 2, 3)] == [best[1], best[2], best[3]]


def test_planted_identity_blocks_are_what_block_influence_removes_first(result) -> None:
    assert result.choices["block_influence"][2] == sorted(PLANTED)
    assert result.choices["last_n"] == {1: [3], 2: [2, 3], 3: [1, 2, 3]}
    assert all(len(result.choices[s][n]) == n for s in result.choices for n in (1, 2, 3))
    angular = result.choices["angular"]
    assert all(angular[n] == list(range(angular[n][0], angular[n][0] + n)) for n in (1, 2, 3))


def test_table_scores_every_choice_on_the_evaluation_half(result) -> None:
    setup = planted_setup()
    table = result.table
    assert list(table.columns[:5]) == PRUNING_COLUMNS
    assert set(table["strategy"]) == {"none", *STRATEGIES}
    row = table[(table.strategy == "last_n") & (table.n_removed == 2)].iloc[0]
    assert row["removed_layers"] == "2,3"
    direct = setup.evaluator.losses(setup.data.evaluation, mask_of(5, [2, 3])[None])[0].mean()
    assert row["loss"] == pytest.approx(direct, rel=1e-12)
    random = table[table.strategy == "random"]
    assert (random["draws"] == 20).all()
    assert (random["perplexity_lo"] <= random["perplexity"]).all()
    assert (random["perplexity"] <= random["perplexity_hi"]).all()


def test_headline_ratios_and_directions(result) -> None:
    head = result.headline.set_index("n_removed")
    table = result.table.set_index(["strategy", "n_removed"])
    full = table.loc[("none", 0), "perplexity"]
    for n in (1, 2, 3):
        rise_spectral = table.loc[("spectral", n), "perplexity"] - full
        rise_last = table.loc[("last_n", n), "perplexity"] - full
        if rise_spectral > 0:
            assert head.loc[n, "last_n_over_spectral"] == pytest.approx(rise_last / rise_spectral)
        else:
            assert math.isnan(head.loc[n, "last_n_over_spectral"])
            assert "undefined" in head.loc[n, "last_n_over_spectral_note"]
        assert 0.0 <= head.loc[n, "random_at_least_as_good_as_spectral"] <= 1.0
    # best removes the identity blocks at n = 2: its rise is 0, so worst / best is undefined
    assert math.isnan(head.loc[2, "worst_over_best"])
    assert "oracle_best has the lower perplexity" in head.loc[3, "worst_over_best_verdict"]
    spectral = result.directions["spectral"]
    assert (
        spectral["prune_first"] in {"lowest", "highest"} and "calibration half" in spectral["why"]
    )


def test_random_baseline_is_reproducible_under_its_seed() -> None:
    setup = planted_setup()
    first = pruning_from(setup, 2, ("random",), random_draws=20)
    again = pruning_from(setup, 2, ("random",), random_draws=20)
    assert first.random_orders == again.random_orders
    assert first.table.equals(again.table)
    other = pruning_from(
        dataclasses.replace(setup, settings={**setup.settings, "seed": 1}),
        2,
        ("random",),
        random_draws=20,
    )
    assert other.random_orders != first.random_orders
    assert len(first.random_orders) == 20


def test_bad_settings_are_refused_in_one_line() -> None:
    with pytest.raises(PruningError, match="unknown strategy 'best'"):
        check_strategies(["spectral", "best"], 20)
    with pytest.raises(PruningError, match="random-draws"):
        check_strategies(["random"], 5)
    assert check_strategies(["last_n", "last_n"], 5) == ("last_n",)
    with pytest.raises(PruningError, match="max-remove must be 1 to 4"):
        pruning_from(planted_setup(), 5, ("last_n",))


def test_no_choice_reads_the_evaluation_half() -> None:
    """Every strategy's choice (directions, rankings, oracle paths) is made on the calibration
    half: replacing the evaluation half changes the scores, never what was chosen."""
    setup = planted_setup()
    rng = np.random.default_rng(7)
    other = rng.integers(0, 32, size=setup.data.evaluation.shape).astype(np.int32)
    swapped = dataclasses.replace(setup, data=dataclasses.replace(setup.data, evaluation=other))
    first = pruning_from(setup, 2, STRATEGIES, random_draws=20)
    second = pruning_from(swapped, 2, STRATEGIES, random_draws=20)
    assert first.choices == second.choices
    for name in ("directions", "oracle", "calibration"):
        assert getattr(first, name) == getattr(second, name), name
    assert first.full_loss != second.full_loss  # the halves were really swapped
