"""Fixtures shared by every test package."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import TINY, XLA_CACHE


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's XLA compilation cache (see `tests.helpers.XLA_CACHE`)."""
    shutil.rmtree(XLA_CACHE, ignore_errors=True)


@pytest.fixture
def tiny() -> list[str]:
    """Overrides for a model small enough that a step takes milliseconds on a CPU."""
    return list(TINY)
