"""The trainer's own train step, set up for timing: `bench/train_throughput.py` and
`bench/vs_pytorch.py` time the step `train.loop` runs, built here one way."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from flax import nnx
from jax.sharding import Mesh

from spectral_jax.model import Transformer, count_params
from train.config import Config, load_config
from train.mesh import make_mesh, replicated
from train.optim import make_optimizer
from train.step import init_state, make_train_step


class TrainerStep(NamedTuple):
    mesh: Mesh
    state: Any  # the initial train state, replicated over the mesh
    step: Callable  # jitted `step(state, batch) -> (state, metrics)`, the state donated
    n_params: int


def bench_config(path: str, overrides: list[str]) -> Config:
    """`path` with `overrides`; nothing is written, so `run.dir` is a directory gone once read."""
    with tempfile.TemporaryDirectory() as tmp:
        return load_config(path, [*overrides, f"run.dir={tmp}"])


def trainer_step(cfg: Config) -> TrainerStep:
    """`cfg`'s train step as the trainer builds it (micro-batched by `train.grad_accum`), on a
    model initialised with seed 0."""
    mesh = make_mesh(cfg.mesh)
    model = Transformer(cfg.model, rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx, schedule = make_optimizer(cfg.optim, cfg.train.steps)
    state = jax.device_put(init_state(params, tx), replicated(mesh))
    step = make_train_step(graphdef, rest, tx, schedule, mesh, grad_accum=cfg.train.grad_accum)
    return TrainerStep(mesh, state, step, count_params(model))
