"""Orbax checkpoints of the whole train state and the data-iterator position (async, last N)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names its path."""


def abstract_like(tree: Any) -> Any:
    """Shape/dtype/sharding skeleton of `tree`, the restore target for Orbax."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
        tree,
    )


class Checkpointer:
    """Keeps the last `keep` checkpoints of `{"state": train state, "data": iterator state}`."""

    def __init__(self, directory: Path, keep: int, *, async_save: bool = True) -> None:
        self.directory = Path(directory).absolute()
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
        path = self.directory / str(step)
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_like(state_like)),
                    data=ocp.args.JsonRestore(),
                ),
            )
        except Exception as err:  # Orbax raises many types for a damaged directory.
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise CheckpointError(f"cannot restore checkpoint {path}: {reason[:200]}") from err
        return restored.state, restored.data

    def reached_preemption(self, step: int) -> bool:
        """True on every host once any host saw a preemption notice (multi-host pods)."""
        return jax.process_count() > 1 and self.manager.reached_preemption(step)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
