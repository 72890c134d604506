"""Layer importance on planted truth: identity blocks score zero, the skip-mask ablations equal
models with the block deleted, and the statistics match hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flax import nnx

from analysis.importance.ablation import (
    BlockEvaluator,
    mask_of,
    sequence_losses,
    single_skip_masks,
    without_blocks,
)
from analysis.importance.scores import importance_from, stream_scores
from analysis.stats import (
    bootstrap_rho,
    holm,
    min_spearman_p,
    permutation_pvalue,
    spearman,
)
from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig
from tests.analysis.importance.importance_planted import PLANTED, planted_setup


@pytest.fixture(scope="module")
def result():
    return importance_from(planted_setup())


@pytest.mark.parametrize(
    ("variant", "removed"),
    [
        ({}, [[], [0], [1], [2], [3], [0, 2]]),  # every single-block ablation, and a pair
        ({"positions": "rotary", "parallel_residual": True, "tied_embeddings": False},
         [[], [1, 2, 3]]),
    ],
    ids=["gpt2-like", "neox-like"],
)  # fmt: skip
def test_skip_masks_equal_models_with_the_blocks_deleted(variant: dict, removed: list) -> None:
    sizes = {"n_layers": 4, "d_model": 32, "n_heads": 2, "d_ff": 64, "vocab_size": 64}
    cfg = ModelConfig(**sizes, max_seq_len=16, init_std=0.2, **variant)
    model = Transformer(cfg, rngs=nnx.Rngs(3))
    windows = np.random.default_rng(0).integers(0, 64, (6, 17))
    masks = np.stack([mask_of(4, r) for r in removed])
    scanned = BlockEvaluator(model, batch_size=4, progress=False).losses(windows, masks)
    for row, layers in zip(scanned, removed, strict=True):
        looped = sequence_losses(without_blocks(model, layers) if layers else model, windows, 4)
        np.testing.assert_allclose(row, looped, rtol=1e-6, atol=0)
    assert np.ptp(scanned[:, 0]) > 1e-3  # the ablations differ: the test has teeth


def test_single_skip_masks_are_one_per_block() -> None:
    masks = single_skip_masks(3)
    assert masks.dtype == bool and masks.sum(1).tolist() == [1, 1, 1]
    assert [int(np.flatnonzero(m)[0]) for m in masks] == [0, 1, 2]


def test_identity_blocks_have_zero_delta_loss_and_rank_least_important(result) -> None:
    layers = result.layers.set_index("layer")
    others = [l for l in range(len(layers)) if l not in PLANTED]
    assert (layers.loc[list(PLANTED), "delta_loss"] == 0.0).all()
    assert (layers.loc[others, "delta_loss"] > 1e-3).all()
    assert np.abs(layers.loc[list(PLANTED), "block_influence"]).max() < 1e-6
    assert (layers.loc[others, "block_influence"] > 1e-3).all()
    lowest = layers["delta_loss"].nsmallest(len(PLANTED)).index
    assert set(lowest) == set(PLANTED)
    assert np.all(result.per_sequence[:, list(PLANTED)] == 0.0)


def test_layer_table_has_every_score(result) -> None:
    columns = set(result.layers.columns)
    kinds = ("q", "k", "v", "o", "mlp_in", "mlp_out")
    assert {"layer", "delta_loss", "block_influence", "angular_distance"} <= columns
    assert {f"{m}_{k}" for m in ("alpha", "alpha_rank", "stable_rank") for k in kinds} <= columns
    # The zeroed o and mlp_out of the planted blocks are degenerate (NaN) and left out of the
    # block mean, which is then the mean of the other four kinds.
    row = result.layers.set_index("layer").loc[PLANTED[0]]
    assert math.isnan(row["alpha_o"]) and math.isnan(row["alpha_mlp_out"])
    finite = [row[f"alpha_{k}"] for k in ("q", "k", "v", "mlp_in")]
    assert row["alpha"] == pytest.approx(np.mean(finite))
    cos = 1.0 - result.layers["block_influence"].to_numpy()
    np.testing.assert_allclose(
        result.layers["angular_distance"], np.arccos(np.clip(cos, -1, 1)) / math.pi, atol=1e-7
    )


def test_correlations_report_sign_p_ci_and_holm(result) -> None:
    table = result.correlation_table.set_index("score")
    alpha = table.loc["alpha"]
    layers = result.layers
    assert alpha["rho"] == pytest.approx(spearman(layers["alpha"], layers["delta_loss"]))
    assert alpha["exact"] and alpha["n_layers"] == 5
    assert alpha["ci_lo"] <= alpha["rho"] <= alpha["ci_hi"]
    assert alpha["sign"] in {"positive", "negative"} and alpha["decision"]
    block = table[table["family"] == "block"]
    tested = block[block["tested"]]
    np.testing.assert_allclose(tested["p_holm"], holm(tested["p"].tolist()))
    # angular distance ranks layers exactly as block influence does: tested once
    assert table.loc["angular_distance", "rho"] == pytest.approx(
        table.loc["block_influence", "rho"]
    )
    assert not table.loc["angular_distance", "tested"]
    document = result.to_dict()
    assert set(document["correlations"]) == set(table.index)
    assert document["half"] == "evaluation" and document["data"]["data"] == "markov"


def test_stream_scores_from_cosines() -> None:
    cos = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 1.0], [0.0, 1.0, 1.0]])
    scores = stream_scores(cos)
    np.testing.assert_allclose(scores["block_influence"], [0.5, 0.0])
    np.testing.assert_allclose(scores["angular_distance"], [1 / 3, 0.0])


def test_cosines_of_identical_streams_are_one() -> None:
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_ff=64, vocab_size=64, max_seq_len=16)
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    windows = np.random.default_rng(1).integers(0, 64, (3, 17))
    cos = BlockEvaluator(model, progress=False).cosines(windows)
    assert cos.shape == (3, 3, 3)
    np.testing.assert_allclose(np.diagonal(cos, axis1=1, axis2=2), 1.0, atol=1e-6)
    np.testing.assert_allclose(cos, np.transpose(cos, (0, 2, 1)), atol=1e-6)


# -- statistics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "rho", "p"),
    [
        ([1, 2, 3], [1, 2, 3], 1.0, 2 / 6),  # identity and reversal of 3! orderings
        ([1, 2, 3, 4], [1, 2, 3, 4], 1.0, 2 / 24),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0, 2 / 24),
        # ρ = 1 − 6·2/60 = 0.8; |ρ| ≥ 0.8 for Σd² ∈ {0, 2, 18, 20}: 1 + 3 + 3 + 1 of 24
        ([1, 2, 3, 4], [1, 2, 4, 3], 0.8, 8 / 24),
        # ρ = 1 − 6·2/120 = 0.9; Σd² ≤ 2 (1 + 4) or ≥ 38 (1 + 4) of 120
        ([10, 20, 30, 40, 50], [1, 2, 3, 5, 4], 0.9, 10 / 120),
    ],
)
def test_exact_permutation_pvalues_match_hand_counts(x, y, rho, p) -> None:
    got_rho, got_p, exact = permutation_pvalue(np.array(x, float), np.array(y, float))
    assert exact
    assert got_rho == pytest.approx(rho)
    assert got_p == pytest.approx(p)


def test_pvalue_ignores_non_finite_layers_and_refuses_tiny_samples() -> None:
    rho, p, _ = permutation_pvalue(np.array([1, np.nan, 2, 3, 4]), np.array([1, 9, 2, 4, 3]))
    assert rho == pytest.approx(0.8) and p == pytest.approx(8 / 24)
    assert math.isnan(permutation_pvalue(np.array([1.0, 2.0]), np.array([2.0, 1.0]))[1])
    assert min_spearman_p(4) > 0.05 > min_spearman_p(5)


def test_monte_carlo_pvalue_beyond_eight_layers() -> None:
    x = np.arange(12.0)
    rho, p, exact = permutation_pvalue(x, x, n_perm=100_000, seed=1)
    assert not exact and rho == pytest.approx(1.0)
    # 2/12! ≈ 4e-9: no random ordering reaches ρ = 1, so p = (1 + 0) / (1 + n_perm)
    assert p == pytest.approx(1 / 100_001, rel=0.01)
    y = np.random.default_rng(3).permutation(12).astype(float)
    first = permutation_pvalue(x, y, seed=5)
    assert first == permutation_pvalue(x, y, seed=5)
    with pytest.raises(ValueError, match="n_perm"):
        permutation_pvalue(x, y, n_perm=1000)


def test_permutation_test_false_positive_rate_under_the_null() -> None:
    rng = np.random.default_rng(11)
    draws = 2000
    rejected = sum(
        permutation_pvalue(rng.normal(size=6), rng.normal(size=6))[1] <= 0.05 for _ in range(draws)
    )
    # exact test: P(p ≤ 0.05) ≤ 0.05; allow 2.5 binomial standard errors of sampling noise
    assert rejected / draws <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / draws)


def test_holm_adjustment() -> None:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    adjusted = holm([0.02, math.nan, 0.5])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == 0.5


def test_bootstrap_ci_is_reproducible_and_covers_a_strong_planted_ranking() -> None:
    rng = np.random.default_rng(2)
    truth = np.arange(6.0)
    per_sequence = truth + rng.normal(0, 0.3, size=(40, 6))
    ci = bootstrap_rho(truth, per_sequence, n_boot=500, seed=4)
    assert ci == bootstrap_rho(truth, per_sequence, n_boot=500, seed=4)
    assert ci[0] > 0.8 and ci[1] == pytest.approx(1.0)
