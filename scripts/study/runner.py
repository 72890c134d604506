"""Train the plan's runs that are not finished, one after another, with progress and time left.

A run is finished when its run directory holds the final checkpoint (`checkpoints/<steps>/`
with Orbax's commit marker) and its training log reached the last step: such a run is never
relaunched. An unfinished run is started with `python -m train`, which resumes it from its
latest checkpoint. A run directory whose config differs from the plan's is refused (the trainer
would refuse it too), naming the keys. Ctrl-C stops the running trainer with SIGTERM (it saves
a checkpoint) and exits; the same command resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from scripts.study.plan import REPO, Plan, PlanError, RunSpec

STATE_FILE = "study_state.json"  # per-run wall times, kept beside the runs
LOG_DIR = "logs"
COMMIT_MARKERS = ("commit_success.txt", "_CHECKPOINT_METADATA")


class StudyError(RuntimeError):
    """A run that failed or cannot be trained; the one-line message names it."""


@dataclass
class Progress:
    """Time-left estimate: seconds per layer-step (step × (layers + 1)) and per-run start-up
    overhead, from the plan's prior until this session has measured its own."""

    seconds_per_layer_step: float
    seconds_per_run: float
    measured_units: float = 0.0
    measured_seconds: float = 0.0

    def rate(self) -> float:
        if self.measured_units >= 200:  # a few dozen steps before trusting our own figure
            return self.measured_seconds / self.measured_units
        return self.seconds_per_layer_step

    def seconds(self, runs: Sequence[tuple[RunSpec, int]]) -> float:
        """Estimated seconds to train `(run, steps already done)` pairs."""
        return sum(
            max(r.steps - done, 0) * (r.depth + 1) * self.rate()
            + (self.seconds_per_run if done < r.steps else 0.0)
            for r, done in runs
        )


def units(run: RunSpec, steps: int) -> float:
    """The cost unit of `steps` steps of `run`: steps × (layers + 1)."""
    return steps * (run.depth + 1)


def last_step(run_dir: Path) -> int:
    """The last step the training log holds (0 when there is none)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    step = 0
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        for line in handle.read().decode("utf-8", "replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn line, or the first, cut by the seek
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                step = max(step, row["step"])
    return step


def is_complete(run: RunSpec) -> bool:
    """True when the run's final checkpoint is committed and its log reached the last step."""
    final = run.run_dir / "checkpoints" / str(run.steps)
    committed = final.is_dir() and any((final / m).exists() for m in COMMIT_MARKERS)
    return committed and last_step(run.run_dir) >= run.steps


def check_config(plan: Plan, run: RunSpec) -> None:
    """Refuse a run directory trained with other settings than the plan's (one line)."""
    from train.config import load_config
    from train.run_dir import RunDirError, changed_keys

    try:
        keys = changed_keys(load_config(plan.base, list(run.overrides)), run.run_dir)
    except RunDirError as err:
        raise PlanError(str(err)) from None
    if keys:
        raise PlanError(
            f"{run.run_dir} was trained with other settings than the plan's ({', '.join(keys)}): "
            "move it away or change the plan back"
        )


def read_state(plan: Plan) -> dict[str, Any]:
    """Per-run wall times of earlier sessions (`runs_dir/study_state.json`)."""
    path = plan.runs_dir / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(plan: Plan, state: dict[str, Any]) -> None:
    path = plan.runs_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def trainer_env(plan: Plan) -> dict[str, str]:
    """The trainer's environment: unbuffered, and one XLA compilation cache for the plan
    (seeds of one depth compile the same programs)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(plan.runs_dir / ".xla-cache"))
    paths = [str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def fmt_time(seconds: float) -> str:
    """`1h02m`, `4m05s` or `12s`."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Trainer:
    """Trains the plan's unfinished runs; `train_all` is the whole stage."""

    def __init__(
        self,
        plan: Plan,
        *,
        out: TextIO = sys.stdout,
        poll: float = 2.0,
        launch: Callable[..., subprocess.Popen] = subprocess.Popen,
    ) -> None:
        self.plan = plan
        self.out = out
        self.poll = poll
        self.launch = launch
        self.progress = Progress(plan.seconds_per_layer_step, plan.seconds_per_run)
        self.state = read_state(plan)
        self.launched: list[str] = []

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def train_all(self) -> list[str]:
        """Train every unfinished run; returns the names of the runs it launched."""
        runs = list(self.plan.runs)
        for run in runs:
            check_config(self.plan, run)
        todo = [(r, 0 if is_complete(r) else last_step(r.run_dir)) for r in runs]
        done = [r for r, _ in todo if is_complete(r)]
        todo = [(r, s) for r, s in todo if r not in done]
        total = len(runs)
        self.say(
            f"==> study '{self.plan.name}': {total} runs, {len(done)} complete, "
            f"{len(todo)} to train (estimated {fmt_time(self.progress.seconds(todo))})"
        )
        for index, run in enumerate(runs, 1):
            if run in done:
                self.say(f"[{index}/{total}] {run.name}: complete, skipped")
                continue
            left = [(r, s) for r, s in todo if r is not run and r not in done]
            self._train(run, index, total, left)
            done.append(run)
            todo = [(r, s) for r, s in todo if r is not run]
        return self.launched

    def _train(
        self, run: RunSpec, index: int, total: int, after: list[tuple[RunSpec, int]]
    ) -> None:
        start_step = last_step(run.run_dir)
        verb = f"resuming at step {start_step}" if start_step else "training"
        self.say(f"[{index}/{total}] {run.name}: {verb} ({run.depth} layers, {run.steps} steps)")
        log_path = self.plan.runs_dir / LOG_DIR / f"{run.name.replace('/', '_')}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "train", "--config", str(self.plan.base)]
        command += [*run.overrides, "train.progress=false"]
        started = time.monotonic()
        self.launched.append(run.name)
        with log_path.open("a") as log:
            # Its own session: Ctrl-C reaches only the study, which stops the trainer with
            # SIGTERM (checkpoint, exit 0) instead of killing it mid-step.
            proc = self.launch(
                command,
                cwd=REPO,
                env=trainer_env(self.plan),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            try:
                first = self._watch(proc, run, index, total, after, start_step)
            except KeyboardInterrupt:
                self._stop(proc)
                raise
        code = proc.returncode
        if code != 0 or not is_complete(run):
            tail = _last_line(log_path)
            raise StudyError(f"run {run.name} failed (exit {code}): {tail} (full log: {log_path})")
        seconds = time.monotonic() - started
        steps_done = run.steps - start_step
        entry = self.state.get(run.name, {})
        self.state[run.name] = {
            "train_seconds": entry.get("train_seconds", 0.0) + seconds,
            "steps_timed": entry.get("steps_timed", 0) + steps_done,
            "startup_seconds": first,
            "last_session_seconds": seconds,
        }
        write_state(self.plan, self.state)
        rate = (
            f"{steps_done / max(seconds - first, 1e-9):.2f} steps/s after {first:.0f}s start-up"
            if steps_done
            else "no steps left: the final checkpoint only"
        )
        self.say(f"[{index}/{total}] {run.name}: done in {fmt_time(seconds)} ({rate})")

    def _watch(
        self,
        proc: subprocess.Popen,
        run: RunSpec,
        index: int,
        total: int,
        after: list[tuple[RunSpec, int]],
        start_step: int,
    ) -> float:
        """Poll the training log until the trainer exits; print progress at every 10% and
        the time left (this run and the rest). Returns the start-up seconds."""
        started = time.monotonic()
        first_seen: tuple[float, int] | None = None
        shown, counted_units, counted_seconds = -1, 0.0, 0.0
        while proc.poll() is None:
            time.sleep(self.poll)
            step = last_step(run.run_dir)
            now = time.monotonic()
            if step <= start_step:
                continue
            if first_seen is None:
                first_seen = (now, step)
                continue
            span, steps = now - first_seen[0], step - first_seen[1]
            if steps > 0:  # steady-state speed: from the first logged step on
                self.progress.measured_units += units(run, steps) - counted_units
                self.progress.measured_seconds += span - counted_seconds
                counted_units, counted_seconds = units(run, steps), span
            decile = int(10 * step / run.steps)
            if decile > shown:
                shown = decile
                this = max(run.steps - step, 0) * (run.depth + 1) * self.progress.rate()
                rest = self.progress.seconds(after)
                self.say(
                    f"    {run.name}: step {step}/{run.steps}, loss {_last_loss(run.run_dir)}; "
                    f"run ~{fmt_time(this)} left, study ~{fmt_time(this + rest)} left "
                    "(training)"
                )
        return (first_seen[0] - started) if first_seen else time.monotonic() - started

    def _stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM: the trainer checkpoints and exits 0; resume by running the study again."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _last_line(path: Path) -> str:
    lines = [l for l in path.read_text(errors="replace").splitlines() if l.strip()]
    return lines[-1].strip() if lines else "no output"


def _last_loss(run_dir: Path) -> str:
    path = run_dir / "metrics.jsonl"
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 2048))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "n/a"
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("loss"), float):
            return f"{row['loss']:.3f}"
    return "n/a"
