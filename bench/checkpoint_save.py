"""Print how long a train-state checkpoint blocks the training loop: async vs synchronous saves.

Usage: python bench/checkpoint_save.py [--configs configs/demo.yaml configs/custom_30m.yaml]
       [--saves 3]

For each config: builds the real train state (parameters + optimizer state, on the default
device), then saves it `--saves` times with the trainer's `Checkpointer`, once synchronous and
once async. Prints the time `save()` holds the caller (what the loop waits for) and, for async,
how long the background commit took until `wait()` returned. No pass/fail.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax
from flax import nnx

from spectral_jax.model import Transformer
from train.checkpoint import Checkpointer
from train.config import load_config
from train.optim import make_optimizer
from train.step import init_state


def blocking_seconds(state: dict, async_save: bool, saves: int) -> tuple[float, float]:
    """Median seconds `save()` blocks, and median seconds until the save is on disk."""
    held, total = [], []
    with tempfile.TemporaryDirectory() as tmp:
        checkpointer = Checkpointer(Path(tmp), keep=2, async_save=async_save)
        for step in range(1, saves + 2):  # the first save also sets Orbax up: not counted
            t0 = time.perf_counter()
            checkpointer.save(step, state, {"position": step})
            t1 = time.perf_counter()
            checkpointer.wait()
            if step > 1:
                held.append(t1 - t0)
                total.append(time.perf_counter() - t0)
        checkpointer.close()
    return statistics.median(held), statistics.median(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--configs", nargs="+", default=["configs/demo.yaml", "configs/custom_30m.yaml"]
    )
    parser.add_argument("--saves", type=int, default=3)
    args = parser.parse_args()
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}) x{jax.device_count()}")
    for path in args.configs:
        config = load_config(path, [])
        model = Transformer(config.model, rngs=nnx.Rngs(0))
        _, params, _ = nnx.split(model, nnx.Param, ...)
        tx, _ = make_optimizer(config.optim, config.train.steps)
        state = jax.block_until_ready(init_state(params, tx))
        size = sum(x.nbytes for x in jax.tree.leaves(state))
        sync_held, _ = blocking_seconds(state, async_save=False, saves=args.saves)
        async_held, async_total = blocking_seconds(state, async_save=True, saves=args.saves)
        print(
            f"{path}: state {size / 2**20:.0f} MiB; synchronous save blocks "
            f"{1e3 * sync_held:.0f} ms; async save blocks {1e3 * async_held:.0f} ms "
            f"(on disk after {1e3 * async_total:.0f} ms)",
            flush=True,
        )


if __name__ == "__main__":
    main()
