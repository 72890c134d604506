"""Orbax checkpoints of the whole train state and the data-iterator position (async, last N)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from train.run_dir import CORRUPT_CHECKPOINTS

log = logging.getLogger("spectral_jax.train")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names its path."""


def abstract_like(tree: Any) -> Any:
    """Shape/dtype/sharding skeleton of `tree`, the restore target for Orbax."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
        tree,
    )


def _first_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]


class Checkpointer:
    """Keeps the last `keep` checkpoints of `{"state": train state, "data": iterator state}`.

    `restore_latest` moves checkpoints it cannot read, once an older one restores, to
    `RUN/corrupt_checkpoints/`: the run can then save those steps again (Orbax refuses an
    existing step) and the user can still inspect them.
    """

    def __init__(self, directory: Path, keep: int, *, async_save: bool = True) -> None:
        self.directory = Path(directory).absolute()
        self.corrupt_dir = self.directory.parent / CORRUPT_CHECKPOINTS
        # Directories are created inside save(): Orbax's asynchronous creation waits on a signal
        # keyed by a process-global operation id that the spectra store's own saves (writer
        # thread, process 0 only) also advance, so the two would wait on each other's keys.
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            create=True,
            enable_async_checkpointing=async_save,
            async_options=ocp.AsyncOptions(create_directories_asynchronously=False),
            cleanup_tmp_directories=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix="train"
            ),
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()
        self.close()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, data_state: dict[str, Any]) -> None:
        """Start saving; returns once device buffers are copied, so the state may be donated."""
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)
            ),
            force=True,
        )

    def restore(self, step: int, state_like: Any) -> tuple[Any, dict[str, Any]]:
        """Restore `(state, data_state)` at `step` onto the shardings of `state_like`."""
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_like(state_like)),
                    data=ocp.args.JsonRestore(),
                ),
            )
        except Exception as err:  # Orbax raises many types for a damaged directory.
            path = self.directory / str(step)
            raise CheckpointError(f"cannot restore checkpoint {path}: {_first_line(err)}") from err
        return restored.state, restored.data

    def restore_latest(self, state_like: Any) -> tuple[int, Any, dict[str, Any]] | None:
        """`(step, state, data_state)` of the newest checkpoint that restores, or None if there
        is none. Unreadable newer ones are named in a warning and moved to `corrupt_dir` once an
        older one restores; if none restores, the newest one's error is raised and nothing is
        moved (the cause may be the config, not the files)."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        failures: list[CheckpointError] = []
        for step in steps:
            try:
                state, data_state = self.restore(step, state_like)
            except CheckpointError as err:
                log.warning("%s; trying an older checkpoint", err)
                failures.append(err)
                continue
            if failures:
                self._move_aside(steps[: len(failures)])
            return step, state, data_state
        if failures:
            raise failures[0]
        return None

    def _move_aside(self, steps: list[int]) -> None:
        if jax.process_index() == 0:
            self.corrupt_dir.mkdir(parents=True, exist_ok=True)
            for step in steps:
                target = self.corrupt_dir / str(step)
                suffix = 1
                while target.exists():
                    target, suffix = self.corrupt_dir / f"{step}.{suffix}", suffix + 1
                shutil.move(self.directory / str(step), target)
                log.warning(
                    "moved unreadable checkpoint %s to %s", self.directory / str(step), target
                )
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("spectral_jax:corrupt_checkpoints_moved")
        self.manager.reload()

    def reached_preemption(self, step: int) -> bool:
        """True on every host once any host saw a preemption notice (multi-host pods)."""
        return jax.process_count() > 1 and self.manager.reached_preemption(step)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
