"""The analysis stage: the public analysis CLIs on the plan's runs, their outputs collected.

Each condition's seed group gets `python -m analysis report RUN...` (one seed's sections and the
across-seed findings in one summary.json); the depth sweep's other depths a report each and
`python -m analysis scaling`; the selected runs `importance` and `prune`. Nothing here decides
a claim: the outputs are read as the CLIs wrote them. Each command's failure is recorded with
its last line and the stage goes on, so the results page says what could not be computed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from scripts.study import noise
from scripts.study.plan import REPO, Plan, RunSpec, Selection
from scripts.study.runner import fmt_time, trainer_env

ANALYSIS_DIR = "analysis"


@dataclass
class Collected:
    """Everything the results page is built from (also written as `study.json`)."""

    plan: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, Any] = field(default_factory=dict)  # condition -> report summary
    sweep: dict[str, Any] = field(default_factory=dict)  # depth -> report summary
    scaling: dict[str, Any] | None = None
    importance: dict[str, Any] = field(default_factory=dict)  # run name -> importance.json
    pruning: dict[str, Any] = field(default_factory=dict)  # run name -> pruning.json
    noise: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plan_record(plan: Plan) -> dict[str, Any]:
    """The plan as the results page describes it."""
    return {
        "name": plan.name,
        "description": plan.description,
        "base": _rel(plan.base),
        "runs_dir": _rel(plan.runs_dir),
        "depths": list(plan.depths),
        "middle_depth": plan.middle_depth,
        "seeds": list(plan.seeds),
        "conditions": [
            {"name": c.name, "label": c.label, "overrides": c.overrides} for c in plan.conditions
        ],
        "overrides": plan.overrides,
        "notes": list(plan.notes),
        "steps": sorted({r.steps for r in plan.runs}),
        "tokens_per_step": sorted({r.tokens_per_step for r in plan.runs}),
    }


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def run_record(run: RunSpec, state: dict[str, Any]) -> dict[str, Any]:
    """One run's row: its settings, final losses, how bent its loss curve is, its wall time."""
    log = read_log(run.run_dir)
    train = [(r["step"], r["loss"]) for r in log if isinstance(r.get("loss"), float)]
    val = [(r["step"], r["val_loss"]) for r in log if isinstance(r.get("val_loss"), float)]
    timing = state.get(run.name, {})
    return {
        "name": run.name,
        "condition": run.condition,
        "depth": run.depth,
        "seed": run.seed,
        "steps": run.steps,
        "tokens": run.steps * run.tokens_per_step,
        "params": run.params,
        "path": _rel(run.run_dir),
        "loss_curve": train,
        "val_curve": val,
        "final_loss": train[-1][1] if train else None,
        "final_val_loss": val[-1][1] if val else None,
        "bend": bend(train),
        "train_seconds": timing.get("train_seconds"),
        "steps_timed": timing.get("steps_timed"),
    }


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """Rows of the run's training log (torn lines skipped)."""
    rows = []
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows.append(row)
    return rows


def bend(curve: list[tuple[int, float]]) -> float | None:
    """How clearly a loss curve has bent: the loss drop over the second half of the run divided
    by the drop over the first half (smoothed over a tenth of the rows at each point). A straight
    line gives 1; a curve that has flattened gives a small value."""
    if len(curve) < 10:
        return None
    loss = np.array([l for _, l in curve], float)
    width = max(1, len(loss) // 10)
    smooth = np.convolve(loss, np.ones(width) / width, mode="valid")
    first, middle, last = smooth[0], smooth[len(smooth) // 2], smooth[-1]
    if first - middle <= 0:
        return None
    return float((middle - last) / (first - middle))


class Analyst:
    """Runs the analysis CLIs on a plan's runs (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        *,
        out: TextIO = sys.stdout,
        run_cli: Callable[[list[str]], subprocess.CompletedProcess] | None = None,
    ) -> None:
        self.plan = plan
        self.out = out
        self.root = plan.runs_dir / ANALYSIS_DIR
        self.run_cli = run_cli or self._subprocess
        self.collected = Collected(plan=plan_record(plan))
        self.started = time.monotonic()
        self.done = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _subprocess(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "analysis", *args],
            cwd=REPO,
            env=trainer_env(self.plan),
            capture_output=True,
            text=True,
        )

    def _call(self, label: str, args: list[str], total: int) -> bool:
        """One CLI call with a progress line; a failure is recorded, never raised."""
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / max(self.done - 1, 1) * (total - self.done + 1) if self.done > 1 else None
        eta = f", ~{fmt_time(left)} left (analysis)" if left is not None else ""
        self.say(f"[analysis {self.done}/{total}] {label}{eta}")
        started = time.monotonic()
        result = self.run_cli(args)
        self.collected.seconds[label] = round(time.monotonic() - started, 1)
        if result.returncode != 0:
            lines = [l for l in (result.stderr or "").splitlines() if l.strip()]
            why = lines[-1].strip() if lines else f"exit {result.returncode}"
            self.collected.errors.append(f"{label}: {why}")
            self.say(f"    failed: {why}")
            return False
        return True

    def calls(self) -> list[tuple[str, list[str], Callable[[], None]]]:
        """(label, CLI arguments, reader of its output) of every analysis, in order."""
        plan, root, out = self.plan, self.root, []
        for cond in plan.conditions:
            runs = plan.group(cond.name)
            if not runs:
                continue
            target = root / "groups" / cond.name
            args = ["report", *(str(r.run_dir) for r in runs), "--out", str(target)]
            label = f"report {cond.name} L{plan.middle_depth} ({len(runs)} seeds)"
            out.append((label, args, self._reader(self.collected.groups, cond.name, target)))
        for run in plan.sweep():
            if run.depth == plan.middle_depth:
                continue  # the reference group's first seed is this run
            target = root / "sweep" / f"L{run.depth}"
            reader = self._reader(self.collected.sweep, str(run.depth), target)
            out.append(
                (f"report {run.name}", ["report", str(run.run_dir), "--out", str(target)], reader)
            )
        sweep = plan.sweep()
        if sweep:
            target = root / "scaling"
            args = ["scaling", *(str(r.run_dir) for r in sweep), "--out", str(target)]
            out.append((f"scaling over {len(sweep)} depths", args, self._scaling(target)))
        for kind, selection in (("importance", plan.importance), ("prune", plan.pruning)):
            store = self.collected.importance if kind == "importance" else self.collected.pruning
            file = "importance.json" if kind == "importance" else "pruning.json"
            for run in plan.selected(selection):
                target = root / kind / run.name.replace("/", "_")
                args = [kind, str(run.run_dir), "--out", str(target), "--quiet"]
                args += self._data_args(run, selection)
                if kind == "prune" and selection.max_remove is not None:
                    args += ["--max-remove", str(min(selection.max_remove, run.depth - 1))]
                out.append((f"{kind} {run.name}", args, self._json(store, run.name, target / file)))
        return out

    def _reader(self, store: dict, key: str, target: Path) -> Callable[[], None]:
        return self._json(store, key, target / "summary.json")

    def _json(self, store: dict, key: str, path: Path) -> Callable[[], None]:
        def read() -> None:
            store[key] = json.loads(path.read_text())

        return read

    def _scaling(self, target: Path) -> Callable[[], None]:
        def read() -> None:
            self.collected.scaling = json.loads((target / "scaling.json").read_text())

        return read

    def _data_args(self, run: RunSpec, selection: Selection) -> list[str]:
        """Evaluation data: the run's own held-out text, or for a token corpus its validation
        split written as a .bin (the importance CLI's `synthetic` is uniform noise, which the
        run never saw)."""
        from train.config import load_config

        config = load_config(self.plan.base, list(run.overrides))
        args = ["--tokens", str(selection.tokens)]
        if config.data.corpus == "shakespeare":
            return args
        if config.data.corpus == "text":
            return [*args, "--data", f"text:{config.data.path}"]
        path = self.root / "data" / f"{run.condition}-val.bin"
        if not path.is_file():
            from train.corpora import load_corpus

            if config.model.vocab_size > 65_536:
                raise ValueError(f"{run.name}: vocab above 65536 does not fit uint16 tokens")
            val = np.asarray(load_corpus(config.data, config.model.vocab_size).val, np.uint16)
            path.parent.mkdir(parents=True, exist_ok=True)
            val.tofile(path)
        seq_len = min(256, config.model.max_seq_len)  # the CLI's default window
        usable = (path.stat().st_size // 2) // (seq_len + 1) * seq_len
        return ["--tokens", str(min(selection.tokens, usable)), "--data", f"tokens:{path}"]

    def analyse(self, state: dict[str, Any]) -> Collected:
        """Every analysis of the plan; returns what the results page is built from."""
        self.collected.runs = [run_record(r, state) for r in self.plan.runs]
        calls = self.calls()
        total = len(calls) + 1
        for label, args, read in calls:
            if self._call(label, args, total):
                try:
                    read()
                except (OSError, json.JSONDecodeError) as err:
                    self.collected.errors.append(f"{label}: output unreadable ({err})")
        self.done += 1
        self.say(f"[analysis {self.done}/{total}] noise of {len(self.plan.runs)} runs")
        started = time.monotonic()
        self.collected.noise = self.noise()
        self.collected.seconds["noise"] = round(time.monotonic() - started, 1)
        return self.collected

    def noise(self) -> dict[str, Any]:
        """Within-run noise of every run, the seed spread of each group, proposed defaults."""
        from analysis import RunError

        per_run: dict[str, Any] = {}
        for run in self.plan.runs:
            try:
                per_run[run.name] = noise.run_figures(str(run.run_dir))
            except (RunError, ValueError) as err:
                self.collected.errors.append(f"noise {run.name}: {err}")
                per_run[run.name] = None
        spread = {}
        for cond in self.plan.conditions:
            group = self.plan.group(cond.name)
            summary = self.collected.groups.get(cond.name) or {}
            sections = summary.get("per_seed") or ([summary] if summary else [])
            if len(group) >= 2 and len(sections) == len(group):
                spread[cond.name] = noise.seed_spread(
                    sections, [per_run.get(r.name) for r in group]
                )
        reference = [r.name for r in self.plan.runs if r.condition == self.plan.reference.name]
        return {
            "runs": per_run,
            "seed_spread": spread,
            "simulator": noise.simulator_defaults(per_run, reference),
            "defaults": noise.current_defaults(),
        }
