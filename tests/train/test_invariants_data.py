"""Data invariants no other test pins: a document split partitions the text by lines, and the
validation batches of every process together are the single-process batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from train.config import DataConfig
from train.corpora import load_corpus, split_document
from train.data import validation_batches

TOKENS = (np.arange(20_000, dtype=np.int64) * 7919 % 1009).astype(np.int32)


def numbered_document(doc: int, lines: int, rng: np.random.Generator) -> str:
    """Lines that are all distinct (numbered), of varying length."""
    words = ["alpha", "beta", "gamma", "delta"]
    return "".join(
        f"doc{doc} line{i} {' '.join(rng.choice(words, rng.integers(1, 9)))}\n"
        for i in range(lines)
    )


@pytest.mark.parametrize("val_fraction", [0.05, 0.2, 0.45])
def test_document_split_partitions_the_text_by_lines(tmp_path: Path, val_fraction: float) -> None:
    """Each document's training part is a prefix of whole lines and its validation part the rest:
    together exactly the document, no line in both, the validation share near val_fraction; the
    byte-tokenised corpus holds exactly those parts, document by document."""
    rng = np.random.default_rng(11)
    docs = [numbered_document(d, n, rng) for d, n in enumerate((300, 120, 41))]
    for doc in docs:
        train, val = split_document(doc, val_fraction)
        assert train + val == doc
        assert train.endswith("\n") and val
        train_lines, val_lines = train.splitlines(), val.splitlines()
        assert not set(train_lines) & set(val_lines)
        assert len(val) / len(doc) == pytest.approx(val_fraction, abs=0.05)

    folder = tmp_path / "docs"
    folder.mkdir()
    for d, doc in enumerate(docs):
        (folder / f"d{d}.txt").write_text(doc)
    cfg = DataConfig(
        corpus="text",
        path=str(folder),
        tokenizer="byte",
        val_fraction=val_fraction,
        cache_dir=str(tmp_path / "cache"),
    )
    corpus = load_corpus(cfg, 256)
    train_text = corpus.train.astype(np.uint8).tobytes().decode()
    val_text = corpus.val.astype(np.uint8).tobytes().decode()
    parts = [split_document(doc, val_fraction) for doc in docs]
    assert train_text == "".join(train for train, _ in parts)
    assert val_text == "".join(val for _, val in parts)
    train_lines, val_lines = set(train_text.splitlines()), set(val_text.splitlines())
    assert not train_lines & val_lines
    assert train_lines | val_lines == {line for doc in docs for line in doc.splitlines()}
    for d in range(len(docs)):  # every document gives to both parts
        assert any(line.startswith(f"doc{d} ") for line in val_lines)
        assert any(line.startswith(f"doc{d} ") for line in train_lines)


def test_split_document_cuts_after_the_last_line_break_before_the_cut() -> None:
    text = "first line\nsecond line\nthird line\n"
    assert split_document(text, 0.3) == ("first line\nsecond line\n", "third line\n")


def test_a_document_opening_with_a_blank_line_is_still_cut_at_a_line_break() -> None:
    text = "\n" + "word " * 40 + "\n"
    train, val = split_document(text, 0.2)
    assert train + val == text
    assert train.endswith("\n")  # no line in both parts


@pytest.mark.parametrize("processes", [2, 4])
def test_validation_shards_union_to_the_single_process_batches(processes: int) -> None:
    """Process p evaluates rows p·b/P..(p+1)·b/P of every global validation batch: the shards,
    stacked in process order, are exactly the batches one process evaluates."""
    whole = validation_batches(TOKENS, 16, 8, 3)
    shards = [
        validation_batches(TOKENS, 16, 8, 3, process_index=p, process_count=processes)
        for p in range(processes)
    ]
    for b, batch in enumerate(whole):
        for key in ("inputs", "targets"):
            assert all(s[b][key].shape == (8 // processes, 16) for s in shards)
            stacked = np.concatenate([s[b][key] for s in shards])
            np.testing.assert_array_equal(stacked, batch[key])
    with pytest.raises(ValueError, match="divisible by the process count"):
        validation_batches(TOKENS, 16, 8, 3, process_count=3)
