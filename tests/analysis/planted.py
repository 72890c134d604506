"""Generated spectral trajectories with known truth, and a helper that writes them as stores.

`lifecycle_frame` plants, for L layers and snapshots every 50 steps up to 4000:
- q, k: a compression wave c_l(t) = a_l·(1 − exp(−(t − δ·x_l)/τ_f)) for t > δ·x_l with
  a_l = A0 + A1·x_l (late layers end more compressed → G(t) reverses), δ = DELAY, τ_f = TAU_F;
- v, o: depth-independent compression c(t) = 0.4·(1 − exp(−t/τ_f));
- every kind: α_l(t) = α*(x_l) + (ALPHA_INIT − α*(x_l))·exp(−t/τ_s) with the inverted U
  α*(x) = ALPHA_TOP − K·(x − VERTEX)²;
with 1% multiplicative noise on the stable rank and N(0, ALPHA_NOISE) noise on α.
`null_frame` plants none of it: every kind compresses uniformly, α is linear in depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.store import SpectraWriter

STEPS = np.arange(0, 4001, 50)
KINDS = ("k", "o", "q", "v")
A0, A1 = 0.3, 0.3
DELAY, TAU_F = 2200.0, 200.0
TAU_S = 1200.0
ALPHA_INIT, ALPHA_TOP, K, VERTEX = 5.0, 3.0, 2.0, 0.35
RS_NOISE, ALPHA_NOISE = 0.01, 0.05
WIDTH = 16  # matrix width in the store's meta (sigma has 16 values)


def wave_compression(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Noise-free planted q/k compression `[T, L]`."""
    lag = np.clip(t[:, None] - DELAY * x[None, :], 0, None)
    return (A0 + A1 * x)[None, :] * (1 - np.exp(-lag / TAU_F))


def planted_alpha(
    t: np.ndarray, x: np.ndarray, top: float = ALPHA_TOP, k: float = K, vertex: float = VERTEX
) -> np.ndarray:
    target = top - k * (x - vertex) ** 2
    decay = np.exp(-t / TAU_S)[:, None]
    return target[None, :] * (1 - decay) + ALPHA_INIT * decay


def _frame(
    stable: dict[str, np.ndarray],
    alpha: dict[str, np.ndarray],
    steps: np.ndarray,
    rng: np.random.Generator,
    embed: bool,
) -> pd.DataFrame:
    parts = []
    n_layers = next(iter(stable.values())).shape[1]
    for kind in stable:
        rs, al = stable[kind], alpha[kind]
        part = pd.DataFrame(
            {
                "step": np.repeat(steps, n_layers),
                "layer": np.tile(np.arange(n_layers), len(steps)),
                "kind": kind,
            }
        )
        for name in METRIC_NAMES:
            part[name] = 1.0
        part["stable_rank"] = rs.ravel()
        part["alpha"] = al.ravel()
        part["alpha_rank"] = 0.3 * al.ravel()
        part["entropy"] = rng.uniform(0.8, 0.9, len(part))
        parts.append(part)
    if embed:  # a global matrix at layer -1, which depth analyses must ignore
        parts.append(
            pd.DataFrame(
                {
                    "step": steps,
                    "layer": -1,
                    "kind": "embed",
                    **{name: 100.0 for name in METRIC_NAMES},
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def lifecycle_frame(
    n_layers: int = 12, seed: int = 0, steps: np.ndarray = STEPS, embed: bool = False
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = steps.astype(float)
    x = np.arange(n_layers) / (n_layers - 1)
    stable, alpha = {}, {}
    for kind in KINDS:
        if kind in ("q", "k"):
            c = wave_compression(t, x)
        else:
            c = np.repeat((0.4 * (1 - np.exp(-t / TAU_F)))[:, None], n_layers, 1)
        r0 = rng.uniform(30, 50, n_layers)
        stable[kind] = r0 * (1 - c) * (1 + RS_NOISE * rng.standard_normal(c.shape))
        alpha[kind] = planted_alpha(t, x) + ALPHA_NOISE * rng.standard_normal(c.shape)
    return _frame(stable, alpha, steps, rng, embed)


def null_frame(n_layers: int = 12, seed: int = 1, steps: np.ndarray = STEPS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = steps.astype(float)
    x = np.arange(n_layers) / (n_layers - 1)
    stable, alpha = {}, {}
    for kind in KINDS:
        c = np.repeat((0.4 * (1 - np.exp(-t / TAU_F)))[:, None], n_layers, 1)
        r0 = rng.uniform(30, 50, n_layers)
        stable[kind] = r0 * (1 - c) * (1 + RS_NOISE * rng.standard_normal(c.shape))
        base = 3.0 + 0.3 * x[None, :] + 0 * t[:, None]
        alpha[kind] = base + ALPHA_NOISE * rng.standard_normal(c.shape)
    return _frame(stable, alpha, steps, rng, embed=False)


def scaling_frame(n_layers: int, delta_alpha: float, steps: np.ndarray) -> pd.DataFrame:
    """α at the last step has range exactly `delta_alpha` over depth (an inverted U)."""
    rng = np.random.default_rng(n_layers)
    x = np.arange(n_layers) / (n_layers - 1)
    shape = -((x - VERTEX) ** 2)
    shape = (shape - shape.min()) / np.ptp(shape)  # range exactly 1 over the layer grid
    stable, alpha = {}, {}
    for kind in ("q", "v"):
        stable[kind] = np.full((len(steps), n_layers), 40.0)
        alpha[kind] = np.repeat((3.0 + delta_alpha * shape)[None, :], len(steps), 0)
    return _frame(stable, alpha, steps, rng, embed=False)


def write_store(
    frame: pd.DataFrame, path: Path, *, save_sigma: bool = False, model: dict | None = None
) -> Path:
    """Write a tidy frame as a spectra store with the store's own writer; returns `path`."""
    kinds = sorted(frame["kind"].unique())
    layers = {
        k: sorted(int(v) for v in frame.loc[frame["kind"] == k, "layer"].unique()) for k in kinds
    }
    n_layers = max(len(v) for v in layers.values())
    meta = {
        "metrics_version": 1,
        "model": model or {"family": "planted", "layers": n_layers},
        "kinds": kinds,
        "layers": layers,
        "shapes": {k: [WIDTH, WIDTH + 8] for k in kinds},
        "metrics": list(METRIC_NAMES),
        "save_sigma": save_sigma,
    }
    writer = SpectraWriter(path, meta)
    frame = frame.sort_values(["step", "kind", "layer"])
    for step, rows in frame.groupby("step", sort=True):
        entry: dict[str, dict] = {"metrics": {m: {} for m in METRIC_NAMES}}
        for kind, krows in rows.groupby("kind"):
            for m in METRIC_NAMES:
                entry["metrics"][m][kind] = krows[m].to_numpy(np.float32)
        if save_sigma:
            entry["sigma"] = {
                k: np.sort(
                    np.random.default_rng(int(step)).uniform(0.1, 2, (len(layers[k]), WIDTH))
                )[:, ::-1].astype(np.float32)
                for k in kinds
            }
        writer.write(int(step), entry)
    writer.close()
    return path


def write_run(
    frame: pd.DataFrame,
    run_dir: Path,
    *,
    n_layers: int,
    save_sigma: bool = False,
    losses: bool = True,
) -> Path:
    """A run directory: config.yaml, spectra store, metrics.jsonl (train and eval rows)."""
    import json

    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(
            {"model": {"n_layers": n_layers, "d_model": 16}, "run": {"dir": str(run_dir)}}
        )
    )
    write_store(frame, run_dir / "spectra", save_sigma=save_sigma)
    if losses:
        steps = np.sort(frame["step"].unique())
        with (run_dir / "metrics.jsonl").open("w") as f:
            for s in range(10, int(steps[-1]) + 1, 10):
                f.write(
                    json.dumps({"step": s, "loss": 5.0 * np.exp(-s / 2000) + 1, "lr": 1e-3}) + "\n"
                )
                if s % 100 == 0:
                    f.write(
                        json.dumps({"step": s, "val_loss": 5.0 * np.exp(-s / 2000) + 1.1}) + "\n"
                    )
    return run_dir


class Sweep(NamedTuple):
    """Runs of several depths with a planted scaling law Δα = c·L^β·exp(noise)."""

    paths: list[Path]
    depths: tuple[int, ...]
    delta_alpha: np.ndarray
    beta: float
    c: float


def write_sweep(
    root: Path,
    depths: tuple[int, ...] = (4, 8, 12, 16, 24, 36),
    beta: float = 0.26,
    c: float = 0.3,
    noise: float = 0.02,
) -> Sweep:
    """One run per depth under `root`, written with `scaling_frame`."""
    eps = np.random.default_rng(7).normal(0, noise, len(depths))
    deltas = c * np.array(depths, float) ** beta * np.exp(eps)
    paths = []
    for depth, delta in zip(depths, deltas, strict=True):
        frame = scaling_frame(depth, float(delta), np.array([0, 500, 1000]))
        paths.append(write_run(frame, root / f"L{depth}", n_layers=depth, losses=False))
    return Sweep(paths, depths, deltas, beta, c)
