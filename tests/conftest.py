"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from tests.helpers import TINY


@pytest.fixture
def tiny() -> list[str]:
    """Overrides for a model small enough that a step takes milliseconds on a CPU."""
    return list(TINY)
