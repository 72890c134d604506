"""The train state, built on its mesh, and the pure, jitted train and eval steps (NNX split
once, merge inside the step). Parameters and optimizer state are laid out by
`train.sharding.state_shardings` (FSDP along `fsdp`), batches by `train.mesh.batch_sharding`;
XLA inserts the all-gathers of weights and the reduce-scatters of gradients."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig
from train.mesh import FSDP_AXIS, batch_sharding, replicated
from train.sharding import state_shardings

TrainState = dict[str, Any]  # {"step": int32[], "params": nnx.State, "opt_state": optax state}
Batch = dict[str, jax.Array]


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy in float32."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    return losses.mean()


def init_state(params: nnx.State, tx: optax.GradientTransformation) -> TrainState:
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}


def _build(
    model_cfg: ModelConfig, seed: int, tx: optax.GradientTransformation
) -> tuple[TrainState, nnx.State]:
    """A fresh model's train state and its non-parameter state."""
    model = Transformer(model_cfg, rngs=nnx.Rngs(seed))
    _, params, rest = nnx.split(model, nnx.Param, ...)
    return init_state(params, tx), rest


def abstract_state(
    model_cfg: ModelConfig, tx: optax.GradientTransformation, seed: int = 0
) -> TrainState:
    """The train state's shapes and dtypes (`jax.ShapeDtypeStruct`s), allocating nothing."""
    return jax.eval_shape(functools.partial(_build, model_cfg, seed, tx))[0]


def create_state(
    model_cfg: ModelConfig, seed: int, tx: optax.GradientTransformation, mesh: Mesh
) -> tuple[nnx.GraphDef, nnx.State, TrainState]:
    """`(graphdef, rest, state)` of a freshly initialised model, the state already sharded.

    Without FSDP (`fsdp` axis of size 1) the model is built eagerly and copied to every device:
    bit for bit `Transformer(cfg, rngs=nnx.Rngs(seed))`, as before FSDP existed. With FSDP it is
    built inside one jit whose outputs carry the FSDP shardings, so no device ever holds the
    whole model or its optimizer state; XLA fuses the initialisers' arithmetic there, so values
    can differ from the eager ones in the last float32 bit.
    """

    build = functools.partial(_build, model_cfg, seed, tx)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: Transformer(model_cfg, rngs=nnx.Rngs(seed))))
    shardings = (state_shardings(abstract_state(model_cfg, tx, seed), mesh), replicated(mesh))
    if mesh.shape[FSDP_AXIS] == 1:
        state, rest = jax.device_put(build(), shardings)
    else:
        state, rest = jax.jit(build, out_shardings=shardings)()
    return graphdef, rest, state


def gathered(params: nnx.State, mesh: Mesh | None) -> nnx.State:
    """`params` as whole matrices on every device, for use inside a jitted step (FSDP's
    all-gather before use). Without it XLA may split activations along the weights' sharded
    axes instead of the batch, and pay a full rematerialisation per layer."""
    if mesh is None:
        return params
    return jax.lax.with_sharding_constraint(params, replicated(mesh))


def _loss_fn(
    graphdef: nnx.GraphDef, rest: nnx.State, dropout: bool, mesh: Mesh | None = None
) -> Callable:
    def loss_fn(params: nnx.State, batch: Batch, key: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, gathered(params, mesh), rest)
        rngs = nnx.Rngs(dropout=key) if dropout else None
        logits = model(batch["inputs"], deterministic=not dropout, rngs=rngs)
        return cross_entropy(logits, batch["targets"])

    return loss_fn


def make_train_step(
    graphdef: nnx.GraphDef,
    rest: nnx.State,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    mesh: Mesh,
    *,
    grad_accum: int = 1,
    dropout: bool = False,
    seed: int = 0,
    state_sharding: Any = None,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """Build `step(state, batch) -> (state, metrics)`, jitted with the state donated.

    `state_sharding`: the state's shardings (`state_shardings(state, mesh)`, as `create_state`
    lays it out); None keeps the whole state replicated on every device.

    With `grad_accum > 1` the batch is split into that many micro-batches whose gradients are
    averaged with a `lax.scan`, so memory stays at one micro-batch while the update equals one
    step on the whole batch.
    """
    fsdp_mesh = None if state_sharding is None else mesh
    grad_fn = jax.value_and_grad(_loss_fn(graphdef, rest, dropout, fsdp_mesh))
    base_key = jax.random.key(seed)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        key = jax.random.fold_in(base_key, state["step"])
        params = state["params"]
        if grad_accum == 1:
            loss, grads = grad_fn(params, batch, key)
        else:
            micro = jax.tree.map(
                lambda x: x.reshape(grad_accum, x.shape[0] // grad_accum, *x.shape[1:]), batch
            )

            def accumulate(carry, xs):
                loss_sum, grad_sum = carry
                i, mb = xs
                loss_i, grads_i = grad_fn(params, mb, jax.random.fold_in(key, i))
                return (loss_sum + loss_i, jax.tree.map(jnp.add, grad_sum, grads_i)), None

            zeros = jax.tree.map(jnp.zeros_like, params)
            (loss, grads), _ = jax.lax.scan(
                accumulate, (jnp.zeros((), jnp.float32), zeros), (jnp.arange(grad_accum), micro)
            )
            loss = loss / grad_accum
            grads = jax.tree.map(lambda g: g / grad_accum, grads)
        if state_sharding is not None:  # each device keeps only its shard of the gradients
            grads = jax.lax.with_sharding_constraint(grads, state_sharding["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], params)
        new_state = {
            "step": state["step"] + 1,
            "params": optax.apply_updates(params, updates),
            "opt_state": opt_state,
        }
        metrics = {
            "loss": loss,
            "grad_norm": optax.global_norm(grads),
            "lr": jnp.asarray(schedule(state["step"]), jnp.float32),
        }
        return new_state, metrics

    rep, data = replicated(mesh), batch_sharding(mesh)
    layout = rep if state_sharding is None else state_sharding
    return jax.jit(
        step,
        in_shardings=(layout, data),
        out_shardings=(layout, rep),
        donate_argnums=0,
    )


def make_eval_step(
    graphdef: nnx.GraphDef, rest: nnx.State, mesh: Mesh, *, params_sharding: Any = None
) -> Callable[[nnx.State, Batch], jax.Array]:
    """Build `eval_step(params, batch) -> mean loss` (deterministic, no dropout);
    `params_sharding` as `state_sharding["params"]` of the train step (None: replicated)."""

    def eval_step(params: nnx.State, batch: Batch) -> jax.Array:
        model = nnx.merge(graphdef, gathered(params, mesh), rest)
        return cross_entropy(model(batch["inputs"], deterministic=True), batch["targets"])

    layout = replicated(mesh) if params_sharding is None else params_sharding
    return jax.jit(eval_step, in_shardings=(layout, batch_sharding(mesh)))
