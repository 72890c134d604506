"""A decoder-only transformer in Flax NNX, written so every weight matrix is visible to the probe.

Pre-norm GPT (nanoGPT-like): token embedding (+ learned positions, or rotary in attention),
`n_layers` blocks of causal self-attention and an MLP (sequential or parallel residual), a final
norm, and an (optionally tied) unembedding. The options cover GPT-2 and GPT-NeoX/Pythia exactly
(`spectral_jax.pretrained` loads their checkpoints). Q, K, V and O are separate `nnx.Linear`
layers, so each is one matrix of the `(layer, kind)` naming (`spectral_jax.matrices`); blocks are
a plain Python loop, not a scan, so every layer's matrices stay separate parameters.

Use with a pure jitted step: `graphdef, params, rest = nnx.split(model, nnx.Param, ...)` once,
then `nnx.merge(graphdef, params, rest)(tokens)` inside `jax.jit`. The model holds no RNG state
(`rest` is empty); dropout keys are passed per call (`rngs=nnx.Rngs(dropout=key)`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator

import jax
import jax.numpy as jnp
from flax import nnx

from spectral_jax.model_config import ModelConfig


def _linear(cfg: ModelConfig, d_in: int, d_out: int, std: float, rngs: nnx.Rngs) -> nnx.Linear:
    return nnx.Linear(
        d_in,
        d_out,
        use_bias=cfg.use_bias,
        kernel_init=nnx.initializers.normal(std),
        bias_init=nnx.initializers.zeros_init(),
        dtype=jnp.dtype(cfg.dtype),
        param_dtype=jnp.dtype(cfg.param_dtype),
        rngs=rngs,
    )


def _norm(cfg: ModelConfig, rngs: nnx.Rngs) -> nnx.LayerNorm | nnx.RMSNorm:
    kwargs = {
        "epsilon": cfg.norm_eps,
        "dtype": jnp.dtype(cfg.dtype),
        "param_dtype": jnp.dtype(cfg.param_dtype),
        "rngs": rngs,
    }
    if cfg.norm == "rmsnorm":
        return nnx.RMSNorm(cfg.d_model, **kwargs)
    return nnx.LayerNorm(cfg.d_model, use_bias=cfg.use_bias, **kwargs)


def rotary(
    x: jax.Array, positions: jax.Array, *, base: float = 10_000.0, dims: int | None = None
) -> jax.Array:
    """Rotary position embedding (RoFormer, GPT-NeoX rotate-half layout) on `x[B, T, H, D]`.

    Rotates the first `dims` (default all D) of each head, pairing dim i with i + dims/2, at
    frequencies base^(−2i/dims); the remaining dims pass through (GPT-NeoX `rotary_pct`).
    Computed in float32 and cast back, so bfloat16 activations keep exact relative angles.
    """
    dims = x.shape[-1] if dims is None else dims
    half = dims // 2
    freqs = 1.0 / (base ** (jnp.arange(half, dtype=jnp.float32) / half))
    angles = positions[:, None].astype(jnp.float32) * freqs[None, :]  # [T, half]
    sin, cos = jnp.sin(angles)[None, :, None, :], jnp.cos(angles)[None, :, None, :]
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:dims].astype(jnp.float32)
    out = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).astype(x.dtype)
    return out if dims == x.shape[-1] else jnp.concatenate([out, x[..., dims:]], axis=-1)


class Attention(nnx.Module):
    """Causal multi-head self-attention with separate Q, K, V, O parameters.

    Q, K and V stay separate matrices (each is probed on its own), but the forward pass
    multiplies by their concatenation: one [d, 3·inner] product instead of three is ~12% of
    the demo's train step on a CPU (bench/vs_pytorch.py). Scores and softmax are float32 even
    for bfloat16 inputs; masked scores get the dtype's lowest value, not −inf, so a fully
    masked row cannot make NaN.
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs) -> None:
        inner = cfg.n_heads * cfg.head_dim
        out_std = cfg.init_std / math.sqrt(2 * cfg.n_layers)  # GPT-2: residual projections
        self.q = _linear(cfg, cfg.d_model, inner, cfg.init_std, rngs)
        self.k = _linear(cfg, cfg.d_model, inner, cfg.init_std, rngs)
        self.v = _linear(cfg, cfg.d_model, inner, cfg.init_std, rngs)
        self.o = _linear(cfg, inner, cfg.d_model, out_std, rngs)
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.use_rotary = cfg.positions == "rotary"
        self.rotary_base, self.rotary_dims = cfg.rotary_base, cfg.rotary_dims

    def __call__(self, x: jax.Array) -> jax.Array:
        b, t, _ = x.shape
        q, k, v = self._qkv(x)  # [B, T, H, D] each
        if self.use_rotary:
            positions = jnp.arange(t)
            q, k = (
                rotary(a, positions, base=self.rotary_base, dims=self.rotary_dims) for a in (q, k)
            )
        scale = 1.0 / math.sqrt(self.head_dim)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) * scale
        causal = jnp.tril(jnp.ones((t, t), dtype=bool))
        scores = jnp.where(causal, scores, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
        return self.o(out.reshape(b, t, -1))

    def _qkv(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """q, k, v `[B, T, H, D]` by one product with the concatenated kernels (as
        `nnx.Linear` would compute each: inputs, kernel and bias promoted to its dtype)."""
        projections = (self.q, self.k, self.v)
        kernel = jnp.concatenate([p.kernel[...] for p in projections], axis=1)
        bias = (
            jnp.concatenate([p.bias[...] for p in projections]) if self.q.bias is not None else None
        )
        x, kernel, bias = self.q.promote_dtype((x, kernel, bias), dtype=self.q.dtype)
        qkv = jnp.einsum("btd,de->bte", x, kernel, precision=self.q.precision)
        if bias is not None:
            qkv = qkv + bias
        b, t, _ = x.shape
        qkv = qkv.reshape(b, t, 3, self.n_heads, self.head_dim)
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]


class MLP(nnx.Module):
    """GELU MLP (mlp_in → gelu → mlp_out; tanh approximation or exact erf, per
    `model.activation`), or SwiGLU with an extra `mlp_gate` matrix."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs) -> None:
        out_std = cfg.init_std / math.sqrt(2 * cfg.n_layers)
        self.mlp_in = _linear(cfg, cfg.d_model, cfg.d_ff, cfg.init_std, rngs)
        self.mlp_gate = (
            _linear(cfg, cfg.d_model, cfg.d_ff, cfg.init_std, rngs) if cfg.mlp == "swiglu" else None
        )
        self.mlp_out = _linear(cfg, cfg.d_ff, cfg.d_model, out_std, rngs)
        self.exact_gelu = cfg.activation == "gelu"

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.mlp_gate is None:
            hidden = jax.nn.gelu(self.mlp_in(x), approximate=not self.exact_gelu)
        else:
            hidden = jax.nn.silu(self.mlp_gate(x)) * self.mlp_in(x)
        return self.mlp_out(hidden)


class Block(nnx.Module):
    """Pre-norm residual block: x + drop(attn(norm(x))), then x + drop(mlp(norm(x))); with
    `model.parallel_residual`, x + drop(attn(norm_attn(x))) + drop(mlp(norm_mlp(x)))."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs) -> None:
        self.norm_attn = _norm(cfg, rngs)
        self.attn = Attention(cfg, rngs=rngs)
        self.norm_mlp = _norm(cfg, rngs)
        self.mlp = MLP(cfg, rngs=rngs)
        self.dropout = nnx.Dropout(cfg.dropout)
        self.parallel_residual = cfg.parallel_residual

    def __call__(self, x: jax.Array, deterministic: bool, rngs: nnx.Rngs | None) -> jax.Array:
        if self.parallel_residual:
            attn = self.dropout(
                self.attn(self.norm_attn(x)), deterministic=deterministic, rngs=rngs
            )
            mlp = self.dropout(self.mlp(self.norm_mlp(x)), deterministic=deterministic, rngs=rngs)
            return x + attn + mlp
        x = x + self.dropout(self.attn(self.norm_attn(x)), deterministic=deterministic, rngs=rngs)
        return x + self.dropout(self.mlp(self.norm_mlp(x)), deterministic=deterministic, rngs=rngs)


class Transformer(nnx.Module):
    """Decoder-only language model; `model(tokens[B, T]) -> float32 logits[B, T, vocab]`."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg  # static (frozen, hashable): lives in the graphdef
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        init = nnx.initializers.normal(cfg.init_std)

        def table(rows: int) -> nnx.Embed:
            return nnx.Embed(
                rows,
                cfg.d_model,
                embedding_init=init,
                dtype=dtype,
                param_dtype=param_dtype,
                rngs=rngs,
            )

        self.embed = table(cfg.vocab_size)
        self.pos_embed = table(cfg.max_seq_len) if cfg.positions == "learned" else None
        # flax 0.12: a plain list of Modules is refused as a static attribute; nnx.List is data.
        self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.n_layers)])
        self.norm_out = _norm(cfg, rngs)
        self.unembed = (
            None
            if cfg.tied_embeddings
            else nnx.Linear(
                cfg.d_model,
                cfg.vocab_size,
                use_bias=False,
                kernel_init=init,
                dtype=dtype,
                param_dtype=param_dtype,
                rngs=rngs,
            )
        )
        self.dropout = nnx.Dropout(cfg.dropout)

    def __call__(
        self,
        tokens: jax.Array,
        *,
        deterministic: bool = True,
        rngs: nnx.Rngs | jax.Array | None = None,
        skip: jax.Array | None = None,
    ) -> jax.Array:
        """Logits for every position. Dropout (if `model.dropout > 0`) acts only when
        `deterministic=False`, drawing keys from `rngs` (an `nnx.Rngs` with a `dropout`
        stream, or a key array); the model itself holds no RNG state.

        `skip`: optional bool[n_layers]; where True, that block is skipped (its residual
        branches removed, the stream passed on unchanged). A traced array, so one compiled
        function serves every ablation (layer importance, pruning); None computes as before.
        """
        last = deque(self._streams(tokens, deterministic, rngs, skip), maxlen=1)  # one kept
        return self.head(last.pop())

    def residual_streams(self, tokens: jax.Array, *, skip: jax.Array | None = None) -> list:
        """The residual stream entering every block and leaving the last one (before the
        final norm): n_layers + 1 arrays `[B, T, d_model]`, deterministic."""
        return list(self._streams(tokens, True, None, skip))

    def head(self, x: jax.Array) -> jax.Array:
        """Final norm and unembedding of a residual stream `x[B, T, d_model]`: float32 logits."""
        x = self.norm_out(x)
        logits = self.embed.attend(x) if self.unembed is None else self.unembed(x)
        return logits.astype(jnp.float32)

    def _streams(
        self,
        tokens: jax.Array,
        deterministic: bool,
        rngs: nnx.Rngs | jax.Array | None,
        skip: jax.Array | None,
    ) -> Iterator[jax.Array]:
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be int[batch, seq], got shape {tokens.shape}")
        t, max_t = tokens.shape[1], self.cfg.max_seq_len
        if t > max_t:
            raise ValueError(f"sequence length {t} exceeds model.max_seq_len {max_t}")
        if skip is not None and jnp.shape(skip) != (self.cfg.n_layers,):
            raise ValueError(
                f"skip must be bool[{self.cfg.n_layers}] (one per block), got shape "
                f"{jnp.shape(skip)}"
            )
        if isinstance(rngs, jax.Array):
            rngs = nnx.Rngs(dropout=rngs)
        if not deterministic and self.cfg.dropout > 0 and rngs is None:
            raise ValueError("dropout with deterministic=False needs rngs=nnx.Rngs(dropout=key)")
        x = self.embed(tokens)
        if self.pos_embed is not None:
            x = x + self.pos_embed(jnp.arange(t))[None]
        x = self.dropout(x, deterministic=deterministic, rngs=rngs)
        yield x
        for i, block in enumerate(self.blocks):
            out = block(x, deterministic, rngs)
            x = out if skip is None else jnp.where(skip[i], x, out)
            yield x


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters (works on concrete and on `nnx.eval_shape` models)."""
    return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def embedding_params(cfg: ModelConfig) -> int:
    """Parameters in vocabulary and position tables: embed, learned positions, untied unembed."""
    n = cfg.vocab_size * cfg.d_model
    if cfg.positions == "learned":
        n += cfg.max_seq_len * cfg.d_model
    if not cfg.tied_embeddings:
        n += cfg.d_model * cfg.vocab_size
    return n


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    """`{"total", "non_embedding"}` parameter counts, from shapes only (nothing allocated).

    Non-embedding (Kaplan et al.) = total minus `embedding_params(cfg)`.
    """
    abstract = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    total = count_params(abstract)
    return {"total": total, "non_embedding": total - embedding_params(cfg)}


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token, the nanoGPT/PaLM estimate used for MFU: 6·N + 12·L·d·T.

    N counts the weights of every matmul a token passes through: the blocks' matrices plus the
    logits matmul d·vocab (nanoGPT counts it through its tied `wte`); norms, biases and
    lookup tables are left out. 12·L·d·T is the attention scores and weighted sum.
    """
    inner = cfg.n_heads * cfg.head_dim
    mlp_mats = 3 if cfg.mlp == "swiglu" else 2
    per_layer = 4 * cfg.d_model * inner + mlp_mats * cfg.d_model * cfg.d_ff
    n_matmul = cfg.n_layers * per_layer + cfg.d_model * cfg.vocab_size
    return 6.0 * n_matmul + 12.0 * cfg.n_layers * inner * seq_len
