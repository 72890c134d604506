"""The text pipeline shared by the trainer and the analysis (`spectral_jax.text`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from spectral_jax.text import (
    END_OF_TEXT,
    TextError,
    encode_bytes,
    encode_documents,
    find_text_files,
    raised_as,
    read_text,
)


def word_tokenizer(with_end_of_text: bool) -> Tokenizer:
    vocab = {"a": 0, "b": 1, "c": 2}
    if with_end_of_text:
        vocab[END_OF_TEXT] = 3
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="a"))
    tokenizer.pre_tokenizer = Whitespace()
    return tokenizer


def test_a_file_a_directory_and_a_glob(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/x.txt", "d/sub/y.txt", "d/notes.md"):
        (tmp_path / name).write_text(name)
    assert find_text_files(str(tmp_path / "d" / "x.txt")) == [tmp_path / "d" / "x.txt"]
    assert find_text_files(str(tmp_path / "d")) == [tmp_path / "d/sub/y.txt", tmp_path / "d/x.txt"]
    assert find_text_files(str(tmp_path / "d" / "*.md")) == [tmp_path / "d" / "notes.md"]
    with pytest.raises(TextError, match=r"matches no files$"):
        find_text_files(str(tmp_path / "nothing*"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextError, match=r"holds no \*\.txt files$"):
        find_text_files(str(tmp_path / "empty"))


def test_reading_names_the_file_and_the_byte(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(TextError, match=r"latin1.txt is not UTF-8 text \(byte 3\)"):
        read_text(bad)
    with pytest.raises(TextError, match="cannot read .*missing.txt"):
        read_text(tmp_path / "missing.txt")


def test_callers_see_their_own_error_type_prefixed_with_their_key(tmp_path: Path) -> None:
    """`raised_as` turns a TextError into the caller's error, with no chained traceback, and
    lets every other exception through unchanged."""

    class CallerError(ValueError):
        pass

    expected = r"^data.path .*nothing\* matches no files$"
    with pytest.raises(CallerError, match=expected) as caught, raised_as(CallerError, "data.path "):
        find_text_files(str(tmp_path / "nothing*"))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(KeyError), raised_as(CallerError):
        raise KeyError("not a text error")


def test_each_document_ends_with_end_of_text_when_the_tokenizer_has_it() -> None:
    docs = ["a b", "c"]
    np.testing.assert_array_equal(encode_documents(word_tokenizer(True), docs), [0, 1, 3, 2, 3])
    np.testing.assert_array_equal(encode_documents(word_tokenizer(False), docs), [0, 1, 2])
    assert encode_documents(word_tokenizer(True), docs).dtype == np.int32
    assert encode_documents(word_tokenizer(True), []).size == 0


def test_bytes_are_the_joined_utf8() -> None:
    ids = encode_bytes(["hé", "!"])
    assert ids.dtype == np.int32 and ids.tolist() == list("hé!".encode())
