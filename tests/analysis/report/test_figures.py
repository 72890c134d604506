"""Figure layout that a reader relies on: a colour bar sits beside the panels it colours."""

from __future__ import annotations

from pathlib import Path

from analysis import qk_v_asymmetry
from analysis.report import figures


def test_asymmetry_colour_bar_sits_beside_the_compression_panels(lifecycle_run: Path) -> None:
    fig = figures.asymmetry_panel(qk_v_asymmetry(lifecycle_run))
    fig.draw_without_rendering()
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    bar = next(ax for ax in axes if ax.get_ylabel() == "layer")
    onset = next(ax for ax in axes if ax.get_xlabel() == "layer")
    panels = [ax for ax in axes if ax.get_ylabel() == "compression c"]
    assert len(panels) == 4
    box = bar.get_window_extent()
    assert all(ax.get_window_extent().x1 <= box.x0 for ax in panels)  # right of every panel
    assert box.x1 <= onset.get_window_extent().x0  # left of the onset panel it does not colour
    top = max(ax.get_window_extent().y1 for ax in panels)
    bottom = min(ax.get_window_extent().y0 for ax in panels)
    assert bottom - 5 <= box.y0 and box.y1 <= top + 5  # no taller than its panels (px)
