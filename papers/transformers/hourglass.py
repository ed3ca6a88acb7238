r"""
---
title: "Hourglass: hierarchical transformers"
nav: Hourglass
summary: A transformer language model that shortens its sequence in the middle layers (shift right by k - 1,
  pool groups of k, process, upsample, add back), with the causal shift tested exactly, the pieces and the
  whole model tested against labml-nn's, and a comparison on the shared character model over seeds against
  flat transformers of the same depth and of the same FLOPs.
---

# Hourglass: hierarchical transformers

[Nawrot, Tworkowski, Tyrolski, Kaiser, Wu, Szegedy and Michalewski, 2021. *Hierarchical Transformers Are More
Efficient Language Models*](https://arxiv.org/abs/2110.13711)

(The project's checklist once linked this entry to *Stacked Hourglass Networks for Human Pose Estimation*, a
different paper with a similar name; this page is the hierarchical transformer language model.)

Every layer of a transformer language model works at the full length $L$ of its input: attention costs
$O(L^2 d)$ and the feed-forward network $O(L d\, d_{ff})$ per layer, for every layer. Nawrot et al. ask
whether the middle layers need every position. **Hourglass** lets a few *pre-vanilla* layers work on
the characters, then shortens the sequence by a factor $k$ (merging each group of $k$ positions into one
vector), runs the middle layers on the $L / k$ vectors, upsamples back to $L$ positions, adds the
full-length stream from before the shortening, and ends with a few *post-vanilla* layers:

$$x \leftarrow \mathrm{PreVanilla}(x), \quad x' \leftarrow \mathrm{Shorten}(\mathrm{ShiftRight}(x, k - 1), k),
\quad x' \leftarrow \mathrm{Shortened}(x'), \quad x \leftarrow x + \mathrm{Upsample}(x', k), \quad
x \leftarrow \mathrm{PostVanilla}(x).$$

The middle layers cost $k$ times less in their projections and feed-forward networks and $k^2$ times less
in attention, and the middle may itself be an hourglass (shorten again). The one subtle part is
causality: a language model's output at position $t$ may depend only on inputs $\le t$, and merging
positions $t, \dots, t + k - 1$ into one vector would hand the future to position $t$. The **shift right by
$k - 1$** before the shortening makes every group end at the position that reads it ([below](#the-causal-shift)).

The paper writes an architecture by its layers and their shortening, $n@r$ for $n$ layers on a sequence
$r$ times shorter: the flat 4-layer transformer is $(4@1)$, and the hourglass of this page's experiment,
one layer, two layers at half the length and one layer, is $(1@1, 2@2, 1@1)$. Its claim, on enwik8
characters and ImageNet32/64 pixels with models far larger than these: hourglass improves on the
transformer baseline given the same amount of computation, and matches it with less. Here the question
is asked in miniature: on [the shared character model](../kit/char_transformer.py), does $(1@1, 2@2, 1@1)$
reach the loss of the flat $(4@1)$ with the same number of blocks, for fewer FLOPs and less time per step,
and how does it compare with a flat $(3@1)$, which costs the same FLOPs?

The code builds on the harness: its model (embedding, positions, causal mask, tied output layer) and its
`Block`, unchanged; the hourglass's middle is one module the harness calls like a block. Two shortenings
(average and linear pooling) and two upsamplings (repeat and linear) are implemented; the paper's
attention-based ones are not. [The tests](../../tests/transformers/test_hourglass.py) check causality
exactly (changing token $t$ changes no output before $t$, for factors 2, 3, 4 and a nested hourglass, at
lengths that are not multiples of the factor; and without the shift the future leaks), the shift,
shortening and upsampling against hand computations, the shift, average pooling and repeat against
labml-nn's `ShiftRight`, `AvgPoolShortening` and `NaiveUpSampling`, and the whole model against labml-nn's
`HourGlass` with copied weights (its one convention difference, the last partial group at lengths that are
not multiples of $k$, pinned), and the FLOP count against PyTorch's `FlopCounterMode`.

## What the experiment shows

![Validation loss of the three arms during training, and final loss against time per step](results/hourglass.png)

**The set-up** (details with the experiment's code below): the shared character model made small for the
budget (width 32, 2 heads, feed-forward width 128, pre-norm blocks, windows of 64 characters, batches of 16,
300 steps of Adam with 30 steps of warm-up and cosine decay, gradient norm clipped at 1). Three arms: the flat
transformer $(4@1)$; the hourglass $(1@1, 2@2, 1@1)$ with linear pooling and linear upsampling, the same four
blocks with the middle two at 32 positions; and a flat $(3@1)$, whose FLOPs equal the hourglass's. Each arm chose
its peak rate from the same grid, $10^{-3}$, $3 \cdot 10^{-3}$, $10^{-2}$, $3 \cdot 10^{-2}$, in full runs on
seed 0 (the training losses of the last 50 steps, from the smallest rate up: $(4@1)$ 2.981, 2.791, 2.678,
2.879; the hourglass 2.921, 2.571, 2.579, 2.877, so $3 \cdot 10^{-3}$ and $10^{-2}$ nearly tie; $(3@1)$ 3.015,
2.747, 2.661, 2.911): the flat arms chose 0.01, the hourglass 0.003, none at the edge of the grid. The chosen
rate then trained seeds 1 and 2. Seed 0 is thus both the selection seed and a reported seed, which can
favour each arm on it; for the hourglass, whose two best rates nearly tie, seed 0 is also its best seed. On
the two seeds that chose nothing, 1 and 2, its lead over $(3@1)$ is -0.008 and 0.041 nats, over $(4@1)$ 0.027
and 0.075 (the table's means include seed 0). The whole run took 136.6 s of CPU at one thread, a little over
the two-minute budget, on a machine with a load average of 25 (other jobs inflate even CPU time).

**Validation loss after 300 steps** (nats per character, mean of three seeds, range in brackets; the
unigram loss is 3.259):

| arm | layout | loss | FLOPs per token | CPU ms per step | parameters |
|---|---|---|---|---|---|
| flat | $(4@1)$ | 2.696 (2.690 to 2.702) | 131,072 | 18.9 | 55,360 |
| hourglass | $(1@1, 2@2, 1@1)$ | 2.619 (2.566 to 2.675) | 98,304 | 16.8 | 59,552 |
| flat, the hourglass's FLOPs | $(3@1)$ | 2.667 (2.656 to 2.679) | 98,304 | 14.7 | 42,656 |

(The hourglass has 4,192 more parameters than $(4@1)$: its pooling and upsampling matrices.)

* **Against the flat model of the same depth** the hourglass is ahead on 3 of 3 seeds, by 0.077 (0.027 to
  0.129) nats, paired by seed, for three quarters of the FLOPs (exactly 0.75: the two middle blocks at half
  the length cost 14,336 multiply-adds per input position between them against 32,768 for two full-length
  ones, and the linear pooling and upsampling add 1,024 each) and 0.89 times the CPU time per step.
* **Against the flat model of the same FLOPs** the hourglass is ahead on 2 of 3 seeds only, by 0.049 (-0.008
  to 0.113): the sign of the paper's claim, but within the seed noise (the hourglass's own loss varies by
  0.055, standard deviation over seeds, the flat models' by 0.006 and 0.012). And $(3@1)$ is the faster per
  step: 0.78 times the flat model's CPU time against the hourglass's 0.89. Equal FLOPs are not equal time at
  this size: the hourglass's shift, concatenation, pooling and upsampling are small operations whose
  overhead the FLOP count leaves out, and its middle blocks run on tensors too small to use the CPU well.
* **The baselines are not converged.** $(3@1)$ is ahead of $(4@1)$ (2.667 against 2.696): at 300 steps the
  shallower model is still the better one, so this is a comparison early in training, where every arm is
  leaving the plateau near 3.1 nats at a seed-dependent step (the figure). Whether the hourglass keeps its
  lead when all arms are trained to convergence is not measured here; neither is the reason for its lead
  (the FLOPs it saves do not explain a lower loss at equal steps).

Times are medians of 30 training steps at one thread with the arms taking turns, on a shared machine: ratios
between arms, with a noise of perhaps 10%, not speeds.

**Against the paper.** The direction holds against the flat model of the same depth: similar or better
loss (better on every seed here) for 75% of the FLOPs and less time per step. But $(3@1)$ beats $(4@1)$ too,
(2.667 against 2.696), so at 300 steps the lead over the same depth reflects the stage of training as much
as the architecture: a model with fewer full-length layers is ahead this early whether or not it is an
hourglass. Against a flat model of the same
FLOPs the hourglass is ahead on average but not on every seed, and slower per step. That the hourglass gains
*efficiency* is the paper's claim at long sequences, where attention's quadratic cost dominates and a $k$-fold
shortening saves $k^2$ of it; at 64 characters and width 32 the attention scores and weighted sums are a
quarter of a block's multiply-adds, and the overheads of small tensors decide the time.

**Where this differs from the paper.** Nawrot et al. train models of tens of layers and widths of hundreds
on sequences of thousands of characters (and pixels) for many thousands of steps on accelerators, with the
attention-based upsampling they found best and shortening factors chosen per task; here a 4-block, 32-wide
model trains for 300 steps on 64-character windows on one CPU thread, with linear pooling and upsampling. The
harness adds learned absolute positions once, at the input; the shortened layers see position only through
the pooled vectors. The arms' initial weights differ (their blocks are drawn in different numbers);
pairing by seed shares the batches. The claim test in [the tests](../../tests/transformers/test_hourglass.py)
is a cheaper check than this run (windows of 32, 150 steps, one shared rate, 10 steps of warm-up, two
seeds): the hourglass's loss within a two-sided band of the flat $(4@1)$'s, and its trained middle in use
(switching the middle off raises its loss). At 150 steps no setting within the test's budget of about
12 s of CPU separates the hourglass from a flat $(2@1)$, the hourglass with its middle removed: at the test's
setting $(2@1)$ is ahead on one seed of three and passes the band too (the test's comment has the numbers).
So the test checks non-inferiority and a working middle, not that the middle's layers pay for themselves.
"""
from __future__ import annotations

import statistics
import time

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import Block, CharTransformer, LMSettings, build_model, corpus, train_lm
from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import next_char_loss
from papers.kit.training import History, optimizer_step
from papers.normalization.deep_norm import unigram_loss
from papers.transformers.attention import subsequent_mask, use_fused_attention
from papers.transformers.gpt import gpt_schedule


# ## The causal shift
#
# Shortening by $k$ merges $k$ consecutive positions into one. Merged naively, group $j$ holds positions
# $jk, \dots, jk + k - 1$, and position $jk$, which reads group $j$ after upsampling, would see the $k - 1$
# positions after it: the future leaks in. The paper's fix is to shift the sequence right by $k - 1$ before
# shortening:
#
# $$\tilde x_s = x_{s - (k - 1)} \quad (0 \text{ for } s < k - 1), \qquad
# \text{group } j = (\tilde x_{jk}, \dots, \tilde x_{jk + k - 1}) = (x_{jk - k + 1}, \dots, x_{jk}).$$
#
# Group $j$ then ends at position $jk$. Position $t$ reads group $\lfloor t / k \rfloor$ (through the
# upsampling), and, through the causal attention among groups, groups before it: inputs up to
# $\lfloor t / k \rfloor k \le t$, never later ones. The price is that the shortened path is late: position
# $t$ gets from it only what was known at the last multiple of $k$; the full-length layers around it fill
# in the rest.
#
# **Lengths that are not multiples of $k$.** `[batch, len, d]` → `[batch, groups * k, d]` with
# groups $= \lceil \mathrm{len} / k \rceil$: the $k - 1$ zeros of the shift, then the first
# $\mathrm{groups} \cdot k - k + 1 \le \mathrm{len}$ vectors. The padding the groups need is the shift's
# zeros at the front, and every group is full: no padding at the end, no partial group. The vectors left out
# (the last $\mathrm{len} - \mathrm{groups} \cdot k + k - 1$, fewer than $k$) belong to a group that no position
# of the text reads. So the groups of a text's prefix are the first groups of the text, and the model
# gives a prefix the same outputs as the whole text on its positions, which
# [the tests](../../tests/transformers/test_hourglass.py) check. labml-nn shifts within the length instead
# and averages a partial last group over its real entries, which differs in that group (see the tests).
def causal_shift(x: torch.Tensor, k: int) -> torch.Tensor:
    check_tensor("x", x, ["batch", "len", "d"], dtype=None)
    check_positive("k", k, integer=True)
    groups = -(-x.shape[1] // k)
    zeros = x.new_zeros(x.shape[0], k - 1, x.shape[2])
    return torch.cat([zeros, x[:, :groups * k - (k - 1)]], dim=1)


# ## Shortening
#
# `[batch, groups * k, d_model]` → `[batch, groups, d_model]`, one vector per group of $k$. Two of the
# paper's choices: **average pooling**, $s_j = \frac{1}{k} \sum_{i=0}^{k-1} \tilde x_{jk+i}$, with no
# parameters, and **linear pooling**, the group's $k$ vectors concatenated and projected,
# $s_j = W_p [\tilde x_{jk}; \dots; \tilde x_{jk+k-1}] + b_p$ with $W_p \in \mathbb{R}^{d \times kd}$.
# (The paper's third, attention pooling, which adds attention from the pooled vector to the group's and a
# feed-forward layer, is not implemented here.)
POOLINGS = ("average", "linear")


class Shortening(nn.Module):
    def __init__(self, d_model: int, k: int, pooling: str = "average"):
        super().__init__()
        check_positive("d_model", d_model, integer=True)
        check_positive("k", k, integer=True)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.d_model, self.k, self.pooling = d_model, k, pooling
        self.linear = nn.Linear(k * d_model, d_model) if pooling == "linear" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, groups * k, d_model]
        check_tensor("x", x, ["batch", "len", self.d_model])
        if x.shape[1] % self.k:
            raise ValueError(f"x's length must be a multiple of k = {self.k}, got {x.shape[1]}")
        grouped = x.view(x.shape[0], x.shape[1] // self.k, self.k * self.d_model)  # [batch, groups, k * d_model]
        if self.linear is None:
            return grouped.view(*grouped.shape[:2], self.k, self.d_model).mean(dim=2)  # [batch, groups, d_model]
        return self.linear(grouped)  # [batch, groups, d_model]


# ## Upsampling
#
# `[batch, groups, d_model]` → `[batch, len, d_model]`: position $t$ gets a vector from group
# $\lfloor t / k \rfloor$. **Repeat** copies it, $u_t = s_{\lfloor t / k \rfloor}$; **linear upsampling**
# projects each group to $k$ different vectors, $u_{jk + i} = (W_u s_j + b_u)_{i}$, the $i$-th $d$-wide slice
# of $W_u s_j + b_u \in \mathbb{R}^{kd}$, so the $k$ positions of a group get different vectors. `length`
# cuts the last group's extra positions. (The paper's attention upsampling is not implemented.)
UPSAMPLINGS = ("repeat", "linear")


class Upsampling(nn.Module):
    def __init__(self, d_model: int, k: int, upsampling: str = "repeat"):
        super().__init__()
        check_positive("d_model", d_model, integer=True)
        check_positive("k", k, integer=True)
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")
        self.d_model, self.k, self.upsampling = d_model, k, upsampling
        self.linear = nn.Linear(d_model, k * d_model) if upsampling == "linear" else None

    def forward(self, short: torch.Tensor, length: int) -> torch.Tensor:  # [batch, groups, d_model]
        check_tensor("short", short, ["batch", "groups", self.d_model])
        check_positive("length", length, integer=True)
        if not (short.shape[1] - 1) * self.k < length <= short.shape[1] * self.k:
            raise ValueError(f"length must be in ({(short.shape[1] - 1) * self.k}, {short.shape[1] * self.k}] "
                             f"for {short.shape[1]} groups of k = {self.k}, got {length}")
        if self.linear is None:
            long = short.repeat_interleave(self.k, dim=1)  # [batch, groups * k, d_model]
        else:
            long = self.linear(short).view(short.shape[0], short.shape[1] * self.k, self.d_model)
        return long[:, :length]  # [batch, length, d_model]


# ## The shortened stack
#
# The hourglass's middle, as one module the harness can call like a block, `layer(x, mask)`:
#
# $$x' = \mathrm{Shorten}(\mathrm{Shift}(x, k - 1), k), \qquad x' \leftarrow \mathrm{ShortenedLayers}(x'),
# \qquad x \leftarrow x + \mathrm{Upsample}(x', k),$$
#
# the paper's algorithm between its pre-vanilla and post-vanilla layers. The residual $x$ is the
# full-length stream before shortening, so the post-vanilla layers see both the fine-grained stream and
# what the coarse layers made of it. The shortened layers are the harness's own `Block`s (or, for a
# deeper hourglass, blocks and another `ShortenedStack`), under a causal mask of the shortened length.
# `x` is `[batch, len, d_model]`; the full-length `mask` the harness passes is not needed.
class ShortenedStack(nn.Module):
    def __init__(self, d_model: int, k: int, layers: nn.ModuleList, pooling: str = "average",
                 upsampling: str = "repeat"):
        super().__init__()
        self.k = k
        self.shortening = Shortening(d_model, k, pooling)
        self.layers = layers
        self.upsampling = Upsampling(d_model, k, upsampling)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        del mask  # the full-length mask; the shortened layers make their own
        short = self.shortening(causal_shift(x, self.k))  # [batch, groups, d_model]
        short_mask = subsequent_mask(short.shape[1], device=x.device)  # [1, groups, groups]
        for layer in self.layers:
            short = layer(short, short_mask)
        return x + self.upsampling(short, x.shape[1])  # [batch, len, d_model]


# ## The layout
#
# The paper writes an hourglass as its layers and their shortening: $n@r$ is $n$ layers working on a
# sequence $r$ times shorter than the input, listed from input to output. The flat 4-layer transformer is
# $(4@1)$; one pre-vanilla layer, two layers at a third of the length and one post-vanilla layer is
# $(1@1, 2@3, 1@1)$; a two-level hourglass $(1@1, 1@2, 2@6, 1@2, 1@1)$ shortens by 2 and then by 3 more.
# `parse_layout` reads the string into `[(layers, rate), ...]` and checks that it is an hourglass: an odd
# number of levels, rate 1 at both ends, mirrored rates that grow to the centre, each a multiple of the one
# before (so each shortening factor is an integer), and at least one layer at the centre.
def parse_layout(layout: str) -> list[tuple[int, int]]:
    if not isinstance(layout, str):
        raise ValueError(f"layout must be a string such as '1@1, 2@3, 1@1', got {layout!r}")
    try:
        levels = [tuple(int(n) for n in part.split("@")) for part in layout.split(",")]
    except ValueError as error:
        raise ValueError(f"layout must read like '1@1, 2@3, 1@1', got {layout!r}") from error
    if any(len(level) != 2 for level in levels) or len(levels) % 2 == 0:
        raise ValueError(f"layout must be an odd number of 'layers@rate' items, got {layout!r}")
    rates = [rate for _, rate in levels]
    centre = len(levels) // 2
    if rates != rates[::-1] or rates[0] != 1 or any(n < 0 for n, _ in levels) or levels[centre][0] < 1:
        raise ValueError(f"layout must start and end at rate 1, mirror its rates and have layers at its centre, "
                         f"got {layout!r}")
    for low, high in zip(rates[:centre], rates[1:centre + 1]):
        if low < 1 or high <= low or high % low:
            raise ValueError(f"layout's rates must grow to the centre, each a multiple of the one before, "
                             f"got {layout!r}")
    return levels


# And back: `[(1, 1), (2, 3), (1, 1)]` → `"1@1, 2@3, 1@1"`.
def format_layout(levels: list[tuple[int, int]]) -> str:
    return ", ".join(f"{n}@{rate}" for n, rate in levels)


# The layers of a layout, from input to output: the outer level's pre-vanilla blocks, one `ShortenedStack`
# holding the inner levels (built the same way) with factor $k$ = inner rate / outer rate, and the post-vanilla
# blocks.
def _stack(levels: list[tuple[int, int]], settings: LMSettings, pooling: str, upsampling: str) -> nn.ModuleList:
    def blocks(count: int) -> list[nn.Module]:
        return [Block(settings.d_model, settings.heads, settings.d_ff, settings.pre_norm) for _ in range(count)]

    if len(levels) == 1:
        return nn.ModuleList(blocks(levels[0][0]))
    (pre, rate), (post, _), inner = levels[0], levels[-1], levels[1:-1]
    k = inner[0][1] // rate
    middle = ShortenedStack(settings.d_model, k, _stack(inner, settings, pooling, upsampling), pooling, upsampling)
    return nn.ModuleList(blocks(pre) + [middle] + blocks(post))


# ## The model
#
# The harness's model (embedding, learned positions, the causal mask, the final norm and the tied output
# layer, all unchanged) with its list of blocks replaced by the layout's. The harness calls each entry as
# `block(x, mask)`, which the `ShortenedStack` accepts, so its forward pass runs as it is. Any layout builds
# this way, the flat ones too: $(4@1)$ is the harness's 4-layer model.
def build_hourglass(settings: LMSettings, seed: int, layout: str, pooling: str = "average",
                    upsampling: str = "repeat") -> CharTransformer:
    levels = parse_layout(layout)
    model = build_model(settings.but(layers=1), seed)
    model.blocks = _stack(levels, settings, pooling, upsampling)
    use_fused_attention(model)
    return model


# ## The cost in FLOPs
#
# Computed from the shapes, not measured: the multiply-adds of the attention and feed-forward layers per
# input position, times 2 for FLOPs, in a forward pass. A block on a sequence of $n$ positions costs, per
# position, $4d^2$ (the projections $W^Q, W^K, W^V, W^O$), $2nd$ (the scores $QK^\top$ and the weighted sum of
# values, over the full $n \times n$ square, as a dense kernel computes it, the causal mask notwithstanding)
# and $2 d\, d_{ff}$ (the feed-forward network). A block at rate $r$ runs on $n = \lceil L / r \rceil$
# positions, a fraction $n / L$ of the input's. Linear pooling and linear upsampling add $k d^2$ per group
# each. Left out, the same for every arm or small: the embedding and output layer, biases, normalisation,
# softmax, the averages. [The tests](../../tests/transformers/test_hourglass.py) check this count against
# PyTorch's `FlopCounterMode`.
def flops_per_token(settings: LMSettings, layout: str, pooling: str = "average", upsampling: str = "repeat") -> int:
    levels = parse_layout(layout)
    d, length, total = settings.d_model, settings.seq_len, 0.0
    centre = len(levels) // 2
    for i, (count, rate) in enumerate(levels):
        n = -(-length // rate)  # the sequence length at this rate
        per_position = 4 * d * d + 2 * n * d + 2 * d * settings.d_ff  # multiply-adds of one block, one position
        total += count * per_position * n / length
        if i < centre:
            k, n_short = levels[i + 1][1] // rate, -(-length // levels[i + 1][1])
            resampling = (pooling == "linear") + (upsampling == "linear")
            total += resampling * k * d * d * n_short / length
    return round(2 * total)


# ## The experiment
#
# Three arms on the shared harness, as `(layout, pooling, upsampling)`: the flat transformer of the same
# depth, the hourglass with the paper's linear pooling and linear upsampling, and the flat transformer with
# the hourglass's FLOPs (pooling and upsampling are unused by flat layouts). The model is small for the CPU
# budget: width 32, 2 heads ($d_k = 16$), feed-forward width 128, pre-norm blocks, learned absolute positions,
# windows of 64 characters (so $k = 2$ needs no partial group), batches of 16, 300 steps. Adam with the
# [GPT schedule](gpt.py) (30 steps of linear warm-up, then cosine decay to zero) and the global gradient norm
# clipped at 1. A seed fixes the batches, the same for every arm, and each arm's initial weights.
#
# **Rates.** Each arm picks its peak rate from the same grid, $10^{-3}$ to $3 \cdot 10^{-2}$ in steps of about
# 3, in full-length runs on the first seed, by the mean training loss of the last 50 steps (the rule of
# [Primer EZ](primer_ez.py)); that run is kept as the first seed's run and the chosen rate trains two more
# seeds. The quick settings are the tests' (windows of 32, 150 steps).
ARMS = {"flat": ("4@1", "average", "repeat"), "hourglass": ("1@1, 2@2, 1@1", "linear", "linear"),
        "flat_3": ("3@1", "average", "repeat")}
QUICK = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, steps=150, eval_every=25,
                   eval_windows=32, max_chars=200_000)
FULL = QUICK.but(seq_len=64, steps=300, eval_windows=64, max_chars=1_000_000)
RATES = (0.001, 0.003, 0.01, 0.03)
WARMUP = 30
CLIP_NORM = 1.0
CHOICE_STEPS = 50
TIMED_STEPS = 30


# One arm's model, its weights drawn from `seed`.
def build_arm(arm: str, settings: LMSettings, seed: int) -> CharTransformer:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {sorted(ARMS)}, got {arm!r}")
    return build_hourglass(settings, seed, *ARMS[arm])


# One training run of `arm`; returns its history (training loss every step, validation loss every
# `eval_every` steps and at the last).
def train_arm(arm: str, settings: LMSettings, seed: int, lr: float) -> History:
    model = build_arm(arm, settings, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(lr, WARMUP, settings.steps),
                    clip_norm=CLIP_NORM)


# The arm's rate from the grid by its training loss over the last `CHOICE_STEPS` steps, the sweep, and the
# chosen rate's run.
def choose_rate(arm: str, settings: LMSettings, seed: int,
                rates: tuple[float, ...]) -> tuple[float, dict[float, float], History]:
    trials = {lr: train_arm(arm, settings, seed, lr) for lr in rates}
    sweep = {lr: statistics.fmean(history.values("loss")[-CHOICE_STEPS:]) for lr, history in trials.items()}
    best = min(sweep, key=sweep.get)
    return best, sweep, trials[best]


# **Time per step.** One training step (forward, backward, Adam update, without the clipping) of each arm on
# a fixed batch, the arms taking turns so that the machine's load falls on all of them alike; the median CPU
# time of the process over `repeats` steps after 3 warm-up steps, in milliseconds, at the run's one thread.
# CPU time rather than wall time, since the machine is shared: ratios between arms, not speeds.
def time_per_step(settings: LMSettings, repeats: int) -> dict[str, float]:
    text = corpus(settings.max_chars)
    inputs, targets = text.batch("train", settings.batch_size, settings.seq_len, torch.Generator().manual_seed(0))
    models = {arm: build_arm(arm, settings, 0) for arm in ARMS}
    optimizers = {arm: torch.optim.Adam(model.parameters(), lr=1e-3) for arm, model in models.items()}
    times: dict[str, list[float]] = {arm: [] for arm in models}
    for i in range(repeats + 3):
        for arm, model in models.items():
            start = time.process_time()
            optimizer_step(next_char_loss(model(inputs), targets), optimizers[arm], parameters=model.parameters())
            if i >= 3:
                times[arm].append(time.process_time() - start)
    return {arm: statistics.median(values) * 1000 for arm, values in times.items()}


# The sweeps and seeds of every arm, then the timing. The quick run (the tests') trains two seeds at one
# rate, $3 \cdot 10^{-3}$, and times 5 steps.
def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    rates, sweeps, runs = {}, {}, {}
    for arm in ARMS:
        rates[arm], sweeps[arm], first = choose_rate(arm, settings, seeds[0], config.choose(RATES, RATES[1:2]))
        runs[arm] = {seed: first if seed == seeds[0] else train_arm(arm, settings, seed, rates[arm])
                     for seed in seeds}
    timing = time_per_step(settings, config.choose(TIMED_STEPS, 5))
    metrics = _metrics(runs, rates, sweeps, timing, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, metrics)})


# Each arm's rate, sweep, final loss over seeds, parameters, time and FLOPs per token, and validation
# curves; the hourglass's lead over each flat arm, paired by seed (positive: the hourglass is ahead).
def _metrics(runs: dict, rates: dict, sweeps: dict, timing: dict, settings: LMSettings, seeds: list[int]) -> dict:
    metrics: dict = {"seeds": seeds, "steps": settings.steps, "seq_len": settings.seq_len, "rates": list(RATES),
                     "unigram_loss": round(unigram_loss(settings), 4)}
    final = {arm: {s: runs[arm][s].last("valid_loss") for s in seeds} for arm in ARMS}
    for arm, (layout, pooling, upsampling) in ARMS.items():
        metrics[f"{arm}_layout"] = layout
        metrics[f"{arm}_lr"] = rates[arm]
        metrics[f"{arm}_sweep"] = {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()}
        metrics[f"{arm}_valid"] = over_seeds(final[arm])
        metrics[f"{arm}_parameters"] = sum(p.numel() for p in build_arm(arm, settings, 0).parameters())
        metrics[f"{arm}_ms_per_step"] = round(timing[arm], 2)
        metrics[f"{arm}_time_ratio"] = round(timing[arm] / timing["flat"], 3)
        metrics[f"{arm}_flops_per_token"] = flops_per_token(settings, layout, pooling, upsampling)
        metrics[f"{arm}_curves"] = {"steps": [i + 1 for i in runs[arm][seeds[0]].steps("valid_loss")],
                                    **{str(s): [round(v, 4) for v in runs[arm][s].values("valid_loss")]
                                       for s in seeds}}
    for other in ("flat", "flat_3"):  # positive: the hourglass is ahead
        metrics[f"hourglass_vs_{other}"] = over_seeds({s: final[other][s] - final["hourglass"][s] for s in seeds})
        metrics[f"hourglass_ahead_of_{other}_seeds"] = sum(final["hourglass"][s] < final[other][s] for s in seeds)
    metrics["hourglass_flops_ratio"] = round(metrics["hourglass_flops_per_token"] / metrics["flat_flops_per_token"], 3)
    return metrics


def _headline(metrics: dict) -> str:
    parts = [f"{arm} ({metrics[f'{arm}_layout']}) {metrics[f'{arm}_valid']['mean']:.3f}, "
             f"{metrics[f'{arm}_ms_per_step']:.1f} ms/step, {metrics[f'{arm}_flops_per_token'] / 1000:.0f} kFLOP/token"
             for arm in ARMS]
    return (f"Validation loss after {metrics['steps']} steps, mean of {len(metrics['seeds'])} seeds: "
            + "; ".join(parts) + f". Hourglass minus flat: {-metrics['hourglass_vs_flat']['mean']:+.3f} nats.")


def _figure(runs: dict, metrics: dict) -> Figure:
    fig, (ax_curve, ax_cost) = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, arm in enumerate(ARMS):
        label = f"{arm} ({metrics[f'{arm}_layout']}, lr {metrics[f'{arm}_lr']:g})"
        for j, history in enumerate(runs[arm].values()):
            ax_curve.plot([s + 1 for s in history.steps("valid_loss")], history.values("valid_loss"), color=f"C{i}",
                          alpha=0.8, label=label if j == 0 else None)
        per_seed = list(metrics[f"{arm}_valid"]["per_seed"].values())
        ax_cost.scatter([metrics[f"{arm}_ms_per_step"]] * len(per_seed), per_seed, color=f"C{i}", alpha=0.6)
        ax_cost.scatter([metrics[f"{arm}_ms_per_step"]], [metrics[f"{arm}_valid"]["mean"]], color=f"C{i}",
                        marker="*", s=150,
                        label=f"{arm}: {metrics[f'{arm}_flops_per_token'] / 1000:.0f} kFLOP/token, mean of seeds")
    losses = [v for arm in runs for history in runs[arm].values() for v in history.values("valid_loss")]
    ax_curve.axhline(metrics["unigram_loss"], color="grey", linestyle="--", linewidth=0.8, label="unigram loss")
    ax_curve.set(xlabel="training step", ylabel="validation loss (nats / char)",
                 ylim=(min(losses) - 0.05, max(losses) + 0.05),
                 title=f"Validation loss during training, each of {len(metrics['seeds'])} seeds")
    ax_curve.legend()
    ax_cost.set(xlabel="CPU time per training step (ms, median, 1 thread)",
                ylabel=f"validation loss after {metrics['steps']} steps (nats / char)",
                title="Final loss against the cost of a step")
    ax_cost.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
