"""The grain input pipeline: shuffled token windows, sharded per process, resumable exactly.

Windows are non-overlapping runs of `seq_len + 1` tokens (inputs = w[:-1], targets = w[1:]).
Window indices are shuffled per epoch with the seed (grain `shuffle` then `repeat`), batched to
the global batch, and each process reads only its own rows of every global batch — so the union
over processes is exactly the single-process batch. The iterator's state is a small JSON dict.
"""

from __future__ import annotations

from typing import Any

import grain
import numpy as np

Batch = dict[str, np.ndarray]
_EPOCHS = 1 << 40  # windows served before the iterator ends: about 10^12


def _check(tokens: np.ndarray, seq_len: int, batch_size: int, process_count: int) -> int:
    if batch_size % process_count:
        raise ValueError(
            f"train.batch_size ({batch_size}) must be divisible by the process count "
            f"({process_count})"
        )
    n_windows = (len(tokens) - 1) // seq_len
    if n_windows < 1:
        raise ValueError(
            f"the corpus has {len(tokens)} tokens, too few for one window of "
            f"train.seq_len+1 = {seq_len + 1}"
        )
    return n_windows


def _read_windows(tokens: np.ndarray, starts: np.ndarray, seq_len: int) -> Batch:
    rows = np.stack([np.asarray(tokens[s : s + seq_len + 1], dtype=np.int32) for s in starts])
    return {"inputs": rows[:, :-1], "targets": rows[:, 1:]}


class TrainLoader:
    """Infinite iterator of training batches `{"inputs", "targets"}: int32[b, T]`."""

    def __init__(
        self,
        tokens: np.ndarray,
        seq_len: int,
        batch_size: int,
        seed: int,
        process_index: int = 0,
        process_count: int = 1,
    ) -> None:
        n_windows = _check(tokens, seq_len, batch_size, process_count)
        local = batch_size // process_count
        lo, hi = process_index * local, (process_index + 1) * local

        def read(indices: np.ndarray) -> Batch:
            return _read_windows(tokens, np.asarray(indices)[lo:hi] * seq_len, seq_len)

        dataset = (
            grain.MapDataset.range(n_windows)
            .shuffle(seed=seed)
            .repeat(_EPOCHS // n_windows)  # effectively endless (grain's len() must fit)
            .batch(batch_size)
            .map(read)
        )
        self._dataset = dataset.to_iter_dataset()
        self._iterator = iter(self._dataset)

    def __iter__(self) -> TrainLoader:
        return self

    def __next__(self) -> Batch:
        return next(self._iterator)

    def get_state(self) -> dict[str, Any]:
        return self._iterator.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self._iterator.set_state(state)


def validation_batches(
    tokens: np.ndarray,
    seq_len: int,
    batch_size: int,
    n_batches: int,
    process_index: int = 0,
    process_count: int = 1,
) -> list[Batch]:
    """Fixed validation batches of windows spread evenly over the validation tokens."""
    n_windows = _check(tokens, seq_len, batch_size, process_count)
    local = batch_size // process_count
    total = batch_size * n_batches
    window_ids = np.linspace(0, n_windows - 1, total).round().astype(np.int64)
    batches = []
    for b in range(n_batches):
        ids = window_ids[b * batch_size : (b + 1) * batch_size]
        ids = ids[process_index * local : (process_index + 1) * local]
        batches.append(_read_windows(tokens, ids * seq_len, seq_len))
    return batches
