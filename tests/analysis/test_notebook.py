"""notebooks/lifecycle.ipynb executes against a planted run (nbclient)."""

from __future__ import annotations

from pathlib import Path

from spectral_jax.synthetic_checkpoints import gpt2_config, write_checkpoint
from tests.helpers import execute_lifecycle_notebook


def test_lifecycle_notebook_executes(lifecycle_run: Path, tmp_path: Path) -> None:
    # The planted run holds spectra only; layer importance needs weights: a tiny GPT-2.
    model = write_checkpoint(tmp_path / "gpt2", gpt2_config(4, 32, 4, 64, 32))
    outputs = execute_lifecycle_notebook(lifecycle_run, model)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "compression wave" in text and "α depth profile" in text
    assert "ρ(alpha, delta_loss)" in "".join(o.get("text", "") for o in outputs)
    assert "delta_loss" in text  # the per-block table
