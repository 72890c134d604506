"""Progress for a person watching: plain lines when stdout is not a terminal (a log file, a pipe,
a batch job), each tenth of the run or after 30 s without one; a bar on a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

from tests.helpers import run_cli
from train.progress import LINE_SECONDS, Progress

LINE = re.compile(
    r"^step (\d+)/(\d+) \((\d+)%\)  loss \d+\.\d{4}(  [\d,]+ tok/s)?  elapsed \d+:\d\d:\d\d"
    r"(  left ~\d+:\d\d:\d\d)?$"
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def steps_printed(text: str) -> list[int]:
    found = [LINE.match(line) for line in text.splitlines()]
    assert all(found), text
    return [int(m.group(1)) for m in found]


def test_a_line_each_tenth_of_the_run_and_at_the_end() -> None:
    out, clock = Pipe(), Clock()
    progress = Progress(95, 0, tokens_per_step=1024, stream=out, clock=clock)
    assert progress.mode == "lines"
    for step in range(1, 96):
        clock.now += 0.5
        progress.advance(step, 3.0)
    assert steps_printed(out.getvalue()) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    first, *_, last = out.getvalue().splitlines()
    # Rates leave out the first step (compilation): 9 steps of 1024 tokens in 4.5 s.
    assert "2,048 tok/s" in first and "left ~0:00:42" in first  # 85 steps at 0.5 s
    assert "left" not in last and "elapsed 0:00:48" in last


def test_a_slow_run_prints_every_30_seconds_between_tenths() -> None:
    out, clock = Pipe(), Clock()
    progress = Progress(1000, 0, tokens_per_step=10, stream=out, clock=clock)
    for step in range(1, 41):
        clock.now += LINE_SECONDS / 10  # 3 s a step: a tenth (100 steps) takes 300 s
        progress.advance(step, 2.0)
    # 30 s after the end of step 1 (the clock for lines starts there), then every 30 s.
    assert steps_printed(out.getvalue()) == [11, 21, 31]


def test_a_resumed_run_counts_from_its_start_and_a_short_one_prints_every_step() -> None:
    out, clock = Pipe(), Clock()
    progress = Progress(200, 150, tokens_per_step=8, stream=out, clock=clock)
    for step in range(151, 201):
        clock.now += 0.1
        progress.advance(step, 1.0)
    assert steps_printed(out.getvalue()) == [160, 180, 200]  # tenths of 200 steps
    short = Pipe()
    tiny = Progress(3, 0, tokens_per_step=8, stream=short, clock=clock)
    for step in (1, 2, 3):
        tiny.advance(step, 1.0)
    assert steps_printed(short.getvalue()) == [1, 2, 3]


def test_a_terminal_gets_the_bar_and_disabled_progress_prints_nothing() -> None:
    terminal = Terminal()
    bar = Progress(10, 0, tokens_per_step=8, stream=terminal)
    assert bar.mode == "bar"
    for step in range(1, 11):
        bar.advance(step, 1.0, tokens_per_s=100.0)
    bar.close()
    assert terminal.getvalue() == ""  # tqdm draws on stderr, never on stdout
    quiet = Pipe()
    off = Progress(10, 0, tokens_per_step=8, enabled=False, stream=quiet)
    for step in range(1, 11):
        off.advance(step, 1.0)
    assert off.mode == "off" and quiet.getvalue() == ""


def test_the_trainer_prints_progress_lines_when_stdout_is_not_a_terminal(
    tmp_path: Path, tiny: list[str]
) -> None:
    proc = run_cli([*tiny, "train.progress=true", "train.steps=20", f"run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("step ")]
    assert set(range(2, 21, 2)) <= set(steps_printed("\n".join(lines)))  # every tenth
    assert "\r" not in proc.stdout + proc.stderr  # no bar redrawing in a log
    assert proc.stdout.splitlines()[-1].startswith("done: step 20")
