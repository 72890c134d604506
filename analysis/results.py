"""Result objects of every analysis: a JSON-safe summary beside the curves that plots need.

Each analysis returns `Analysis(summary=..., curves=...)`: `summary` is a small frozen
keyword-only dataclass of numbers, verdicts and `reasons` (field → why it is null), serialised
with `dataclasses.asdict`; `curves` holds the arrays behind the figures. Attribute access falls
through to the summary, then to the curves, so `wave.speed` reads `wave.summary.speed` and
`importance.layers` reads `importance.curves.layers` in a notebook. Text rendering lives in
`analysis.formatting`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from analysis.formatting import describe

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
        if hasattr(self.summary, name):
            return getattr(self.summary, name)
        return getattr(self.curves, name)

    def __repr__(self) -> str:
        title = getattr(self.summary, "title", type(self.summary).__name__)
        return describe(title() if callable(title) else title, self.to_dict())
