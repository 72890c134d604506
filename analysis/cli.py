"""What every `python -m analysis` command shares: the usage exit code, the singular-value
methods, the `--kinds` help and the comma-list parser.

Each command package (`report`, `checkpoints`, `importance`) has a `cli` module with `COMMANDS`,
`add_parsers(sub)` and `run(args) -> exit code`; `analysis/__main__.py` registers them all.
Kept free of JAX so `--help` answers at once.
"""

from __future__ import annotations

import argparse

EXIT_USAGE = 2  # bad input: a one-line error naming what is wrong
METHODS = ("auto", "svd", "gram", "gram64")  # spectral_jax.singular_values.METHODS, without JAX
KINDS_HELP = "comma-separated kinds, e.g. q,k (default: every per-layer kind)"


def add_kinds_option(parser: argparse.ArgumentParser, note: str = "") -> None:
    """`--kinds q,k` (parsed later by `split_list`)."""
    parser.add_argument("--kinds", default=None, help=KINDS_HELP + note)


def add_method_option(parser: argparse.ArgumentParser, note: str = " (default auto)") -> None:
    """`--method`: how singular values are computed (`spectral_jax.singular_values`)."""
    parser.add_argument(
        "--method", default="auto", choices=METHODS, help="singular value method" + note
    )


def split_list(text: str | None) -> list[str] | None:
    """`"a, b,"` → `["a", "b"]`; None stays None (the command's default)."""
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]
