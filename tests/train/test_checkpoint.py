"""Checkpoint fallback in-process: the newest readable checkpoint wins, the damaged newer ones are
moved aside with one line each, and a failed restore leaves nothing running behind it."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import TINY, damage_binary_files
from train.checkpoint import Checkpointer, CheckpointError, unreadable
from train.config import load_config
from train.mesh import make_mesh
from train.optim import make_optimizer
from train.step import create_state

STEPS = (10, 20, 30)


@functools.cache
def _train_state() -> dict:
    """The tiny model's real train state (params, Adam moments, counters): its restore starts
    dozens of reads at once, as a real run's does."""
    cfg = load_config(None, TINY)
    tx, _ = make_optimizer(cfg.optim, 10)
    return create_state(cfg.model, 0, tx, make_mesh(cfg.mesh))[2]


def state_at(step: int) -> dict:
    """A train state whose every floating value says which step saved it."""
    return jax.tree.map(
        lambda x: x + step if jnp.issubdtype(x.dtype, jnp.floating) else x, _train_state()
    )


def assert_same_state(a: dict, b: dict) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture
def three_checkpoints(tmp_path: Path) -> Path:
    """Checkpoints at 10, 20, 30, copied to another path as a resumed run finds them (Orbax
    caches metadata of the directories this process saved)."""
    saved = tmp_path / "saved"
    with Checkpointer(saved, keep=3, async_save=False) as checkpointer:
        for step in STEPS:
            checkpointer.save(step, state_at(step), {"position": step})
    return Path(shutil.copytree(saved, tmp_path / "run" / "checkpoints"))


@pytest.mark.parametrize("damaged", [(30,), (30, 20)], ids=["newest", "two-newest"])
def test_the_newest_readable_checkpoint_is_restored_and_newer_ones_moved_aside(
    three_checkpoints: Path, damaged: tuple[int, ...], caplog: pytest.LogCaptureFixture
) -> None:
    for step in damaged:
        damage_binary_files(three_checkpoints / str(step))
    expected = max(set(STEPS) - set(damaged))  # the newest older one, never the oldest
    with (
        caplog.at_level(logging.INFO, logger="spectral_jax"),
        Checkpointer(three_checkpoints, keep=3, async_save=False) as checkpointer,
    ):
        step, state, data = checkpointer.restore_latest(state_at(0))
        assert checkpointer.latest_step() == expected
    assert step == expected and data == {"position": expected}
    assert_same_state(state, state_at(expected))
    corrupt = three_checkpoints.parent / "corrupt_checkpoints"
    assert sorted(int(p.name) for p in corrupt.iterdir()) == sorted(damaged)
    kept = sorted(int(p.name) for p in three_checkpoints.iterdir() if p.name.isdigit())
    assert kept == sorted(set(STEPS) - set(damaged))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(damaged), lines  # one line per damaged checkpoint, nothing else
    for bad, line in zip(sorted(damaged, reverse=True), lines, strict=True):
        assert line.startswith(f"checkpoint at step {bad} is corrupt (state/")
        assert line.endswith(f"; moved it to {corrupt / str(bad)}")


def test_none_restoring_names_every_step_and_moves_nothing(three_checkpoints: Path) -> None:
    for step in STEPS:
        damage_binary_files(three_checkpoints / str(step))
    with (
        Checkpointer(three_checkpoints, keep=3, async_save=False) as checkpointer,
        pytest.raises(CheckpointError) as info,
    ):
        checkpointer.restore_latest(state_at(0))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"no checkpoint in {three_checkpoints} restores: ")
    for step in STEPS:
        assert f"checkpoint at step {step} is corrupt (state/manifest.ocdbt: " in message
    assert [f.step for f in info.value.unreadable] == [30, 20, 10]
    assert not (three_checkpoints.parent / "corrupt_checkpoints").exists()


def reads_after_the_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the race of a real run certain: every array read but the first starts a moment
    after the first has failed, so they are in flight when Orbax gives up on the restore. (Patches
    Orbax's read of one array, `serialization.async_deserialize`, which its array handler
    looks up at each call.)"""
    from orbax.checkpoint._src.serialization import serialization

    real = serialization.async_deserialize
    first: list[asyncio.Event] = []

    async def ordered(*args: object, **kwargs: object) -> object:
        if not first:
            first.append(asyncio.Event())
            try:
                return await real(*args, **kwargs)
            finally:
                first[0].set()
        await first[0].wait()
        await asyncio.sleep(0.2)  # still waiting when the failure reaches Orbax's gather
        return await real(*args, **kwargs)

    monkeypatch.setattr(serialization, "async_deserialize", ordered)


def test_a_failed_restore_leaves_no_reads_behind(
    three_checkpoints: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The restore of a damaged checkpoint fails on its first array while the reads of the
    others are in flight. They must end with it and be collected: a read left pending in a
    closed event loop later calls back into it (Python prints a `RuntimeError: Event loop is
    closed` traceback per array, hundreds of lines for a real model), and a read that failed
    unobserved is reported as `Task exception was never retrieved`. Which of the two a run
    shows depends on timing; the test checks for both."""
    pending_at_close: list[int] = []
    close = asyncio.base_events.BaseEventLoop.close

    def recording_close(loop: asyncio.AbstractEventLoop) -> None:
        pending_at_close.append(sum(not t.done() for t in asyncio.all_tasks(loop)))
        close(loop)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "close", recording_close)
    reads_after_the_first_failure(monkeypatch)
    stray: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: stray.append(u.exc_value))
    damage_binary_files(three_checkpoints / "30")
    with (
        caplog.at_level(logging.WARNING, logger="asyncio"),
        Checkpointer(three_checkpoints, keep=3, async_save=False) as checkpointer,
    ):
        with pytest.raises(CheckpointError):
            checkpointer.restore(30, state_at(0))
        gc.collect()  # unobserved failed tasks are reported when collected
        assert pending_at_close and set(pending_at_close) == {0}, pending_at_close
        checkpointer.restore(20, state_at(0))  # more tensorstore work, while still watching
        gc.collect()
    assert stray == []
    reported = [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in reported] == []


@pytest.mark.parametrize(
    ("damage", "missing", "reason"),
    [
        ("manifest", False, "state/manifest.ocdbt: Error decoding manifest: "),
        ("data-files", False, "state/d/"),
        ("data-files-deleted", True, "state/d/"),
        ("state-deleted", True, 'Item "state" was not found in the checkpoint'),
        ("metadata-garbage", False, "JSONDecodeError: "),
    ],
)
def test_the_reason_names_the_file_and_says_missing_or_damaged(
    three_checkpoints: Path, damage: str, missing: bool, reason: str
) -> None:
    step_dir = three_checkpoints / "30"
    state_dir = step_dir / "state"
    if damage == "manifest":
        (state_dir / "manifest.ocdbt").write_bytes(b"garbage")
    elif damage.startswith("data-files"):
        for f in state_dir.rglob("*"):
            if f.parent.name == "d":
                f.unlink() if damage.endswith("deleted") else f.write_bytes(b"garbage")
    elif damage == "state-deleted":
        shutil.rmtree(state_dir)
    else:  # JSON metadata
        (state_dir / "_METADATA").write_bytes(b"garbage")
    with (
        Checkpointer(three_checkpoints, keep=3, async_save=False) as checkpointer,
        pytest.raises(CheckpointError) as info,
    ):
        checkpointer.restore(30, state_at(0))
    [found] = info.value.unreadable
    assert found.step == 30 and found.missing is missing
    assert found.reason.startswith(reason), found.reason
    assert "tensorstore_spec" not in found.reason and "\n" not in found.reason
    assert found.describe().startswith(
        f"checkpoint at step 30 is {'incomplete' if missing else 'corrupt'} ("
    )


def test_reason_of_an_error_without_a_file() -> None:
    found = unreadable(5, Path("/run/checkpoints/5"), KeyError('Item "data" was not found'))
    assert (found.missing, found.reason) == (True, 'Item "data" was not found')
