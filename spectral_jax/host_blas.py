"""Hold the host's BLAS/LAPACK at one thread while XLA:CPU runs decompositions.

On CPU, jaxlib's SVD and eigh kernels call SciPy's OpenBLAS. After each call OpenBLAS's worker
threads busy-wait for more work, taking cores from whatever XLA runs next: on 2 cores a demo
snapshot cost a training run ~95 ms instead of ~30 ms, and a GPT-2-sized snapshot ran ~8%
slower on twice the CPU time. XLA already spreads a batched decomposition over its own
threads, so one OpenBLAS thread loses nothing. Off CPU this is a no-op in effect.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    # Load the library jaxlib calls first: a controller only sees libraries already loaded.
    import scipy.linalg.cython_lapack  # noqa: F401

    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager:
    """Limit BLAS to one thread now, until the end of the `with` block (or its `__exit__`)."""
    return _controller().limit(limits=1, user_api="blas")
