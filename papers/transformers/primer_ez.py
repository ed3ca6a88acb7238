r"""
---
title: "Primer EZ: squared ReLU and depth-wise convolutions"
nav: Primer EZ
summary: The two changes to the Transformer that So et al.'s architecture search found most useful, squared
  ReLU in the feed-forward network and a causal depth-wise convolution after each of the Q, K and V
  projections, tested against labml-nn and a loop, and ablated on the shared character model over seeds, with
  the steps and the CPU time each arm needs to reach the baseline's loss.
---

# Primer EZ

[So et al., 2021. *Primer: Searching for Efficient Transformers for Language
Modeling*](https://arxiv.org/abs/2109.08668)

So et al. ran an evolutionary search over decoder-only Transformer language models written as programs of
TensorFlow primitives, and kept the models that reached a given quality in the least training compute. The
winner, *Primer*, has several changes; the paper's abstract attributes most of its gain to two of them,
and **Primer EZ** is the Transformer with just those two:

1. **Squared ReLU** in the feed-forward network: $\mathrm{FFN}(x) = \max(0, x W_1 + b_1)^2\, W_2 + b_2$.
   The square is zero for negative inputs like ReLU, but grows quadratically and has a gradient that grows
   with its input, $2\max(0, z)$, instead of a step.
2. **Multi-DConv-Head Attention (MDHA)**: after the projections $Q = x W^Q$, $K = x W^K$, $V = x W^V$, each
   of the $d$ channels (every channel of every head) is convolved over the sequence with its own kernel of
   width 3, causally (position $t$ mixes positions $t - 2$, $t - 1$ and $t$), and attention then runs as
   before. Each query, key and value becomes a learned mixture of the projections of the last three tokens,
   for $3 \cdot 3d$ more parameters per layer (three kernels of width 3 per channel, no bias, as in the
   paper's code).

The paper's headline is a saving in *compute to reach a quality*: in its abstract, Primer reaches the
quality of the original T5 architecture on C4 auto-regressive language modelling at 500M parameters with
about a quarter of the training cost, and the gain grows with scale. Those are models of hundreds of
millions of parameters trained on TPUs; here the question is asked in miniature: on
[the shared character model](../kit/char_transformer.py), does each change, and do both, reach the
baseline's validation loss in fewer steps and in less CPU time?

The code reuses the project's pieces. The feed-forward network is the project's
[`PositionWiseFeedForward`](building_blocks.py) with squared ReLU in place of its activation. MDHA subclasses
the project's [multi-head attention](attention.py) and only overrides `_attend`, so the projections, the head
split, the output projection and the fused attention kernel are the parent's.
[The tests](../../tests/transformers/test_primer_ez.py) check squared ReLU and the feed-forward network
against labml-nn's `SquaredReLU` and `FeedForward`, the
convolution against PyTorch's grouped `conv1d` and against a loop over (position, channel, tap) in float64,
its causality (changing a token never changes an earlier output, bit for bit, in the convolution, in MDHA
and in the whole model), and MDHA against labml-nn's `MultiDConvHeadAttention` with copied weights (ours built
with its optional convolution bias for that comparison: labml-nn's convolutions are `nn.Conv1d` with a bias,
the paper's code has none, and the experiment uses none). One more convention differs: labml-nn's
`SpatialDepthWiseConvolution` has one kernel per channel *of a head*, $d_k$ kernels shared by all heads,
where this page, as the paper describes it, gives each of the $d$ channels its own; the two agree when
labml-nn's kernels are copied into every head, and a test pins that they differ otherwise.

## What the experiment shows

![Validation loss of the five arms during training, and final loss against time per step](results/primer_ez.png)

**The set-up** (details with the experiment's code below): four arms on the shared character model, made small
for the budget (width 32, 2 heads, feed-forward width 128, 2 layers, windows of 32 characters, batches of 16,
450 steps of Adam with warm-up and cosine decay): the baseline, squared ReLU alone, MDHA alone ("DConv") and
both (Primer EZ), the convolutions without bias and initialised as in the paper's code. Each arm chose its peak
rate from the same grid, $10^{-3}$ to $3 \cdot 10^{-2}$ in steps of about 3, in full-length runs on seed 0,
and trained seeds 1 and 2 at it: every arm chose 0.01 (the sweep's training losses, from the smallest rate up:
the baseline 2.761, 2.551, 2.506, 2.653; squared ReLU 2.709, 2.548, 2.474, 2.659; DConv 2.651, 2.358, 2.352,
2.877, so 0.003 nearly tied; Primer EZ 2.639, 2.320, 2.225, 2.639). No arm chose a rate at the edge of the
grid. A fifth arm, the **width-1 control** (MDHA with kernels of width 1: a learned scale per channel of $Q$,
$K$ and $V$, started at 0.5 like the convolution's current tap, and no mixing over positions), chose between
0.003 and 0.01 only (2.465 and 2.385), to fit the budget: it chose 0.01, the upper end of its short grid (0.03
was the worst rate for every other arm). The whole run, 28 training runs and the timing, took 161 s of CPU at
one thread (over the two-minute budget: the control arm added four runs).

**Validation loss after 450 steps** (nats per character, mean of three seeds, range in brackets; the unigram
loss is 3.24): the baseline 2.536 (2.503 to 2.559), squared ReLU 2.494 (2.477 to 2.525), DConv 2.378 (2.347 to
2.432), Primer EZ 2.309 (2.240 to 2.352), and the width-1 control 2.463 (2.393 to 2.593). The gaps to the
baseline, paired by seed (the same batches), with their spread over the seeds:

* squared ReLU ahead by 0.042 (0.021 to 0.082), on 3 of 3 seeds, standard deviation 0.034 over the seeds. The
  baseline's own loss varies by 0.029 (standard deviation) from seed to seed, so this gain is the size of the
  seed noise: consistent in sign on three seeds, not clearly outside it;
* DConv ahead by 0.158 (0.115 to 0.212), on 3 of 3 seeds, standard deviation 0.050: several times the seed
  spread;
* Primer EZ ahead by 0.227 (0.207 to 0.263), on 3 of 3 seeds, standard deviation 0.031. Squared ReLU added to
  DConv gains 0.069 (-0.005 to 0.116) more, Primer EZ ahead of DConv on 2 of 3 seeds: again the same sign as
  squared ReLU alone and within the noise. Most of Primer EZ's gain comes from the convolution.

**Where the convolution's gain comes from.** The width-1 control has the DConv arm's per-channel scales of $Q$,
$K$ and $V$ and their initialisation, but mixes no positions. It is ahead of the baseline by 0.073 (-0.047 to
0.155), on 2 of 3 seeds, a noisy gain (at 0.5 the scales start the attention logits at a quarter of the
baseline's and the values at half). The DConv arm is ahead of the control by 0.085 (0.037 to 0.161), on 3 of 3
seeds: that part of its gain comes from mixing over positions, the access of every query, key and value to
the previous two characters. So at this scale the convolution's 0.158 splits into about half from mixing over
positions (clear in sign on every seed) and about half from the rescaling that comes with it (not clear of
the seed noise); which parts of the rescaling matter (the temperature of the logits, the scale of the values,
their being learned) is not measured.

**Steps and time to the baseline's quality.** Each arm's validation curve crosses the baseline's final loss
(same seed) after fewer updates: a speed-up in steps of 1.35 (1.25 to 1.53) for squared ReLU, 2.01 (1.71 to
2.27) for DConv and 2.46 (2.09 to 2.80) for Primer EZ. A step costs 7.3 ms of CPU for the baseline, 8.0 for
squared ReLU (1.10 times), 11.0 for DConv (1.51 times), 11.6 for Primer EZ (1.59 times) and 8.5 for the
width-1 control (1.16 times), medians of 30 steps at one thread. These ratios are single measurements on a
shared machine, with their own noise of at least 10%: squared ReLU does the same work as the baseline, and the
previous run of this experiment measured its ratio at 0.96, this one at 1.10. So squared ReLU's speed-up in
CPU time is taken to equal its speed-up in steps, 1.35, and the recorded 1.10 is not used. The extra cost of
the DConv arms is this implementation's overhead, not the convolution's arithmetic: 3 multiply-adds per
channel against the projections' $d = 32$, but a padded copy, shifted element-wise products over `[16, 32, 32]`
tensors and the transposes between the heads' layout and the channels' in each of three convolutions per
layer, forward and backward (the width-1 control, which skips the padding and the shifts, costs 1.16 times);
a fused kernel would cost much less, and on the paper's large models the multiply-adds are a small fraction of
the projections'. Measured as they are, the speed-ups in CPU time are 1.34 (1.13 to 1.50) for DConv and 1.55
(1.31 to 1.76) for Primer EZ: above 1 on every seed, well below their speed-ups in steps, and the ranges show
only the spread of the speed-ups in steps over seeds, not the noise of the one time ratio each is divided by.

**Against the paper.** The direction holds clearly for the depth-wise convolution: DConv and Primer EZ reach
the Transformer's quality in fewer steps and less CPU time on every seed, Primer EZ best. For squared ReLU it
holds in sign only: it is ahead on 3 of 3 seeds and reaches the baseline's loss in 1.35 times fewer steps, but
its gain is within the seed noise. The proportions differ: in the abstract the two modifications together give
most of a roughly fourfold saving at 500M parameters, growing with scale; here, in a 30-thousand-parameter
character model, the convolution gives most of the gain, about half of it from mixing over positions.

**Where this differs from the paper.** So et al. train decoder-only models of up to 1.9B parameters on subword
tokens for many thousands of steps on TPUs and measure compute by accelerator time and FLOPs; here a 2-layer,
32-wide character model trains for 450 steps on one CPU thread, and time is the CPU time of a step on a shared
machine (a ratio between arms, not a speed). Each arm's speed-up in steps is read off its own run with a
schedule planned for 450 steps (`steps_to_reach` below), not from separate shorter runs. The arms' initial
weights differ (the replaced modules are drawn anew); pairing by seed shares the batches. The claim test in
[the tests](../../tests/transformers/test_primer_ez.py) is a cheaper check than this run (200 steps, one shared
rate of 0.01), and shows the same direction with smaller, noisier gaps.
"""
from __future__ import annotations

import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model, corpus, train_lm
from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import next_char_loss
from papers.kit.training import History, optimizer_step
from papers.normalization.deep_norm import unigram_loss
from papers.transformers.attention import MultiHeadAttention
from papers.transformers.building_blocks import PositionWiseFeedForward
from papers.transformers.gpt import gpt_schedule


# ## Squared ReLU
#
# $$\phi(z) = \max(0, z)^2, \qquad \phi'(z) = 2\max(0, z).$$
#
# The feed-forward network is the project's [`PositionWiseFeedForward`](building_blocks.py) (its weights,
# initialisation, dropout and input checks) with this activation in place of the one it looks up by name.
def squared_relu(z: torch.Tensor) -> torch.Tensor:
    return F.relu(z).square()


class SquaredReLUFeedForward(PositionWiseFeedForward):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__(d_model, d_ff, "relu", dropout)
        self.activation = "squared_relu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, len, d_model]
        check_tensor("x", x, ["batch", "len", self.layer1.in_features], dtype=self.layer1.weight.dtype)
        return self.layer2(self.dropout(squared_relu(self.layer1(x))))  # [batch, len, d_model]


# ## The causal depth-wise convolution
#
# Over a sequence of `channels`-wide vectors, `[..., len, channels]`, each channel $c$ with its own kernel
# $w_c \in \mathbb{R}^k$:
#
# $$y_{t,c} = \sum_{j=0}^{k-1} w_{c,j}\, x_{t-k+1+j,\,c}, \qquad x_{s,c} = 0 \text{ for } s < 0.$$
#
# Tap $k - 1$ reads the current position, tap 0 the one $k - 1$ steps back; no tap reads ahead, so output $t$
# depends on inputs $\le t$ only. This is PyTorch's `conv1d` with `groups = channels` (a cross-correlation)
# and $k - 1$ zeros of padding on the left only, which [the tests](../../tests/transformers/test_primer_ez.py)
# check, and a loop over positions, channels and taps. It is computed here as $k$ shifted element-wise
# products, $y = \sum_j w_{\cdot,j} \odot x_{\cdot - (k-1-j)}$, on the channels-last layout the
# attention already has.
#
# **Initialisation and bias, as in the paper's code.** The official implementation (google-research's
# `primer/t5_models.py`, function `causal_depthwise_conv`) has no bias and starts every channel's current tap
# at $0.5$ and each earlier tap at $0.5 / k$ ($1/6$ for $k = 3$): at the start each of $Q$, $K$, $V$ is half
# the current projection plus a small average of the previous ones. That is the default here. labml-nn's
# `SpatialDepthWiseConvolution` is PyTorch's `nn.Conv1d`, with a bias and its default uniform
# initialisation; `bias=True` adds a per-channel bias $b_c$ (starting at zero) so that the tests can copy
# labml-nn's weights in.
class CausalDepthwiseConv(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3, bias: bool = False):
        super().__init__()
        check_positive("channels", channels, integer=True)
        check_positive("kernel_size", kernel_size, integer=True)
        weight = torch.full((channels, kernel_size), 0.5 / kernel_size)  # [channels, k]
        weight[:, -1] = 0.5  # the current position
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None  # [channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        leading = max(getattr(x, "ndim", 2) - 2, 0)
        check_tensor("x", x, [*[None] * leading, "len", self.weight.shape[0]], dtype=self.weight.dtype)
        k, length = self.weight.shape[1], x.shape[-2]
        out = self.weight[:, -1] * x  # the current tap
        if k > 1:
            padded = F.pad(x, (0, 0, k - 1, 0))  # [..., k - 1 + len, channels], zeros before position 0
            for j in range(k - 1):  # tap j reads k - 1 - j positions back
                out = out + self.weight[:, j] * padded[..., j:j + length, :]
        return out if self.bias is None else out + self.bias  # [..., len, channels]


# ## Multi-DConv-Head Attention
#
# The project's [multi-head attention](attention.py) computes $Q = xW^Q$, $K = xW^K$, $V = xW^V$ and splits
# each into heads, `[batch, heads, len, d_k]`. MDHA convolves each of the three over the sequence, every
# channel of every head with its own kernel ($3d$ kernels of width 3 per layer, $3 \cdot 3d$ parameters),
# and then attends as before:
#
# $$\mathrm{head}_i = \mathrm{Attention}\big(\mathrm{DConv}_Q(x W_i^Q), \mathrm{DConv}_K(x W_i^K),
# \mathrm{DConv}_V(x W_i^V)\big).$$
#
# The convolution sits in `_attend`, after the parent's projections and head split and before its
# attention (fused kernel included), so the rest is the parent's. Head $h$'s channel $i$ is column
# $h d_k + i$ of the projection, so a kernel per channel of each head is a depth-wise convolution over the
# $d$ columns.
#
# labml-nn's `SpatialDepthWiseConvolution` has $d_k$ kernels, shared by all heads: the special case of
# this module in which every head's kernels are the same (the tests copy its kernels, and with `conv_bias=True`
# its biases, into each head).
class MultiDConvHeadAttention(MultiHeadAttention):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True, kernel_size: int = 3,
                 conv_bias: bool = False):
        super().__init__(d_model, heads, dropout, bias)
        self.q_conv = CausalDepthwiseConv(d_model, kernel_size, conv_bias)
        self.k_conv = CausalDepthwiseConv(d_model, kernel_size, conv_bias)
        self.v_conv = CausalDepthwiseConv(d_model, kernel_size, conv_bias)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (_over_heads(conv, x) for conv, x in ((self.q_conv, q), (self.k_conv, k), (self.v_conv, v)))
        return super()._attend(q, k, v, mask)


# `[batch, heads, len, d_k]` → `[batch, len, heads · d_k]` (channel $h d_k + i$), convolved, and back.
def _over_heads(conv: CausalDepthwiseConv, x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, d_k = x.shape
    columns = x.transpose(1, 2).reshape(batch, length, heads * d_k)
    return conv(columns).view(batch, length, heads, d_k).transpose(1, 2)


# ## The four arms on the shared harness
#
# The [shared character transformer](../kit/char_transformer.py)'s block, with squared ReLU in the
# feed-forward network, MDHA in place of the attention, both, or neither. `ARMS` maps each arm's name to
# (squared ReLU, the convolution's width, 0 for plain attention). `CONTROL` is a fifth arm for the mechanism:
# MDHA with kernels of width 1, a learned scale per channel of $Q$, $K$ and $V$ (started at 0.5) that mixes
# nothing over positions.
ARMS = {"baseline": (False, 0), "squared_relu": (True, 0), "dconv": (False, 3), "primer_ez": (True, 3)}
CONTROL = {"width_1": (False, 1)}


# The harness's block with squared ReLU in its feed-forward network, MDHA as its attention, or both.
def primer_block(squared: bool, kernel_size: int) -> type[Block]:
    class PrimerBlock(Block):
        def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
            super().__init__(d_model, heads, d_ff, pre_norm)
            if squared:
                self.feed_forward = SquaredReLUFeedForward(d_model, d_ff)
            if kernel_size:
                self.attention = MultiDConvHeadAttention(d_model, heads, kernel_size=kernel_size)

    return PrimerBlock


def build_arm(arm: str, settings: LMSettings, seed: int) -> nn.Module:
    arms = ARMS | CONTROL
    if arm not in arms:
        raise ValueError(f"arm must be one of {sorted(arms)}, got {arm!r}")
    return build_model(settings, seed, block=primer_block(*arms[arm]))


# ## The experiment
#
# Four arms on the shared harness, identical but for the two changes: the baseline (ReLU, plain attention),
# squared ReLU alone, MDHA alone, and both (Primer EZ). The model is small for the CPU budget: width 32,
# 2 heads ($d_k = 16$), feed-forward width 128, 2 pre-norm layers, learned absolute positions, windows of
# 32 characters, batches of 16, 450 steps. Adam with the [GPT schedule](gpt.py) (50 steps of linear warm-up,
# then cosine decay to zero) and the global gradient norm clipped at 1. A seed fixes the batches, the same
# for every arm, and each arm's initial weights (the replaced modules are drawn anew, so the arms do not
# start from the same weights: pairing by seed shares the data order only).
#
# **Rates.** Each arm picks its peak rate from the same grid, $10^{-3}$, $3 \cdot 10^{-3}$, $10^{-2}$ and
# $3 \cdot 10^{-2}$, in full-length runs on the first seed, by the mean training loss of the last 50 steps
# (the rule of [the RoPE page](rope.py)); that run is kept as the first seed's run and the chosen rate
# trains two more seeds. The width-1 control, added for the mechanism within the time budget, chooses on seed 0
# between the two rates the other arms chose, $3 \cdot 10^{-3}$ and $10^{-2}$ (`CONTROL_RATES`), by the
# same rule.
QUICK = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, steps=200, eval_every=25,
                   eval_windows=32, max_chars=200_000)
FULL = QUICK.but(steps=450, eval_windows=64, max_chars=1_000_000)
RATES = (0.001, 0.003, 0.01, 0.03)
CONTROL_RATES = (0.003, 0.01)
WARMUP = 50
CLIP_NORM = 1.0
CHOICE_STEPS = 50
TIMED_STEPS = 30


# One training run of `arm`; returns its history (training loss every step, validation loss every
# `eval_every` steps and at the last).
def train_arm(arm: str, settings: LMSettings, seed: int, lr: float) -> History:
    model = build_arm(arm, settings, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(lr, WARMUP, settings.steps),
                    clip_norm=CLIP_NORM)


def choose_rate(arm: str, settings: LMSettings, seed: int,
                rates: tuple[float, ...]) -> tuple[float, dict[float, float], History]:
    trials = {lr: train_arm(arm, settings, seed, lr) for lr in rates}
    sweep = {lr: _mean(history.values("loss")[-CHOICE_STEPS:]) for lr, history in trials.items()}
    best = min(sweep, key=sweep.get)
    return best, sweep, trials[best]


# **Steps to the baseline's quality.** The first number of updates at which an arm's validation loss is at
# or below `target` (the baseline's final loss on the same seed), interpolated linearly between the two
# evaluations (every 25 steps) that bracket the crossing; `None` if it never gets there. The step speed-up
# of an arm on a seed is the baseline's own steps to its final loss (its last evaluation, unless it was
# lower earlier) over the arm's. This is a proxy for the paper's measure: an arm crosses the baseline's
# final loss in the middle of its own cosine schedule, at a higher rate than a run planned to stop there
# would have, so a shorter run of its own might get there sooner still (not measured).
def steps_to_reach(steps: list[int], losses: list[float], target: float) -> float | None:
    if losses and losses[0] <= target:
        return float(steps[0])
    for i in range(1, len(losses)):
        if losses[i] <= target:
            before, after = losses[i - 1], losses[i]
            return steps[i - 1] + (steps[i] - steps[i - 1]) * (before - target) / (before - after)
    return None


# **Time per step.** One training step (forward, backward, Adam update, without the clipping) of each arm on a
# fixed batch, the arms taking turns so that the machine's load falls on all of them alike; the median CPU
# time of the process over `repeats` steps after 3 warm-up steps, in milliseconds, at the run's one
# thread. CPU time rather than wall time, since the machine is shared; it is still a measurement on one
# loaded machine, for ratios between arms, not absolute speed. Multiplying the step speed-up by the ratio
# of times per step gives the speed-up in CPU time.
def time_per_step(settings: LMSettings, repeats: int) -> dict[str, float]:
    text = corpus(settings.max_chars)
    inputs, targets = text.batch("train", settings.batch_size, settings.seq_len, torch.Generator().manual_seed(0))
    models = {arm: build_arm(arm, settings, 0) for arm in ARMS | CONTROL}
    optimizers = {arm: torch.optim.Adam(model.parameters(), lr=1e-3) for arm, model in models.items()}
    times: dict[str, list[float]] = {arm: [] for arm in models}
    for i in range(repeats + 3):
        for arm, model in models.items():
            start = time.process_time()
            optimizer_step(next_char_loss(model(inputs), targets), optimizers[arm], parameters=model.parameters())
            if i >= 3:
                times[arm].append(time.process_time() - start)
    return {arm: statistics.median(values) * 1000 for arm, values in times.items()}


def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    rates, sweeps, runs = {}, {}, {}
    for arm in ARMS | CONTROL:
        grid = config.choose(CONTROL_RATES if arm in CONTROL else RATES, RATES[2:3])
        rates[arm], sweeps[arm], first = choose_rate(arm, settings, seeds[0], grid)
        runs[arm] = {seed: first if seed == seeds[0] else train_arm(arm, settings, seed, rates[arm])
                     for seed in seeds}
    timing = time_per_step(settings, config.choose(TIMED_STEPS, 5))
    metrics = _metrics(runs, rates, sweeps, timing, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, metrics)})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _metrics(runs: dict, rates: dict, sweeps: dict, timing: dict, settings: LMSettings, seeds: list[int]) -> dict:
    metrics: dict = {"seeds": seeds, "steps": settings.steps, "rates": list(RATES), "warmup": WARMUP,
                     "unigram_loss": round(unigram_loss(settings), 4)}
    final = {arm: {s: runs[arm][s].last("valid_loss") for s in seeds} for arm in ARMS | CONTROL}
    for arm in ARMS:
        metrics[f"{arm}_lr"] = rates[arm]
        metrics[f"{arm}_sweep"] = {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()}
        metrics[f"{arm}_valid"] = over_seeds(final[arm])
        metrics[f"{arm}_parameters"] = sum(p.numel() for p in build_arm(arm, settings, 0).parameters())
        metrics[f"{arm}_ms_per_step"] = round(timing[arm], 2)
        metrics[f"{arm}_curves"] = {"steps": _updates(runs[arm][seeds[0]]),
                                    **{str(s): [round(v, 4) for v in runs[arm][s].values("valid_loss")]
                                       for s in seeds}}
        reach = {s: _steps_to_baseline(runs, arm, s) for s in seeds}
        metrics[f"{arm}_steps_to_baseline"] = {str(s): None if v is None else round(v, 1) for s, v in reach.items()}
        if arm != "baseline":
            metrics[f"{arm}_gap"] = over_seeds({s: final["baseline"][s] - final[arm][s] for s in seeds})
            metrics[f"{arm}_ahead_seeds"] = sum(final[arm][s] < final["baseline"][s] for s in seeds)
            metrics[f"{arm}_time_ratio"] = round(timing[arm] / timing["baseline"], 3)
            if all(v is not None for v in reach.values()):
                speedup = {s: _steps_to_baseline(runs, "baseline", s) / v for s, v in reach.items()}
                metrics[f"{arm}_step_speedup"] = over_seeds(speedup)
                metrics[f"{arm}_time_speedup"] = over_seeds({s: v * timing["baseline"] / timing[arm]
                                                             for s, v in speedup.items()})
    metrics.update(_control_metrics(final, rates, sweeps, timing, settings, seeds))
    metrics["squared_relu_on_dconv_gap"] = over_seeds({s: final["dconv"][s] - final["primer_ez"][s] for s in seeds})
    metrics["primer_ez_ahead_of_dconv_seeds"] = sum(final["primer_ez"][s] < final["dconv"][s] for s in seeds)
    metrics["runs"] = sum(len(sweep) for sweep in sweeps.values()) + len(ARMS | CONTROL) * (len(seeds) - 1)
    return metrics


# The width-1 control against the baseline (positive: the control ahead) and against the DConv arm (positive:
# DConv ahead), paired by seed.
def _control_metrics(final: dict, rates: dict, sweeps: dict, timing: dict, settings: LMSettings,
                     seeds: list[int]) -> dict:
    arm = "width_1"
    return {f"{arm}_lr": rates[arm], f"{arm}_sweep": {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()},
            f"{arm}_valid": over_seeds(final[arm]),
            f"{arm}_parameters": sum(p.numel() for p in build_arm(arm, settings, 0).parameters()),
            f"{arm}_ms_per_step": round(timing[arm], 2),
            f"{arm}_time_ratio": round(timing[arm] / timing["baseline"], 3),
            f"{arm}_gap": over_seeds({s: final["baseline"][s] - final[arm][s] for s in seeds}),
            f"{arm}_ahead_seeds": sum(final[arm][s] < final["baseline"][s] for s in seeds),
            f"dconv_over_{arm}": over_seeds({s: final[arm][s] - final["dconv"][s] for s in seeds})}


def _steps_to_baseline(runs: dict, arm: str, seed: int) -> float | None:
    history = runs[arm][seed]
    return steps_to_reach(_updates(history), history.values("valid_loss"),
                          runs["baseline"][seed].last("valid_loss"))


# The harness records evaluations by step index $i$, taken after $i + 1$ updates.
def _updates(history: History) -> list[int]:
    return [i + 1 for i in history.steps("valid_loss")]


def _headline(metrics: dict) -> str:
    parts = [f"{arm} {metrics[f'{arm}_valid']['mean']:.3f}" for arm in ARMS]
    speedups = [f"{arm} {metrics[f'{arm}_step_speedup']['mean']:.2f}x in steps, "
                f"{metrics[f'{arm}_time_speedup']['mean']:.2f}x in CPU time"
                for arm in ARMS if f"{arm}_step_speedup" in metrics]
    return (f"Validation loss after {metrics['steps']} steps, mean of {len(metrics['seeds'])} seeds: "
            + ", ".join(parts) + f" (width-1 control {metrics['width_1_valid']['mean']:.3f}). "
            + "To the baseline's final loss: " + "; ".join(speedups) + ".")


def _figure(runs: dict, metrics: dict) -> Figure:
    fig, (ax_curve, ax_cost) = plt.subplots(1, 2, figsize=(13, 4.8))
    target = metrics["baseline_valid"]["mean"]
    for i, arm in enumerate(ARMS | CONTROL):
        for j, history in enumerate(runs[arm].values()):
            ax_curve.plot(_updates(history), history.values("valid_loss"), color=f"C{i}", alpha=0.8,
                          linestyle=":" if arm in CONTROL else "-",
                          label=f"{arm} (lr {metrics[f'{arm}_lr']:g})" if j == 0 else None)
        per_seed = list(metrics[f"{arm}_valid"]["per_seed"].values())
        ax_cost.scatter([metrics[f"{arm}_ms_per_step"]] * len(per_seed), per_seed, color=f"C{i}", alpha=0.6)
        ax_cost.scatter([metrics[f"{arm}_ms_per_step"]], [metrics[f"{arm}_valid"]["mean"]], color=f"C{i}",
                        marker="*", s=150, label=f"{arm}: mean of {len(per_seed)} seeds")
    ax_curve.axhline(target, color="grey", linestyle="--", linewidth=0.8, label="baseline's final loss (mean)")
    losses = [v for arm in runs for history in runs[arm].values() for v in history.values("valid_loss")]
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
