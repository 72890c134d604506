"""The model keys that pretrained architectures need: `model.activation`, `parallel_residual`,
`rotary_fraction`, `rotary_base`, `norm_eps`; validation, defaults and what each computes.
(Exactness against GPT-2 and GPT-NeoX is in test_pretrained_parity.py.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from pydantic import ValidationError

from spectral_jax.matrices import default_kinds
from spectral_jax.model import Block, Transformer, rotary
from spectral_jax.model_config import ModelConfig


def tiny(**kw: object) -> ModelConfig:
    base = dict(n_layers=2, d_model=32, n_heads=2, d_ff=48, vocab_size=50, max_seq_len=16)
    return ModelConfig(**{**base, **kw})


def test_defaults_keep_the_existing_model() -> None:
    cfg = tiny()
    assert (cfg.activation, cfg.parallel_residual, cfg.norm_eps) == ("gelu_tanh", False, 1e-5)
    assert (cfg.rotary_fraction, cfg.rotary_base) == (1.0, 10_000.0)
    assert "activation" not in cfg.describe() and "parallel_residual" not in cfg.describe()
    assert tiny(mlp="swiglu").describe() == {**cfg.describe(), "mlp": "swiglu"}


def test_mlp_and_activation_decide_each_other() -> None:
    assert tiny(mlp="swiglu").activation == "swiglu"
    assert tiny(activation="swiglu").mlp == "swiglu"
    assert tiny(activation="gelu").mlp == "gelu"
    assert default_kinds(tiny(activation="swiglu"))[-2:] == ("mlp_gate", "mlp_out")
    again = ModelConfig(**tiny(activation="gelu").model_dump())  # a resolved config round-trips
    assert again == tiny(activation="gelu")
    with pytest.raises(ValidationError, match=r"model\.activation=gelu does not fit model\.mlp"):
        tiny(mlp="swiglu", activation="gelu")


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"activation": "relu"}, "activation"),
        ({"rotary_fraction": 0.0}, "rotary_fraction"),
        ({"rotary_fraction": 1.5}, "rotary_fraction"),
        ({"rotary_base": 0.0}, "rotary_base"),
        ({"norm_eps": -1e-5}, "norm_eps"),
        ({"parallel_residual": "sometimes"}, "parallel_residual"),
    ],
)
def test_bad_values_name_the_key(kw: dict, key: str) -> None:
    with pytest.raises(ValidationError) as err:
        tiny(**kw)
    assert err.value.errors()[0]["loc"] == (key,)


def test_rotary_dims_must_be_even() -> None:
    with pytest.raises(ValidationError, match=r"model\.rotary_fraction \(0\.1\).*rotates 1 dims"):
        tiny(positions="rotary", rotary_fraction=0.1)
    assert tiny(positions="rotary", rotary_fraction=0.25).rotary_dims == 4
    tiny(rotary_fraction=0.1)  # learned positions: the fraction is unused


def test_partial_rotary_leaves_the_tail_dims_alone() -> None:
    x = jax.random.normal(jax.random.key(0), (1, 6, 2, 16))
    positions = jnp.arange(6)
    out = rotary(x, positions, dims=4, base=500.0)
    np.testing.assert_array_equal(np.asarray(out[..., 4:]), np.asarray(x[..., 4:]))
    np.testing.assert_array_equal(np.asarray(out[:, 0]), np.asarray(x[:, 0]))  # angle 0
    # Dims i and i + 2 rotate together at frequency base^(-i/2): position 1, pair 1.
    angle = 500.0 ** (-0.5)
    x1, x2 = x[0, 1, :, 1], x[0, 1, :, 3]
    expected = np.stack(
        [x1 * np.cos(angle) - x2 * np.sin(angle), x1 * np.sin(angle) + x2 * np.cos(angle)]
    )
    np.testing.assert_allclose(np.asarray(out[0, 1, :, [1, 3]]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(rotary(x, positions)), np.asarray(rotary(x, positions, dims=16))
    )


def test_parallel_residual_adds_both_branches_to_the_input() -> None:
    block = Block(tiny(parallel_residual=True), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 5, 32))
    expected = x + block.attn(block.norm_attn(x)) + block.mlp(block.norm_mlp(x))
    np.testing.assert_allclose(np.asarray(block(x, True, None)), np.asarray(expected), atol=1e-6)
    sequential = Block(tiny(), rngs=nnx.Rngs(0))
    h = x + sequential.attn(sequential.norm_attn(x))
    expected = h + sequential.mlp(sequential.norm_mlp(h))
    np.testing.assert_allclose(
        np.asarray(sequential(x, True, None)), np.asarray(expected), atol=1e-6
    )


def test_activation_and_norm_eps_change_the_function_not_the_parameters() -> None:
    tokens = jnp.arange(16).reshape(1, 16) % 50
    big = {"init_std": 0.5}  # activations large enough for gelu vs tanh-gelu to show
    base = Transformer(tiny(**big), rngs=nnx.Rngs(0))
    for kw in ({"activation": "gelu"}, {"norm_eps": 1e-1}, {"parallel_residual": True}):
        other = Transformer(tiny(**big, **kw), rngs=nnx.Rngs(0))
        same = jax.tree.map(
            lambda a, b: bool(jnp.array_equal(a, b)),
            nnx.state(base, nnx.Param),
            nnx.state(other, nnx.Param),
        )
        assert all(jax.tree.leaves(same))
        assert np.abs(np.asarray(base(tokens)) - np.asarray(other(tokens))).max() > 1e-3
