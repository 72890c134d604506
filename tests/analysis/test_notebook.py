"""notebooks/lifecycle.ipynb executes against a planted run (nbclient)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from spectral_jax.synthetic_checkpoints import gpt2_config, write_checkpoint

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "lifecycle.ipynb"


def test_lifecycle_notebook_executes(
    lifecycle_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECTRAL_RUN", str(lifecycle_run))
    # The planted run holds spectra only; layer importance needs weights: a tiny GPT-2.
    model = write_checkpoint(tmp_path / "gpt2", gpt2_config(4, 32, 4, 64, 32))
    monkeypatch.setenv("SPECTRAL_MODEL", str(model))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6
    text = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "compression wave" in text and "α depth profile" in text
    assert "ρ(alpha, delta_loss)" in "".join(o.get("text", "") for o in outputs)
    assert "delta_loss" in text  # the per-block table
