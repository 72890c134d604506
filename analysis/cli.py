"""What every `python -m analysis` command shares: the usage exit code, the singular-value
methods, the `--kinds` help and the comma-list parser.

Each command package (`report`, `checkpoints`, `importance`) has a `cli` module with `COMMANDS`,
`add_parsers(sub)` and `run(args) -> exit code`; `analysis/__main__.py` registers them all.
Kept free of JAX so `--help` answers at once.
"""

from __future__ import annotations

EXIT_USAGE = 2  # bad input: a one-line error naming what is wrong
METHODS = ("auto", "svd", "gram", "gram64")  # spectral_jax.singular_values.METHODS, without JAX
KINDS_HELP = "comma-separated kinds, e.g. q,k (default: every per-layer kind)"


def split_list(text: str | None) -> list[str] | None:
    """`"a, b,"` → `["a", "b"]`; None stays None (the command's default)."""
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]
