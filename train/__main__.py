"""`python -m train --config configs/demo.yaml [key=value ...]`: train (or resume) a run.

Exit codes (docs/training.md): 0 done, preempted with a checkpoint, or already complete;
1 the run failed after it started (a non-finite loss) or an unexpected error (with its
traceback); 2 bad input, found before any training: the config, the data it names, the run
directory or what it holds (a busy or unwritable directory, a different config, checkpoints none
of which restore, a spectra store of another run); 3 a layer-health rule listed in
`spectral.health.stop_on` fired: the run stopped with a checkpoint, and the same command resumes
it. Each handled error is one line on stderr; `--debug` (or SPECTRAL_JAX_DEBUG=1) adds its
traceback and the libraries' own logs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import TYPE_CHECKING

from train.config import ConfigError, load_config
from train.debug import debug_enabled, enable_debug

if TYPE_CHECKING:
    from train.loop import TrainResult

EXIT_OK = 0
EXIT_FAILED = 1  # the run started and failed
EXIT_BAD_INPUT = 2  # nothing was trained: fix the thing the message names and run again
EXIT_HEALTH_STOP = 3  # a spectral.health.stop_on rule fired: checkpoint saved, resumable


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train a transformer and record the spectra of its weight matrices.",
    )
    parser.add_argument("--config", help="YAML config file (defaults are used when omitted)")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, print its traceback and the libraries' logs too (or set "
        "SPECTRAL_JAX_DEBUG=1)",
    )
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


def _report(err: BaseException, prefix: str = "error") -> None:
    """One line naming what is wrong; the traceback too when debug output is on."""
    if debug_enabled():
        traceback.print_exception(err)
    print(f"{prefix}: {err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.debug:
        enable_debug()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("spectral_jax").setLevel(logging.DEBUG if debug_enabled() else logging.INFO)
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as err:
        _report(err, "config error")
        return EXIT_BAD_INPUT
    from train.corpora import CorpusError, find_corpus_files

    try:  # the data the config names exists, before the run directory is touched
        find_corpus_files(config.data)
    except CorpusError as err:
        _report(err)
        return EXIT_BAD_INPUT

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
        _report(err, "config error")
        return EXIT_BAD_INPUT
    from spectral_jax.store import StoreError
    from train.checkpoint import CheckpointError
    from train.loop import NonFiniteLossError, train
    from train.run_dir import RunDirError

    try:
        result = train(config)
    except (RunDirError, CorpusError, CheckpointError, StoreError) as err:
        _report(err)  # found before step 1: nothing trained, nothing deleted
        return EXIT_BAD_INPUT
    except NonFiniteLossError as err:
        _report(err)
        return EXIT_FAILED
    if jax.process_index() == 0:
        print(_summary(result, config.train.steps))
    return EXIT_HEALTH_STOP if result.health_stop is not None else EXIT_OK


def _summary(result: TrainResult, steps: int) -> str:
    """The last line of a run: how it ended, where, and how to go on when it was already done."""
    if result.already_complete:
        return (
            f"already complete: {result.run_dir} has a checkpoint at step {result.final_step} "
            f"(train.steps={steps}), nothing to train. To train further, run again with "
            f"train.steps={2 * result.final_step} run.allow_config_change=true (a longer run "
            "also stretches the learning-rate schedule)"
        )
    if result.health_stop is not None:
        return (
            f"stopped by spectral.health.stop_on at step {result.final_step} (checkpoint saved): "
            f"{result.health_stop}; run in {result.run_dir} (the same command resumes it)"
        )
    status = "preempted (checkpoint saved)" if result.preempted else "done"
    loss = "n/a" if result.final_loss is None else f"{result.final_loss:.4f}"
    val = "" if result.final_val_loss is None else f", val_loss {result.final_val_loss:.4f}"
    return f"{status}: step {result.final_step}, loss {loss}{val}; run in {result.run_dir}"


if __name__ == "__main__":
    sys.exit(main())
