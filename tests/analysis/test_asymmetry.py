"""Q/K–V asymmetry: depth-dependent kinds are told apart from uniform ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis import qk_v_asymmetry
from analysis.asymmetry import depth_share


def test_planted_qk_depth_dependence_is_recovered(lifecycle_run: Path) -> None:
    asym = qk_v_asymmetry(lifecycle_run)
    assert asym.kinds == ("k", "o", "q", "v")
    for kind in ("q", "k"):
        assert asym.depth_share[kind] > 0.25 and asym.peak_spread[kind] > 0.1
        assert 1000 <= asym.peak_spread_step[kind] <= 2200  # while the wave crosses the layers
    for kind in ("v", "o"):
        assert asym.depth_share[kind] < 0.05 and asym.peak_spread[kind] < 0.03
    assert asym.ratio > 10 and asym.ratio_ci[0] > 5
    assert asym.ratio_ci[0] < asym.ratio < asym.ratio_ci[1]
    assert set(asym.to_dict()["depth_share"]) == {"k", "o", "q", "v"}


def test_no_asymmetry_where_none_was_planted(null_run: Path) -> None:
    asym = qk_v_asymmetry(null_run)
    assert max(asym.depth_share.values()) < 0.05
    assert asym.ratio_ci[0] <= 1 <= asym.ratio_ci[1]


def test_depth_share_definition() -> None:
    same = np.repeat(np.linspace(0, 0.5, 20)[:, None], 6, 1)
    assert depth_share(same, np.ones(6)) == pytest.approx(0.0)
    offsets = same + np.arange(6)[None, :] * 0.1
    between = np.var(np.arange(6) * 0.1) * 6 * 20
    total = np.var(offsets) * offsets.size
    assert depth_share(offsets, np.ones(6)) == pytest.approx(between / total)
    resampled = depth_share(offsets, np.array([[6, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]]))
    assert resampled[0] == pytest.approx(0.0) and resampled[1] == pytest.approx(between / total)


def test_missing_kinds_and_short_runs_give_reasons(lifecycle_run: Path, tiny_run: Path) -> None:
    only_qk = qk_v_asymmetry(lifecycle_run, kinds=("q", "k"))
    assert only_qk.ratio is None and "v or o" in only_qk.reasons["ratio"]
    tiny = qk_v_asymmetry(tiny_run)
    assert tiny.ratio is None or np.isfinite(tiny.ratio)
    assert tiny.to_dict()["kinds"] == ["k", "o", "q", "v"]
