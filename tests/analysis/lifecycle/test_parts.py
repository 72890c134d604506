"""A summary joined from parts: each part's fields once, every part's reasons in order."""

from __future__ import annotations

import pytest

from analysis.lifecycle.parts import refused, summary_fields


def test_refused_leaves_its_field_null_with_the_reason_and_keeps_the_others() -> None:
    assert refused("has_wave", "too few layers", spearman_p=0.5) == {
        "spearman_p": 0.5,
        "reasons": {"has_wave": "too few layers"},
    }


def test_fields_of_every_part_and_their_reasons_in_the_order_of_the_parts() -> None:
    joined = summary_fields(
        refused("onset", "short"),
        {"slope": 1.0, "reasons": {"speed": "no wave"}},
        {},
        {"peak_step": 3.0},
    )
    assert joined == {
        "slope": 1.0,
        "peak_step": 3.0,
        "reasons": {"onset": "short", "speed": "no wave"},
    }
    assert list(joined["reasons"]) == ["onset", "speed"]
    assert summary_fields() == {"reasons": {}}


def test_a_field_set_by_two_parts_is_an_error() -> None:
    with pytest.raises(ValueError, match="slope"):
        summary_fields({"slope": 1.0}, {"slope": 2.0})
