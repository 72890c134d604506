"""The transformer: causality, shapes, split/merge under jit, and the matrix naming contract."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from spectral_jax.matrices import kind_layers, matrix_shapes, model_kinds, named_matrices
from spectral_jax.model import Transformer, count_params
from spectral_jax.model_config import ModelConfig


def tiny(**kw) -> ModelConfig:  # noqa: ANN003
    base = dict(n_layers=3, d_model=32, n_heads=4, d_ff=48, vocab_size=50, max_seq_len=16)
    return ModelConfig(**{**base, **kw})


VARIANTS = [
    {},
    {"positions": "rotary", "norm": "rmsnorm"},
    {"mlp": "swiglu", "tied_embeddings": False, "use_bias": False},
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_future_tokens_never_change_past_logits(variant: dict) -> None:
    model = Transformer(tiny(**variant), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=(2, 16))
    changed = tokens.copy()
    changed[:, 9:] = rng.integers(0, 50, size=(2, 7))
    a, b = model(jnp.asarray(tokens)), model(jnp.asarray(changed))
    assert a.shape == (2, 16, 50) and a.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a[:, :9]), np.asarray(b[:, :9]))
    assert not np.allclose(np.asarray(a[:, 9:]), np.asarray(b[:, 9:]))


def test_split_merge_inside_jit_equals_eager() -> None:
    model = Transformer(tiny(), rngs=nnx.Rngs(1))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tokens = jnp.arange(32).reshape(2, 16) % 50
    jitted = jax.jit(lambda p, t: nnx.merge(graphdef, p, rest)(t))(params, tokens)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(model(tokens)), rtol=1e-5, atol=1e-6)


def test_tied_vs_untied_parameter_count() -> None:
    tied = count_params(Transformer(tiny(), rngs=nnx.Rngs(0)))
    untied = count_params(Transformer(tiny(tied_embeddings=False), rngs=nnx.Rngs(0)))
    assert untied - tied == 50 * 32


def test_named_matrices_follow_the_contract() -> None:
    cfg = tiny(mlp="swiglu", tied_embeddings=False)
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    named = named_matrices(model)
    kinds = model_kinds(cfg)
    assert kinds == ("q", "k", "v", "o", "mlp_in", "mlp_gate", "mlp_out")
    assert set(named) == {(layer, kind) for layer in range(3) for kind in kinds}
    shapes = matrix_shapes(cfg)
    assert shapes["q"] == (32, 32) and shapes["mlp_out"] == (48, 32)
    for (_, kind), matrix in named.items():
        assert matrix.shape == shapes[kind] and matrix.dtype == jnp.float32
    np.testing.assert_array_equal(named[(2, "v")], model.blocks[2].attn.v.kernel[...])
    extra = named_matrices(model, ["embed", "unembed", "q"])
    assert extra[(-1, "embed")].shape == (50, 32) and extra[(-1, "unembed")].shape == (32, 50)
    assert kind_layers(cfg, ["embed", "q"]) == {"embed": [-1], "q": [0, 1, 2]}
    with pytest.raises(ValueError, match="no 'unembed' matrices"):
        named_matrices(Transformer(tiny(), rngs=nnx.Rngs(0)), ["unembed"])


def test_bfloat16_compute_is_finite() -> None:
    model = Transformer(tiny(dtype="bfloat16"), rngs=nnx.Rngs(0))
    logits = model(jnp.zeros((1, 8), jnp.int32))
    assert logits.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(logits)))


def test_too_long_sequence_is_refused() -> None:
    model = Transformer(tiny(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="exceeds model.max_seq_len 16"):
        model(jnp.zeros((1, 17), jnp.int32))
