"""Print the bytes per device of a run's state, gathered parameters and activations, from shapes.

Usage: python bench/memory.py [--fsdp 1 8 64]

For `configs/custom_285m.yaml` and a Pythia-1.4B-shaped config (24 × 2048, 16 heads, d_ff 8192,
vocab 50304, AdamW) at each FSDP size, with the config's batch split over that many devices
(one sequence per device at least). Nothing is allocated: the state is `jax.eval_shape`d and the
estimate is `train.memory.estimate` (what the trainer logs at start-up; its docstring says what
each part counts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train import memory
from train.config import load_config
from train.optim import make_optimizer
from train.step import abstract_state

PYTHIA_1B4 = [
    "model.n_layers=24",
    "model.d_model=2048",
    "model.n_heads=16",
    "model.d_ff=8192",
    "model.vocab_size=50304",
    "model.max_seq_len=2048",
    "model.tied_embeddings=false",
    "train.seq_len=2048",
    "train.batch_size=256",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fsdp", nargs="+", type=int, default=[1, 8, 64])
    args = parser.parse_args()
    print(f"device: none needed (shapes only); jax {jax.__version__}")
    for name, overrides in (("custom_285m", []), ("pythia-1.4b-shaped", PYTHIA_1B4)):
        cfg = load_config(Path("configs/custom_285m.yaml"), [*overrides, "run.dir=/tmp/unused"])
        tx, _ = make_optimizer(cfg.optim, cfg.train.steps)
        state = abstract_state(cfg.model, tx)
        for fsdp in args.fsdp:
            sequences = max(1, cfg.train.batch_size // cfg.train.grad_accum // fsdp)
            need = memory.estimate(
                cfg.model,
                state,
                fsdp=fsdp,
                sequences_per_device=sequences,
                seq_len=cfg.train.seq_len,
            )
            print(f"{name:20s} fsdp={fsdp:3d} ({sequences} seq/device): {need.describe()}")


if __name__ == "__main__":
    main()
