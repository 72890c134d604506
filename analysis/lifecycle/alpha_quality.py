"""α quality gate: tail fits too short or rejected by their own KS distance are left out.

The tail MLE α of a matrix is trusted only when its tail holds at least `MIN_TAIL` eigenvalues
(`alpha_n`) and its Kolmogorov–Smirnov distance (`alpha_ks`) is below the 5% critical value
1.36/√alpha_n, i.e. the power law is not rejected by the data it was fitted to. Other fits are
low quality: every depth analysis of `alpha` leaves them out, and the report counts them.
`alpha_rank` (a least-squares slope over the whole spectrum) has no tail and is not gated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.run import Run
from spectral_jax.health import KS_CRITICAL, MIN_TAIL, alpha_trusted  # noqa: F401 (the one gate)


@dataclass(frozen=True)
class GatedGrid:
    """`[steps, layers]` α over the kinds with low-quality fits left out, and their count."""

    values: np.ndarray
    low_quality: int
    fits: int


def low_quality(frame: pd.DataFrame) -> pd.Series:
    """True for rows whose tail fit is too short or rejected by its KS distance."""
    if not {"alpha_n", "alpha_ks"} <= set(frame.columns):
        return pd.Series(False, index=frame.index)
    bad = ~alpha_trusted(frame["alpha_n"], frame["alpha_ks"])
    return pd.Series(bad & np.isfinite(frame["alpha"].to_numpy(float)), index=frame.index)


def alpha_grid(run: Run, metric: str, kinds: Iterable[str] | str | None = None) -> GatedGrid:
    """The α grid an analysis should use: gated for `alpha`, as stored for other metrics."""
    kinds = run.resolve_kinds(kinds)
    if metric != "alpha":
        return GatedGrid(run.grid(metric, kinds), 0, 0)
    frame = run.metrics
    rows = (frame["layer"] >= 0) & frame["kind"].isin(kinds) & frame["alpha"].notna()
    bad = low_quality(frame) & rows
    return GatedGrid(run.grid(metric, kinds, exclude=bad), int(bad.sum()), int(rows.sum()))
