"""Text of results: numbers to a few significant digits, intervals as [lo, hi], and the few
readable lines a result prints as in a notebook or a terminal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def fmt(value: Any, digits: int = 4) -> str:
    """Short human formatting: numbers to `digits` significant digits, intervals as [lo, hi]."""
    if value is None:
        return "null"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    if isinstance(value, float | np.floating):
        return "nan" if not math.isfinite(value) else f"{value:.{digits}g}"
    return str(value)


def describe(title: str, fields: Mapping[str, Any]) -> str:
    """A few readable lines: every short field, then each null field's reason."""
    lines = [title]
    reasons = fields.get("reasons") or {}
    for key, value in fields.items():
        if key == "reasons" or (isinstance(value, list) and len(value) > 4):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
        lines.append(f"  {key}: {fmt(value)}")
    lines += [f"  {key}: null ({why})" for key, why in reasons.items()]
    return "\n".join(lines)
