r"""
---
title: A small character transformer
summary: The shared small-language-model harness, a decoder-only transformer on Shakespeare's characters
  with its training loop (any optimiser, any learning-rate schedule) and one fixed validation measurement,
  so that pages comparing optimisers, normalisations or attention variants report comparable numbers.
---

# A small character transformer

Several papers change one piece of a transformer language model (the optimiser, the learning-rate
schedule, the normalisation, the attention) and ask whether it trains better. Their numbers are comparable
only if everything else is the same: the model, the text, the batches and the measurement. This module is
that "everything else", written once.

**The model** is a decoder-only transformer over characters, built from the project's own
[multi-head attention and feed-forward layers](../transformers/attention.py):

$$h_0 = E[x] + P, \qquad h_\ell = \mathrm{Block}_\ell(h_{\ell-1}), \qquad
\mathrm{logits} = \mathrm{LN}(h_L)\, E^\top,$$

with a token embedding $E \in \mathbb{R}^{V \times d}$, learned positions $P \in \mathbb{R}^{T \times d}$
(or fixed sinusoidal ones, or none, for attentions that carry position themselves: see the settings),
causal self-attention (position $t$ sees positions $\le t$), and the output layer *tied* to the embedding
(the same matrix $E$ reads characters in and scores them out). Each block is two residual sub-layers,
*pre-norm* by default, $x + f(\mathrm{LN}(x))$, or the original *post-norm*, $\mathrm{LN}(x + f(x))$
(then the final normalisation is left out, since every block already ends with one). Pages replace a
block's `attention` or `feed_forward`, or subclass [`Block`](#the-block) to change its residual, and keep
the rest. [Transformer building blocks](../transformers/building_blocks.py) explains each piece and lists
the pages that replace one.

**The data** is the first `max_chars` characters of Shakespeare's plays (from [the kit](data.py)), the last
tenth held out. Training windows of `seq_len` characters are drawn at random positions with a generator
seeded by the run's seed, so two arms of an experiment with the same seed see the same batches.

**The measurement** is the mean next-character cross-entropy in nats over `eval_windows` fixed windows
spread evenly over the held-out text (the same windows for every run); divide by $\ln 2$ for bits per
character.

At the default size (64-wide, 2 layers, about 0.1 M parameters) a training step on a batch of
32 × 64 characters takes a few tens of milliseconds on one CPU thread.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import CharCorpus, shakespeare
from papers.kit.language_model import next_char_loss
from papers.kit.training import History, optimizer_step, train_loop
from papers.transformers.attention import (FeedForward, MultiHeadAttention, sinusoidal_positional_encoding,
                                           subsequent_mask, use_fused_attention)


# ## Settings
#
# One object holds every size and length, so a page states its set-up by the fields it changes
# (`LMSettings(layers=6)`), and the defaults are the shared baseline. `positions` says where the model
# learns word order: `"learned"` absolute positions (the default), the fixed `"sinusoidal"` ones of the
# original Transformer, or `"none"`, for pages whose attention carries position itself (relative
# positions, rotary embeddings, linear biases).
POSITIONS = ("learned", "sinusoidal", "none")


@dataclass(frozen=True)
class LMSettings:
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 256
    pre_norm: bool = True
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 600
    eval_every: int = 100
    eval_windows: int = 64
    max_chars: int = 1_000_000
    positions: str = "learned"

    def __post_init__(self) -> None:
        for name in ("d_model", "heads", "layers", "d_ff", "seq_len", "batch_size", "steps", "eval_every",
                     "eval_windows", "max_chars"):
            check_positive(name, getattr(self, name), integer=True)
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")

    # The same settings with some fields changed: `settings.but(layers=6)`.
    def but(self, **changes: int | bool) -> LMSettings:
        return replace(self, **changes)


# The corpus is read and tokenised once per process and size (reading all the plays takes about a second).
@functools.lru_cache(maxsize=4)
def corpus(max_chars: int) -> CharCorpus:
    return shakespeare(max_chars)


# ## The block
#
# Causal self-attention, then the position-wise feed-forward network, each wrapped by
# [`residual`](#the-block): pre-norm $x + f(\mathrm{LN}(x))$ or post-norm $\mathrm{LN}(x + f(x))$.
# `mask` is the causal mask `[1, seq, seq]`; `x` is `[batch, seq, d_model]`.
class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, heads)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.attention_norm = nn.LayerNorm(d_model)
        self.feed_forward_norm = nn.LayerNorm(d_model)
        self.pre_norm = pre_norm

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.residual(x, lambda h: self.attention(h, h, h, mask), self.attention_norm)
        return self.residual(x, self.feed_forward, self.feed_forward_norm)

    def residual(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor],
                 norm: nn.LayerNorm) -> torch.Tensor:
        if self.pre_norm:
            return x + sublayer(norm(x))
        return norm(x + sublayer(x))


# ## The model
#
# `tokens` `[batch, seq]` (int64; `seq` at most `max_len` when the model adds absolute positions) →
# next-character logits `[batch, seq, vocab]`. Embeddings and learned positions start as
# $\mathcal{N}(0, 0.02^2)$, as in GPT-2, so the first logits are near zero (a uniform prediction, $\ln V$
# nats) despite the tied output layer. (Sinusoidal positions are fixed, of amplitude 1, and are added to
# the same small embeddings.) `block` is the class of every
# block, for pages that subclass it. Attention runs on PyTorch's
# [fused kernel](../transformers/attention.py#the-fused-kernel) (the same equation, about twice as fast
# here); a page that wants the attention weights sets `keep_weights` on a block's `attention`.
class CharTransformer(nn.Module):
    def __init__(self, vocab: int, settings: LMSettings, max_len: int | None = None,
                 block: type[Block] = Block):
        super().__init__()
        check_positive("vocab", vocab, integer=True)
        self.max_len = max_len if max_len is not None else settings.seq_len
        check_positive("max_len", self.max_len, integer=True)
        self.embedding = nn.Embedding(vocab, settings.d_model)
        self.positions: torch.Tensor | None  # [max_len, d_model], or None for "none"
        if settings.positions == "learned":
            self.positions = nn.Parameter(torch.empty(self.max_len, settings.d_model))
        elif settings.positions == "sinusoidal":
            self.register_buffer("positions", sinusoidal_positional_encoding(self.max_len, settings.d_model),
                                 persistent=False)
        else:
            self.positions = None
        nn.init.normal_(self.embedding.weight, std=0.02)
        if settings.positions == "learned":
            nn.init.normal_(self.positions, std=0.02)
        self.blocks = nn.ModuleList(block(settings.d_model, settings.heads, settings.d_ff, settings.pre_norm)
                                    for _ in range(settings.layers))
        self.final_norm = nn.LayerNorm(settings.d_model) if settings.pre_norm else nn.Identity()
        use_fused_attention(self)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_tensor("tokens", tokens, ["batch", "seq"], dtype=torch.long)
        length = tokens.shape[1]
        x = self.embedding(tokens)  # [batch, seq, d_model]
        if self.positions is not None:
            if length > self.max_len:
                raise ValueError(f"sequence length {length} exceeds the model's max_len {self.max_len}")
            x = x + self.positions[:length]
        mask = subsequent_mask(length, device=tokens.device)  # [1, seq, seq]
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x) @ self.embedding.weight.T  # [batch, seq, vocab]


# The model for `settings`, its weights drawn from `seed` (so the arms of a comparison can start equal).
# `max_len` (default `settings.seq_len`) is the longest input its absolute positions cover, for pages that
# evaluate on longer windows than they train on.
def build_model(settings: LMSettings, seed: int, block: type[Block] = Block,
                max_len: int | None = None) -> CharTransformer:
    torch.manual_seed(seed)
    return CharTransformer(corpus(settings.max_chars).vocab_size, settings, max_len=max_len, block=block)


# ## Validation
#
# `count` windows of `seq_len` inputs (and their next characters as targets), starting at evenly spaced
# positions of the held-out text: `[count, seq_len]` each.
def validation_windows(tokens: torch.Tensor, seq_len: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("tokens", tokens, [None], dtype=torch.long)
    check_positive("seq_len", seq_len, integer=True)
    check_positive("count", count, integer=True)
    if len(tokens) < seq_len + 1:
        raise ValueError(f"the text ({len(tokens)} characters) is shorter than one window of {seq_len + 1}")
    starts = torch.linspace(0, len(tokens) - seq_len - 1, count).long()  # [count]
    window = tokens[starts[:, None] + torch.arange(seq_len + 1)]  # [count, seq_len + 1]
    return window[:, :-1], window[:, 1:]


# Mean next-character cross-entropy (nats) of `model` on the windows, in evaluation mode, without gradients.
@torch.no_grad()
def validation_loss(model: nn.Module, windows: tuple[torch.Tensor, torch.Tensor]) -> float:
    was_training = model.training
    model.eval()
    inputs, targets = windows
    loss = next_char_loss(model(inputs), targets).item()
    model.train(was_training)
    return loss


# ## Training
#
# Each step draws a batch of random training windows, takes one optimiser step on the mean cross-entropy
# and returns `{"loss": ...}` (nats); every `eval_every` steps, and at the last, `valid_loss` too. The
# batches come from a generator seeded with `seed`, separate from the one that drew the weights.
#
# Three hooks for the pages: `lr_at(step)`, when given, sets every parameter group's learning rate before
# the step (a warm-up or decay schedule); `clip_norm` clips the global gradient norm; and
# `after_step(step, inputs)` runs after the update (Sophia, for one, re-estimates its curvature there
# from the batch's inputs `[batch, seq]`). A run whose loss is not finite keeps going and records it, so a
# diverged run shows in the history as `nan` or `inf` rather than stopping the experiment.
def train_lm(model: nn.Module, optimizer: torch.optim.Optimizer, settings: LMSettings, seed: int, *,
             lr_at: Callable[[int], float] | None = None, clip_norm: float | None = None,
             after_step: Callable[[int, torch.Tensor], None] | None = None) -> History:
    text = corpus(settings.max_chars)
    windows = validation_windows(text.valid, settings.seq_len, settings.eval_windows)
    generator = torch.Generator().manual_seed(seed)

    def step(i: int) -> dict[str, float]:
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(i)
        model.train()
        inputs, targets = text.batch("train", settings.batch_size, settings.seq_len, generator)
        loss = next_char_loss(model(inputs), targets)
        metrics = {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=clip_norm)}
        if after_step is not None:
            after_step(i, inputs)
        if (i + 1) % settings.eval_every == 0 or i == settings.steps - 1:
            metrics["valid_loss"] = validation_loss(model, windows)
        return metrics

    return train_loop(settings.steps, step, log_every=settings.eval_every)
