"""`python -m analysis COMMAND ...`: every analysis command, registered from its package.

    report      figures, summary.json and index.html for one run or a seed group
    scaling     Δα = c·L^β across runs of different depths
    pretrained  spectra of pretrained GPT-2 / Pythia checkpoints
    series      a checkpoint series as one spectra store
    importance  per-layer importance and its rank correlation with α
    prune       remove blocks by each strategy and measure the perplexity
    health      layer-health rules on a run, store, checkpoint or series (exit 1: flagged)

`python -m analysis --help` lists them; `python -m analysis COMMAND --help` explains one.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from analysis.checkpoints import cli as checkpoints_cli
from analysis.health import cli as health_cli
from analysis.importance import cli as importance_cli
from analysis.report import cli as report_cli

COMMAND_MODULES: tuple[ModuleType, ...] = (report_cli, checkpoints_cli, importance_cli, health_cli)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m analysis` parser with every command's subparser."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Turn spectra stores and checkpoints into the spectral-lifecycle findings.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    module = next(m for m in COMMAND_MODULES if args.command in m.COMMANDS)
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
