"""The text pipeline the trainer and the analysis share: finding and reading text files, and
turning documents into token ids, so the analysis evaluates a model on exactly the kind of
stream it was trained on.

A document's ids are followed by `<|endoftext|>` (as the trainer, GPT-2 and Pythia concatenate
documents) whenever the tokenizer has that token; byte-level text is the UTF-8 bytes of the
documents joined. Errors are `TextError` with a one-line message; callers re-raise it as their
own error type (`CorpusError`, the analysis' `DataError`) with `raised_as`, naming their key or
flag.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

END_OF_TEXT = "<|endoftext|>"


class TextError(ValueError):
    """Text that cannot be found or read; the message names the path and why."""


@contextmanager
def raised_as(error: type[Exception], prefix: str = "") -> Iterator[None]:
    """Re-raise a `TextError` from the block as the caller's `error`, prefixed with its key."""
    try:
        yield
    except TextError as err:
        raise error(f"{prefix}{err}") from None


def find_text_files(path: str) -> list[Path]:
    """The UTF-8 files `path` names: one file, every `*.txt` under a directory, or a glob."""
    target = Path(path).expanduser()
    if target.is_file():
        return [target]
    if target.is_dir():
        files = sorted(target.rglob("*.txt"))
        if not files:
            raise TextError(f"{target} holds no *.txt files")
        return files
    files = sorted(Path(p) for p in glob.glob(str(target), recursive=True) if Path(p).is_file())
    if not files:
        raise TextError(f"{path} matches no files")
    return files


def read_text(path: Path) -> str:
    """The file's text, or a `TextError` saying why it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise TextError(f"{path} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise TextError(f"cannot read {path}: {err.strerror}") from None


def encode_documents(tokenizer: Any, documents: Sequence[str]) -> np.ndarray:
    """int32 ids of the documents, each followed by `<|endoftext|>` when the tokenizer (a
    `tokenizers.Tokenizer`) has it."""
    eot = tokenizer.token_to_id(END_OF_TEXT)
    parts: list[np.ndarray] = []
    for encoding in tokenizer.encode_batch(list(documents)):
        parts.append(np.asarray(encoding.ids, dtype=np.int32))
        if eot is not None:
            parts.append(np.asarray([eot], dtype=np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def encode_bytes(documents: Sequence[str]) -> np.ndarray:
    """The documents' UTF-8 bytes, joined, as int32 ids (a vocabulary of 256)."""
    joined = "".join(documents).encode("utf-8")
    return np.frombuffer(joined, dtype=np.uint8).astype(np.int32)
