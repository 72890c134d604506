"""Block ablations and residual-stream similarities, each from one compiled function.

`BlockEvaluator(model).losses(windows, masks)` returns the mean next-token loss of every window
under every block-skip mask (`bool[M, n_layers]`, True = skip that block: its residual branches
removed, the stream passed on unchanged). The masks are an input of a single jitted function
that scans over them (`jax.lax.map`, a chunk of `n_layers` masks per call, padded), so the L
single-block ablations, the greedy oracle's candidates and every pruning strategy's choice share
one compilation: nothing is rebuilt per layer. `cosines(windows)` returns, per window, the mean
over tokens of the cosine similarity between every pair of residual streams (block inputs and
the last block's output, before the final norm): ShortGPT's Block Influence and Gromov et al.'s
angular distance come from it.

`without_blocks(model, layers)` builds the model with those blocks deleted, the explicit
reference the ablations are tested against.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from spectral_jax.model import Transformer

DEFAULT_BATCH = 8


def _window_losses(model: Transformer, windows: jax.Array, skip: jax.Array | None) -> jax.Array:
    """Mean next-token cross-entropy of each window `int[B, T + 1]`: `[B]` float32."""
    logits = model(windows[:, :-1], skip=skip)
    targets = windows[:, 1:]
    picked = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return (jax.nn.logsumexp(logits, axis=-1) - picked).mean(-1)


def _mask_losses(graphdef: nnx.GraphDef, state: nnx.State, windows, masks) -> jax.Array:
    model = nnx.merge(graphdef, state)
    return jax.lax.map(lambda mask: _window_losses(model, windows, mask), masks)  # [C, B]


def _stream_cosines(graphdef: nnx.GraphDef, state: nnx.State, windows) -> jax.Array:
    model = nnx.merge(graphdef, state)
    streams = jnp.stack(model.residual_streams(windows[:, :-1])).astype(jnp.float32)
    norms = jnp.linalg.norm(streams, axis=-1, keepdims=True)
    unit = streams / jnp.maximum(norms, jnp.finfo(jnp.float32).tiny)
    cos = jnp.einsum("ibtd,jbtd->bij", unit, unit, precision=jax.lax.Precision.HIGHEST)
    return cos / streams.shape[2]  # [B, L + 1, L + 1], mean over tokens


class BlockEvaluator:
    """Losses under block-skip masks and stream cosines for one model (see module docstring).

    `batch_size` windows go through the model at a time (the logits of one batch are the
    memory peak); `progress` shows a bar on stderr for work longer than two seconds.
    """

    def __init__(
        self, model: Transformer, *, batch_size: int = DEFAULT_BATCH, progress: bool = True
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.n_layers = model.cfg.n_layers
        self.batch_size = batch_size
        self.progress = progress
        self.graphdef, self.state = nnx.split(model)
        self._losses = jax.jit(functools.partial(_mask_losses, self.graphdef))
        self._cosines = jax.jit(functools.partial(_stream_cosines, self.graphdef))

    def losses(
        self, windows: np.ndarray, masks: np.ndarray, *, desc: str = "ablations"
    ) -> np.ndarray:
        """`[M, n]` mean loss of each of the n windows under each of the M masks (float64)."""
        masks = np.asarray(masks, bool)
        if masks.ndim != 2 or masks.shape[1] != self.n_layers:
            raise ValueError(f"masks must be bool[M, {self.n_layers}], got shape {masks.shape}")
        chunk = self.n_layers
        padded = _pad_rows(masks, chunk)
        batches = list(self._batches(windows))
        out = np.empty((len(padded), len(windows)))
        with self._bar(len(padded) // chunk * len(batches), desc) as bar:
            for start in range(0, len(padded), chunk):
                for rows, batch in batches:
                    losses = self._losses(self.state, batch, padded[start : start + chunk])
                    out[start : start + chunk, rows] = np.asarray(losses)[:, : len(rows)]
                    bar.update()
        return out[: len(masks)]

    def cosines(self, windows: np.ndarray) -> np.ndarray:
        """`[n, L + 1, L + 1]` mean cosine between residual streams i and j, per window."""
        out = np.empty((len(windows), self.n_layers + 1, self.n_layers + 1))
        for rows, batch in self._batches(windows):
            out[rows] = np.asarray(self._cosines(self.state, batch))[: len(rows)]
        return out

    def _batches(self, windows: np.ndarray) -> Iterable[tuple[np.ndarray, jax.Array]]:
        windows = np.asarray(windows, np.int32)
        for start in range(0, len(windows), self.batch_size):
            rows = np.arange(start, min(start + self.batch_size, len(windows)))
            yield rows, jnp.asarray(_pad_rows(windows[rows], self.batch_size))

    def _bar(self, total: int, desc: str) -> tqdm:
        return tqdm(
            total=total,
            desc=desc,
            unit="batch",
            delay=2.0,  # only work longer than this shows a bar
            leave=False,
            file=sys.stderr,
            disable=not self.progress,
        )


def _pad_rows(array: np.ndarray, multiple: int) -> np.ndarray:
    """`array` with its first row repeated at the end up to a multiple of `multiple` rows (so
    every call has the same shape and reuses one compilation); extra results are dropped."""
    missing = -len(array) % multiple
    if not missing:
        return array
    return np.concatenate([array, np.repeat(array[:1], missing, axis=0)])


def single_skip_masks(n_layers: int) -> np.ndarray:
    """`bool[L, L]`: row l skips block l only."""
    return np.eye(n_layers, dtype=bool)


def mask_of(n_layers: int, layers: Iterable[int]) -> np.ndarray:
    """`bool[L]` skipping `layers`."""
    mask = np.zeros(n_layers, bool)
    mask[list(layers)] = True
    return mask


def without_blocks(model: Transformer, layers: Iterable[int]) -> Transformer:
    """A copy of `model` with the blocks `layers` deleted (its config's n_layers reduced)."""
    drop = set(layers)
    keep = [i for i in range(model.cfg.n_layers) if i not in drop]
    if not keep:
        raise ValueError("cannot delete every block")
    clone = nnx.clone(model)
    clone.blocks = nnx.List([clone.blocks[i] for i in keep])
    clone.cfg = model.cfg.model_copy(update={"n_layers": len(keep)})
    return clone


def sequence_losses(
    model: Transformer, windows: np.ndarray, batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """`[n]` mean loss of each window under `model` as it is (one compilation per model)."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state: nnx.State, batch: jax.Array) -> jax.Array:
        return _window_losses(nnx.merge(graphdef, state), batch, None)

    windows = np.asarray(windows, np.int32)
    out = []
    for start in range(0, len(windows), batch_size):
        batch = windows[start : start + batch_size]
        out.append(np.asarray(run(state, jnp.asarray(_pad_rows(batch, batch_size))))[: len(batch)])
    return np.concatenate(out).astype(np.float64)
