"""Print what dividing the probe over devices does: a GPT-2-124M-shaped snapshot probed whole
(every device of a replicated probe computes all of it) and split over 1, 2 and 4 devices.

Usage: python bench/sharded_probe.py [--devices 1 2 4] [--method svd] [--layers 12]
       [--repeats 2]

Each device count runs in a child process (`--xla_force_host_platform_device_count=N`). The
snapshot is random float32 matrices of GPT-2-124M's shapes (per layer q, k, v, o 768x768,
mlp_in 768x3072, mlp_out 3072x768), FSDP-sharded over the mesh like the trainer's parameters.
"whole" probes them on one device: the work each device repeats when the probe runs
replicated. "split" is `probe(..., mesh=mesh)`: each shape group's stack divided over the
devices, results gathered once. Times are the median of --repeats after one compiling call.

On CPU the simulated devices share the same cores, so "split" cannot beat "whole" here: the
figures show the overhead of the split (collectives, one matrix at a time per CPU device) at
equal total work. On GPUs and TPUs each device is its own processor and the split probe's time
should fall roughly as 1/devices. Note `--method auto` on CPU takes the host route (gram),
which is never split on CPU devices (`spectral_jax.probe.splits_over`); use svd to see a split.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from spectral_jax.matrices import default_kinds, matrix_shapes
from spectral_jax.model_config import ModelConfig

# GPT-2-124M's block matrices (d_model 768, 12 heads, d_ff 3072), by the model's own naming.
GPT2_124M = ModelConfig(n_layers=12, d_model=768, n_heads=12, d_ff=3072, vocab_size=50257)
SHAPES = {k: s for k, s in matrix_shapes(GPT2_124M).items() if k in default_kinds(GPT2_124M)}


def child(method: str, layers: int, repeats: int) -> dict:
    """Time whole vs split on this process's devices; returns the figures."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ as a package
    from bench.timing import median_time
    from spectral_jax.probe import probe
    from train.sharding import fsdp_spec

    devices = jax.devices()
    mesh = Mesh(np.asarray(devices).reshape(1, len(devices)), ("data", "fsdp"))
    rng = np.random.default_rng(0)
    host = {
        (layer, kind): (rng.standard_normal(shape) * 0.02).astype(np.float32)
        for layer in range(layers)
        for kind, shape in SHAPES.items()
    }
    sharded = {
        key: jax.device_put(value, NamedSharding(mesh, fsdp_spec(value.shape, len(devices))))
        for key, value in host.items()
    }
    one = {key: jax.device_put(value, devices[0]) for key, value in host.items()}

    whole = median_time(lambda: probe(one, method), repeats)
    split = median_time(lambda: probe(sharded, method, mesh=mesh), repeats)
    return {
        "devices": len(devices),
        "device": devices[0].device_kind,
        "whole": whole,
        "split": split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--method", default="svd")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT" + json.dumps(child(args.method, args.layers, args.repeats)))
        return
    n_matrices = args.layers * len(SHAPES)
    print(
        f"GPT-2-124M-shaped snapshot: {n_matrices} matrices, method {args.method}, "
        f"{os.cpu_count()} CPU cores"
    )
    print(f"{'devices':>7}  {'whole (s)':>9}  {'split (s)':>9}  {'split/whole':>11}  device")
    for n in args.devices:
        env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
        command = [sys.executable, __file__, "--child", "--method", args.method]
        command += ["--layers", str(args.layers), "--repeats", str(args.repeats)]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), None)
        if line is None:
            raise SystemExit(f"{n} devices failed:\n{proc.stderr[-2000:]}")
        out = json.loads(line[len("RESULT") :])
        ratio = out["split"] / out["whole"]
        print(
            f"{out['devices']:>7}  {out['whole']:>9.2f}  {out['split']:>9.2f}  {ratio:>11.2f}  "
            f"{out['device']}"
        )


if __name__ == "__main__":
    main()
