"""Event loops that settle all their tasks before closing, for Orbax restores that can fail.

Orbax runs a restore in a fresh asyncio loop (`run_until_complete`, then `close`) and reads
the arrays concurrently. When one read fails (a damaged OCDBT file), the first error propagates
at once and the loop is closed while the other reads are still in flight in tensorstore's
threads: each of them later calls `loop.call_soon_threadsafe` on the closed loop, and Python
prints a `RuntimeError: Event loop is closed` traceback per array, or a task that failed
unobserved is reported as `Task exception was never retrieved` — hundreds of lines burying the
one that says what happened. Inside `draining_event_loops()` every new loop, when closed, first
runs its pending tasks to completion and then collects the outcome of every task it ran (the
errors are dropped: the first one already reached the caller), so a failed restore ends with
no work left behind and nothing to report later.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any

# Reads of local files end in well under this; a task still pending after it is cancelled.
DRAIN_TIMEOUT_S = 120.0


class DrainingEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose `close()` settles every task it created (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._created: weakref.WeakSet[asyncio.Task] = weakref.WeakSet()
        self.set_task_factory(self._track)

    def _track(
        self, loop: asyncio.AbstractEventLoop, coro: Coroutine, **kwargs: Any
    ) -> asyncio.Task:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        self._created.add(task)
        return task

    def close(self) -> None:
        if not self.is_running() and not self.is_closed():
            # Pending tasks may start others while they finish: settle until none is left.
            while pending := [t for t in self._created if not t.done()]:
                _, late = self.run_until_complete(asyncio.wait(pending, timeout=DRAIN_TIMEOUT_S))
                for task in late:
                    task.cancel()
                if late:
                    self.run_until_complete(asyncio.wait(late))
            for task in list(self._created):
                if not task.cancelled():
                    task.exception()  # retrieved: not reported as "never retrieved" later
        super().close()


class _DrainingPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = DrainingEventLoop


@contextlib.contextmanager
def draining_event_loops() -> Iterator[None]:
    """Loops created inside the block (by any thread) are `DrainingEventLoop`s.

    The event-loop policy is process-wide, so keep the block to the restore call itself.
    """
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_DrainingPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)
