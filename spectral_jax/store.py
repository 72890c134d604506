"""The spectra store: one Orbax entry per probed step, plus a consolidated index for fast reads.

Layout of `RUN/spectra/`:

    meta.json        schema version, model description, kinds, layers and shapes per kind,
                     metric names, metric definitions version, save_sigma
    steps/<step>/    Orbax (CheckpointManager, all kept): {"sigma": {kind: f32[layers, k]},
                     "metrics": {metric: {kind: f32[layers]}}} — the source of truth
    index.bin        an append-only log of fixed-size records (int64 step, float32 metrics,
                     float32 sigma) — a cache that makes loading 1,000 snapshots take well
                     under a second instead of one Orbax restore per step

Orbax writes each entry to a temporary directory and renames it when complete, so a reader
never sees a half-written entry: it lists finalised step directories only (unfinished ones are
skipped: expected while a run writes, so only logged at debug level), takes index records only for those steps (the last record of a step
wins; a torn trailing record is ignored) and restores any step missing from the index from
Orbax. A store whose index is lost still loads, just slower.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orbax.checkpoint as ocp
import pandas as pd

from spectral_jax.paths import user_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
META_FILE = "meta.json"
Entry = dict[str, dict]
_STEP_DIR = re.compile(r"^\d+$")


_IDENTITY_KEYS = ("model", "kinds", "layers", "shapes", "metrics", "save_sigma")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class StoreError(ValueError):
    """A spectra store that cannot be opened or written; one line naming the path."""


def _record_dtype(meta: Mapping[str, Any]) -> np.dtype:
    rows = sum(len(meta["layers"][k]) for k in meta["kinds"])
    fields = [("step", "<i8"), ("metrics", "<f4", (len(meta["metrics"]), rows))]
    if meta["save_sigma"]:
        size = sum(len(meta["layers"][k]) * min(meta["shapes"][k]) for k in meta["kinds"])
        fields.append(("sigma", "<f4", (size,)))
    return np.dtype(fields)


def is_store(path: str | Path) -> bool:
    """Whether `path` holds a spectra store (its `meta.json`)."""
    return (Path(path) / META_FILE).is_file()


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if not path.is_dir():
        raise StoreError(f"no spectra store at {path} (directory not found)")
    if not meta_path.is_file():
        raise StoreError(f"{path} is not a spectra store (no meta.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(
            f"{meta_path} has schema version {meta.get('schema_version')}, this spectral-jax "
            f"reads version {SCHEMA_VERSION}"
        )
    return meta


def _pack(meta: Mapping[str, Any], step: int, entry: Entry) -> np.ndarray:
    record = np.zeros((), _record_dtype(meta))
    record["step"] = step
    for m, name in enumerate(meta["metrics"]):
        record["metrics"][m] = np.concatenate(
            [np.asarray(entry["metrics"][name][k], np.float32) for k in meta["kinds"]]
        )
    if meta["save_sigma"]:
        record["sigma"] = np.concatenate(
            [np.asarray(entry["sigma"][k], np.float32).ravel() for k in meta["kinds"]]
        )
    return record


def _unpack(meta: Mapping[str, Any], record: np.ndarray) -> Entry:
    entry: Entry = {"metrics": {name: {} for name in meta["metrics"]}}
    row = 0
    for k in meta["kinds"]:
        n = len(meta["layers"][k])
        for m, name in enumerate(meta["metrics"]):
            entry["metrics"][name][k] = np.array(record["metrics"][m, row : row + n])
        row += n
    if meta["save_sigma"]:
        entry["sigma"], offset = {}, 0
        for k in meta["kinds"]:
            n, width = len(meta["layers"][k]), min(meta["shapes"][k])
            entry["sigma"][k] = np.array(record["sigma"][offset : offset + n * width]).reshape(
                n, width
            )
            offset += n * width
    return entry


def _manager(steps_dir: Path, *, read_only: bool) -> ocp.CheckpointManager:
    if not read_only:
        steps_dir.mkdir(parents=True, exist_ok=True)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None,
        create=False,
        read_only=read_only,
        enable_async_checkpointing=False,  # the trainer writes from its own sink thread
        cleanup_tmp_directories=not read_only,
        # Only process 0 writes; the key prefix keeps Orbax's per-step signals apart from the
        # trainer's own CheckpointManager, which saves at the same step numbers.
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            primary_host=0, active_processes={0}, barrier_sync_key_prefix="spectra"
        ),
    )
    return ocp.CheckpointManager(steps_dir.absolute(), options=options)


def check_appendable(path: str | Path, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """Raise StoreError unless entries described by `meta` may be added to the store at `path`
    (same model, kinds, layers, shapes, metrics and save_sigma); reads only. Returns the
    store's meta, or None when there is no store yet."""
    path = Path(path)
    for key in ("kinds", "layers", "shapes", "metrics", "save_sigma"):
        if key not in meta:
            raise StoreError(f"spectra store meta for {path} lacks '{key}'")
    if not is_store(path):
        return None
    old = _read_meta(path)
    for key in _IDENTITY_KEYS:
        if _json(old.get(key)) != _json(meta.get(key)):
            raise StoreError(f"{path} holds spectra with a different '{key}'; use another run.dir")
    return old


class SpectraWriter:
    """Appends snapshots to a store.

    Saves are synchronous: the trainer calls `write` from its own sink thread, so training never
    waits on them, and an entry is finalised on disk before its index record is appended.
    A writer only adds; `truncate_after` is the one way entries leave a store.
    """

    def __init__(
        self,
        path: str | Path,
        meta: Mapping[str, Any],
        *,
        from_step: int = 0,
    ) -> None:
        """`from_step`: the first step this writer will write. Appending to an existing store
        whose settings outside its identity (e.g. `method`, `every`) differ updates meta.json
        and records the old values under `history` as applying to the entries before it."""
        self.path = user_path(path)
        self.meta = {"schema_version": SCHEMA_VERSION, **meta}
        old = check_appendable(self.path, self.meta)
        if old is not None:
            changed = {
                key: value
                for key, value in old.items()
                if key not in (*_IDENTITY_KEYS, "schema_version", "history")
                and _json(value) != _json(self.meta.get(key))
            }
            self.meta["history"] = old.get("history", [])
            if changed:
                self.meta["history"].append({"before_step": from_step, **changed})
                self._write_meta()
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._write_meta()
        self._dtype = _record_dtype(self.meta)
        self._manager = _manager(self.path / "steps", read_only=False)
        self._index = (self.path / "index.bin").open("ab")
        self._open = True

    def _write_meta(self) -> None:
        tmp = self.path / f"{META_FILE}.tmp"
        tmp.write_text(json.dumps(self.meta, indent=1))
        os.replace(tmp, self.path / META_FILE)

    def write(self, step: int, entry: Entry) -> None:
        """Save one snapshot (numpy or jax arrays in the entry layout)."""
        entry = {key: {k: _to_numpy(v) for k, v in part.items()} for key, part in entry.items()}
        if not self.meta["save_sigma"]:
            entry.pop("sigma", None)
        self._manager.save(int(step), args=ocp.args.PyTreeSave(entry), force=True)
        self._index.write(_pack(self.meta, int(step), entry).tobytes())
        self._index.flush()

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        if self._open:
            self._manager.wait_until_finished()
            self._manager.close()
            self._index.close()
            self._open = False


def truncate_after(path: str | Path, step: int) -> list[int]:
    """Drop every entry past `step` from the store at `path`, on disk and in its index, and
    return the steps removed. A resumed run recomputes them; nothing else deletes entries."""
    path = Path(path)
    meta = _read_meta(path)
    manager = _manager(path / "steps", read_only=False)
    removed = [s for s in manager.all_steps() if s > step]
    for s in removed:
        manager.delete(s)
    manager.close()
    index = path / "index.bin"
    if index.exists():
        dtype = _record_dtype(meta)
        records = np.fromfile(index, dtype=dtype, count=index.stat().st_size // dtype.itemsize)
        tmp = path / "index.bin.tmp"
        records[records["step"] <= step].tofile(tmp)
        os.replace(tmp, index)
    return sorted(removed)


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree, np.float32)


class SpectraStore:
    """Read a store (also while its run is still writing): steps, entries, tidy metrics."""

    def __init__(self, path: str | Path) -> None:
        self.path = user_path(path)
        self.meta = _read_meta(self.path)
        self._dtype = _record_dtype(self.meta)
        self._cache: dict[int, np.ndarray] | None = None

    def steps(self) -> list[int]:
        """Finalised steps, ascending. Unfinished Orbax entries are skipped: a reader of a
        live run sees the one being written now and then, which is expected, not a problem
        worth a warning (logged at debug level)."""
        steps_dir = self.path / "steps"
        if not steps_dir.is_dir():
            return []
        done, unfinished = [], []
        for child in steps_dir.iterdir():
            if _STEP_DIR.match(child.name) and child.is_dir():
                done.append(int(child.name))
            elif "orbax-checkpoint-tmp" in child.name:
                unfinished.append(child.name.split(".")[0])
        if unfinished:
            log.debug(
                "%s: skipping unfinished entries for steps %s", steps_dir, ", ".join(unfinished)
            )
        return sorted(done)

    def _records(self) -> dict[int, np.ndarray]:
        """Index records of finalised steps (last record per step); restores the rest."""
        if self._cache is not None:
            return self._cache
        steps = self.steps()
        index = self.path / "index.bin"
        records: dict[int, np.ndarray] = {}
        if index.exists():
            count = index.stat().st_size // self._dtype.itemsize  # ignores a torn tail
            data = np.fromfile(index, dtype=self._dtype, count=count)
            wanted = set(steps)
            for record in data:
                if int(record["step"]) in wanted:
                    records[int(record["step"])] = record
        missing = [s for s in steps if s not in records]
        if missing:
            manager = _manager(self.path / "steps", read_only=True)
            for s in missing:
                entry = manager.restore(s, args=ocp.args.PyTreeRestore())
                records[s] = _pack(self.meta, s, entry)
            manager.close()
        self._cache = {s: records[s] for s in steps}
        return self._cache

    def refresh(self) -> None:
        """Forget cached reads (to see steps a live run wrote since)."""
        self._cache = None

    def load(self, step: int) -> Entry:
        """The snapshot at `step` as numpy arrays in the entry layout."""
        records = self._records()
        if step not in records:
            raise StoreError(f"{self.path} has no finalised entry for step {step}")
        return _unpack(self.meta, records[step])

    def metrics_frame(self) -> pd.DataFrame:
        """Tidy metrics: one row per (step, layer, kind), one column per metric."""
        records = self._records()
        steps = np.array(sorted(records), dtype=np.int64)
        layers = np.concatenate([self.meta["layers"][k] for k in self.meta["kinds"]])
        kinds = np.concatenate([[k] * len(self.meta["layers"][k]) for k in self.meta["kinds"]])
        rows = len(layers)
        if not len(steps):
            return pd.DataFrame(columns=["step", "layer", "kind", *self.meta["metrics"]])
        values = np.stack([records[s]["metrics"] for s in steps])  # [steps, metrics, rows]
        frame = pd.DataFrame(
            {
                "step": np.repeat(steps, rows),
                "layer": np.tile(layers, len(steps)).astype(np.int64),
                "kind": np.tile(kinds, len(steps)),
            }
        )
        for m, name in enumerate(self.meta["metrics"]):
            frame[name] = values[:, m, :].reshape(-1)
        return frame

    def sigma(self, kind: str) -> np.ndarray:
        """Singular values of one kind over time: `[steps, layers, k]`."""
        if not self.meta["save_sigma"]:
            raise StoreError(f"{self.path} was written with spectral.save_sigma=false")
        if kind not in self.meta["kinds"]:
            raise StoreError(
                f"{self.path} has no kind '{kind}' (has {', '.join(self.meta['kinds'])})"
            )
        records = self._records()
        offset = 0
        for k in self.meta["kinds"]:
            n, width = len(self.meta["layers"][k]), min(self.meta["shapes"][k])
            if k == kind:
                break
            offset += n * width
        if not records:
            return np.zeros((0, n, width), np.float32)
        flat = np.stack([records[s]["sigma"][offset : offset + n * width] for s in sorted(records)])
        return flat.reshape(len(records), n, width)
