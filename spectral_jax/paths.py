"""How a path a user typed becomes the path the code opens: `~` expanded, made absolute.

Orbax refuses relative paths (a relative run directory once failed deep inside a restore), and a
shell does not expand `~` inside `key=~/runs/x` or a quoted argument; every entry point that takes
a run, a store or a checkpoint passes its argument through `user_path` first.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["looks_local", "user_path"]


def user_path(path: str | Path) -> Path:
    """`path` with `~` expanded, absolute (relative to the working directory), symlinks kept."""
    return Path(path).expanduser().absolute()


def looks_local(source: str | Path) -> bool:
    """Whether `source` names a local path rather than a hub name such as `gpt2` or
    `EleutherAI/pythia-70m`: it exists, or starts with `~`, `.` or `/`."""
    text = str(source)
    return text.startswith(("~", ".", "/")) or user_path(text).exists()
