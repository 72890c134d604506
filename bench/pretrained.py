"""Print how long loading a pretrained-sized checkpoint and probing all its block matrices take.

Usage: python bench/pretrained.py [--models gpt2-124m,pythia-1b] [--method auto] [--dir DIR]

Writes random checkpoints in the Hugging Face layout (`spectral_jax.synthetic_checkpoints`):
GPT-2-124M-shaped (12 x 768, vocab 50257, float32 safetensors, like the hub's `gpt2`) and
Pythia-1B-shaped (16 x 2048, 8 heads of 256, d_ff 8192, vocab 50304, float16 safetensors, like
Pythia's `main` revision). Then, each in a fresh process so its memory is its own, it times
`load_pretrained` (to float32), reports the peak resident memory the load added (as a multiple
of the checkpoint file), and times one probe of every block matrix (q, k, v, o, mlp_in,
mlp_out of every layer) — the first call (with compilation) and a second one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {
    # name: (config builder, layers, d_model, heads, vocab, positions, stored dtype)
    "gpt2-124m": ("gpt2", 12, 768, 12, 50257, 1024, "float32"),
    "pythia-1b": ("gpt_neox", 16, 2048, 8, 50304, 2048, "float16"),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def write(name: str, directory: Path) -> None:
    from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint

    family, layers, d, heads, vocab, positions, dtype = MODELS[name]
    build = gpt2_config if family == "gpt2" else neox_config
    write_checkpoint(directory, build(layers, d, heads, vocab, positions), dtype=dtype)


def status_bytes(key: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM the peak;
    not ru_maxrss, which Linux carries over exec from the forked parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def measure(directory: Path, method: str) -> dict:
    """Load and probe in this (fresh) process; the figures as a dict."""
    import jax
    from flax import nnx

    from spectral_jax.matrices import named_matrices
    from spectral_jax.pretrained import load_pretrained
    from spectral_jax.probe import probe

    jax.numpy.zeros(1).block_until_ready()  # the runtime's own memory is not the loader's
    before = status_bytes("VmRSS")
    started = time.perf_counter()
    model, _ = load_pretrained(directory)
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    jax.block_until_ready(params)
    load_s = time.perf_counter() - started
    peak = status_bytes("VmHWM") - before
    named = named_matrices(model)
    probes = []
    for _ in range(2):
        started = time.perf_counter()
        jax.device_get(probe(named, method))
        probes.append(time.perf_counter() - started)
    size = sum(f.stat().st_size for f in directory.glob("*.safetensors"))
    return {
        "matrices": len(named),
        "params": sum(x.size for x in params),
        "file_bytes": size,
        "load_s": load_s,
        "peak_added_bytes": peak,
        "probe_first_s": probes[0],
        "probe_s": probes[1],
        "device": f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--method", default="auto")
    parser.add_argument("--dir", default=None, help="where to write checkpoints (default: temp)")
    parser.add_argument("--write", nargs=2, metavar=("MODEL", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write(args.write[0], Path(args.write[1]))
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.method)))
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for name in args.models.split(","):
            directory = Path(tmp) / name
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--write", name, str(directory)], check=True)
            written = time.perf_counter() - started
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(directory), "--method", args.method],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            gb = r["file_bytes"] / 1e9
            print(
                f"{name}: {r['params'] / 1e6:.0f}M params, checkpoint {gb:.2f} GB "
                f"({MODELS[name][-1]}, written in {written:.0f} s); load to float32 "
                f"{r['load_s']:.1f} s, peak memory added {r['peak_added_bytes'] / 1e9:.2f} GB "
                f"({r['peak_added_bytes'] / r['file_bytes']:.2f}x the file); probe of "
                f"{r['matrices']} block matrices ({args.method}) {r['probe_s']:.1f} s "
                f"(first call, compiling: {r['probe_first_s']:.1f} s)"
            )
    print(f"device: {r['device']}, {cpu_name()}, {os.cpu_count()} CPUs visible")


if __name__ == "__main__":
    main()
