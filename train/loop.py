"""The training loop: one flat, readable loop from config to checkpoints, logs and spectra."""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import jax
import numpy as np

from spectral_jax.model import flops_per_token
from spectral_jax.run_layout import CHECKPOINTS, TOKENIZER_FILE
from train import memory
from train.checkpoint import Checkpointer
from train.config import Config
from train.corpora import load_corpus
from train.data import TrainLoader, validation_batches
from train.mesh import DATA_AXIS, FSDP_AXIS, global_batch, make_mesh
from train.monitor import DisabledMonitor, SpectralMonitor
from train.optim import make_optimizer
from train.progress import Progress
from train.rewind import rewind
from train.run_dir import open_run_dir
from train.sharding import state_shardings
from train.step import create_state, make_eval_step, make_train_step
from train.throughput import mfu
from train.training_log import TrainingLog

log = logging.getLogger("spectral_jax.train")


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/Inf; the message names the step."""


@dataclass
class TrainResult:
    """What a finished (or preempted) run reports back."""

    run_dir: Path
    final_step: int
    final_loss: float | None
    final_val_loss: float | None
    preempted: bool
    already_complete: bool = False  # a checkpoint at train.steps (or later) existed: no work
    health_stop: str | None = None  # a spectral.health.stop_on rule ended the run: its message


class _Preemption:
    """Turns SIGTERM into a flag the loop polls, so it can checkpoint and exit cleanly."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> _Preemption:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread (e.g. a notebook worker): no handler
            self._previous = None
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _check_finite(step: int, values: dict[str, float]) -> None:
    for name in ("loss", "grad_norm"):
        if name in values and not math.isfinite(values[name]):
            raise NonFiniteLossError(
                f"{name} is {values[name]} at step {step}; stopping (the last good checkpoint "
                "is kept)"
            )


def evaluate(eval_step, params, batches, mesh) -> float:
    """Mean validation loss over fixed batches."""
    losses = [eval_step(params, global_batch(b, mesh)) for b in batches]
    return float(np.mean(jax.device_get(losses)))


def train(config: Config) -> TrainResult:
    """Run (or resume) the training described by `config`; returns the final figures."""
    is_primary = jax.process_index() == 0
    with contextlib.ExitStack() as stack:
        run_dir = stack.enter_context(open_run_dir(config, is_primary=is_primary))
        return _train(config, run_dir, is_primary, stack)


def _train(
    config: Config, run_dir: Path, is_primary: bool, stack: contextlib.ExitStack
) -> TrainResult:
    tcfg = config.train
    checkpointer = stack.enter_context(Checkpointer(run_dir / CHECKPOINTS, tcfg.keep_checkpoints))
    latest = checkpointer.latest_step()
    if latest is not None and latest >= tcfg.steps:  # said before any model is built
        return TrainResult(run_dir, latest, None, None, preempted=False, already_complete=True)
    mesh = make_mesh(config.mesh)
    corpus = load_corpus(config.data, config.model.vocab_size)
    if is_primary and corpus.tokenizer_path:  # the run keeps the tokenizer its ids mean
        shutil.copyfile(corpus.tokenizer_path, run_dir / TOKENIZER_FILE)
    loader = TrainLoader(
        corpus.train,
        tcfg.seq_len,
        tcfg.batch_size,
        config.run.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    val_batches = (
        validation_batches(
            corpus.val,
            tcfg.seq_len,
            tcfg.batch_size,
            tcfg.eval_batches,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
        if tcfg.eval_every
        else []
    )

    tx, schedule = make_optimizer(config.optim, tcfg.steps)
    graphdef, rest, state = create_state(config.model, config.run.seed, tx, mesh)
    shardings = state_shardings(state, mesh)  # FSDP over mesh.fsdp; a restore reshards onto it
    if is_primary:
        devices = mesh.shape[DATA_AXIS] * mesh.shape[FSDP_AXIS]
        need = memory.estimate(
            config.model,
            state,
            fsdp=mesh.shape[FSDP_AXIS],
            sequences_per_device=max(1, tcfg.batch_size // tcfg.grad_accum // devices),
            seq_len=tcfg.seq_len,
        )
        log.info(
            "memory: %s (mesh data=%d x fsdp=%d)",
            need.describe(),
            mesh.shape[DATA_AXIS],
            mesh.shape[FSDP_AXIS],
        )

    restored = checkpointer.restore_latest(state)
    start = 0
    if restored is not None:
        start, state, data_state = restored
        loader.set_state(data_state)
        log.info("resumed %s from step %d", run_dir, start)
    monitor = (  # checks the spectra store can take this run's entries; writes nothing yet
        SpectralMonitor(config, graphdef, rest, mesh, run_dir, is_primary)
        if config.spectral.every
        else DisabledMonitor()
    )
    if is_primary:
        rewind(run_dir, start if restored is not None else None)
    training_log = stack.enter_context(TrainingLog(run_dir, enabled=is_primary))
    stack.enter_context(monitor.start(start, training_log))

    train_step = make_train_step(
        graphdef,
        rest,
        tx,
        schedule,
        mesh,
        grad_accum=tcfg.grad_accum,
        dropout=config.model.dropout > 0,
        seed=config.run.seed,
        state_sharding=shardings,
    )
    eval_step = make_eval_step(graphdef, rest, mesh, params_sharding=shardings["params"])
    tokens_per_step = tcfg.batch_size * tcfg.seq_len
    model_flops = flops_per_token(config.model, tcfg.seq_len)

    last = tcfg.steps
    result = TrainResult(run_dir, start, None, None, preempted=False)
    progress = Progress(
        last, start, tokens_per_step=tokens_per_step, enabled=tcfg.progress and is_primary
    )
    stack.callback(progress.close)
    preemption = stack.enter_context(_Preemption())
    pending: tuple[int, dict] | None = None  # metrics fetched one step late: no device stall
    interval_start, logged_through = time.perf_counter(), start  # tokens/s since the last row

    def save_checkpoint(step: int) -> None:
        # Everything before `step` on disk first: a resume rewinds to it and finds no gap.
        monitor.wait_for_entries_before(step)
        training_log.flush()
        checkpointer.save(step, state, loader.get_state())

    def drain(pending: tuple[int, dict]) -> None:
        nonlocal interval_start, logged_through
        step, device_metrics = pending
        values = {k: float(v) for k, v in jax.device_get(device_metrics).items()}
        _check_finite(step, values)
        result.final_loss = values["loss"]
        tok_s = None
        if step % tcfg.log_every == 0 or step == last:
            elapsed = time.perf_counter() - interval_start
            tok_s = tokens_per_step * (step - logged_through) / max(elapsed, 1e-9)
            values["tokens_per_s"] = tok_s
            utilisation = mfu(tok_s, model_flops)
            if utilisation is not None:
                values["mfu"] = utilisation
            training_log.log(step, values)
            interval_start, logged_through = time.perf_counter(), step
        progress.advance(step, values["loss"], tok_s)

    monitor.maybe_dispatch(start, state["params"])
    for step in range(start + 1, last + 1):
        stop = monitor.health_stop(step - 1)  # a stop_on rule started before this probe step
        if stop or preemption.requested or checkpointer.reached_preemption(step - 1):
            if pending is not None:
                drain(pending)
                pending = None
            if checkpointer.latest_step() != step - 1:
                save_checkpoint(step - 1)
            result.final_step, result.health_stop = step - 1, stop
            result.preempted = stop is None
            why = "stopped by spectral.health.stop_on" if stop else "preempted"
            log.warning("%s: saved checkpoint at step %d", why, step - 1)
            break
        batch = global_batch(next(loader), mesh)
        state, metrics = train_step(state, batch)
        if pending is not None:
            drain(pending)
        pending = (step, metrics)
        monitor.maybe_dispatch(step, state["params"])
        if tcfg.eval_every and (step % tcfg.eval_every == 0 or step == last):
            result.final_val_loss = evaluate(eval_step, state["params"], val_batches, mesh)
            training_log.log(step, {"val_loss": result.final_val_loss}, prefix="eval")
        if step == last or (tcfg.checkpoint_every and step % tcfg.checkpoint_every == 0):
            drain(pending)  # never checkpoint a non-finite state
            pending = None
            save_checkpoint(step)
        result.final_step = step
    if pending is not None:
        drain(pending)
    if result.final_step == last and result.health_stop is None:  # judge the last snapshot too
        monitor.wait_for_entries_before(last + 1)
        result.health_stop = monitor.health_stop(last)
    return result
