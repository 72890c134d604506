"""The transformer: causality, shapes, dtypes, dropout, split/merge under jit, the matrix naming
contract."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spectral_jax.matrices import (
    available_kinds,
    default_kinds,
    kind_layers,
    matrix_shapes,
    named_matrices,
)
from spectral_jax.model import Transformer, count_params, flops_per_token, param_counts
from spectral_jax.model_config import ModelConfig


def tiny(**kw: object) -> ModelConfig:
    base = dict(n_layers=3, d_model=32, n_heads=4, d_ff=48, vocab_size=50, max_seq_len=16)
    return ModelConfig(**{**base, **kw})


VARIANTS = [
    {"positions": p, "norm": n, "mlp": m}
    for p, n, m in itertools.product(
        ("learned", "rotary"), ("layernorm", "rmsnorm"), ("gelu", "swiglu")
    )
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_future_tokens_never_change_past_logits(variant: dict) -> None:
    model = Transformer(tiny(**variant), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=(2, 16))
    changed = tokens.copy()
    changed[:, 9:] = (tokens[:, 9:] + rng.integers(1, 50, size=(2, 7))) % 50  # every one differs
    a, b = model(jnp.asarray(tokens)), model(jnp.asarray(changed))
    assert a.shape == (2, 16, 50) and a.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a[:, :9]), np.asarray(b[:, :9]))
    assert not np.allclose(np.asarray(a[:, 9:]), np.asarray(b[:, 9:]))


def test_positions_matter() -> None:
    """Learned and rotary positions both make the model order-aware (a shifted copy differs)."""
    for positions in ("learned", "rotary"):
        model = Transformer(tiny(positions=positions), rngs=nnx.Rngs(0))
        tokens = jnp.asarray([[3, 7, 3, 7, 3, 7]])
        logits = model(tokens)
        assert not np.allclose(np.asarray(logits[0, 0]), np.asarray(logits[0, 2]), atol=1e-6)


def test_split_merge_inside_jit_equals_eager() -> None:
    model = Transformer(tiny(positions="rotary", mlp="swiglu"), rngs=nnx.Rngs(1))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    assert not jax.tree.leaves(rest)  # no RNG or other state beyond parameters
    tokens = jnp.arange(32).reshape(2, 16) % 50
    jitted = jax.jit(lambda p, t: nnx.merge(graphdef, p, rest)(t))(params, tokens)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(model(tokens)), rtol=1e-5, atol=1e-6)


def test_dropout_only_when_not_deterministic() -> None:
    cfg = tiny(dropout=0.5)
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    plain = Transformer(tiny(), rngs=nnx.Rngs(0))
    tokens = jnp.arange(16).reshape(1, 16) % 50
    np.testing.assert_array_equal(np.asarray(model(tokens)), np.asarray(plain(tokens)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    @jax.jit
    def train_logits(p: nnx.State, key: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, p, rest)(tokens, deterministic=False, rngs=nnx.Rngs(dropout=key))

    a, b = train_logits(params, jax.random.key(0)), train_logits(params, jax.random.key(1))
    a_again = train_logits(params, jax.random.key(0))
    assert not np.allclose(np.asarray(a), np.asarray(model(tokens)))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(a_again))
    with pytest.raises(ValueError, match="needs rngs"):
        model(tokens, deterministic=False)


def test_tied_vs_untied_parameter_count() -> None:
    tied = count_params(Transformer(tiny(), rngs=nnx.Rngs(0)))
    untied = count_params(Transformer(tiny(tied_embeddings=False), rngs=nnx.Rngs(0)))
    assert untied - tied == 50 * 32
    assert param_counts(tiny())["total"] == tied
    assert param_counts(tiny(tied_embeddings=False))["non_embedding"] == tied - 50 * 32 - 16 * 32


def test_flops_per_token_counts_matmuls() -> None:
    cfg = tiny()
    per_layer = 4 * 32 * 32 + 2 * 32 * 48
    assert flops_per_token(cfg, 16) == 6 * (3 * per_layer + 32 * 50) + 12 * 3 * 32 * 16


def test_named_matrices_follow_the_contract() -> None:
    cfg = tiny(mlp="swiglu", tied_embeddings=False)
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    named = named_matrices(model)
    kinds = default_kinds(cfg)
    assert kinds == ("q", "k", "v", "o", "mlp_in", "mlp_gate", "mlp_out")
    assert default_kinds(tiny()) == ("q", "k", "v", "o", "mlp_in", "mlp_out")
    assert available_kinds(cfg) == (*kinds, "embed", "unembed")
    assert set(named) == {(layer, kind) for layer in range(3) for kind in kinds}
    shapes = matrix_shapes(cfg)
    assert shapes == {
        "q": (32, 32),
        "k": (32, 32),
        "v": (32, 32),
        "o": (32, 32),
        "mlp_in": (32, 48),
        "mlp_gate": (32, 48),
        "mlp_out": (48, 32),
        "embed": (50, 32),
        "unembed": (32, 50),
    }
    for (_, kind), matrix in named.items():
        assert matrix.shape == shapes[kind] and matrix.dtype == jnp.float32
    np.testing.assert_array_equal(named[(2, "v")], model.blocks[2].attn.v.kernel[...])
    np.testing.assert_array_equal(named[(0, "mlp_out")], model.blocks[0].mlp.mlp_out.kernel[...])
    extra = named_matrices(model, ["embed", "unembed", "q"])
    assert set(extra) == {(-1, "embed"), (-1, "unembed"), (0, "q"), (1, "q"), (2, "q")}
    assert extra[(-1, "embed")].shape == (50, 32) and extra[(-1, "unembed")].shape == (32, 50)
    assert kind_layers(cfg, ["embed", "q"]) == {"embed": [-1], "q": [0, 1, 2]}
    with pytest.raises(ValueError, match="no 'unembed' matrices"):
        named_matrices(Transformer(tiny(), rngs=nnx.Rngs(0)), ["unembed"])
    with pytest.raises(ValueError, match="no 'mlp_gate' matrices"):
        named_matrices(Transformer(tiny(), rngs=nnx.Rngs(0)), ["mlp_gate"])


def test_named_matrices_inside_jit_from_bfloat16_params() -> None:
    model = Transformer(tiny(param_dtype="bfloat16"), rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    traced = jax.jit(lambda p: named_matrices(nnx.merge(graphdef, p, rest)))(params)
    eager = named_matrices(model)
    assert traced.keys() == eager.keys()
    for key, matrix in traced.items():
        assert matrix.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(matrix), np.asarray(eager[key]))


@pytest.mark.parametrize("param_dtype", ["float32", "bfloat16"])
def test_bfloat16_compute_is_finite_and_close(param_dtype: str) -> None:
    variant = {"positions": "rotary", "mlp": "swiglu"}
    model = Transformer(
        tiny(dtype="bfloat16", param_dtype=param_dtype, **variant), rngs=nnx.Rngs(0)
    )
    tokens = jnp.arange(16).reshape(1, 16) % 50
    logits = model(tokens)
    assert logits.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(logits)))
    # The same weights in float32 everywhere: bfloat16 compute stays within its rounding.
    reference = Transformer(tiny(**variant), rngs=nnx.Rngs(1))
    params = nnx.state(model, nnx.Param)
    nnx.update(reference, jax.tree.map(lambda x: x.astype(jnp.float32), params))
    np.testing.assert_allclose(np.asarray(logits), np.asarray(reference(tokens)), atol=0.05)


def test_bad_input_is_refused() -> None:
    model = Transformer(tiny(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"exceeds model\.max_seq_len 16"):
        model(jnp.zeros((1, 17), jnp.int32))
    with pytest.raises(ValueError, match="tokens must be"):
        model(jnp.zeros((17,), jnp.int32))
