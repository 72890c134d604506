"""Result objects of every analysis: a JSON-safe summary beside the curves that plots need.

Each analysis returns `Analysis(summary=..., curves=...)`: `summary` is a small frozen
keyword-only dataclass of numbers, verdicts and `reasons` (field → why it is null), serialised
with `dataclasses.asdict`; `curves` holds the arrays behind the figures. Attribute access falls
through to the summary, so `wave.speed` reads `wave.summary.speed` in a notebook.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

S = TypeVar("S")
C = TypeVar("C")


def to_jsonable(value: Any) -> Any:
    """numpy/float → plain JSON types; NaN and ±Inf → None."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, str | bytes):
        return value.decode() if isinstance(value, bytes) else value
    if isinstance(value, Sequence):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None:
        return None
    return str(value)


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


@dataclass(frozen=True, eq=False)
class Analysis(Generic[S, C]):
    """One analysis of a run: `summary` (numbers, JSON via `to_dict`) and `curves` (arrays)."""

    summary: S
    curves: C

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON types (NaN → null)."""
        return to_jsonable(dataclasses.asdict(self.summary))  # type: ignore[call-overload]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("summary", "curves"):
            raise AttributeError(name)
        return getattr(self.summary, name)

    def __repr__(self) -> str:
        title = getattr(self.summary, "title", type(self.summary).__name__)
        return describe(title() if callable(title) else title, self.to_dict())
