"""Print what spectral monitoring costs a training run: time per step with and without the probe.

Usage: python bench/probe_overhead.py [--config configs/demo.yaml] [--steps 300] [--repeats 4]
       [key=value ...]

Runs the real trainer (`train.loop.train`) on the config twice per repeat, in one process and
alternating: `spectral.every=0` and `spectral.every=25` (eval off, checkpoint only at the end,
a fresh run directory each time). Time per step is taken from the trainer's own per-interval
throughput in `metrics.jsonl`, skipping the first two log intervals (compilation); so it
includes every probe dispatch, the io_callback transfer and the writer thread's Orbax saves,
TensorBoard scalars, histograms and heatmap images competing for the same cores. No pass/fail.

Run-to-run noise on a shared 2-core machine is about ±2% of a step, the size of the effect, so
the runs alternate in pairs (off/on, then on/off, ...) to cancel drift, and the result is the
median of the per-pair overheads, with their range. Use --repeats 5 or more for a firm figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import jax

from train.config import load_config
from train.loop import train

SKIP_INTERVALS = 2


def seconds_per_step(config_path: str, overrides: list[str], every: int, steps: int) -> float:
    """Steady-state wall seconds per step of one fresh run with `spectral.every=every`."""
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            config_path,
            [
                *overrides,
                f"run.dir={tmp}/run",
                f"train.steps={steps}",
                f"spectral.every={every}",
                "train.eval_every=0",
                "train.checkpoint_every=0",
                "train.progress=false",
            ],
        )
        t0 = time.perf_counter()
        train(config)
        wall = time.perf_counter() - t0
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").open()]
    tokens_per_step = config.train.batch_size * config.train.seq_len
    rates = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r and r["step"] < steps]
    per_step = [tokens_per_step / rate for rate in rates[SKIP_INTERVALS:]]
    if not per_step:
        raise SystemExit(f"--steps {steps} is too short for train.log_every; use more steps")
    print(
        f"  spectral.every={every:<3d} {1e3 * statistics.mean(per_step):8.1f} ms/step "
        f"(whole run incl. compile and final save: {wall:.1f} s)",
        flush=True,
    )
    return statistics.mean(per_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    device = jax.devices()[0]
    print(
        f"device: {device.platform} ({device.device_kind}) x{jax.device_count()}, "
        f"{args.config}, {args.steps} steps"
    )
    overheads, per_snapshot = [], []
    for repeat in range(args.repeats):
        order = (0, args.every) if repeat % 2 == 0 else (args.every, 0)
        times = {e: seconds_per_step(args.config, args.overrides, e, args.steps) for e in order}
        base, probed = times[0], times[args.every]
        overheads.append(probed / base - 1)
        per_snapshot.append((probed - base) * args.every)
        print(f"  pair {repeat + 1}: overhead {100 * overheads[-1]:+.1f}%", flush=True)
    print(
        f"overhead of spectral.every={args.every}: median {100 * statistics.median(overheads):+.1f}% "
        f"(pairs {100 * min(overheads):+.1f}% .. {100 * max(overheads):+.1f}%), "
        f"about {1e3 * statistics.median(per_snapshot):.0f} ms of training time per snapshot"
    )


if __name__ == "__main__":
    main()
