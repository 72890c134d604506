"""Spectral invariants no other test pins: every (layer, kind) names its own matrix, metrics
ignore round-off and input order, and the store's tidy frame labels each value with its own
step, layer and kind."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spectral_jax.matrices import default_kinds, named_matrices
from spectral_jax.metrics import METRIC_NAMES, spectral_metrics
from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig
from spectral_jax.store import SpectraStore, SpectraWriter

EPS = float(np.finfo(np.float32).eps)


def metrics_of(sigma: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in spectral_metrics(jnp.asarray(sigma, jnp.float32)).items()}


def assert_same_metrics(got: dict[str, float], want: dict[str, float], rtol: float) -> None:
    for name in METRIC_NAMES:
        assert got[name] == pytest.approx(want[name], rel=rtol, nan_ok=True), name


def test_each_name_is_the_matrix_of_that_projection() -> None:
    """(l, kind) is block l's own projection for every kind: q the query, k the key, mlp_in the
    up-projection and mlp_gate the gate of a SwiGLU MLP (same shapes, so only values tell)."""
    cfg = ModelConfig(
        n_layers=3, d_model=16, n_heads=2, d_ff=24, vocab_size=40, max_seq_len=8, mlp="swiglu"
    )
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    named = named_matrices(model)
    modules = {
        "q": lambda b: b.attn.q,
        "k": lambda b: b.attn.k,
        "v": lambda b: b.attn.v,
        "o": lambda b: b.attn.o,
        "mlp_in": lambda b: b.mlp.mlp_in,
        "mlp_gate": lambda b: b.mlp.mlp_gate,
        "mlp_out": lambda b: b.mlp.mlp_out,
    }
    assert set(default_kinds(cfg)) == set(modules)
    for layer, block in enumerate(model.blocks):
        for kind, module in modules.items():
            np.testing.assert_array_equal(
                named[(layer, kind)], module(block).kernel[...], err_msg=f"({layer}, {kind})"
            )
    # Distinct values per (layer, kind): no two names share a matrix.
    flat = {key: np.asarray(m).tobytes() for key, m in named.items()}
    assert len(set(flat.values())) == len(flat)


def test_round_off_below_the_numerical_rank_counts_as_zero() -> None:
    """σ ≤ k·ε·σ1 (what a float32 SVD of a rank-deficient matrix returns) give exactly the
    metrics of the exact zeros: rank one stays rank one (gap and α NaN)."""
    k = 16
    exact = np.zeros(k, np.float32)
    exact[:4] = [3.0, 2.0, 1.0, 0.5]
    noisy = exact.copy()
    noisy[4:] = np.geomspace(0.5, 0.01, k - 4) * k * EPS * 3.0  # all below k·ε·σ1
    assert_same_metrics(metrics_of(noisy), metrics_of(exact), rtol=1e-6)
    rank_one = np.zeros(k, np.float32)
    rank_one[0] = 3.0
    noisy_one = rank_one.copy()
    noisy_one[1:] = noisy[4:].max()
    got = metrics_of(noisy_one)
    assert got["stable_rank"] == 1.0 and got["effective_rank"] == 1.0
    assert np.isnan(got["gap"]) and np.isnan(got["alpha"])


def test_alpha_rank_ignores_values_below_its_floor() -> None:
    """alpha_rank fits log σ_i on log i over σ_i > 1e-3·σ1 only: a planted decay i^−a over the
    first 50 ranks is recovered whatever lies below the floor."""
    for a in (0.5, 1.0):
        head = np.arange(1, 51, dtype=np.float64) ** -a  # σ_50 ≥ 0.02·σ1
        tail = np.full(30, 5e-4)  # below 1e-3·σ1, above the numerical-rank floor
        assert metrics_of(np.concatenate([head, tail]))["alpha_rank"] == pytest.approx(a, rel=1e-4)


def test_metrics_do_not_depend_on_the_order_of_sigma() -> None:
    rng = np.random.default_rng(4)
    sigma = np.sort(rng.gamma(2.0, 1.0, 24))[::-1].astype(np.float32)
    want = metrics_of(sigma)
    for order in (sigma[::-1], rng.permutation(sigma)):
        assert_same_metrics(metrics_of(order), want, rtol=1e-6)


def test_metrics_frame_labels_each_value_with_its_step_layer_and_kind(tmp_path: Path) -> None:
    """Every value encodes its own (step, metric, kind, layer); the frame must agree."""
    kinds, layers = ["embed", "mlp_in", "q"], {"embed": [-1], "mlp_in": [0, 1, 2], "q": [0, 1, 2]}
    metrics = ["stable_rank", "alpha"]
    meta = {
        "model": {"layers": 3},
        "kinds": kinds,
        "layers": layers,
        "shapes": {"embed": [10, 4], "mlp_in": [4, 8], "q": [4, 4]},
        "metrics": metrics,
        "save_sigma": False,
    }

    def code(step: int, m: int, kind: str, layer: int) -> float:
        return step * 1000 + m * 100 + kinds.index(kind) * 10 + layer + 1

    writer = SpectraWriter(tmp_path, meta)
    for step in (0, 5, 10):
        entry = {
            "metrics": {
                name: {
                    k: np.array([code(step, m, k, l) for l in layers[k]], np.float32) for k in kinds
                }
                for m, name in enumerate(metrics)
            }
        }
        writer.write(step, entry)
    writer.close()
    frame = SpectraStore(tmp_path).metrics_frame()
    assert len(frame) == 3 * 7
    for row in frame.itertuples():
        for m, name in enumerate(metrics):
            assert getattr(row, name) == code(row.step, m, row.kind, row.layer), row
