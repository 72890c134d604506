"""notebooks/lifecycle.ipynb executes top to bottom (nbclient) on a run given by a path relative
to the notebook, evaluates importance on held-out text, and fits the two-timescale model on the
kinds the report uses."""

from __future__ import annotations

import os
from pathlib import Path

from tests.analysis.importance.importance_planted import write_run_directory
from tests.helpers import LIFECYCLE_NOTEBOOK, execute_lifecycle_notebook


def test_lifecycle_notebook_executes(lifecycle_run: Path, tmp_path: Path) -> None:
    # The planted run holds spectra only; layer importance needs weights and a tokenizer for
    # its held-out text: a run directory with the trainer's checkpoint and BPE.
    model = write_run_directory(tmp_path / "model")
    relative = Path(os.path.relpath(lifecycle_run, LIFECYCLE_NOTEBOOK.parent))
    outputs = execute_lifecycle_notebook(relative, model)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "compression wave" in text and "α depth profile" in text
    assert "kinds: [q, k]" in text  # the two-timescale fit pools what the report pools
    printed = "".join(o.get("text", "") for o in outputs)
    assert "ρ(alpha, delta_loss)" in printed
    assert "held-out Shakespeare" in printed  # never random tokens by default
    assert "delta_loss" in text  # the per-block table
