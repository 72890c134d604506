"""What the importance tests share: the probe's "degenerate spectra" warning (a metric is NaN
for some matrix) is expected here, not a fault under test: the planted identity blocks'
output projections are all zero (`importance_planted.py`), and the other models are tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
DEGENERATE_SPECTRA_EXPECTED = pytest.mark.filterwarnings("ignore:degenerate spectra")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this directory (the hook sees the whole session's tests)."""
    for item in items:
        if item.path.parent == HERE:
            item.add_marker(DEGENERATE_SPECTRA_EXPECTED)
