"""A tiny trained model with planted identity blocks, for the importance and pruning tests.

Blocks `PLANTED` have their output projections (attention `o` and `mlp_out`, kernels and
biases) held at zero through training, so each is an exact identity: skipping it changes
nothing. The other blocks learn a first-order Markov chain (two likely successors per token),
so skipping any of them costs loss.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from analysis.importance.eval_data import EvalData, take_windows
from analysis.importance.scores import Setup, prepare
from spectral_jax.model import Transformer
from spectral_jax.model_config import ModelConfig

PLANTED = (1, 3)
CFG = ModelConfig(n_layers=5, d_model=32, n_heads=2, d_ff=64, vocab_size=32, max_seq_len=16)

# The documented leading columns of pruning.csv and PruningResult.table.
PRUNING_COLUMNS = ["strategy", "n_removed", "removed_layers", "loss", "perplexity"]


def markov_stream(n: int, vocab: int = 32, seed: int = 0) -> np.ndarray:
    """n ids of one fixed Markov chain in which each token has two successors (probabilities
    0.7 and 0.3); `seed` draws the path, not the chain."""
    successors = np.random.default_rng(1234).integers(0, vocab, size=(vocab, 2))
    choices = (np.random.default_rng(seed).random(n) > 0.7).astype(np.int64)
    out = np.empty(n, np.int64)
    token = 0
    for i in range(n):
        token = int(successors[token, choices[i]])
        out[i] = token
    return out


def write_tokens(path: Path, n: int = 20_000, seed: int = 1) -> Path:
    """The Markov chain as a nanoGPT-style uint16 `.bin` file."""
    markov_stream(n, CFG.vocab_size, seed).astype(np.uint16).tofile(path)
    return path


def zero_planted(model: Transformer, planted: tuple[int, ...] = PLANTED) -> None:
    """Make blocks `planted` exact identities (output projections and biases zero)."""
    for layer in planted:
        block = model.blocks[layer]
        for linear in (block.attn.o, block.mlp.mlp_out):
            linear.kernel.set_value(jnp.zeros_like(linear.kernel[...]))
            linear.bias.set_value(jnp.zeros_like(linear.bias[...]))


def trained_planted_model(steps: int = 150, seed: int = 0) -> Transformer:
    """`CFG` trained on the Markov chain with blocks `PLANTED` held at identity."""
    model = Transformer(CFG, rngs=nnx.Rngs(seed))
    zero_planted(model)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(3e-3)
    opt_state = tx.init(params)
    stream = markov_stream(steps * 16 * 17, CFG.vocab_size, seed)
    batches = stream.reshape(steps, 16, 17)

    @jax.jit
    def step(params, opt_state, batch):
        def loss_fn(params):
            logits = nnx.merge(graphdef, params, rest)(batch[:, :-1])
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        model = nnx.merge(graphdef, optax.apply_updates(params, updates), rest)
        zero_planted(model)
        return nnx.state(model, nnx.Param), opt_state

    for batch in batches:
        params, opt_state = step(params, opt_state, jnp.asarray(batch))
    return nnx.merge(graphdef, params, rest)


@functools.lru_cache(maxsize=1)
def planted_setup() -> Setup:
    """The trained planted model with 64 windows of 16 tokens of the chain (32 per half),
    prepared once per test process (the model is trained and the evaluator compiled once)."""
    windows = take_windows(markov_stream(64 * 17 * 2, CFG.vocab_size, seed=7), 64, 16)
    data = EvalData(windows[0::2], windows[1::2], {"data": "markov"})
    return prepare(trained_planted_model(), data=data, n_boot=200, progress=False)


def write_run_directory(run_dir: Path) -> Path:
    """A run directory as the trainer leaves it: resolved config.yaml, tokenizer.json and an
    Orbax checkpoint of the whole train state (params and AdamW moments), step 40."""
    from train.checkpoint import Checkpointer
    from train.config import save_config, validate
    from train.corpora import shakespeare_files
    from train.step import init_state
    from train.tokenizer import train_bpe

    model = {"n_layers": 3, "d_model": 32, "n_heads": 2, "d_ff": 64, "vocab_size": 300}
    tree = {"model": {**model, "max_seq_len": 32}, "train": {"seq_len": 32}}
    config = validate({**tree, "run": {"dir": str(run_dir)}})
    run_dir.mkdir(parents=True)
    save_config(config, run_dir / "config.yaml")
    text = shakespeare_files()[0].read_text(encoding="utf-8")[:200_000]
    train_bpe([text], 300).save(str(run_dir / "tokenizer.json"))
    _, params, _ = nnx.split(Transformer(config.model, rngs=nnx.Rngs(5)), nnx.Param, ...)
    with Checkpointer(run_dir / "checkpoints", keep=2, async_save=False) as checkpointer:
        checkpointer.save(40, init_state(params, optax.adamw(1e-3)), {"position": 0})
    return run_dir
