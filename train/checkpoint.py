"""Orbax checkpoints of the whole train state and the data-iterator position (async, last N)."""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from spectral_jax.event_loops import draining_event_loops
from spectral_jax.run_layout import CORRUPT_CHECKPOINTS, DATA_ITEM, STATE_ITEM, checkpoint_dir
from train.debug import debug_enabled

log = logging.getLogger("spectral_jax.train")


class CheckpointError(RuntimeError):
    """A checkpoint (or every checkpoint of a run) that does not restore; the one-line
    message names each step and why, `unreadable` holds the same as data."""

    def __init__(self, message: str, unreadable: tuple[Unreadable, ...] = ()) -> None:
        super().__init__(message)
        self.unreadable = unreadable


@dataclass(frozen=True)
class Unreadable:
    """A checkpoint that did not restore: its step, whether files are missing, and why."""

    step: int
    missing: bool  # files are missing (an incomplete copy) rather than damaged
    reason: str  # one line: the file and the error, without Orbax's spec dump

    def describe(self) -> str:
        state = "incomplete" if self.missing else "corrupt"
        return f"checkpoint at step {self.step} is {state} ({self.reason})"


_STATUS = re.compile(r"^([A-Z][A-Z_]+): ")  # tensorstore's status code, e.g. DATA_LOSS
_LOCAL_FILE = re.compile(r'local file "([^"]+)"')
_GENERIC = (ValueError, KeyError, RuntimeError, OSError)


def unreadable(step: int, step_dir: Path, err: BaseException) -> Unreadable:
    """Why the checkpoint in `step_dir` failed to restore, in one line.

    Orbax passes tensorstore's messages through; they chain every layer ("Error opening "cast"
    driver: ... OCDBT database at local file X: Error decoding local file Y: reason") and end
    with the whole spec. The useful part is the last file named and what went wrong with it.
    """
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    text = text.split(" [tensorstore_spec")[0].strip().splitlines()
    text = text[0].strip() if text else type(err).__name__
    status = _STATUS.match(text)
    code = status.group(1) if status else None
    missing = (
        isinstance(err, FileNotFoundError)
        or code == "NOT_FOUND"
        or (isinstance(err, KeyError) and "not found" in text)
    )
    files = list(_LOCAL_FILE.finditer(text))
    if files:
        path = Path(files[-1].group(1))
        where = path.relative_to(step_dir) if path.is_relative_to(step_dir) else path
        detail = text[files[-1].end() :].lstrip(": ").strip()
        reason = f"{where}: {detail or ('missing' if missing else code or 'unreadable')}"
    else:
        reason = text[status.end() :] if status else text
        if type(err) not in _GENERIC:  # e.g. JSONDecodeError says more than its message
            reason = f"{type(err).__name__}: {reason}"
    return Unreadable(step=step, missing=missing, reason=reason)


@contextlib.contextmanager
def _library_logs_quiet() -> Iterator[None]:
    """Orbax logs its own errors about damaged metadata (absl, ERROR) when it lists or restores
    checkpoints; the trainer reports each checkpoint in one line instead, unless debug output
    is on."""
    absl = logging.getLogger("absl")
    previous = absl.level
    if not debug_enabled():
        absl.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        absl.setLevel(previous)


def abstract_like(tree: Any) -> Any:
    """Shape/dtype/sharding skeleton of `tree`, the restore target for Orbax."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
        tree,
    )


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
        with _library_logs_quiet():  # it reads every step's metadata, damaged or not
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
                **{
                    STATE_ITEM: ocp.args.StandardSave(state),
                    DATA_ITEM: ocp.args.JsonSave(data_state),
                }
            ),
            force=True,
        )

    def restore(self, step: int, state_like: Any) -> tuple[Any, dict[str, Any]]:
        """Restore `(state, data_state)` at `step` onto the shardings of `state_like`, or raise
        a `CheckpointError` saying why not.

        A failed restore returns only once every read it started has ended
        (`spectral_jax.event_loops`), so nothing of it is left running or printing.
        """
        try:
            with draining_event_loops(), _library_logs_quiet():
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(
                        **{
                            STATE_ITEM: ocp.args.StandardRestore(abstract_like(state_like)),
                            DATA_ITEM: ocp.args.JsonRestore(),
                        }
                    ),
                )
        except Exception as err:  # Orbax raises many types for a damaged directory.
            found = unreadable(step, checkpoint_dir(self.directory, step), err)
            log.debug("restoring step %d failed", step, exc_info=err)
            raise CheckpointError(found.describe(), (found,)) from err
        return restored[STATE_ITEM], restored[DATA_ITEM]

    def restore_latest(self, state_like: Any) -> tuple[int, Any, dict[str, Any]] | None:
        """`(step, state, data_state)` of the newest checkpoint that restores, or None if there
        is none.

        Checkpoints newer than that one are moved to `corrupt_dir`, one warning line each
        (step, why, where it went). If none restores, a `CheckpointError` names every step and
        why, and nothing is moved: the cause may be the config, not the files.
        """
        newest_first = sorted(self.manager.all_steps(), reverse=True)
        failed: list[Unreadable] = []
        for step in newest_first:
            try:
                state, data_state = self.restore(step, state_like)
            except CheckpointError as err:
                failed.extend(err.unreadable)
                continue
            self._move_aside(failed)
            return step, state, data_state
        if failed:
            raise CheckpointError(
                f"no checkpoint in {self.directory} restores: "
                + "; ".join(f.describe() for f in failed)
                + "; nothing was moved or deleted (move the checkpoints directory away to "
                "start anew, or use another run.dir)",
                tuple(failed),
            )
        return None

    def _move_aside(self, failed: list[Unreadable]) -> None:
        if not failed:
            return
        if jax.process_index() == 0:
            self.corrupt_dir.mkdir(parents=True, exist_ok=True)
            for bad in failed:
                target = self.corrupt_dir / str(bad.step)
                suffix = 1
                while target.exists():
                    target, suffix = self.corrupt_dir / f"{bad.step}.{suffix}", suffix + 1
                shutil.move(checkpoint_dir(self.directory, bad.step), target)
                log.warning("%s; moved it to %s", bad.describe(), target)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("spectral_jax:corrupt_checkpoints_moved")
        with _library_logs_quiet():
            self.manager.reload()

    def reached_preemption(self, step: int) -> bool:
        """True on every host once any host saw a preemption notice (multi-host pods)."""
        return jax.process_count() > 1 and self.manager.reached_preemption(step)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
