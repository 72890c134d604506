"""Print our CPU train step beside a nanoGPT-style PyTorch step of the same shapes.

Usage: python bench/vs_pytorch.py [--configs configs/demo.yaml configs/depth/L8.yaml]
       [--seq-len-for-depth 64] [--steps 20] [--rounds 3]

The PyTorch model has the same architecture (pre-LayerNorm GPT, learned positions, tied
embeddings, biases, tanh GELU, `scaled_dot_product_attention(is_causal=True)`), the same
AdamW (decay on matrices only), clipping and batch. Both run in this process on the same
threads, alternating in rounds so that machine noise hits both alike; each figure is the
median step time over every round. Needs torch (`pip install torch`, a test extra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.trainer_step import bench_config, trainer_step
from spectral_jax.model_config import ModelConfig
from train.config import Config
from train.mesh import global_batch


class TorchBlock(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, inner = cfg.d_model, cfg.n_heads * cfg.head_dim
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v = nn.Linear(d, inner), nn.Linear(d, inner), nn.Linear(d, inner)
        self.o = nn.Linear(inner, d)
        self.mlp_in, self.mlp_out = nn.Linear(d, cfg.d_ff), nn.Linear(cfg.d_ff, d)
        self.heads = cfg.n_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.ln1(x)
        q, k, v = (
            proj(h).view(b, t, self.heads, -1).transpose(1, 2) for proj in (self.q, self.k, self.v)
        )
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(att.transpose(1, 2).reshape(b, t, -1))
        return x + self.mlp_out(F.gelu(self.mlp_in(self.ln2(x)), approximate="tanh"))


class TorchGPT(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(TorchBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(cfg.d_model)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=cfg.init_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_out(x) @ self.embed.weight.T  # tied


def torch_step_fn(config: Config):
    model = TorchGPT(config.model)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.optim.weight_decay}, {"params": no_decay}],
        lr=config.optim.lr,
        betas=(config.optim.b1, config.optim.b2),
        eps=config.optim.eps,
        weight_decay=0.0,
    )

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> float:
        logits = model(inputs)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip or 1e9)
        opt.step()
        return loss.item()  # waits for the step, as block_until_ready does for ours

    return step


def jax_step_fn(config: Config):
    mesh, state, step, _ = trainer_step(config)
    holder = {"state": state}

    def run(batch: dict[str, np.ndarray]) -> float:
        holder["state"], metrics = step(holder["state"], global_batch(batch, mesh))
        return float(metrics["loss"])

    return run


def compare(path: str, overrides: list[str], steps: int, rounds: int) -> None:
    config = bench_config(path, overrides)
    b, t, vocab = config.train.batch_size, config.train.seq_len, config.model.vocab_size
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, vocab, size=(b, t + 1), dtype=np.int32) for _ in range(4)]
    ours, theirs = jax_step_fn(config), torch_step_fn(config)
    torch_batches = [
        (torch.from_numpy(x[:, :-1]).long(), torch.from_numpy(x[:, 1:]).long()) for x in batches
    ]
    jax_batches = [{"inputs": x[:, :-1], "targets": x[:, 1:]} for x in batches]
    for i in range(3):  # compile / warm up
        ours(jax_batches[i % 4])
        theirs(*torch_batches[i % 4])
    times: dict[str, list[float]] = {"jax": [], "torch": []}
    for _ in range(rounds):
        for name, fn, data in (("jax", ours, jax_batches), ("torch", theirs, torch_batches)):
            for i in range(steps):
                t0 = time.perf_counter()
                fn(*data[i % 4]) if name == "torch" else fn(data[i % 4])
                times[name].append(time.perf_counter() - t0)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    print(
        f"{path} {' '.join(overrides)} (batch {b}x{t}, {config.model.n_layers}x"
        f"{config.model.d_model}, vocab {vocab}): spectral-jax {ms['jax']:.1f} ms/step, "
        f"PyTorch {ms['torch']:.1f} ms/step, ratio {ms['jax'] / ms['torch']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--configs", nargs="+", default=["configs/demo.yaml", "configs/depth/L8.yaml"]
    )
    parser.add_argument("--seq-len-for-depth", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"device: {jax.devices()[0].platform}, jax {jax.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )
    for path in args.configs:
        overrides = [] if "depth" not in path else [f"train.seq_len={args.seq_len_for_depth}"]
        compare(path, overrides, args.steps, args.rounds)


if __name__ == "__main__":
    main()
