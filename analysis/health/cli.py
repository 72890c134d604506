"""`python -m analysis health SOURCE`: the layer-health rules on a run, a spectra store, a
pretrained checkpoint or a checkpoint series; exit 0 when clean, 1 when flagged, 2 for bad input.

Registered by `analysis/__main__.py`; JAX and the loaders wait until the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.cli import EXIT_USAGE, add_kinds_option, add_method_option, split_list

COMMANDS = ("health",)
EXIT_FLAGGED = 1
# spectral_jax.health_config.HealthConfig's thresholds (stop_on aside), without importing it:
# `--help` must not wait for JAX. tests/analysis/health checks the two agree.
THRESHOLDS: dict[str, type] = {
    "alpha_floor": float,
    "alpha_ceiling": float,
    "rank_collapse": float,
    "sigma_growth": float,
    "sigma_window": int,
    "persistence": int,
    "warmup": int,
}
OFF = ("off", "none", "null")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the `health` subcommand to the analysis CLI."""
    health = sub.add_parser(
        "health",
        help="layer-health rules on a run, a store, a checkpoint or a series (exit 1: flagged)",
        description=(
            "Apply the trainer's layer-health rules (docs/monitoring.md) to SOURCE: a run "
            "directory or spectra store (every snapshot; exit 1 if any rule fired), or a "
            "pretrained checkpoint or checkpoint series (exit 1 if anything is flagged at the "
            "last checkpoint). Thresholds default to the run's spectral.health settings."
        ),
    )
    health.add_argument(
        "source",
        help="run directory, spectra store, checkpoint directory or hub name, or a directory "
        "of step<N>/ checkpoints",
    )
    health.add_argument("--revision", default=None, help="hub revision of one checkpoint")
    health.add_argument(
        "--revisions", default=None, help="a hub series: comma-separated revisions (step0,...)"
    )
    add_kinds_option(health, " (checkpoints)")
    add_method_option(health, " (checkpoints)")
    health.add_argument("--out", default=None, help="also write health.json and health.png here")
    for key, kind in THRESHOLDS.items():
        health.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            default=None,
            metavar="N" if kind is int else "X",
            help=f"spectral.health.{key}"
            + (" ('off' turns the rule off)" if kind is float else ""),
        )


def _overrides(args: argparse.Namespace) -> dict:
    """The thresholds given on the command line (`off`: None)."""
    out = {}
    for key, kind in THRESHOLDS.items():
        text = getattr(args, key)
        if text is None:
            continue
        if kind is float and text.lower() in OFF:
            out[key] = None
            continue
        try:
            out[key] = kind(text)
        except ValueError:
            raise ValueError(f"--{key.replace('_', '-')}: '{text}' is not a number") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Judge one source; print the events or the table; exit 0, 1 (flagged) or 2."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.checkpoints.pretrained_spectra import CheckpointSpectraError
    from analysis.health.figures import timeline_figure
    from analysis.health.sources import judge
    from analysis.health.text import report
    from analysis.run import RunError
    from spectral_jax.pretrained import PretrainedError
    from spectral_jax.store import StoreError

    try:
        judged = judge(
            args.source,
            revision=args.revision,
            revisions=split_list(args.revisions),
            kinds=split_list(args.kinds),
            method=args.method,
            overrides=_overrides(args),
        )
    except (ValueError, RunError, PretrainedError, CheckpointSpectraError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(report(judged))
    if args.out is not None:
        from spectral_jax.paths import user_path

        out = user_path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        summary = {"source": judged.source, "kind": judged.kind, "flagged": judged.flagged}
        summary.update(judged.timeline.to_dict())
        (out / "health.json").write_text(json.dumps(summary, indent=1))
        timeline_figure(judged.timeline, f"Layer health of {Path(judged.source).name}").savefig(
            out / "health.png", dpi=100
        )
        print(f"written to {out / 'health.json'} and {out / 'health.png'}")
    return EXIT_FLAGGED if judged.flagged else 0
