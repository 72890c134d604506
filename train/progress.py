"""Progress for a person watching a run: a tqdm bar on a terminal, plain lines otherwise.

A bar redraws one line with carriage returns, which a log file, `make demo | tee` or a batch
scheduler's output shows as nothing (tqdm draws only on a terminal) or as garbage. When stdout
is not a terminal the trainer prints instead one line per tenth of the run, or after 30 s
without one, whichever comes first (and at the last step): enough to see a run is alive and when
it will end, few enough to read (10 lines for the demo):

    step 250/500 (50%)  loss 3.2141  41,200 tok/s  elapsed 0:00:31  left ~0:00:30

tokens/s and the time left are measured since the previous line (the first step, which
includes compiling, is left out of them). `train.progress=false` turns both off.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

LINE_FRACTION = 0.1  # a line each tenth of the run ...
LINE_SECONDS = 30.0  # ... or after this long without one, whichever comes first


def _clock_time(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports each finished step (`advance`) as a bar or as plain lines (module docstring)."""

    def __init__(
        self,
        total: int,
        start: int,
        *,
        tokens_per_step: int,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.tokens_per_step, self._clock = total, tokens_per_step, clock
        self._stream = sys.stdout if stream is None else stream
        terminal = self._stream.isatty()
        self.mode = "off" if not enabled else ("bar" if terminal else "lines")
        self._bar = (
            tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)
            if self.mode == "bar"
            else None
        )
        self._every = max(1, math.ceil(total * LINE_FRACTION))
        self._began = clock()
        # Rates are measured from the end of the first step, which includes the compilation.
        self._last_time: float | None = None
        self._last_step = start

    def advance(self, step: int, loss: float, tokens_per_s: float | None = None) -> None:
        """Step `step` is done with training loss `loss`; `tokens_per_s` when a log row has it."""
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            if tokens_per_s is not None:
                self._bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s:,.0f}")
        elif self.mode == "lines":
            now = self._clock()
            due = step % self._every == 0 or step == self.total
            since = now - (self._began if self._last_time is None else self._last_time)
            if due or since >= LINE_SECONDS:
                self._line(step, loss, now)
            elif self._last_time is None:
                self._last_step, self._last_time = step, now

    def _line(self, step: int, loss: float, now: float) -> None:
        parts = [f"step {step}/{self.total} ({100 * step // self.total}%)", f"loss {loss:.4f}"]
        steps = step - self._last_step
        if self._last_time is not None and steps > 0:
            seconds = max(now - self._last_time, 1e-9)
            parts.append(f"{self.tokens_per_step * steps / seconds:,.0f} tok/s")
        parts.append(f"elapsed {_clock_time(now - self._began)}")
        if self._last_time is not None and steps > 0 and step < self.total:
            parts.append(
                f"left ~{_clock_time((self.total - step) * (now - self._last_time) / steps)}"
            )
        print("  ".join(parts), file=self._stream, flush=True)
        self._last_step, self._last_time = step, now

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
