"""Print how long `python -m analysis report` takes on a large store.

Usage: python bench/analysis_report.py [--snapshots 400] [--layers 24] [--width 128]
       [--keep DIR]
Writes a run directory (config.yaml, metrics.jsonl and a spectra store of `snapshots` ×
`layers` × 6 kinds plus the embedding, singular values saved, written with the store's own
writer) holding a planted compression wave and α profile, then times the report CLI in a fresh
process (imports included), as a user would run it. Target: under 60 s on a 2-core CPU.
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

import numpy as np
import yaml

from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.store import SpectraWriter

KINDS = ("k", "mlp_in", "mlp_out", "o", "q", "v")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_run(run_dir: Path, snapshots: int, layers: int, width: int) -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(snapshots) * 25
    t, x = steps.astype(float), np.arange(layers) / (layers - 1)
    span = float(steps[-1])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"n_layers": layers}}))
    with (run_dir / "metrics.jsonl").open("w") as f:
        for s in range(10, int(span) + 1, 10):
            f.write(json.dumps({"step": s, "loss": 4 * np.exp(-s / span) + 2}) + "\n")
    meta = {
        "metrics_version": 1,
        "model": {"family": "bench", "layers": layers},
        "kinds": ["embed", *KINDS],
        "layers": {"embed": [-1], **{k: list(range(layers)) for k in KINDS}},
        "shapes": {"embed": [512, width], **{k: [width, width] for k in KINDS}},
        "metrics": list(METRIC_NAMES),
        "save_sigma": True,
    }
    lag = np.clip(t[:, None] - 0.5 * span * x[None, :], 0, None)
    wave = (0.3 + 0.3 * x)[None, :] * (1 - np.exp(-lag / (0.03 * span)))
    decay = np.exp(-t / (0.25 * span))[:, None]
    alpha = (3 - 2 * (x - 0.35) ** 2)[None, :] * (1 - decay) + 5 * decay
    writer = SpectraWriter(run_dir / "spectra", meta)
    for i, step in enumerate(steps):
        entry: dict = {"metrics": {m: {} for m in METRIC_NAMES}, "sigma": {}}
        for kind in meta["kinds"]:
            n = len(meta["layers"][kind])
            c = wave[i] if kind in ("q", "k") else np.full(layers, 0.4 * (1 - decay[i, 0]))
            c = c[:n]
            for m in METRIC_NAMES:
                entry["metrics"][m][kind] = rng.uniform(0.5, 1.5, n).astype(np.float32)
            entry["metrics"]["stable_rank"][kind] = (
                40 * (1 - c) * (1 + 0.01 * rng.standard_normal(n))
            ).astype(np.float32)
            entry["metrics"]["alpha"][kind] = (alpha[i, :n] + 0.05 * rng.standard_normal(n)).astype(
                np.float32
            )
            entry["sigma"][kind] = np.sort(rng.uniform(0, 2, (n, width)))[:, ::-1].astype(
                np.float32
            )
        writer.write(int(step), entry)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=400)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=128, help="singular values per matrix")
    parser.add_argument("--keep", default=None, help="write the run here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.keep or tmp) / "bench_run"
        started = time.perf_counter()
        write_run(run_dir, args.snapshots, args.layers, args.width)
        written = time.perf_counter() - started
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(run_dir)],
            capture_output=True,
            text=True,
            env=dict(os.environ, MPLBACKEND="Agg"),
        )
        elapsed = time.perf_counter() - started
        if proc.returncode:
            sys.exit(f"report failed ({proc.returncode}): {proc.stderr.strip()}")
        inner = json.loads((run_dir / "report" / "summary.json").read_text())["run"]
    print(
        f"device: {cpu_name()} ({os.cpu_count()} CPUs visible), Python {platform.python_version()}"
    )
    print(
        f"store: {args.snapshots} snapshots x {args.layers} layers x {len(KINDS)} kinds "
        f"(+embed), sigma width {args.width}; written in {written:.1f} s"
    )
    print(
        f"python -m analysis report: {elapsed:.1f} s wall (process incl. imports), "
        f"{inner['report_seconds']:.1f} s inside write_report (target < 60 s on 2 cores)"
    )


if __name__ == "__main__":
    main()
