r"""
---
title: "Fast Weights Transformer: linear attention and the delta rule"
summary: Causal linear attention in its parallel, recurrent and chunked forms (equal to 1e-12), its memory
  and time against softmax attention as the sequence grows, and the delta rule of fast weight programmers
  against the plain sum and a gated sum on associative recall, where it recalls better at every load.
---

# Fast Weights Transformer: linear attention and the delta rule

[Katharopoulos, Vyas, Pappas, Fleuret, 2020. *Transformers are RNNs: Fast Autoregressive Transformers with
Linear Attention*](https://arxiv.org/abs/2006.16236) and
[Schlag, Irie, Schmidhuber, 2021. *Linear Transformers Are Secretly Fast Weight
Programmers*](https://arxiv.org/abs/2102.11174)

Softmax attention compares every query with every key: for a sequence of $n$ positions it computes an
$n \times n$ matrix of weights, so its time and (unless fused) its memory grow as $n^2$. Write the softmax
weight as a similarity $\mathrm{sim}(q, k) = \exp(q^\top k / \sqrt{d_k})$. Katharopoulos et al. replace it
with a kernel that factors, $\mathrm{sim}(q, k) = \phi(q)^\top \phi(k)$, with the feature map
$\phi(x) = \mathrm{elu}(x) + 1$ (positive, so every weight is positive). The causal output at position $t$,

$$y_t = \frac{\sum_{j \le t} \phi(q_t)^\top \phi(k_j)\, v_j}{\sum_{j \le t} \phi(q_t)^\top \phi(k_j)}
= \frac{S_t^\top \phi(q_t)}{z_t^\top \phi(q_t)}, \qquad
S_t = \sum_{j \le t} \phi(k_j) v_j^\top, \quad z_t = \sum_{j \le t} \phi(k_j),$$

can then be computed in two ways: in *parallel*, as the masked $n \times n$ product
$\phi(Q)\phi(K)^\top$ (quadratic, like softmax), or *recurrently*, carrying the $d_k \times d_v$ matrix $S_t$
and the vector $z_t$ from step to step (linear in $n$, constant memory per step of generation): a
transformer that is an RNN. The two are the same numbers, and the tests check it to $10^{-12}$.

Schlag et al. read $S_t$ as *fast weights*: a weight matrix that a slow network (the projections) programs
while it reads, one outer product $\phi(k_t) v_t^\top$ at a time, the fast weight memories of the 1990s.
Seen as a memory, the sum has a flaw: it can only add. A matrix with $d_k$ rows holds at most $d_k$
orthogonal keys (in principle: the positive features of linear attention are never orthogonal); beyond
that every new association interferes with the old ones, and a key written twice returns the sum of its
two values. Their *delta rule* first reads what the memory holds for the key,
$\bar v_t = S_{t-1}^\top \phi(k_t)$, then moves it towards the new value by a learned step
$\beta_t = \sigma(W_\beta x_t) \in (0, 1)$:

$$S_t = S_{t-1} + \beta_t\, \phi(k_t)\, \big(v_t - \bar v_t\big)^\top, \qquad y_t = S_t^\top \phi(q_t),$$

with $\phi$ normalised to sum 1 instead of dividing by $z_t^\top\phi(q_t)$. With $\beta_t = 1$ and
orthonormal keys, a write *replaces* the key's value. ($S$ here is the transpose of the paper's $W^{(t)}$,
so that outputs read $S^\top \phi(q)$ like the linear-attention equations above.)

## What the experiment shows

![Memory and time against length; recall accuracy against the number of keys](results/fast_weights.png)

**Memory and time against length** (left two panels; one sequence, 4 heads of $d_k = 16$, forward and
backward, lengths 64 to 4,096). The memory is the bytes autograd keeps for the backward pass, a
deterministic count; growth exponents are least-squares slopes of log against log over 512 to 4,096
positions. Softmax attention written as the equation keeps its $n \times n$ weights: its memory grows with
exponent 1.98 (531 MiB at 4,096). Chunked linear attention grows with exponent 1.00 (10 MiB at 4,096),
and so does PyTorch's fused softmax kernel, which never stores the weights either: the memory quadratic
belongs to the way softmax attention is usually written, not to softmax itself (FlashAttention, which came
two years after Katharopoulos et al., removed it). The *time* separates them: the time exponents are
softmax as the equation 2.18, the fused kernel 1.66 (it does all $n^2$ products, only faster, and at these
lengths not yet at its quadratic rate), chunked linear attention 0.99. At 4,096 positions chunked linear
attention takes 26 ms against 121 ms for the fused kernel and 1.9 s for the equation. Up to 256 positions
it is no faster than the fused kernel: its chunk of 64 and its $d_k \times d_k$ states cost more than a
small softmax. The parallel (masked) form of linear attention is quadratic in both, like softmax
(exponents 1.93 and 2.37): the saving comes from computing $\phi(K)^\top V$ first, not from the feature
map. The times are CPU times at one thread on a machine shared with other jobs (load average about 16),
medians of three passes: the time exponents are noisy (an exponent above 2, as the equation's and the
parallel form's here, is noise or memory-traffic overhead, not super-quadratic work; not measured), and
only the split into about 1 (chunked) and about 2 (the rest) is the result. Katharopoulos et al.'s
Figure 1 measures the same on a GPU, up to 65,536 positions.

**Associative recall at growing load** (third panel). A one-layer model, one head of $d_k = 16$, reads
$N$ (key, value) pairs and then answers 8 queries; it is trained on $N$ drawn from 4 to 40, 800 Adam steps
of 64 sequences, and tested on 1,000 held-out sequences at each $N$ (chance is 1 in 16). Three arms: the
sum (linear attention), the delta rule, and a control, the *gated sum*: the delta rule without its
correction term ($S_t = S_{t-1} + \beta_t \phi'(k_t) v_t^\top$, the same sum-normalised features, the same
learned $\beta_t$, no normaliser). All three got the same learning-rate grid (0.01, 0.03, 0.1) on seed 0,
the rate with the best mean accuracy kept (0.01 for the sum, 0.03 for the gated sum and the delta rule;
each chosen rate has a worse one on either side except the sum's, at the grid's low end, where a check
outside this run found 0.003 and 0.001 worse), then two more seeds.

The delta rule recalls better at every load, on every seed: 98.0% against 93.2% for the sum at $N = 4$
(a gap of 4.8 points), 80.1% (78.2% to 81.2% over the three seeds) against 69.7% (68.7% to 70.6%) at
$N = 16$ (10.4 points), 49.9% (45.7% to 52.9%) against 44.1% (43.5% to 45.1%) at $N = 40$ (5.9 points,
2.1 to 9.4 over seeds). The gated sum recalls like the plain sum: 92.3%, 69.5% and 44.2% at the same
three loads, and the delta rule is ahead of it on every seed at every $N$ (by 4.5 to 13.7 points). So the
gap is in the correction term, the read-before-write: not in the sum-normalised feature map, the missing
normaliser, or the learned write strength, which the gated sum shares. Nothing marks $d_k = 16$ keys as a
capacity: the sum's accuracy falls steadily from the smallest load, and the gap rises from 4.8 points to a
broad maximum between 12 and 16 keys (10.1 and 10.4) and falls to 5.9 at 40: a hump, not a threshold.
Three reasons the nominal capacity does not apply: the elu+1 features are positive, so no two keys are
orthogonal; keys and values are projections of one input; and the 8 queries are positions of the
sequence too, so the memory takes $N + 8$ writes, of which the sum must keep all while the delta rule and
the gated sum can learn $\beta_t \approx 0$ at the queries (whether they do is not measured). Nor is
the gap the sum's being slower to train: in checks outside this run (seed 0), the sum trained three times
as long (2,400 steps) reaches 93.3% at $N = 4$ and 69.9% at $N = 16$, hardly more than at 800, while the
delta rule at 2,400 steps reaches 99.3% and 82.5%. Neither model was trained to convergence.

Schlag et al. study capacity (their Setting 1, a fixed number of distinct keys) with the sum rule while
varying the feature map (linear, FAVOR+, their DPFP), and compare update rules in Setting 2, where keys
get new values. This page crosses the two: update rules on distinct keys at growing load, with elu+1
features only. DPFP is implemented (and checked against labml-nn) but not used in the experiment. It is a
miniature, not a reproduction.

**Mechanism only** (right panel): no training and no feature map, $N$ random unit keys in
$\mathbb{R}^{16}$ written directly with one-hot values, by the raw sum $S = \sum_j k_j v_j^\top$ (labelled
"raw sum") or by the delta rule with $\beta = 1$, then all $N$ keys read back. Here the delta rule is
*worse* at high load (43.5% against 74.7% at $N = 40$): with $\beta = 1$ each write makes the newest key
exact and erases part of what older, overlapping keys had stored, whereas the sum keeps every association
with some cross-talk. With all keys distinct and queried equally, that trade loses. The delta rule's edge
is in replacing what a key holds. The trained model learns its keys, its $\beta_t$ and what its feature
map sees, and there the delta rule comes out ahead, by way of its correction term (the control says);
how the trained model uses it, this page does not measure.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from labml import monit
from torch import nn

from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import optimizer_step, train_loop
from papers.transformers.attention import MultiHeadAttention, scaled_dot_product_attention


# ## Feature maps
#
# Katharopoulos et al.'s $\phi(x) = \mathrm{elu}(x) + 1$ is $x + 1$ for $x > 0$ and $e^x$ below: positive
# everywhere, so the normaliser $z_t^\top\phi(q_t)$ never vanishes, and smooth, so gradients flow through
# negative inputs too.
def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


# Schlag et al.'s *deterministic parameter-free projection* (DPFP) maps $k \in \mathbb{R}^{d}$ to
# $2 d \nu$ features: with $r = \mathrm{ReLU}([k, -k])$ (size $2d$), feature $(i, j)$ is
# $r_j\, r_{j + i}$ for $i = 1 \dots \nu$, indices taken cyclically (`roll` shifts $r$ by $i$). Products of
# two rectified coordinates are sparse, so random keys have nearly orthogonal features, and there are more
# of them than $d$: a larger state.
def dpfp_feature_map(x: torch.Tensor, nu: int = 1) -> torch.Tensor:
    check_positive("nu", nu, integer=True)
    rectified = F.relu(torch.cat([x, -x], dim=-1))  # [..., 2d]
    if nu >= rectified.shape[-1]:
        raise ValueError(f"nu must be below 2 * d_k = {rectified.shape[-1]}, got {nu}")
    rolled = torch.cat([rectified.roll(shifts=i, dims=-1) for i in range(1, nu + 1)], dim=-1)  # [..., 2d nu]
    return rectified.repeat(*[1] * (x.dim() - 1), nu) * rolled


# The delta rule uses features normalised to sum 1, $\phi'(k) = \phi(k) / \sum_j \phi(k)_j$; `eps` keeps an
# all-zero DPFP feature vector from dividing by zero.
def sum_normalised(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return features / (features.sum(dim=-1, keepdim=True) + eps)


FEATURE_MAPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"elu": elu_feature_map, "dpfp": dpfp_feature_map}


# ## Causal linear attention, three ways
#
# All three take features $\phi(Q), \phi(K)$ `[batch, heads, n, d_phi]` (positive) and values $V$
# `[batch, heads, n, d_v]` and return `[batch, heads, n, d_v]`.
#
# **Parallel form.** The weights $A = \phi(Q)\phi(K)^\top$ with the upper triangle zeroed, rows divided by
# their sums: $Y = \mathrm{rownorm}(\mathrm{tril}(A))\, V$. An $n \times n$ matrix per head, as in softmax
# attention.
def linear_attention_parallel(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    n = phi_q.shape[-2]
    causal = torch.ones(n, n, dtype=torch.bool, device=phi_q.device).tril()
    weights = (phi_q @ phi_k.transpose(-2, -1)).masked_fill(~causal, 0.0)  # [batch, heads, n, n]
    return (weights @ v) / weights.sum(dim=-1, keepdim=True)


# **Recurrent form.** The RNN: carry $S_t = S_{t-1} + \phi(k_t) v_t^\top$ `[batch, heads, d_phi, d_v]` and
# $z_t = z_{t-1} + \phi(k_t)$, and read $y_t = S_t^\top\phi(q_t) / z_t^\top\phi(q_t)$. One step per
# position: the form used to generate text token by token, at constant cost per token.
def linear_attention_recurrent(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    state = phi_k.new_zeros(*phi_k.shape[:-2], phi_k.shape[-1], v.shape[-1])  # S_0 = 0
    normaliser = phi_k.new_zeros(*phi_k.shape[:-2], phi_k.shape[-1])  # z_0 = 0
    outputs = []
    for t in range(phi_q.shape[-2]):
        state = state + phi_k[..., t, :, None] * v[..., t, None, :]
        normaliser = normaliser + phi_k[..., t, :]
        numerator = (phi_q[..., t, None, :] @ state).squeeze(-2)  # [batch, heads, d_v]
        outputs.append(numerator / (phi_q[..., t, :] * normaliser).sum(dim=-1, keepdim=True))
    return torch.stack(outputs, dim=-2)


# **Chunked form.** The recurrent form has a Python step per position; the parallel form an $n \times n$
# matrix. Between the two: cut the sequence into chunks of $c$ positions. Inside a chunk, the parallel form
# on a $c \times c$ block; across chunks, the state $S$ at each chunk's start, all of them at once as an
# exclusive cumulative sum of the chunks' $\phi(K_c)^\top V_c$. Time and memory
# $O(n c\, d + (n / c)\, d_\phi d_v)$: linear in $n$ for a fixed chunk. The sequence is padded to a multiple of
# $c$ with zero keys (which write nothing) and the padded outputs dropped.
def linear_attention_chunked(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor,
                             chunk: int = 64) -> torch.Tensor:
    check_positive("chunk", chunk, integer=True)
    *lead, n, d_phi = phi_q.shape
    pad = (-n) % chunk
    blocks = (n + pad) // chunk
    q = F.pad(phi_q, (0, 0, 0, pad), value=1.0).reshape(*lead, blocks, chunk, d_phi)
    k = F.pad(phi_k, (0, 0, 0, pad)).reshape(*lead, blocks, chunk, d_phi)
    values = F.pad(v, (0, 0, 0, pad)).reshape(*lead, blocks, chunk, v.shape[-1])
    written = k.transpose(-2, -1) @ values  # [..., blocks, d_phi, d_v]: each chunk's sum of phi(k) v^T
    state = written.cumsum(dim=-3) - written  # S at each chunk's start
    key_sums = k.sum(dim=-2)  # [..., blocks, d_phi]
    normaliser = key_sums.cumsum(dim=-2) - key_sums  # z at each chunk's start
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=phi_q.device).tril()
    local = (q @ k.transpose(-2, -1)).masked_fill(~causal, 0.0)  # [..., blocks, chunk, chunk]
    numerator = q @ state + local @ values  # [..., blocks, chunk, d_v]
    denominator = (q @ normaliser[..., None]) + local.sum(dim=-1, keepdim=True)  # [..., blocks, chunk, 1]
    return (numerator / denominator).reshape(*lead, blocks * chunk, v.shape[-1])[..., :n, :]


# ## The delta rule
#
# Features $\phi'(Q), \phi'(K)$ normalised to sum 1, values `[batch, heads, n, d_v]` and write strengths
# $\beta$ `[batch, heads, n]` in $[0, 1]$. Each step reads the value stored under the key, writes the
# correction, then answers the query from the updated memory. There is no normaliser $z$: the sum-1
# features keep the outputs on the scale of the values.
def delta_rule(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    state = phi_k.new_zeros(*phi_k.shape[:-2], phi_k.shape[-1], v.shape[-1])  # S_0 = 0
    outputs = []
    for t in range(phi_q.shape[-2]):
        key = phi_k[..., t, :]  # [batch, heads, d_phi]
        retrieved = (key[..., None, :] @ state).squeeze(-2)  # S_{t-1}^T phi(k_t): [batch, heads, d_v]
        correction = beta[..., t, None] * (v[..., t, :] - retrieved)
        state = state + key[..., :, None] * correction[..., None, :]
        outputs.append((phi_q[..., t, None, :] @ state).squeeze(-2))
    return torch.stack(outputs, dim=-2)


# **The control: a gated sum.** The delta rule without its correction term, $S_t = S_{t-1} + \beta_t\,
# \phi'(k_t)\, v_t^\top$: the same sum-normalised features, the same learned $\beta_t$, no normaliser, only
# no read-before-write. Nothing depends on the state, so it has a parallel form, $Y = \mathrm{tril}(\phi'(Q)
# \phi'(K)^\top)\,(\beta \odot V)$ (the tests check it against the recurrence). Whatever separates the delta
# rule from this control is the correction $-\beta_t \phi'(k_t) \bar v_t^\top$.
def gated_sum(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    n = phi_q.shape[-2]
    causal = torch.ones(n, n, dtype=torch.bool, device=phi_q.device).tril()
    weights = (phi_q @ phi_k.transpose(-2, -1)).masked_fill(~causal, 0.0)  # [batch, heads, n, n]
    return weights @ (beta[..., None] * v)


LINEAR_FORMS = {"parallel": linear_attention_parallel, "recurrent": linear_attention_recurrent,
                "chunked": linear_attention_chunked}


# ## As attention modules
#
# Both modules are the project's [multi-head attention](attention.py) with the softmax swapped out: the
# projections $W^Q, W^K, W^V$, the split into heads and the output projection $W^O$ are inherited, and
# only `_attend` (per-head `[batch, heads, n, d_k]` in and out) changes, so they drop into any block that
# calls `attention(h, h, h, mask)`. They are causal by construction: the mask must be the causal mask
# `[1 or batch, n, n]` the harness passes (checked), or `None`, which here also means causal (linear
# attention has no cheap non-causal mask of arbitrary shape).
def check_causal(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None) -> None:
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal linear attention reads and writes one sequence: query length {q.shape[-2]} "
                         f"must equal key length {k.shape[-2]}")
    if mask is None or mask.device.type == "meta":
        return
    n = mask.shape[-1]
    causal = torch.ones(n, n, dtype=torch.bool, device=mask.device).tril()
    if mask.shape[-2] != n or not bool((mask == causal).all()):
        raise ValueError("linear attention is causal: mask must be the causal mask [batch or 1, n, n] or None")


class LinearAttention(MultiHeadAttention):
    def __init__(self, d_model: int, heads: int, form: str = "chunked", chunk: int = 64, bias: bool = True):
        super().__init__(d_model, heads, bias=bias)
        if form not in LINEAR_FORMS:
            raise ValueError(f"form must be one of {sorted(LINEAR_FORMS)}, got {form!r}")
        check_positive("chunk", chunk, integer=True)
        self.form = form
        self.chunk = chunk

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        check_causal(q, k, mask)
        phi_q, phi_k = elu_feature_map(q), elu_feature_map(k)
        if self.form == "chunked":
            return linear_attention_chunked(phi_q, phi_k, v, self.chunk)
        return LINEAR_FORMS[self.form](phi_q, phi_k, v)


# The delta-rule module adds one projection, $W_\beta$ `[d_model → heads]`, for the write strength
# $\beta_t = \sigma(W_\beta x_t)$ of each head, computed from the key input in `forward` before the
# inherited projections run. `feature_map` is `"elu"` (then sum-normalised) or `"dpfp"` with its $\nu$.
#
# labml-nn's `FastWeightsAttention` is this module with DPFP features and no biases; the
# [tests](../../tests/transformers/test_fast_weights.py) copy the weights into it and get the same outputs to
# $10^{-12}$. (It has no plain linear-attention module; that one is checked against a brute-force sum.) Both
# modules ignore the harness's `fused` and `keep_weights` switches: there is no softmax to fuse and no
# $n \times n$ matrix to keep.
class DeltaRuleAttention(MultiHeadAttention):
    def __init__(self, d_model: int, heads: int, feature_map: str = "elu", nu: int = 1, bias: bool = True):
        super().__init__(d_model, heads, bias=bias)
        if feature_map not in FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {sorted(FEATURE_MAPS)}, got {feature_map!r}")
        check_positive("nu", nu, integer=True)
        if feature_map == "dpfp" and nu >= 2 * self.d_k:
            raise ValueError(f"nu must be below 2 * d_k = {2 * self.d_k}, got {nu}")
        self.feature_map = feature_map
        self.nu = nu
        self.w_beta = nn.Linear(d_model, heads, bias=bias)
        self._beta: torch.Tensor | None = None

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("key", key, ["batch", "k_len", self.d_model], dtype=self.w_q.weight.dtype)
        self._beta = torch.sigmoid(self.w_beta(key)).transpose(1, 2)  # [batch, heads, k_len]
        return super().forward(query, key, value, mask)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        mapped = dpfp_feature_map(x, self.nu) if self.feature_map == "dpfp" else elu_feature_map(x)
        return sum_normalised(mapped)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        check_causal(q, k, mask)
        assert self._beta is not None
        return delta_rule(self.features(q), self.features(k), v, self._beta)


# The control module: the delta-rule module (same parameters, same features, same $\beta$) with `gated_sum`
# in place of `delta_rule`.
class GatedSumAttention(DeltaRuleAttention):
    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        check_causal(q, k, mask)
        assert self._beta is not None
        return gated_sum(self.features(q), self.features(k), v, self._beta)


# ## Experiment 1: memory and time against length
#
# Four causal attentions on the harness's head size (one sequence, 4 heads of $d_k = 16$), forward and
# backward: softmax attention as the equation ([`scaled_dot_product_attention`](attention.py), which
# materialises the weights), PyTorch's fused softmax kernel (which does not store them, but still does
# $n^2$ work), and linear attention in its parallel and chunked forms.
HEADS, HEAD_SIZE = 4, 16


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    causal = torch.ones(q.shape[-2], q.shape[-2], dtype=torch.bool, device=q.device).tril()
    return scaled_dot_product_attention(q, k, v, causal)[0]


def fused_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def linear_parallel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return linear_attention_parallel(elu_feature_map(q), elu_feature_map(k), v)


def linear_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return linear_attention_chunked(elu_feature_map(q), elu_feature_map(k), v)


ATTENTIONS = {"softmax": softmax_attention, "softmax, fused": fused_softmax_attention,
              "linear, parallel": linear_parallel, "linear, chunked": linear_chunked}


def random_heads(length: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, HEADS, length, HEAD_SIZE, generator=generator).requires_grad_() for _ in range(3)]


# **Memory** is deterministic: the bytes of the distinct storages that autograd saves for the backward pass
# (`saved_tensors_hooks` sees each one), which is what training must keep per layer.
def saved_bytes(attention: Callable[..., torch.Tensor], length: int) -> int:
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        attention(*random_heads(length, 0))
    return sum(storages.values())


# **Time** is the median CPU time of several forward-and-backward passes (the process's CPU time, at one
# thread, so that other programs on the machine slow it less than they would the wall clock).
def median_seconds(attention: Callable[..., torch.Tensor], length: int, repeats: int) -> float:
    q, k, v = random_heads(length, 0)
    times = []
    for _ in range(repeats + 1):  # the first pass warms up and is not counted
        started = time.process_time()
        attention(q, k, v).sum().backward()
        times.append(time.process_time() - started)
    return statistics.median(times[1:])


# The growth exponent: the least-squares slope of $\log m$ against $\log n$ over the lengths from `start`
# on (512 to 4,096 here), 1 for linear, 2 for quadratic. Shorter lengths are left out: there fixed costs
# (the chunk of 64, calls into PyTorch) hide the growth.
def growth_exponent(lengths: list[int], values: list[float], start: int = 512) -> float:
    points = [(math.log(n), math.log(m)) for n, m in zip(lengths, values) if n >= start]
    if len(points) < 2:
        raise ValueError(f"need at least two lengths from {start} on, got {lengths}")
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    return (sum((x - mean_x) * (y - mean_y) for x, y in points)
            / sum((x - mean_x) ** 2 for x, _ in points))


def scaling(lengths: list[int], repeats: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    for name, attention in monit.iterate("length scaling", list(ATTENTIONS.items())):
        results[name] = {"bytes": [float(saved_bytes(attention, n)) for n in lengths],
                         "seconds": [median_seconds(attention, n, repeats) for n in lengths]}
    return results


# ## Experiment 2: associative recall at growing load
#
# A sequence writes $N$ (key, value) pairs, each pair one position: the input is the sum of a key
# embedding (one of 64 key tokens, $N$ distinct ones per sequence) and a value embedding (one of 16 value
# tokens). Then come 8 queries: a key seen earlier, with a "query" token in place of the value; the model
# must name the value written with that key. The model is one attention layer between embeddings
# ($d_\text{model} = d_k = 16$, one head) and a linear read-out, nothing else: what the memory cannot hold,
# nothing can. The queries are positions of the same sequence, so they also write to the memory: $N + 8$
# writes in all. The plain sum cannot help it; the delta rule and the gated sum can learn $\beta_t \approx 0$
# at query positions. Keys and values are projections of one input, and the elu+1 features are positive,
# so no two keys' features are orthogonal: the nominal capacity of $d_k = 16$ orthogonal keys is not a
# threshold this model meets, and none shows in the results.
KEY_TOKENS, VALUE_TOKENS, QUERIES, RECALL_WIDTH = 64, 16, 8, 16
KEY_COUNTS = [4, 8, 12, 16, 24, 32, 40]


# `[batch, N + 8]` key ids and value ids (the query token is `VALUE_TOKENS`), and the targets `[batch, 8]`.
def recall_batch(batch: int, keys: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    check_in_range("keys", keys, 1, KEY_TOKENS)
    written = torch.rand(batch, KEY_TOKENS, generator=generator).argsort(dim=-1)[:, :keys]  # distinct keys
    values = torch.randint(VALUE_TOKENS, (batch, keys), generator=generator)
    asked = torch.randint(keys, (batch, QUERIES), generator=generator)
    key_ids = torch.cat([written, written.gather(1, asked)], dim=1)
    value_ids = torch.cat([values, torch.full((batch, QUERIES), VALUE_TOKENS)], dim=1)
    return key_ids, value_ids, values.gather(1, asked)


class RecallModel(nn.Module):
    def __init__(self, attention: MultiHeadAttention):
        super().__init__()
        self.key_embedding = nn.Embedding(KEY_TOKENS, attention.d_model)
        self.value_embedding = nn.Embedding(VALUE_TOKENS + 1, attention.d_model)
        self.attention = attention
        self.readout = nn.Linear(attention.d_model, VALUE_TOKENS)

    # `[batch, N + 8]` ids each → value logits at the 8 queries `[batch, 8, VALUE_TOKENS]`.
    def forward(self, key_ids: torch.Tensor, value_ids: torch.Tensor) -> torch.Tensor:
        x = self.key_embedding(key_ids) + self.value_embedding(value_ids)  # [batch, N + 8, d_model]
        return self.readout(self.attention(x, x, x, None)[:, -QUERIES:])


RECALL_ATTENTIONS: dict[str, type[MultiHeadAttention]] = {
    "sum": LinearAttention, "gated": GatedSumAttention, "delta": DeltaRuleAttention}


def recall_model(rule: str, seed: int) -> RecallModel:
    if rule not in RECALL_ATTENTIONS:
        raise ValueError(f"rule must be one of {sorted(RECALL_ATTENTIONS)}, got {rule!r}")
    torch.manual_seed(seed)
    return RecallModel(RECALL_ATTENTIONS[rule](RECALL_WIDTH, 1))


# Training draws each batch's $N$ uniformly from the list, so one model is tested at every $N$.
def train_recall(model: RecallModel, lr: float, steps: int, seed: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)

    def step(_: int) -> dict[str, float]:
        keys = KEY_COUNTS[int(torch.randint(len(KEY_COUNTS), (1,), generator=generator))]
        key_ids, value_ids, targets = recall_batch(64, keys, generator)
        logits = model(key_ids, value_ids)
        return {"loss": optimizer_step(F.cross_entropy(logits.flatten(0, 1), targets.flatten()), optimizer)}

    train_loop(steps, step, log_every=max(steps // 10, 1))


# Accuracy on held-out sequences, the same for every model (a fixed generator, not the training one).
@torch.no_grad()
def recall_accuracy(model: RecallModel, keys: int, sequences: int = 1000) -> float:
    key_ids, value_ids, targets = recall_batch(sequences, keys, torch.Generator().manual_seed(12345))
    return (model(key_ids, value_ids).argmax(dim=-1) == targets).float().mean().item()


# A mechanism demonstration, not the paper's experiment: no training, no projections. $N$ random unit keys
# in $\mathbb{R}^{16}$ (used directly as features, so not positive) are written with one-hot values into
# a memory by the sum ($S = \sum_j k_j v_j^\top$) or by the delta rule with $\beta = 1$ (run through
# `delta_rule`, with $\beta = 0$ at the query steps so that reading writes nothing), then every written key
# is read back and the arg-max of $S^\top k$ compared with its value.
@torch.no_grad()
def memory_only_recall(keys: int, seed: int, trials: int = 200) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    k = F.normalize(torch.randn(trials, 1, keys, RECALL_WIDTH, generator=generator, dtype=torch.float64), dim=-1)
    labels = torch.randint(VALUE_TOKENS, (trials, 1, keys), generator=generator)
    v = F.one_hot(labels, VALUE_TOKENS).double()  # [trials, 1, N, values]
    summed = k @ (k.transpose(-2, -1) @ v)  # S^T k_j for every key
    sequence = torch.cat([k, k], dim=-2)  # N writes, then N reads
    beta = torch.cat([torch.ones(trials, 1, keys), torch.zeros(trials, 1, keys)], dim=-1).double()
    delta = delta_rule(sequence, sequence, torch.cat([v, torch.zeros_like(v)], dim=-2), beta)[..., keys:, :]
    return {rule: (read.argmax(dim=-1) == labels).double().mean().item()
            for rule, read in (("sum", summed), ("delta", delta))}


# ## The experiment
#
# Memory and time at lengths 64 to 4,096 (medians of three timed passes, cut from five to pay for the
# control). Then the recall models, three arms (the sum, the gated sum, the delta rule): for each the same
# grid of Adam learning rates on seed 0, the rate with the best mean accuracy over all $N$ kept and run on
# two more seeds (the grid's seed-0 run is that rate's seed 0).
LEARNING_RATES = [0.01, 0.03, 0.1]


def recall_runs(rule: str, steps: int, seeds: list[int], rates: list[float]) -> dict[str, object]:
    by_rate = {}
    for lr in rates:
        model = recall_model(rule, seeds[0])
        train_recall(model, lr, steps, seeds[0])
        by_rate[lr] = [recall_accuracy(model, keys) for keys in KEY_COUNTS]
    best = max(rates, key=lambda lr: sum(by_rate[lr]))
    per_seed = {seeds[0]: by_rate[best]}
    for seed in seeds[1:]:
        model = recall_model(rule, seed)
        train_recall(model, best, steps, seed)
        per_seed[seed] = [recall_accuracy(model, keys) for keys in KEY_COUNTS]
    return {"lr": best, "sweep": {str(lr): sum(a) / len(a) for lr, a in by_rate.items()}, "per_seed": per_seed}


def experiment(config: RunConfig) -> Outcome:
    lengths = config.choose([64, 128, 256, 512, 1024, 2048, 4096], [64, 128, 256])
    timing = scaling(lengths, repeats=config.choose(3, 2))
    seeds = [config.seed + i for i in range(3)]
    steps = config.train_steps(full=800, quick=150)
    rates = config.choose(LEARNING_RATES, [0.03])
    recall = {rule: recall_runs(rule, steps, seeds, rates) for rule in RECALL_ATTENTIONS}
    memory_only = {seed: [memory_only_recall(keys, seed) for keys in KEY_COUNTS] for seed in seeds}
    metrics = _metrics(lengths, timing, recall, memory_only)
    return Outcome(_headline(metrics), metrics, {"": _figure(lengths, timing, recall, memory_only)})


def _metrics(lengths: list[int], timing: dict, recall: dict, memory_only: dict) -> dict[str, object]:
    metrics: dict[str, object] = {"lengths": lengths, "key_counts": KEY_COUNTS}
    start = min(512, lengths[-2])  # the quick run stops at 256
    for name, measured in timing.items():
        slug = name.replace(", ", "_")
        metrics[f"bytes_{slug}"] = measured["bytes"]
        metrics[f"seconds_{slug}"] = [round(s, 5) for s in measured["seconds"]]
        metrics[f"memory_exponent_{slug}"] = round(growth_exponent(lengths, measured["bytes"], start), 3)
        metrics[f"time_exponent_{slug}"] = round(growth_exponent(lengths, measured["seconds"], start), 3)
    for rule, runs in recall.items():
        metrics[f"lr_{rule}"] = runs["lr"]
        metrics[f"sweep_{rule}"] = runs["sweep"]
        for i, keys in enumerate(KEY_COUNTS):
            metrics[f"recall_{rule}_{keys}"] = over_seeds({s: a[i] for s, a in runs["per_seed"].items()})
    for i, keys in enumerate(KEY_COUNTS):
        for rule in ("sum", "delta"):
            metrics[f"memory_only_{rule}_{keys}"] = over_seeds({s: a[i][rule] for s, a in memory_only.items()})
        for name, low in (("recall_gap", "sum"), ("recall_gap_gated", "gated")):  # delta minus the other arm
            metrics[f"{name}_{keys}"] = over_seeds({s: accuracies[i] - recall[low]["per_seed"][s][i]
                                                    for s, accuracies in recall["delta"]["per_seed"].items()})
    return metrics


def _headline(metrics: dict) -> str:
    recall = "; ".join(f"N={keys}: delta {metrics[f'recall_delta_{keys}']['mean']:.1%}, gated sum "
                       f"{metrics[f'recall_gated_{keys}']['mean']:.1%}, sum {metrics[f'recall_sum_{keys}']['mean']:.1%}"
                       for keys in (4, 16, 40))
    return (f"memory growth exponent 512 to 4096: softmax {metrics['memory_exponent_softmax']:.2f}, linear "
            f"chunked {metrics['memory_exponent_linear_chunked']:.2f}; recall, delta rule ahead at every load: "
            f"{recall}")


def _figure(lengths: list[int], timing: dict, recall: dict, memory_only: dict) -> plt.Figure:
    fig, (ax_bytes, ax_time, ax_recall, ax_memory) = plt.subplots(1, 4, figsize=(20, 4.5))
    for name, measured in timing.items():
        ax_bytes.plot(lengths, [b / 2**20 for b in measured["bytes"]], marker="o", label=name)
        ax_time.plot(lengths, [s * 1000 for s in measured["seconds"]], marker="o", label=name)
    for ax, unit in ((ax_bytes, "MiB saved for backward"), (ax_time, "ms, forward + backward (median)")):
        ax.set(xscale="log", yscale="log", xlabel="sequence length $n$", ylabel=unit)
        ax.set_xscale("log", base=2)
        ax.legend()
    ax_bytes.set_title("Memory (4 heads of 16)")
    ax_time.set_title("CPU time at 1 thread")
    labels = {"sum": "sum (linear attention)", "gated": "gated sum (no correction)", "delta": "delta rule"}
    for i, (rule, label) in enumerate(labels.items()):
        for j, accuracies in enumerate(recall[rule]["per_seed"].values()):
            ax_recall.plot(KEY_COUNTS, accuracies, marker="o", color=f"C{i}", alpha=0.8,
                           label=f"{label}, lr {recall[rule]['lr']}" if j == 0 else None)
    for rule, label, color in (("sum", "raw sum", "C0"), ("delta", "delta rule, $\\beta = 1$", "C2")):
        for j, runs in enumerate(memory_only.values()):
            ax_memory.plot(KEY_COUNTS, [run[rule] for run in runs], marker="o", color=color, alpha=0.8,
                           label=label if j == 0 else None)
    for ax in (ax_recall, ax_memory):
        ax.axhline(1 / VALUE_TOKENS, color="grey", linestyle=":", linewidth=0.8)
        ax.set(xlabel="keys written $N$ (dotted: chance)", ylabel="recall accuracy", ylim=(0, 1.02))
        ax.legend()
    ax_recall.set_title("Trained one-layer model (3 seeds)")
    ax_memory.set_title("Mechanism only: random keys, no training")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
