"""The pure, jitted train and eval steps (NNX split once, merge inside the step)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

from train.mesh import batch_sharding, replicated

TrainState = dict[str, Any]  # {"step": int32[], "params": nnx.State, "opt_state": optax state}
Batch = dict[str, jax.Array]


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy in float32."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    return losses.mean()


def init_state(params: nnx.State, tx: optax.GradientTransformation) -> TrainState:
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}


def _loss_fn(graphdef: nnx.GraphDef, rest: nnx.State, dropout: bool) -> Callable:
    def loss_fn(params: nnx.State, batch: Batch, key: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, params, rest)
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
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """Build `step(state, batch) -> (state, metrics)`, jitted with the state donated.

    With `grad_accum > 1` the batch is split into that many micro-batches whose gradients are
    averaged with a `lax.scan`, so memory stays at one micro-batch while the update equals one
    step on the whole batch.
    """
    grad_fn = jax.value_and_grad(_loss_fn(graphdef, rest, dropout))
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
    return jax.jit(
        step,
        in_shardings=(rep, data),
        out_shardings=(rep, rep),
        donate_argnums=0,
    )


def make_eval_step(
    graphdef: nnx.GraphDef, rest: nnx.State, mesh: Mesh
) -> Callable[[nnx.State, Batch], jax.Array]:
    """Build `eval_step(params, batch) -> mean loss` (deterministic, no dropout)."""

    def eval_step(params: nnx.State, batch: Batch) -> jax.Array:
        model = nnx.merge(graphdef, params, rest)
        return cross_entropy(model(batch["inputs"], deterministic=True), batch["targets"])

    return jax.jit(eval_step, in_shardings=(replicated(mesh), batch_sharding(mesh)))
