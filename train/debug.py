"""Whether the user asked for the details behind a one-line error (`--debug` or the environment).

By default the trainer reports a handled failure (a config error, an unreadable checkpoint) in
one line and keeps library logs (Orbax's absl messages about a damaged file) out of the way.
`python -m train --debug ...` or `SPECTRAL_JAX_DEBUG=1` adds the traceback and those logs; the
CLI flag sets the variable, so every process of the run (and its children) sees one switch.
"""

from __future__ import annotations

import os

DEBUG_ENV = "SPECTRAL_JAX_DEBUG"


def debug_enabled() -> bool:
    """True when `SPECTRAL_JAX_DEBUG` is set to anything but empty, `0` or `false`."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def enable_debug() -> None:
    """Turn debug output on for this process and the processes it starts."""
    os.environ[DEBUG_ENV] = "1"
