"""`python -m analysis pretrained SOURCE [SOURCE ...] --out DIR` and
`python -m analysis series SOURCE --out DIR [--revisions step0,step1000,...]`.

Registered by `analysis/__main__.py`; heavy imports (JAX, the loader) wait until a command runs.
"""

from __future__ import annotations

import argparse
import sys

from analysis.cli import EXIT_USAGE, add_kinds_option, add_method_option, split_list

COMMANDS = ("pretrained", "series")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the `pretrained` and `series` subcommands to the analysis CLI."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", required=True, help="output directory")
    add_kinds_option(common)
    add_method_option(common)
    pretrained = sub.add_parser(
        "pretrained",
        parents=[common],
        help="spectra of pretrained GPT-2 / GPT-NeoX (Pythia) checkpoints, one run directory each",
    )
    pretrained.add_argument(
        "sources", nargs="+", help="local Hugging Face-layout directories or hub names (gpt2)"
    )
    pretrained.add_argument("--revision", default=None, help="hub revision, e.g. step1000")
    pretrained.add_argument("--no-report", action="store_true", help="skip report/ (figures)")
    series = sub.add_parser(
        "series",
        parents=[common],
        help="a checkpoint series (step<N>/ subdirectories or hub revisions) as one spectra store",
    )
    series.add_argument("source", help="directory of step<N>/ checkpoints, or a hub name")
    series.add_argument(
        "--revisions", default=None, help="comma-separated revisions, e.g. step0,step1000"
    )


def run(args: argparse.Namespace) -> int:
    """Run `pretrained` or `series`; a bad source or setting exits 2 with one line."""
    from analysis.checkpoints.pretrained_spectra import CheckpointSpectraError, analyse_pretrained
    from analysis.checkpoints.series import analyse_series
    from spectral_jax.pretrained import PretrainedError
    from spectral_jax.store import StoreError

    try:
        if args.command == "pretrained":
            written = analyse_pretrained(
                args.sources,
                args.out,
                revision=args.revision,
                kinds=split_list(args.kinds),
                method=args.method,
                report=not args.no_report,
            )
            for directory in written:
                print(f"spectra written to {directory}")
        else:
            out = analyse_series(
                args.source,
                args.out,
                revisions=split_list(args.revisions),
                kinds=split_list(args.kinds),
                method=args.method,
            )
            print(
                f"series spectra written to {out / 'spectra'}; next: python -m analysis report {out}"
            )
    except (PretrainedError, CheckpointSpectraError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0
