"""Print how long the layer ablations and the pruning sweep take on a GPT-2-124M-shaped model.

Usage: python bench/importance.py [--layers 12 --d-model 768 --heads 12 --vocab 50257]
                                  [--sequences 16 --seq-len 256] [--batch-size 8] [--skip-sweep]

Random weights (`Transformer` initialised in memory, GPT-2 shape by default: 12 x 768, 12 heads,
d_ff 3072, vocab 50257, learned positions, tied) and uniform random token windows. Times:

1. all L single-block ablations in one call of the compiled skip-mask function
   (`BlockEvaluator.losses`): the first call (compilation included) and a second one;
2. the same L ablations as a loop of L separately built models with the block deleted
   (`without_blocks`), each compiled for itself: the loop's total (compilations included) and
   the largest difference between the two results;
3. the pruning sweep (`pruning_from`, every strategy, max_remove = L // 4, 20 random draws) on
   the same windows, half for calibration and half for evaluation, including the probe.

Figures depend on the machine: it prints the device, and the run's settings.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-sweep", action="store_true", help="time the ablations only")
    args = parser.parse_args()

    import jax
    import numpy as np
    from flax import nnx

    from analysis.importance.ablation import (
        BlockEvaluator,
        sequence_losses,
        single_skip_masks,
        without_blocks,
    )
    from analysis.importance.eval_data import EvalData
    from analysis.importance.pruning import STRATEGIES, pruning_from
    from analysis.importance.scores import prepare
    from spectral_jax.model import Transformer, count_params
    from spectral_jax.model_config import ModelConfig

    device = jax.devices()[0]
    where = cpu_name() if device.platform == "cpu" else device.device_kind
    print(
        f"device: {device.platform} ({where}), {jax.device_count()} device(s), jax {jax.__version__}"
    )
    cfg = ModelConfig(
        n_layers=args.layers,
        d_model=args.d_model,
        n_heads=args.heads,
        d_ff=4 * args.d_model,
        vocab_size=args.vocab,
        max_seq_len=max(1024, args.seq_len),
    )
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    n_layers = cfg.n_layers
    print(
        f"model: {n_layers} x {cfg.d_model}, {cfg.n_heads} heads, vocab {cfg.vocab_size}, "
        f"{count_params(model) / 1e6:.1f}M parameters (random weights)"
    )
    rng = np.random.default_rng(0)
    windows = rng.integers(0, cfg.vocab_size, (args.sequences, args.seq_len + 1)).astype(np.int32)
    print(f"data: {args.sequences} x {args.seq_len} tokens, batch {args.batch_size}")

    evaluator = BlockEvaluator(model, batch_size=args.batch_size, progress=False)
    masks = single_skip_masks(n_layers)
    scanned, first = timed(lambda: evaluator.losses(windows, masks))
    _, second = timed(lambda: evaluator.losses(windows, masks))
    print(f"{n_layers} ablations, one compiled skip-mask function: first call {first:.1f} s "
          f"(compilation included), second {second:.1f} s")  # fmt: skip

    def loop() -> np.ndarray:
        return np.stack(
            [
                sequence_losses(without_blocks(model, [layer]), windows, args.batch_size)
                for layer in range(n_layers)
            ]
        )

    looped, loop_time = timed(loop)
    print(f"{n_layers} separately built models, loop: {loop_time:.1f} s (each compiled)")
    print(f"largest |difference| between the two: {np.abs(scanned - looped).max():.2e}")

    if args.skip_sweep:
        return
    data = EvalData(windows[0::2], windows[1::2], {"data": "random ids"})
    setup = prepare(model, data=data, batch_size=args.batch_size, progress=False)
    result, sweep = timed(lambda: pruning_from(setup, None, STRATEGIES))
    n_max = result.settings["max_remove"]
    print(
        f"pruning sweep (8 strategies, n = 1..{n_max}, 20 random draws, probe included, "
        f"{len(data.calibration)} + {len(data.evaluation)} sequences): {sweep:.1f} s"
    )


if __name__ == "__main__":
    main()
