"""The trainer's BPE: GPT-2-style byte level, trained with `tokenizers` on the training split.
Encoding documents (with `<|endoftext|>` between them) or raw bytes is `spectral_jax.text`,
shared with the analysis."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from spectral_jax.text import END_OF_TEXT

__all__ = ["END_OF_TEXT", "MIN_BPE_VOCAB", "train_bpe"]

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
