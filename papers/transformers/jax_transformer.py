r"""
---
title: JAX Implementation
summary: Multi-head attention, a pre-norm transformer block and the shared character model written as pure
  functions in jax.numpy, with vmap, grad and jit; equal to the project's PyTorch modules in outputs and
  gradients, and trained in step with them.
---

# JAX implementation

[Frostig, Johnson, Leary, 2018. *Compiling machine learning programs via high-level tracing*. SysML
2018](https://mlsys.org/Conferences/doc/2018/146.pdf)

**On the citation.** The project's checklist cites this entry as arXiv:1812.01815. As far as we could check,
that number belongs to another paper (Mussmann and Liang, 2018, on uncertainty sampling in active learning),
not to the JAX paper, which appeared in the SysML 2018 proceedings and has, to our knowledge, no arXiv
version. The link above is the SysML paper.

JAX lets one write a model as a *pure function* of arrays in NumPy's vocabulary (`jax.numpy`) and then
*transform* that function: `grad` turns it into the function that returns its gradient, `vmap` into the
function that runs it over a batch, `jit` into a compiled program. The paper's idea is how: JAX runs the
Python function once on *tracers*, abstract values that record each array primitive applied to them (a
matrix product, an exponential, a reduction), and so turns the Python program into a small functional
program of primitives (a *jaxpr*). Each transformation is a rule per primitive: its derivative for `grad`,
its batched version for `vmap`; and `jit` hands the whole traced program to the XLA compiler, which fuses
the element-wise operations and runs it without returning to Python. Python's control flow (the loop over
layers below) simply runs at trace time and unrolls into the program.

This page writes the [shared character model](../kit/char_transformer.py) this way: layer norm, the
feed-forward network, one attention head, [multi-head attention](attention.py) with a causal mask, the
pre-norm block and the whole model, as functions of a *parameter pytree* (nested dicts and a list of
arrays); Adam as a pure function over pytrees; and the training step as
`jit(value_and_grad(loss))` followed by the Adam update. Every piece is checked against the project's
PyTorch modules with the same weights: [the tests](../../tests/transformers/test_jax_transformer.py)
compare outputs *and* gradients (`jax.grad` against PyTorch's autograd) of `MultiHeadAttention`, the
harness's `Block` and the whole `CharTransformer`, to a relative $10^{-5}$ in float32 and $10^{-12}$ in
float64 (`jax.enable_x64`), and pin `vmap` against loops, causality, and Adam against `torch.optim.Adam`.

**Conventions that differ.** PyTorch's `nn.Linear` stores its weight as `[out, in]` and computes
$x W^\top + b$; the pytree stores `[in, out]` and computes $x W + b$, so the copy transposes
(`linear_from_torch`). Layer norm's parameters are called `scale` and `bias` (PyTorch: `weight`, `bias`),
with the same $\epsilon = 10^{-5}$ and the biased variance. Masked attention scores are set to the lowest
finite number with `jnp.where`, as in the project's attention (PyTorch's fused kernel, which the harness
uses, gives the same weights for a causal mask, where every query sees at least one key). Adam is
PyTorch's formula, $\theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\, m / (\sqrt{v}/\sqrt{1-\beta_2^t}
+ \epsilon)$, which is the paper-Adam's $\hat m / (\sqrt{\hat v} + \epsilon)$ written in PyTorch's order.
And JAX's gather *clamps* an out-of-range index instead of failing, so `forward` checks the character ids
itself.

## What the experiment shows

The claim in miniature: trained with JAX from PyTorch's initial weights, on the same batches, with the
same Adam settings, the model follows PyTorch's training curve. Each implementation is trained twice, in
float32 and in float64 from the same weights, so there are two questions. *Is the arithmetic the same?*
Compare JAX and PyTorch in float64, where rounding is too small to matter for hundreds of steps. *Does
JAX's float32 path lose precision that PyTorch's does not?* Compare each float32 run with its own float64
twin, early, before training's chaos amplifies every difference to the size of batch noise. Settings: the
harness model (width 64, 4 heads, 2 pre-norm layers, feed-forward width 256, learned positions), windows of
32 characters, batches of 16, 500 steps of Adam at a constant rate $3 \cdot 10^{-3}$ (not tuned:
the claim is equality, not quality), three seeds.

**Float64: the same arithmetic.** JAX and PyTorch in float64 differ in the training loss by at most
1.8e-11 at any of the 500 steps of any seed, and in the final held-out loss by at most
2.5e-12.

**Float32: as close as float32 allows, after one fix.** The absolute difference of the training loss at
fixed steps, largest over the three seeds:

| step | JAX − PyTorch, float32 | PyTorch float32 − float64 | JAX float32 − float64 | JAX − PyTorch, float64 |
|---|---|---|---|---|
| 1 | 9.5e-7 | 4.6e-7 | 7.1e-7 | 2.7e-15 |
| 10 | 5.0e-6 | 9.2e-7 | 4.8e-6 | 1.3e-15 |
| 50 | 1.0e-3 | 1.3e-3 | 2.2e-4 | 2.2e-15 |
| 100 | 1.9e-3 | 1.4e-3 | 1.4e-3 | 1.3e-15 |

At the first step the float32 differences are one or two units of float32 rounding of a loss near 4
(one unit is $4.8 \cdot 10^{-7}$) for both implementations. After that JAX's float32 run leaves its float64
twin sooner than PyTorch's does: 4.8e-6 against 9.2e-7 at step 10 in the table, and in the figure's right
panel (seed 0) JAX's float32-to-float64 gap is near $10^{-4}$ by step 20 while PyTorch's stays below
$10^{-6}$ until about step 40 (at step 50 the table's largest values are 2.2e-4 for JAX and 1.3e-3 for
PyTorch). Where JAX's earlier drift comes from, after the fix below, was not traced. The differences
then grow, as training amplifies any difference, and from about step 100 every float32 pair sits at the
level of batch-to-batch noise, so a largest difference over all 500 steps (4.7e-2 JAX − PyTorch, 3.7e-2
PyTorch's own drift) says nothing about precision (right panel, seed 0).

*The fix.* The first version of this page computed Adam's bias corrections $1 - \beta^t$ in float32. A
referee found its float32 run drifting from its own float64 run about 4000 times faster than PyTorch's
(quick settings, seed 0, 60 steps: $7 \cdot 10^{-6}$ at step 10, $1.4 \cdot 10^{-3}$ at step 59,
against at most $5.7 \cdot 10^{-7}$ for PyTorch). Looking for where, on that same run: matrix products at
`jax.default_matmul_precision("highest")` and XLA's `--xla_cpu_enable_fast_math=false` changed nothing (the
same differences to every printed digit); computing the corrections as $-\mathrm{expm1}(t \ln \beta)$ (see
Adam above) brought the largest drift over the 60 steps to $7.6 \cdot 10^{-7}$, PyTorch's level. The table
is measured with the fix.

**Held-out loss** after 500 steps (means of three seeds): **2.3280 with PyTorch** and
**2.3341 with JAX** in float32, 2.3249 and 2.3249 in float64. Per seed JAX minus PyTorch
in float32 is -0.0045, +0.0023, +0.0205; PyTorch's own float32 minus float64 is +0.0236, -0.0019, -0.0122: after 500
steps the float32 runs of either implementation have wandered apart by batch-noise amounts, and the
held-out difference is of the size that float32 rounding alone produces, not a measure of equality.

Verdict: the implementation is exact (float64 agreement to 1.8e-11 over 500 steps): held. In float32 the
two agree to rounding at the first steps and both drift to batch-noise differences within about 100 steps,
but JAX's float32 path drifts sooner than PyTorch's (above); that part is measured, not explained.

![Training curves of PyTorch and JAX, and their per-step difference](results/jax_transformer.png)

**What `jit` buys.** One training step (loss, gradients, Adam) at this size takes a median 18.6 ms of CPU
time jitted against 208 ms run op by op without `jit`, after a one-off compilation of 5.0 s;
PyTorch's step takes 13.2 ms. The ten jitted and op-by-op repeats alternate, so that load on the
machine hits both alike; the per-repeat speed-up has median 12 and ranges from 10 to 18 times (an
earlier run of the page measured 9 and 27 times: on this heavily loaded machine, take ratios of the order
of ten to thirty, not absolute speeds). XLA's CPU backend was asked for one thread by setting
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1` before JAX is imported, here and
in the tests (jax and jaxlib 0.10.2, CPU, pinned in constraints.txt). The jitted JAX step and PyTorch's
are of the same order here; which is faster is not a robust
finding on this loaded machine, and the paper's own measurements, on accelerators, are not reproduced here.
"""
from __future__ import annotations

import functools
import math
import os
import statistics
import time
from typing import Any, Callable

# XLA's CPU backend runs its own thread pool, which PyTorch's thread setting does not reach. One thread, as
# for every run of this project, is asked for before JAX is first imported (the flag is read then).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

# pylint: disable=wrong-import-position
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import (Block, CharTransformer, LMSettings, build_model, corpus, train_lm,
                                         validation_windows)
from papers.kit.checks import check_positive
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History, train_loop
from papers.transformers.attention import MultiHeadAttention

Params = dict[str, Any]  # a pytree: nested dicts (and a list of blocks) of arrays


# ## Checking shapes and parameters
#
# Inside `jit` a function sees only shapes and dtypes, so checks are plain Python run before it, on the
# arrays' shapes. A wrong shape, and a parameter pytree with a missing key or a misshapen leaf, are refused
# with the path of the offending leaf (`params.blocks[1].attention` is missing `w_q`).
def check_array(name: str, x: object, shape: tuple[int | None, ...]) -> None:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if len(x.shape) != len(shape) or any(want is not None and want != got for want, got in zip(shape, x.shape)):
        expected = ", ".join("*" if d is None else str(d) for d in shape)
        raise ValueError(f"{name} must have shape [{expected}], got {tuple(x.shape)}")


def check_params(params: object, expected: object, path: str = "params") -> None:
    if isinstance(expected, dict):
        if not isinstance(params, dict):
            raise ValueError(f"{path} must be a dict with keys {sorted(expected)}, got {type(params).__name__}")
        missing = sorted(set(expected) - set(params))
        if missing:
            raise ValueError(f"{path} is missing the parameter key(s) {missing}")
        for key, value in expected.items():
            check_params(params[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        if not isinstance(params, (list, tuple)) or len(params) != len(expected):
            raise ValueError(f"{path} must be a list of {len(expected)} blocks, got {params!r:.60}")
        for i, (got, want) in enumerate(zip(params, expected)):
            check_params(got, want, f"{path}[{i}]")
    else:
        check_array(path, params, expected)


# ## The layers
#
# Each layer is a function of its parameters (a dict of arrays) and its input; nothing is stored in an
# object. $\mathrm{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta$ over the last
# axis, and the feed-forward network $\max(0, x W_1 + b_1) W_2 + b_2$.
def linear(p: Params, x: jax.Array) -> jax.Array:
    return x @ p["w"] + p["b"]


def layer_norm(p: Params, x: jax.Array, eps: float = 1e-5) -> jax.Array:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(variance + eps) * p["scale"] + p["bias"]


def feed_forward(p: Params, x: jax.Array) -> jax.Array:
    return linear(p["layer2"], jax.nn.relu(linear(p["layer1"], x)))


# ### One head, then vmap
#
# Attention is written for *one* head of *one* sequence, exactly the equation
# $\mathrm{softmax}(q k^\top / \sqrt{d_k}) v$ with the masked scores set to the lowest finite number.
# One head on one sequence: `q` `[q_len, d_k]`, `k`, `v` `[k_len, d_k]`, `mask` bool `[q_len, k_len]`.
def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    scores = (q / jnp.sqrt(q.shape[-1])) @ k.T  # [q_len, k_len]
    scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    return jax.nn.softmax(scores, axis=-1) @ v  # [q_len, d_k]


def causal_mask(length: int) -> jax.Array:
    return jnp.tril(jnp.ones((length, length), dtype=bool))  # [len, len]


# Multi-head attention projects, splits the features into heads, `[len, d_model]` → `[heads, len, d_k]`,
# and runs `attend` over the heads with `jax.vmap(attend, in_axes=(0, 0, 0, None))`: axis 0 of $q, k, v$
# is mapped, the mask is shared. `vmap` does not loop: it rewrites each primitive of `attend` into its
# batched form (the matrix products become one batched product), the code a hand-batched version would
# have. The output projection mixes the concatenated heads.
def multi_head_attention(p: Params, x: jax.Array, mask: jax.Array, heads: int) -> jax.Array:
    length, d_model = x.shape

    def split(y: jax.Array) -> jax.Array:  # [len, d_model] -> [heads, len, d_k]
        return y.reshape(length, heads, d_model // heads).transpose(1, 0, 2)

    q, k, v = (split(linear(p[name], x)) for name in ("w_q", "w_k", "w_v"))
    per_head = jax.vmap(attend, in_axes=(0, 0, 0, None))(q, k, v, mask)  # [heads, len, d_k]
    return linear(p["w_o"], per_head.transpose(1, 0, 2).reshape(length, d_model))


# The pre-norm block of the harness: $x + \mathrm{MHA}(\mathrm{LN}(x))$, then $x + \mathrm{FFN}(\mathrm{LN}(x))$.
def block(p: Params, x: jax.Array, mask: jax.Array, heads: int) -> jax.Array:
    x = x + multi_head_attention(p["attention"], layer_norm(p["attention_norm"], x), mask, heads)
    return x + feed_forward(p["feed_forward"], layer_norm(p["feed_forward_norm"], x))


# ### The model
#
# One sequence of character ids `[len]` → logits `[len, vocab]`: embedding plus learned positions, the
# blocks (a Python loop, unrolled when traced), the final norm and the tied output layer $E^\top$. `logits`
# maps it over the batch with `vmap`, and `loss` is the mean cross-entropy
# $\log \sum_c e^{z_c} - z_{y}$ in nats.
def sequence_logits(params: Params, tokens: jax.Array, heads: int) -> jax.Array:
    length = tokens.shape[0]
    x = params["embedding"][tokens] + params["positions"][:length]  # [len, d_model]
    mask = causal_mask(length)
    for p in params["blocks"]:
        x = block(p, x, mask, heads)
    return layer_norm(params["final_norm"], x) @ params["embedding"].T  # [len, vocab]


def logits(params: Params, tokens: jax.Array, heads: int) -> jax.Array:
    return jax.vmap(sequence_logits, in_axes=(None, 0, None))(params, tokens, heads)  # [batch, len, vocab]


def loss(params: Params, tokens: jax.Array, targets: jax.Array, heads: int) -> jax.Array:
    z = logits(params, tokens, heads)  # [batch, len, vocab]
    picked = jnp.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    return (jax.nn.logsumexp(z, axis=-1) - picked).mean()


# The shapes every parameter must have, and the checked entry point `forward(params, tokens, settings)`
# (`tokens` `[batch, len]`, integer ids below the vocabulary size).
def parameter_shapes(settings: LMSettings, vocab: int, max_len: int | None = None) -> Params:
    d, f = settings.d_model, settings.d_ff

    def lin(n_in: int, n_out: int) -> Params:
        return {"w": (n_in, n_out), "b": (n_out,)}

    def norm() -> Params:
        return {"scale": (d,), "bias": (d,)}

    blocks = [{"attention": {name: lin(d, d) for name in ("w_q", "w_k", "w_v", "w_o")}, "attention_norm": norm(),
               "feed_forward": {"layer1": lin(d, f), "layer2": lin(f, d)}, "feed_forward_norm": norm()}
              for _ in range(settings.layers)]
    return {"embedding": (vocab, d), "positions": (max_len or settings.seq_len, d), "blocks": blocks,
            "final_norm": norm()}


def checked_inputs(params: Params, tokens: object, settings: LMSettings) -> None:
    _check_settings(settings)
    vocab = params["embedding"].shape[0] if isinstance(params, dict) and "embedding" in params else None
    if vocab is None:
        raise ValueError("params is missing the parameter key(s) ['embedding']")
    max_len = params["positions"].shape[0] if "positions" in params else settings.seq_len
    check_params(params, parameter_shapes(settings, vocab, max_len))
    check_array("tokens", tokens, (None, None))
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"tokens must be integer character ids, got {tokens.dtype}")
    if tokens.shape[1] > max_len:
        raise ValueError(f"sequence length {tokens.shape[1]} exceeds the positions' max_len {max_len}")
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab:
        raise ValueError(f"tokens must be character ids in [0, {vocab}), got values from {low} to {high}")


def _check_settings(settings: LMSettings) -> None:
    if settings.d_model % settings.heads != 0:
        raise ValueError(f"heads ({settings.heads}) must divide d_model ({settings.d_model})")
    if not settings.pre_norm or settings.positions != "learned":
        raise ValueError("the JAX model is the pre-norm harness model with learned positions "
                         f"(pre_norm=True, positions='learned'), got pre_norm={settings.pre_norm}, "
                         f"positions={settings.positions!r}")


def forward(params: Params, tokens: jax.Array, settings: LMSettings) -> jax.Array:
    checked_inputs(params, tokens, settings)
    return logits(params, tokens, settings.heads)


# ## From PyTorch's weights
#
# The pytree of a PyTorch model, layer by layer; `get` picks the tensor of each parameter: its value, or
# with `grad_of` the gradient autograd left in it (the tests compare gradients leaf by leaf this way).
Getter = Callable[[nn.Parameter], torch.Tensor]


def _value(p: nn.Parameter) -> torch.Tensor:
    return p


def _to_jax(t: torch.Tensor) -> jax.Array:
    return jnp.asarray(t.detach().cpu().numpy())


def linear_from_torch(layer: nn.Linear, get: Getter = _value) -> Params:
    if layer.bias is None:
        raise ValueError("linear_from_torch needs nn.Linear layers with a bias (the pytree's linear adds one); "
                         f"got a {layer.in_features}->{layer.out_features} layer built with bias=False")
    return {"w": _to_jax(get(layer.weight).T), "b": _to_jax(get(layer.bias))}


def norm_from_torch(layer: nn.LayerNorm, get: Getter = _value) -> Params:
    return {"scale": _to_jax(get(layer.weight)), "bias": _to_jax(get(layer.bias))}


def attention_from_torch(module: MultiHeadAttention, get: Getter = _value) -> Params:
    return {name: linear_from_torch(getattr(module, name), get) for name in ("w_q", "w_k", "w_v", "w_o")}


def block_from_torch(module: Block, get: Getter = _value) -> Params:
    ff = module.feed_forward
    return {"attention": attention_from_torch(module.attention, get),
            "attention_norm": norm_from_torch(module.attention_norm, get),
            "feed_forward": {"layer1": linear_from_torch(ff.layer1, get), "layer2": linear_from_torch(ff.layer2, get)},
            "feed_forward_norm": norm_from_torch(module.feed_forward_norm, get)}


def params_from_torch(model: CharTransformer, get: Getter = _value) -> Params:
    if model.positions is None or not isinstance(model.final_norm, nn.LayerNorm):
        raise ValueError("params_from_torch needs the pre-norm harness model with learned positions")
    return {"embedding": _to_jax(get(model.embedding.weight)), "positions": _to_jax(get(model.positions)),
            "blocks": [block_from_torch(b, get) for b in model.blocks],
            "final_norm": norm_from_torch(model.final_norm, get)}


# The gradients autograd left in `model`'s parameters, in the same layout (`get=grad_of` for any of the above).
def grad_of(p: nn.Parameter) -> torch.Tensor:
    if p.grad is None:
        raise ValueError("a parameter has no gradient: run backward first")
    return p.grad


# ## Adam, as a pure function over pytrees
#
# The optimiser state is a pytree too: the step count and the moment estimates $m$, $v$ of the same
# structure as the parameters. `jax.tree_util.tree_map` applies the update leaf by leaf,
# $m \leftarrow \beta_1 m + (1 - \beta_1) g$, $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$, then the step
# written in PyTorch's order (see the conventions above). It returns new pytrees; nothing is changed in
# place, which is what lets `jit` compile it with the rest of the step.
#
# The bias corrections $1 - \beta^t$ are computed as $-\mathrm{expm1}(t \ln \beta)$, with $\ln \beta$ taken in
# Python's float64. Written plainly, `1 - b2 ** t` in float32 is a cancellation: $0.999$ itself rounds to
# float32 with a relative error of $1.3 \cdot 10^{-8}$, which becomes a relative error of about $10^{-5}$ in
# $1 - 0.999^t$ at the first steps, a systematic error of every step's size (PyTorch computes these
# corrections in Python floats, that is in float64). This one line was what made the first version of this
# page drift away from its float64 twin thousands of times faster than PyTorch does (see the experiment).
def adam_init(params: Params) -> Params:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"step": jnp.zeros((), jnp.int32), "m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params)}


def adam_update(params: Params, grads: Params, state: Params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                eps: float = 1e-8) -> tuple[Params, Params]:
    b1, b2 = betas
    step = state["step"] + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state["v"], grads)
    t = step.astype(jax.tree_util.tree_leaves(params)[0].dtype)
    step_size = lr / -jnp.expm1(t * math.log(b1))
    root_correction = jnp.sqrt(-jnp.expm1(t * math.log(b2)))
    new = jax.tree_util.tree_map(lambda p, m, v: p - step_size * m / (jnp.sqrt(v) / root_correction + eps),
                                 params, m, v)
    return new, {"step": step, "m": m, "v": v}


# ## The training step
#
# `jax.value_and_grad(loss)` is a new function returning the loss and its gradient with respect to the
# first argument, a pytree of the parameters' structure (reverse mode: JAX linearises the traced program
# and transposes it). `heads` is a Python integer fixed in the closure, a compile-time constant.
def make_train_step(heads: int, lr: float) -> Callable:
    def train_step(params: Params, state: Params, tokens: jax.Array,
                   targets: jax.Array) -> tuple[Params, Params, jax.Array]:
        value, grads = jax.value_and_grad(loss)(params, tokens, targets, heads)
        params, state = adam_update(params, grads, state, lr)
        return params, state, value

    return train_step


# ## Training with JAX on the harness
#
# The same batches as the harness's `train_lm`: a `torch.Generator` seeded with the run's seed draws the
# windows, which are handed to JAX as arrays; the same validation windows every `eval_every` steps. The
# jitted step is compiled once per shape and reused across seeds.
@functools.lru_cache(maxsize=8)
def _jitted_step(heads: int, lr: float) -> Callable:
    return jax.jit(make_train_step(heads, lr))


_jitted_loss = jax.jit(loss, static_argnums=3)


def _batches(settings: LMSettings, seed: int) -> Callable[[], tuple[jax.Array, jax.Array]]:
    text = corpus(settings.max_chars)
    generator = torch.Generator().manual_seed(seed)

    def next_batch() -> tuple[jax.Array, jax.Array]:
        inputs, targets = text.batch("train", settings.batch_size, settings.seq_len, generator)
        return jnp.asarray(inputs.numpy()), jnp.asarray(targets.numpy())

    return next_batch


def train_jax(params: Params, settings: LMSettings, seed: int, lr: float) -> History:
    _check_settings(settings)
    check_positive("lr", lr)
    windows = [jnp.asarray(w.numpy()) for w in
               validation_windows(corpus(settings.max_chars).valid, settings.seq_len, settings.eval_windows)]
    step_fn = _jitted_step(settings.heads, lr)
    next_batch = _batches(settings, seed)
    state = {"params": params, "adam": adam_init(params)}

    def step(i: int) -> dict[str, float]:
        state["params"], state["adam"], value = step_fn(state["params"], state["adam"], *next_batch())
        metrics = {"loss": float(value)}
        if (i + 1) % settings.eval_every == 0 or i == settings.steps - 1:
            metrics["valid_loss"] = float(_jitted_loss(state["params"], *windows, settings.heads))
        return metrics

    return train_loop(settings.steps, step, log_every=settings.eval_every)


def train_torch(settings: LMSettings, seed: int, lr: float, dtype: torch.dtype = torch.float32) -> History:
    model = build_model(settings, seed).to(dtype)
    return train_lm(model, torch.optim.Adam(model.parameters(), lr=lr), settings, seed)


# ## What jit buys
#
# The CPU time of one training step (loss, gradients, Adam) jitted and run op by op, on one fixed batch,
# after one warm-up call of each; the repeats alternate (jitted, op by op, jitted, ...) so that a burst of
# load on the machine hits both alike, and the speed-up is the median of the per-repeat ratios, with their
# range. The compilation (`jit(...).lower(...).compile()`) is timed once; PyTorch's step on the same batch
# is timed for reference.
def time_steps(settings: LMSettings, repeats: int) -> dict[str, Any]:
    params = params_from_torch(build_model(settings, 0))
    state = adam_init(params)
    tokens, targets = _batches(settings, 0)()
    plain = make_train_step(settings.heads, 1e-3)
    start = time.process_time()
    compiled = jax.jit(plain).lower(params, state, tokens, targets).compile()
    compile_s = time.process_time() - start

    def seconds(fn: Callable) -> float:
        begin = time.process_time()
        jax.block_until_ready(fn(params, state, tokens, targets))
        return time.process_time() - begin

    seconds(compiled)  # warm-up
    seconds(plain)
    pairs = [(seconds(compiled), seconds(plain)) for _ in range(repeats)]
    ratios = [eager / jitted for jitted, eager in pairs]
    return {"jit_ms": statistics.median(p[0] for p in pairs) * 1000,
            "eager_ms": statistics.median(p[1] for p in pairs) * 1000, "compile_s": compile_s,
            "speedup": statistics.median(ratios), "speedup_range": (min(ratios), max(ratios)),
            "torch_ms": _torch_step_ms(settings, repeats)}


def _torch_step_ms(settings: LMSettings, repeats: int) -> float:
    model = build_model(settings, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, targets = corpus(settings.max_chars).batch("train", settings.batch_size, settings.seq_len,
                                                       torch.Generator().manual_seed(0))
    times = []
    for _ in range(repeats + 1):
        begin = time.process_time()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()).backward()
        optimizer.step()
        times.append(time.process_time() - begin)
    return statistics.median(times[1:]) * 1000


# ## The experiment
#
# For each seed, four runs from the same initial weights on the same batches: PyTorch in float32 (the
# harness's `train_lm` with `torch.optim.Adam`) and in float64, JAX in float32 and in float64
# (`jax.enable_x64`, from the float64 copy of the same model). The float64 pair is the equality test
# proper: two implementations of the same arithmetic agree there to about $10^{-15}$ and drift apart only
# very slowly. Each float32 run against its own float64 twin measures how fast float32 rounding drives that
# implementation away from exact arithmetic.
FULL = LMSettings(seq_len=32, batch_size=16, steps=500, eval_every=50)
QUICK = LMSettings(d_model=32, heads=2, d_ff=64, seq_len=32, batch_size=8, steps=60, eval_every=20,
                   eval_windows=16, max_chars=200_000)
LR = 3e-3
ARMS = ("torch", "torch64", "jax", "jax64")
# The pairs compared step by step: JAX against PyTorch in float32 and in float64, and each float32 run
# against its float64 twin.
PAIRS = {"jax_vs_torch": ("jax", "torch"), "jax64_vs_torch64": ("jax64", "torch64"),
         "torch_drift": ("torch", "torch64"), "jax_drift": ("jax", "jax64")}
GAP_STEPS = (1, 10, 50, 100)


def train_jax64(settings: LMSettings, seed: int, lr: float) -> History:
    with jax.enable_x64(True):
        return train_jax(params_from_torch(build_model(settings, seed).to(torch.float64)), settings, seed, lr)


def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs = {seed: {"torch": train_torch(settings, seed, LR),
                   "torch64": train_torch(settings, seed, LR, torch.float64),
                   "jax": train_jax(params_from_torch(build_model(settings, seed)), settings, seed, LR),
                   "jax64": train_jax64(settings, seed, LR)}
            for seed in seeds}
    timing = time_steps(settings, config.choose(10, 3))
    metrics = _metrics(runs, timing, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, metrics)})


def _step_gaps(a: History, b: History) -> np.ndarray:
    return np.abs(np.array(a.values("loss")) - np.array(b.values("loss")))


def _small(value: float) -> float:  # three significant digits: the gaps run from 1e-16 to 1e-2
    return float(f"{value:.3g}")


def _gap_summary(values: dict[int, float]) -> dict[str, Any]:
    return {"per_seed": {str(s): _small(v) for s, v in values.items()}, "max": _small(max(values.values())),
            "min": _small(min(values.values()))}


def _metrics(runs: dict, timing: dict, settings: LMSettings, seeds: list[int]) -> dict:
    final = {arm: {s: runs[s][arm].last("valid_loss") for s in seeds} for arm in ARMS}
    gaps = {name: {s: _step_gaps(runs[s][a], runs[s][b]) for s in seeds} for name, (a, b) in PAIRS.items()}
    steps = [k for k in GAP_STEPS if k <= settings.steps]
    return {"seeds": seeds, "steps": settings.steps, "lr": LR, "settings": settings.__dict__,
            **{f"{arm}_valid": over_seeds(values) for arm, values in final.items()},
            "valid_gap": over_seeds({s: final["jax"][s] - final["torch"][s] for s in seeds}),
            "drift_valid_gap": over_seeds({s: final["torch"][s] - final["torch64"][s] for s in seeds}),
            "valid_gap64": _gap_summary({s: abs(final["jax64"][s] - final["torch64"][s]) for s in seeds}),
            # |difference of the training loss| at step k (1-based), per pair, per seed
            "step_gaps": {name: {str(k): _gap_summary({s: float(g[s][k - 1]) for s in seeds}) for k in steps}
                          for name, g in gaps.items()},
            "max_step_gap": {name: _gap_summary({s: float(g[s].max()) for s in seeds}) for name, g in gaps.items()},
            "jit_ms": round(timing["jit_ms"], 2), "eager_ms": round(timing["eager_ms"], 1),
            "torch_ms": round(timing["torch_ms"], 2), "compile_s": round(timing["compile_s"], 2),
            "jit_speedup": round(timing["speedup"], 1),
            "jit_speedup_range": [round(r, 1) for r in timing["speedup_range"]],
            "loss_curves": {str(s): {arm: [round(v, 5) for v in runs[s][arm].values("loss")] for arm in runs[s]}
                            for s in seeds[:1]}}


def _headline(metrics: dict) -> str:
    gaps = metrics["step_gaps"]
    at = str(max(int(k) for k in gaps["jax_vs_torch"]))
    return (f"JAX float64 vs PyTorch float64: largest per-step training-loss gap over {metrics['steps']} steps "
            f"{metrics['max_step_gap']['jax64_vs_torch64']['max']:.1e} (all seeds). Float32 at step {at}: JAX vs "
            f"PyTorch {gaps['jax_vs_torch'][at]['max']:.1e}, drift from float64 JAX "
            f"{gaps['jax_drift'][at]['max']:.1e}, PyTorch {gaps['torch_drift'][at]['max']:.1e} (max over seeds). "
            f"Held-out after {metrics['steps']} steps, mean of {len(metrics['seeds'])} seeds: PyTorch "
            f"{metrics['torch_valid']['mean']:.4f}, JAX {metrics['jax_valid']['mean']:.4f}; jit "
            f"{metrics['jit_speedup']:.0f}x faster per step (range {metrics['jit_speedup_range'][0]:.0f}-"
            f"{metrics['jit_speedup_range'][1]:.0f}x), compile {metrics['compile_s']:.1f} s.")


def _figure(runs: dict, metrics: dict) -> Figure:
    fig, (ax_curve, ax_gap) = plt.subplots(1, 2, figsize=(13, 4.8))
    styles = {"jax_vs_torch": ("-", 1.0, "|JAX − PyTorch|, float32"),
              "jax64_vs_torch64": ("-", 0.35, "|JAX − PyTorch|, float64"),
              "torch_drift": ("--", 1.0, "|PyTorch float32 − float64|"),
              "jax_drift": (":", 1.0, "|JAX float32 − float64|")}
    for i, (seed, arms) in enumerate(runs.items()):
        steps = np.arange(1, len(arms["torch"].values("loss")) + 1)
        ax_curve.plot(steps, arms["torch"].values("loss"), color=f"C{i}", label=f"PyTorch, seed {seed}")
        ax_curve.plot(steps, arms["jax"].values("loss"), color=f"C{i}", linestyle=":", label=f"JAX, seed {seed}")
        if i == 0:
            for j, (name, (style, alpha, label)) in enumerate(styles.items()):
                a, b = PAIRS[name]
                ax_gap.semilogy(steps, _step_gaps(arms[a], arms[b]) + 1e-17, color=f"C{j + 3}", alpha=alpha,
                                linestyle=style, label=f"{label} (seed {seed})")
    ax_curve.set(xlabel="training step", ylabel="training loss (nats / char)",
                 title=f"Training loss: PyTorch (solid), JAX (dotted); held-out after {metrics['steps']} steps "
                       f"{metrics['torch_valid']['mean']:.3f} vs {metrics['jax_valid']['mean']:.3f}")
    ax_curve.legend(fontsize=8)
    ax_gap.set(xlabel="training step", ylabel="absolute difference of the training loss (nats)",
               title="Per-step difference (a zero difference is drawn at 1e-17)")
    ax_gap.legend(fontsize=7)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
