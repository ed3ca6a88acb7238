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

Attention is a weighted average, and an average does not depend on the order of the things averaged. Permute
the input and the outputs are permuted the same way. On its own the Transformer's encoder sees a sentence as a
*set* of words (the decoder's causal mask does carry the order of what it has written so far). Word order
enters through *positional encodings*: a vector added to each word's embedding that depends only on its
position.

This page builds the model from the bottom up:

1. [scaled dot-product attention](#scaled-dot-product-attention), the core operation;
2. [multi-head attention](#multi-head-attention), several attentions in parallel;
3. [sinusoidal positional encoding](#positional-encoding);
4. [encoder and decoder layers](#the-encoder-layer) with their feed-forward sub-layers, residual connections
   and layer normalisation;
5. [the encoder-decoder Transformer](#the-transformer) with greedy decoding.

The later transformer pages reuse these pieces; [Transformer building blocks](building_blocks.py) tours them
(feed-forward activations, pre- and post-norm, position schemes, weight tying) and says which page replaces
which.

[The tests](../../tests/transformers/test_attention.py) check multi-head attention against PyTorch's
`torch.nn.MultiheadAttention` and labml-nn's implementation with copied weights, masks included, and the
encoder and decoder layers against `torch.nn.TransformerEncoderLayer` and `TransformerDecoderLayer`.
[More tests](../../tests/transformers/test_masking_and_fast_paths.py) check that an all-padding sentence in a
batch changes nothing for the others, and that the [fused kernel](#the-fused-kernel) gives the same results.

## What the experiment shows

[The experiment](#the-experiment) trains two small Transformers to *reverse* a sequence of random symbols:
source `3 9 4 7 …`, target `… 7 4 9 3`. The two are identical except that one has no positional encoding,
and they share one recipe: the same size, the same optimiser and learning rate, the same batches and the
same 800 steps, over three seeds. Reversal is pure position: the right output at step $t$ is whatever stood
at source position $n - 1 - t$. On sequences of 10 symbols out of 10, with chance at 10%, greedy decoding
gets a mean token accuracy of **92.2% with positional encoding** (89.1% to 96.0% over the seeds) and
**18.6% without** (17.8% to 19.1%). The model with positions is not trained to convergence: its loss is
still falling at the last step (left panel), the price of fitting three seeds of both arms into a
run of about 2.3 CPU minutes.

Why the model without positions stays near 19% is measured, not guessed. Without positional encoding the
model's output cannot depend on the order of the source (the encoder is permutation-equivariant and the
cross-attention averages over it; [a test](../../tests/transformers/test_attention.py) checks that the
logits do not change when the source is permuted). It sees the *bag* of source symbols, and the bag fixes
the best it can do ([the reference below](#what-a-model-blind-to-order-can-do)). Its teacher-forced test
cross-entropy is 1.278 nats per symbol, against a floor of 1.226 that no order-blind model can beat: it
is trained nearly as far as its blindness allows, so a longer run or another learning rate could not lift
it much. Its greedy accuracy matches that of an order-blind decoder that writes the bag from its most to
its least frequent symbol, 19.1% in expectation on the same test sequences (as would any rearrangement of
the bag: the mean alone does not single out the frequency order), and stays below the 27.7%
that an order-blind model could get at best (always writing the most frequent symbol). Almost every
symbol it writes occurs in the source (99.99% of them), and most of its outputs (97.7%) are a rearrangement of the
source. The evidence for the frequency order is the profile by position: the model's accuracy falls
along the output, then rises slightly, from 25.9% at the first step to 14.1% at the sixth and 17.5% at
the last, as the frequency-ordered decoder's does (27.7%, down to 15.6% at the seventh step, and 16.1% at
the last; the dashed line in the middle panel). Such a decoder writes the frequent symbols first, and a
frequent symbol is more often right. That the trained model uses this very rule is an inference from the
match, not read off its weights.

No test sequence occurs in the training stream: replayed from its seed, it contains none of the 1,500
test sources (500 per seed), so the accuracies are on unseen sequences.

The paper runs no such experiment. Its ablation of position (Table 3, row (E)) swaps the sinusoids for
learned positional embeddings and finds nearly identical results; it never drops position altogether.
The model here is also far smaller than the paper's base model (2 layers instead of 6,
$d_\text{model} = 32$ instead of 512, 4 heads instead of 8, $d_\text{ff} = 64$ instead of 2048), trained
without dropout or label smoothing, with a constant learning rate of $3 \cdot 10^{-3}$ instead of the
paper's warm-up schedule, and with gradient clipping, which the paper does not use. The learning rate was
not tuned for either arm; for the arm without positions the floor above bounds what tuning could give.

![Training loss, accuracy by output position, and the attention of the decoder over the source](results/attention.png)

The right panel shows where the decoder of the first seed's model looks, for one sequence, averaged over
the heads of the last layer: writing output $t$, the cross-attention puts most of its weight on and next
to source position $n - 1 - t$, a blurred anti-diagonal. Measured over 100 test sequences, the weight on
exactly that position is 35.0% on average (31.9% to 38.2% over the seeds), against 10% for attention spread
evenly over the 10 positions. For the model without positions the mean weight on the mirrored position is
10.0%, the 1/n that symmetry requires of any model blind to source order; this does not show how it spreads
its attention within a sequence.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
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
# Embeddings (scaled by $\sqrt{d_\text{model}}$, as in the paper, which gives no reason; presumably so
# they are not drowned by the positional encoding), positional encoding, a stack of $N$ encoder layers over
# the source, a stack of $N$ decoder layers over the target, and a linear layer to next-token logits. The
# paper also shares the embedding and output weights; we keep them separate, since source and target
# vocabularies may differ.
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
#
# Both arms get one recipe, fixed before the comparison: the same model size, Adam at one constant rate, the
# same batches (each seed fixes the initial weights and the stream of training sequences, shared by the two
# arms) and the same number of steps. The model is smaller than a paper's base model by far: two layers,
# $d_\text{model} = 32$, four heads of $d_k = 8$, $d_\text{ff} = 64$.
SYMBOLS = 10
D_MODEL, HEADS, D_FF, LAYERS = 32, 4, 64, 2
LEARNING_RATE = 3e-3
BATCH = 64
TEST_SEQUENCES = 500


def decoder_input(target: torch.Tensor) -> torch.Tensor:
    start = torch.full_like(target[:, :1], BOS)
    return torch.cat([start, target[:, :-1]], dim=1)


# One model trained with Adam on fresh batches; returns the model and its loss curve.
def train_reversal(positional: bool, length: int, steps: int, seed: int) -> tuple[Transformer, list[float]]:
    torch.manual_seed(seed)
    vocab = RESERVED + SYMBOLS
    model = Transformer(vocab, vocab, d_model=D_MODEL, heads=HEADS, d_ff=D_FF, layers=LAYERS,
                        positional=positional)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.98))
    data = torch.Generator().manual_seed(seed)

    def step(_: int) -> dict[str, float]:
        source, target = reversal_batch(BATCH, length, SYMBOLS, data)
        logits = model(source, decoder_input(target))  # [batch, length, vocab]
        loss = F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}

    history = train_loop(steps, step, log_every=100)
    return model.eval(), history.values("loss")


# The test sequences of one seed, drawn from their own generator, `[n, length]` each.
def test_sequences(length: int, seed: int, n: int = TEST_SEQUENCES) -> tuple[torch.Tensor, torch.Tensor]:
    return reversal_batch(n, length, SYMBOLS, torch.Generator().manual_seed(10_000 + seed))


# Test data must not be training data. The training stream is replayed from its seed and every test source
# looked up in it; with $10^{10}$ possible sources of length 10 and $5 \cdot 10^4$ drawn for training, a
# collision is unlikely, and this counts them.
def seen_in_training(source: torch.Tensor, steps: int, seed: int) -> int:
    data = torch.Generator().manual_seed(seed)
    seen: set[tuple[int, ...]] = set()
    for _ in range(steps):
        batch, _ = reversal_batch(BATCH, source.shape[1], SYMBOLS, data)
        seen.update(map(tuple, batch.tolist()))
    return sum(tuple(row) in seen for row in source.tolist())


# How often each symbol occurs in each sequence: `[n, length]` → `[n, SYMBOLS]`.
def symbol_counts(tokens: torch.Tensor) -> torch.Tensor:
    return F.one_hot(tokens - RESERVED, SYMBOLS).sum(dim=1).float()


# ### What a model blind to order can do
#
# Without positional encoding the encoder is permutation-equivariant and the decoder's cross-attention
# averages over the source, so the model's output cannot depend on the order of the source (the tests
# check it): it sees the *bag* of symbols, the counts $c_s$. Since the symbols are drawn independently,
# every arrangement of the bag is equally likely, and that fixes the best such a model can do:
#
# * *Teacher-forced cross-entropy.* Given the bag and the true prefix $y_{<t}$, the next symbol is one of
#   the $n - t$ not yet written, each equally likely, so the best prediction is $p(s) = r_s / (n - t)$ with
#   $r_s$ the count of $s$ still unwritten. Its cross-entropy on the test set is a floor for the model
#   without positions: reaching it means the model is trained as far as its blindness allows.
# * *Greedy accuracy.* Whatever an order-blind decoder writes at step $t$, the true symbol there is $s$
#   with probability $c_s / n$, so it is right with probability $c_{\hat y_t} / n \le \max_s c_s / n$.
#   The decoder that is best under teacher forcing writes the most frequent unwritten symbol; fed its own
#   output, it writes the bag from its most to its least frequent symbol, and its expected accuracy falls
#   along the output from $\mathbb{E}[\max_s c_s] / n$. Over all positions it averages
#   $\mathbb{E}[\sum_s c_s^2] / n^2$, as does any decoder that writes some rearrangement of the bag.
#
# `order_blind_reference` computes these on the test sequences: the floor of the cross-entropy, the
# expected accuracy by position of that frequency-ordered decoder, and the ceiling $\max_s c_s / n$.
def order_blind_reference(source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    counts = symbol_counts(source)  # [n, SYMBOLS]
    rows, length = torch.arange(len(source)), source.shape[1]
    unwritten_true, unwritten_own = counts.clone(), counts.clone()
    nll, expected = [], []
    for t in range(length):
        true = target[:, t] - RESERVED
        nll.append(-(unwritten_true[rows, true] / (length - t)).log().mean())
        unwritten_true[rows, true] -= 1
        guess = unwritten_own.argmax(dim=1)
        expected.append(counts[rows, guess].mean() / length)
        unwritten_own[rows, guess] -= 1
    return {"loss": torch.stack(nll).mean(), "by_position": torch.stack(expected),
            "ceiling": counts.max(dim=1).values.mean() / length}


# ### Measuring a trained model
#
# On the test sequences: greedy-decoding accuracy by output position `[length]`; the teacher-forced
# cross-entropy; the fraction of written symbols that occur in the source, and of outputs that are a
# rearrangement of the source; and the cross-attention weight of the last decoder layer (mean over heads)
# that output $t$ puts on source position $n - 1 - t$, where its answer stands (1 / `length` if spread
# evenly), over the first 100 sequences.
@torch.no_grad()
def measure(model: Transformer, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    predicted = greedy_decode(model, source, target.shape[1], BOS)  # [n, length]
    logits = model(source, decoder_input(target))  # [n, length, vocab]
    vocab = logits.shape[-1]
    present = F.one_hot(source, vocab).sum(dim=1) > 0  # [n, vocab]
    rearranged = (F.one_hot(predicted, vocab).sum(dim=1) == F.one_hot(source, vocab).sum(dim=1)).all(dim=1)
    return {"by_position": (predicted == target).float().mean(dim=0),
            "loss": F.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1)),
            "in_source": present.gather(1, predicted).float().mean(),
            "rearranged": rearranged.float().mean(),
            "mirror_attention": mirror_attention(model, source[:100])}


def mirror_attention(model: Transformer, source: torch.Tensor) -> torch.Tensor:
    cross_attention = model.decoder[-1].cross_attention
    cross_attention.keep_weights = True
    greedy_decode(model, source, source.shape[1], BOS)
    cross_attention.keep_weights = False
    weights = cross_attention.weights.mean(dim=1)  # [n, out_len, src_len]
    # Flipping the source axis puts source position n - 1 - t on the diagonal of row t.
    return weights.flip(-1).diagonal(dim1=-2, dim2=-1).mean()


# ### The run
#
# Three seeds in the full run, two in the quick one. For each seed both arms are trained and measured on
# the same test sequences, and the order-blind reference is computed on them. Every number that compares
# the arms goes into the results file per seed, with its mean and spread.
ARMS = {"with": True, "without": False}


def experiment(config: RunConfig) -> Outcome:
    length = config.choose(10, 6)
    steps = config.train_steps(full=800, quick=150)
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    runs: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
    references, leaked, first_models = {}, {}, {}
    for seed in seeds:
        source, target = test_sequences(length, seed)
        references[seed] = order_blind_reference(source, target)
        leaked[seed] = seen_in_training(source, steps, seed)
        for arm, positional in ARMS.items():
            model, losses = train_reversal(positional, length, steps, seed)
            runs[arm][seed] = {**measure(model, source, target), "losses": losses}
            first_models.setdefault(arm, model)
    metrics = _metrics(runs, references, seeds, length, steps)
    metrics["test_sources_seen_in_training"] = sum(leaked.values())
    headline = (f"Reversing {length} symbols, mean of {len(seeds)} seeds: token accuracy "
                f"{metrics['token_accuracy_with']['mean']:.1%} with positional encoding, "
                f"{metrics['token_accuracy_without']['mean']:.1%} without (an order-blind decoder that writes "
                f"the bag by frequency: {metrics['order_blind_accuracy']['mean']:.1%}).")
    return Outcome(headline, metrics, {"": _figure(runs, references, first_models["with"], length, seeds[0])})


def _metrics(runs: dict, references: dict, seeds: list[int], length: int, steps: int) -> dict:
    def per_seed(arm: str, key: str) -> dict:
        return over_seeds({seed: float(runs[arm][seed][key].mean()) for seed in seeds})

    def reference(key: str) -> dict:
        return over_seeds({seed: float(references[seed][key].mean()) for seed in seeds})

    def by_position(values: list[torch.Tensor]) -> list[float]:
        return [round(v, 4) for v in torch.stack(values).mean(dim=0).tolist()]

    metrics = {"length": length, "train_steps": steps, "seeds": seeds, "chance": round(1 / SYMBOLS, 4)}
    for arm in ARMS:
        metrics[f"token_accuracy_{arm}"] = per_seed(arm, "by_position")
        metrics[f"test_loss_{arm}"] = per_seed(arm, "loss")
        metrics[f"mirror_attention_{arm}"] = per_seed(arm, "mirror_attention")
    metrics["in_source_without"] = per_seed("without", "in_source")
    metrics["rearranged_without"] = per_seed("without", "rearranged")
    metrics["order_blind_loss_floor"] = reference("loss")
    metrics["order_blind_accuracy"] = reference("by_position")
    metrics["order_blind_ceiling"] = reference("ceiling")
    metrics["loss_without_minus_floor"] = over_seeds(
        {seed: float(runs["without"][seed]["loss"] - references[seed]["loss"]) for seed in seeds})
    for arm in ARMS:
        metrics[f"accuracy_by_position_{arm}"] = by_position([runs[arm][seed]["by_position"] for seed in seeds])
    metrics["order_blind_accuracy_by_position"] = by_position([references[seed]["by_position"] for seed in seeds])
    return metrics


def _figure(runs: dict, references: dict, model: Transformer, length: int, seed: int) -> plt.Figure:
    fig, (ax_loss, ax_acc, ax_map) = plt.subplots(1, 3, figsize=(14, 4))
    for colour, (arm, label) in enumerate((("with", "with positional encoding"), ("without", "without"))):
        for i, (run_seed, run) in enumerate(runs[arm].items()):
            ax_loss.plot(run["losses"], color=f"C{colour}", linewidth=0.6, alpha=0.8,
                         label=label if i == 0 else None)
            ax_acc.plot(range(length), run["by_position"].numpy(), color=f"C{colour}", marker="o",
                        markersize=3, linewidth=0.8, label=f"{label}, seeds" if run_seed == seed else None)
    floor = sum(float(reference["loss"]) for reference in references.values()) / len(references)
    ax_loss.axhline(floor, color="grey", linestyle="--", label="order-blind floor")
    ax_loss.set(xlabel="training step", ylabel="cross-entropy", title="Training loss", yscale="log")
    ax_loss.legend()
    expected = torch.stack([reference["by_position"] for reference in references.values()]).mean(dim=0)
    ax_acc.plot(range(length), expected.numpy(), color="grey", linestyle="--",
                label="order-blind, by frequency")
    ax_acc.axhline(1 / SYMBOLS, color="grey", linestyle=":", label="chance")
    ax_acc.set(xlabel="output position", ylabel="token accuracy", title="Greedy-decoding accuracy",
               ylim=(0, 1.05))
    ax_acc.legend(fontsize="small")
    # Cross-attention of the last decoder layer, averaged over heads, for one fresh sequence.
    source, _ = reversal_batch(1, length, SYMBOLS, torch.Generator().manual_seed(20_000 + seed))
    cross_attention = model.decoder[-1].cross_attention
    cross_attention.keep_weights = True
    greedy_decode(model, source, length, BOS)
    cross_attention.keep_weights = False
    weights = cross_attention.weights[0].mean(dim=0)  # [out_len, src_len]
    ax_map.imshow(weights.numpy(), cmap="viridis")
    ax_map.set(xlabel="source position", ylabel="output position",
               title=f"Cross-attention (last layer, seed {seed})")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
