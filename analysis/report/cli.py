"""`python -m analysis report RUN [RUN ...] [--out DIR]` (one run or a seed group) and
`python -m analysis scaling RUN [RUN ...]` (Δα = c·L^β across depths).

Registered by `analysis/__main__.py`; matplotlib and the analyses load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.cli import EXIT_USAGE, add_kinds_option, split_list

COMMANDS = ("report", "scaling")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the `report` and `scaling` subcommands to the analysis CLI."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--metric",
        default="alpha",
        choices=["alpha", "alpha_rank"],
        help="which α to analyse (default: alpha, the tail MLE)",
    )
    add_kinds_option(common)
    report = sub.add_parser(
        "report",
        parents=[common],
        help="figures, summary.json and index.html for one run or a seed group",
    )
    report.add_argument(
        "runs", nargs="+", help="run directory (holding spectra/), or runs differing in run.seed"
    )
    report.add_argument(
        "--n-boot", type=int, default=1000, help="seed-group bootstrap resamples (≥ 10 seeds)"
    )
    report.add_argument("--seed", type=int, default=0, help="seed-group bootstrap seed")
    report.add_argument("--out", default=None, help="output directory (default RUN/report)")
    scaling = sub.add_parser(
        "scaling", parents=[common], help="Δα = c·L^β across runs of different depths"
    )
    scaling.add_argument("runs", nargs="+", help="run directories")
    scaling.add_argument(
        "--out", default=None, help="output directory (default: scaling/ next to the first run)"
    )
    scaling.add_argument(
        "--step", type=int, default=None, help="step at which to take Δα (default: each run's last)"
    )


def run(args: argparse.Namespace) -> int:
    """Run `report` or `scaling`; a run that cannot be read exits 2 with one line."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report.run_report import write_report, write_scaling_report
    from analysis.run import RunError, load_run

    kinds = split_list(args.kinds)
    try:
        runs = [load_run(r) for r in args.runs]
        if args.command == "report":
            out = write_report(
                runs, args.out, metric=args.metric, kinds=kinds, n_boot=args.n_boot, seed=args.seed
            )
            print(f"report written to {out / 'index.html'}")
        else:
            out = Path(args.out) if args.out else Path(args.runs[0]).resolve().parent / "scaling"
            out = write_scaling_report(runs, out, metric=args.metric, kinds=kinds, step=args.step)
            print(f"scaling report written to {out / 'index.html'}")
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0
