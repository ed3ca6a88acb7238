r"""
---
title: Compressive Transformer
summary: Transformer-XL's memory of past states plus a second, compressed memory that keeps the states the
  first one evicts, c to a slot (mean or max pooling, or a learned convolution trained by an
  attention-reconstruction loss); checked against a hand simulation, PyTorch's pools and labml-nn's
  convolution and reconstruction loss; on Shakespeare the convolution model's held-out loss is 0.032 nats
  below the memory-only model's, but not because of its compressed memory: removing that memory at
  evaluation changes the loss by 0.000, and the gap is already 0.032 at the first segment, before any memory.
---

# Compressive Transformers for Long-Range Sequence Modelling

[Rae, Potapenko, Jayakumar, Lillicrap, 2019. *Compressive Transformers for Long-Range Sequence
Modelling*. ICLR 2020](https://arxiv.org/abs/1911.05507)

A language model that reads a long text one segment of $L$ tokens at a time can keep, in each layer, the
states of the segments it has already read and let the current segment attend to them. This is
Transformer-XL's *memory*: a first-in first-out buffer of the last $n_m$ states of each layer, detached from
the gradient. What falls out of the buffer is lost, and the attention's cost grows with $n_m$.

The Compressive Transformer does not drop the evicted states. It compresses them, $c$ states to one slot,
with a compression function $f_c$, and keeps the result in a second buffer, the *compressed memory*, of
$n_{cm}$ slots. Layer $\ell$ attends to $[\text{compressed memory}; \text{memory}; \text{segment}]$: with
the same number of attended slots, $n_m + n_{cm}$, it reaches $n_m + c\, n_{cm}$ states back instead of
$n_m + n_{cm}$. The price is resolution: a compressed slot is a summary.

How should $f_c$ be trained? Through the language-model loss it would need gradients through many
segments of the past. The paper instead trains it with a local, auxiliary loss: the layer's attention,
with the current segment's states $h$ as queries, should read the same from the compressed states as from
the original ones,

$$\mathcal{L}^{\mathrm{attn}} = \left\|\mathrm{attn}(h, \mathrm{old}) -
\mathrm{attn}\big(h, f_c(\mathrm{old})\big)\right\|_2^2,$$

with everything but $f_c$ held fixed; and the language-model loss does not train $f_c$. The paper compares
several $f_c$: max and mean pooling, a 1-D convolution and a dilated one (kernel and stride $c$), and
keeping the most-attended states. This page implements max and mean pooling and the convolution, and
compares mean pooling and the convolution against the memory-only model.

The paper's results are at scale: 0.97 bits per character on Enwik8 and a perplexity of 17.1 on
WikiText-103, both below the Transformer-XL it builds on at the same attention size. This page measures
the comparison in miniature.

## What is measured here

**The model** is the project's [small character transformer](../kit/char_transformer.py) (2 pre-norm
layers, 64 wide, 4 heads, about 0.1 M parameters) on Shakespeare, its attention replaced by [Shaw et
al.'s relative attention](relative_attention.py) with clipping distance $k = 32$, read in segments of
$L = 30$ characters. Three arms, all attending to 30 slots of the past in every layer:

* **memory only**: a Transformer-XL-style memory of $n_m = 30$ states (reaching 30 characters back);
* **compressive, mean pool**: $n_m = 15$ and $n_{cm} = 15$ slots at rate $c = 3$ (reaching $15 + 45 = 60$
  back), $f_c$ the mean of each 3 states;
* **compressive, conv**: the same, $f_c$ a learned convolution trained by the reconstruction loss.

*Positions.* The paper uses Transformer-XL's relative positions (sinusoidal relative encodings with two
learned biases). The project's page for Transformer-XL was being written at the same time as this one and
could not be imported, so this page uses the project's committed relative attention, Shaw et al.'s, which
takes explicit positions for queries and keys: each memory slot keeps the absolute position of its state,
and a compressed slot sits at the centre of the $c$ positions it summarises, rounded towards the past.
Offsets beyond $k = 32$ share one learned vector (Shaw's clipping; Transformer-XL does not clip), so the
oldest slots of both memories are told apart by content, not by position. No arm has absolute positions.
This differs from the paper (and labml-nn), which concatenate $[\text{cmem}; \text{mem}; h]$ and let
Transformer-XL's offsets count *slots*: here a compressed slot's offset is the time distance to its group's
centre, up to about 60 for the oldest slots, clipped to 32.

*Training.* Each step takes 8 contiguous windows of 4 segments (120 characters) from the training text;
the segments of a window are read in order with the memories carried, starting empty. (So the harness's
`train_lm` and `validation_loss`, which read each window in one pass, are replaced here by a loop over
segments that carries the memories: `train_compressive` and `loss_by_segment` below.) The arms are equal in
attended slots only once both memories are full: in training, segment 2 of a window attends to 30 earlier
states in the memory-only arm but to 20 (15 in memory, 5 compressed) in the compressive arms. 200 Adam steps per
run, gradients of the main network clipped to norm 1. Each arm picks its rate from the same grid,
{0.001, 0.003, 0.01}, by its held-out loss (all 8 segments) after 60 steps on the first seed (memory only
2.909, 2.719 and 2.773 nats; mean pool 2.924, 2.758 and 2.851; conv 2.950, 2.775 and 2.927): all three
chose 0.003, inside the grid. Then 3 seeds each. (A 60-step sweep favours fast rates; it was kept short
to hold the run near its time budget.)

*Evaluation.* The same 32 held-out windows of 8 segments (240 characters) for every arm, read segment by
segment with the memories carried. Both memories of the compressive arms are full from the third segment
on (after the first segment 15 states have been evicted, after the second 45), so the comparison is the
mean loss over segments 3 to 8.

## Results

**Verdict on the loss: at equal attention span the convolution model is ahead of the memory-only model, but
its compressed memory is not why.** Held-out loss over segments 3 to 8, nats, mean of 3 seeds (range in
brackets):

| arm | loss | gain (same seed) | not read | contribution |
|---|---|---|---|---|
| memory only, $n_m = 30$ | 2.469 (2.434 to 2.515) | | | |
| mean pool, $n_m = n_{cm} = 15$ | 2.461 (2.443 to 2.482) | 0.008 (-0.024 to 0.033) | 2.460 | -0.001 (-0.004 to 0.002) |
| conv, the same | 2.436 (2.420 to 2.451) | 0.032 (0.014 to 0.064) | 2.437 | 0.000 (-0.004 to 0.003) |

*gain*: the memory-only model's loss minus the arm's; *not read*: the loss of the same trained network with
its compressed memory filled but not attended to; *contribution* of the compressed slots: not read minus
loss.

Two checks on the same trained networks say the gain does not come from what the compressed slots hold.
First, evaluating the trained compressive networks with the compressed memory still filled but not read
(each layer attends to its 15 memory slots and the segment only) changes their loss by 0.000 for the
convolution and -0.001 for mean pooling, both within $\pm 0.004$ on every seed: the network has learnt no
measurable use for the compressed slots' contents at this scale. Second, at the first held-out segment,
where no arm has any memory and the three networks are the same architecture, the convolution model is
already 0.032 (0.015 to 0.046) nats below the memory-only model (over segments 1-2, 0.025): the gain of
0.032 from segment 3 on is there before any memory is read, so it comes from the networks training
differently (the compressive arms see 20 past states instead of 30 at segment 2 in training, and a
reconstruction loss in the same Adam step), not from compression. Mean pooling's gain changes sign between
seeds. So this page finds **no measurable benefit from the compressed memory's contents** at this scale
(2 layers, 15 compressed slots, 200 steps); the paper's gains are at 24 layers, hundreds of slots and long
training, which this miniature does not test.

**The reconstruction loss trains the convolution: on one trained network, the trained convolution
reconstructs the attention better than mean pooling, and far better than an untrained convolution.** On
each seed's trained convolution network, its compression functions were swapped and the relative
reconstruction error (the loss over the mean square of its target $\mathrm{attn}(h, \mathrm{old})$)
measured on the held-out windows: trained convolution 0.240 (0.191 to 0.292), mean pooling 0.433
(0.392 to 0.496), a freshly initialised convolution 1.086 (1.012 to 1.133); the trained convolution is
below mean pooling on every seed (ratio 0.49 to 0.59). The paper's own evidence for the loss is of another
kind: whole models at scale, compared by their bits per character on Enwik8 with different compression
functions and losses for $f_c$, not the reconstruction error on one network as measured here.

What the training curve (third panel) shows is different and says less: the convolution's relative error
starts at 2.598 (a random initialisation), falls to its minimum, 0.060, within about 12 steps, and then
*rises* as the main network's states and attention grow and sharpen, ending at 0.254 (mean of the last
tenth of the steps). Mean pooling, which has nothing to train, starts at 0.043 (the random network's
states are alike and an average loses little) and ends at 0.445. The raw loss (not divided by its target's
size) grows throughout for both, for the same reason. So the fall of the training curve is recovery from a
random start; the comparison on one fixed network above is the evidence that the loss teaches $f_c$
something.

The full run took 218.9 s of CPU (above the two minutes aimed for; the machine's load average was 16,
which inflates CPU time too).

![Loss of each arm with and without the compressed memory, by segment; reconstruction error](results/compressive.png)

*Differences from the paper*, besides the scale (24 layers and memories of hundreds of states there, 2
layers and 15 slots here) and the positions: pre-norm blocks (the paper's are post-norm), the reconstruction
loss averaged over elements rather than summed (Adam does not see the difference), and no dropout.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from papers.kit.char_transformer import Block, CharTransformer, LMSettings, build_model, corpus, validation_windows
from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import next_char_loss
from papers.kit.training import History, optimizer_step, train_loop
from papers.transformers.attention import subsequent_mask
from papers.transformers.relative_attention import RelativeAttention


# ## The compression functions $f_c$
#
# $f_c$ maps the $n c$ states evicted from the memory to $n$ compressed slots, each summarising $c$
# consecutive states (`states` `[batch, n c, d_model]` → `[batch, n, d_model]`):
#
# * `"mean"`: the mean of each group of $c$, $\bar m_i = \frac{1}{c}\sum_{r=0}^{c-1} m_{ic + r}$;
# * `"max"`: the element-wise maximum of each group;
# * `"conv"`: a learned 1-D convolution over time with kernel size and stride $c$,
#   $\bar m_i = b + \sum_{r=0}^{c-1} W_r\, m_{ic + r}$ with $W_r \in \mathbb{R}^{d \times d}$.
#
# The paper also tries most-used memory and a dilated convolution; they are not implemented here. Each layer
# has its own $f_c$ (the pools have no parameters).
COMPRESSIONS = ("mean", "max", "conv")


class Compression(nn.Module):
    def __init__(self, kind: str, d_model: int, rate: int):
        super().__init__()
        if kind not in COMPRESSIONS:
            raise ValueError(f"kind must be one of {COMPRESSIONS}, got {kind!r}")
        check_positive("d_model", d_model, integer=True)
        check_positive("rate", rate, integer=True)
        self.kind, self.d_model, self.rate = kind, d_model, rate
        self.conv = nn.Conv1d(d_model, d_model, rate, stride=rate) if kind == "conv" else None

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        check_tensor("states", states, ["batch", "length", self.d_model])
        batch, length, _ = states.shape
        if length % self.rate != 0:
            raise ValueError(f"the number of states ({length}) must be a multiple of the rate {self.rate}")
        if self.conv is not None:  # Conv1d wants [batch, channels, time]
            return self.conv(states.transpose(1, 2)).transpose(1, 2)
        groups = states.reshape(batch, length // self.rate, self.rate, self.d_model)  # [batch, n, c, d]
        return groups.mean(dim=2) if self.kind == "mean" else groups.amax(dim=2)


# ## The two memories of one layer
#
# Each layer keeps the states it received as input in past segments (detached: no gradient flows
# back into a past segment, as in Transformer-XL). `memory` `[batch, m ≤ n_m, d]` holds the most recent
# ones, oldest first; `compressed` `[batch, m_c ≤ n_{cm}, d]` the compressed older ones, oldest first.
# Each slot carries an integer position (`[m]`, `[m_c]`), for the relative attention.
@dataclass
class LayerMemory:
    memory: torch.Tensor
    memory_positions: torch.Tensor
    compressed: torch.Tensor
    compressed_positions: torch.Tensor

    @staticmethod
    def empty(batch: int, d_model: int, device: torch.device, dtype: torch.dtype) -> LayerMemory:
        states = torch.zeros(batch, 0, d_model, device=device, dtype=dtype)
        positions = torch.zeros(0, dtype=torch.long, device=device)
        return LayerMemory(states, positions, states, positions)

    # What the layer attends to before the current segment: $[\text{compressed memory}; \text{memory}]$,
    # `[batch, m_c + m, d]`, and its positions `[m_c + m]`; with `compressed=False` the memory alone (the
    # ablation below: the compressed slots are kept up to date but not read).
    def context(self, compressed: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        if not compressed:
            return self.memory, self.memory_positions
        return (torch.cat([self.compressed, self.memory], dim=1),
                torch.cat([self.compressed_positions, self.memory_positions]))


# A compressed slot sits at the centre of the $c$ positions it summarises, rounded towards the past:
# $\lfloor \frac{1}{c}\sum_r p_{ic + r} \rfloor$, so the slot for positions 0, 1, 2 is at 1, and for
# 0, 1 at 0. (`positions` `[n c]` → `[n]`.)
def compressed_positions(positions: torch.Tensor, rate: int) -> torch.Tensor:
    return positions.reshape(-1, rate).sum(dim=1).div(rate, rounding_mode="floor")


# ### One step of the bookkeeping (the paper's Algorithm 1)
#
# After a segment's states $h$ `[batch, L, d]` have been used, they join the memory; the oldest states
# that no longer fit in $n_m$ slots are evicted, compressed by $f_c$, and join the compressed memory,
# which in turn drops its oldest slots beyond $n_{cm}$ (they are forgotten):
#
# $$\mathrm{old} = [\mathrm{mem}; h]_{1 \dots k},\quad \mathrm{mem} \leftarrow [\mathrm{mem}; h]_{k+1 \dots},
# \quad \mathrm{cmem} \leftarrow [\mathrm{cmem}; f_c(\mathrm{old})]_{\text{last } n_{cm}},$$
#
# with $k = \max(0, m + L - n_m)$. With $n_{cm} = 0$ this is Transformer-XL's memory: the evicted states
# are dropped. Returned as well are the evicted states and their summary $f_c(\mathrm{old})$ *with* its
# gradient (for the reconstruction loss); the compressed memory itself stores it detached, so the
# language-model loss of later segments does not reach $f_c$ (as in the paper, which trains $f_c$ by the
# auxiliary loss alone).
@dataclass
class Evicted:
    states: torch.Tensor  # [batch, k, d]
    positions: torch.Tensor  # [k]
    summary: torch.Tensor | None  # [batch, k / c, d], or None without compression
    summary_positions: torch.Tensor | None  # [k / c]


def advance(memory: LayerMemory, states: torch.Tensor, positions: torch.Tensor, memory_slots: int,
            compress: Compression | None, compressed_slots: int) -> tuple[LayerMemory, Evicted]:
    joined = torch.cat([memory.memory, states.detach()], dim=1)  # [batch, m + L, d]
    joined_positions = torch.cat([memory.memory_positions, positions])
    k = max(0, joined.shape[1] - memory_slots)
    evicted = Evicted(joined[:, :k], joined_positions[:k], None, None)
    compressed, kept_positions = memory.compressed, memory.compressed_positions
    if compress is not None and compressed_slots > 0 and k > 0:
        evicted.summary = compress(evicted.states)  # [batch, k / c, d], differentiable in f_c
        evicted.summary_positions = compressed_positions(evicted.positions, compress.rate)
        compressed = torch.cat([compressed, evicted.summary.detach()], dim=1)[:, -compressed_slots:]
        kept_positions = torch.cat([kept_positions, evicted.summary_positions])[-compressed_slots:]
    return LayerMemory(joined[:, k:], joined_positions[k:], compressed, kept_positions), evicted


# ## The block
#
# The harness's [pre-norm block](../kit/char_transformer.py) with [Shaw's relative
# attention](relative_attention.py), whose queries are the current segment and whose keys and values are
# $[\text{compressed memory}; \text{memory}; \text{segment}]$, normalised by the same layer norm as the
# queries (the memories hold the layer's *inputs*). `context` `[batch, n_ctx, d]` with positions
# `[n_ctx]`; `mask` `[1, L, n_ctx + L]`: every context slot is visible, the segment is causal.
class CompressiveBlock(Block):
    max_distance = 32

    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
        super().__init__(d_model, heads, d_ff, pre_norm)
        self.attention = RelativeAttention(d_model, heads, self.max_distance)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,  # pylint: disable=arguments-differ
                context: torch.Tensor | None = None, positions: torch.Tensor | None = None,
                context_positions: torch.Tensor | None = None) -> torch.Tensor:
        if context is None:
            context = x.new_zeros(x.shape[0], 0, x.shape[2])
            context_positions = torch.zeros(0, dtype=torch.long, device=x.device)
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device)

        def attend(h: torch.Tensor) -> torch.Tensor:
            keys = torch.cat([self.attention_input(context), h], dim=1)  # [batch, n_ctx + L, d]
            return self.attention(h, keys, keys, mask, query_positions=positions,
                                  key_positions=torch.cat([context_positions, positions]))

        x = self.residual(x, attend, self.attention_norm)
        return self.residual(x, self.feed_forward, self.feed_forward_norm)

    # The states as attention reads them: normalised in a pre-norm block, as they are in a post-norm one.
    def attention_input(self, states: torch.Tensor) -> torch.Tensor:
        return self.attention_norm(states) if self.pre_norm else states


# ## The attention-reconstruction loss
#
# $f_c$ is trained to keep what attention would have read from the evicted states. With the current
# segment's states $h$ `[batch, L, d]` as queries, the layer's own attention is run once over the evicted
# states and once over their compressed version, and the squared difference is the loss
# (the paper's Algorithm 1):
#
# $$\mathcal{L}^{\mathrm{attn}} = \sum_{\text{layers}}
# \frac{1}{B L d}\left\|\mathrm{attn}(h, \mathrm{old}) - \mathrm{attn}\big(h, f_c(\mathrm{old})\big)\right\|_2^2,$$
#
# (a mean over elements instead of the paper's sum, a constant factor that Adam ignores). Everything but
# $f_c$ is held fixed: $h$ and the evicted states are detached, and the attention and its layer norm are
# called with detached copies of their parameters (`functional_call`), so this loss trains $f_c$ only and
# the main network is trained by the language-model loss only. The attention here is the layer's own,
# relative positions included (each compressed slot at its position); labml-nn's version drops the
# position terms. All queries see all evicted states (no causal mask), as in the paper's algorithm.
def frozen_call(module: nn.Module, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
    parameters = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, parameters, args, kwargs)


def reconstruction_loss(block: CompressiveBlock, h: torch.Tensor, positions: torch.Tensor,
                        evicted: Evicted) -> tuple[torch.Tensor, torch.Tensor]:
    def attend(states: torch.Tensor, key_positions: torch.Tensor) -> torch.Tensor:
        keys = frozen_call(block.attention_norm, states) if block.pre_norm else states
        return frozen_call(block.attention, queries, keys, keys, query_positions=positions,
                           key_positions=key_positions)

    queries = frozen_call(block.attention_norm, h.detach()) if block.pre_norm else h.detach()
    target = attend(evicted.states.detach(), evicted.positions)  # [batch, L, d]
    return (target - attend(evicted.summary, evicted.summary_positions)).pow(2).mean(), target.pow(2).mean()


# ## The model
#
# The harness's [character transformer](../kit/char_transformer.py) (its embedding, blocks, final norm and
# tied output layer; no absolute positions), read segment by segment. A window of $S$ segments of $L$
# characters, `tokens` `[batch, S L]`, starts with empty memories; each segment's layer-$\ell$ input
# states then enter layer $\ell$'s memories. The output is the logits `[batch, S L, vocab]` and the
# reconstruction loss summed over layers, averaged over the segments that evicted something, and (a float,
# for the record only) that loss over the mean square of its target $\mathrm{attn}(h, \mathrm{old})$, the
# *relative* reconstruction error; without compression both are 0.
#
# `memory_slots` $n_m$, `compressed_slots` $n_{cm}$ (0: the memory-only model) and `rate` $c$ must
# keep every eviction a whole number of groups of $c$: $L$ and $n_m$ multiples of $c$. With
# `attend_compressed=False` the compressed memory is filled as usual but no layer attends to it: the
# ablation that asks how much its contents are worth to a trained network.
class CompressiveTransformer(nn.Module):
    def __init__(self, settings: LMSettings, seed: int, segment_len: int, memory_slots: int,
                 compressed_slots: int = 0, rate: int = 1, compression: str = "mean"):
        super().__init__()
        for name, value in (("segment_len", segment_len), ("memory_slots", memory_slots), ("rate", rate)):
            check_positive(name, value, integer=True)
        if isinstance(compressed_slots, bool) or not isinstance(compressed_slots, int) or compressed_slots < 0:
            raise ValueError(f"compressed_slots must be a non-negative integer, got {compressed_slots!r}")
        if compressed_slots > 0 and (segment_len % rate or memory_slots % rate):
            raise ValueError(f"segment_len ({segment_len}) and memory_slots ({memory_slots}) must be multiples "
                             f"of the rate {rate}")
        self.lm: CharTransformer = build_model(settings.but(positions="none"), seed, block=CompressiveBlock)
        self.segment_len, self.memory_slots, self.compressed_slots = segment_len, memory_slots, compressed_slots
        self.compressions = nn.ModuleList(Compression(compression, settings.d_model, rate)
                                          for _ in range(settings.layers) if compressed_slots > 0)

    def forward(self, tokens: torch.Tensor, attend_compressed: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, float]:
        check_tensor("tokens", tokens, ["batch", "seq"], dtype=torch.long)
        if tokens.shape[1] % self.segment_len:
            raise ValueError(f"the window ({tokens.shape[1]}) must be a multiple of segment_len {self.segment_len}")
        memories = self.empty_memories(tokens)
        logits, losses, powers = [], [], []
        for start in range(0, tokens.shape[1], self.segment_len):
            segment_logits, memories, loss = self.forward_segment(tokens[:, start:start + self.segment_len],
                                                                  start, memories, attend_compressed)
            logits.append(segment_logits)
            if loss is not None:
                losses.append(loss[0])
                powers.append(loss[1])
        if not losses:
            return torch.cat(logits, dim=1), self.lm.embedding.weight.new_zeros(()), 0.0
        reconstruction = torch.stack(losses).mean()
        return torch.cat(logits, dim=1), reconstruction, (reconstruction / torch.stack(powers).mean()).item()

    def empty_memories(self, tokens: torch.Tensor) -> list[LayerMemory]:
        weight = self.lm.embedding.weight
        return [LayerMemory.empty(tokens.shape[0], weight.shape[1], tokens.device, weight.dtype)
                for _ in self.lm.blocks]

    # One segment `tokens` `[batch, L]` at absolute positions `start ... start + L - 1`.
    def forward_segment(self, tokens: torch.Tensor, start: int, memories: list[LayerMemory],
                        attend_compressed: bool = True
                        ) -> tuple[torch.Tensor, list[LayerMemory], tuple[torch.Tensor, torch.Tensor] | None]:
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)  # [L]
        context_len = memories[0].context(attend_compressed)[0].shape[1]
        mask = torch.cat([torch.ones(1, tokens.shape[1], context_len, dtype=torch.bool, device=tokens.device),
                          subsequent_mask(tokens.shape[1], device=tokens.device)], dim=2)  # [1, L, n_ctx + L]
        x = self.lm.embedding(tokens)  # [batch, L, d]
        updated, losses = [], []
        for i, (block, memory) in enumerate(zip(self.lm.blocks, memories)):
            context, context_positions = memory.context(attend_compressed)
            compress = self.compressions[i] if self.compressed_slots > 0 else None
            new_memory, evicted = advance(memory, x, positions, self.memory_slots, compress, self.compressed_slots)
            if evicted.summary is not None:
                losses.append(reconstruction_loss(block, x, positions, evicted))
            updated.append(new_memory)
            x = block(x, mask, context, positions, context_positions)
        logits = self.lm.final_norm(x) @ self.lm.embedding.weight.T  # [batch, L, vocab]
        if not losses:
            return logits, updated, None
        return logits, updated, (sum(loss for loss, _ in losses), sum(power for _, power in losses))


# ## Training
#
# Each step draws `batch_size` contiguous training windows of $S L$ characters at random places (a
# generator seeded by `seed`), runs their segments in order with the memories carried, and takes one Adam
# step on the mean next-character loss plus the reconstruction loss. The two losses train disjoint
# parameters (the main network and $f_c$), so one optimiser serves both; the main network's gradient is
# clipped to norm 1, $f_c$'s is not clipped (clipping them together would scale one loss's gradient by
# the other's norm). Recorded each step: `loss` (language model) and `reconstruction`.
CLIP_NORM = 1.0


def train_compressive(model: CompressiveTransformer, settings: LMSettings, segments: int, lr: float,
                      seed: int) -> History:
    text = corpus(settings.max_chars)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> dict[str, float]:
        model.train()
        inputs, targets = text.batch("train", settings.batch_size, segments * model.segment_len, generator)
        logits, reconstruction, relative = model(inputs)
        lm_loss = next_char_loss(logits, targets)
        optimizer_step(lm_loss + reconstruction, optimizer, parameters=model.lm.parameters(), clip_norm=CLIP_NORM)
        return {"loss": lm_loss.item(), "reconstruction": reconstruction.item(), "relative_error": relative}

    return train_loop(settings.steps, step, log_every=settings.eval_every)


# ## Evaluation, segment by segment
#
# The held-out loss at each segment index of `count` long validation windows of `segments` segments (the
# harness's `validation_windows`, the same windows for every arm), read with the memories carried:
# `[segments]`, nats. `attend_compressed=False` is the ablation: the same trained network, its compressed
# memory not read.
@torch.no_grad()
def loss_by_segment(model: CompressiveTransformer, settings: LMSettings, segments: int,
                    attend_compressed: bool = True) -> torch.Tensor:
    inputs, targets = validation_windows(corpus(settings.max_chars).valid, segments * model.segment_len,
                                         settings.eval_windows)
    was_training = model.training
    model.eval()
    logits, _, _ = model(inputs, attend_compressed)
    model.train(was_training)
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # [count, S L]
    return losses.reshape(len(inputs), segments, model.segment_len).mean(dim=(0, 2))


# ### The compression functions compared on one network
#
# The training curve of the reconstruction error mixes two things: $f_c$ learning, and the main network
# (whose states and attention define the target) changing under it. To separate them, the trained network is
# held fixed and its compression functions are swapped: its trained convolutions, mean pooling, and freshly
# initialised convolutions (drawn from `seed`). Returned: the relative reconstruction error of each on the
# held-out windows. Swapping $f_c$ also changes what later segments read from the compressed memory, so the
# queries differ slightly between the three; the evicted states of the first eviction are the same.
SWAPS = ("trained conv", "mean pool", "untrained conv")


@torch.no_grad()
def same_network_errors(model: CompressiveTransformer, settings: LMSettings, segments: int,
                        seed: int) -> dict[str, float]:
    inputs, _ = validation_windows(corpus(settings.max_chars).valid, segments * model.segment_len,
                                   settings.eval_windows)
    trained = model.compressions
    d_model, rate = trained[0].d_model, trained[0].rate
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        untrained = nn.ModuleList(Compression("conv", d_model, rate) for _ in trained)
    pools = nn.ModuleList(Compression("mean", d_model, rate) for _ in trained)
    was_training = model.training
    model.eval()
    errors = {}
    for name, compressions in zip(SWAPS, (trained, pools, untrained)):
        model.compressions = compressions
        errors[name] = model(inputs)[2]
    model.compressions = trained
    model.train(was_training)
    return errors


# ## The experiment
#
# Three arms with the same number of attended slots of the past (30): the memory-only model with
# $n_m = 30$, and the compressive model with $n_m = n_{cm} = 15$ at rate $c = 3$, with mean pooling or the
# convolution. Every arm is built from the same seed, so the main networks start equal. Training windows
# have `TRAIN_SEGMENTS` segments, held-out windows `EVAL_SEGMENTS`; `late_loss` is the mean over the
# held-out segments from the third on, where every memory is full.
ARMS = {"memory only": "none", "compressive, mean pool": "mean", "compressive, conv": "conv"}
SEGMENT_LEN, MEMORY_SLOTS, COMPRESSED_SLOTS, RATE = 30, 15, 15, 3
TRAIN_SEGMENTS, EVAL_SEGMENTS = 4, 8
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SWEEP_FRACTION = 0.3  # the rate sweep's runs are this fraction of the full run's steps


def settings_for(config: RunConfig) -> LMSettings:
    quick = LMSettings(d_model=32, heads=2, d_ff=128, batch_size=8, eval_windows=16, max_chars=200_000)
    return config.choose(LMSettings(batch_size=8, eval_windows=32), quick).but(
        steps=config.train_steps(200, 60), eval_every=50)


def build_arm(arm: str, settings: LMSettings, seed: int) -> CompressiveTransformer:
    kind = ARMS[arm]
    if kind == "none":  # the same number of attended slots, all uncompressed
        return CompressiveTransformer(settings, seed, SEGMENT_LEN, MEMORY_SLOTS + COMPRESSED_SLOTS)
    return CompressiveTransformer(settings, seed, SEGMENT_LEN, MEMORY_SLOTS, COMPRESSED_SLOTS, RATE, kind)


def run_arm(arm: str, settings: LMSettings, lr: float, seed: int, sweep: bool = False) -> dict:
    model = build_arm(arm, settings, seed)
    history = train_compressive(model, settings, TRAIN_SEGMENTS, lr, seed)
    by_segment = loss_by_segment(model, settings, EVAL_SEGMENTS)
    result = {"by_segment": by_segment.tolist(), "loss": by_segment.mean().item(),
              "late_loss": by_segment[2:].mean().item()}
    if sweep:
        return result
    result.update(reconstruction=history.values("reconstruction"), relative_error=history.values("relative_error"))
    if ARMS[arm] != "none":
        result["late_loss_without"] = loss_by_segment(model, settings, EVAL_SEGMENTS, False)[2:].mean().item()
    if ARMS[arm] == "conv":
        result["swaps"] = same_network_errors(model, settings, EVAL_SEGMENTS, seed)
    return result


# Each arm's learning rate: the best held-out loss over the same grid on the first seed, in shorter runs.
def choose_rate(arm: str, settings: LMSettings, seed: int) -> tuple[float, dict[float, float]]:
    short = settings.but(steps=max(round(settings.steps * SWEEP_FRACTION), 1))
    losses = {lr: run_arm(arm, short, lr, seed, sweep=True)["loss"] for lr in LEARNING_RATES}
    return min(losses, key=losses.get), losses


def experiment(config: RunConfig) -> Outcome:
    settings = settings_for(config)
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs: dict = {}
    sweeps: dict = {}
    for arm in ARMS:
        lr, sweeps[arm] = choose_rate(arm, settings, seeds[0])
        runs[arm] = {"lr": lr, "seeds": {seed: run_arm(arm, settings, lr, seed) for seed in seeds}}
    metrics = _metrics(runs, sweeps, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs)})


def _metrics(runs: dict, sweeps: dict, settings: LMSettings, seeds: list[int]) -> dict:
    metrics: dict = {"seeds": seeds, "train_steps": settings.steps,
                     "sweep_steps": max(round(settings.steps * SWEEP_FRACTION), 1)}
    base = runs["memory only"]["seeds"]
    for arm, run in runs.items():
        key = ARMS[arm]
        metrics[f"{key}_lr"] = run["lr"]
        metrics[f"{key}_sweep"] = {str(lr): round(loss, 4) for lr, loss in sweeps[arm].items()}
        for name in ("loss", "late_loss"):
            metrics[f"{key}_{name}"] = over_seeds({s: m[name] for s, m in run["seeds"].items()})
        if key == "none":
            continue
        per_seed = run["seeds"]
        metrics[f"{key}_gain"] = over_seeds({s: base[s]["late_loss"] - m["late_loss"] for s, m in per_seed.items()})
        metrics[f"{key}_late_loss_without"] = over_seeds({s: m["late_loss_without"] for s, m in per_seed.items()})
        # what reading the compressed slots is worth to the trained network: loss without them - loss with
        metrics[f"{key}_contribution"] = over_seeds({s: m["late_loss_without"] - m["late_loss"]
                                                     for s, m in per_seed.items()})
        # the gap where no arm has any memory yet (segment 1) and over segments 1-2: the trained weights alone
        metrics[f"{key}_segment1_gap"] = over_seeds({s: base[s]["by_segment"][0] - m["by_segment"][0]
                                                     for s, m in per_seed.items()})
        metrics[f"{key}_early_gap"] = over_seeds({s: sum(base[s]["by_segment"][:2]) / 2 - sum(m["by_segment"][:2]) / 2
                                                  for s, m in per_seed.items()})
        for name in ("reconstruction", "relative_error"):
            curve = torch.tensor([m[name] for m in per_seed.values()])  # [seeds, steps]
            tenth = max(curve.shape[1] // 10, 1)
            metrics[f"{key}_{name}_first"] = over_seeds(dict(zip(seeds, curve[:, :tenth].mean(1).tolist())))
            metrics[f"{key}_{name}_last"] = over_seeds(dict(zip(seeds, curve[:, -tenth:].mean(1).tolist())))
        curve = torch.tensor([m["relative_error"] for m in per_seed.values()])
        metrics[f"{key}_relative_error_start"] = over_seeds(dict(zip(seeds, curve[:, 0].tolist())))
        metrics[f"{key}_relative_error_min"] = over_seeds(dict(zip(seeds, curve.amin(1).tolist())))
        metrics[f"{key}_relative_error_argmin"] = over_seeds(dict(zip(seeds, curve.argmin(1).float().tolist())))
    swaps = runs["compressive, conv"]["seeds"]
    for name in SWAPS:
        metrics[f"swap_{name.replace(' ', '_')}"] = over_seeds({s: m["swaps"][name] for s, m in swaps.items()})
    metrics["swap_ratio_conv_to_mean"] = over_seeds({s: m["swaps"]["trained conv"] / m["swaps"]["mean pool"]
                                                     for s, m in swaps.items()})
    return metrics


def _headline(metrics: dict) -> str:
    def mean(key: str) -> float:
        return metrics[key]["mean"]

    return (f"Held-out loss from segment 3 on, mean of {len(metrics['seeds'])} seeds: memory only "
            f"{mean('none_late_loss'):.3f}, mean pool {mean('mean_late_loss'):.3f}, conv "
            f"{mean('conv_late_loss'):.3f} nats; the compressed slots' contribution (loss without them - with) "
            f"conv {mean('conv_contribution'):.4f}, mean pool {mean('mean_contribution'):.4f}; gap at segment 1 "
            f"(no memory) conv {mean('conv_segment1_gap'):.3f}. Same trained network, relative reconstruction "
            f"error: trained conv {mean('swap_trained_conv'):.3f}, mean pool {mean('swap_mean_pool'):.3f}, "
            f"untrained conv {mean('swap_untrained_conv'):.3f}.")


def _figure(runs: dict) -> plt.Figure:
    fig, (ax_bars, ax_segments, ax_relative, ax_swaps) = plt.subplots(1, 4, figsize=(20, 4.4))
    labels = ["memory only", "mean pool", "conv"]
    for i, (arm, run) in enumerate(runs.items()):
        late = [m["late_loss"] for m in run["seeds"].values()]
        ax_bars.bar(i, sum(late) / len(late), color=f"C{i}", alpha=0.6)
        ax_bars.scatter([i] * len(late), late, color="black", s=12, zorder=3,
                        label="seeds" if i == 0 else None)
        if ARMS[arm] != "none":
            without = [m["late_loss_without"] for m in run["seeds"].values()]
            ax_bars.scatter([i + 0.25] * len(without), without, facecolors="none", edgecolors="red", s=20,
                            zorder=3, label="seeds, compressed memory not read" if i == 1 else None)
        by_segment = torch.tensor([m["by_segment"] for m in run["seeds"].values()]).mean(0)
        ax_segments.plot(range(1, len(by_segment) + 1), by_segment, marker="o", color=f"C{i}", label=arm)
        if ARMS[arm] != "none":
            curve = torch.tensor([m["relative_error"] for m in run["seeds"].values()]).mean(0)  # mean of seeds
            ax_relative.plot(torch.arange(len(curve)), curve, color=f"C{i}", label=arm)
    lows = [min(m["late_loss"] for m in run["seeds"].values()) for run in runs.values()]
    ax_bars.set(xticks=range(len(runs)), ylim=(min(lows) - 0.05, None),
                ylabel="held-out loss, segments 3 on (nats)", title="Each arm: mean (bar) and seeds (dots)")
    ax_bars.set_xticklabels(labels)
    ax_bars.legend(fontsize=8)
    ax_segments.set(xlabel="segment of the held-out window", ylabel="loss (nats), mean of seeds",
                    title="Loss by segment, memories carried")
    ax_relative.set(yscale="log", xlabel="training step", ylabel="loss / mean square of attn(h, old)",
                    title="Relative reconstruction error in training, mean of seeds")
    swaps = [m["swaps"] for m in runs["compressive, conv"]["seeds"].values()]
    for i, name in enumerate(SWAPS):
        values = [s[name] for s in swaps]
        ax_swaps.bar(i, sum(values) / len(values), color=f"C{i + 3}", alpha=0.6)
        ax_swaps.scatter([i] * len(values), values, color="black", s=12, zorder=3)
    ax_swaps.set(xticks=range(len(SWAPS)), yscale="log", ylabel="relative reconstruction error, held out",
                 title="Same trained network, f_c swapped")
    ax_swaps.set_xticklabels(list(SWAPS))
    for ax in (ax_segments, ax_relative):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
