"""The α depth profile: planted inverted U recovered with covering intervals, no U where none,
persistence that a drifting profile fails, low-quality α fits left out and counted."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import Run, RunError, alpha_profile
from analysis.lifecycle import persistence
from analysis.lifecycle.quadratic import smooth_range
from tests.analysis import planted

T_END = 4000.0
WINDOW = planted.STEPS[-math.ceil(0.1 * len(planted.STEPS)) :]  # the final 10% averaged
DECAY = float(np.exp(-WINDOW / planted.TAU_S).mean())


def _frame(alpha: np.ndarray, steps: np.ndarray, **extra: float) -> pd.DataFrame:
    n = alpha.shape[1]
    return pd.DataFrame(
        {
            "step": np.repeat(steps, n),
            "layer": np.tile(np.arange(n), len(steps)),
            "kind": "q",
            "alpha": alpha.ravel(),
            **extra,
        }
    )


def test_planted_inverted_u_is_recovered(lifecycle_run: Path) -> None:
    prof = alpha_profile(lifecycle_run)
    assert prof.metric == "alpha" and prof.step == 4000 and prof.window == len(WINDOW)
    assert prof.vertex_ci[0] <= planted.VERTEX <= prof.vertex_ci[1]
    assert prof.vertex == pytest.approx(planted.VERTEX, abs=0.02)
    curvature = -2 * planted.K * (1 - DECAY)
    assert prof.curvature_ci[0] <= curvature <= prof.curvature_ci[1] < 0
    assert prof.is_inverted_u and prof.inverted_u_p < 1e-6 and prof.r2 > 0.99
    # Δα: the range of the (noise-free) planted profile over x ∈ [0, 1]
    truth = planted.K * (1 - DECAY) * (1 - planted.VERTEX) ** 2
    assert prof.delta_alpha == pytest.approx(truth, rel=0.05)
    assert smooth_range(np.array(prof.coef)) >= prof.delta_alpha
    assert prof.is_persistent and prof.drift < 0.2 and prof.settle_step is not None
    assert prof.persistent_fraction == pytest.approx(1 - prof.settle_step / T_END)
    assert prof.low_quality_fits == 0 and prof.fits > 0
    assert np.isfinite(prof.curves.vertex_t[-10:]).all() and len(prof.curves.delta_alpha_t) == 81
    d = prof.to_dict()
    assert d["is_inverted_u"] is True and len(d["alpha"]) == 12 and d["reasons"] == {}


def test_alpha_rank_and_an_earlier_step(lifecycle_run: Path) -> None:
    prof = alpha_profile(lifecycle_run, step=2000, metric="alpha_rank")
    assert prof.metric == "alpha_rank" and prof.step == 2000 and prof.window == 1
    assert prof.vertex_ci[0] <= planted.VERTEX <= prof.vertex_ci[1]  # planted as 0.3·α
    assert "alpha_rank" in repr(prof)
    with pytest.raises(RunError, match="no snapshot at step 7"):
        alpha_profile(lifecycle_run, step=7)


def test_no_inverted_u_where_none_was_planted(null_run: Path) -> None:
    prof = alpha_profile(null_run)  # α linear in depth
    assert prof.is_inverted_u is False and prof.inverted_u_p > 0.05
    assert prof.vertex is None and prof.vertex_ci is None  # no estimate beside its refusal
    assert "do not locate a vertex" in prof.reasons["vertex"]
    assert prof.delta_alpha == pytest.approx(0.3, abs=0.03)


def test_a_profile_drifting_to_the_end_is_not_persistent() -> None:
    """The old settling rule called this settled (the final shape was the mean of the last
    snapshots, so the distance to it vanished at the end)."""
    steps = np.arange(0, 2001, 50)
    x = np.arange(10) / 9
    grow = 0.1 + 2 * steps[:, None] / steps[-1]  # the inverted U deepens until the last step
    alpha = 3 - grow * (x - 0.4) ** 2 + 0.005 * np.random.default_rng(0).normal(size=(41, 10))
    prof = alpha_profile(Run.from_frame(_frame(alpha, steps)))
    assert prof.is_inverted_u and prof.is_persistent is False and prof.drift > 0.3
    assert prof.settle_step is None and "may still move" in prof.reasons["settle_step"]


def test_a_static_profile_settles_at_once_and_a_u_is_not_an_inverted_u() -> None:
    rng = np.random.default_rng(0)
    x, steps = np.arange(10) / 9, np.arange(0, 1001, 50)
    u = 3 + 2 * (x - 0.5) ** 2 + 0 * steps[:, None] + 0.01 * rng.standard_normal((21, 10))
    prof = alpha_profile(Run.from_frame(_frame(u, steps)))
    assert prof.curvature > 0 and prof.is_inverted_u is False
    assert prof.is_persistent and prof.settle_step == 0 and prof.persistent_fraction == 1.0


def test_low_quality_alpha_fits_are_left_out_and_counted() -> None:
    steps = np.arange(0, 501, 50)
    x = np.arange(8) / 7
    alpha = 3 - 2 * (x - 0.4) ** 2 + 0 * steps[:, None]
    frame = _frame(alpha, steps, alpha_n=50.0, alpha_ks=0.05)
    short = frame.layer == 2
    frame.loc[short, "alpha_n"] = 5.0  # tail of 5 eigenvalues
    frame.loc[short, "alpha"] = 9.0  # and a wild value
    frame.loc[frame.layer == 5, "alpha_ks"] = 0.5  # rejected by its own KS distance
    prof = alpha_profile(Run.from_frame(frame))
    assert prof.low_quality_fits == 2 * len(steps) and prof.fits == 8 * len(steps)
    assert np.isnan(prof.alpha[[2, 5]]).all()
    assert prof.vertex == pytest.approx(0.4, abs=1e-6) and prof.is_inverted_u
    assert alpha_profile(Run.from_frame(frame), metric="alpha").range_alpha < 2


def test_shallow_runs_give_reasons(tiny_run: Path) -> None:
    prof = alpha_profile(tiny_run)
    assert prof.vertex is None and prof.curvature is None and prof.is_inverted_u is None
    assert "≥ 4 layers" in prof.reasons["coef"]
    assert prof.range_alpha is not None  # two layers still have a range
    four = planted.lifecycle_frame(n_layers=4, steps=np.arange(0, 1001, 50))
    prof = alpha_profile(Run.from_frame(four))
    assert prof.is_inverted_u is None
    assert "4 layers cannot show an inverted U" in prof.reasons["is_inverted_u"]
    d = prof.to_dict()
    assert d["is_inverted_u"] is None and "is_inverted_u" in d["reasons"]


def test_settle_step_is_the_first_snapshot_from_which_the_shape_stays_within_tolerance() -> None:
    """Off by one snapshot either way is wrong: the last snapshot above the tolerance is not
    settled, the one after it is."""
    steps = np.arange(0, 700, 100)
    dist = np.array([0.9, 0.5, 0.3, 0.1, 0.25, 0.15, 0.05])
    assert persistence.settle_step(steps, dist, 0.2) == 500  # 0.25 at 400 is above
    assert persistence.settle_step(steps, dist, 0.3) == 200  # ≤ 0.3 from 200 on
    assert persistence.settle_step(steps, np.full(7, 0.1), 0.2) == 0  # settled throughout
    assert persistence.settle_step(steps, dist, 0.01) is None  # above at the end
