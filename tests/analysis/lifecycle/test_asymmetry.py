"""Q/K–V asymmetry: the timing of compression depends on depth for Q/K, not for V/O; fixed
offsets between layers (which a variance share counts as depth dependence) change nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis import Run, qk_v_asymmetry
from tests.analysis import planted


def test_planted_qk_timing_and_uniform_vo_are_recovered(lifecycle_run: Path) -> None:
    asym = qk_v_asymmetry(lifecycle_run)
    assert asym.kinds == ("k", "o", "q", "v")
    assert asym.qk_p < 1e-4 and asym.qk_slope_ci[0] > 1  # last onset ≫ e× the first
    assert asym.vo_uniform and abs(asym.vo_slope) < 0.1
    assert asym.difference_ci[0] > 1 and asym.asymmetric
    assert set(asym.curves.onsets) == {"qk", "vo"} and asym.reasons == {}
    assert asym.to_dict()["asymmetric"] is True


def test_no_asymmetry_where_none_was_planted(null_run: Path) -> None:
    asym = qk_v_asymmetry(null_run)
    assert asym.asymmetric is False
    assert asym.difference_ci[0] <= 0 <= asym.difference_ci[1]


def test_fixed_offsets_between_layers_are_not_depth_dependence() -> None:
    frame = planted.null_frame(seed=4)
    plain = qk_v_asymmetry(Run.from_frame(frame))
    layer = frame["layer"].to_numpy()
    frame["stable_rank"] *= np.random.default_rng(5).uniform(0.7, 1.3, 12)[layer]
    frame["stable_rank"] *= 1 + 0.5 * layer / 11  # even an offset that grows with depth
    shifted = qk_v_asymmetry(Run.from_frame(frame))
    assert shifted.asymmetric is False and shifted.vo_uniform
    assert shifted.qk_slope == pytest.approx(plain.qk_slope)
    assert shifted.difference_ci == pytest.approx(plain.difference_ci)


def test_missing_kinds_and_short_runs_give_reasons(lifecycle_run: Path, tiny_run: Path) -> None:
    only_qk = qk_v_asymmetry(lifecycle_run, kinds=("q", "k"))
    assert only_qk.asymmetric is None and "v or o" in only_qk.reasons["asymmetric"]
    tiny = qk_v_asymmetry(tiny_run)
    assert tiny.asymmetric is None and "≥ 5 layers" in tiny.reasons["asymmetric"]
    assert tiny.to_dict()["kinds"] == ["k", "o", "q", "v"]


def test_margin_is_a_setting() -> None:
    run = Run.from_frame(planted.lifecycle_frame(n_layers=6))
    strict = qk_v_asymmetry(run, margin=1e-6)
    assert strict.vo_uniform is False and strict.asymmetric is False
    assert strict.margin == pytest.approx(1e-6)
