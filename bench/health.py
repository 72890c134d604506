"""Print what the layer-health rules cost the spectra sink per snapshot, beside what the sink
already spends writing the snapshot's store entry.

Usage: python bench/health.py [--snapshots 200] [--store RUN/spectra]

For two model shapes (the demo: 4 layers x 6 kinds, k = 128; custom_285m: 20 layers x 6 kinds,
k = 1024, σ saved) it times, per snapshot, `HealthEvaluator.update` (the rules alone),
`train.health_watch.HealthWatch.observe` (the rules plus the
TensorBoard scalars; no rule fires on these healthy entries, so no console or log lines), and
`SpectraWriter.write` of the same entry (the sink's existing work). With `--store` it also
replays a real run's store through the rules. Health runs in the sink thread, after the entry
is written: the training loop never waits for it. No pass/fail: figures only.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from spectral_jax.health import HealthConfig, HealthEvaluator
from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.store import SpectraStore, SpectraWriter
from train.health_watch import HealthWatch
from train.tensorboard import EventWriter

KINDS = ("k", "mlp_in", "mlp_out", "o", "q", "v")
SHAPES = {"demo": (4, 128), "custom_285m": (20, 1024)}


def entries(layers: int, k: int, count: int, seed: int = 0) -> list[dict]:
    """Healthy snapshots: trusted α near 3, stable rank near 30, σ_max drifting slowly."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        metrics = {name: {} for name in METRIC_NAMES}
        sigma = {}
        for kind in KINDS:
            base = {
                "stable_rank": 30.0,
                "alpha": 3.0,
                "alpha_n": 50.0,
                "alpha_ks": 0.05,
                "spectral_norm": 1.0 + 0.001 * i,
                "frobenius_norm": 6.0,
            }
            for name in METRIC_NAMES:
                value = base.get(name, 1.0) * (1 + 0.01 * rng.standard_normal(layers))
                metrics[name][kind] = value.astype(np.float32)
            sigma[kind] = np.sort(rng.uniform(0.01, 1, (layers, k)), axis=1)[:, ::-1]
        out.append(
            {"metrics": metrics, "sigma": {k: v.astype(np.float32) for k, v in sigma.items()}}
        )
    return out


def median_ms(fn, items: list) -> float:
    times = []
    for step, item in enumerate(items):
        start = time.perf_counter()
        fn(step * 25, item)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def bench_shape(name: str, layers: int, k: int, count: int) -> None:
    snaps = entries(layers, k, count)
    layer_ids = {kind: list(range(layers)) for kind in KINDS}
    rules = median_ms(HealthEvaluator(HealthConfig(), layer_ids).update, snaps)
    line = f"{name:12s} rules {rules:7.3f} ms"
    with tempfile.TemporaryDirectory() as tmp:
        writer = EventWriter(Path(tmp) / "tb")
        rows: list[dict] = []
        watch = HealthWatch(HealthConfig(), layer_ids, writer, rows.append)
        sink = median_ms(watch.observe, snaps)
        line += f" | rules + TensorBoard {sink:7.3f} ms"
        writer.close()
        meta = {
            "metrics_version": 1,
            "model": {"family": "bench", "layers": layers},
            "kinds": list(KINDS),
            "layers": layer_ids,
            "shapes": {kind: [k, k] for kind in KINDS},
            "metrics": list(METRIC_NAMES),
            "save_sigma": True,
        }
        store = SpectraWriter(Path(tmp) / "spectra", meta)
        write = median_ms(store.write, snaps[: min(count, 40)])
        store.close()
    print(f"{line} | store entry write {write:7.1f} ms  (median per snapshot)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--store", default=None, help="replay a run's spectra store as well")
    args = parser.parse_args()
    print(
        f"device: host CPU ({os.cpu_count()} cores, {platform.processor() or 'unknown'}); "
        "the rules are numpy in the sink thread, no accelerator work"
    )
    for name, (layers, k) in SHAPES.items():
        bench_shape(name, layers, k, args.snapshots)
    if args.store:
        store = SpectraStore(args.store)
        snaps = [store.load(s) for s in store.steps()]
        evaluator = HealthEvaluator(HealthConfig(), store.meta["layers"])
        steps = store.steps()
        times = []
        for step, snap in zip(steps, snaps, strict=True):
            start = time.perf_counter()
            evaluator.update(step, snap)
            times.append(time.perf_counter() - start)
        print(
            f"{args.store}: {len(steps)} snapshots, rules {1e3 * np.median(times):.3f} ms "
            f"median per snapshot, flagged now: {len(evaluator.flags())}"
        )


if __name__ == "__main__":
    main()
