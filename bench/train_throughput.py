"""Print training throughput (tokens/s, and MFU where the chip's peak is known).

Usage: python bench/train_throughput.py [--configs configs/demo.yaml configs/custom_30m.yaml]
       [--steps 20] [--max-seconds 60] [key=value ...]
Runs each config for a few steps in a temp dir (no spectral probe, no eval) and reports the
steady-state figures, excluding compilation. On a CPU host a config whose float32 logits would
not fit in 1 GiB (custom_30m: 64 x 512 x 32768) runs the same global batch with gradient
accumulation (printed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.trainer_step import bench_config, trainer_step
from spectral_jax.model import flops_per_token
from train.data import TrainLoader
from train.mesh import global_batch
from train.throughput import mfu

LOGITS_BUDGET = 1 << 30  # bytes of float32 logits per micro-batch on CPU hosts


def cpu_grad_accum(batch: int, seq_len: int, vocab: int) -> int:
    """Smallest divisor of `batch` whose micro-batch keeps the float32 logits under budget."""
    for accum in range(1, batch + 1):
        if batch % accum == 0 and (batch // accum) * seq_len * vocab * 4 <= LOGITS_BUDGET:
            return accum
    return batch


def measure(config_path: str, steps: int, max_seconds: float, overrides: list[str]) -> None:
    cfg = bench_config(config_path, overrides)
    if jax.default_backend() == "cpu" and cfg.train.grad_accum == 1:
        # Same step (same global batch), micro-batched so host memory holds the logits.
        accum = cpu_grad_accum(cfg.train.batch_size, cfg.train.seq_len, cfg.model.vocab_size)
        if accum > 1:
            cfg = bench_config(config_path, [*overrides, f"train.grad_accum={accum}"])
    mesh, state, step_fn, n_params = trainer_step(cfg)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, cfg.model.vocab_size, size=200_000 + cfg.train.seq_len, dtype=np.int32)
    loader = TrainLoader(tokens, cfg.train.seq_len, cfg.train.batch_size, seed=0)
    batches = [global_batch(next(loader), mesh) for _ in range(4)]
    t0 = time.perf_counter()
    state, metrics = step_fn(state, batches[0])
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = 0
    while done < steps and (done == 0 or time.perf_counter() - t0 < max_seconds):
        state, metrics = step_fn(state, batches[done % len(batches)])
        jax.block_until_ready(metrics)
        done += 1
    elapsed = time.perf_counter() - t0
    steps = done
    tok_s = steps * cfg.train.batch_size * cfg.train.seq_len / elapsed
    util = mfu(tok_s, flops_per_token(cfg.model, cfg.train.seq_len))
    mfu_text = "n/a (no known peak)" if util is None else f"{100 * util:.1f}%"
    print(
        f"{config_path}: {n_params / 1e6:.2f}M params, batch {cfg.train.batch_size}x"
        f"{cfg.train.seq_len} (grad_accum {cfg.train.grad_accum}): {steps} steps, "
        f"{1e3 * elapsed / steps:.1f} ms/step, {tok_s:,.0f} tokens/s, "
        f"MFU {mfu_text}, first step (compile) {compile_s:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--configs", nargs="+", default=["configs/demo.yaml", "configs/custom_30m.yaml"]
    )
    parser.add_argument("--steps", type=int, default=20, help="at most this many timed steps")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="stop timing after this long (>= 1 step)"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind} x{jax.device_count()}")
    for path in args.configs:
        measure(path, args.steps, args.max_seconds, args.overrides)


if __name__ == "__main__":
    main()
