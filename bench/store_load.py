"""Print how long reading a large spectra store takes: 1,000 snapshots of a 12-layer model.

Usage: python bench/store_load.py [--snapshots 1000] [--layers 12] [--d-model 768]
       [--orbax-sample 50]

Writes a store the way the trainer does (`SpectraWriter`, full σ saved: 12 layers x q, k, v, o,
mlp_in, mlp_out, k = d_model), then times, in this process: opening it, `steps()`,
`metrics_frame()` (the tidy frame a notebook starts from) and `sigma("q")`, reading through the
consolidated `index.bin`. It also times restoring `--orbax-sample` entries from Orbax alone (what
a reader would pay per step without the index) and extrapolates to the whole store.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.gpt2_shapes import add_size_options, block_shapes
from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.store import SpectraStore, SpectraWriter, _manager

KINDS = ("k", "mlp_in", "mlp_out", "o", "q", "v")


def write_store(path: Path, snapshots: int, layers: int, d_model: int) -> float:
    """A store of `snapshots` random entries; returns the seconds the writer took."""
    shapes = {kind: list(shape) for kind, shape in block_shapes(d_model).items()}
    meta = {
        "metrics_version": 1,
        "model": {"family": "bench", "layers": layers, "d_model": d_model},
        "kinds": list(KINDS),
        "layers": {k: list(range(layers)) for k in KINDS},
        "shapes": shapes,
        "metrics": list(METRIC_NAMES),
        "save_sigma": True,
    }
    rng = np.random.default_rng(0)
    writer = SpectraWriter(path, meta)
    t0 = time.perf_counter()
    for step in range(0, 25 * snapshots, 25):
        sigma = {k: np.sort(rng.random((layers, d_model), np.float32))[:, ::-1] for k in KINDS}
        metrics = {m: {k: rng.random(layers, np.float32) for k in KINDS} for m in METRIC_NAMES}
        writer.write(step, {"sigma": sigma, "metrics": metrics})
    writer.close()
    return time.perf_counter() - t0


def timed(label: str, fn):
    t0 = time.perf_counter()
    value = fn()
    print(f"  {label:38s} {time.perf_counter() - t0:8.3f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snapshots", type=int, default=1000)
    add_size_options(parser)
    parser.add_argument("--orbax-sample", type=int, default=50)
    args = parser.parse_args()
    print(f"device: host CPU ({os.cpu_count()} cores); numpy/Orbax reads, no accelerator")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spectra"
        wrote = write_store(path, args.snapshots, args.layers, args.d_model)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(
            f"wrote {args.snapshots} snapshots ({args.layers} layers x {len(KINDS)} kinds, "
            f"k={args.d_model}, {size / 2**20:.0f} MiB) in {wrote:.1f} s "
            f"({1e3 * wrote / args.snapshots:.0f} ms per snapshot, in the writer thread)"
        )
        print("reading through index.bin (fresh SpectraStore):")
        t0 = time.perf_counter()
        store = timed("SpectraStore(path)", lambda: SpectraStore(path))
        steps = timed("steps()", store.steps)
        frame = timed("metrics_frame()", store.metrics_frame)
        sigma = timed('sigma("q")', lambda: store.sigma("q"))
        total = time.perf_counter() - t0
        print(
            f"  total {total:.2f} s for {len(steps)} steps -> frame {frame.shape}, "
            f"sigma {sigma.shape}"
        )
        sample_steps = steps[: args.orbax_sample]
        manager = _manager(path / "steps", read_only=True)
        t0 = time.perf_counter()
        for s in sample_steps:
            manager.restore(s, args=ocp.args.PyTreeRestore())
        per = (time.perf_counter() - t0) / max(len(sample_steps), 1)
        manager.close()
        print(
            f"Orbax alone: {1e3 * per:.0f} ms per entry -> {per * len(steps):.0f} s for "
            f"{len(steps)} entries (why index.bin exists)"
        )


if __name__ == "__main__":
    main()
