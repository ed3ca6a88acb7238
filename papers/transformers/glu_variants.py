r"""
---
title: GLU Variants
summary: Gated feed-forward layers (GLU, bilinear, ReGLU, GEGLU, SwiGLU) as a subclass of the project's
  position-wise feed-forward, at the parameter count of the ReLU layer, checked against labml-nn's gated
  feed-forward and their formulas in float64, and trained on the shared character transformer against the
  ReLU and GELU feed-forward over three seeds, each arm at its own rate from the same grid.
---

# GLU Variants

[Dauphin, Fan, Auli, Grangier, 2017. *Language Modeling with Gated Convolutional Networks*.
arXiv:1612.08083](https://arxiv.org/abs/1612.08083) ·
[Shazeer, 2020. *GLU Variants Improve Transformer*. arXiv:2002.05202](https://arxiv.org/abs/2002.05202)

A **gated linear unit** (Dauphin et al., their Equation 1) multiplies one linear map of its input by a
sigmoid of another, element by element: $h(x) = (xW + b) \otimes \sigma(xV + c)$. The sigmoid half is a
gate between 0 and 1 that decides, per feature and per position, how much of the linear half passes.
Dauphin et al. built convolutional language models from these units and argued (their Section 3) that the
linear half gives the gradient a path without a squashing factor:
$\nabla[X \otimes \sigma(X)] = \nabla X \otimes \sigma(X) + X \otimes \sigma'(X) \nabla X$, where the first
term is scaled by the gate only, while the gated tanh unit $\tanh(X) \otimes \sigma(X)$ of earlier
models (van den Oord et al.'s PixelCNN) multiplies the gradient by $\tanh'(X)$, which vanishes where
$\tanh$ saturates. That argument is theirs; this page does not measure it.

Shazeer put the unit into the Transformer's feed-forward layer. Where the Transformer has
$\max(0, xW_1)W_2$, the gated layer is

$$\mathrm{FFN}_\mathrm{GLU}(x) = \big(\sigma(xW) \otimes xV\big)\,W_2,$$

and the variants swap the sigmoid for another function of $xW$: none at all (**bilinear**, which Dauphin
et al. mention and attribute to Mnih and Hinton, 2007, as Shazeer notes), ReLU (**ReGLU**), GELU
(**GEGLU**) or Swish with $\beta = 1$, $z\,\sigma(z)$ (**SwiGLU**). Note that Shazeer writes the
activation on $xW$ and leaves $xV$ linear; which of the two projections is called $W$ does not matter,
they are the same shape and learned. A gated layer has three
weight matrices, so to keep the parameter count and the computation equal Shazeer shrinks the hidden width to
two thirds, $d_\text{ff} = 3072 \to 2048$. In his T5 models (12+12 layers, $d = 768$, span-corruption
pre-training on C4) every gated variant reached a lower held-out log-perplexity than the ReLU layer,
plain GLU by the least, GEGLU and SwiGLU by the most: 1.942 and 1.944 against ReLU's 1.997 after 65,536 steps, and
1.633 and 1.636 against 1.677 after 524,288 steps (his Table 1), differences of about 0.04 to 0.05 nats.
GELU alone (no gate) was 1.983 and 1.679. (These values are quoted from the paper's Table 1 and were not
re-checked against the PDF here.) He offers no explanation of why they work ("we attribute their
success ... to divine benevolence").

**Implementation.** [`GatedFeedForward`](#the-gated-feed-forward-network) extends the project's
[`PositionWiseFeedForward`](building_blocks.py) (the feed-forward layer with an activation chosen by name)
with the second projection $V$; [`gated_block`](#equal-parameter-count) puts it into the kit's transformer
block at two-thirds width. Unlike Shazeer, every layer keeps its biases, as the project's feed-forward does,
in every arm. [The tests](../../tests/transformers/test_glu_variants.py) check each variant against
labml-nn's gated `FeedForward` with copied weights (values and every gradient) and against its formula
written out with the weight matrices, both in float64, and the parameter counts.

## What the experiment shows

![Rate sweep, validation curves, final losses and gaps to ReLU per seed](results/glu_variants.png)

The set-up: [the shared character model](../kit/char_transformer.py) at its default size (width 64,
4 heads, 2 pre-norm layers, $d_\text{ff} = 256$, 0.1 M weights) on Shakespeare, with only the feed-forward
layer changed between seven arms. To fit seven arms, a rate sweep and three seeds into the CPU budget, the
runs are shorter and smaller than the harness's default: batches of 16 windows (not 32) and 200 steps (not
600); every arm has the same batches, steps and schedule (Adam, 30 steps of warm-up to the peak rate, cosine
decay to zero, gradient clipping at 1). Each arm picks its peak rate from the same grid,
$10^{-3}$, $3 \cdot 10^{-3}$ and $10^{-2}$, by its final validation loss on seed 0 (top left); the
chosen run is seed 0's, and the chosen rate trains seeds 1 and 2.

| layer | weights per block | rate | loss, mean | range, 3 seeds | minus ReLU, mean | range | its std | paired $t$ |
|---|---|---|---|---|---|---|---|---|
| ReLU | 33 088 | $3 \cdot 10^{-3}$ | 2.686 | 2.679 to 2.698 | | | | |
| GELU | 33 088 | $3 \cdot 10^{-3}$ | 2.679 | 2.665 to 2.687 | -0.007 | -0.014 to +0.003 | 0.009 | -1.43 |
| GLU | 33 238 | $10^{-2}$ | 2.679 | 2.646 to 2.715 | -0.007 | -0.052 to +0.036 | 0.044 | -0.29 |
| Bilinear | 33 238 | $3 \cdot 10^{-3}$ | 2.646 | 2.643 to 2.651 | -0.040 | -0.052 to -0.028 | 0.012 | -5.69 |
| ReGLU | 33 238 | $3 \cdot 10^{-3}$ | 2.651 | 2.621 to 2.696 | -0.036 | -0.062 to +0.017 | 0.045 | -1.36 |
| GEGLU | 33 238 | $3 \cdot 10^{-3}$ | 2.654 | 2.634 to 2.685 | -0.032 | -0.064 to +0.006 | 0.036 | -1.55 |
| SwiGLU | 33 238 | $3 \cdot 10^{-3}$ | 2.663 | 2.638 to 2.693 | -0.023 | -0.060 to +0.015 | 0.037 | -1.06 |

Losses are the held-out validation loss in nats after 200 steps. "Minus ReLU" is each seed's loss minus
ReLU's on the same seed (same batches), so the comparison is paired, and the noise to judge a gap by is the
gap's own standard deviation over the three seeds ("its std"), not either arm's. The paired $t$ is the mean
gap over its standard error, $\bar g / (s_g / \sqrt 3)$, with 2 degrees of freedom; a two-sided test at 5%
needs $|t| > 4.30$. Every arm ends far below the unigram loss, 3.26 nats (predicting the characters'
frequencies, ignoring context).

**Every gated variant's mean loss is below ReLU's, by 0.007 to 0.040 nats, but three seeds establish none
of these gaps firmly.** For ReGLU, GEGLU, SwiGLU and GLU the gap's own standard deviation (0.045, 0.036,
0.037, 0.044) is larger than its mean gap, $|t| \le 1.55$: they are ahead of ReLU on seeds 0 and 1
and behind on seed 2, by 0.006 to 0.036 (bottom right). GELU without a gate (-0.007, $t = -1.43$)
is no different from ReLU either. Bilinear, the gate with no activation at all, comes closest to a
measured gain: ahead of ReLU on all three seeds, by -0.040 (-0.052 to -0.028), $t = -5.69$, two-sided
$p = 0.03$ with 2 degrees of freedom. That comes with three caveats: the $p$-value is not corrected for the
six comparisons with ReLU (with Bonferroni's correction it is 0.18); all three seeds on the same side
happens by chance with probability 1/4 when there is no effect; and seed 0 is the seed its rate was chosen
on. Which gated variant is best is not measured: their ranges overlap (bottom left), and the order of
their means, Bilinear, ReGLU, GEGLU, SwiGLU, GLU, rests on gaps smaller than their spread. Shazeer's order
(GEGLU and SwiGLU first, Bilinear behind them) is neither confirmed nor contradicted.

**Seed by seed, the gaps move during training.** Read off each seed's curve (the plot, top right, shows the
mean of seeds), Bilinear is ahead of ReLU from step 50 on every seed; on seeds 0 and 2 by most in mid-run (0.107 at
step 50 on seed 0, 0.097 at step 100 on seed 2) and by less at the end, on seed 1 by about 0.05 from step
100 to the end. ReGLU, GEGLU and SwiGLU are ahead by about
0.11 at step 50 on seed 0, *behind* by 0.06 to 0.07 at step 50 on seed 1 and ahead from step 100 on, and
within 0.02 of ReLU throughout on seed 2. So part of what 200 steps measure is early progress, and whether
a gap remains after a full-length run is not measured here (Shazeer's gaps remain after 524,288 steps).

**The rate grid brackets six arms' optimum.** Six arms chose $3 \cdot 10^{-3}$, the middle of the grid;
$10^{-3}$ is worse for every arm, by 0.11 to 0.13 nats. GLU chose the top of the grid, $10^{-2}$, but its
sweep is flat there (2.679 at $3 \cdot 10^{-3}$, 2.677 at $10^{-2}$), as is ReLU's (2.682 and 2.690); GELU's
is not (2.685 and 2.761), nor are GEGLU's (2.644 and 2.723) or ReGLU's (2.621 and 2.652). Seed 0 is also the
seed the rates were chosen on, and its run is the sweep's best of three, which flatters every arm's seed 0 a
little; seeds 1 and 2 are fresh.

**The claim in miniature** ([the tests](../../tests/transformers/test_glu_variants.py)) is a different,
narrower claim: gated layers make faster early progress at a small setting. A smaller model (width 32,
$d_\text{ff} = 96$ so the gated width is exactly 64, 150 steps) at one rate, $10^{-2}$, for every arm: there
SwiGLU and GEGLU end ahead of ReLU by about 0.1 nats in mean over three seeds (on one seed SwiGLU is only
0.01 ahead), but that is early training, with ReLU only about 0.4 nats below the unigram loss of 3.37 nats
at those settings. Trained for 450 steps instead (a check run for this page, not recorded in the results),
the gaps about halve, to 0.05 (SwiGLU) and 0.06 (GEGLU) in mean, while staying ahead on every seed.

**Where this differs from the paper.** Shazeer trains a T5-base-sized encoder-decoder for 65,536 and
524,288 steps on C4 with a span-corruption objective; here a 2-layer, 0.1 M-weight decoder-only character
model trains for 200 steps on Shakespeare, with biases in every layer (he has none) and at a rate chosen
per arm from a grid of three.
The gated layers hold 150 more weights per block than ReLU's (0.45% of the layer), from rounding
$\tfrac23 \cdot 256$ up to 171. The loss is per character, his per word-piece token, so the two scales
of "0.04 nats" are not the same quantity. The experiment took 189 s of CPU at one thread (on a machine
with load average 13 while it ran), above the 2-minute target of the budget.
"""
from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import torch
from scipy import stats
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model, train_lm
from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.normalization.deep_norm import unigram_loss
from papers.transformers.building_blocks import ACTIVATIONS, PositionWiseFeedForward, block_with_activation
from papers.transformers.gpt import gpt_schedule


# ## The gated feed-forward network
#
# The position-wise feed-forward network of [the building-blocks page](building_blocks.py), $\phi(xW_1 + b_1)W_2
# + b_2$, with a second projection $V$ of the same input multiplying the activated one, element by element:
#
# $$\mathrm{FFN}_g(x) = \big(g(xW_1 + b_1) \otimes (xV + c)\big)\,W_2 + b_2, \qquad
# W_1, V \in \mathbb{R}^{d \times d'_\text{ff}},\; W_2 \in \mathbb{R}^{d'_\text{ff} \times d},$$
#
# `[batch, len, d_model]` → two `[batch, len, d_ff]` → `[batch, len, d_model]`. The five variants differ in
# the gate $g$ only:
#
# | variant | $g(z)$ | Shazeer's name |
# |---|---|---|
# | `glu` | $\sigma(z) = 1/(1 + e^{-z})$ | $\mathrm{FFN}_\mathrm{GLU}$ |
# | `bilinear` | $z$ (no activation) | $\mathrm{FFN}_\mathrm{Bilinear}$ |
# | `reglu` | $\max(0, z)$ | $\mathrm{FFN}_\mathrm{ReGLU}$ |
# | `geglu` | $z\,\Phi(z)$, exact (erf) GELU | $\mathrm{FFN}_\mathrm{GEGLU}$ |
# | `swiglu` | $z\,\sigma(z)$, Swish with $\beta = 1$ (SiLU) | $\mathrm{FFN}_\mathrm{SwiGLU}$ |
#
# **Biases.** Shazeer drops every bias (he follows T5); this page keeps the project's `nn.Linear` layers
# with their biases, $b_1, c, b_2$, in every arm, the ReLU and GELU baselines included, so that the only
# difference between arms is the gate and the width. The biases are about 1% of the layer's weights at this
# size: $256 + 64 = 320$ of 33 088 (0.97%) in ReLU's and GELU's, $2 \cdot 171 + 64 = 406$ of 33 238 (1.2%) in
# the gated ones.
#
# `GatedFeedForward` is a subclass of the building-blocks page's `PositionWiseFeedForward`: the parent
# builds $W_1, b_1, W_2, b_2$ (as `layer1`, `layer2`), the dropout and the size checks; this class adds $V, c$
# (`layer_v`) and replaces the activation by the gate. The gates are the parent's activations by name, plus
# the logistic function and the identity.
GATES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {**ACTIVATIONS, "sigmoid": torch.sigmoid,
                                                           "identity": lambda z: z}
VARIANTS = {"glu": "sigmoid", "bilinear": "identity", "reglu": "relu", "geglu": "gelu", "swiglu": "silu"}


class GatedFeedForward(PositionWiseFeedForward):
    def __init__(self, d_model: int, d_ff: int, variant: str = "swiglu", dropout: float = 0.0):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        super().__init__(d_model, d_ff, dropout=dropout)
        self.variant = variant
        self.activation = VARIANTS[variant]
        self.layer_v = nn.Linear(d_model, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, len, d_model]
        check_tensor("x", x, ["batch", "len", self.layer1.in_features], dtype=self.layer1.weight.dtype)
        gate = GATES[self.activation](self.layer1(x))  # [batch, len, d_ff]
        hidden = gate * self.layer_v(x)  # [batch, len, d_ff]
        return self.layer2(self.dropout(hidden))  # [batch, len, d_model]


# ## Equal parameter count
#
# A gated layer has three matrices where the plain one has two, so at the same width it has 1.5 times the
# weights. Shazeer shrinks the hidden width to two thirds, $d'_\text{ff} = \tfrac{2}{3} d_\text{ff}$ (3072 →
# 2048 in his T5 model), which keeps the weights and the multiply-adds per position equal. Here
# $d'_\text{ff}$ is $\tfrac23 d_\text{ff}$ rounded to the nearest integer; at the harness's $d = 64$,
# $d_\text{ff} = 256$ that is 171 (170.67), and with biases
#
# $$\underbrace{2 \cdot 64 \cdot 256 + 256 + 64}_{\text{ReLU, GELU}} = 33\,088, \qquad
# \underbrace{3 \cdot 64 \cdot 171 + 2 \cdot 171 + 64}_{\text{gated}} = 33\,238$$
#
# weights per block: the gated layers hold 150 more (0.45%); the multiply-adds per position are
# $2 \cdot 64 \cdot 256 = 32\,768$ against $3 \cdot 64 \cdot 171 = 32\,832$.
# [The tests](../../tests/transformers/test_glu_variants.py) check these counts on the modules.
def gated_width(d_ff: int) -> int:
    check_positive("d_ff", d_ff, integer=True)
    if d_ff < 2:
        raise ValueError(f"d_ff must be at least 2 for a gated width of at least 1, got {d_ff}")
    return round(2 * d_ff / 3)


# The weights of one feed-forward layer with biases: two or three matrices, and a bias on each output.
def feed_forward_parameters(d_model: int, d_ff: int, gated: bool) -> int:
    check_positive("d_model", d_model, integer=True)
    check_positive("d_ff", d_ff, integer=True)
    matrices = 3 if gated else 2
    return matrices * d_model * d_ff + (matrices - 1) * d_ff + d_model


# The kit's [`Block`](../kit/char_transformer.py#the-block) with a gated feed-forward of width
# $\tfrac23 d_\text{ff}$ in place of the ReLU one, for `build_model(settings, seed, block=gated_block("swiglu"))`:
# every arm is built from the same settings, $d_\text{ff} = 256$, and the gated block shrinks its own width.
def gated_block(variant: str) -> type[Block]:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")

    class GatedBlock(Block):
        def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
            super().__init__(d_model, heads, d_ff, pre_norm)
            self.feed_forward = GatedFeedForward(d_model, gated_width(d_ff), variant)

    GatedBlock.__name__ = f"{variant.upper()}Block"
    return GatedBlock


# ## The experiment
#
# Seven arms that differ in the feed-forward layer only: ReLU (the harness's own), GELU (the exact erf form;
# Shazeer's table has a GELU row), and the five gated variants, each gated one at two-thirds width. The
# [shared harness](../kit/char_transformer.py) at its default size (width 64, 4 heads, 2 pre-norm layers,
# $d_\text{ff} = 256$, windows of 64 characters) but with batches of 16 (not 32) and 200 steps (not 600),
# to fit 7 arms, a rate sweep and 3 seeds into the budget. Adam with the [GPT schedule](gpt.py) (linear
# warm-up over 30 steps to the peak rate, then cosine decay to zero) and gradient clipping at norm 1.
#
# **Rates.** Each arm picks its peak rate from the same grid, $10^{-3}$, $3 \cdot 10^{-3}$, $10^{-2}$,
# by its final validation loss in full-length (200-step) runs on the first seed; the chosen run is kept as
# that arm's first seed, and the rate trains two more seeds. A seed fixes the weights' generator and the
# batches, so the arms of one seed see the same batches (their weights differ after the first feed-forward
# layer, whose shape differs).
ARMS = ("relu", "gelu", *VARIANTS)
RATES = (1e-3, 3e-3, 1e-2)
WARMUP = 30
CLIP_NORM = 1.0
FULL = LMSettings(batch_size=16, steps=200, eval_every=25)
QUICK = LMSettings(d_model=16, heads=2, d_ff=48, seq_len=16, batch_size=8, steps=40, eval_every=20,
                   eval_windows=16, max_chars=100_000)


# The block class of an arm: the building-blocks page's block with a named activation, or a gated block.
def block_for(arm: str) -> type[Block]:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    return gated_block(arm) if arm in VARIANTS else block_with_activation(arm)


# One run: returns the model and its history (validation loss every 25 steps and at the last).
def train_arm(arm: str, settings: LMSettings, seed: int, lr: float) -> tuple[nn.Module, History]:
    model = build_model(settings, seed, block=block_for(arm))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(lr, WARMUP, settings.steps),
                       clip_norm=CLIP_NORM)
    return model, history


# The sweep of one arm on one seed: the rate with the lowest final validation loss, every rate's final loss,
# and the chosen run's history.
def choose_rate(arm: str, settings: LMSettings, seed: int,
                rates: tuple[float, ...]) -> tuple[float, dict[float, float], History]:
    trials = {lr: train_arm(arm, settings, seed, lr)[1] for lr in rates}
    sweep = {lr: history.last("valid_loss") for lr, history in trials.items()}
    best = min(sweep, key=sweep.get)
    return best, sweep, trials[best]


def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    rates = config.choose(RATES, RATES[1:])
    chosen, sweeps, histories = {}, {}, {}
    for arm in ARMS:
        chosen[arm], sweeps[arm], first = choose_rate(arm, settings, seeds[0], rates)
        histories[arm] = {seeds[0]: first}
        for seed in seeds[1:]:
            histories[arm][seed] = train_arm(arm, settings, seed, chosen[arm])[1]
    metrics = _metrics(histories, chosen, sweeps, settings, seeds, rates)
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


def _metrics(histories: dict, chosen: dict, sweeps: dict, settings: LMSettings, seeds: list[int],
             rates: tuple[float, ...]) -> dict:
    final = {arm: {s: histories[arm][s].last("valid_loss") for s in seeds} for arm in ARMS}
    metrics: dict = {"arms": list(ARMS), "seeds": seeds, "rates": list(rates), "steps": settings.steps,
                     "batch_size": settings.batch_size, "d_ff": settings.d_ff,
                     "gated_d_ff": gated_width(settings.d_ff), "unigram_loss": round(unigram_loss(settings), 4),
                     "eval_steps": histories["relu"][seeds[0]].steps("valid_loss")}
    for arm in ARMS:
        metrics[f"{arm}_lr"] = chosen[arm]
        metrics[f"{arm}_sweep"] = {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()}
        metrics[f"{arm}_parameters"] = feed_forward_parameters(
            settings.d_model, gated_width(settings.d_ff) if arm in VARIANTS else settings.d_ff, arm in VARIANTS)
        metrics[f"{arm}_rate_inside_grid"] = min(rates) < chosen[arm] < max(rates)
        metrics[f"{arm}_valid"] = over_seeds(final[arm])
        metrics[f"{arm}_curves"] = {str(s): [round(v, 4) for v in histories[arm][s].values("valid_loss")]
                                    for s in seeds}
        if arm != "relu":
            gap = over_seeds({s: final[arm][s] - final["relu"][s] for s in seeds})
            metrics[f"{arm}_minus_relu"] = gap
            metrics[f"{arm}_beats_relu_every_seed"] = gap["max"] < 0
            metrics[f"{arm}_paired_t"], metrics[f"{arm}_paired_p"] = _paired_test(gap)
    metrics["relu_seed_std"] = metrics["relu_valid"]["std"]
    metrics["gaps_beyond_spread"] = [arm for arm in ARMS[1:] if _beyond_spread(metrics, arm)]
    return metrics


# The gaps are paired (same seed, same batches), so the noise to judge a gap by is the spread of the gap
# itself over seeds, not of either arm's loss. The paired $t$ statistic is the mean gap over its standard
# error, $t = \bar g / (s_g / \sqrt n)$ with $n - 1$ degrees of freedom; its two-sided $p$-value is uncorrected
# for the six comparisons against ReLU.
def _paired_test(gap: dict) -> tuple[float, float]:
    values = torch.tensor(list(gap["per_seed"].values()), dtype=torch.float64)
    t = values.mean() / (values.std() / len(values) ** 0.5)
    p = 2 * stats.t.sf(abs(float(t)), df=len(values) - 1)
    return round(float(t), 2), round(float(p), 3)


# A gap is "beyond the seeds' noise" when it has the same sign on every seed and its paired $t$-test rejects
# a zero mean gap at the 5% level (two-sided, uncorrected for the six comparisons).
def _beyond_spread(metrics: dict, arm: str) -> bool:
    gap = metrics[f"{arm}_minus_relu"]
    same_sign = gap["max"] < 0 or gap["min"] > 0
    return same_sign and metrics[f"{arm}_paired_p"] < 0.05


def _headline(metrics: dict) -> str:
    parts = ", ".join(f"{arm} {metrics[f'{arm}_valid']['mean']:.3f}" for arm in ARMS)
    beyond = ", ".join(metrics["gaps_beyond_spread"]) or "none"
    return (f"Validation loss (nats) after {metrics['steps']} steps, mean of {len(metrics['seeds'])} seeds: "
            f"{parts}. Gaps to ReLU of one sign on every seed and paired p < 0.05 (uncorrected): {beyond}.")


LABELS = {"relu": "ReLU", "gelu": "GELU", "glu": "GLU", "bilinear": "Bilinear", "reglu": "ReGLU",
          "geglu": "GEGLU", "swiglu": "SwiGLU"}


def _figure(metrics: dict) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    _plot_sweep(axes[0, 0], metrics)
    _plot_curves(axes[0, 1], metrics)
    _plot_final(axes[1, 0], metrics)
    _plot_gaps(axes[1, 1], metrics)
    fig.tight_layout()
    return fig


def _plot_sweep(ax: plt.Axes, metrics: dict) -> None:
    rates = metrics["rates"]
    for colour, arm in enumerate(ARMS):
        ax.plot(rates, [metrics[f"{arm}_sweep"][f"{lr:g}"] for lr in rates], marker="o", color=f"C{colour}",
                label=LABELS[arm])
    ax.set(xscale="log", xlabel="peak learning rate", ylabel="validation loss (nats)",
           title=f"Rate sweep on seed {metrics['seeds'][0]} ({metrics['steps']} steps)")
    ax.set_xticks(rates, [f"{lr:g}" for lr in rates])
    ax.minorticks_off()
    ax.legend(fontsize="small")


def _plot_final(ax: plt.Axes, metrics: dict) -> None:
    for i, arm in enumerate(ARMS):
        summary = metrics[f"{arm}_valid"]
        ax.bar(i, summary["mean"], color=f"C{i}", alpha=0.4)
        ax.plot([i] * len(metrics["seeds"]), list(summary["per_seed"].values()), "o", color=f"C{i}")
    lows = [metrics[f"{arm}_valid"]["min"] for arm in ARMS]
    highs = [metrics[f"{arm}_valid"]["max"] for arm in ARMS]
    ax.set_ylim(min(lows) - 0.03, max(highs) + 0.03)
    ax.set_xticks(range(len(ARMS)), [f"{LABELS[a]}\nlr {metrics[f'{a}_lr']:g}" for a in ARMS], fontsize="small")
    ax.set(ylabel="validation loss (nats)",
           title=f"After {metrics['steps']} steps: mean (bar) and each seed (dots)")


def _plot_gaps(ax: plt.Axes, metrics: dict) -> None:
    others = ARMS[1:]
    for i, arm in enumerate(others, start=1):
        gap = metrics[f"{arm}_minus_relu"]
        ax.plot([i] * len(metrics["seeds"]), list(gap["per_seed"].values()), "o", color=f"C{i}", alpha=0.7)
        ax.plot([i - 0.25, i + 0.25], [gap["mean"]] * 2, color=f"C{i}", linewidth=2)
        ax.fill_between([i - 0.25, i + 0.25], gap["mean"] - gap["std"], gap["mean"] + gap["std"], color="grey",
                        alpha=0.25, label="mean ± the gap's own std over seeds" if i == 1 else None)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(1, len(others) + 1), [LABELS[a] for a in others])
    ax.set(ylabel="loss minus ReLU's, same seed (nats)", title="Gap to ReLU: each seed (dots) and mean (bar)")
    ax.legend(fontsize="small")


def _plot_curves(ax: plt.Axes, metrics: dict) -> None:
    steps = metrics["eval_steps"]
    for colour, arm in enumerate(ARMS):
        curves = torch.tensor(list(metrics[f"{arm}_curves"].values()))  # [seeds, evaluations]
        ax.plot(steps, curves.mean(dim=0).numpy(), marker=".", color=f"C{colour}", label=LABELS[arm])
    ax.axhline(metrics["unigram_loss"], color="grey", linestyle="--", label="unigram loss")
    ax.set(xlabel="step", ylabel="validation loss (nats)", title="Validation loss during training (mean of seeds)")
    ax.legend(fontsize="small")


if __name__ == "__main__":
    run_paper(__file__, experiment)
