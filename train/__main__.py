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
    cluster = parser.add_argument_group(
        "explicit cluster (instead of auto-detection; implies --distributed)"
    )
    cluster.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    cluster.add_argument("--num-processes", type=int, metavar="N")
    cluster.add_argument("--process-id", type=int, metavar="I", help="0 .. N-1")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=1e-3")
    args = parser.parse_args(argv)
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(value is not None for value in explicit):
        if any(value is None for value in explicit):
            parser.error("--coordinator, --num-processes and --process-id go together")
        if not 0 <= args.process_id < args.num_processes:
            parser.error(f"--process-id {args.process_id} is outside 0..{args.num_processes - 1}")
        args.distributed = True
    return args


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
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    from train.mesh import mesh_shape

    try:  # the mesh is checked once the devices are known, before anything is written
        mesh_shape(config.mesh, jax.device_count())
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    from spectral_jax.store import StoreError
    from train.checkpoint import CheckpointError
    from train.corpora import CorpusError
    from train.loop import NonFiniteLossError, train
    from train.run_dir import RunDirBusyError, RunDirError

    try:
        result = train(config)
    except RunDirBusyError as err:  # another trainer owns run.dir: a usage error, nothing done
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except (RunDirError, CorpusError, CheckpointError, NonFiniteLossError, StoreError) as err:
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
