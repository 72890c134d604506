"""`python -m analysis importance SOURCE --out DIR` and `python -m analysis prune SOURCE --out DIR`.

Registered by `analysis/__main__.py`; heavy imports (JAX, the model) wait until a command runs.
SOURCE is a run directory, a GPT-2 / GPT-NeoX (Pythia) checkpoint directory or a hub name.
"""

from __future__ import annotations

import argparse
import sys

from analysis.cli import EXIT_USAGE, add_method_option, split_list

COMMANDS = ("importance", "prune")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the `importance` and `prune` subcommands to the analysis CLI."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("source", help="run directory, checkpoint directory or hub name")
    common.add_argument("--out", required=True, help="output directory")
    common.add_argument(
        "--data",
        default="shakespeare",
        help="shakespeare (default), text:PATH, tokens:PATH.bin (uint16 ids) or synthetic",
    )
    common.add_argument(
        "--tokens", type=int, default=16_384, help="evaluation tokens (default 16384)"
    )
    common.add_argument(
        "--seq-len", type=int, default=None, help="sequence length (default min(256, max_seq_len))"
    )
    common.add_argument("--revision", default=None, help="hub revision, e.g. step1000")
    common.add_argument(
        "--step", type=int, default=None, help="a run's checkpoint step (default newest)"
    )
    add_method_option(common)
    common.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass")
    common.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    common.add_argument("--seed", type=int, default=0, help="seed of data, bootstrap, random draws")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    importance = sub.add_parser(
        "importance",
        parents=[common],
        help="per-layer importance (delta_loss, block influence, α) and Spearman ρ with α",
    )
    importance.add_argument(
        "--n-perm", type=int, default=100_000, help="random permutations when L > 8 (>= 100000)"
    )
    prune = sub.add_parser(
        "prune", parents=[common], help="remove 1..N blocks by each strategy; perplexity"
    )
    prune.add_argument(
        "--max-remove",
        type=int,
        default=None,
        help="largest number of blocks removed (default L/4)",
    )
    prune.add_argument(
        "--strategies",
        default=None,
        help="comma-separated: spectral,last_n,random,stable_rank,block_influence,angular,"
        "oracle_best,oracle_worst (default all)",
    )
    prune.add_argument("--random-draws", type=int, default=20, help="random orderings (>= 20)")


def run(args: argparse.Namespace) -> int:
    """Run `importance` or `prune`; a bad source, data or setting exits 2 with one line."""
    import matplotlib

    matplotlib.use("Agg")
    from analysis.importance.eval_data import DataError
    from analysis.importance.model_source import SourceError
    from analysis.importance.pruning import PruningError
    from analysis.importance.scores import prepare

    common = {
        "data": args.data,
        "tokens": args.tokens,
        "seq_len": args.seq_len,
        "revision": args.revision,
        "step": args.step,
        "method": args.method,
        "batch_size": args.batch_size,
        "n_boot": args.n_boot,
        "seed": args.seed,
        "progress": not args.quiet,
    }
    try:
        if args.batch_size < 1:
            raise DataError(f"--batch-size must be positive, got {args.batch_size}")
        if args.n_boot < 1:
            raise DataError(f"--n-boot must be positive, got {args.n_boot}")
        if args.command == "importance":
            if args.n_perm < 100_000:
                raise DataError(f"--n-perm must be at least 100000, got {args.n_perm}")
            return _importance(prepare(args.source, n_perm=args.n_perm, **common), args.out)
        return _prune(args, split_list(args.strategies), common)
    except (SourceError, DataError, PruningError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _importance(setup, out: str) -> int:
    from analysis.importance.scores import importance_from
    from analysis.report.importance_files import importance_headline, write_importance

    result = importance_from(setup)
    directory = write_importance(result, out)
    print(importance_headline(result))
    print(f"importance written to {directory / 'importance.csv'} (and .json, .png)")
    return 0


def _prune(args: argparse.Namespace, strategies: list[str] | None, common: dict) -> int:
    from analysis.importance.pruning import check_strategies, pruning_from
    from analysis.importance.scores import prepare
    from analysis.report.importance_files import write_pruning

    chosen = check_strategies(strategies, args.random_draws)  # before any model is loaded
    result = pruning_from(
        prepare(args.source, **common), args.max_remove, chosen, args.random_draws
    )
    directory = write_pruning(result, args.out)
    for row in result.headline.to_dict(orient="records"):
        ratio = row.get("last_n_over_spectral")
        if ratio is not None:
            shown = f"{ratio:.2f}x" if ratio == ratio else row["last_n_over_spectral_note"]
            print(f"n={row['n_removed']}: last_n/spectral perplexity increase {shown}")
    print(f"pruning written to {directory / 'pruning.csv'} (and .json, .png)")
    return 0
