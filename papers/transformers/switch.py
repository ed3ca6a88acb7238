r"""
---
title: Switch Transformer
summary: Top-1 routing among expert feed-forward networks with an expert capacity, token dropping and the
  load-balancing loss, tested against a loop over tokens and labml-nn, and trained on the shared character
  model against dense models of the same compute per token and of the same parameter count, over seeds, with
  each expert's share of the tokens during training, with and without the balancing loss.
---

# Switch Transformer

[Fedus, Zoph and Shazeer, 2021. *Switch Transformers: Scaling to Trillion Parameter Models with Simple and
Efficient Sparsity*](https://arxiv.org/abs/2101.03961)

A Transformer spends the same computation on every token, and its parameters and its computation grow
together. The Switch Transformer separates the two. In each feed-forward sub-layer it keeps $N$ feed-forward
networks, the *experts*, and a small *router* that sends each token to one of them, the one it scores
highest. A token is computed by one expert, so the computation per token is that of one feed-forward network
whatever $N$, while the parameters grow $N$ times. The paper's claim (its Section 3, Figures 4 to 6) is that
at the same computation per token, more experts train to a better model in fewer steps: on C4, a
Switch-Base model with 64 experts reaches T5-Base's quality at step 60k where T5-Base takes 450k, 7.5 times
fewer steps.

Two more pieces make it work on hardware. Each expert has a fixed *capacity*, room for
$C = \lfloor \text{capacity factor} \cdot T / N \rfloor$ of the $T$ tokens of a batch; tokens routed to a full
expert are *dropped*: their feed-forward output is zero and they pass to the next layer through the residual
connection only. And an auxiliary *load-balancing loss*, $\alpha N \sum_i f_i P_i$, pushes the router
towards an even split (a router left alone can send most tokens to a few experts, which then drop them).

This page builds the Switch layer from the project's pieces: each expert is the project's
[`PositionWiseFeedForward`](building_blocks.py), and the layer replaces the feed-forward network of [the shared
character model](../kit/char_transformer.py)'s block. [The tests](../../tests/transformers/test_switch.py) check the
layer against a loop over tokens in float64, that dropped tokens give exactly zero, that the model stays causal while it
drops tokens (the order in which tokens claim slots is chosen for it, below), the load-balancing loss against its
formula written out (it equals $\alpha$ at uniform routing and is larger for a skewed router), the gradient of the loss
as it is attached to the layer against that of the explicit sum, and the layer against labml-nn's `SwitchFeedForward`
with copied weights. Two conventions differ from labml-nn's, both pinned in a test: when an expert overflows labml-nn
keeps a random subset of its tokens, where this page keeps the first to arrive (the paper's code's rule, in an order of
this page's, below); and labml-nn returns a dropped token's input scaled by its router probability, $p_i(x)\,x$, which
its block adds to the residual, where this page returns zero, as the paper describes.

**Is uniform routing the minimum of the loss?** The paper says the loss "is minimized under a uniform
distribution". That holds for the relaxation the paper's argument uses, $f = P$, where the loss is
$\alpha N \sum_i P_i^2 \ge \alpha$ (Cauchy-Schwarz), with equality at $P_i = 1/N$. With $f$ the arg-max
counts it is not a minimum in general: three tokens with router probabilities $(0.9, 0.1)$, $(0.4, 0.6)$ and
$(0.4, 0.6)$ give $N \sum_i f_i P_i = 0.956$, below the uniform value of 1 (a test pins both).

## What the experiment shows

![Validation loss of the four arms, tokens dropped, and each expert's share of the tokens during training,
with and without the balancing loss](results/switch.png)

**The set-up** (details with the experiment's code below): the shared character model, small for the budget
(width 32, 2 heads, 2 layers, windows of 32 characters, batches of 16: 512 tokens per layer and step, 400
steps of Adam with warm-up and cosine decay). Four arms: the **dense** model (feed-forward width 128), the
**Switch** model (4 experts of width 128 in each layer, capacity factor 1.25, $\alpha = 0.01$: the same
computation per token, 79,296 parameters against 28,928), the Switch model **without the balancing loss**
($\alpha = 0$), and a **wide dense** model (one feed-forward network of width 512: 78,848 parameters, about
the Switch model's, at four times its feed-forward computation per token). The dense, Switch and wide arms
each chose their rate from the same grid, 0.003, 0.005, 0.01 and 0.02 (steps of 1.7 to 2 times), on seed 0
(mean training loss of the last 50 steps: dense 2.599, 2.570, 2.533, 2.627; Switch 2.608, 2.548, 2.524,
2.570; wide 2.555, 2.529, 2.610, 2.700), and trained seeds 1 and 2 at it: 0.01 for the dense and Switch
models, 0.005 for the wide one, each inside the grid. The arm without balancing used the Switch arm's rate,
0.01, without a sweep of its own; a referee's check on seed 0 (validation loss 2.607 at 0.003 and 2.665 at
0.03, against 2.533 at 0.01, its recorded seed-0 run) found 0.01 its best of those three.
21 training runs, 146.0 s of CPU at one thread.

**Quality at the same computation: no gain at this scale.** Validation loss after 400 steps (nats per character, mean of
three seeds, range in brackets; the unigram loss is 3.24): dense 2.553 (2.518 to 2.586), Switch 2.551 (2.534 to 2.565),
Switch without balancing 2.512 (2.494 to 2.533), wide dense 2.577 (2.523 to 2.605). The Switch model is ahead of the
dense model by 0.001 (-0.016 to 0.021), on 1 of 3 seeds, against a seed-to-seed standard deviation of 0.034 for the
dense model's own loss: no difference. It reaches the dense model's final loss (same seed) within the 400 steps on one
seed only (at step 297). The paper's claim, a better model at the same computation per token, does **not** hold in this
miniature. The wide dense model, with the same parameters as the Switch model and four times its feed-forward
computation, is no better than the dense model either: the dense model's loss minus the wide model's is -0.025 (-0.051
to -0.005), the wide model behind on all 3 seeds, at the rate it chose. More feed-forward parameters, as experts or as
one wider network, did not lower the loss in this run. That fits a model which after 400 steps is not limited by the
parameters of its feed-forward networks, where the Switch layer adds its parameters, but the run does not test that
explanation (it has no longer runs or larger models); the paper's gains are at hundreds of millions of parameters
trained for a hundred thousand steps or more.

**The load-balancing loss does what it is for.** With $\alpha = 0.01$ the experts end evenly used: over the
last 50 steps the effective number of experts (the exponential of the entropy of the experts' shares, 4 for
an even split, 1 for a collapse; the fewer of the two layers) is 3.93 (3.89 to 3.98) of 4, the busiest expert
takes 0.31 (0.28 to 0.34) of the tokens, and 0.7% (0.1% to 1.5%) of the tokens are dropped (8.5% over the
whole run, most of them in the first hundred steps, while the router sorts itself out). With $\alpha = 0$ the
router settles on an uneven split: the effective number of experts is 2.68 (2.59 to 2.75), the busiest expert
takes 0.57 (0.48 to 0.68), and 23.5% (19.9% to 26.0%) of the tokens are dropped at the end, 29.3% over the
run. It is not a full collapse onto one expert: in 2 of the 6 layers (three seeds, two layers) one expert
receives 0.2% of the tokens or less, the others keep two to four experts busy. The balance, $N \sum_i f_i P_i$
without $\alpha$, ends at 1.006 with the loss and 1.328 without.

**Dropping tokens did not hurt here.** The arm without balancing, which drops a quarter of its tokens, has the lowest
loss of the four: its loss minus the balanced Switch model's is -0.039 (-0.062 to -0.001), and it is ahead of the dense
model on 2 of 3 seeds, by 0.040 (-0.015 to 0.075). Its rate is the Switch arm's (the referee's check above found none
better), and this run does not measure why; a dropped token still gets the attention sub-layer's update, and with two
layers and a residual stream of width 32 skipping a feed-forward network may cost little.

**Where this differs from the paper.** Fedus et al. train encoder-decoder T5 models (masked-span prediction on C4,
subword tokens) with up to thousands of experts across many accelerators, in bfloat16 with the router in float32, every
weight initialised at a tenth of the usual scale, and in fine-tuning a higher dropout inside the experts (0.4, their
Section 2.4); they use capacity factors of 1 to 2 and a separate capacity at evaluation. Here a 2-layer, 32-wide decoder
over characters trains on one CPU thread for 400 steps; everything is float32 with the harness's initialisation (the
router is PyTorch's default `nn.Linear` initialisation), the capacity factor is 1.25 in training and at evaluation, no
dropout. Tokens claim slots position by position across the batch (the paper's code claims them sequence by sequence
within a group of tokens; the order here is chosen so that the model stays causal), so whether one is dropped depends on
the other sequences of its batch (at evaluation, on the other validation windows), as in any batch with a capacity. The
claim test in [the tests](../../tests/transformers/test_switch.py) is the balancing effect in a shorter run, since the
quality gain did not appear in the full one.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model, train_lm
from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.normalization.deep_norm import unigram_loss
from papers.transformers.building_blocks import PositionWiseFeedForward
from papers.transformers.gpt import gpt_schedule
from papers.transformers.primer_ez import steps_to_reach


# ## Expert capacity
#
# With $T$ tokens in the batch and $N$ experts, each expert has room for
#
# $$C = \left\lfloor \text{capacity factor} \cdot \frac{T}{N} \right\rfloor$$
#
# tokens (the paper's Equation 3, rounded down as in labml-nn). A factor of 1 is room for a perfectly even
# split; above 1 leaves slack for uneven routing. Fixed sizes are what an accelerator needs (every expert's
# batch has the same static shape); here, on one CPU, the capacity is kept for its effect on training: the
# tokens over it are dropped.
def expert_capacity(tokens: int, experts: int, capacity_factor: float) -> int:
    return math.floor(capacity_factor * tokens / experts)


# ## Which tokens claim the slots
#
# `expert` `[T]` is each token's chosen expert, in the order in which the tokens claim slots. A token keeps
# its place if fewer than $C$ earlier tokens chose the same expert: its slot is the running count of its
# expert's one-hot column, minus one, and the tokens whose slot is $C$ or more are dropped. Returns `kept`,
# bool `[T]`. The first-come rule is the paper's (its Mesh TensorFlow code takes a cumulative sum over the
# one-hot dispatch mask, over a group of tokens taken sequence by sequence); the order in which the tokens
# come is this page's, chosen for causality.
#
# The order is set by the layer below: **position by position**, all sequences' first characters, then all
# second characters, and so on. So whether a token is dropped depends only on the routing of tokens at its
# position or before, never on a later character: the model stays causal (a test checks it). In batch order
# instead (sequence by sequence), the first character of the second sequence would be dropped or not
# according to the whole first sequence, which includes characters after it in time.
def claim_slots(expert: torch.Tensor, experts: int, capacity: int) -> torch.Tensor:
    one_hot = F.one_hot(expert, experts)  # [T, N]
    slot = (one_hot.cumsum(dim=0) * one_hot).sum(dim=-1) - 1  # [T], 0 for the first token of each expert
    return slot < capacity


# ## The load-balancing loss
#
# The paper's Equations 4 to 6: with $f_i$ the fraction of the $T$ tokens dispatched to expert $i$ (by the
# arg-max, before any are dropped) and $P_i$ the mean router probability of expert $i$,
#
# $$\text{loss} = \alpha \cdot N \sum_{i=1}^N f_i P_i, \qquad
# f_i = \frac{1}{T} \sum_{x} \mathbf{1}\{\arg\max p(x) = i\}, \qquad P_i = \frac{1}{T} \sum_x p_i(x).$$
#
# The counts $f_i$ have no gradient; the loss trains the router through $P_i$, pushing probability away from
# the experts that receive many tokens. Under uniform routing ($f_i = P_i = 1/N$) it is
# $\alpha N \cdot N \cdot \frac{1}{N^2} = \alpha$, and it is larger when routing is skewed (all tokens to one
# expert with probability near 1 gives $\alpha N$). $\alpha = 0.01$ as in the paper. `probs` `[T, N]`,
# `expert` `[T]`; returns a scalar.
def load_balancing_loss(probs: torch.Tensor, expert: torch.Tensor, alpha: float) -> torch.Tensor:
    experts = probs.shape[-1]
    dispatched = F.one_hot(expert, experts).to(probs.dtype).mean(dim=0)  # f, [N]
    mean_prob = probs.mean(dim=0)  # P, [N]
    return alpha * experts * (dispatched * mean_prob).sum()


# ## Adding the loss without changing the training loop
#
# The total objective is the language-model loss plus every Switch layer's balancing loss. Rather than
# change [the shared training loop](../kit/char_transformer.py) for one page, each layer attaches its loss
# to its output: in the forward pass the output goes through unchanged; in the backward pass the output's
# gradient goes through unchanged and the loss receives a gradient of 1, which is its gradient in
# $\text{total} = \text{LM loss} + \sum_\text{layers} \text{loss}$. (The trick of DeepSeek-MoE's code.) So
# the harness's `loss.backward()` computes the gradient of the total while the loss it logs stays the
# language-model loss, comparable with the dense arms'. A test checks the gradient against that of the
# explicit sum.
class AddAuxiliaryLoss(torch.autograd.Function):
    # pylint: disable=abstract-method,arguments-differ
    @staticmethod
    def forward(ctx, output: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        ctx.loss_shape = loss.shape
        return output.view_as(output)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return grad_output, grad_output.new_ones(ctx.loss_shape)


# ## The Switch feed-forward layer
#
# $N$ experts, each the project's [`PositionWiseFeedForward`](building_blocks.py) of width $d_\text{ff}$,
# and a router, a linear map $W_r \in \mathbb{R}^{d \times N}$ without bias (as in the paper's code). For a
# token $x$:
#
# $$p(x) = \mathrm{softmax}(x W_r), \qquad i = \arg\max_j p_j(x), \qquad
# y = \begin{cases} p_i(x)\, E_i(x) & \text{if } x \text{ has a slot at expert } i, \\
# 0 & \text{if it was dropped.} \end{cases}$$
#
# Each token is computed by one expert only, so the compute per token is that of one feed-forward network of
# width $d_\text{ff}$ (plus the router's $d \cdot N$ multiply-adds), whatever $N$; the parameters grow $N$
# times. Scaling by $p_i(x)$ is what trains the router: the arg-max has no gradient, the probability does.
# A dropped token's output is zero, so in the block's residual $x + y$ it passes through unchanged, "through
# the residual connection" as the paper says.
#
# The layer takes `x` `[batch, seq, d_model]`, reads its tokens position by position (`[seq · batch,
# d_model]`, the order in which they claim slots, above), and returns `[batch, seq, d_model]`. It keeps the
# statistics of its last call in `last`: `dispatched` $f$ `[N]`, `kept` (the fraction of all tokens each
# expert computed) `[N]`, `dropped` (the fraction of tokens dropped) and `balance`, $N \sum_i f_i P_i$
# (the loss without $\alpha$; 1 at uniform routing). In training mode the balancing loss is attached to the
# output as above; `alpha = 0` turns it off.
class SwitchFeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, experts: int, capacity_factor: float = 1.25, alpha: float = 0.01):
        super().__init__()
        check_positive("experts", experts, integer=True)
        check_positive("capacity_factor", capacity_factor)
        check_in_range("alpha", alpha, 0.0, math.inf)
        self.router = nn.Linear(d_model, experts, bias=False)
        self.experts = nn.ModuleList(PositionWiseFeedForward(d_model, d_ff) for _ in range(experts))
        self.capacity_factor = capacity_factor
        self.alpha = alpha
        self.last: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["batch", "seq", self.router.in_features], dtype=self.router.weight.dtype)
        batch, seq, d_model = x.shape
        tokens = x.transpose(0, 1).reshape(seq * batch, d_model)  # [T, d], position by position
        probs = torch.softmax(self.router(tokens), dim=-1)  # [T, N]
        gate, expert = probs.max(dim=-1)  # [T], [T]
        kept = claim_slots(expert, len(self.experts), expert_capacity(len(tokens), len(self.experts),
                                                                      self.capacity_factor))  # [T]
        out = torch.zeros_like(tokens)  # [T, d]; dropped tokens stay 0
        for i, ffn in enumerate(self.experts):
            index = torch.nonzero((expert == i) & kept).squeeze(-1)  # [tokens at expert i]
            if len(index):  # an expert no token chose computes nothing
                out = out.index_copy(0, index, ffn(tokens[index][None])[0])
        out = (out * gate[:, None]).view(seq, batch, d_model).transpose(0, 1)  # [batch, seq, d]
        loss = load_balancing_loss(probs, expert, self.alpha)
        self._record(probs, expert, kept)
        if self.training and self.alpha > 0:
            out = AddAuxiliaryLoss.apply(out, loss)
        return out

    def _record(self, probs: torch.Tensor, expert: torch.Tensor, kept: torch.Tensor) -> None:
        with torch.no_grad():
            experts = probs.shape[-1]
            one_hot = F.one_hot(expert, experts).to(probs.dtype)  # [T, N]
            self.last = {"dispatched": one_hot.mean(dim=0), "kept": (one_hot * kept[:, None]).mean(dim=0),
                         "dropped": 1.0 - kept.to(probs.dtype).mean(),
                         "balance": load_balancing_loss(probs, expert, 1.0)}


# ## The Switch block
#
# The [shared harness's block](../kit/char_transformer.py) with the Switch layer in place of its
# feed-forward network; attention, norms and residuals are the harness's. A block class for
# `build_model(settings, seed, block=...)`: `experts` experts, each of the settings' `d_ff`.
def switch_block(experts: int, capacity_factor: float = 1.25, alpha: float = 0.01) -> type[Block]:
    check_positive("experts", experts, integer=True)  # the layer's checks, now rather than at build time
    check_positive("capacity_factor", capacity_factor)
    check_in_range("alpha", alpha, 0.0, math.inf)

    class SwitchBlock(Block):
        def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
            super().__init__(d_model, heads, d_ff, pre_norm)
            self.feed_forward = SwitchFeedForward(d_model, d_ff, experts, capacity_factor, alpha)

    return SwitchBlock


# ## The experiment
#
# Four arms on [the shared character model](../kit/char_transformer.py), made small for the CPU budget (width
# 32, 2 heads, 2 pre-norm layers, windows of 32 characters, batches of 16 windows: $T = 512$ tokens per
# layer per step):
#
# * **dense**: the harness's model, feed-forward width 128: the same compute per token as the Switch model;
# * **switch**: 4 experts of width 128 in every layer, capacity factor 1.25 (room for 160 of the 512 tokens
#   per expert), $\alpha = 0.01$;
# * **switch without balancing**: the same with $\alpha = 0$;
# * **dense, wide**: one feed-forward network of width $4 \cdot 128 = 512$, about the Switch model's
#   parameter count (the Switch model has the router's $4d$ weights per layer more, and three more output
#   biases of width $d$ per layer) at four times its feed-forward compute per token.
#
# Adam with the [GPT schedule](gpt.py) (warm-up, cosine decay to zero), the gradient norm clipped at 1, as on
# [the Primer EZ page](primer_ez.py). A seed fixes the batches (the same for every arm) and the initial
# weights.
#
# **Rates.** The dense, switch and wide arms each choose their peak rate from the same grid, on seed 0 in
# full-length runs, by the mean training loss of the last 50 steps (the rule of the Primer EZ and RoPE
# pages); the chosen run is kept as seed 0's and the rate trains seeds 1 and 2. The arm without balancing is
# an ablation of the switch arm and uses its rate.
QUICK = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, steps=150, eval_every=25,
                   eval_windows=32, max_chars=200_000)
FULL = QUICK.but(steps=400, eval_windows=64, max_chars=1_000_000)
EXPERTS = 4
CAPACITY_FACTOR = 1.25
ALPHA = 0.01
RATES = (0.003, 0.005, 0.01, 0.02)
WARMUP = 40
CLIP_NORM = 1.0
CHOICE_STEPS = 50
TUNED = ("dense", "switch", "dense_wide")
ARMS = ("dense", "switch", "switch_no_balance", "dense_wide")


def build_arm(arm: str, settings: LMSettings, seed: int) -> nn.Module:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    if arm == "dense":
        return build_model(settings, seed)
    if arm == "dense_wide":
        return build_model(settings.but(d_ff=EXPERTS * settings.d_ff), seed)
    alpha = ALPHA if arm == "switch" else 0.0
    return build_model(settings, seed, block=switch_block(EXPERTS, CAPACITY_FACTOR, alpha))


# One training run. For the Switch arms, after every step, each layer's share of the step's tokens per expert,
# `dispatched` `[steps, layers, N]`, and the fraction of tokens dropped, `dropped` `[steps, layers]`, from
# the layer's `last` statistics of that step's training batch.
def train_arm(arm: str, settings: LMSettings, seed: int, lr: float) -> tuple[History, dict[str, torch.Tensor]]:
    model = build_arm(arm, settings, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    layers = [block.feed_forward for block in model.blocks if isinstance(block.feed_forward, SwitchFeedForward)]
    usage: dict[str, list] = {"dispatched": [], "dropped": [], "balance": []}

    def record(_step: int, _inputs: torch.Tensor) -> None:
        for name, values in usage.items():
            values.append(torch.stack([layer.last[name] for layer in layers]))

    history = train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(lr, WARMUP, settings.steps),
                       clip_norm=CLIP_NORM, after_step=record if layers else None)
    return history, {name: torch.stack(values) for name, values in usage.items() if values}


def choose_rate(arm: str, settings: LMSettings, seed: int, rates: tuple[float, ...]) -> tuple[float, dict, tuple]:
    trials = {lr: train_arm(arm, settings, seed, lr) for lr in rates}
    sweep = {lr: sum(history.values("loss")[-CHOICE_STEPS:]) / CHOICE_STEPS for lr, (history, _) in trials.items()}
    best = min(sweep, key=sweep.get)
    return best, sweep, trials[best]


def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    grid = config.choose(RATES, (0.01,))
    rates, sweeps, runs = {}, {}, {}
    for arm in ARMS:
        if arm in TUNED:
            rates[arm], sweeps[arm], first = choose_rate(arm, settings, seeds[0], grid)
        else:
            rates[arm], first = rates["switch"], train_arm(arm, settings, seeds[0], rates["switch"])
        runs[arm] = {seed: first if seed == seeds[0] else train_arm(arm, settings, seed, rates[arm])
                     for seed in seeds}
    metrics = _metrics(runs, rates, sweeps, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, metrics)})


# **Usage measures**, over the last `CHOICE_STEPS` training steps: each expert's mean share of the tokens,
# and the *effective number of experts* $\exp(-\sum_i \bar f_i \ln \bar f_i)$ of those shares, $N$ for an
# even split and 1 for a collapse onto one expert; the fraction of tokens dropped, over the last steps and
# over the whole run.
def effective_experts(shares: torch.Tensor) -> torch.Tensor:  # [..., N] -> [...]
    return torch.exp(-(shares * shares.clamp_min(1e-12).log()).sum(dim=-1))


def _usage_metrics(arm: str, usage: dict[int, dict[str, torch.Tensor]], seeds: list[int]) -> dict:
    tail = {s: usage[s]["dispatched"][-CHOICE_STEPS:].mean(dim=0) for s in seeds}  # [layers, N]
    return {f"{arm}_final_shares": {str(s): [[round(v, 3) for v in layer] for layer in tail[s].tolist()]
                                    for s in seeds},
            f"{arm}_effective_experts": over_seeds({s: effective_experts(tail[s]).min().item() for s in seeds}),
            f"{arm}_max_share": over_seeds({s: tail[s].max().item() for s in seeds}),
            f"{arm}_dropped_final": over_seeds({s: usage[s]["dropped"][-CHOICE_STEPS:].mean().item()
                                                for s in seeds}),
            f"{arm}_dropped_all": over_seeds({s: usage[s]["dropped"].mean().item() for s in seeds}),
            f"{arm}_balance_final": over_seeds({s: usage[s]["balance"][-CHOICE_STEPS:].mean().item()
                                                for s in seeds})}


def _metrics(runs: dict, rates: dict, sweeps: dict, settings: LMSettings, seeds: list[int]) -> dict:
    metrics: dict = {"seeds": seeds, "steps": settings.steps, "rates": list(RATES), "experts": EXPERTS,
                     "capacity_factor": CAPACITY_FACTOR, "alpha": ALPHA,
                     "unigram_loss": round(unigram_loss(settings), 4)}
    final = {arm: {s: runs[arm][s][0].last("valid_loss") for s in seeds} for arm in ARMS}
    for arm in ARMS:
        metrics[f"{arm}_lr"] = rates[arm]
        if arm in sweeps:
            metrics[f"{arm}_sweep"] = {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()}
        metrics[f"{arm}_valid"] = over_seeds(final[arm])
        metrics[f"{arm}_parameters"] = sum(p.numel() for p in build_arm(arm, settings, 0).parameters())
        metrics[f"{arm}_curves"] = {"steps": _updates(runs[arm][seeds[0]][0]),
                                    **{str(s): [round(v, 4) for v in runs[arm][s][0].values("valid_loss")]
                                       for s in seeds}}
        if arm != "dense":
            metrics[f"{arm}_gap"] = over_seeds({s: final["dense"][s] - final[arm][s] for s in seeds})
            metrics[f"{arm}_ahead_seeds"] = sum(final[arm][s] < final["dense"][s] for s in seeds)
            reach = {s: steps_to_reach(_updates(runs[arm][s][0]), runs[arm][s][0].values("valid_loss"),
                                       final["dense"][s]) for s in seeds}
            metrics[f"{arm}_steps_to_dense"] = {str(s): None if v is None else round(v, 1) for s, v in reach.items()}
        if arm.startswith("switch"):
            metrics.update(_usage_metrics(arm, {s: runs[arm][s][1] for s in seeds}, seeds))
    metrics["dense_steps_to_dense"] = {str(s): _dense_own_steps(runs["dense"][s][0]) for s in seeds}
    metrics["balance_gap"] = over_seeds({s: final["switch_no_balance"][s] - final["switch"][s] for s in seeds})
    metrics["runs"] = sum(len(sweep) for sweep in sweeps.values()) + len(ARMS) * len(seeds) - len(sweeps)
    return metrics


# The dense arm's own steps to its final loss (its last evaluation, unless it was as low earlier).
def _dense_own_steps(history: History) -> float:
    return steps_to_reach(_updates(history), history.values("valid_loss"), history.last("valid_loss"))


# The harness records evaluations by step index $i$, taken after $i + 1$ updates.
def _updates(history: History) -> list[int]:
    return [i + 1 for i in history.steps("valid_loss")]


def _headline(metrics: dict) -> str:
    losses = ", ".join(f"{arm} {metrics[f'{arm}_valid']['mean']:.3f}" for arm in ARMS)
    return (f"Validation loss after {metrics['steps']} steps, mean of {len(metrics['seeds'])} seeds: {losses}. "
            f"Switch ahead of the dense model of equal compute by {metrics['switch_gap']['mean']:.3f} "
            f"({metrics['switch_gap']['min']:.3f} to {metrics['switch_gap']['max']:.3f}); tokens dropped at the "
            f"end {metrics['switch_dropped_final']['mean']:.1%} with balancing, "
            f"{metrics['switch_no_balance_dropped_final']['mean']:.1%} without; effective experts (fewest over "
            f"layers) {metrics['switch_effective_experts']['mean']:.2f} and "
            f"{metrics['switch_no_balance_effective_experts']['mean']:.2f} of {metrics['experts']}.")


NAMES = {"dense": "dense (same compute)", "switch": f"switch, {EXPERTS} experts", "switch_no_balance":
         "switch, alpha = 0", "dense_wide": "dense, wide (same parameters)"}


def _figure(runs: dict, metrics: dict) -> Figure:
    seeds = metrics["seeds"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    _plot_curves(axes[0, 0], runs, metrics)
    _plot_dropped(axes[1, 0], runs, seeds[0])
    for column, arm in enumerate(("switch", "switch_no_balance"), start=1):
        for row in range(2):
            _plot_usage(axes[row, column], runs[arm][seeds[0]][1]["dispatched"][:, row], f"{NAMES[arm]}: layer "
                        f"{row + 1}, seed {seeds[0]}")
    fig.tight_layout()
    return fig


def _plot_curves(ax: plt.Axes, runs: dict, metrics: dict) -> None:
    for i, arm in enumerate(ARMS):
        for j, (history, _) in enumerate(runs[arm].values()):
            ax.plot(_updates(history), history.values("valid_loss"), color=f"C{i}", alpha=0.8,
                    label=f"{NAMES[arm]} (lr {metrics[f'{arm}_lr']:g})" if j == 0 else None)
    ax.axhline(metrics["dense_valid"]["mean"], color="grey", linestyle="--", linewidth=0.8,
               label="dense final loss (mean)")
    ax.set(xlabel="training step", ylabel="validation loss (nats / char)", ylim=(None, 3.0),
           title=f"Validation loss, each of {len(metrics['seeds'])} seeds")
    ax.legend(fontsize="small")


def _plot_dropped(ax: plt.Axes, runs: dict, seed: int) -> None:
    for colour, arm in ((1, "switch"), (2, "switch_no_balance")):
        dropped = runs[arm][seed][1]["dropped"]  # [steps, layers]
        for layer, style in zip(range(dropped.shape[1]), ("-", ":")):
            ax.plot(range(1, len(dropped) + 1), _smooth(dropped[:, layer]), color=f"C{colour}", linestyle=style,
                    label=f"{NAMES[arm]}, layer {layer + 1}")
    ax.set(xlabel="training step", ylabel="fraction of tokens dropped (10-step mean)", ylim=(0, None),
           title=f"Tokens over capacity, seed {seed}")
    ax.legend(fontsize="small")


def _plot_usage(ax: plt.Axes, shares: torch.Tensor, title: str) -> None:  # shares [steps, N]
    for expert in range(shares.shape[1]):
        ax.plot(range(1, len(shares) + 1), _smooth(shares[:, expert]), label=f"expert {expert + 1}")
    ax.axhline(1 / shares.shape[1], color="grey", linestyle="--", linewidth=0.8, label="even split")
    ax.axhline(CAPACITY_FACTOR / shares.shape[1], color="grey", linestyle=":", linewidth=0.8, label="capacity")
    ax.set(xlabel="training step", ylabel="fraction of tokens routed (10-step mean)", ylim=(0, 1), title=title)
    ax.legend(fontsize="small", ncol=2)


def _smooth(values: torch.Tensor, width: int = 10) -> list[float]:
    padded = torch.cat([values[:1].expand(width - 1), values])
    return padded.unfold(0, width, 1).mean(dim=-1).tolist()


if __name__ == "__main__":
    run_paper(__file__, experiment)
