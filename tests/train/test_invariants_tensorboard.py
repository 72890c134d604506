"""Matrix naming in TensorBoard: the scalar tagged `spectral/<metric>/<kind>/L<l>` is layer l's
value, and heatmaps draw layer 0 at the bottom."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.image import imread

from tests.helpers import events
from train.tensorboard import CELL, SpectralTensorBoard

LAYERS = {"embed": [-1], "mlp_in": [0, 1, 2], "q": [0, 1, 2]}
METRICS = ("stable_rank", "alpha", "gap")


def code(step: int, metric: str, kind: str, layer: int) -> float:
    """A value that says where it belongs."""
    return step * 1000 + METRICS.index(metric) * 100 + sorted(LAYERS).index(kind) * 10 + layer + 1


def entry(step: int) -> dict:
    return {
        "metrics": {
            m: {
                k: np.array([code(step, m, k, l) for l in ls], np.float32)
                for k, ls in LAYERS.items()
            }
            for m in METRICS
        }
    }


def test_each_tag_holds_its_own_layers_value(tmp_path: Path) -> None:
    board = SpectralTensorBoard(tmp_path, LAYERS, heatmap_every=10_000)
    for step in (0, 5):
        board.write(step, entry(step))
    board.close()
    seen = 0
    for event in events(tmp_path, "*.spectral"):
        for value in event.summary.value:
            if not value.tag.startswith("spectral/"):
                continue
            _, metric, kind, tag = value.tag.split("/")
            layer = -1 if tag == "Lemb" else int(tag.removeprefix("L"))
            assert value.simple_value == code(event.step, metric, kind, layer), value.tag
            seen += 1
    assert seen == 2 * len(METRICS) * 7


def test_heatmaps_draw_layer_0_at_the_bottom(tmp_path: Path) -> None:
    """Stable rank rising with depth: the bottom cell row is the colour scale's low end (dark),
    the top row its high end (yellow)."""
    layers = {"q": [0, 1, 2]}
    board = SpectralTensorBoard(tmp_path, layers, heatmap_every=10_000)
    for step in (0, 5):
        rising = np.array([1.0, 2.0, 3.0], np.float32)
        board.write(step, {"metrics": {"stable_rank": {"q": rising}, "alpha": {"q": rising}}})
    board.close()
    images = [
        value.image.encoded_image_string
        for event in events(tmp_path, "*.spectral")
        for value in event.summary.value
        if value.tag == "spectral_heatmap/stable_rank"
    ]
    assert images
    pixels = imread(io.BytesIO(images[-1]))[..., :3]
    assert pixels.shape[0] == 3 * CELL
    viridis = matplotlib.colormaps["viridis"]
    np.testing.assert_allclose(pixels[-1, 0], viridis(0.0)[:3], atol=1 / 255)
    np.testing.assert_allclose(pixels[0, 0], viridis(1.0)[:3], atol=1 / 255)
