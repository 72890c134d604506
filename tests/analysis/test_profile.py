"""The α depth profile: planted vertex, curvature, Δα and settling recovered; no false U."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import Run, RunError, alpha_profile
from tests.analysis import planted

T_END = 4000.0
DECAY = math.exp(-T_END / planted.TAU_S)


def settle_truth(tol: float = 0.1) -> float:
    """Step after which the noise-free shape is within tol of the final (last-10%) shape."""
    tail = planted.STEPS[-math.ceil(0.1 * len(planted.STEPS)) :]
    e_bar = np.exp(-tail / planted.TAU_S).mean()
    return -planted.TAU_S * math.log(e_bar + tol * (1 - e_bar))


def test_planted_inverted_u_is_recovered(lifecycle_run: Path) -> None:
    prof = alpha_profile(lifecycle_run)
    assert prof.metric == "alpha" and prof.step == 4000
    assert prof.vertex == pytest.approx(planted.VERTEX, abs=0.03)
    assert prof.vertex_ci[0] <= planted.VERTEX <= prof.vertex_ci[1]
    curvature = -2 * planted.K * (1 - DECAY)
    assert prof.curvature == pytest.approx(curvature, rel=0.1)
    assert prof.curvature_ci[0] <= curvature <= prof.curvature_ci[1] < 0
    assert prof.is_inverted_u and prof.r2 > 0.95
    x = np.arange(12) / 11
    alpha_end = planted.planted_alpha(np.array([T_END]), x)[0]
    assert prof.delta_alpha == pytest.approx(np.ptp(alpha_end), abs=0.1)
    assert abs(prof.settle_step - settle_truth()) <= 300
    assert prof.persistent_fraction == pytest.approx(1 - prof.settle_step / T_END)
    assert np.isfinite(prof.curves.vertex_t[-10:]).all() and len(prof.curves.delta_alpha_t) == 81
    d = prof.to_dict()
    assert d["is_inverted_u"] is True and len(d["alpha"]) == 12 and d["reasons"] == {}


def test_alpha_rank_and_an_earlier_step(lifecycle_run: Path) -> None:
    prof = alpha_profile(lifecycle_run, step=2000, metric="alpha_rank")
    assert prof.metric == "alpha_rank" and prof.step == 2000
    assert prof.vertex == pytest.approx(planted.VERTEX, abs=0.05)  # planted as 0.3·α
    assert "alpha_rank" in repr(prof)
    with pytest.raises(RunError, match="no snapshot at step 7"):
        alpha_profile(lifecycle_run, step=7)


def test_no_inverted_u_where_none_was_planted(null_run: Path) -> None:
    prof = alpha_profile(null_run)  # α linear in depth
    assert not prof.is_inverted_u
    assert not 0 < prof.vertex < 1 or prof.curvature_ci[0] <= 0 <= prof.curvature_ci[1]
    assert prof.delta_alpha == pytest.approx(0.3, abs=0.1)


def _frame(alpha: np.ndarray, steps: np.ndarray) -> pd.DataFrame:
    n = alpha.shape[1]
    return pd.DataFrame(
        {
            "step": np.repeat(steps, n),
            "layer": np.tile(np.arange(n), len(steps)),
            "kind": "q",
            "alpha": alpha.ravel(),
        }
    )


def test_u_shape_is_not_an_inverted_u_and_a_static_profile_settles_at_once() -> None:
    rng = np.random.default_rng(0)
    x, steps = np.arange(10) / 9, np.arange(0, 1001, 50)
    u = 3 + 2 * (x - 0.5) ** 2 + 0 * steps[:, None] + 0.01 * rng.standard_normal((21, 10))
    prof = alpha_profile(Run.from_frame(_frame(u, steps)))
    assert prof.curvature > 0 and not prof.is_inverted_u
    assert prof.settle_step == 0 and prof.persistent_fraction == 1.0


def test_shallow_runs_give_reasons(tiny_run: Path) -> None:
    prof = alpha_profile(tiny_run)
    assert prof.vertex is None and prof.curvature is None and not prof.is_inverted_u
    assert "≥ 4 layers" in prof.reasons["vertex"]
    assert prof.delta_alpha is not None  # two layers still have a range
    d = prof.to_dict()
    assert d["vertex"] is None and "vertex" in d["reasons"]
