"""Training: `train(config)` opens the run directory, sets up a `Session` once (`set_up`: data,
state, restore, monitor, rewind, logs, compiled steps) and runs the loop over it
(`TrainingLoop.run`: step, log, probe, evaluate, checkpoint, stop on preemption or a health
rule)."""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import jax
import numpy as np
from jax.sharding import Mesh

from spectral_jax.model import flops_per_token
from spectral_jax.run_layout import CHECKPOINTS, TOKENIZER_FILE
from train import memory
from train.callbacks import Callbacks, Schedule
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
        checkpointer = stack.enter_context(
            Checkpointer(run_dir / CHECKPOINTS, config.train.keep_checkpoints)
        )
        latest = checkpointer.latest_step()
        if latest is not None and latest >= config.train.steps:  # said before any model is built
            return TrainResult(run_dir, latest, None, None, preempted=False, already_complete=True)
        session = set_up(config, run_dir, checkpointer, is_primary, stack)
        return TrainingLoop(session).run()


@dataclass(kw_only=True)
class Session:
    """What the loop runs on, set up once; its resources are closed by the `stack` of `train`."""

    config: Config
    run_dir: Path
    mesh: Mesh
    start: int  # 0, or the step of the restored checkpoint
    state: dict  # the train state after `start` updates (the loop replaces it every step)
    loader: TrainLoader
    val_batches: list[dict]
    train_step: Callable
    eval_step: Callable
    checkpointer: Checkpointer
    monitor: SpectralMonitor | DisabledMonitor
    callbacks: Callbacks
    training_log: TrainingLog
    progress: Progress
    preemption: _Preemption


def set_up(
    config: Config,
    run_dir: Path,
    checkpointer: Checkpointer,
    is_primary: bool,
    stack: contextlib.ExitStack,
) -> Session:
    """Data, the train state (restored from the newest readable checkpoint, if any), the
    memory report, the spectral monitor, the rewind of logs and spectra to the restored step,
    the training log and the compiled steps. Nothing is deleted before the monitor has checked
    that the spectra store can take this run's entries."""
    tcfg = config.train
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
        _log_memory(config, state, mesh)

    restored = checkpointer.restore_latest(state)
    start = 0
    if restored is not None:
        start, state, data_state = restored
        loader.set_state(data_state)
        log.info("resumed %s from step %d", run_dir, start)
    callbacks = Callbacks()
    monitor: SpectralMonitor | DisabledMonitor = DisabledMonitor()
    if config.spectral.every:  # checks the spectra store can take this run's entries
        probe_steps = Schedule(every=config.spectral.every, last=tcfg.steps)
        monitor = SpectralMonitor(config, graphdef, rest, mesh, run_dir, is_primary, probe_steps)
        callbacks.add(monitor, every=probe_steps)
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
    progress = Progress(
        tcfg.steps,
        start,
        tokens_per_step=tcfg.batch_size * tcfg.seq_len,
        enabled=tcfg.progress and is_primary,
    )
    stack.callback(progress.close)
    return Session(
        config=config,
        run_dir=run_dir,
        mesh=mesh,
        start=start,
        state=state,
        loader=loader,
        val_batches=val_batches,
        train_step=train_step,
        eval_step=eval_step,
        checkpointer=checkpointer,
        monitor=monitor,
        callbacks=callbacks,
        training_log=training_log,
        progress=progress,
        preemption=stack.enter_context(_Preemption()),
    )


def _log_memory(config: Config, state: dict, mesh: Mesh) -> None:
    """The memory report (`train/memory.py`), before step 1."""
    tcfg = config.train
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


class TrainingLoop:
    """Steps `session.start + 1` to `train.steps`, top to bottom: stop if asked to, train one
    step, log the step before it (metrics are fetched a step late, so the device never
    stalls), run the callbacks scheduled at this step, evaluate, checkpoint."""

    def __init__(self, session: Session) -> None:
        self.s = session
        tcfg = session.config.train
        self.last = tcfg.steps
        self.result = TrainResult(session.run_dir, session.start, None, None, preempted=False)
        self.pending: tuple[int, dict] | None = None  # the step whose metrics are not yet read
        self.tokens_per_step = tcfg.batch_size * tcfg.seq_len
        self.model_flops = flops_per_token(session.config.model, tcfg.seq_len)
        self.interval_start = time.perf_counter()  # tokens/s since the last logged row
        self.logged_through = session.start

    def run(self) -> TrainResult:
        s, tcfg = self.s, self.s.config.train
        s.callbacks.inside_step(s.start, s.state)
        for step in range(s.start + 1, self.last + 1):
            stop = s.monitor.health_stop(step - 1)  # a stop_on rule started before this probe step
            if stop or s.preemption.requested or s.checkpointer.reached_preemption(step - 1):
                self._stop_early(step - 1, stop)
                break
            batch = global_batch(next(s.loader), s.mesh)
            s.state, metrics = s.train_step(s.state, batch)
            self._drain()
            self.pending = (step, metrics)
            s.callbacks.inside_step(step, s.state)
            if tcfg.eval_every and (step % tcfg.eval_every == 0 or step == self.last):
                self.result.final_val_loss = evaluate(
                    s.eval_step, s.state["params"], s.val_batches, s.mesh
                )
                s.training_log.log(step, {"val_loss": self.result.final_val_loss}, prefix="eval")
            if step == self.last or (tcfg.checkpoint_every and step % tcfg.checkpoint_every == 0):
                self._drain()  # never checkpoint a non-finite state
                self._save_checkpoint(step)
            self.result.final_step = step
        self._drain()
        if self.result.final_step == self.last and self.result.health_stop is None:
            s.monitor.wait_for_entries_before(self.last + 1)  # judge the last snapshot too
            self.result.health_stop = s.monitor.health_stop(self.last)
        return self.result

    def _stop_early(self, step: int, health_stop: str | None) -> None:
        """Preempted, or stopped by a health rule, after `step`: checkpoint it and say why."""
        self._drain()
        if self.s.checkpointer.latest_step() != step:
            self._save_checkpoint(step)
        self.result.final_step, self.result.health_stop = step, health_stop
        self.result.preempted = health_stop is None
        why = "stopped by spectral.health.stop_on" if health_stop else "preempted"
        log.warning("%s: saved checkpoint at step %d", why, step)

    def _save_checkpoint(self, step: int) -> None:
        """Everything before `step` on disk first: a resume rewinds to it and finds no gap."""
        self.s.monitor.wait_for_entries_before(step)
        self.s.training_log.flush()
        self.s.checkpointer.save(step, self.s.state, self.s.loader.get_state())

    def _drain(self) -> None:
        """Read the pending step's metrics (stopping on a non-finite one), log them at
        `train.log_every` and the last step, and report progress."""
        if self.pending is None:
            return
        (step, device_metrics), self.pending = self.pending, None
        values = {k: float(v) for k, v in jax.device_get(device_metrics).items()}
        _check_finite(step, values)
        self.result.final_loss = values["loss"]
        tok_s = None
        if step % self.s.config.train.log_every == 0 or step == self.last:
            elapsed = time.perf_counter() - self.interval_start
            tok_s = self.tokens_per_step * (step - self.logged_through) / max(elapsed, 1e-9)
            values["tokens_per_s"] = tok_s
            utilisation = mfu(tok_s, self.model_flops)
            if utilisation is not None:
                values["mfu"] = utilisation
            self.s.training_log.log(step, values)
            self.interval_start, self.logged_through = time.perf_counter(), step
        self.s.progress.advance(step, values["loss"], tok_s)
