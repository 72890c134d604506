"""Spectral snapshots in TensorBoard: per-matrix scalars, log-σ histograms, heatmap images.

Tags: `spectral/<metric>/<kind>/L<layer:02d>` (layer -1, the embeddings, is `Lemb`),
`spectral_hist/log10_sigma/<kind>`, and images `spectral_heatmap/stable_rank` and
`spectral_heatmap/alpha` (layer × step so far, one panel per kind).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tensorboardX import SummaryWriter

HEATMAP_METRICS = ("stable_rank", "alpha")


def layer_tag(layer: int) -> str:
    return "Lemb" if layer < 0 else f"L{layer:02d}"


class SpectralTensorBoard:
    """Writes one probe result (the store's entry layout) per call."""

    def __init__(
        self,
        logdir: Path,
        layers: dict[str, list[int]],
        *,
        purge_step: int | None,
        images_every: int,
    ) -> None:
        self.writer = SummaryWriter(
            logdir=str(logdir), purge_step=purge_step, filename_suffix=".spectral", flush_secs=30
        )
        self.layers = layers
        self.images_every = images_every
        self._history: dict[str, dict[str, list[np.ndarray]]] = {
            m: {k: [] for k in layers} for m in HEATMAP_METRICS
        }
        self._steps: list[int] = []

    def write(self, step: int, entry: dict) -> None:
        for metric, per_kind in entry["metrics"].items():
            for kind, values in per_kind.items():
                for layer, value in zip(self.layers[kind], np.asarray(values), strict=True):
                    if np.isfinite(value):
                        tag = f"spectral/{metric}/{kind}/{layer_tag(layer)}"
                        self.writer.add_scalar(tag, float(value), global_step=step)
        for kind, sigma in entry.get("sigma", {}).items():
            sigma = np.asarray(sigma)
            positive = sigma[np.isfinite(sigma) & (sigma > 0)]
            if positive.size:
                self.writer.add_histogram(
                    f"spectral_hist/log10_sigma/{kind}", np.log10(positive), global_step=step
                )
        self._steps.append(step)
        for metric in HEATMAP_METRICS:
            for kind in self.layers:
                self._history[metric][kind].append(np.asarray(entry["metrics"][metric][kind]))
        if len(self._steps) % self.images_every == 0:
            self.write_heatmaps(step)

    def write_heatmaps(self, step: int) -> None:
        """Layer × step heatmaps of stable rank and α so far, one panel per kind."""
        if len(self._steps) < 2:
            return
        for metric in HEATMAP_METRICS:
            kinds = [k for k in self.layers if k not in ("embed", "unembed")]
            fig, axes = plt.subplots(1, len(kinds), figsize=(3 * len(kinds), 3), squeeze=False)
            for ax, kind in zip(axes[0], kinds, strict=True):
                grid = np.stack(self._history[metric][kind], axis=1)  # [layers, steps]
                ax.imshow(
                    grid,
                    aspect="auto",
                    origin="lower",
                    interpolation="nearest",
                    extent=(self._steps[0], self._steps[-1], -0.5, grid.shape[0] - 0.5),
                )
                ax.set_title(kind)
                ax.set_xlabel("step")
            axes[0][0].set_ylabel("layer")
            fig.suptitle(metric)
            fig.tight_layout()
            self.writer.add_figure(f"spectral_heatmap/{metric}", fig, global_step=step)
            plt.close(fig)

    def close(self) -> None:
        if self._steps:
            self.write_heatmaps(self._steps[-1])
        self.writer.close()
