"""`python -m analysis report RUN [RUN ...] [--out DIR]` (one run or a seed group) and
`python -m analysis scaling RUN [RUN ...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import checkpoint_cli, importance_cli

EXIT_USAGE = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Turn spectra stores into the spectral-lifecycle findings.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--metric",
        default="alpha",
        choices=["alpha", "alpha_rank"],
        help="which α to analyse (default: alpha, the tail MLE)",
    )
    common.add_argument("--kinds", default=None, help=checkpoint_cli.KINDS_HELP)
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
    checkpoint_cli.add_parsers(sub)  # pretrained, series
    importance_cli.add_parsers(sub)  # importance, prune
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command in checkpoint_cli.COMMANDS:
        return checkpoint_cli.run(args)
    if args.command in importance_cli.COMMANDS:
        return importance_cli.run(args)
    import matplotlib

    matplotlib.use("Agg")
    from analysis.report import write_report, write_scaling_report
    from analysis.run import RunError, load_run

    kinds = None if args.kinds is None else [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        if args.command == "report":
            runs = [load_run(r) for r in args.runs]
            out = write_report(
                runs, args.out, metric=args.metric, kinds=kinds, n_boot=args.n_boot, seed=args.seed
            )
            print(f"report written to {out / 'index.html'}")
        else:
            runs = [load_run(r) for r in args.runs]
            out = Path(args.out) if args.out else Path(args.runs[0]).resolve().parent / "scaling"
            out = write_scaling_report(
                runs,
                out,
                metric=args.metric,
                kinds=kinds,
                step=args.step,
            )
            print(f"scaling report written to {out / 'index.html'}")
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
