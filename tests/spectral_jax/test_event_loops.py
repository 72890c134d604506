"""Event loops that finish their tasks before closing (what a failed Orbax restore needs)."""

from __future__ import annotations

import asyncio

import pytest

from spectral_jax.event_loops import DrainingEventLoop, draining_event_loops


async def gather_one_failing(finished: list[str]) -> None:
    """Like Orbax's reads: one fails at once, the other is still running when gather raises."""

    async def fail() -> None:
        raise ValueError("damaged file")

    async def read() -> str:
        await asyncio.sleep(0.01)
        finished.append("read")
        raise OSError("a second error nobody awaits")

    await asyncio.gather(fail(), read())


def test_loops_made_inside_the_block_finish_pending_tasks_on_close() -> None:
    finished: list[str] = []
    with draining_event_loops():
        loop = asyncio.new_event_loop()
    assert isinstance(loop, DrainingEventLoop)
    with pytest.raises(ValueError, match="damaged file"):
        loop.run_until_complete(gather_one_failing(finished))
    pending = asyncio.all_tasks(loop)
    assert len(pending) == 1 and finished == []  # what a plain close() would abandon
    loop.close()
    assert loop.is_closed() and finished == ["read"]
    assert all(t.done() for t in pending)
    assert isinstance(next(iter(pending)).exception(), OSError)


def test_the_policy_is_put_back_after_the_block() -> None:
    before = asyncio.get_event_loop_policy()
    with pytest.raises(RuntimeError), draining_event_loops():
        raise RuntimeError("the block failed")
    assert asyncio.get_event_loop_policy() is before
    loop = asyncio.new_event_loop()
    assert not isinstance(loop, DrainingEventLoop)
    loop.close()
