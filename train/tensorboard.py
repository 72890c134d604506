"""Every TensorBoard event the trainer writes, in one place.

`EventWriter` is a synchronous event file: tensorboardX's `SummaryWriter` hands events to a
background thread and its `flush()` does not wait for that thread's queue, but a trainer that
checkpoints must know what TensorBoard holds (a resume rewinds it to the checkpoint), so events
are written in the caller's thread (a few small records per logged step: microseconds).
Summaries are built with tensorboardX. The writers of the run:

- the training log (`train/training_log.py`): `train/*` and `eval/*` scalars in `RUN/tb/`;
- `SpectralTensorBoard` (below), from the spectra sink: per-matrix scalars
  `spectral/<metric>/<kind>/L<layer:02d>` (layer -1, the embeddings, is `Lemb`), histograms
  `spectral_hist/log10_sigma/<kind>`, images `spectral_heatmap/stable_rank` and
  `spectral_heatmap/alpha` (layer × step so far, one panel per kind), in their own files
  (suffix `.spectral`, which a rewind filters by the store's steps);
- the health rules (`train/health_watch.py`): `health/<rule>` counts and `health/events` text,
  in the spectral file.

Reading and filtering event files (a rewind) is `train/tb_events.py`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.summary_pb2 import Summary


class EventWriter:
    """Writes events to a new file `events.out.tfevents.<time>.<host>.<id><suffix>` in `logdir`
    (the random id keeps two writers opened in the same second from sharing a file)."""

    def __init__(self, logdir: Path, suffix: str = "") -> None:
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self._file = EventsWriter(str(Path(logdir) / "events"), f".{uuid.uuid4().hex[:8]}{suffix}")

    def add(self, step: int, values: Summary | list[Summary.Value]) -> None:
        """One event holding `values` (a Summary, or its values) at `step`."""
        if not isinstance(values, Summary):
            values = Summary(value=values)
        self._file.write_event(Event(wall_time=time.time(), step=int(step), summary=values))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Several scalars `{tag: value}` in one event (one record instead of one per tag)."""
        if values:
            self.add(
                step, [Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()]
            )

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.add(step, summary.scalar(tag, value))

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self.add(step, summary.histogram(tag, values, "auto"))  # numpy bins over the data

    def image(self, tag: str, hwc: np.ndarray, step: int) -> None:
        """An RGB image, floats in [0, 1], height × width × 3."""
        self.add(step, summary.image(tag, hwc, dataformats="HWC"))

    def text(self, tag: str, text: str, step: int) -> None:
        self.add(step, summary.text(tag, text))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


HEATMAP_METRICS = ("stable_rank", "alpha")
EVENTS_SUFFIX = ".spectral"  # spectral events live in their own files (a resume filters them)
CELL = 6  # pixel rows per layer in heatmap images
_VIRIDIS = matplotlib.colormaps["viridis"]


def layer_tag(layer: int) -> str:
    return "Lemb" if layer < 0 else f"L{layer:02d}"


class SpectralTensorBoard:
    """Writes one probe result (the store's entry layout) per call."""

    def __init__(
        self,
        logdir: Path,
        layers: dict[str, list[int]],
        *,
        heatmap_every: int,
    ) -> None:
        """`heatmap_every`: steps between heatmap images (drawn at the first snapshot that is at
        least this many steps after the last image, and at close)."""
        self.writer = EventWriter(logdir, suffix=EVENTS_SUFFIX)
        self.layers = layers
        self.heatmap_every = heatmap_every
        self._last_heatmap_step: int | None = None
        self._history: dict[str, dict[str, list[np.ndarray]]] = {
            m: {k: [] for k in layers} for m in HEATMAP_METRICS
        }
        self._steps: list[int] = []

    def write(self, step: int, entry: dict) -> None:
        # Every scalar of the snapshot in one event, not one per (metric, kind, layer): one
        # record instead of hundreds per snapshot.
        self.writer.scalars(
            step,
            {
                f"spectral/{metric}/{kind}/{layer_tag(layer)}": value
                for metric, per_kind in entry["metrics"].items()
                for kind, values in per_kind.items()
                for layer, value in zip(self.layers[kind], np.asarray(values).tolist(), strict=True)
                if np.isfinite(value)
            },
        )
        for kind, sigma in entry.get("sigma", {}).items():
            sigma = np.asarray(sigma)
            positive = sigma[np.isfinite(sigma) & (sigma > 0)]
            if positive.size:
                self.writer.histogram(f"spectral_hist/log10_sigma/{kind}", np.log10(positive), step)
        self.remember(step, entry)
        if self._last_heatmap_step is None or step - self._last_heatmap_step >= self.heatmap_every:
            self.write_heatmaps(step)

    def remember(self, step: int, entry: dict) -> None:
        """Add a snapshot to the heatmaps' history without writing events (a resumed run
        replays the snapshots it kept, whose events are already on disk)."""
        self._steps.append(step)
        for metric in HEATMAP_METRICS:
            for kind in self.layers:
                self._history[metric][kind].append(np.asarray(entry["metrics"][metric][kind]))

    def write_heatmaps(self, step: int) -> None:
        """Layer × step heatmaps of stable rank and α so far: one image per metric.

        Drawn straight from the arrays (a colormap lookup, no matplotlib figure: ~1 ms instead
        of ~300 ms, so images stay cheap beside training). Panels left to right are the kinds
        in `layers` order, separated by a white column; in each, x is the snapshot (oldest
        left), y the layer (layer 0 at the bottom), each cell `CELL` pixels tall. One colour
        scale per metric across kinds (viridis, low = dark); a text summary gives its range.
        """
        if len(self._steps) < 2:
            return
        self._last_heatmap_step = step
        kinds = [k for k in self.layers if k not in ("embed", "unembed")]
        if not kinds:  # only embeddings probed: no layer axis to draw
            return
        for metric in HEATMAP_METRICS:
            grids = [np.stack(self._history[metric][k], axis=1) for k in kinds]  # [layers, t]
            finite = np.concatenate([g[np.isfinite(g)] for g in grids])
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            scale = hi - lo if hi > lo else 1.0
            panels = []
            for grid in grids:
                rgb = _VIRIDIS((grid - lo) / scale)[..., :3]
                rgb[~np.isfinite(grid)] = 1.0  # NaN: white
                panels.append(np.repeat(rgb[::-1], CELL, axis=0))  # layer 0 at the bottom
                panels.append(np.ones((panels[-1].shape[0], 1, 3)))
            image = np.concatenate(panels[:-1], axis=1)
            self.writer.image(f"spectral_heatmap/{metric}", image, step)
            self.writer.text(
                f"spectral_heatmap/{metric}/legend",
                f"panels (left to right): {', '.join(kinds)}; x: snapshots {self._steps[0]}–"
                f"{self._steps[-1]}; y: layer (0 at the bottom); colour: {lo:.4g} (dark) to "
                f"{hi:.4g} (yellow); white: NaN",
                step,
            )

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        if self._steps:
            self.write_heatmaps(self._steps[-1])
        self.writer.close()
