r"""
---
title: Attention Is All You Need
summary: Scaled dot-product and multi-head attention, sinusoidal positional encoding and the encoder-decoder
  Transformer, checked against PyTorch's own layers and trained to reverse sequences.
---

# Attention Is All You Need

[Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin, 2017.
*Attention Is All You Need*. arXiv:1706.03762](https://arxiv.org/abs/1706.03762)

A recurrent network reads a sentence one word at a time and squeezes everything it has read into one state
vector. The Transformer drops recurrence. Every position looks at every other position directly, through
*attention*: it builds a *query* ("what am I looking for?"), compares it with a *key* at each position
("what do I offer?"), and takes the average of those positions' *values*, weighted by how well query and
key match. Any two positions are one step apart, and all positions are computed at once.

Attention is a weighted average, and an average does not depend on the order of the things averaged.
Permute the input and the outputs are permuted the same way. On its own the Transformer sees a sentence
as a *set* of words. Word order enters through *positional encodings*: a vector added to each word's
embedding that depends only on its position.

This page builds the model from the bottom up:

1. [scaled dot-product attention](#scaled-dot-product-attention), the core operation;
2. [multi-head attention](#multi-head-attention), several attentions in parallel;
3. [sinusoidal positional encoding](#positional-encoding);
4. [encoder and decoder layers](#the-encoder-layer) with their feed-forward sub-layers, residual connections
   and layer normalisation;
5. [the encoder-decoder Transformer](#the-transformer) with greedy decoding.

[The tests](../../tests/transformers/test_attention.py) check multi-head attention against PyTorch's
`torch.nn.MultiheadAttention` and labml-nn's implementation with copied weights, masks included, and the
encoder and decoder layers against `torch.nn.TransformerEncoderLayer` and `TransformerDecoderLayer`.
[More tests](../../tests/transformers/test_masking_and_fast_paths.py) check that an all-padding sentence in a
batch changes nothing for the others, and that the [fused kernel](#the-fused-kernel) gives the same results.

## What the experiment shows

[The experiment](#the-experiment) trains two small Transformers to *reverse* a sequence of random symbols:
source `3 9 4 7 …`, target `… 7 4 9 3`. The two are identical except that one has no positional encoding.
Reversal is pure position: the right output at step $t$ is whatever stood at source position $n - 1 - t$.
In the recorded run (one seed, seed 0; length 10, 1,500 steps) the model with positional encoding reverses
almost perfectly: token accuracy 98.7% under greedy decoding. Without it the encoder sees only the *bag* of
source symbols: it can learn which symbols occur, not where. Its accuracy stays far below, at 19.6%, about
twice chance (10%). A likely reading, not measured here, is that it guesses among the symbols present rather
than among all ten. Its accuracy falls along the output, from 26.4% at the first step to 13.8% at the last;
why is not measured here either. All these numbers come from a single seed; the results file holds no
spread over seeds.

The paper runs no such experiment. Its ablation of position (Table 3, row (E)) swaps the sinusoids for
learned positional embeddings and finds nearly identical BLEU; it never drops position altogether. The
model here is also far smaller than the paper's base model (2 layers instead of 6, $d_\text{model} = 64$
instead of 512, $d_\text{ff} = 128$ instead of 2048), trained without dropout or label smoothing, with a
constant learning rate of $2 \cdot 10^{-3}$ instead of the paper's warm-up schedule, and with gradient
clipping, which the paper does not use.

![Training loss, accuracy by output position, and the attention of the decoder over the source](results/attention.png)

The right panel shows where the trained model's decoder looks, for one sequence, averaged over the heads of
the last layer. Writing output $t$, the cross-attention puts most of its weight on and next to source
position $n - 1 - t$: a blurred anti-diagonal. The model has learned to read backwards. (The picture is of
one sequence; how sharp the anti-diagonal is is not in the recorded metrics.)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.tasks import BOS, RESERVED, reversal_batch
from papers.kit.training import optimizer_step, train_loop


# ## Scaled dot-product attention
#
# Stack the queries into a matrix $Q$, the keys into $K$ and the values into $V$. Attention is
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V.$$
#
# Entry $(i, j)$ of $Q K^\top$ is the dot product of query $i$ with key $j$. The softmax runs along $j$,
# so each query gets a probability distribution over the keys, and the output for query $i$ is the average
# of the values under that distribution.
#
# Why divide by $\sqrt{d_k}$? The paper's argument (Section 3.2.1 and its footnote 4): if the components
# of $q$ and $k$ are independent with mean 0 and variance 1, then $q \cdot k = \sum_{m=1}^{d_k} q_m k_m$
# has variance $d_k$. For large $d_k$ the logits grow large,
# the softmax saturates to a near one-hot distribution, and, the authors suspect, its gradients become
# very small. Dividing by $\sqrt{d_k}$ brings the variance back to 1. (Not measured on this page.)
#
# A *mask* says which keys each query may see: `True` where attention is allowed. Masked logits are set to
# the lowest finite number before the softmax; its exponential underflows, so they get exactly zero weight.
# The decoder uses this to stop a position from looking at later positions; padding masks hide padding
# tokens.
#
# What if a mask hides *every* key from a query, say in a sentence that is all padding? There is nothing to
# average. Such a query gets zero weights and a zero output, as in PyTorch's `F.scaled_dot_product_attention`:
# its logits are all the lowest number, the softmax spreads its weight evenly over them, and the weights of
# the row are then set to zero. (That is one more pass over the weights, made whether or not such a row
# exists: asking first would read the mask's values, a synchronisation on a GPU and impossible on PyTorch's
# `meta` device, where the tests check that every model runs on its inputs' device.) Had the
# masked logits been $-\infty$, the softmax would compute $0 / 0$: a NaN, which the backward pass carries
# into the gradients of the shared parameters, so one empty sentence would spoil the update of the whole
# batch.
#
# Shapes: `query` is `[..., q_len, d_k]`, `key` is `[..., k_len, d_k]`, `value` is `[..., k_len, d_v]`,
# and `mask` broadcasts to `[..., q_len, k_len]`. Returns the output `[..., q_len, d_v]` and the attention
# weights `[..., q_len, k_len]`. (Dividing $Q$ rather than $Q K^\top$ by $\sqrt{d_k}$ is the same product,
# on `q_len` × `d_k` numbers instead of `q_len` × `k_len`.)
def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None,
                                 dropout: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    d_k = query.shape[-1]
    scores = (query / math.sqrt(d_k)) @ key.transpose(-2, -1)  # [..., q_len, k_len]
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    if mask is not None:  # a query that sees no key gets zero weights
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    # Dropout on the attention weights (the paper's "attention dropout") drops whole key positions at random.
    attended = dropout(weights) if dropout is not None else weights
    return attended @ value, weights


# ## Multi-head attention
#
# One attention takes one weighted average, so it can attend to one thing at a time. Multi-head
# attention runs $h$ attentions side by side, each in its own learned subspace of size
# $d_k = d_\text{model} / h$, and concatenates the results:
#
# $$\mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W^O,
# \qquad \mathrm{head}_i = \mathrm{Attention}(Q W_i^Q, K W_i^K, V W_i^V).$$
#
# The $h$ projections $W_i^Q \in \mathbb{R}^{d_\text{model} \times d_k}$ are stored side by side as one
# linear layer $W^Q \in \mathbb{R}^{d_\text{model} \times h d_k}$, and likewise for keys and values. A
# reshape splits the output of each into heads. The cost is about that of one attention at full width.
#
# For self-attention `query`, `key` and `value` are the same sequence. For the decoder's attention over
# the encoder (cross-attention) the query comes from the decoder and keys and values from the encoder.
#
# Two switches, both off by default. `keep_weights = True` keeps the attention weights of each call in
# `weights`, `[batch, heads, q_len, k_len]`, for pictures. They are not kept otherwise: at length 512 they
# take 128 MiB per layer (in `float32`, for a batch of 16 with 8 heads). `fused = True` computes attention
# with [PyTorch's fused kernel](#the-fused-kernel) instead of `scaled_dot_product_attention` above,
# except in calls that keep their weights.
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        check_positive("d_model", d_model, integer=True)
        check_positive("heads", heads, integer=True)
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        if d_model % heads != 0:
            raise ValueError(f"heads ({heads}) must divide d_model ({d_model})")
        self.d_model = d_model
        self.heads = heads
        self.d_k = d_model // heads
        # $W^Q, W^K, W^V$ for all heads at once, and the output projection $W^O$.
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.keep_weights = False
        self.fused = False
        # The attention weights of the last call made with `keep_weights`.
        self.weights: torch.Tensor | None = None

    # `[batch, len, d_model]` → `[batch, heads, len, d_k]`: each head gets its own slice of the features.
    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.d_k).transpose(1, 2)

    # Inputs are `[batch, len, d_model]`. The mask is boolean, `True` where attention is allowed, of shape
    # `[batch or 1, q_len or 1, k_len]`: the same for every head.
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        self._check_inputs(query, key, value, mask)
        batch, q_len, _ = query.shape
        q = self._split_heads(self.w_q(query))  # [batch, heads, q_len, d_k]
        k = self._split_heads(self.w_k(key))  # [batch, heads, k_len, d_k]
        v = self._split_heads(self.w_v(value))  # [batch, heads, k_len, d_k]
        if mask is not None:
            mask = mask.unsqueeze(1)  # [batch or 1, 1, q_len or 1, k_len]: broadcast over heads
        heads = self._attend(q, k, v, mask)  # [batch, heads, q_len, d_k]
        # Concatenate the heads, `[batch, heads, q_len, d_k]` → `[batch, q_len, d_model]`, and project.
        concat = heads.transpose(1, 2).reshape(batch, q_len, self.d_model)
        return self.w_o(concat)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        if self.fused and not self.keep_weights:
            dropout = self.dropout.p if self.training else 0.0
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        heads, weights = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        if self.keep_weights:
            self.weights = weights.detach()
        return heads

    # Wrong shapes fail here with a message that names them, not deep inside a matrix product.
    def _check_inputs(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      mask: torch.Tensor | None) -> None:
        dtype = self.w_q.weight.dtype
        sizes = check_tensor("query", query, ["batch", "q_len", self.d_model], dtype=dtype)
        check_tensor("key", key, ["batch", "k_len", self.d_model], dtype=dtype, sizes=sizes)
        check_tensor("value", value, ["batch", "k_len", self.d_model], dtype=dtype, sizes=sizes)
        if mask is None:
            return
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        batch, q_len, k_len = sizes["batch"], sizes["q_len"], sizes["k_len"]
        if mask.dim() != 3 or mask.shape[0] not in (1, batch) or mask.shape[1] not in (1, q_len) \
                or mask.shape[2] != k_len:
            raise ValueError(f"mask must be [batch or 1, q_len or 1, k_len] = [{batch} or 1, {q_len} or 1, "
                             f"{k_len}], got {tuple(mask.shape)}")


# ### The fused kernel
#
# `scaled_dot_product_attention` above is the equation, step by step: it writes the scores and the weights,
# `q_len` × `k_len` numbers per head, to memory, and autograd keeps them for the backward pass. At length 512
# those passes over memory dominate, and it is slower than PyTorch's
# `F.scaled_dot_product_attention` (`scripts/bench_modules.py` measures both, and `nn.MultiheadAttention`
# beside `MultiHeadAttention`; those timings are not part of this page's recorded results). For `float32`
# and lower precisions that function runs a *fused* kernel (FlashAttention's scheme): it walks over the
# keys in blocks, keeping for each query a running maximum and sum of the exponentials, so the softmax is
# finished without ever storing the whole matrix of weights; the backward pass recomputes each block from
# $Q$ and $K$ rather than reading it back. Same equation, same
# masking convention (`True` may attend), zeros for a query that sees no key. The tests check that the two
# agree, outputs and gradients, in `float64` and `float32`. Dropout, if any, draws from PyTorch's own random
# stream, so with dropout the two agree in distribution only. With `fused = True`, `MultiHeadAttention`
# should run at about the speed of `nn.MultiheadAttention` (the benchmark script measures it).
# `use_fused_attention` switches every multi-head attention of a model to it.
def use_fused_attention(model: nn.Module, fused: bool = True) -> None:
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.fused = fused


# ## Positional encoding
#
# Position $p$ gets a $d_\text{model}$-dimensional vector of sines and cosines of geometrically spaced
# frequencies:
#
# $$PE_{p, 2i} = \sin\left(\frac{p}{10000^{2i / d_\text{model}}}\right), \qquad
# PE_{p, 2i+1} = \cos\left(\frac{p}{10000^{2i / d_\text{model}}}\right).$$
#
# Each pair of dimensions $(2i, 2i+1)$ is a point on a circle, turning at its own speed as $p$ grows, from
# one turn per $2\pi$ positions down to one per $10000 \cdot 2\pi$. Moving by $k$ positions is a *rotation*
# of each pair, a linear map that depends on $k$ but not on $p$ (the tests check this). The authors chose
# the sinusoids because they *hypothesised* this would let the model learn to attend by relative position
# (Section 3.5); they also found learned positional embeddings to give nearly identical results (Table 3,
# row (E)). Whether the model here uses relative position is not measured.
#
# Returns `[length, d_model]`.
def sinusoidal_positional_encoding(length: int, d_model: int) -> torch.Tensor:
    check_positive("length", length, integer=True)
    if not isinstance(d_model, int) or d_model <= 0 or d_model % 2 != 0:
        raise ValueError(f"d_model must be a positive even number, got {d_model}")
    position = torch.arange(length, dtype=torch.float64)[:, None]  # [length, 1]
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # [d_model / 2]
    angle = position * frequency  # [length, d_model / 2]
    encoding = torch.empty(length, d_model, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angle)
    encoding[:, 1::2] = torch.cos(angle)
    return encoding.float()


# The encoding is added to the embeddings (the paper applies dropout to the sum). It is a fixed buffer, not
# a parameter, precomputed up to `max_len` positions.
class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float = 0.0, max_len: int = 512):
        super().__init__()
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        check_positive("max_len", max_len, integer=True)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("encoding", sinusoidal_positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, len, d_model]
        check_tensor("x", x, ["batch", "len", self.encoding.shape[1]])
        length = x.shape[1]
        if length > self.encoding.shape[0]:
            raise ValueError(f"sequence length {length} exceeds max_len {self.encoding.shape[0]}")
        return self.dropout(x + self.encoding[:length].to(x.dtype))


# ## The feed-forward sub-layer
#
# After attention has mixed information *across* positions, each position is transformed on its own by
# the same two-layer network:
#
# $$\mathrm{FFN}(x) = \max(0, x W_1 + b_1) W_2 + b_2,$$
#
# with an inner width $d_\text{ff}$ (2048 for $d_\text{model} = 512$ in the paper, four times wider).
class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        check_positive("d_model", d_model, integer=True)
        check_positive("d_ff", d_ff, integer=True)
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        self.layer1 = nn.Linear(d_model, d_ff)
        self.layer2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, len, d_model]
        check_tensor("x", x, ["batch", "len", self.layer1.in_features], dtype=self.layer1.weight.dtype)
        return self.layer2(self.dropout(F.relu(self.layer1(x))))


# ## Residual connection and layer normalisation
#
# Every sub-layer (attention or feed-forward) is wrapped the same way:
#
# $$x \leftarrow \mathrm{LayerNorm}(x + \mathrm{Dropout}(\mathrm{Sublayer}(x))).$$
#
# The residual path lets gradients flow through a deep stack. Layer normalisation keeps the scale of $x$
# steady. This is the paper's *post-norm* arrangement. Many later models normalise first
# ($x + \mathrm{Sublayer}(\mathrm{LayerNorm}(x))$), which later work (Xiong et al., 2020) found to train
# more easily without learning-rate warm-up; this page does not compare the two.
class Residual(nn.Module):
    def __init__(self, d_model: int, dropout: float = 0.0):
        super().__init__()
        check_positive("d_model", d_model, integer=True)
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        sizes = check_tensor("x", x, ["batch", "len", self.norm.normalized_shape[0]], dtype=self.norm.weight.dtype)
        check_tensor("sublayer_output", sublayer_output, ["batch", "len", x.shape[2]], dtype=x.dtype, sizes=sizes)
        return self.norm(x + self.dropout(sublayer_output))


# ## The encoder layer
#
# Self-attention over the source, then the feed-forward network, each inside a residual connection.
# `mask` is `[batch or 1, 1 or len, len]`, typically hiding padding.
class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.residual1 = Residual(d_model, dropout)
        self.residual2 = Residual(d_model, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.residual1(x, self.self_attention(x, x, x, mask))
        return self.residual2(x, self.feed_forward(x))


# ## The decoder layer
#
# Three sub-layers. First, *masked* self-attention over the target generated so far: position $t$ may not
# look at positions after $t$, since at generation time they do not exist yet. Second, cross-attention:
# queries from the decoder, keys and values from the encoder's output (the *memory*). This is where the
# decoder reads the source. Third, the feed-forward network.
class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.residual1 = Residual(d_model, dropout)
        self.residual2 = Residual(d_model, dropout)
        self.residual3 = Residual(d_model, dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, source_mask: torch.Tensor | None = None,
                target_mask: torch.Tensor | None = None) -> torch.Tensor:
        sizes = check_tensor("x", x, ["batch", "tgt_len", None], dtype=None)
        check_tensor("memory", memory, ["batch", "src_len", None], dtype=None, sizes=sizes)
        x = self.residual1(x, self.self_attention(x, x, x, target_mask))
        x = self.residual2(x, self.cross_attention(x, memory, memory, source_mask))
        return self.residual3(x, self.feed_forward(x))


# The *subsequent* mask: `[1, length, length]`, `True` on and below the diagonal. Row $t$ allows
# positions $0 \dots t$.
def subsequent_mask(length: int, device: torch.device | str | None = None) -> torch.Tensor:
    check_positive("length", length, integer=True)
    return torch.ones(length, length, dtype=torch.bool, device=device).tril().unsqueeze(0)


# ## The Transformer
#
# Embeddings (scaled by $\sqrt{d_\text{model}}$, as in the paper, so they are not drowned by the
# positional encoding), positional encoding, a stack of $N$ encoder layers over the source, a stack of
# $N$ decoder layers over the target, and a linear layer to next-token logits. The paper also shares the
# embedding and output weights; we keep them separate, since source and target vocabularies may differ.
#
# `positional=False` builds the same model without positional encoding, for the experiment.
class Transformer(nn.Module):
    def __init__(self, source_vocab: int, target_vocab: int, d_model: int = 64, heads: int = 4,
                 d_ff: int = 256, layers: int = 2, dropout: float = 0.0, max_len: int = 512,
                 positional: bool = True):
        super().__init__()
        check_positive("source_vocab", source_vocab, integer=True)
        check_positive("target_vocab", target_vocab, integer=True)
        check_positive("layers", layers, integer=True)
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        self.d_model = d_model
        self.source_embedding = nn.Embedding(source_vocab, d_model)
        self.target_embedding = nn.Embedding(target_vocab, d_model)
        self.position = PositionalEncoding(d_model, dropout, max_len) if positional else nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, dropout) for _ in range(layers))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, d_ff, dropout) for _ in range(layers))
        self.output = nn.Linear(d_model, target_vocab)

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        return self.position(embedding(tokens) * math.sqrt(self.d_model))

    # Source tokens `[batch, src_len]` → memory `[batch, src_len, d_model]`.
    def encode(self, source: torch.Tensor, source_mask: torch.Tensor | None = None) -> torch.Tensor:
        check_ids("source", source, ["batch", "src_len"], self.source_embedding.num_embeddings)
        x = self._embed(self.source_embedding, source)
        for layer in self.encoder:
            x = layer(x, source_mask)
        return x

    # Target tokens so far `[batch, tgt_len]` → logits for the next token at each position
    # `[batch, tgt_len, target_vocab]`.
    def decode(self, memory: torch.Tensor, target: torch.Tensor, source_mask: torch.Tensor | None = None,
               target_mask: torch.Tensor | None = None) -> torch.Tensor:
        sizes = check_ids("target", target, ["batch", "tgt_len"], self.target_embedding.num_embeddings)
        check_tensor("memory", memory, ["batch", "src_len", self.d_model], dtype=self.output.weight.dtype,
                     sizes=sizes)
        if target_mask is None:
            target_mask = subsequent_mask(target.shape[1], device=target.device)
        x = self._embed(self.target_embedding, target)
        for layer in self.decoder:
            x = layer(x, memory, source_mask, target_mask)
        return self.output(x)

    # Training runs encoder and decoder in one pass: the decoder gets the whole shifted target at once
    # ("teacher forcing"), and the subsequent mask keeps each position from seeing its own answer.
    def forward(self, source: torch.Tensor, target: torch.Tensor, source_mask: torch.Tensor | None = None,
                target_mask: torch.Tensor | None = None) -> torch.Tensor:
        memory = self.encode(source, source_mask)
        check_tensor("target", target, [source.shape[0], None], dtype=torch.long)
        return self.decode(memory, target, source_mask, target_mask)


# ## Greedy decoding
#
# At inference time there is no target to feed. Start from the start symbol, run the decoder, append the
# most likely next token, repeat. The encoder runs once; the decoder re-reads the whole prefix each step.
# That is simple and, for short outputs, cheap enough. Returns `[batch, steps]` without the start symbol.
@torch.no_grad()
def greedy_decode(model: Transformer, source: torch.Tensor, steps: int, start_symbol: int,
                  source_mask: torch.Tensor | None = None) -> torch.Tensor:
    check_positive("steps", steps, integer=True)
    memory = model.encode(source, source_mask)
    output = torch.full((source.shape[0], 1), start_symbol, dtype=torch.long, device=source.device)
    for _ in range(steps):
        logits = model.decode(memory, output, source_mask)  # [batch, len, vocab]
        output = torch.cat([output, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    return output[:, 1:]


# ## The experiment
#
# Sequences of `length` random symbols out of `symbols`, and the task of writing them backwards. The
# decoder input is the target shifted right behind the start symbol: it predicts target $t$ from
# target $0 \dots t-1$ and the whole source.
SYMBOLS = 10


def decoder_input(target: torch.Tensor) -> torch.Tensor:
    start = torch.full_like(target[:, :1], BOS)
    return torch.cat([start, target[:, :-1]], dim=1)


# One model trained with Adam on fresh batches; returns the model and its loss curve.
def train_reversal(positional: bool, length: int, steps: int, seed: int) -> tuple[Transformer, list[float]]:
    torch.manual_seed(seed)
    vocab = RESERVED + SYMBOLS
    model = Transformer(vocab, vocab, d_model=64, heads=4, d_ff=128, layers=2, positional=positional)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.98))
    data = torch.Generator().manual_seed(seed)

    def step(_: int) -> dict[str, float]:
        source, target = reversal_batch(64, length, SYMBOLS, data)
        logits = model(source, decoder_input(target))  # [batch, length, vocab]
        loss = F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}

    history = train_loop(steps, step, log_every=100)
    return model, history.values("loss")


# Accuracy of greedy decoding on fresh sequences, per output position `[length]`.
def accuracy_by_position(model: Transformer, length: int, seed: int, n: int = 500) -> torch.Tensor:
    source, target = reversal_batch(n, length, SYMBOLS, torch.Generator().manual_seed(10_000 + seed))
    model.eval()
    predicted = greedy_decode(model, source, length, BOS)
    return (predicted == target).float().mean(dim=0)


# Train with and without positional encoding, measure, and draw the figure.
def experiment(config: RunConfig) -> Outcome:
    length = config.choose(10, 6)
    steps = config.train_steps(full=1500, quick=300)
    runs = {}
    for positional in (True, False):
        model, losses = train_reversal(positional, length, steps, config.seed)
        runs[positional] = (model, losses, accuracy_by_position(model, length, config.seed))
    with_pe, without_pe = runs[True][2].mean().item(), runs[False][2].mean().item()
    metrics = {
        "length": length,
        "train_steps": steps,
        "token_accuracy_with_positional_encoding": round(with_pe, 4),
        "token_accuracy_without_positional_encoding": round(without_pe, 4),
        "chance": round(1 / SYMBOLS, 4),
        "accuracy_by_position_with": [round(a, 3) for a in runs[True][2].tolist()],
        "accuracy_by_position_without": [round(a, 3) for a in runs[False][2].tolist()],
    }
    headline = (f"Reversing {length} symbols: token accuracy {with_pe:.1%} with positional encoding, "
                f"{without_pe:.1%} without (chance {1 / SYMBOLS:.0%}).")
    return Outcome(headline, metrics, {"": _figure(runs, length, config.seed)})


def _figure(runs: dict, length: int, seed: int) -> plt.Figure:
    fig, (ax_loss, ax_acc, ax_map) = plt.subplots(1, 3, figsize=(14, 4))
    for positional, label in ((True, "with positional encoding"), (False, "without")):
        _, losses, by_position = runs[positional]
        ax_loss.plot(losses, label=label, linewidth=0.8)
        ax_acc.plot(range(length), by_position.numpy(), marker="o", label=label)
    ax_loss.set(xlabel="training step", ylabel="cross-entropy", title="Training loss", yscale="log")
    ax_loss.legend()
    ax_acc.axhline(1 / SYMBOLS, color="grey", linestyle=":", label="chance")
    ax_acc.set(xlabel="output position", ylabel="token accuracy", title="Greedy-decoding accuracy",
               ylim=(0, 1.05))
    ax_acc.legend()
    # Cross-attention of the last decoder layer, averaged over heads, for one fresh sequence.
    model = runs[True][0]
    source, _ = reversal_batch(1, length, SYMBOLS, torch.Generator().manual_seed(20_000 + seed))
    cross_attention = model.decoder[-1].cross_attention
    cross_attention.keep_weights = True
    greedy_decode(model, source, length, BOS)
    cross_attention.keep_weights = False
    weights = cross_attention.weights[0].mean(dim=0)  # [out_len, src_len]
    ax_map.imshow(weights.numpy(), cmap="viridis")
    ax_map.set(xlabel="source position", ylabel="output position", title="Cross-attention (last layer)")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
