r"""
---
title: Transformer Building Blocks
nav: Building blocks
summary: A tour of the pieces every transformer page reuses (multi-head attention, the position-wise
  feed-forward with a choice of activation, pre- and post-norm residual sub-layers, learned and sinusoidal
  positions, the tied output layer), tested against PyTorch's layers; and pre-norm against post-norm at
  depth without warm-up, measured over learning rates and seeds, with each layer's gradient at initialisation.
---

# Transformer Building Blocks

[Vaswani et al., 2017. *Attention Is All You Need*](https://arxiv.org/abs/1706.03762) ·
[Xiong et al., 2020. *On Layer Normalization in the Transformer Architecture*](https://arxiv.org/abs/2002.04745) ·
[Press and Wolf, 2017. *Using the Output Embedding to Improve Language Models*](https://arxiv.org/abs/1608.05859)

Every transformer on this site is put together from the same five pieces: multi-head attention, a
position-wise feed-forward network, a residual connection with a layer norm around each of those two,
something that tells the model where each token is, and an output layer, often the embedding matrix read
backwards. The variant pages each replace one piece and keep the others. This page is the tour of the
pieces: it says what each one computes, with its shapes, where its code lives (the code is written once,
where it first appeared, and imported from there), and which pages replace it. What it adds is small: a
feed-forward network whose activation is chosen by name, and a measurement of the one design choice the
other pages take for granted, *pre-norm* against *post-norm*.

Notation: a batch of $B$ sequences of $T$ tokens from a vocabulary of $V$, width $d$ (`d_model`), $h$ heads
of width $d_k = d / h$, feed-forward width $d_\text{ff}$, $L$ blocks. The residual stream is `[B, T, d]`.

The pieces, where each lives, and the pages that replace it:

* **attention**, $\mathrm{softmax}(QK^\top / \sqrt{d_k})\,V$ per head:
  [`MultiHeadAttention`](attention.py#multi-head-attention); replaced on [AFT](aft.py), [FNet](fnet.py)
  and [fast weights](fast_weights.py);
* **feed-forward**, $\phi(xW_1 + b_1)W_2 + b_2$: [`FeedForward`](attention.py#the-feed-forward-sub-layer)
  (ReLU), and [below](#the-position-wise-feed-forward-network-with-a-choice-of-activation) with any $\phi$;
  [GPT](gpt.py) uses GELU, and the GLU variants (a later page) replace it;
* **residual and norm**, $x + f(\mathrm{LN}(x))$ or $\mathrm{LN}(x + f(x))$:
  [`Block.residual`](../kit/char_transformer.py#the-block); replaced on [DeepNorm](../normalization/deep_norm.py);
* **positions**, $E[x] + P$ with $P$ learned or sinusoidal: [`CharTransformer`](../kit/char_transformer.py#the-model)
  and [`sinusoidal_positional_encoding`](attention.py#positional-encoding); replaced on
  [relative attention](relative_attention.py), [RoPE](rope.py) and [ALiBi](alibi.py), which drop $P$ and
  put position into the attention scores;
* **output layer**, $\mathrm{LN}(h_L)\,E^\top$, tied to the embedding:
  [`CharTransformer`](../kit/char_transformer.py#the-model).

**Attention** ([the Transformer page](attention.py#scaled-dot-product-attention)). Each position $t$ forms a
query $q_t = x_t W_Q$, every position a key $k_s = x_s W_K$ and a value $v_s = x_s W_V$; position $t$'s
output is $\sum_s \alpha_{ts} v_s$ with $\alpha_{t\cdot} = \mathrm{softmax}_s(q_t \cdot k_s / \sqrt{d_k})$,
and causal models set $\alpha_{ts} = 0$ for $s > t$. With $h$ heads the $d$ columns are split into $h$
groups of $d_k$, each attends on its own (`[B, h, T, d_k]`), and $W_O$ mixes them back to `[B, T, d]`. It is
the only piece that moves information *between* positions, and the only one whose cost grows as $T^2$.
Pages that change how the scores are computed subclass `MultiHeadAttention` and override `_attend`; pages
that replace softmax attention altogether swap the block's `attention` module.

**The feed-forward network** works on each position alone
([below](#the-position-wise-feed-forward-network-with-a-choice-of-activation)).

**Residual sub-layers.** Each block applies attention, then the feed-forward network $f$, each wrapped in a
residual connection and a layer norm, in one of two orders:

$$\text{post-norm: } x_{l+1} = \mathrm{LN}\big(x_l + f(x_l)\big), \qquad
\text{pre-norm: } x_{l+1} = x_l + f\big(\mathrm{LN}(x_l)\big).$$

The original Transformer is post-norm. In pre-norm the residual stream $x_l$ is never normalised on the
way up, so the model adds one more layer norm before the output layer (the harness does; post-norm needs
none, each block already ends with one). Xiong et al. (their Section 3) analyse both at initialisation: in
post-norm the gradient of the last block's weights is large, of order $d\sqrt{\ln d}$, whatever the depth,
and the gradient shrinks towards the bottom; in pre-norm it is of order $d\sqrt{\ln d / L}$, about the same
in every block. Large last-layer gradients make the first full-size steps unstable, which, they argue, is
why post-norm needs a learning-rate warm-up and pre-norm can do without. The experiment below measures both
halves of that: the gradients, and training without warm-up.

**Positions.** Attention is a weighted average, blind to order, so absolute position is added to the
embeddings before the first block: $h_0 = E[x] + P_{1:T}$ with $P$ `[T_max, d]`. Either $P$ is a
parameter (learned, GPT's choice; `positions="learned"`), or it is fixed (`positions="sinusoidal"`,
the original Transformer's):

$$P_{p,2i} = \sin\big(p / 10000^{2i/d}\big), \qquad P_{p,2i+1} = \cos\big(p / 10000^{2i/d}\big).$$

Each pair of columns is a point on a circle turning at its own frequency, from one radian per position down
to nearly $1/10000$ (the last pair's is $10000^{-(d-2)/d}$); moving $k$ positions rotates every pair by a
fixed angle, so $P_{p+k}$ is a linear function of $P_p$ that depends on $k$ alone. The formula extends to
any length, but `CharTransformer` stores only `max_len` rows of it (`build_model`'s `max_len`, by default
the training window) and, like the learned table, refuses longer inputs; and a model trained on short
windows has not learnt to use rows it never saw, whichever table it has.
The relative-position, rotary and linear-bias pages set `positions="none"` and put position into the
attention scores instead.

**The tied output layer** (Press and Wolf). The output layer scores every character by the dot product of
the last hidden state with that character's embedding: $\mathrm{logits} = \mathrm{LN}(h_L)\,E^\top$
(`[B, T, V]`), with the same $E \in \mathbb{R}^{V \times d}$ that embeds the input, one parameter and one
storage. It saves $V d$ weights, and every row of $E$ is trained at every step (as an output, all $V$ rows
get a gradient), not only the rows of the characters in the batch. Its gradient is the sum of the two uses:

$$\frac{\partial \mathcal{L}}{\partial E} = \underbrace{\sum_{b,t} e_{x_{bt}}
\Big(\frac{\partial \mathcal{L}}{\partial h_{0,bt}}\Big)^{\!\top}}_{\text{input embedding}} +
\underbrace{\Big(\frac{\partial \mathcal{L}}{\partial\, \mathrm{logits}}\Big)^{\!\top}
\mathrm{LN}(h_L)}_{\text{output layer}},$$

with $e_x$ the one-hot vector of character $x$. [The tests](../../tests/transformers/test_building_blocks.py)
check it against the same model run with two separate copies of $E$.

[The tests](../../tests/transformers/test_building_blocks.py) also check the feed-forward network with each
activation against `nn.Sequential(nn.Linear, activation, nn.Linear)`, the kit's block with GELU against
PyTorch's `nn.TransformerEncoderLayer(activation="gelu")` (pre- and post-norm, values and gradients) and the
sinusoidal table against its formula, all in float64 with copied weights.

## What the experiment shows

![Final loss against rate at 2 and 12 layers, loss during training, initial gradients](results/building_blocks.png)

The set-up: [the shared character model](../kit/char_transformer.py), made small for the budget (width 32,
2 heads, feed-forward width 128, windows of 32 characters, batches of 16), at 2 and at 12 layers, pre- and
post-norm, trained on Shakespeare with Adam ($\beta_2 = 0.98$) at a constant learning rate from the first
step: no warm-up, no gradient clipping, 200 steps. Every arm gets the same grid of rates, $10^{-3}$,
$3 \cdot 10^{-3}$, $10^{-2}$ and $3 \cdot 10^{-2}$, on two seeds (the sweep, 32 runs); each arm's best
rate, the lowest mean final loss of the sweep, then runs on a third seed, so that best-against-best
comparisons are over three seeds. A seed fixes the initial weights and the batches, shared by the two
norms. The whole run, 36 training runs and the gradient measurements, took 163 s of CPU at one thread
(sweeping on two seeds instead of three is what paid for the fourth rate).

A run *fails* if its final validation loss is not finite or is not at least 0.1 nats below the unigram loss,
3.24 nats, the loss of predicting the characters' frequencies and ignoring the context; a rate is *stable*
for an arm if no sweep run fails at it or at any smaller rate of the grid. The margin was added after the
first full run (on the grid from $3 \cdot 10^{-3}$ up), whose rule, "above the unigram loss", counted runs
that had stalled 0.003 below it as trained. It does not decide anything here: every final loss of this run
is either within 0.01 of the unigram loss or at least 0.13 below it.

**Without warm-up, post-norm's largest stable rate is lower than pre-norm's, and falls with depth.**
Pre-norm trains at every rate of the grid at both depths (it fails 0 of 16 sweep runs), so its largest
stable rate is at least $3 \cdot 10^{-2}$, the top of the grid, at 2 and at 12 layers. Post-norm fails 8
of 16: its largest stable rate is $10^{-2}$ at 2 layers, where it stalls at $3 \cdot 10^{-2}$ only (2
failures of 2), and $10^{-3}$ at 12 layers, where it stalls at every rate from $3 \cdot 10^{-3}$ up (2 of 2
at each), ending at 3.243, 3.245 and 3.242 nats (means of the two sweep seeds), the unigram loss. At 12
layers post-norm's largest stable rate therefore lies between $10^{-3}$ and $3 \cdot 10^{-3}$, at least ten
times smaller than pre-norm's. This is the learning-rate sensitivity Xiong et al. report: post-norm's
results depend strongly on the rate and on the warm-up (their Section 3.1 and Figure 1), while pre-norm
trains without warm-up at rates post-norm needs warm-up for (their Section 4).

**At its own stable rate, post-norm at 12 layers trains, a little behind pre-norm.** It ends at 2.900
at $10^{-3}$ (2.81 to 2.99 over the three seeds), against pre-norm's best, 2.862 at $10^{-2}$ (2.80 to 2.90):
0.038 behind (0.008 to 0.092 per seed, behind on all three). That rate is the lowest of the grid, and those
runs were still falling fast at step 200 (by 0.19 and 0.21 nats over the last 50 steps on the two sweep
seeds), so a rate between $10^{-3}$ and $3 \cdot 10^{-3}$ or a longer run could narrow the gap or reverse
it: the measurement is that post-norm needs a smaller rate, not that it ends worse.

**Two hundred steps cannot tell a slow start from a stall** near the unigram loss. The stalled 12-layer
post-norm runs sit within 0.05 of it at every evaluation, from step 50 to step 200 (third panel); but a run
that sits there for a while can still leave it: pre-norm at 12 layers and $3 \cdot 10^{-2}$ was within 0.01
of the unigram loss at step 100 on its second seed and fell to 3.10 by step 200. Whether the stalled
post-norm runs would leave it with more steps is not measured here; "stable" means "trains within 200
steps".

**At 2 layers post-norm is the better model.** Its best, 2.573 at $3 \cdot 10^{-3}$ (2.56 to 2.60), is
below pre-norm's best, 2.711 at $10^{-2}$ (2.68 to 2.73), on every seed. So post-norm trains the better
shallow model, over a narrower range of rates, and the range narrows with depth.

**The gradients at initialisation behave partly as Xiong et al.'s analysis says** (right panel; the
Frobenius norm of each block's $W_1, W_2$ gradient, averaged over 4 batches, mean of the three seeds). In
the 12-layer post-norm stack it grows from 0.080 at the bottom block to 0.124 at the top, a top-over-bottom
ratio of 1.56 (1.19 to 1.81 over the seeds), as their analysis says; in the pre-norm stack it *falls* from
0.199 to 0.082, a ratio of 0.46 (0.22 to 0.62), rather than staying level as their Figure 3 shows for
pre-norm. Their Theorem 1 also predicts how the top block's gradient scales with depth: in pre-norm it
shrinks as $1/\sqrt{L}$, and here it goes from 0.210 at 2 layers to 0.082 at 12, a factor 0.39 against
$\sqrt{2/12} = 0.41$; in post-norm it does not shrink, 0.099 at 2 layers and 0.124 at 12.

What that does not show is that the gradient pattern *causes* post-norm's lower stable rate. Adam divides
each step by a running gradient scale, so a 1.5 times larger gradient does not by itself give a 1.5 times
larger step; at 2 layers pre-norm's top gradient (0.210) is twice post-norm's (0.099) and pre-norm is the
one that tolerates the larger rate. The measurement is the mechanism's premise, measured; the causal link is
the paper's argument, not tested here.

**What this page adds to its neighbours.** [The DeepNorm page](../normalization/deep_norm.py) trains 18-layer
post-norm models *with* a 50-step warm-up at one rate and finds that Xavier-initialised post-norm stalls at
the unigram loss while post-norm with PyTorch's default initialisation (the one used here) trains; [the
warm-up page](../optimizers/warmup.py) compares Adam with and without warm-up on a 2-layer post-norm model.
This page holds warm-up off and varies depth and norm placement over a grid of rates: with the same default
initialisation that trains at 18 layers with warm-up (at $10^{-3}$), 12 post-norm layers without warm-up
train at $10^{-3}$ and stall at every rate of the grid from $3 \cdot 10^{-3}$ up, while pre-norm trains at
every rate of the grid at both depths. Warm-up is one way past post-norm's low stable rate; a small
constant rate is another, at the cost of slower early progress.

**Where this differs from the paper.** Xiong et al. train 6-layer translation models and 12-layer BERT, for
many thousands of steps, with Xavier initialisation and dropout; here a 12-layer, 32-wide character model
trains for 200 steps with PyTorch's default initialisation and no dropout. The grid has a factor of about 3
between rates, so each largest stable rate is known to that factor; pre-norm's is above the grid at both
depths, so whether it too falls with depth is not measured; rates below $10^{-3}$ were not tried. The
sweep's failure counts are over two seeds per rate, the best-against-best numbers over three. The losses are
far above a trained model's; the failures are stalls at the unigram loss, not divergence (no run's loss
became infinite).
"""
from __future__ import annotations

import math
from typing import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from papers.kit.checks import check_positive, check_tensor
from papers.kit.char_transformer import Block, LMSettings, build_model, corpus, train_lm
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import next_char_loss
from papers.normalization.deep_norm import unigram_loss
from papers.transformers.attention import FeedForward


# ## The position-wise feed-forward network, with a choice of activation
#
# After attention has mixed positions, every position goes through the same two-layer network on its own:
#
# $$\mathrm{FFN}(x) = \phi(x W_1 + b_1)\, W_2 + b_2, \qquad W_1 \in \mathbb{R}^{d \times d_\text{ff}},\;
# W_2 \in \mathbb{R}^{d_\text{ff} \times d},$$
#
# applied to `[batch, seq, d_model]` → `[batch, seq, d_ff]` → `[batch, seq, d_model]`. "Position-wise" means
# it is a $1 \times 1$ convolution: no information crosses positions here, so it costs $2 d\, d_\text{ff}$
# multiply-adds per position and holds two thirds of a block's weights at $d_\text{ff} = 4d$. The original
# Transformer's $\phi$ is ReLU, $\max(0, z)$ ([`FeedForward`](attention.py#the-feed-forward-sub-layer));
# GPT and BERT use GELU, $z\,\Phi(z)$ with $\Phi$ the standard normal CDF ([the GPT page](gpt.py) has its
# own, with the tanh approximation); SiLU (or Swish), $z\,\sigma(z)$, is the gate of SwiGLU. This class is the
# parent with $\phi$ chosen by name; everything else (weights, initialisation, dropout, input checks) is the
# parent's. PyTorch's `gelu` here is the exact (erf) form. The GPT page's `GELUFeedForward` is a parallel
# subclass of the same parent that differs only in the activation (GELU's tanh approximation, fixed); it was
# written at the same time as this one, and is to be folded onto this class (an activation by name, with the
# tanh form added) so that the feed-forward network is written once.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "gelu": F.gelu,
                                                                  "silu": F.silu}


class PositionWiseFeedForward(FeedForward):
    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", dropout: float = 0.0):
        super().__init__(d_model, d_ff, dropout)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, len, d_model]
        check_tensor("x", x, ["batch", "len", self.layer1.in_features], dtype=self.layer1.weight.dtype)
        hidden = ACTIVATIONS[self.activation](self.layer1(x))  # [batch, len, d_ff]
        return self.layer2(self.dropout(hidden))  # [batch, len, d_model]


# The kit's [`Block`](../kit/char_transformer.py#the-block) with this feed-forward in place of the ReLU one:
# `block_with_activation("gelu")` is a block class that `build_model(settings, seed, block=...)` accepts.
def block_with_activation(activation: str) -> type[Block]:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")

    class ActivationBlock(Block):
        def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
            super().__init__(d_model, heads, d_ff, pre_norm)
            self.feed_forward = PositionWiseFeedForward(d_model, d_ff, activation)

    ActivationBlock.__name__ = f"{activation.upper()}Block"
    return ActivationBlock


# ## Pre-norm against post-norm at depth
#
# ### Each layer's gradient at initialisation
#
# Xiong et al.'s mechanism (their Section 3.2 and Figure 3) is about the gradient *at initialisation*: in a
# post-norm stack the gradient of the last layers' weights is large and does not shrink with depth, so a
# full-size first step without warm-up moves them too far; in a pre-norm stack each layer's gradient is
# about the same at every depth and shrinks as $1/\sqrt{L}$ with the number of layers $L$. We measure it:
# the Frobenius norm of the gradient of each block's feed-forward weights ($W_1$ and $W_2$ together, the
# matrices of their Figure 3), of the mean cross-entropy on a batch of training windows, at the initial
# weights, averaged over `batches` batches. Returns one norm per block, bottom to top.
def initial_gradient_norms(settings: LMSettings, seed: int, batches: int = 4) -> list[float]:
    check_positive("batches", batches, integer=True)
    model = build_model(settings, seed)
    text = corpus(settings.max_chars)
    generator = torch.Generator().manual_seed(seed)
    totals = torch.zeros(settings.layers, dtype=torch.float64)
    for _ in range(batches):
        model.zero_grad()
        inputs, targets = text.batch("train", settings.batch_size, settings.seq_len, generator)
        next_char_loss(model(inputs), targets).backward()
        totals += torch.tensor([feed_forward_gradient_norm(block) for block in model.blocks])
    return (totals / batches).tolist()


def feed_forward_gradient_norm(block: Block) -> float:
    weights = (block.feed_forward.layer1.weight, block.feed_forward.layer2.weight)
    return math.sqrt(sum(w.grad.double().pow(2).sum().item() for w in weights))


# ### Training without warm-up
#
# One run: Adam ($\beta_1 = 0.9$, $\beta_2 = 0.98$, the Transformer's) at a constant learning rate from the
# first step, no warm-up and no gradient clipping, on [the shared harness](../kit/char_transformer.py#training).
# Returns the validation loss at each evaluation (nats, every `eval_every` steps and at the last step; `nan`
# or `inf` if the run diverged, which the harness records rather than stopping): the last is the run's final
# loss, the path says whether a run near the unigram loss is still falling or has stalled.
def validation_path(settings: LMSettings, lr: float, seed: int) -> list[float]:
    model = build_model(settings, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    return train_lm(model, optimizer, settings, seed).values("valid_loss")


# A run *fails* if its final validation loss is not finite or is not at least `margin` (0.1 nats) below the
# unigram loss: the cross-entropy of predicting the training text's character frequencies and ignoring the
# context (from [the DeepNorm page](../normalization/deep_norm.py)). The margin was added after the first full
# run, whose rule (fail only above the unigram loss) counted runs that had stalled 0.003 below it as
# trained; in the recorded run the stalled runs end within 0.01 of it, the trained ones at least 0.13 below.
def failed(loss: float, unigram: float, margin: float = 0.1) -> bool:
    return not math.isfinite(loss) or loss > unigram - margin


# The largest rate of the grid at which no run failed, and no smaller rate of the grid failed either
# (`None` if the smallest rate already fails): the largest *stable* rate, to the resolution of the grid.
def largest_stable_rate(failures: dict[float, int]) -> float | None:
    stable = None
    for lr in sorted(failures):
        if failures[lr]:
            break
        stable = lr
    return stable


# ### The run
#
# A small model, for the budget: width 32, 2 heads, feed-forward width 128, windows of 32 characters,
# batches of 16, 200 steps. Depths 2 and 12; both norms; learning rates $10^{-3}$, $3 \cdot 10^{-3}$,
# $10^{-2}$, $3 \cdot 10^{-2}$, the same grid for every arm. The sweep runs every rate on two seeds; each
# arm's best rate (the lowest mean final loss of the sweep) then runs on a third seed as well, so the
# best-against-best comparison is over three seeds. A seed fixes the initial weights and the batches, shared
# by the two norms. The three seeds also measure the gradients at initialisation at each depth.
DEPTHS = (2, 12)
RATES = (1e-3, 3e-3, 1e-2, 3e-2)
NORMS = {"pre": True, "post": False}
SMALL = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, eval_every=50, eval_windows=64)


def experiment(config: RunConfig) -> Outcome:
    base = SMALL.but(steps=config.train_steps(200, 30))
    depths = config.choose(DEPTHS, (2, 4))
    rates = config.choose(RATES, (1e-3, 1e-2))
    seeds = [config.seed + i for i in range(3)]
    sweep_seeds = seeds[:2]
    unigram = unigram_loss(base)
    paths, gradients = {}, {}
    for depth in depths:
        for norm, pre_norm in NORMS.items():
            settings = base.but(layers=depth, pre_norm=pre_norm)
            for seed in seeds:
                gradients[depth, norm, seed] = initial_gradient_norms(settings, seed)
            for seed in sweep_seeds:
                for lr in rates:
                    paths[depth, norm, lr, seed] = validation_path(settings, lr, seed)
            best = _best_rate(paths, depth, norm, rates, sweep_seeds)
            for seed in seeds[len(sweep_seeds):]:
                paths[depth, norm, best, seed] = validation_path(settings, best, seed)
    metrics = _metrics(paths, gradients, depths, rates, seeds, unigram, base.steps)
    return Outcome(_headline(metrics), metrics, {"": _figure(paths, gradients, metrics)})


def _best_rate(paths: dict, depth: int, norm: str, rates: tuple, seeds: list[int]) -> float:
    return min(rates, key=lambda lr: _mean_or_inf([paths[depth, norm, lr, seed][-1] for seed in seeds]))


def _key(depth: int, norm: str, lr: float | None = None) -> str:
    return f"{norm}_{depth}" if lr is None else f"{norm}_{depth}_lr{lr:g}"


def _metrics(paths: dict, gradients: dict, depths: tuple, rates: tuple, seeds: list[int], unigram: float,
             steps: int) -> dict:
    sweep_seeds = seeds[:2]
    metrics: dict = {"depths": list(depths), "rates": list(rates), "seeds": seeds, "sweep_seeds": sweep_seeds,
                     "steps": steps, "unigram_loss": round(unigram, 4), "failures": {}, "final_loss": {},
                     "valid_path": {}, "best": {}, "largest_stable_rate": {}}
    for depth in depths:
        for norm in NORMS:
            for lr in rates:
                per_seed = {seed: paths[depth, norm, lr, seed][-1] for seed in sweep_seeds}
                metrics["final_loss"][_key(depth, norm, lr)] = _loss_summary(per_seed)
                metrics["failures"][_key(depth, norm, lr)] = sum(failed(v, unigram) for v in per_seed.values())
                metrics["valid_path"][_key(depth, norm, lr)] = {
                    str(seed): [round(v, 4) for v in paths[depth, norm, lr, seed]] for seed in sweep_seeds}
            best = _best_rate(paths, depth, norm, rates, sweep_seeds)
            metrics["best"][_key(depth, norm)] = {
                "lr": best, **over_seeds({seed: paths[depth, norm, best, seed][-1] for seed in seeds})}
            metrics["largest_stable_rate"][_key(depth, norm)] = largest_stable_rate(
                {lr: metrics["failures"][_key(depth, norm, lr)] for lr in rates})
            metrics.update(_gradient_metrics(gradients, depth, norm, seeds))
    for norm in NORMS:
        metrics[f"failures_{norm}"] = sum(metrics["failures"][_key(d, norm, lr)] for d in depths for lr in rates)
    deep = depths[-1]
    metrics["best_gap_post_minus_pre_deep"] = over_seeds(
        {seed: paths[deep, "post", metrics["best"][_key(deep, "post")]["lr"], seed][-1]
         - paths[deep, "pre", metrics["best"][_key(deep, "pre")]["lr"], seed][-1] for seed in seeds})
    metrics["runs"] = len(paths)
    metrics["sweep_runs"] = len(depths) * len(NORMS) * len(rates) * len(sweep_seeds)
    return metrics


def _gradient_metrics(gradients: dict, depth: int, norm: str, seeds: list[int]) -> dict:
    norms = torch.tensor([gradients[depth, norm, seed] for seed in seeds])  # [seeds, depth]
    return {f"grad_norm_{_key(depth, norm)}": [round(v, 4) for v in norms.mean(dim=0).tolist()],
            f"grad_top_over_bottom_{_key(depth, norm)}": over_seeds(
                {seed: float(norms[i, -1] / norms[i, 0]) for i, seed in enumerate(seeds)}),
            f"grad_top_{_key(depth, norm)}": over_seeds({seed: float(norms[i, -1]) for i, seed in enumerate(seeds)})}


# Mean and spread over seeds; a run that diverged has no finite loss to average and is recorded as `None`.
def _loss_summary(per_seed: dict[int, float]) -> dict:
    if all(math.isfinite(v) for v in per_seed.values()):
        return over_seeds(per_seed)
    return {"per_seed": {str(s): round(v, 4) if math.isfinite(v) else None for s, v in per_seed.items()}}


def _mean_or_inf(values) -> float:
    values = list(values)
    return sum(values) / len(values) if all(math.isfinite(v) for v in values) else math.inf


def _headline(metrics: dict) -> str:
    shallow, deep = metrics["depths"][0], metrics["depths"][-1]
    stable = {key: "none" if lr is None else f"{lr:g}" for key, lr in metrics["largest_stable_rate"].items()}
    best_pre, best_post = metrics["best"][_key(deep, "pre")], metrics["best"][_key(deep, "post")]
    gap = metrics["best_gap_post_minus_pre_deep"]
    return (f"Without warm-up, largest stable rate of the grid (every run at least 0.1 below the unigram loss "
            f"{metrics['unigram_loss']:.2f}): post-norm {stable[_key(shallow, 'post')]} at {shallow} layers, "
            f"{stable[_key(deep, 'post')]} at {deep}; pre-norm {stable[_key(shallow, 'pre')]} and "
            f"{stable[_key(deep, 'pre')]}. Failures in the sweep: post-norm {metrics['failures_post']} of "
            f"{metrics['sweep_runs'] // 2}, pre-norm {metrics['failures_pre']}. At {deep} layers, best against "
            f"best over {len(metrics['seeds'])} seeds: {best_post['mean']:.3f} post-norm (lr {best_post['lr']:g}), "
            f"{best_pre['mean']:.3f} pre-norm (lr {best_pre['lr']:g}), gap {gap['mean']:+.3f}.")


def _figure(paths: dict, gradients: dict, metrics: dict) -> plt.Figure:
    depths, rates, seeds = metrics["depths"], metrics["rates"], metrics["seeds"]
    fig, axes = plt.subplots(1, len(depths) + 2, figsize=(5 * (len(depths) + 2), 4.2))
    for ax, depth in zip(axes, depths):
        for colour, norm in enumerate(NORMS):
            for seed in metrics["sweep_seeds"]:
                values = [min(paths[depth, norm, lr, seed][-1], 5.0) for lr in rates]
                ax.plot(rates, values, color=f"C{colour}", marker="o", alpha=0.5, linewidth=0.8,
                        label=f"{norm}-norm, each sweep seed" if seed == seeds[0] else None)
            best = metrics["best"][_key(depth, norm)]
            ax.plot([best["lr"]], [best["mean"]], color=f"C{colour}", marker="*", markersize=12, linestyle="none",
                    label=f"{norm}-norm best, mean of {len(seeds)} seeds")
        ax.axhline(metrics["unigram_loss"], color="grey", linestyle="--", label="unigram loss")
        ax.axhline(metrics["unigram_loss"] - 0.1, color="grey", linestyle=":", label="failure above")
        ax.set(xscale="log", xlabel="learning rate (constant, no warm-up)", ylabel="final validation loss (nats)",
               title=f"{depth} layers, {metrics['steps']} steps")
        ax.set_xticks(rates, [f"{lr:g}" for lr in rates])
        ax.minorticks_off()
        ax.legend(fontsize="small")
    _plot_paths(axes[-2], paths, metrics)
    _plot_gradients(axes[-1], gradients, metrics)
    fig.tight_layout()
    return fig


def _plot_paths(ax: plt.Axes, paths: dict, metrics: dict) -> None:
    deep, rates = metrics["depths"][-1], metrics["rates"]
    last, every = metrics["steps"], SMALL.eval_every
    steps = [s for s in range(1, last + 1) if s % every == 0 or s == last]  # the harness's evaluations
    for colour, norm in enumerate(NORMS):
        for style, lr in zip(("-", "--", ":"), rates[:3]):
            for seed in metrics["sweep_seeds"]:
                ax.plot(steps, paths[deep, norm, lr, seed], color=f"C{colour}", linestyle=style, marker=".",
                        label=f"{norm}-norm, lr {lr:g}" if seed == metrics["sweep_seeds"][0] else None)
    ax.axhline(metrics["unigram_loss"], color="grey", linestyle="--")
    ax.set(xlabel="step", ylabel="validation loss (nats)", title=f"{deep} layers: validation loss during training")
    ax.legend(fontsize="small", ncol=2)


def _plot_gradients(ax: plt.Axes, gradients: dict, metrics: dict) -> None:
    depths, seeds = metrics["depths"], metrics["seeds"]
    for colour, norm in enumerate(NORMS):
        for style, depth in zip(("-", "--"), (depths[-1], depths[0])):
            norms = torch.tensor([gradients[depth, norm, seed] for seed in seeds]).mean(dim=0)
            ax.plot(range(1, depth + 1), norms.numpy(), color=f"C{colour}", linestyle=style, marker=".",
                    label=f"{norm}-norm, {depth} layers")
    ax.set(yscale="log", xlabel="block (1 = bottom)", ylabel="gradient norm of $W_1, W_2$",
           title=f"Feed-forward gradient at initialisation (mean of {len(seeds)} seeds)")
    ax.legend(fontsize="small")


if __name__ == "__main__":
    run_paper(__file__, experiment)
