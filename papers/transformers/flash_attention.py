r"""
---
title: "FlashAttention: tiled attention with an online softmax, in PyTorch blocks and Triton"
summary: The FlashAttention forward and backward (online softmax, only the output and the log-sum-exp kept),
  written once as plain PyTorch blocks and once as Triton kernels, both equal to PyTorch's fused attention in
  output and gradients; the peak memory of forward and backward grows linearly with length instead of
  quadratically.
---

# FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness

[Dao, Fu, Ermon, Rudra and Ré, 2022. *FlashAttention: Fast and Memory-Efficient Exact Attention with
IO-Awareness*](https://arxiv.org/abs/2205.14135). The loop order of the forward kernel is the one of
[Dao, 2023. *FlashAttention-2*](https://arxiv.org/abs/2307.08691) (queries outside, keys inside); the
backward is the paper's Algorithm 4, written as two kernels (see [below](#the-backward-kernels)).

Attention of one head, with queries $Q \in \mathbb{R}^{N \times d}$, keys and values
$K, V \in \mathbb{R}^{N \times d}$ (as in [multi-head attention](attention.py)), is

$$S = \tau Q K^\top \in \mathbb{R}^{N \times N}, \qquad P = \mathrm{softmax}(S) \text{ (by rows)}, \qquad
O = P V \in \mathbb{R}^{N \times d},$$

with $\tau = 1 / \sqrt{d}$. The textbook implementation writes $S$ and $P$ to memory, $N^2$ numbers each, and
autograd keeps $P$ for the backward pass (the softmax's gradient needs only its output); the backward then forms
$dP$ and $dS$, two more $N \times N$ matrices. For long sequences these matrices, not the $O(N d)$ inputs, fill the
GPU's memory, and reading and writing them to the GPU's main memory (HBM), not the arithmetic, is what takes
the time.

FlashAttention never forms $S$ or $P$. It cuts $Q$ into blocks of $B_r$ rows and $K, V$ into blocks of $B_c$
rows, and computes $O$ block by block, each block small enough for the chip's fast on-chip memory (SRAM). The
softmax of a row needs the row's maximum and sum over *all* keys, so the row's output is accumulated with an
**online softmax**: a running maximum $m$, a running sum $\ell$, and a rescaling of what was accumulated so far
whenever the maximum grows. What the forward keeps for the backward is only $O$ and one number per row, the
log-sum-exp $L = m + \log \ell$. The backward pass recomputes each block of $P$ from $Q$, $K$ and $L$; more
arithmetic, far less memory traffic. The result is *exact* attention, not an approximation.

This page writes the algorithm twice:

* in [plain PyTorch blocks](#the-algorithm-in-pytorch-blocks), a `torch.autograd.Function` whose loops over
  blocks are Python loops: the clearest statement of the algorithm, and what the memory measurement below runs;
* as [Triton kernels](#the-triton-kernels) (forward, and the backward as a $dK, dV$ kernel and a $dQ$ kernel),
  which on a GPU run each block in one program instance's registers and shared memory. Without a GPU the
  module sets `TRITON_INTERPRET=1` before importing Triton, and Triton's interpreter runs the same kernels on
  CPU tensors with NumPy; that is how [the tests](../../tests/transformers/test_flash_attention.py) check them
  in CI.

Either one drops into the project's [multi-head attention](#in-the-projects-multi-head-attention) as
`FlashMultiHeadAttention`, which overrides only how the heads attend.

Both are checked against `torch.nn.functional.scaled_dot_product_attention` (PyTorch's own attention, which we
did not write) in output and in the gradients $dQ, dK, dV$, causal and not, on lengths that are not multiples
of the block size, in `float32` (and the PyTorch blocks also in `float64`).

## What the experiment shows

The paper's memory claim is its Theorem 1 (Section 3.1): FlashAttention needs $O(N)$ memory beyond its inputs
and output, against the $O(N^2)$ of attention that materialises $P$; its Figure 3 (right, Section 4.3) shows
the memory footprint growing linearly with the sequence length. We measure one head with $d = 64$ and lengths
$N$ = 256 to 8192, one forward and backward, for the PyTorch-blocks FlashAttention (blocks of 128) against the
project's own [`scaled_dot_product_attention`](attention.py), which forms $S$ and $P$. Three quantities, and
**only the first is peak memory**; the other two are stand-ins that miss part of it:

* **peak memory**: the largest total of bytes of tensors alive at the same time during the forward and backward,
  counted with a `TorchDispatchMode` that follows every storage PyTorch creates until it is freed (autograd's own,
  held in C++, included; the inputs $Q, K, V$ excluded, the output, its gradient and $dQ, dK, dV$ included).
  It is a sum of tensor sizes, so deterministic, and it is cross-checked against what the process really held:
  Linux's resident high-water mark (`VmHWM`), three readings per length;
* *bytes saved for backward* (a stand-in): the tensors autograd keeps between the passes, counted with
  `torch.autograd.graph.saved_tensors_hooks`, each storage once; it leaves out what the backward creates;
* *largest single tensor* (a stand-in): the largest storage any operation returns.

The exponent is the slope of $\log(\text{bytes})$ against $\log N$ between the two longest lengths. The **peak**
grows with exponent 0.95 for FlashAttention and 1.99 for the materialising attention, and at
$N$ = 8192 it is 10.9 MB against 814 MB, 74 times smaller. The materialising peak is about three
$N \times N$ matrices (3.03 of them at 8192): $P$, kept for the backward, and the backward's $dP$ and
$dS$, alive together. FlashAttention's peak is $O(N d)$ tensors (the output, its gradient, $dQ, dK, dV$, $L$, $D$)
plus a fixed cost of $B_r \times B_c$ blocks, which is why its exponent is still below 1 at these lengths (from
0.72 MB at 256). The resident high-water mark agrees at long lengths: at 8192 the readings are within
0.01% of the live-tensor peak for the materialising attention and within 3% for FlashAttention's,
exponents 1.99 and 0.96. At short lengths it undercounts: blocks under the 64 KiB `mmap` threshold come
from memory the allocator already holds, and FlashAttention's readings at 256 and 512 are less than half the
live count (all readings are in the results).

The stand-ins understate the materialising attention's peak. Its saved bytes grow with exponent 1.97
(FlashAttention's 1.00), and at 8192 it saves 33 times as many bytes (275 MB against 8.4 MB:
FlashAttention keeps $Q, K, V, O$ and $L$, the other $Q, K, V$ and $P$); its largest tensor is one $N \times N$
matrix (268 MB), FlashAttention's an $N \times d$ one (2.1 MB), exponents 2.00 and 1.00. Both
see one of the three $N \times N$ matrices of the peak, so the ratio of peaks (74) is about twice the ratio
of saved bytes (33). The figure shows all three on log-log axes, with guide lines $\propto N$ and $\propto N^2$,
and the resident readings as crosses beside the peaks:

![Memory against sequence length, and CPU time](results/flash_attention.png)

**Time.** The paper's speed-up (its Figure 3 and Section 4) comes from fewer reads and writes of the GPU's
main memory; this page does not claim one on a CPU, and measures none. The PyTorch-blocks version runs its
blocks as a Python loop of small matrix products, with the scores computed twice in the backward: its
forward and backward take 2.5 times as long as the materialising attention at $N$ = 2048 (mean over three
seeds of the ratio of median CPU seconds of 7 repeats, one thread; 2.5 to 2.6; bottom right panel; measured
after the memory, so under its `mmap` setting, for both alike). CPU time on this shared machine moves with its
load (the run's load average is in the results), so read the ratio as "slower", not as a constant. The speed
claim is about GPU memory traffic; it would be measured by [`gpu_benchmark`](#gpu-benchmark), which times the
Triton kernels against PyTorch's fused attention on a GPU. **No GPU was available to this project when this
page was written, so the benchmark has not been run and the page shows no GPU numbers.**

*Differences from the paper.* No dropout and no mask other than causal (the paper fuses both into the kernel);
the causal mask is aligned to the top left, as PyTorch's `is_causal` is (query $i$ sees keys $j \le i$).
The Triton kernels are written for clarity, not tuned: one block size, no pipelining hints, and the row
statistic $D$ of the backward computed by PyTorch outside the kernels.
"""
from __future__ import annotations

import ctypes
import gc
import math
import os
import time
import weakref
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from labml import monit
from torch.utils._pytree import tree_leaves
from torch.utils._python_dispatch import TorchDispatchMode

from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.transformers.attention import MultiHeadAttention, scaled_dot_product_attention

# Triton reads `TRITON_INTERPRET` when a kernel is decorated, so the variable is set before the import: with
# no GPU the kernels below become Python functions that Triton's interpreter runs on CPU tensors. A caller who
# set the variable already (to `0` or `1`) is not overridden.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# pylint: disable=wrong-import-position,wrong-import-order
import triton
import triton.language as tl


# ## Checking the inputs
#
# Queries are `[batch, heads, q_len, d]`, keys and values `[batch, heads, k_len, d]`. Both implementations take
# any floating-point dtype the device supports; the Triton kernels need a head dimension that is a power of two
# from 16 to 128 (`tl.arange` needs a power of two, `tl.dot` at least 16), block sizes that are powers of two
# of at least 16, and `float32` or `float16`.
TRITON_HEAD_DIMS = (16, 32, 64, 128)


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    sizes = check_tensor("q", q, ["batch", "heads", "q_len", "d"])
    check_tensor("k", k, ["batch", "heads", "k_len", "d"], dtype=q.dtype, sizes=sizes)
    check_tensor("v", v, ["batch", "heads", "k_len", "d"], dtype=q.dtype, sizes=sizes)
    if not q.device == k.device == v.device:
        raise ValueError(f"q, k and v must be on one device, got {q.device}, {k.device} and {v.device}")


def check_blocks(block_q: int, block_k: int) -> None:
    check_positive("block_q", block_q, integer=True)
    check_positive("block_k", block_k, integer=True)


# ## The reference: attention that materialises $P$
#
# The baseline of the measurements is the project's [`scaled_dot_product_attention`](attention.py), which forms
# $S$ and $P$, given the causal mask as a boolean $N \times N$ matrix (`True` where query $i$ may see key
# $j \le i$, aligned to the top left like PyTorch's `is_causal`).
def materialised_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    check_qkv(q, k, v)
    mask = None
    if causal:
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    return scaled_dot_product_attention(q, k, v, mask)[0]


# ## The algorithm in PyTorch blocks
#
# ### The online softmax
#
# The trick that makes tiling possible, shown on its own. A row of scores arrives in blocks
# $s^{(1)}, s^{(2)}, \dots$. After each block we hold the maximum so far $m$, the sum so far of
# $e^{s - m}$, $\ell$, and the weighted sum so far of values, $\tilde{o}$, all relative to the *current* maximum.
# A new block with maximum $\tilde{m}$ raises the maximum to $m' = \max(m, \tilde{m})$; what was accumulated is
# rescaled by $e^{m - m'}$:
#
# $$m' = \max(m, \tilde m), \qquad \ell' = e^{m - m'} \ell + \textstyle\sum_j e^{s_j - m'}, \qquad
# \tilde o' = e^{m - m'} \tilde o + \textstyle\sum_j e^{s_j - m'} v_j.$$
#
# At the end $\tilde o / \ell$ is the softmax-weighted average and $m + \log \ell$ the log-sum-exp of the row.
# Subtracting the running maximum keeps every exponent $\le 0$, so nothing overflows. This function applies
# the recurrence to a `[rows, n]` matrix of scores in column blocks of `block` and returns the softmax and the
# log-sum-exp; the tests check it against `torch.softmax` in `float64`.
def online_softmax(scores: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("scores", scores, ["rows", "n"])
    check_positive("block", block, integer=True)
    rows, n = scores.shape
    m = torch.full((rows,), -math.inf, dtype=scores.dtype, device=scores.device)  # running maximum
    ell = torch.zeros(rows, dtype=scores.dtype, device=scores.device)  # running sum of exp(s - m)
    for start in range(0, n, block):
        s = scores[:, start:start + block]  # [rows, block]
        m_new = torch.maximum(m, s.amax(dim=-1))
        ell = torch.exp(m - m_new) * ell + torch.exp(s - m_new[:, None]).sum(dim=-1)
        m = m_new
    lse = m + torch.log(ell)  # [rows]
    return torch.exp(scores - lse[:, None]), lse


# ### Which keys a query block sees
#
# With the causal mask a query block whose last row is $i_1 - 1$ sees keys $j < i_1$ at most, so
# the loop over key blocks stops there. The paper's Algorithm 1 has no mask; its Algorithm 2 (Appendix B, the
# forward with masking and dropout) loops over all blocks and masks, which gives the same result with up to
# twice the work. Inside a block on the diagonal the mask is applied element by element,
# as $S_{ij} = -\infty$ for $j > i$.
def key_blocks(q_stop: int, k_len: int, block_k: int, causal: bool) -> range:
    stop = min(k_len, q_stop) if causal else k_len
    return range(0, stop, block_k)


def causal_block_mask(q_start: int, q_stop: int, k_start: int, k_stop: int,
                      device: torch.device) -> torch.Tensor:
    rows = torch.arange(q_start, q_stop, device=device)[:, None]
    cols = torch.arange(k_start, k_stop, device=device)[None, :]
    return cols > rows  # [q_block, k_block]: True where the score is masked out


# ### Forward (Algorithm 1, with FlashAttention-2's loop order)
#
# For each query block $Q_i$ (`[..., B_r, d]`), starting from $m_i = -\infty$, $\ell_i = 0$, $\tilde O_i = 0$,
# and for each key block $K_j, V_j$ (`[..., B_c, d]`):
#
# $$S_{ij} = \tau Q_i K_j^\top, \quad m_i' = \max\big(m_i, \mathrm{rowmax}(S_{ij})\big), \quad
# \tilde P_{ij} = e^{S_{ij} - m_i'},$$
# $$\ell_i \leftarrow e^{m_i - m_i'} \ell_i + \mathrm{rowsum}(\tilde P_{ij}), \quad
# \tilde O_i \leftarrow e^{m_i - m_i'} \tilde O_i + \tilde P_{ij} V_j, \quad m_i \leftarrow m_i'.$$
#
# Then $O_i = \tilde O_i / \ell_i$ and $L_i = m_i + \log \ell_i$. The paper's Algorithm 1 loops over key blocks
# outside and query blocks inside, and so must write $O_i$, $m_i$, $\ell_i$ back to memory after every key
# block, normalising each time; FlashAttention-2 swaps the loops, so each query block's statistics stay in
# fast memory and $O_i$ is divided by $\ell_i$ once, at the end. The largest tensor formed here is one
# $B_r \times B_c$ block of scores per batch and head.
def flash_forward_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, block_q: int,
                         block_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    scale = q.shape[-1] ** -0.5
    q_len, k_len = q.shape[-2], k.shape[-2]
    out = torch.empty_like(q)  # [batch, heads, q_len, d]
    lse = torch.empty(q.shape[:-1], dtype=q.dtype, device=q.device)  # [batch, heads, q_len]
    for q0 in range(0, q_len, block_q):
        q1 = min(q0 + block_q, q_len)
        q_i = q[..., q0:q1, :]  # [batch, heads, B_r, d]
        m_i = torch.full(q_i.shape[:-1], -math.inf, dtype=q.dtype, device=q.device)  # [batch, heads, B_r]
        ell_i = torch.zeros_like(m_i)
        acc = torch.zeros_like(q_i)  # unnormalised output, [batch, heads, B_r, d]
        for k0 in key_blocks(q1, k_len, block_k, causal):
            k1 = min(k0 + block_k, k_len)
            s = scale * q_i @ k[..., k0:k1, :].transpose(-2, -1)  # [batch, heads, B_r, B_c]
            if causal:
                s = s.masked_fill(causal_block_mask(q0, q1, k0, k1, q.device), -math.inf)
            m_new = torch.maximum(m_i, s.amax(dim=-1))
            p = torch.exp(s - m_new[..., None])  # unnormalised probabilities
            alpha = torch.exp(m_i - m_new)  # rescales what was accumulated under the old maximum
            ell_i = alpha * ell_i + p.sum(dim=-1)
            acc = alpha[..., None] * acc + p @ v[..., k0:k1, :]
            m_i = m_new
        out[..., q0:q1, :] = acc / ell_i[..., None]
        lse[..., q0:q1] = m_i + torch.log(ell_i)
    return out, lse


# ### Backward (Algorithm 4)
#
# With $dO$ the gradient of the loss with respect to $O$, the gradients of $O = PV$, $P = \mathrm{softmax}(S)$
# are
#
# $$dV = P^\top dO, \qquad dP = dO\, V^\top, \qquad dS_{ij} = P_{ij} (dP_{ij} - D_i), \qquad
# dQ = \tau\, dS\, K, \qquad dK = \tau\, dS^\top Q,$$
#
# where $D_i = \sum_j P_{ij} dP_{ij} = \sum_j P_{ij}\, dO_i^\top V_j = dO_i^\top O_i$: the softmax's backward
# needs only a row sum of $dO \circ O$, which costs $O(N d)$ and needs no $P$. Each block of $P$ is
# *recomputed* from the saved log-sum-exp, exactly: $P_{ij} = e^{S_{ij} - L_i}$.
#
# The loop order is the paper's: key blocks outside (their $dK_j$, $dV_j$ accumulate in fast memory), query
# blocks inside, where each block adds its share to $dQ_i$ in memory.
def flash_backward_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor,
                          lse: torch.Tensor, d_out: torch.Tensor, causal: bool, block_q: int,
                          block_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = q.shape[-1] ** -0.5
    q_len, k_len = q.shape[-2], k.shape[-2]
    delta = (d_out * out).sum(dim=-1)  # D = rowsum(dO ∘ O), [batch, heads, q_len]
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    for k0 in range(0, k_len, block_k):
        k1 = min(k0 + block_k, k_len)
        k_j, v_j = k[..., k0:k1, :], v[..., k0:k1, :]  # [batch, heads, B_c, d]
        first_query = (k0 // block_q) * block_q if causal else 0  # earlier queries see none of these keys
        for q0 in range(first_query, q_len, block_q):
            q1 = min(q0 + block_q, q_len)
            q_i, do_i = q[..., q0:q1, :], d_out[..., q0:q1, :]  # [batch, heads, B_r, d]
            s = scale * q_i @ k_j.transpose(-2, -1)  # [batch, heads, B_r, B_c]
            if causal:
                s = s.masked_fill(causal_block_mask(q0, q1, k0, k1, q.device), -math.inf)
            p = torch.exp(s - lse[..., q0:q1, None])  # P recomputed
            dv[..., k0:k1, :] += p.transpose(-2, -1) @ do_i
            dp = do_i @ v_j.transpose(-2, -1)
            ds = p * (dp - delta[..., q0:q1, None])
            dq[..., q0:q1, :] += scale * ds @ k_j
            dk[..., k0:k1, :] += scale * ds.transpose(-2, -1) @ q_i
    return dq, dk, dv


# ### As an autograd function
#
# The forward saves $Q, K, V, O$ and $L$: $O(N d)$ numbers, never $O(N^2)$.
class FlashAttentionBlocks(torch.autograd.Function):
    # pylint: disable=abstract-method,arguments-differ
    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k):
        out, lse = flash_forward_blocks(q, k, v, causal, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (causal, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = flash_backward_blocks(q, k, v, out, lse, d_out.contiguous(), *ctx.settings)
        return dq, dk, dv, None, None, None


def flash_attention_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                           block_q: int = 64, block_k: int = 64) -> torch.Tensor:
    r"""FlashAttention in PyTorch blocks: `[batch, heads, q_len, d]`, `[batch, heads, k_len, d]` (twice)
    $\to$ `[batch, heads, q_len, d]`."""
    check_qkv(q, k, v)
    check_blocks(block_q, block_k)
    return FlashAttentionBlocks.apply(q, k, v, causal, block_q, block_k)


# ## The Triton kernels
#
# A Triton kernel is written for one *program instance*, which handles one block; the launch grid says how many
# instances run. Here each instance owns one query block (forward, $dQ$) or one key block ($dK$, $dV$) of one
# batch element and head: the second grid axis runs over `batch * heads`. Tensors are made contiguous and
# viewed as `[batch * heads, len, d]`, so the row $r$ of head $h$ starts at `(h * len + r) * d`.
# `tl.dot` multiplies blocks, in `float32` accumulators; rows and columns beyond the sequence's end are
# loaded as zeros and masked out of the softmax, so lengths need not be multiples of the blocks.
#
# ### The forward kernel
#
# The same recurrence as `flash_forward_blocks`, for one query block, with its statistics $m_i$, $\ell_i$ and
# accumulator $\tilde O_i$ in registers.
@triton.jit
def _forward_kernel(q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr, q_len, k_len, scale,
                    HEAD_DIM: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr,
                    CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    q_start = tl.program_id(0) * BLOCK_Q
    head = tl.program_id(1)
    rows = q_start + tl.arange(0, BLOCK_Q)  # [B_r]
    dims = tl.arange(0, HEAD_DIM)  # [d]
    row_ok = rows < q_len
    q = tl.load(q_ptr + (head * q_len + rows[:, None]) * HEAD_DIM + dims[None, :], mask=row_ok[:, None],
                other=0.0)  # [B_r, d]
    m_i = tl.full([BLOCK_Q], float("-inf"), tl.float32)
    ell_i = tl.zeros([BLOCK_Q], tl.float32)
    acc = tl.zeros([BLOCK_Q, HEAD_DIM], tl.float32)
    stop = tl.minimum(k_len, q_start + BLOCK_Q) if CAUSAL else k_len
    for k_start in range(0, stop, BLOCK_K):
        cols = k_start + tl.arange(0, BLOCK_K)  # [B_c]
        col_ok = cols < k_len
        kv_offsets = (head * k_len + cols[:, None]) * HEAD_DIM + dims[None, :]
        k = tl.load(k_ptr + kv_offsets, mask=col_ok[:, None], other=0.0)  # [B_c, d]
        v = tl.load(v_ptr + kv_offsets, mask=col_ok[:, None], other=0.0)  # [B_c, d]
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale  # [B_r, B_c]
        keep = col_ok[None, :]
        if CAUSAL:
            keep = keep & (cols[None, :] <= rows[:, None])
        s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        ell_i = alpha * ell_i + tl.sum(p, axis=1)
        acc = alpha[:, None] * acc + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    out = acc / ell_i[:, None]
    tl.store(out_ptr + (head * q_len + rows[:, None]) * HEAD_DIM + dims[None, :], out.to(q.dtype),
             mask=row_ok[:, None])
    tl.store(lse_ptr + head * q_len + rows, m_i + tl.log(ell_i), mask=row_ok)


# ### The backward kernels
#
# The paper's Algorithm 4 accumulates $dK_j, dV_j$ for a key block in fast memory and adds each query block's
# contribution to $dQ_i$ in main memory. In parallel, many key blocks add to the same $dQ_i$ at once, which
# needs atomic additions (slow, and their order, hence the rounding, varies from run to run). We follow
# FlashAttention-2 keeps that single pass and adds to $dQ$ with atomic additions. This page's choice instead is
# **two kernels** (Triton's fused-attention tutorial splits the work the same way, as two loops of one kernel).
# The first owns a key block and loops over query
# blocks, accumulating $dK_j$ and $dV_j$; the second owns a query block and loops over key blocks, accumulating
# $dQ_i$. Each recomputes $P$, so $QK^\top$ is computed twice in the backward, but no two instances ever write
# the same memory and the result is deterministic.
#
# Both recompute a block of probabilities the same way, $P_{ij} = e^{\tau Q_i K_j^\top - L_i}$, with masked and
# out-of-range entries set to zero.
@triton.jit
def _probabilities(q, k, lse, rows, cols, q_len, k_len, scale, CAUSAL: tl.constexpr,
                   PRECISION: tl.constexpr):
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale  # [B_r, B_c]
    keep = (rows[:, None] < q_len) & (cols[None, :] < k_len)
    if CAUSAL:
        keep = keep & (cols[None, :] <= rows[:, None])
    return tl.where(keep, tl.exp(s - lse[:, None]), 0.0)


# $dK_j = \tau \sum_i dS_{ij}^\top Q_i$ and $dV_j = \sum_i P_{ij}^\top dO_i$, for one key block. With the causal
# mask the loop starts at the first query block that can see the block's first key.
@triton.jit
def _backward_kv_kernel(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr, q_len, k_len, scale,
                        HEAD_DIM: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr,
                        CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    k_start = tl.program_id(0) * BLOCK_K
    head = tl.program_id(1)
    cols = k_start + tl.arange(0, BLOCK_K)
    dims = tl.arange(0, HEAD_DIM)
    kv_offsets = (head * k_len + cols[:, None]) * HEAD_DIM + dims[None, :]
    col_ok = cols < k_len
    k = tl.load(k_ptr + kv_offsets, mask=col_ok[:, None], other=0.0)  # [B_c, d]
    v = tl.load(v_ptr + kv_offsets, mask=col_ok[:, None], other=0.0)  # [B_c, d]
    dk = tl.zeros([BLOCK_K, HEAD_DIM], tl.float32)
    dv = tl.zeros([BLOCK_K, HEAD_DIM], tl.float32)
    start = (k_start // BLOCK_Q) * BLOCK_Q if CAUSAL else 0
    for q_start in range(start, q_len, BLOCK_Q):
        rows = q_start + tl.arange(0, BLOCK_Q)
        row_ok = rows < q_len
        q_offsets = (head * q_len + rows[:, None]) * HEAD_DIM + dims[None, :]
        q = tl.load(q_ptr + q_offsets, mask=row_ok[:, None], other=0.0)  # [B_r, d]
        do = tl.load(do_ptr + q_offsets, mask=row_ok[:, None], other=0.0)  # [B_r, d]
        lse = tl.load(lse_ptr + head * q_len + rows, mask=row_ok, other=0.0)  # [B_r]
        delta = tl.load(delta_ptr + head * q_len + rows, mask=row_ok, other=0.0)  # [B_r]
        p = _probabilities(q, k, lse, rows, cols, q_len, k_len, scale, CAUSAL, PRECISION)  # [B_r, B_c]
        dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)  # [B_r, B_c]
        ds = p * (dp - delta[:, None])
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION) * scale
    tl.store(dk_ptr + kv_offsets, dk.to(k.dtype), mask=col_ok[:, None])
    tl.store(dv_ptr + kv_offsets, dv.to(v.dtype), mask=col_ok[:, None])


# $dQ_i = \tau \sum_j dS_{ij} K_j$, for one query block, over the same key blocks as the forward.
@triton.jit
def _backward_q_kernel(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr, q_len, k_len, scale,
                       HEAD_DIM: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr,
                       CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    q_start = tl.program_id(0) * BLOCK_Q
    head = tl.program_id(1)
    rows = q_start + tl.arange(0, BLOCK_Q)
    dims = tl.arange(0, HEAD_DIM)
    row_ok = rows < q_len
    q_offsets = (head * q_len + rows[:, None]) * HEAD_DIM + dims[None, :]
    q = tl.load(q_ptr + q_offsets, mask=row_ok[:, None], other=0.0)  # [B_r, d]
    do = tl.load(do_ptr + q_offsets, mask=row_ok[:, None], other=0.0)  # [B_r, d]
    lse = tl.load(lse_ptr + head * q_len + rows, mask=row_ok, other=0.0)  # [B_r]
    delta = tl.load(delta_ptr + head * q_len + rows, mask=row_ok, other=0.0)  # [B_r]
    dq = tl.zeros([BLOCK_Q, HEAD_DIM], tl.float32)
    stop = tl.minimum(k_len, q_start + BLOCK_Q) if CAUSAL else k_len
    for k_start in range(0, stop, BLOCK_K):
        cols = k_start + tl.arange(0, BLOCK_K)
        col_ok = cols < k_len
        kv_offsets = (head * k_len + cols[:, None]) * HEAD_DIM + dims[None, :]
        k = tl.load(k_ptr + kv_offsets, mask=col_ok[:, None], other=0.0)  # [B_c, d]
        v = tl.load(v_ptr + kv_offsets, mask=col_ok[:, None], other=0.0)  # [B_c, d]
        p = _probabilities(q, k, lse, rows, cols, q_len, k_len, scale, CAUSAL, PRECISION)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION) * scale
    tl.store(dq_ptr + q_offsets, dq.to(q.dtype), mask=row_ok[:, None])


# ### Launching the kernels
#
# `float32` products use exact IEEE arithmetic (`"ieee"`); on a GPU Triton would otherwise use TF32 tensor
# cores, whose 10-bit mantissa would not match `float32` attention to test tolerance. `float16` uses the tensor
# cores as usual. `bfloat16` is refused: under Triton's interpreter these kernels gave wrong results for it
# (NumPy has no `bfloat16`), and without a GPU we could not check it there.
def _precision(dtype: torch.dtype) -> str:
    return "ieee" if dtype == torch.float32 else "tf32"


def check_triton_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_q: int, block_k: int) -> None:
    check_qkv(q, k, v)
    check_blocks(block_q, block_k)
    if q.shape[-1] not in TRITON_HEAD_DIMS:
        raise ValueError(f"the Triton kernels support head dimensions {TRITON_HEAD_DIMS}, got {q.shape[-1]}")
    for name, block in (("block_q", block_q), ("block_k", block_k)):
        if block < 16 or block & (block - 1):
            raise ValueError(f"{name} must be a power of two of at least 16, got {block}")
    if q.dtype not in (torch.float32, torch.float16):
        raise TypeError(f"the Triton kernels take float32 or float16, got {q.dtype}")
    if q.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError("CPU tensors need Triton's interpreter: set TRITON_INTERPRET=1 before importing this "
                         "module, or pass CUDA tensors")


# `[batch, heads, len, d]` → contiguous `[batch * heads, len, d]`.
def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-2], x.shape[-1]).contiguous()


def triton_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, block_q: int,
                   block_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    q_len, k_len, d = q.shape[-2], k.shape[-2], q.shape[-1]
    out = torch.empty_like(q)  # [batch * heads, q_len, d]
    lse = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)  # [batch * heads, q_len]
    grid = (triton.cdiv(q_len, block_q), q.shape[0])
    _forward_kernel[grid](q, k, v, out, lse, q_len, k_len, d ** -0.5, HEAD_DIM=d, BLOCK_Q=block_q,
                          BLOCK_K=block_k, CAUSAL=causal, PRECISION=_precision(q.dtype))
    return out, lse


# $D = \mathrm{rowsum}(dO \circ O)$ is computed by PyTorch before the kernels (an $O(N d)$ elementwise product);
# FlashAttention-2 gives it a small kernel of its own.
def triton_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor, lse: torch.Tensor,
                    d_out: torch.Tensor, causal: bool, block_q: int,
                    block_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    q_len, k_len, d = q.shape[-2], k.shape[-2], q.shape[-1]
    delta = (d_out.float() * out.float()).sum(dim=-1)  # [batch * heads, q_len]
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    settings = {"HEAD_DIM": d, "BLOCK_Q": block_q, "BLOCK_K": block_k, "CAUSAL": causal,
                "PRECISION": _precision(q.dtype)}
    _backward_kv_kernel[(triton.cdiv(k_len, block_k), q.shape[0])](
        q, k, v, d_out, lse, delta, dk, dv, q_len, k_len, d ** -0.5, **settings)
    _backward_q_kernel[(triton.cdiv(q_len, block_q), q.shape[0])](
        q, k, v, d_out, lse, delta, dq, q_len, k_len, d ** -0.5, **settings)
    return dq, dk, dv


class FlashAttentionTriton(torch.autograd.Function):
    # pylint: disable=abstract-method,arguments-differ
    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k):
        shapes = (q.shape, k.shape, v.shape)
        q, k, v = _flat(q), _flat(k), _flat(v)
        out, lse = triton_forward(q, k, v, causal, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (causal, block_q, block_k)
        ctx.shapes = shapes
        return out.view(shapes[0])

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse = ctx.saved_tensors
        grads = triton_backward(q, k, v, out, lse, _flat(d_out), *ctx.settings)
        return (*(g.view(shape) for g, shape in zip(grads, ctx.shapes)), None, None, None)


def flash_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                           block_q: int = 64, block_k: int = 64) -> torch.Tensor:
    r"""FlashAttention with Triton kernels: `[batch, heads, q_len, d]`, `[batch, heads, k_len, d]` (twice)
    $\to$ `[batch, heads, q_len, d]`; CUDA tensors, or CPU tensors under `TRITON_INTERPRET=1`."""
    check_triton_inputs(q, k, v, block_q, block_k)
    return FlashAttentionTriton.apply(q, k, v, causal, block_q, block_k)


# ## In the project's multi-head attention
#
# FlashAttention changes only how one head's $\mathrm{softmax}(\tau Q K^\top) V$ is computed, so it slots into
# the project's [`MultiHeadAttention`](attention.py) by overriding `_attend` (projections, head split and
# output projection stay the project's). `_attend` receives the mask as a boolean `[batch or 1, 1, q_len or 1,
# k_len]` tensor; FlashAttention knows only "no mask" and "causal", so it accepts no mask or the causal one
# (every batch element's `[q_len, k_len]` lower triangle, as `subsequent_mask` makes it) and refuses any other.
# Attention dropout is not fused into these kernels, so the module has no dropout rate. `triton_kernels=True`
# runs the Triton kernels instead of the PyTorch blocks.
class FlashMultiHeadAttention(MultiHeadAttention):
    def __init__(self, d_model: int, heads: int, bias: bool = True, triton_kernels: bool = False,
                 block: int = 64):
        super().__init__(d_model, heads, dropout=0.0, bias=bias)
        check_positive("block", block, integer=True)
        self.triton_kernels = triton_kernels
        self.block = block

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        causal = mask is not None
        if causal and not torch.equal(mask, _causal_like(mask, q.shape[-2], k.shape[-2])):
            raise ValueError("FlashMultiHeadAttention takes no mask or the causal mask (True on and below the "
                             "diagonal), got another mask")
        attention = flash_attention_triton if self.triton_kernels else flash_attention_blocks
        return attention(q, k, v, causal, self.block, self.block)


def _causal_like(mask: torch.Tensor, q_len: int, k_len: int) -> torch.Tensor:
    causal = torch.ones(q_len, k_len, dtype=torch.bool, device=mask.device).tril()
    return causal.expand(mask.shape[0], 1, q_len, k_len)


# ## Measuring memory
#
# Three quantities, and only the last two are memory *peaks*:
#
# *Saved for backward* (a stand-in, not a peak). Every tensor autograd keeps passes through the pack hook of
# `saved_tensors_hooks`; we add up the bytes of each distinct storage once (inputs saved by several
# operations, or views of one tensor, count once). It leaves out everything the backward creates.
def saved_bytes(run: Callable[[], torch.Tensor]) -> int:
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(storages.values())


# *Largest tensor and peak of live tensors.* A `TorchDispatchMode` sees every operation PyTorch runs, in the
# forward and in the backward (autograd's own, in C++, included). It records the largest storage any operation
# returns (a stand-in, not a peak) and, for the **peak**, the bytes of all storages alive at once: a storage
# that no argument of the operation shares is new and is counted until it is freed (a finaliser on PyTorch's
# storage object, which lives as long as the storage, whoever holds it: autograd's saved tensors in C++ too).
# The peak counts only storages created inside the mode, so not the inputs $Q, K, V$, but the output, the
# gradients $dQ, dK, dV$ and everything in between. It is the CPU analogue of `torch.cuda.max_memory_allocated`
# without the allocator's rounding: deterministic, a sum of tensor sizes. Garbage collection is paused while
# the mode is on, so a tensor freed only by the cycle collector counts as live until the end (it raises the
# peak; see `memory_at` for the one case seen).
class TensorMemory(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.largest = 0
        self.live: dict[int, int] = {}  # id of a storage object -> its bytes
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        inputs = {item.untyped_storage().data_ptr() for item in tree_leaves((args, kwargs))
                  if isinstance(item, torch.Tensor)}
        for item in tree_leaves(result):
            if isinstance(item, torch.Tensor):
                self._record(item.untyped_storage(), inputs)
        self.peak = max(self.peak, self.current)
        return result

    def _record(self, storage: torch.UntypedStorage, inputs: set[int]) -> None:
        self.largest = max(self.largest, storage.nbytes())
        key = id(storage)
        if storage.nbytes() == 0 or key in self.live or storage.data_ptr() in inputs:
            return
        self.live[key] = storage.nbytes()
        self.current += storage.nbytes()
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key)


# *Resident-memory peak* (a cross-check). Linux's high-water mark of the process's resident memory, `VmHWM` in
# `/proc/self/status`, reset by writing `5` to `/proc/self/clear_refs`: the peak over one forward and backward
# (after a warm-up call) minus the resident memory just before it. It is what the machine really held,
# allocator included. By default glibc keeps freed memory resident and reuses it, so the high-water mark would
# miss every allocation that fits in memory freed earlier (measured so, it read anywhere from 0 to 50 MB for
# one 52 MB peak); `mallopt` is therefore told to serve each allocation over 64 KiB with its own `mmap`,
# returned to the system on free (setting the threshold also turns off glibc's adaptive one). This changes the
# process's allocator for the rest of the run. The spread over `repeats` measurements is recorded. `None` where
# there is no `/proc` or no glibc.
def resident_peak_bytes(attention: Attention, qkv: tuple[torch.Tensor, ...], repeats: int) -> list[int] | None:
    status, clear = Path("/proc/self/status"), Path("/proc/self/clear_refs")
    if not (status.is_file() and os.access(clear, os.W_OK) and _mmap_every_large_allocation()):
        return None
    forward_backward(attention, qkv)
    peaks = []
    for _ in range(repeats):
        _clear_grads(qkv)
        gc.collect()
        clear.write_text("5", encoding="ascii")
        before = _status_kb(status, "VmRSS")
        forward_backward(attention, qkv)
        peaks.append((_status_kb(status, "VmHWM") - before) * 1024)
    return peaks


# glibc's `mallopt(M_MMAP_THRESHOLD = -3, bytes)` and `mallopt(M_TRIM_THRESHOLD = -1, bytes)`; each returns 1
# on success.
def _mmap_every_large_allocation(threshold: int = 64 * 1024) -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return libc.mallopt(-3, threshold) == 1 and libc.mallopt(-1, threshold) == 1


def _status_kb(status: Path, field: str) -> int:
    line = next(line for line in status.read_text(encoding="ascii").splitlines() if line.startswith(field + ":"))
    return int(line.split()[1])


def _clear_grads(qkv: tuple[torch.Tensor, ...]) -> None:
    for x in qkv:
        x.grad = None


Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def random_qkv(length: int, head_dim: int, seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, 1, length, head_dim, generator=generator).requires_grad_() for _ in range(3))


# Forward and backward of one attention, with a fixed output gradient.
def forward_backward(attention: Attention, qkv: tuple[torch.Tensor, ...]) -> None:
    out = attention(*qkv)
    out.backward(torch.ones_like(out))


# The deterministic measures, then the resident peak when `resident_repeats` is positive. The live-tensor peak is
# that of the second of two tracked calls (gradients cleared before each): in a fresh process the first tracked
# materialising call kept $S$ alive to the end of the backward, one more $N \times N$ tensor than every later
# call counts (we take it for an object freed only by the paused cycle collector, such as an exception's
# traceback holding the attention function's frame, from a first-call import; not pinned down). The later calls
# all agree.
def memory_at(attention: Attention, length: int, head_dim: int, resident_repeats: int = 0) -> dict:
    qkv = random_qkv(length, head_dim, seed=0)
    saved = saved_bytes(lambda: attention(*qkv))
    for _ in range(2):
        _clear_grads(qkv)
        tracker = _tracked(attention, qkv)
    row = {"saved_bytes": saved, "largest_tensor_bytes": tracker.largest, "peak_bytes": tracker.peak}
    if resident_repeats:
        row["resident_peak_bytes"] = resident_peak_bytes(attention, qkv, resident_repeats)
    return row


def _tracked(attention: Attention, qkv: tuple[torch.Tensor, ...]) -> TensorMemory:
    gc.collect()
    gc.disable()
    try:
        with TensorMemory() as tracker:
            forward_backward(attention, qkv)
    finally:
        gc.enable()
    return tracker


# The growth exponent between two lengths: the slope of the log-log line through them.
def growth_exponent(lengths: list[int], values: list[float]) -> float:
    return math.log(values[-1] / values[-2]) / math.log(lengths[-1] / lengths[-2])


# ## Measuring CPU time
#
# The median of `repeats` measurements of the CPU time of one forward and backward (after one warm-up call), on
# inputs drawn from `seed`.
def cpu_seconds(attention: Attention, length: int, head_dim: int, repeats: int, seed: int) -> float:
    qkv = random_qkv(length, head_dim, seed)
    forward_backward(attention, qkv)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        forward_backward(attention, qkv)
        times.append(time.process_time() - start)
    return float(np.median(times))


# ## GPU benchmark
#
# Times the Triton kernels against PyTorch's fused attention (`F.scaled_dot_product_attention`, which on a GPU
# dispatches to its own FlashAttention-2 or memory-efficient kernel) for forward and backward, in `float16`,
# with CUDA events, and records the peak GPU memory of each (`torch.cuda.max_memory_allocated` over the timed
# repeats: it includes the inputs $Q, K, V$ and their gradients, not the attention alone; and since each repeat's
# backward adds into the inputs' `.grad`, which persists, the gradients are allocated once, by the warm-up call,
# and accumulated into thereafter). It needs a GPU and is not part of the experiment:
# call it as `python -c "from papers.transformers.flash_attention import gpu_benchmark; print(gpu_benchmark())"`.
# Until it has been run on a GPU, this page has no GPU numbers.
def gpu_benchmark(lengths: tuple[int, ...] = (1024, 2048, 4096, 8192, 16384), batch: int = 4, heads: int = 16,
                  head_dim: int = 64, causal: bool = True, repeats: int = 20) -> list[dict[str, float]]:
    if not torch.cuda.is_available():
        raise ValueError("gpu_benchmark needs a CUDA GPU; none is available")
    attentions: dict[str, Attention] = {
        "triton": lambda q, k, v: flash_attention_triton(q, k, v, causal, 64, 64),
        "sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
    }
    rows = []
    for length in lengths:
        qkv = [torch.randn(batch, heads, length, head_dim, device="cuda", dtype=torch.float16,
                           requires_grad=True) for _ in range(3)]
        row: dict[str, float] = {"length": length}
        for name, attention in attentions.items():
            row[f"{name}_ms"], row[f"{name}_peak_mb"] = _gpu_time(attention, qkv, repeats)
        rows.append(row)
    return rows


def _gpu_time(attention: Attention, qkv: list[torch.Tensor], repeats: int) -> tuple[float, float]:
    forward_backward(attention, tuple(qkv))  # compiles the kernels
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        forward_backward(attention, tuple(qkv))
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats, torch.cuda.max_memory_allocated() / 1e6


# ## The experiment
#
# One head, $d = 64$, no mask, blocks of 128 for the PyTorch-blocks FlashAttention. Memory first, at every
# length: the deterministic measures once, the resident peak three times. It must come first: once the timing
# has grown glibc's heap, large blocks are served from memory already resident and the high-water mark stops
# seeing them (so measured, it read 0 for every FlashAttention length). Then CPU time at the shorter lengths,
# for three seeds (inputs, and a fresh set of repeats), the two attentions measured alternately so that a change
# in the machine's load hits both; it runs with the `mmap` setting of the resident measurement, for both alike.
def experiment(config: RunConfig) -> Outcome:
    head_dim = 64
    lengths = config.choose([256, 512, 1024, 2048, 4096, 8192], [128, 256, 512])
    time_lengths = config.choose([256, 512, 1024, 2048], [128, 256])
    repeats = config.choose(7, 2)
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    attentions: dict[str, Attention] = {
        "flash": lambda q, k, v: flash_attention_blocks(q, k, v, False, 128, 128),
        "materialised": lambda q, k, v: materialised_attention(q, k, v, False),
    }
    memory = {name: [memory_at(attention, n, head_dim, resident_repeats=config.choose(3, 2))
                     for n in monit.iterate(f"memory {name}", lengths)]
              for name, attention in attentions.items()}
    seconds: dict[str, dict[int, list[float]]] = {name: {seed: [] for seed in seeds} for name in attentions}
    for seed in monit.iterate("time", seeds):
        for n in time_lengths:
            for name, attention in attentions.items():
                seconds[name][seed].append(cpu_seconds(attention, n, head_dim, repeats, seed))
    metrics = _metrics(lengths, time_lengths, memory, seconds, _max_difference(attentions, head_dim))
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


# The two attentions must agree: the largest difference of outputs at length 512, recorded with the run.
def _max_difference(attentions: dict[str, Attention], head_dim: int) -> float:
    qkv = random_qkv(512, head_dim, seed=2)
    with torch.no_grad():
        return float((attentions["flash"](*qkv) - attentions["materialised"](*qkv)).abs().max())


MEASURES = ("saved_bytes", "largest_tensor_bytes", "peak_bytes")


def _metrics(lengths: list[int], time_lengths: list[int], memory: dict, seconds: dict,
             max_difference: float) -> dict:
    metrics: dict = {"lengths": lengths, "time_lengths": time_lengths, "head_dim": 64, "block": 128,
                     "max_output_difference": max_difference}
    for name, rows in memory.items():
        for key in MEASURES:
            values = [row[key] for row in rows]
            metrics[f"{name}_{key}"] = values
            metrics[f"{name}_{key}_exponent"] = round(growth_exponent(lengths, values), 3)
        metrics[f"{name}_cpu_s"] = {str(seed): [round(t, 4) for t in times] for seed, times in seconds[name].items()}
        metrics[f"{name}_cpu_s_mean"] = [round(float(np.mean(column)), 4) for column in zip(*seconds[name].values())]
    for key in ("saved_bytes", "peak_bytes"):
        metrics[f"{key}_ratio_longest"] = round(metrics[f"materialised_{key}"][-1] / metrics[f"flash_{key}"][-1], 1)
    metrics.update(_resident_metrics(lengths, memory))
    metrics["cpu_time_ratio_longest"] = over_seeds({seed: seconds["flash"][seed][-1] / seconds["materialised"][seed][-1]
                                                    for seed in seconds["flash"]})
    return metrics


# The resident peaks, each length's repeats as measured; the exponents from the medians at the two longest
# lengths (at short lengths most blocks are under the 64 KiB threshold and come from memory glibc already holds,
# so the readings there fall below the live count, to 0); FlashAttention's largest reading at any length, an
# upper bound; and, at the longest length, how far each resident reading is from the live-tensor peak (as a
# fraction of it).
def _resident_metrics(lengths: list[int], memory: dict) -> dict:
    resident = {name: [row["resident_peak_bytes"] for row in rows] for name, rows in memory.items()}
    if any(peaks is None for rows in resident.values() for peaks in rows):
        return {"resident_peak_bytes": None}
    metrics: dict = {f"{name}_resident_peak_bytes": resident[name] for name in resident}
    for name in resident:
        medians = [float(np.median(peaks)) for peaks in resident[name]]
        fit = all(medians[-2:])  # a reading of 0 has no logarithm
        metrics[f"{name}_resident_peak_bytes_exponent"] = round(growth_exponent(lengths, medians), 3) if fit else None
    metrics["flash_resident_peak_bytes_max"] = max(max(peaks) for peaks in resident["flash"])
    for name in resident:
        live = memory[name][-1]["peak_bytes"]
        metrics[f"{name}_resident_vs_live_longest"] = [round(peak / live - 1, 4) for peak in resident[name][-1]]
    return metrics


def _headline(metrics: dict) -> str:
    return (f"Peak memory of forward + backward (live tensors) grows as N^{metrics['flash_peak_bytes_exponent']:.2f} "
            f"with FlashAttention and N^{metrics['materialised_peak_bytes_exponent']:.2f} when P is materialised; "
            f"at N = {metrics['lengths'][-1]} a {metrics['peak_bytes_ratio_longest']:.0f} times smaller peak "
            f"({metrics['saved_bytes_ratio_longest']:.0f} times fewer bytes saved for backward); on CPU the "
            f"Python-loop version takes {metrics['cpu_time_ratio_longest']['mean']:.1f} times as long at "
            f"N = {metrics['time_lengths'][-1]}.")


PANELS = (("saved_bytes", "Saved for backward (stand-in)"),
          ("largest_tensor_bytes", "Largest single tensor (stand-in)"),
          ("peak_bytes", "Peak of live tensors, forward + backward"))
ARMS = (("flash", "FlashAttention (blocks)", "C0"), ("materialised", "materialising P", "C1"))


def _figure(metrics: dict) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    lengths = np.array(metrics["lengths"], dtype=float)
    for ax, (key, title) in zip(axes.flat, PANELS):
        for name, label, color in ARMS:
            values = np.array(metrics[f"{name}_{key}"], dtype=float)
            ax.plot(lengths, values, marker="o", color=color,
                    label=f"{label}: slope {metrics[f'{name}_{key}_exponent']:.2f}")
        # Guides through the last points, offset so they do not hide the curves.
        linear_end = metrics[f"flash_{key}"][-1] / 3
        quadratic_end = metrics[f"materialised_{key}"][-1] * 3
        ax.plot(lengths, linear_end * lengths / lengths[-1], ":", color="gray", label=r"$\propto N$")
        ax.plot(lengths, quadratic_end * (lengths / lengths[-1]) ** 2, "--", color="gray", label=r"$\propto N^2$")
        _length_axis(ax, metrics["lengths"])
        ax.set(yscale="log", ylabel="bytes", title=title)
    if metrics.get("materialised_resident_peak_bytes"):
        _resident_points(axes[1, 0], metrics)
    for ax in axes.flat[:3]:
        ax.legend(fontsize=8)
    _time_panel(axes[1, 1], metrics)
    fig.tight_layout()
    return fig


# The resident peaks as crosses beside the live-tensor peaks (a zero reading cannot be drawn on a log axis).
def _resident_points(ax: plt.Axes, metrics: dict) -> None:
    for name, label, color in ARMS:
        points = [(n, peak) for n, peaks in zip(metrics["lengths"], metrics[f"{name}_resident_peak_bytes"])
                  for peak in peaks if peak > 0]
        ax.plot(*zip(*points), "x", color=color, markersize=8, label=f"{label}: resident (VmHWM)")


def _time_panel(ax: plt.Axes, metrics: dict) -> None:
    time_lengths = metrics["time_lengths"]
    for name, label, color in ARMS:
        for i, times in enumerate(metrics[f"{name}_cpu_s"].values()):
            ax.plot(time_lengths, times, marker="o", color=color, alpha=0.6, label=label if i == 0 else None)
    _length_axis(ax, time_lengths)
    ax.set(yscale="log", ylabel="CPU seconds, forward + backward",
           title="CPU time, one thread (median of 7; a line per seed)")
    ax.legend(fontsize=8)


def _length_axis(ax: plt.Axes, lengths: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [str(n) for n in lengths])
    ax.minorticks_off()
    ax.set_xlabel("sequence length $N$")


if __name__ == "__main__":
    run_paper(__file__, experiment)
