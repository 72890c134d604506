"""`python -m analysis importance|prune` end to end: a numpy-written GPT-2 and GPT-NeoX checkpoint,
a run directory holding the trainer's own Orbax checkpoint and BPE tokenizer (and, slow, a real
short training run); the evaluation data specs; one-line errors with exit 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flax import nnx

from analysis.__main__ import main
from analysis.importance.eval_data import DataError, load_eval_data, take_windows
from analysis.importance.model_source import SourceError, load_source
from spectral_jax.model import Transformer
from spectral_jax.synthetic_checkpoints import gpt2_config, neox_config, write_checkpoint
from tests.analysis.importance.importance_planted import (
    PRUNING_COLUMNS,
    write_run_directory,
    write_tokens,
)
from tests.helpers import REPO, damage_binary_files

KINDS = ("q", "k", "v", "o", "mlp_in", "mlp_out")
IMPORTANCE_COLUMNS = ["layer", "delta_loss", "block_influence", "angular_distance", "alpha"]
FAST = ["--tokens", "512", "--seq-len", "16", "--n-boot", "100", "--quiet"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {
        "gpt2": write_checkpoint(root / "gpt2", gpt2_config(4, 32, 4, 64, 16)),
        "neox": write_checkpoint(root / "neox", neox_config(4, 32, 4, 64, 16)),
        "tokens": write_tokens(root / "markov.bin"),
        "run": write_run_directory(root / "run"),
    }


def test_importance_on_a_gpt2_checkpoint(sources: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert (
        main(["importance", str(sources["gpt2"]), "--out", str(out), "--data", "synthetic", *FAST])
        == 0
    )
    assert "ρ(alpha, delta_loss)" in capsys.readouterr().out
    table = pd.read_csv(out / "importance.csv")
    assert list(table.columns[:6]) == [*IMPORTANCE_COLUMNS, "stable_rank"]
    assert {f"alpha_{k}" for k in KINDS} <= set(table.columns)
    assert table["layer"].tolist() == [0, 1, 2, 3] and table.notna().all().all()
    document = json.loads((out / "importance.json").read_text())
    assert document["source"]["kind"] == "pretrained" and document["source"]["family"] == "gpt2"
    assert document["data"] == {
        "data": "synthetic", "description": "random tokens (nothing a model could have learned: a smoke test)", "tokens": 512, "seq_len": 16, "sequences": 32,
        "stream_tokens": 32 * 17, "seed": 0,
    }  # fmt: skip
    alpha = document["correlations"]["alpha"]
    assert {"rho", "p", "p_holm", "ci_lo", "ci_hi", "sign", "decision"} <= set(alpha)
    assert alpha["decision"].startswith("refused")  # 4 layers: the smallest p is 2/24
    assert (out / "importance.png").stat().st_size > 0


def test_prune_on_a_neox_checkpoint_with_token_file(sources: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = f"tokens:{sources['tokens']}"
    args = ["prune", str(sources["neox"]), "--out", str(out), "--data", data, "--max-remove", "2"]
    assert main([*args, *FAST]) == 0
    table = pd.read_csv(out / "pruning.csv", keep_default_na=False)
    assert list(table.columns[:5]) == PRUNING_COLUMNS
    assert len(table) == 1 + 8 * 2  # the full model, 8 strategies x n = 1, 2
    last = table[(table.strategy == "last_n") & (table.n_removed == 2)].iloc[0]
    assert last["removed_layers"] == "1,2"
    chosen = table[table.strategy != "random"]  # random: the mean of its draws' perplexities
    np.testing.assert_allclose(chosen["perplexity"], np.exp(chosen["loss"]), rtol=1e-12)
    random = table[table.strategy == "random"]
    assert (random["perplexity"] >= np.exp(random["loss"])).all()  # Jensen
    document = json.loads((out / "pruning.json").read_text())
    assert document["source"]["family"] == "gpt_neox" and document["settings"]["max_remove"] == 2
    assert document["directions"]["spectral"]["prune_first"] in {"lowest", "highest"}
    assert [h["n_removed"] for h in document["headline"]] == [1, 2]
    assert (out / "pruning.png").stat().st_size > 0


def test_prune_on_a_run_directory_with_its_tokenizer(sources: dict, tmp_path: Path) -> None:
    source = load_source(sources["run"])
    assert source.info["step"] == 40 and source.tokenizer is not None
    data = load_eval_data(source, "shakespeare", tokens=1024, seq_len=32)
    assert data.calibration.shape == data.evaluation.shape == (16, 33)
    assert data.info["stream_tokens"] > 1024  # the held-out tails of every play, BPE-encoded
    out = tmp_path / "out"
    argv = ["prune", str(sources["run"]), "--out", str(out), "--tokens", "1024", "--quiet"]
    strategies = "last_n,block_influence,angular,oracle_best"  # no spectrum needed: no probe
    assert main([*argv, "--strategies", strategies, "--max-remove", "2"]) == 0
    document = json.loads((out / "pruning.json").read_text())
    assert document["source"]["kind"] == "run" and document["source"]["step"] == 40
    assert document["data"]["data"] == "shakespeare" and document["data"]["seq_len"] == 32
    assert document["calibration"]["alpha"] is None and document["directions"] == {}
    table = pd.read_csv(out / "pruning.csv")
    assert set(table["strategy"]) == {"none", *strategies.split(",")}


def test_evaluation_windows_are_even_disjoint_and_alternate() -> None:
    stream = np.arange(1000)
    windows = take_windows(stream, 6, 9)
    starts = windows[:, 0]
    assert windows.shape == (6, 10) and starts[0] == 0 and windows[-1, -1] == 999
    assert (np.diff(starts) >= 10).all()  # no token in two windows
    assert (windows == starts[:, None] + np.arange(10)).all()
    with pytest.raises(DataError, match="fewer than the 600"):
        take_windows(np.arange(599), 6, 99)


def test_evaluation_data_specs(sources: dict, tmp_path: Path) -> None:
    source = load_source(Transformer(_tiny_cfg(), rngs=nnx.Rngs(0)))
    synthetic = load_eval_data(source, "synthetic", tokens=256, seq_len=16, seed=3)
    again = load_eval_data(source, "synthetic", tokens=256, seq_len=16, seed=3)
    assert np.array_equal(synthetic.calibration, again.calibration)
    assert synthetic.calibration.shape == (8, 17) and synthetic.evaluation.shape == (8, 17)
    assert not np.array_equal(synthetic.calibration, synthetic.evaluation)
    tokens = load_eval_data(source, f"tokens:{sources['tokens']}", tokens=256, seq_len=16)
    stream = np.fromfile(sources["tokens"], np.uint16)
    windows = take_windows(stream, 16, 16)
    assert np.array_equal(tokens.calibration, windows[0::2])
    assert np.array_equal(tokens.evaluation, windows[1::2])
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be " * 100)
    with pytest.raises(DataError, match="needs the model's tokenizer"):
        load_eval_data(source, f"text:{text}", tokens=256, seq_len=16)
    for spec, message in (
        ("bogus", "is not one of"),
        ("text:", "is not one of"),
        (f"tokens:{tmp_path / 'none.bin'}", "no such file"),
        (f"text:{tmp_path / 'none*.txt'}", r"^--data text:.*none\*\.txt: .*matches no files$"),
    ):
        with pytest.raises(DataError, match=message):
            load_eval_data(source, spec, tokens=256, seq_len=16)
    with pytest.raises(DataError, match="exceeds the model's max_seq_len 16"):
        load_eval_data(source, "synthetic", seq_len=17)
    with pytest.raises(DataError, match="at least 4"):
        load_eval_data(source, "synthetic", tokens=48, seq_len=16)


def test_token_ids_beyond_the_vocabulary_are_refused(tmp_path: Path) -> None:
    source = load_source(Transformer(_tiny_cfg(vocab_size=16), rngs=nnx.Rngs(0)))
    big = tmp_path / "big.bin"
    np.full(2000, 20, np.uint16).tofile(big)
    with pytest.raises(DataError, match="token id 20, beyond the model's vocabulary"):
        load_eval_data(source, f"tokens:{big}", tokens=256, seq_len=16)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["importance", "{missing}"], "no checkpoint directory"),
        (["importance", "{gpt2}", "--data", "bogus"], "--data 'bogus' is not one of"),
        (["importance", "{gpt2}"], "needs the model's tokenizer"),  # default: shakespeare
        (["importance", "{gpt2}", "--data", "synthetic", "--seq-len", "64"], "max_seq_len 16"),
        (["importance", "{gpt2}", "--data", "synthetic", "--tokens", "10"], "at least 4"),
        (["importance", "{gpt2}", "--step", "3"], "--step applies to run directories"),
        (["importance", "{run}", "--step", "3"], "no checkpoint at step 3"),
        (["importance", "{empty_run}"], "holds no checkpoints"),
        (["importance", "{spectra_only}"], "holds the spectra of a pretrained checkpoint"),
        (["prune", "{gpt2}", "--strategies", "spectral,bogus"], "unknown strategy 'bogus'"),
        (
            ["prune", "{gpt2}", "--data", "synthetic", "--max-remove", "4"],
            "max-remove must be 1 to 3",
        ),
        (["prune", "{gpt2}", "--random-draws", "3"], "random-draws must be at least 20"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    sources: dict, tmp_path: Path, capsys, argv, message
) -> None:
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (empty / "config.yaml").write_text((sources["run"] / "config.yaml").read_text())
    spectra_only = tmp_path / "spectra_only"  # what `analysis pretrained` writes
    spectra_only.mkdir()
    model = "model: {n_layers: 2, d_model: 32, n_heads: 2}\n"
    (spectra_only / "config.yaml").write_text(model + "pretrained: {source: gpt2}\n")
    paths = {**sources, "missing": tmp_path / "nowhere", "empty_run": empty}
    paths["spectra_only"] = spectra_only
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    assert main([*argv, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def _tiny_cfg(**extra):
    from spectral_jax.model_config import ModelConfig

    sizes = {"n_layers": 2, "d_model": 32, "n_heads": 2, "d_ff": 64, "vocab_size": 64}
    return ModelConfig(**{**sizes, "max_seq_len": 16, **extra})


@pytest.mark.slow
def test_importance_and_prune_on_a_real_short_training_run(tmp_path: Path) -> None:
    """Train a 4-layer model on the embedded Shakespeare with its BPE, then run both commands."""
    run_dir = tmp_path / "run"
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    overrides = [
        "model.n_layers=4", "model.d_model=32", "model.n_heads=2", "model.d_ff=64",
        "model.vocab_size=320", "model.max_seq_len=32", "train.batch_size=8",
        "train.seq_len=32", "train.steps=60", "train.checkpoint_every=60", "train.eval_every=0",
        "train.progress=false", "spectral.every=0", "optim.warmup_steps=5",
    ]  # fmt: skip
    trained = subprocess.run(
        [sys.executable, "-m", "train", "--config", "configs/demo.yaml", f"run.dir={run_dir}",
         *overrides],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    for command, file in (("importance", "importance.csv"), ("prune", "pruning.csv")):
        done = subprocess.run(
            [sys.executable, "-m", "analysis", command, str(run_dir), "--out", str(tmp_path / command),
             "--tokens", "2048", "--n-boot", "200"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        table = pd.read_csv(tmp_path / command / file)
        assert len(table) and np.isfinite(table.select_dtypes("number").to_numpy(float)).any()
    importance = json.loads((tmp_path / "importance" / "importance.json").read_text())
    assert importance["source"]["step"] == 60 and importance["data"]["data"] == "shakespeare"
    full = json.loads((tmp_path / "prune" / "pruning.json").read_text())["full_loss"]
    assert math.isfinite(full) and full < math.log(320)  # the run learned something


def test_run_source_reads_only_the_params_and_checks_them(sources: dict, tmp_path: Path) -> None:
    source = load_source(sources["run"])
    assert source.cfg.n_layers == 3 and source.name == "run" and not source.byte_level
    expected = Transformer(source.cfg, rngs=nnx.Rngs(5))  # the checkpoint holds this init
    tokens = np.arange(32)[None] % 300
    assert np.array_equal(np.asarray(source.model(tokens)), np.asarray(expected(tokens)))
    with pytest.raises(SourceError, match="--revision applies to pretrained"):
        load_source(sources["run"], revision="main")
    other = tmp_path / "other"
    other.mkdir()
    config = (sources["run"] / "config.yaml").read_text().replace("d_ff: 64", "d_ff: 96")
    (other / "config.yaml").write_text(config)
    (other / "checkpoints").symlink_to(sources["run"] / "checkpoints")
    with pytest.raises(
        SourceError, match=r"mlp_in.bias has shape \[64\], config.yaml implies \[96\]"
    ):
        load_source(other)


def test_text_is_tokenised_with_the_checkpoints_tokenizer(tmp_path: Path) -> None:
    from train.tokenizer import END_OF_TEXT, train_bpe

    directory = write_checkpoint(tmp_path / "ckpt", gpt2_config(2, 32, 4, 300, 16))
    lines = [f"line {i}: the quality of mercy is not strained\n" for i in range(400)]
    tokenizer = train_bpe(lines, 300)
    tokenizer.save(str(directory / "tokenizer.json"))
    text = tmp_path / "t.txt"
    text.write_text("".join(lines))
    data = load_eval_data(load_source(directory), f"text:{text}", tokens=256, seq_len=16)
    stream = [*tokenizer.encode("".join(lines)).ids, tokenizer.token_to_id(END_OF_TEXT)]
    windows = take_windows(np.array(stream), 16, 16)
    assert np.array_equal(data.calibration, windows[0::2])
    assert np.array_equal(data.evaluation, windows[1::2])
    empty = tmp_path / "empty.bin"
    empty.touch()
    with pytest.raises(DataError, match="empty or odd-sized"):
        load_eval_data(load_source(directory), f"tokens:{empty}", tokens=256, seq_len=16)


def test_shakespeare_held_out_tails_are_the_trainers_validation_split() -> None:
    from analysis.importance.eval_data import _held_out, shakespeare_files
    from train.corpora import split_document

    files = shakespeare_files()
    texts = [f.read_text(encoding="utf-8") for f in files]
    expected = [split_document(text, 0.05)[1] for text in texts]
    assert _held_out(files, 0.05) == expected
    tricky = ["\nonly one line after a leading break", "no break at all"]  # cut at index 0
    for text in tricky:
        assert _held_out_text(text, 0.3) == split_document(text, 0.3)[1]


def _held_out_text(text: str, fraction: float) -> str:
    import tempfile

    from analysis.importance.eval_data import _held_out

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "doc.txt"
        path.write_text(text, encoding="utf-8")
        return _held_out([path], fraction)[0]


def test_a_damaged_checkpoint_is_one_line(tmp_path: Path) -> None:
    """Only the binary OCDBT files damaged (the JSON metadata reads): exit 2 with one line naming
    the checkpoint, none of the asyncio tracebacks Orbax's failed reads used to print."""
    run_dir = write_run_directory(tmp_path / "run")
    damage_binary_files(run_dir / "checkpoints" / "40")
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "importance", str(run_dir), "--out", str(tmp_path / "o"),
         "--data", "synthetic", *FAST],
        cwd=REPO, env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert any("cannot restore checkpoint" in line and "40" in line for line in lines), lines
    assert len(lines) <= 3, lines
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr
