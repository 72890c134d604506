"""`python -m scripts.study [--plan full|quick|paper|PATH] [--stage ...] [key=value ...]`.

Trains the plan's unfinished runs, runs the analysis CLIs on them and writes the results page
(`make study` is `--plan full`). Exit codes: 0 done, 1 a run or an analysis failed (the page is
still written and lists what failed), 2 a bad plan or argument, 130 interrupted (run it again
to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.study import figures as study_figures
from scripts.study.measure import ANALYSIS_DIR, Analyst
from scripts.study.page import build_page
from scripts.study.plan import REPO, PlanError, load_plan
from scripts.study.runner import (
    StudyError,
    Trainer,
    check_config,
    fmt_time,
    is_complete,
    read_state,
)

STAGES = ("all", "train", "analyse", "page")
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.study",
        description="Train a study plan's runs (resumable), analyse them, write the results page.",
    )
    parser.add_argument(
        "--plan", default="full", help="plan name in configs/study/ or a YAML path (default full)"
    )
    parser.add_argument(
        "--stage",
        default="all",
        choices=STAGES,
        help="all (default); train: only train; analyse: analysis and page from finished runs; "
        "page: rebuild the page from the last analysis",
    )
    parser.add_argument(
        "--runs",
        default=None,
        help="with --stage train: only these runs (comma-separated names, e.g. adamw/L8/s0)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs and the estimated time, do nothing"
    )
    parser.add_argument(
        "overrides", nargs="*", help="plan keys, e.g. seeds=[0,1,2,3] overrides.optim.lr=1e-3"
    )
    return parser.parse_args(argv)


def status(seconds: float) -> dict[str, str | float]:
    """Date, commit and machine the page records."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = f"{os.cpu_count()}-core {platform.machine()} CPU"
    return {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "device": cpu,
        "seconds": seconds,
    }


def run_state(plan, run) -> str:
    """`complete`, `to train`, or `other settings` for a run directory the study would refuse."""
    try:
        check_config(plan, run)
    except PlanError:
        return "other settings (refused: move it away)"
    return "complete" if is_complete(run) else "to train"


def dry_run(plan) -> int:
    trainer = Trainer(plan)
    print(f"study '{plan.name}': {len(plan.runs)} runs under {plan.runs_dir}")
    states = {run.name: run_state(plan, run) for run in plan.runs}
    for run in plan.runs:
        state = states[run.name]
        print(
            f"  {run.name:28s} {run.depth:3d} layers  {run.steps:6d} steps  "
            f"{run.params / 1e6:6.2f}M params  {state}"
        )
    todo = [(r, 0) for r in plan.runs if states[r.name] != "complete"]
    print(f"estimated training time: {fmt_time(trainer.progress.seconds(todo))}")
    return 0


def write_results(plan, data: dict, seconds: float) -> Path:
    """The figures and the results page of `data` (the analysis stage's outputs)."""
    drawn = study_figures.write_figures(data, plan.figures)
    figure_dir = os.path.relpath(plan.figures, plan.results.parent)
    page = build_page(data, drawn, figure_dir, status(seconds))
    plan.results.parent.mkdir(parents=True, exist_ok=True)
    plan.results.write_text(page)
    return plan.results


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stopped like Ctrl-C: the trainer checkpoints
    started = time.monotonic()
    try:
        plan = load_plan(args.plan, args.overrides)
    except PlanError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.runs is not None:
        names = [n for n in args.runs.split(",") if n]
        unknown = [n for n in names if n not in {r.name for r in plan.runs}]
        if unknown or args.stage != "train":
            why = f"no run '{unknown[0]}' in the plan" if unknown else "--runs needs --stage train"
            print(f"error: {why}", file=sys.stderr)
            return EXIT_USAGE
        plan = dataclasses.replace(plan, runs=tuple(r for r in plan.runs if r.name in names))
    if args.dry_run:
        return dry_run(plan)
    study_json = plan.runs_dir / ANALYSIS_DIR / "study.json"
    try:
        if args.stage in ("all", "train"):
            Trainer(plan).train_all()
            if args.stage == "train":
                print(f"==> training done in {fmt_time(time.monotonic() - started)}")
                return 0
        if args.stage == "page":
            if not study_json.is_file():
                raise PlanError(f"no analysis to build a page from ({study_json} is missing)")
            data = json.loads(study_json.read_text())
        else:
            missing = [r.name for r in plan.runs if not is_complete(r)]
            if missing:
                raise PlanError(f"run {missing[0]} is not finished: run the train stage first")
            print(f"==> analysing {len(plan.runs)} runs")
            data = Analyst(plan).analyse(read_state(plan)).to_dict()
            study_json.parent.mkdir(parents=True, exist_ok=True)
            study_json.write_text(json.dumps(data, indent=1))
        path = write_results(plan, data, time.monotonic() - started)
    except PlanError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"==> results written to {path} in {fmt_time(time.monotonic() - started)}")
    errors = data.get("errors") or []
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_FAILED if errors else 0


if __name__ == "__main__":
    sys.exit(main())
