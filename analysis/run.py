"""Load a run directory (config, spectra store, training log) without the trainer.

`load_run(RUN)` reads `RUN/config.yaml` (plain YAML), the spectra store `RUN/spectra/` and
`RUN/metrics.jsonl`, and returns a `Run` whose `.metrics` is the store's tidy frame (one row
per step, layer and kind) joined with the training log: `loss` is the train loss logged at that
step or, when the step was not logged (probe and log intervals differ), at the nearest logged
step (`loss_step` says which); `val_loss` is the eval loss logged at exactly that step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from spectral_jax.paths import user_path
from spectral_jax.run_layout import CONFIG_FILE, SPECTRA, TRAINING_LOG
from spectral_jax.store import SpectraStore, StoreError, is_store

# Kinds compared by the Q/K–V asymmetry analysis.
QK_KINDS = ("q", "k")
VO_KINDS = ("v", "o")


class RunError(ValueError):
    """A run directory that cannot be analysed; the message names the path."""


@dataclass(frozen=True, eq=False, kw_only=True)
class Run:
    """An analysed run: config, store meta, tidy metrics joined with the loss, and the log."""

    path: Path | None
    config: dict[str, Any]
    meta: dict[str, Any]
    metrics: pd.DataFrame
    log: pd.DataFrame
    n_layers: int
    store: SpectraStore | None = field(default=None, repr=False)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        n_layers: int | None = None,
        config: dict | None = None,
        meta: dict | None = None,
        log: pd.DataFrame | None = None,
        path: Path | None = None,
    ) -> Run:
        """A run from an in-memory tidy frame (`step, layer, kind, <metrics>`)."""
        missing = {"step", "layer", "kind"} - set(frame.columns)
        if missing:
            raise RunError(f"metrics frame lacks columns {sorted(missing)}")
        config, meta = dict(config or {}), dict(meta or {})
        log = _tidy_log(log if log is not None else pd.DataFrame({"step": []}))
        if n_layers is None:
            n_layers = _n_layers(config, meta, frame)
        return cls(
            path=path,
            config=config,
            meta=meta,
            metrics=_join_loss(frame, log),
            log=log,
            n_layers=int(n_layers),
        )

    # -- shape of the data ---------------------------------------------------------------------

    @property
    def steps(self) -> np.ndarray:
        """Probed steps, ascending."""
        return np.sort(self.metrics["step"].unique()).astype(np.int64)

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.meta.get("kinds"):
            return tuple(self.meta["kinds"])
        return tuple(sorted(self.metrics["kind"].unique()))

    @property
    def depth_kinds(self) -> tuple[str, ...]:
        """Kinds with per-layer matrices (layer ≥ 0): the ones depth analyses use."""
        per_layer = set(self.metrics.loc[self.metrics["layer"] >= 0, "kind"].unique())
        return tuple(k for k in self.kinds if k in per_layer)

    @property
    def layers(self) -> np.ndarray:
        return np.arange(self.n_layers)

    @property
    def rel_depth(self) -> np.ndarray:
        """layer / (n_layers − 1) (0 for a one-layer model)."""
        return self.layers / max(self.n_layers - 1, 1)

    def resolve_kinds(self, kinds: Iterable[str] | str | None) -> tuple[str, ...]:
        """`kinds`, checked against the run (None = every per-layer kind)."""
        if kinds is None:
            return self.depth_kinds
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        unknown = [k for k in kinds if k not in self.depth_kinds]
        if unknown:
            raise RunError(
                f"run has no per-layer kind '{unknown[0]}' (has {', '.join(self.depth_kinds)})"
            )
        return kinds

    def grid(
        self,
        metric: str,
        kinds: Iterable[str] | str | None = None,
        *,
        exclude: pd.Series | None = None,
    ) -> np.ndarray:
        """`[steps, layers]` values of `metric`, averaged over `kinds` (NaN-aware; layer ≥ 0).

        `exclude`: a boolean Series over `metrics` rows whose values are left out (e.g. α fits
        of low quality, `analysis.lifecycle.alpha_quality`).
        """
        if metric not in self.metrics.columns:
            raise RunError(f"no metric '{metric}' in this run's spectra")
        kinds = self.resolve_kinds(kinds)
        steps = self.steps
        frame = self.metrics
        keep = (frame["layer"] >= 0) & (frame["layer"] < self.n_layers) & frame["kind"].isin(kinds)
        rows = frame[keep if exclude is None else keep & ~exclude]
        total = np.zeros((len(steps), self.n_layers))
        count = np.zeros((len(steps), self.n_layers))
        values = rows[metric].to_numpy(float)
        ok = np.isfinite(values)
        si = np.searchsorted(steps, rows["step"].to_numpy())[ok]
        li = rows["layer"].to_numpy(np.int64)[ok]
        np.add.at(total, (si, li), values[ok])
        np.add.at(count, (si, li), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)

    def sigma(self, kind: str) -> np.ndarray:
        """Singular values of one kind over time, `[steps, layers, k]` (needs save_sigma)."""
        if self.store is None:
            raise RunError("this run has no spectra store on disk (built from a frame)")
        try:
            return self.store.sigma(kind)
        except StoreError as err:
            raise RunError(str(err)) from None

    def __repr__(self) -> str:
        steps = self.steps
        span = f"steps {steps[0]}..{steps[-1]}" if len(steps) else "no steps"
        return (
            f"Run({self.path or '<in memory>'}: {self.n_layers} layers, {len(steps)} "
            f"snapshots, {span}, kinds {', '.join(self.kinds)})"
        )


def load_run(run: Run | str | Path) -> Run:
    """Open a run directory (or a bare spectra store directory); a `Run` passes through."""
    if isinstance(run, Run):
        return run
    path = user_path(run)
    if not path.exists():
        raise RunError(f"no run directory at {path}")
    if is_store(path / SPECTRA):
        store_path, run_dir = path / SPECTRA, path
    elif is_store(path):  # a store given directly
        store_path, run_dir = path, path.parent
    else:
        raise RunError(f"{path} holds no spectra store (no spectra/meta.json)")
    try:
        store = SpectraStore(store_path)
        frame = store.metrics_frame()
    except StoreError as err:
        raise RunError(str(err)) from None
    config = _read_config(run_dir / CONFIG_FILE)
    log = _read_log(run_dir / TRAINING_LOG)
    n_layers = _n_layers(config, store.meta, frame)
    return Run(
        path=run_dir,
        config=config,
        meta=dict(store.meta),
        metrics=_join_loss(frame, log),
        log=log,
        n_layers=n_layers,
        store=store,
    )


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RunError(f"{path} is not valid YAML: {err}") from None
    return config if isinstance(config, dict) else {}


def _read_log(path: Path) -> pd.DataFrame:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a live or killed run
            if isinstance(row, dict) and "step" in row and "event" not in row:  # health events
                rows.append(row)
    return _tidy_log(pd.DataFrame(rows) if rows else pd.DataFrame({"step": []}))


def _tidy_log(log: pd.DataFrame) -> pd.DataFrame:
    """One row per step (train and eval rows of a step merged), sorted by step."""
    if "step" not in log.columns:
        raise RunError("training log lacks a 'step' column")
    log = log.copy()
    for col in ("loss", "val_loss"):
        if col not in log.columns:
            log[col] = np.nan
    log["step"] = log["step"].astype(np.int64)
    return log.groupby("step", as_index=False, sort=True).first()


def _join_loss(frame: pd.DataFrame, log: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["step", "kind", "layer"], kind="stable").reset_index(drop=True)
    frame["step"] = frame["step"].astype(np.int64)
    train = log.loc[log["loss"].notna(), ["step", "loss"]]
    if len(train) and len(frame):
        train = train.assign(loss_step=train["step"])
        frame = pd.merge_asof(frame, train, on="step", direction="nearest")
    else:
        frame = frame.assign(loss=np.nan, loss_step=np.nan)
    evals = log.loc[log["val_loss"].notna(), ["step", "val_loss"]]
    return frame.merge(evals, on="step", how="left")


def _n_layers(config: dict, meta: dict, frame: pd.DataFrame) -> int:
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    for value in (model.get("n_layers"), (meta.get("model") or {}).get("layers")):
        if isinstance(value, int) and value > 0:
            return value
    layers = frame["layer"].to_numpy() if len(frame) else np.array([-1])
    return max(int(layers.max()) + 1, 0) if len(layers) else 0
