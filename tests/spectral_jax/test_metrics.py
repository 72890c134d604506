"""Spectral metrics: hand-computed cases, degenerate input, and invariances (hypothesis)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_jax.metrics import METRIC_NAMES, spectral_metrics
from spectral_jax.singular_values import singular_values


def metrics_of(sigma) -> dict[str, float]:
    return {k: float(v) for k, v in spectral_metrics(jnp.asarray(sigma, jnp.float32)).items()}


def test_hand_computed_case() -> None:
    m = metrics_of([4.0, 2.0, 1.0, 1.0])
    assert m["stable_rank"] == pytest.approx((16 + 4 + 1 + 1) / 16)
    assert m["gap"] == pytest.approx(2.0)
    assert m["spectral_norm"] == pytest.approx(4.0)
    assert m["frobenius_norm"] == pytest.approx(np.sqrt(22))
    q = np.array([4, 2, 1, 1]) / 8
    assert m["effective_rank"] == pytest.approx(np.exp(-np.sum(q * np.log(q))), rel=1e-6)
    p = np.array([16, 4, 1, 1]) / 22
    assert m["entropy"] == pytest.approx(-np.sum(p * np.log(p)) / np.log(4), rel=1e-6)


def test_entropy_flat_and_rank_one() -> None:
    flat = metrics_of(np.ones(50))
    assert flat["entropy"] == pytest.approx(1.0, abs=1e-6)
    assert flat["effective_rank"] == pytest.approx(50.0, rel=1e-5)
    assert flat["stable_rank"] == pytest.approx(50.0, rel=1e-6)
    one = metrics_of([3.0] + [0.0] * 9)
    assert one["entropy"] == 0.0
    assert one["stable_rank"] == pytest.approx(1.0)
    assert one["effective_rank"] == pytest.approx(1.0)
    assert np.isnan(one["gap"]) and np.isnan(one["alpha"])


def test_alpha_rank_recovers_planted_decay() -> None:
    for a in (0.5, 1.0, 1.5):
        sigma = np.arange(1, 201, dtype=np.float64) ** -a
        assert metrics_of(sigma)["alpha_rank"] == pytest.approx(a, rel=1e-4)


def test_zero_rank_one_and_nan_matrices() -> None:
    zero = metrics_of(np.asarray(singular_values(jnp.zeros((8, 12)), "svd")))
    assert zero["spectral_norm"] == 0.0 and zero["frobenius_norm"] == 0.0
    for name in ("stable_rank", "alpha", "entropy", "effective_rank", "gap", "alpha_rank"):
        assert np.isnan(zero[name]), name
    u, v = np.random.default_rng(0).standard_normal((2, 8))
    rank_one = metrics_of(np.asarray(singular_values(jnp.asarray(np.outer(u, v)), "svd")))
    assert rank_one["stable_rank"] == pytest.approx(1.0, rel=1e-5)
    assert np.isnan(rank_one["gap"]) and np.isnan(rank_one["alpha"])
    with_nan = np.ones((6, 6))
    with_nan[2, 3] = np.nan
    bad = metrics_of(np.asarray(singular_values(jnp.asarray(with_nan), "svd")))
    assert all(np.isnan(bad[name]) for name in METRIC_NAMES)


matrices = st.tuples(st.sampled_from([3, 8]), st.sampled_from([5, 12]), st.integers(0, 2**31 - 1))
SCALE_FREE = ("stable_rank", "entropy", "effective_rank", "gap", "alpha", "alpha_rank", "alpha_n")


@settings(max_examples=25, deadline=None)
@given(matrices, st.floats(0.01, 100.0))
def test_invariances(shape_seed: tuple[int, int, int], scale: float) -> None:
    m, n, seed = shape_seed
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, n))
    q1, _ = np.linalg.qr(rng.standard_normal((m, m)))
    q2, _ = np.linalg.qr(rng.standard_normal((n, n)))

    def metrics(matrix: np.ndarray) -> dict[str, float]:
        return metrics_of(np.asarray(singular_values(jnp.asarray(matrix, jnp.float32), "gram64")))

    base = metrics(w)
    for other in (metrics(w.T), metrics(q1 @ w @ q2)):
        for name in METRIC_NAMES:
            assert other[name] == pytest.approx(base[name], rel=2e-3, nan_ok=True), name
    scaled = metrics(scale * w)
    for name in SCALE_FREE:
        assert scaled[name] == pytest.approx(base[name], rel=2e-3, nan_ok=True), name
    assert scaled["spectral_norm"] == pytest.approx(scale * base["spectral_norm"], rel=1e-4)
