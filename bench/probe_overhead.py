"""Print what spectral monitoring costs a training run: time per step with and without the probe.

Usage: python bench/probe_overhead.py [--config configs/demo.yaml] [--steps 300] [--repeats 2]
       [key=value ...]

Runs the real trainer (`train.loop.train`) on the config twice per repeat, in one process and
alternating: `spectral.every=0` and `spectral.every=25` (eval off, checkpoint only at the end,
a fresh run directory each time). Time per step is taken from the trainer's own per-interval
throughput in `metrics.jsonl`, skipping the first two log intervals (compilation); so it
includes every probe dispatch, the io_callback transfer and the writer thread's Orbax saves,
TensorBoard scalars, histograms and heatmap images competing for the same cores. No pass/fail.
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
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    device = jax.devices()[0]
    print(
        f"device: {device.platform} ({device.device_kind}) x{jax.device_count()}, "
        f"{args.config}, {args.steps} steps"
    )
    off, on = [], []
    for _ in range(args.repeats):
        off.append(seconds_per_step(args.config, args.overrides, 0, args.steps))
        on.append(seconds_per_step(args.config, args.overrides, args.every, args.steps))
    base, probed = statistics.median(off), statistics.median(on)
    print(
        f"without probe {1e3 * base:.1f} ms/step, with probe every {args.every} "
        f"{1e3 * probed:.1f} ms/step: overhead {100 * (probed / base - 1):+.1f}%"
    )


if __name__ == "__main__":
    main()
