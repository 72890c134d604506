"""Tokenisers: byte-level BPE (trained with `tokenizers` on the training split) or raw bytes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

END_OF_TEXT = "<|endoftext|>"
MIN_BPE_VOCAB = 257  # 256 byte symbols + the end-of-text token


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A GPT-2-style byte-level BPE with `vocab_size` entries (incl. `<|endoftext|>` = 0)."""
    if vocab_size < MIN_BPE_VOCAB:
        raise ValueError(
            f"model.vocab_size={vocab_size} is too small for a BPE tokenizer (needs >= "
            f"{MIN_BPE_VOCAB}); raise it or use data.tokenizer=byte"
        )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def encode_documents(tokenizer: Tokenizer, documents: Sequence[str]) -> np.ndarray:
    """Concatenate documents' BPE ids, each followed by `<|endoftext|>`."""
    eot = tokenizer.token_to_id(END_OF_TEXT)
    parts: list[np.ndarray] = []
    for encoding in tokenizer.encode_batch(list(documents)):
        parts.append(np.asarray(encoding.ids, dtype=np.int32))
        parts.append(np.asarray([eot], dtype=np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def encode_bytes(documents: Sequence[str], vocab_size: int) -> np.ndarray:
    """Raw UTF-8 bytes as token ids (vocabulary 256)."""
    if vocab_size < 256:
        raise ValueError(f"data.tokenizer=byte needs model.vocab_size >= 256 (got {vocab_size})")
    joined = "".join(documents).encode("utf-8")
    return np.frombuffer(joined, dtype=np.uint8).astype(np.int32)
