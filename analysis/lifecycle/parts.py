"""A summary built from parts: each step of an analysis (the wave test, the reversal of G, the
profile's fit, persistence, the scaling law, the vertex shift) returns the summary fields it
decides as a dict, beside `reasons` (field → why it is null) for those it leaves null, and
`summary_fields` joins the parts into the summary's keyword arguments. Each field is declared
once, on its summary, and its reasons travel with the step that refused it.
"""

from __future__ import annotations

from typing import Any

Part = dict[str, Any]


def refused(field: str, why: str, **fields: Any) -> Part:
    """A part that leaves `field` null because `why` (with any `fields` it still reports)."""
    return {**fields, "reasons": {field: why}}


def summary_fields(*parts: Part) -> dict[str, Any]:
    """The fields of every part, with their reasons merged in the order of the parts."""
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for part in parts:
        for key, value in part.items():
            if key == "reasons":
                reasons |= value
            elif key in out:
                raise ValueError(f"two parts of one summary set {key}")
            else:
                out[key] = value
    return out | {"reasons": reasons}
