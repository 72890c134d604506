"""`python -m analysis pretrained` and `python -m analysis series` end to end, on numpy-written
GPT-2 and GPT-NeoX checkpoints: run-shaped stores that load_run, the report and the notebook
read; resumable series; one-line errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from analysis.__main__ import main
from analysis.run import load_run
from spectral_jax.metrics import METRIC_NAMES
from spectral_jax.store import SpectraStore
from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint
from tests.analysis.importance.importance_planted import write_run_directory
from tests.helpers import execute_lifecycle_notebook

KINDS = ["k", "mlp_in", "mlp_out", "o", "q", "v"]
HEADS, D_MODEL = 4, 32


def neox(directory: Path, seed: int = 0) -> Path:
    return write_checkpoint(directory, neox_config(3, D_MODEL, HEADS, 64, 16), seed=seed)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("checkpoints")
    write_checkpoint(root / "tiny-gpt2", gpt2_config(2, D_MODEL, HEADS, 64, 16))
    neox(root / "tiny-neox")
    for step in (0, 1000, 2000):
        neox(root / "series" / f"step{step}", seed=step)
    (root / "series" / "notes").mkdir()  # not a checkpoint: ignored
    return root


def test_pretrained_writes_run_shaped_directories(
    checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sources = [str(checkpoints / "tiny-gpt2"), str(checkpoints / "tiny-neox")]
    assert main(["pretrained", *sources, "--out", str(tmp_path), "--method", "svd"]) == 0
    for name, family, layers in (("tiny-gpt2", "gpt2", 2), ("tiny-neox", "gpt_neox", 3)):
        run = load_run(tmp_path / name)
        assert run.n_layers == layers and list(run.steps) == [0]
        assert run.meta["model"]["family"] == family
        assert run.meta["source"]["source"] == str(checkpoints / name)
        assert run.meta["kinds"] == KINDS and run.meta["method"] == "svd"
        assert run.config["model"]["n_layers"] == layers
        table = pd.read_csv(tmp_path / name / "metrics.csv")
        assert list(table.columns[:4]) == ["source", "step", "layer", "kind"]
        assert set(METRIC_NAMES) <= set(table.columns) and len(table) == layers * len(KINDS)
        report = tmp_path / name / "report"
        for file in ("index.html", "depth.png", "esd.png", "summary.csv"):
            assert (report / file).stat().st_size > 0
        assert "tail" in (report / "index.html").read_text()
    # Rerunning does not probe again.
    capsys.readouterr()
    assert main(["pretrained", sources[1], "--out", str(tmp_path), "--no-report"]) == 0
    assert "not probed again" in capsys.readouterr().out


def test_stored_qkv_spectra_are_the_deinterleaved_matrices(
    checkpoints: Path, tmp_path: Path
) -> None:
    source = checkpoints / "tiny-neox"
    argv = ["pretrained", str(source), "--out", str(tmp_path), "--kinds", "q,k,v"]
    assert main([*argv, "--method", "svd"]) == 0
    store = SpectraStore(tmp_path / "tiny-neox" / "spectra")
    assert store.meta["kinds"] == ["k", "q", "v"]
    tensors = load_file(source / "model.safetensors")
    head_dim = D_MODEL // HEADS
    for j, kind in enumerate("qkv"):
        sigma = store.sigma(kind)[0]  # [layers, k]
        for layer in range(3):
            fused = tensors[f"gpt_neox.layers.{layer}.attention.query_key_value.weight"]
            rows = fused.astype(np.float64).reshape(HEADS, 3, head_dim, D_MODEL)[:, j]
            expected = np.linalg.svd(rows.reshape(D_MODEL, D_MODEL), compute_uv=False)
            # float32 SVD is backward stable: each σ is off by at most a few ε·σ1 (Weyl).
            np.testing.assert_allclose(sigma[layer], expected, rtol=0, atol=8e-7 * expected[0])


def test_series_is_one_store_resumable_and_reportable(
    checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    series, out = checkpoints / "series", tmp_path / "pythia"
    assert main(["series", str(series), "--out", str(out), "--revisions", "step0,step2000"]) == 0
    first = {s: (out / "spectra" / "steps" / str(s)).stat().st_mtime_ns for s in (0, 2000)}
    capsys.readouterr()
    assert main(["series", str(series), "--out", str(out)]) == 0  # picks up step1000 only
    printed = capsys.readouterr().out
    assert "2 of 3 steps already written" in printed and "step 1000 (step1000)" in printed
    assert "step 0 (" not in printed
    for step, mtime in first.items():
        assert (out / "spectra" / "steps" / str(step)).stat().st_mtime_ns == mtime
    run = load_run(out)
    assert list(run.steps) == [0, 1000, 2000] and run.n_layers == 3
    assert run.meta["source"] == {
        "source": str(series),
        "series": True,
        "family": "gpt_neox",
        "architecture": "GPT-NeoX / Pythia (GPTNeoXForCausalLM)",
    }
    # Each entry is its own checkpoint's spectrum.
    q = run.sigma("q")
    assert not np.allclose(q[0], q[1]) and not np.allclose(q[1], q[2])
    assert main(["report", str(out), "--n-boot", "50"]) == 0
    assert (out / "report" / "index.html").is_file()
    assert len(pd.read_csv(out / "metrics.csv")) == 3 * 3 * len(KINDS)


def test_notebook_reads_a_series(checkpoints: Path, tmp_path: Path) -> None:
    out = tmp_path / "series"
    assert main(["series", str(checkpoints / "series"), "--out", str(out)]) == 0
    # The synthetic checkpoints carry no tokenizer, which held-out text needs: a trained run's.
    execute_lifecycle_notebook(out, write_run_directory(tmp_path / "model"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pretrained", "{root}/nowhere/x"], "no checkpoint directory"),
        (["pretrained", "{root}/tiny-gpt2", "--kinds", "q,mlp_gate"], "no 'mlp_gate' matrices"),
        (["pretrained", "{root}/tiny-gpt2", "{root}/tiny-gpt2"], "would both write"),
        (["series", "{root}/tiny-neox"], "holds no checkpoint subdirectories"),
        (["series", "{root}/series", "--revisions", "step5"], "no checkpoint subdirectory 'step5'"),
        (["series", "acme/pythia-x"], "needs --revisions"),
        (["series", "acme/pythia-x", "--revisions", "main"], "revision 'main' names no step"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture, argv: list, message: str
) -> None:
    argv = [a.format(root=checkpoints) for a in argv]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_series_refuses_a_training_run_and_a_changed_architecture(
    checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    assert main(["series", str(tmp_path / "run"), "--out", str(tmp_path / "a")]) == 2
    assert "is a spectral-jax run" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    neox(mixed / "step0")
    write_checkpoint(mixed / "step10", neox_config(4, D_MODEL, HEADS, 64, 16))
    assert main(["series", str(mixed), "--out", str(tmp_path / "b")]) == 2
    assert "step10 of" in capsys.readouterr().err
    assert list(load_run(tmp_path / "b").steps) == [0]  # what was done before it stays
