"""Simulated runs with known truth: the null model and planted lifecycles for calibration.

Arrays are `[batch, steps, layers]`, so one call draws thousands of runs for the calibration
harness (`analysis.calibration.rates`); `frame()` turns one of them into the store's tidy layout and
`write_run()` writes it as a run directory with the store's own writer.

Noise levels (`Noise`) default to what real runs show: the study's seven AdamW/Shakespeare runs
(`make study`, `docs/results.md`: L = 4–16 and three seeds at L = 8, d_model 128, 8 × 128 tokens
per step, probed every 5 steps), medians over runs of `analysis.stats.noise.run_noise`. Per
snapshot, α scatters by 0.019 (median over layers; runs 0.012–0.042) and the stable rank by
2.1% (1.8–2.2%). α's noise is AR(1) with φ = 0.84 in time (runs 0.62 to ≥ 0.95), the stable
rank's at the estimator's ceiling, φ ≥ 0.95 (`rank_ar`), and both grow with the probe spacing
(the noise drifts more like a random walk than it flickers). Adjacent layers' α noise is barely
correlated (0.04; runs −0.03 to 0.07), the stable rank's is (0.30; 0.21 to 0.40). The first
layer's α is 3–10× noisier than the rest, which are flat over depth: a linear trend
(`depth_sd`, fitted −0.66 to −1.0) would describe that as noise falling steadily with depth,
which it does not, so `depth_sd` stays 0. Seeds' final α profiles differ by a little more than
one run's noise predicts (ratio 1.2): fixed per-layer offsets of SD 0.015 (`offset`).
`ar` makes the noise AR(1) in time,
`layer_corr` AR(1) across depth (adjacent layers' noise correlated: noise smooth over depth,
which makes smooth depth trends of its own; `rank_ar` and `rank_layer_corr` the stable rank's
where they differ), `depth_sd` makes the SD grow with depth (× (1 + depth_sd·x)), and `offset` adds fixed
per-layer offsets (a layer that is a little different from its neighbours for the whole run).
The noise is separable: its correlation between layers is the same at every snapshot, and its
correlation in time the same in every layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.run_layout import CONFIG_FILE, SPECTRA, TRAINING_LOG
from spectral_jax.store import SpectraWriter
from spectral_jax.store_meta import store_meta

STEPS = np.arange(0, 4001, 50)
WIDTH = 16  # singular values per matrix in written stores


@dataclass(frozen=True, kw_only=True)
class Noise:
    """Noise of the simulated measurements (see the module docstring)."""

    rank: float = 0.021  # relative SD of the stable rank per snapshot
    alpha: float = 0.019  # SD of α per layer and snapshot
    ar: float = 0.84  # AR(1) coefficient over snapshots
    layer_corr: float = 0.04  # AR(1) coefficient over layers (correlation of adjacent layers)
    rank_ar: float | None = 0.95  # the stable rank's AR(1) in time, where it differs from α's
    rank_layer_corr: float | None = 0.3  # the stable rank's layer correlation, likewise
    depth_sd: float = 0.0  # SD × (1 + depth_sd·x) at relative depth x
    offset: float = 0.015  # SD of fixed per-layer offsets of α

    def draw(
        self, rng: np.random.Generator, shape: tuple[int, ...], *, rank: bool = False
    ) -> np.ndarray:
        """Unit noise `[..., T, L]` with this time and layer correlation and depth profile
        (`rank`: the stable rank's time and layer correlation)."""
        scale = 1 + self.depth_sd * rel_depth(shape[-1])
        time, layer = self.ar, self.layer_corr
        if rank and self.rank_ar is not None:
            time = self.rank_ar
        if rank and self.rank_layer_corr is not None:
            layer = self.rank_layer_corr
        return ar1(rng, shape, time, layer) * scale


# The calibration's baseline, set before real runs were measured: independent snapshots and
# layers, stable rank 1% and α 0.2 per snapshot. The grid's cells and the harness's named noises
# vary it one figure at a time (`dataclasses.replace(INDEPENDENT, ...)`), so their rates do not
# move when `Noise()`'s measured defaults do.
INDEPENDENT = Noise(
    rank=0.01, alpha=0.2, ar=0.0, layer_corr=0.0, rank_ar=None, rank_layer_corr=None, offset=0.0
)


@dataclass(frozen=True, kw_only=True)
class Wave:
    """Planted compression c_l(t) = (a0 + a1·x)(1 − exp(−(t − delay·x)/tau)) for t > delay·x."""

    delay: float = 2200.0  # steps from the first to the last layer (0: no wave)
    tau: float = 200.0
    a0: float = 0.3
    a1: float = 0.3  # > 0: late layers end more compressed (G reverses)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Planted α_l(t) = α*(x) + (init − α*(x))·exp(−t/tau) + drift·(t/T)·shape(x).

    α*(x) = top − k·(x − vertex)²: k > 0 an inverted U, k = 0 a flat profile. `drift` moves the
    profile along its own shape until the last step (0: it settles).
    """

    top: float = 3.0
    k: float = 2.0
    vertex: float = 0.35
    init: float = 5.0
    tau: float = 1200.0
    drift: float = 0.0


def rel_depth(n_layers: int) -> np.ndarray:
    """x_l = l / (L − 1)."""
    return np.arange(n_layers) / max(n_layers - 1, 1)


def ar1(
    rng: np.random.Generator, shape: tuple[int, ...], phi: float, layer: float = 0.0
) -> np.ndarray:
    """Unit-variance noise `[..., T, L]`, AR(1) with coefficient phi along the T axis and
    `layer` along the L axis (stationary in both)."""
    eps = rng.standard_normal(shape)
    if layer:
        scale = np.sqrt(1 - layer * layer)
        for j in range(1, shape[-1]):
            eps[..., j] = layer * eps[..., j - 1] + scale * eps[..., j]
    if phi == 0:
        return eps
    out = np.empty(shape)
    out[..., 0, :] = eps[..., 0, :]
    scale = np.sqrt(1 - phi * phi)
    for i in range(1, shape[-2]):
        out[..., i, :] = phi * out[..., i - 1, :] + scale * eps[..., i, :]
    return out


def wave_compression(steps: np.ndarray, n_layers: int, wave: Wave) -> np.ndarray:
    """Noise-free compression `[T, L]`."""
    x = rel_depth(n_layers)
    lag = np.clip(steps[:, None] - wave.delay * x[None, :], 0, None)
    return (wave.a0 + wave.a1 * x)[None, :] * (1 - np.exp(-lag / wave.tau))


def stable_rank(
    rng: np.random.Generator, batch: int, c: np.ndarray, noise: Noise = INDEPENDENT
) -> np.ndarray:
    """`[batch, T, L]` stable ranks R_s = R0·(1 − c)·(1 + noise), R0 ~ U(30, 50) per layer."""
    r0 = rng.uniform(30, 50, (batch, 1, c.shape[1]))
    return r0 * (1 - c) * (1 + noise.rank * noise.draw(rng, (batch, *c.shape), rank=True))


def compression_of(ranks: np.ndarray) -> np.ndarray:
    """(R_s(t₀) − R_s(t)) / R_s(t₀) along the T axis of `[..., T, L]`."""
    return (ranks[..., :1, :] - ranks) / ranks[..., :1, :]


def profile_alpha(steps: np.ndarray, n_layers: int, profile: Profile) -> np.ndarray:
    """Noise-free α `[T, L]`."""
    x, t = rel_depth(n_layers), steps.astype(float)
    target = profile.top - profile.k * (x - profile.vertex) ** 2
    decay = np.exp(-t / profile.tau)[:, None]
    shape = target - target.mean()
    ramp = (t / max(t[-1], 1.0))[:, None]
    return target * (1 - decay) + profile.init * decay + profile.drift * ramp * shape


def noisy_alpha(
    rng: np.random.Generator, batch: int, alpha: np.ndarray, noise: Noise = INDEPENDENT
) -> np.ndarray:
    """`[batch, T, L]` α with snapshot noise (AR(1) if set) and fixed per-layer offsets."""
    offsets = noise.offset * rng.standard_normal((batch, 1, alpha.shape[1]))
    return alpha + offsets + noise.alpha * noise.draw(rng, (batch, *alpha.shape))


def frame(
    steps: np.ndarray,
    stable: dict[str, np.ndarray],
    alpha: dict[str, np.ndarray],
    *,
    alpha_n: float = 50.0,
    alpha_ks: float = 0.05,
    seed: int = 0,
    embed: bool = False,
) -> pd.DataFrame:
    """The store's tidy frame from `[T, L]` stable rank and α per kind (other metrics filler)."""
    rng = np.random.default_rng(seed)
    parts = []
    for kind in stable:
        rs, al = stable[kind], alpha[kind]
        n_layers = rs.shape[1]
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
        part["alpha_n"] = alpha_n
        part["alpha_ks"] = alpha_ks
        part["entropy"] = rng.uniform(0.8, 0.9, len(part))
        parts.append(part)
    if embed:  # a global matrix at layer -1, which depth analyses must ignore
        parts.append(
            pd.DataFrame(
                {"step": steps, "layer": -1, "kind": "embed", **dict.fromkeys(METRIC_NAMES, 100.0)}
            )
        )
    return pd.concat(parts, ignore_index=True)


def write_store(
    tidy: pd.DataFrame, path: Path, *, save_sigma: bool = False, model: dict | None = None
) -> Path:
    """Write a tidy frame as a spectra store with the store's own writer; returns `path`."""
    kinds = sorted(tidy["kind"].unique())
    layers = {
        k: sorted(int(v) for v in tidy.loc[tidy["kind"] == k, "layer"].unique()) for k in kinds
    }
    n_layers = max(len(v) for v in layers.values())
    meta = store_meta(
        model=model or {"family": "simulated", "layers": n_layers},
        layers=layers,
        shapes={k: [WIDTH, WIDTH + 8] for k in kinds},
        save_sigma=save_sigma,
    )
    writer = SpectraWriter(path, meta)
    for step, rows in tidy.sort_values(["step", "kind", "layer"]).groupby("step", sort=True):
        entry: dict[str, dict] = {"metrics": {m: {} for m in METRIC_NAMES}}
        for kind, krows in rows.groupby("kind"):
            for m in METRIC_NAMES:
                entry["metrics"][m][kind] = krows[m].to_numpy(np.float32)
        if save_sigma:
            sigma = np.random.default_rng(int(step)).uniform(0.1, 2, (n_layers, WIDTH))
            entry["sigma"] = {
                k: np.sort(sigma[: len(layers[k])])[:, ::-1].astype(np.float32) for k in kinds
            }
        writer.write(int(step), entry)
    writer.close()
    return path


def write_run(
    tidy: pd.DataFrame,
    run_dir: Path,
    *,
    n_layers: int,
    save_sigma: bool = False,
    losses: bool = True,
    config: dict | None = None,
) -> Path:
    """A run directory: config.yaml, spectra store, metrics.jsonl (train and eval rows)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = config or {"model": {"n_layers": n_layers, "d_model": 16}, "run": {"seed": 0}}
    config.setdefault("run", {})["dir"] = str(run_dir)
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config))
    write_store(tidy, run_dir / SPECTRA, save_sigma=save_sigma)
    if losses:
        last = int(tidy["step"].max())
        with (run_dir / TRAINING_LOG).open("w") as f:
            for s in range(10, last + 1, 10):
                loss = 5.0 * np.exp(-s / 2000) + 1
                f.write(json.dumps({"step": s, "loss": loss, "lr": 1e-3}) + "\n")
                if s % 100 == 0:
                    f.write(json.dumps({"step": s, "val_loss": loss + 0.1}) + "\n")
    return run_dir
