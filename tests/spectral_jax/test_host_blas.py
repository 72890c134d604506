"""BLAS held at one thread for the length of a block, then restored."""

from __future__ import annotations

import scipy.linalg.cython_lapack  # noqa: F401  (the LAPACK jaxlib calls on CPU)

from spectral_jax.host_blas import single_threaded_blas
from tests.helpers import blas_threads


def test_single_threaded_blas_limits_then_restores() -> None:
    before = blas_threads()
    assert before, "no BLAS library found in the process"
    with single_threaded_blas():
        assert blas_threads() == [1] * len(before)
        with single_threaded_blas():  # nested (a probe inside a monitored run): still one
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before
