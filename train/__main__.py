"""`python -m train --config configs/demo.yaml [key=value ...]`: train (or resume) a run."""

from __future__ import annotations

import argparse
import logging
import sys

from train.config import ConfigError, load_config

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train a transformer and record the spectra of its weight matrices.",
    )
    parser.add_argument("--config", help="YAML config file (defaults are used when omitted)")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (multi-host GPU clusters and TPU pods)",
    )
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=1e-3")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("spectral_jax").setLevel(logging.INFO)
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return EXIT_CONFIG

    import jax  # after validation: a bad config never pays for backend start-up

    if args.distributed:
        jax.distributed.initialize()
    from train.checkpoint import CheckpointError
    from train.corpora import CorpusError
    from train.loop import NonFiniteLossError, train
    from train.run_dir import RunDirError

    try:
        result = train(config)
    except (RunDirError, CorpusError, CheckpointError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUNTIME
    if jax.process_index() == 0:
        status = "preempted (checkpoint saved)" if result.preempted else "done"
        loss = "n/a" if result.final_loss is None else f"{result.final_loss:.4f}"
        val = "" if result.final_val_loss is None else f", val_loss {result.final_val_loss:.4f}"
        print(f"{status}: step {result.final_step}, loss {loss}{val}; run in {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
