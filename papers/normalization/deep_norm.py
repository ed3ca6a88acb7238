r"""
---
title: "DeepNet: Scaling Transformers to 1,000 Layers"
nav: DeepNorm
summary: DeepNorm, a post-norm residual up-weighted by alpha with sub-layers initialised smaller by beta,
  tested against labml-nn and a hand-written float64 block; an 18-layer post-norm character model with Xavier
  weights stalls at the unigram loss and trains with DeepNorm at the same learning rate, but with PyTorch's
  smaller default weights plain Post-LN trains too, 0.07 nats behind DeepNorm; DeepNorm's early model update
  lags Post-LN's and catches up within the warm-up.
---

# DeepNet: Scaling Transformers to 1,000 Layers

[Wang, Ma, Dong, Huang, Zhang, Wei, 2022. *DeepNet: Scaling Transformers to 1,000
Layers*](https://arxiv.org/abs/2203.00555)

A transformer block wraps each sub-layer $G$ (attention, feed-forward) in a residual connection and a layer
norm. The original transformer puts the norm *after* the sum, $x_{l+1} = \mathrm{LN}(x_l + G_l(x_l))$
(*Post-LN*); most later models put it *before* the sub-layer, $x_{l+1} = x_l + G_l(\mathrm{LN}(x_l))$
(*Pre-LN*). Post-LN is reported to give the better model when it trains, but deep Post-LN stacks often
do not: they diverge, or stall, unless the learning rate is warmed up slowly. Pre-LN trains stably at
depth, at some cost in quality.

DeepNet keeps the Post-LN form and changes two numbers. The residual is up-weighted by a constant
$\alpha > 1$ before the norm, and the sub-layers that set the size of each block's output (the feed-forward
layers, the attention's value and output projections) start with weights scaled down by $\beta < 1$:

$$x_{l+1} = \mathrm{LN}\big(\alpha\, x_l + G_l(x_l)\big), \qquad
\alpha = (2N)^{1/4}, \quad \beta = (8N)^{-1/4}$$

for a decoder-only model of $N$ blocks (the paper's Table 1). The paper's argument (its Sections 3 and 4):
Post-LN's trouble starts with an *exploding model update* in the first steps, the output
$F(x, \theta_t)$ moving a long way from $F(x, \theta_0)$; the norms' inputs then grow, the gradient that
passes back through them shrinks, and the lower layers stop learning. It derives $\alpha$ and $\beta$ so that
a bound on the model update stays of the order of the learning rate, whatever the depth, and trains Post-LN
models of 1,000 layers with them.

## What the experiment shows

An 18-layer decoder-only character model (the kit's [small transformer](../kit/char_transformer.py), 32
wide, 2 heads, feed-forward width 64, about 0.16 M parameters), trained on Shakespeare for 200 steps of 16
windows of 32 characters with Adam at learning rate $10^{-3}$ and a 50-step linear warm-up, four ways from
the same seeds and batches: Post-LN with Xavier weights (as in the paper's pseudo-code), DeepNorm
($\alpha = 2.45$, $\beta = 0.29$), Pre-LN with Xavier weights, and Post-LN with PyTorch's default `nn.Linear`
weights, which are smaller (standard deviation 0.10 against Xavier's 0.18 for the attention's matrices).
Three seeds.

**Post-LN with Xavier weights stalls; DeepNorm trains; so does Post-LN with smaller weights.** Post-LN's
validation loss ends at 3.30 nats on every seed (3.300 to 3.303), which is the loss of predicting the
characters' frequencies and ignoring the context (3.30): it has learnt nothing else. DeepNorm ends at 2.88
(2.82 to 2.93), below Post-LN by 0.42 (0.37 to 0.48) on every seed, and below Pre-LN too, 2.99 (2.96 to
3.02), at the one shared learning rate and step count (Pre-LN was not swept). But the stall belongs to Post-LN
*with Xavier weights*: the same plain post-norm block with PyTorch's default initialisation trains, to 2.95
(2.90 to 2.98; per seed 2.90, 2.97, 2.98), below Pre-LN on two seeds of three and 0.07 behind DeepNorm
on average (0.04 to 0.08; DeepNorm is still ahead on every seed). At this scale DeepNorm's constants rescue a
Post-LN stack that Xavier's larger weights have broken; smaller weights alone do most of that too, as the
$\beta$-only ablation below also finds.

![Validation loss, model update and block output change, four arms, three seeds](results/deep_norm.png)

**The model update is smaller at first, and the gap closes within the warm-up.** The middle panel is the
paper's measurement in miniature: the RMS distance between the model's last hidden state on 8 fixed
validation windows after $t$ steps and at the start. After 10 steps, with the learning rate at a fifth of its
peak, it is 0.19 for DeepNorm (0.18 to 0.20), against 0.73 for Post-LN (0.55 to 1.01), 0.51 for Pre-LN
(0.41 to 0.70) and 0.79 for default-init Post-LN (0.71 to 0.90). After 20 steps DeepNorm's is 0.74 (0.72 to
0.76) against Post-LN's 1.01 (0.84 to 1.23); after 30 steps it is 1.17 (1.16 to 1.19) against 1.04 (0.90 to
1.19), larger than Post-LN's on two seeds of three, and Pre-LN's and default-init Post-LN's are 1.06 and 1.04.
So DeepNorm's update *lags* the others' by some steps; it is not held small, and by step 30 every arm's
hidden state has moved about as far (1.4 would be unrelated to where it started). That is not the paper's
bound, which keeps the update of order the learning rate whatever the depth; at one depth, over 30 steps, the
lag is what this measures. The right panel shows the change block by block after 10 steps: the DeepNorm
blocks' outputs have moved much less than those of the other arms at every depth above the first two, and by
nearly the same amount on every seed.

The gradient norm of each block's parameters, averaged over the first 30 steps, is smaller at the bottom than
at the top in Xavier Post-LN on two seeds of three: 0.099 against 0.151, 0.137 against 0.133 (reversed), 0.055
against 0.113 (means 0.097 and 0.132). DeepNorm's bottom block gets 0.285 against 0.051 at the top, and
Pre-LN's 0.058 against 0.025. But default-init Post-LN, which trains, has the same pattern as the stalled arm,
more consistently: 0.070 at the bottom against 0.099 at the top (smaller on every seed). A smaller bottom
gradient is therefore not what separates the stalled stack from the trained ones here, and Adam rescales each
parameter's step anyway, so the gradient's size is not the step's: a description, not an explanation.

What this does *not* show is that the smaller update is why DeepNorm trains, and the controls argue against
it at this scale. Each half of DeepNorm alone is enough, on the first seed: $\alpha = 2.45$ with plain Xavier
weights ($\beta = 1$) reaches 2.80, and $\beta = 0.29$ with $\alpha = 1$ reaches 2.76 (full DeepNorm: 2.82 on
that seed). On that same seed, with $\alpha$ alone the model update after 10 steps is 0.81: smaller than
Post-LN's 1.01, but 4.4 times DeepNorm's 0.18 (with $\beta$ alone, 0.35). Default-init Post-LN's early update
is as large as Xavier Post-LN's (0.79 against 0.73 after 10 steps), and it trains; so does Pre-LN, with a
large one too. So a large early update does not by itself make this stack stall. The measurements agree with
the paper's account only where it is loosest (DeepNorm's update starts small); the controls are not a test of
the account, and this page does not claim one.

**The sweep.** On the first seed, Xavier Post-LN does not get below the frequency-only loss at any of the three
learning rates tried in 200 steps: 3.37 at $3 \cdot 10^{-4}$, still above it (at this rate 200 steps cannot
tell a stall from slowness), and 3.30 at $3 \cdot 10^{-3}$, stalled, where DeepNorm reaches 2.55, better than
its 2.82 at $10^{-3}$: the learning rate of the main comparison is not DeepNorm's best. A referee's check,
not part of the recorded run, speaks to slowness at $10^{-3}$: Xavier Post-LN trained for 600 steps was still
at 3.30 (3.322, 3.303, 3.295, 3.301, 3.301, 3.299 at steps 100 to 600), and with a 200-step warm-up over 400
steps at 3.633, 3.311, 3.289, 3.301 (steps 100 to 400). Post-LN is not broken as such: at 4 layers, with the
same rate, warm-up and Xavier weights, it reaches 2.84. Its failure here is one of depth and initial scale
together.

## Where this differs from the paper

The paper trains translation models of up to 1,000 layers, hundreds wide, for many thousands of steps with
thousands of warm-up steps; this page has 18 blocks, width 32, 200 steps and 50 of warm-up, on one CPU
thread (about 210 s of CPU for the whole run). The failure here is a stall at the frequency-only loss, not a
divergence, and it needs Xavier's weights: the Post-LN baseline follows the paper's pseudo-code (DeepNorm at
$\alpha = \beta = 1$), and with PyTorch's smaller default weights plain Post-LN trains at this depth. The
paper's pseudo-code does not say how biases start (here at zero); the model has the kit's learned positions
and output layer tied to the embedding, and no dropout. The model update is measured on
the last hidden state (not on the logits), over the first 30 steps only.

*A note on labml-nn.* labml-nn's `DeepNorm` computes $\mathrm{LN}(x + \alpha\, G(x))$, with $\alpha$ on the
sub-layer rather than on the residual. Since a layer norm without its $\epsilon$ ignores a positive scale,
that is the paper's block at $1/\alpha$, not at $\alpha$; the [tests](../../tests/normalization/test_deep_norm.py)
compare with labml-nn where the two agree ($\alpha = 1$, and $1/\alpha$ with $\epsilon = 0$) and with a
hand-written float64 computation of the paper's equation otherwise.
"""
from __future__ import annotations

import math
from typing import Callable

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model, corpus, train_lm, validation_windows
from papers.kit.checks import check_positive
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History


# ## The constants
#
# For a decoder-only model (GPT-style) of $N$ blocks, each an attention and a feed-forward sub-layer, Table 1
# of the paper gives
#
# $$\alpha = (2N)^{1/4}, \qquad \beta = (8N)^{-1/4}$$
#
# (the same as for an encoder-only model; an encoder-decoder gets other constants). At this page's $N = 18$,
# $\alpha = 36^{1/4} \approx 2.45$ and $\beta = 144^{-1/4} \approx 0.29$; at the paper's 1,000 layers,
# $\alpha \approx 6.7$ and $\beta \approx 0.11$. The residual branch is up-weighted as the stack deepens,
# and each sub-layer starts smaller.
def deep_norm_constants(layers: int) -> tuple[float, float]:
    check_positive("layers", layers, integer=True)
    return (2 * layers) ** 0.25, (8 * layers) ** -0.25


# ## The initialisation
#
# The paper's pseudo-code draws Xavier-normal weights,
# $W \sim \mathcal{N}\big(0, \mathrm{gain}^2 \cdot \frac{2}{d_\text{in} + d_\text{out}}\big)$, with gain $\beta$
# for the two feed-forward layers and the attention's value and output projections, and gain 1 for the
# queries and keys. Queries and keys only set *where* a position attends: the attention weights sum to one,
# so the output is an average of value vectors, and its size is set by $W^V$ and $W^O$. Scaling both by
# $\beta$ scales the attention's output by $\beta^2$ (the attention pattern unchanged), and scaling both
# feed-forward layers scales the (ReLU, so positively homogeneous) feed-forward
# output by $\beta^2$ too. The paper does not say how biases start; here they start at zero.
#
# With $\beta = 1$ this is plain Xavier initialisation, which the Post-LN and Pre-LN arms of the experiment
# use, so that the arms differ only in $\alpha$, $\beta$ and where the norm sits; a fourth arm, a control,
# keeps PyTorch's default initialisation instead.
def deep_norm_init(block: Block, beta: float) -> None:
    check_positive("beta", beta)
    attention, feed_forward = block.attention, block.feed_forward
    for layer, gain in ((attention.w_q, 1.0), (attention.w_k, 1.0), (attention.w_v, beta), (attention.w_o, beta),
                        (feed_forward.layer1, beta), (feed_forward.layer2, beta)):
        nn.init.xavier_normal_(layer.weight, gain=gain)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


# ## The block
#
# DeepNorm changes one line of a post-norm block: the residual is up-weighted by $\alpha$ before the layer
# norm,
#
# $$x_{l+1} = \mathrm{LN}\big(\alpha x_l + G_l(x_l)\big),$$
#
# where $G_l$ is the $l$-th sub-layer (attention or feed-forward) and $x_l$ is `[batch, seq, d_model]`.
# The block subclasses the kit's [`Block`](../kit/char_transformer.py#the-block), overriding its
# `residual`; with $\alpha = 1$ it is the kit's post-norm block exactly (a test checks this bit for bit).
# The kit builds every block as `block(d_model, heads, d_ff, pre_norm)`, so $\alpha$ and $\beta$ are class
# attributes, set by [`deep_norm_block`](#deep_norm_block) below. DeepNorm is a post-norm method: asking it for
# a pre-norm block is an error.
class DeepNormBlock(Block):
    alpha: float = 1.0
    beta: float = 1.0

    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = False):
        if pre_norm:
            raise ValueError("DeepNorm replaces post-norm: pre_norm must be False, got True")
        super().__init__(d_model, heads, d_ff, pre_norm=False)
        deep_norm_init(self, self.beta)

    def residual(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor],
                 norm: nn.LayerNorm) -> torch.Tensor:
        return norm(self.alpha * x + sublayer(x))


# <a id="deep_norm_block"></a>
# A DeepNorm block class with its constants: `build_model(settings, seed, block=deep_norm_block(alpha, beta))`.
# Both must be positive.
def deep_norm_block(alpha: float, beta: float) -> type[DeepNormBlock]:
    check_positive("alpha", alpha)
    check_positive("beta", beta)
    return type("DeepNormBlock", (DeepNormBlock,), {"alpha": float(alpha), "beta": float(beta)})


# The Pre-LN reference, $x_{l+1} = x_l + G_l(\mathrm{LN}(x_l))$, with the same Xavier initialisation.
class XavierPreNormBlock(Block):
    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
        super().__init__(d_model, heads, d_ff, pre_norm)
        deep_norm_init(self, 1.0)


# ## The arms
#
# Four ways to build the same 18-layer stack: *Post-LN*, the original transformer's
# $\mathrm{LN}(x + G(x))$ with Xavier weights (DeepNorm at $\alpha = \beta = 1$); *DeepNorm* with the paper's
# constants for the depth; *Pre-LN* as the usual stable reference; and *Post-LN, default init*, the same
# plain post-norm block with PyTorch's default `nn.Linear` initialisation instead of Xavier (the kit's
# [`Block`](../kit/char_transformer.py#the-block) as it comes). The default draws
# $W \sim \mathcal{U}(-1/\sqrt{d_\text{in}}, 1/\sqrt{d_\text{in}})$, standard deviation
# $1/\sqrt{3 d_\text{in}}$: 0.10 at $d_\text{in} = 32$ and 0.07 for the second feed-forward layer
# ($d_\text{in} = 64$), against Xavier's $\sqrt{2/(32 + 32)} \approx 0.18$ for the attention's square matrices
# and $\sqrt{2/(32 + 64)} \approx 0.14$ for the feed-forward ones; its biases start small and non-zero. Two
# ablations keep one of DeepNorm's constants and set the other to 1. Returns the block class and whether the
# model is pre-norm.
ARMS = ("post-ln", "deepnorm", "pre-ln", "post-ln-default")
ABLATIONS = ("alpha-only", "beta-only")


def arm_block(arm: str, layers: int) -> tuple[type[Block], bool]:
    if arm == "post-ln":
        return deep_norm_block(1.0, 1.0), False
    if arm == "post-ln-default":
        return Block, False
    if arm == "deepnorm":
        return deep_norm_block(*deep_norm_constants(layers)), False
    if arm == "pre-ln":
        return XavierPreNormBlock, True
    alpha, beta = deep_norm_constants(layers)
    if arm == "alpha-only":
        return deep_norm_block(alpha, 1.0), False
    if arm == "beta-only":
        return deep_norm_block(1.0, beta), False
    raise ValueError(f"arm must be one of {ARMS + ABLATIONS}, got {arm!r}")


# ## Measuring the model update
#
# The paper's account of Post-LN's trouble (its Section 3) starts from the *model update*
# $\lVert F(x, \theta_t) - F(x, \theta_0) \rVert$, how far the model's output on a fixed input has moved after
# $t$ steps; and DeepNorm's constants are chosen (Section 4) to keep a bound on that update independent of
# the depth. We measure it on a fixed probe of 8 validation windows `[8, 32]`: $F$ is the last hidden state
# (the input to the tied output layer, after the final norm), and the distance is the root mean square over
# all its elements (each hidden vector has RMS about 1 after a layer norm, so 1.4 means "unrelated to
# where it started"). We also record each block's output change relative to its size, and the gradient
# norm of each block's parameters, bottom and top.
#
# The outputs of every block and of the final norm on `tokens`, via forward hooks: a list of
# `[batch, seq, d_model]` tensors.
@torch.no_grad()
def layer_outputs(model: nn.Module, tokens: torch.Tensor) -> list[torch.Tensor]:
    outputs: list[torch.Tensor] = []
    modules = [*model.blocks, model.final_norm]
    handles = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach().clone())) for m in modules]
    was_training = model.training
    model.eval()
    try:
        model(tokens)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return outputs


def rms(x: torch.Tensor) -> float:
    return x.pow(2).mean().sqrt().item()


# Gradient norm of each block's parameters, bottom to top.
def block_gradient_norms(model: nn.Module) -> list[float]:
    return [math.sqrt(sum(p.grad.pow(2).sum().item() for p in block.parameters() if p.grad is not None))
            for block in model.blocks]


# ## Training one arm
#
# The kit's [language-model loop](../kit/char_transformer.py#training) with Adam ($\beta_1 = 0.9$,
# $\beta_2 = 0.98$, a common transformer setting) and a linear warm-up of the learning rate
# over `warmup` steps, then constant. After each of the first 30 steps the probe is run again; at step 10 the
# change of every block's output is recorded. Returns the training history and those probes.
PROBE_STEPS = 30
CHANGE_AT = 10
UPDATE_AT = (10, 20, 30)


def train_arm(arm: str, settings: LMSettings, lr: float, warmup: int, seed: int) -> tuple[History, dict]:
    block, pre_norm = arm_block(arm, settings.layers)
    settings = settings.but(pre_norm=pre_norm)
    model = build_model(settings, seed, block=block)
    probe = validation_windows(corpus(settings.max_chars).valid, settings.seq_len, 8)[0]  # [8, seq]
    start = layer_outputs(model, probe)
    probes: dict[str, list] = {"model_update": [], "layer_change": [], "gradient_norms": []}

    def after_step(i: int, _inputs: torch.Tensor) -> None:
        if i >= PROBE_STEPS:
            return
        now = layer_outputs(model, probe)
        probes["model_update"].append(rms(now[-1] - start[-1]))
        probes["gradient_norms"].append(block_gradient_norms(model))
        if i == CHANGE_AT - 1:
            probes["layer_change"] = [rms(a - b) / rms(b) for a, b in zip(now[:-1], start[:-1])]

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    history = train_lm(model, optimizer, settings, seed, lr_at=lambda i: lr * min(1.0, (i + 1) / warmup),
                       after_step=after_step)
    return history, probes


# The cross-entropy of the best model that ignores context: the training text's character frequencies,
# scored on the validation windows. A run stuck near it has learnt nothing but the frequencies.
def unigram_loss(settings: LMSettings) -> float:
    text = corpus(settings.max_chars)
    counts = torch.bincount(text.train, minlength=text.vocab_size).double() + 1.0  # [vocab], add-one
    log_p = (counts / counts.sum()).log()
    targets = validation_windows(text.valid, settings.seq_len, settings.eval_windows)[1]
    return -log_p[targets].mean().item()


# ## The experiment
#
# For each of three seeds, the four arms start from the same embeddings and see the same batches, with the
# same learning rate $10^{-3}$ and warm-up (50 steps), for 200 steps. On the first seed only, a small
# learning-rate sweep (Post-LN at $3 \cdot 10^{-4}$ and $3 \cdot 10^{-3}$, DeepNorm at $3 \cdot 10^{-3}$),
# and Post-LN at 4 layers: does Post-LN train at another rate, or when shallow? And the two halves of DeepNorm
# apart: $\alpha$ with $\beta = 1$ (`alpha-only`), and $\beta$ with $\alpha = 1$ (`beta-only`).
LR, WARMUP = 1e-3, 50
SWEEP = (("post-ln", 3e-4), ("post-ln", 3e-3), ("deepnorm", 3e-3))
SHALLOW = 4


def experiment(config: RunConfig) -> Outcome:
    settings = LMSettings(layers=config.choose(18, 12), d_model=32, heads=2, d_ff=64, seq_len=32, batch_size=16,
                          steps=config.train_steps(200, 60), eval_every=config.choose(20, 20), eval_windows=32)
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs = {(arm, seed): train_arm(arm, settings, LR, WARMUP, seed) for arm in ARMS for seed in seeds}
    sweep = {(arm, lr): train_arm(arm, settings, lr, WARMUP, seeds[0])[0].last("valid_loss") for arm, lr in SWEEP}
    shallow = train_arm("post-ln", settings.but(layers=SHALLOW), LR, WARMUP, seeds[0])[0].last("valid_loss")
    ablations = {arm: train_arm(arm, settings, LR, WARMUP, seeds[0]) for arm in ABLATIONS}
    metrics = _metrics(runs, sweep, shallow, settings, seeds)
    for arm, (history, probes) in ablations.items():
        metrics[f"{arm}_first_seed"] = {"valid_loss": round(history.last("valid_loss"), 4),
                                        f"update_step{CHANGE_AT}": round(probes["model_update"][CHANGE_AT - 1], 4)}
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, seeds, metrics)})


def _metrics(runs: dict, sweep: dict, shallow: float, settings: LMSettings, seeds: list[int]) -> dict:
    alpha, beta = deep_norm_constants(settings.layers)
    metrics: dict = {"layers": settings.layers, "d_model": settings.d_model, "d_ff": settings.d_ff,
                     "steps": settings.steps, "lr": LR, "warmup": WARMUP, "seeds": seeds,
                     "alpha": round(alpha, 4), "beta": round(beta, 4),
                     "unigram_loss": round(unigram_loss(settings), 4)}
    for arm in ARMS:
        metrics[f"valid_loss_{arm}"] = over_seeds({s: runs[arm, s][0].last("valid_loss") for s in seeds})
        for step in UPDATE_AT:
            metrics[f"update_step{step}_{arm}"] = over_seeds(
                {s: runs[arm, s][1]["model_update"][step - 1] for s in seeds})
        metrics[f"bottom_gradient_{arm}"] = over_seeds(
            {s: _mean(g[0] for g in runs[arm, s][1]["gradient_norms"]) for s in seeds})
        metrics[f"top_gradient_{arm}"] = over_seeds(
            {s: _mean(g[-1] for g in runs[arm, s][1]["gradient_norms"]) for s in seeds})
    for arm in ("post-ln", "post-ln-default"):
        metrics[f"gap_{arm.replace('-', '_')}_minus_deepnorm"] = over_seeds(
            {s: runs[arm, s][0].last("valid_loss") - runs["deepnorm", s][0].last("valid_loss") for s in seeds})
    metrics["sweep_first_seed"] = {f"{arm} lr={lr:g}": round(v, 4) for (arm, lr), v in sweep.items()}
    metrics[f"post_ln_{SHALLOW}_layers_first_seed"] = round(shallow, 4)
    return metrics


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _headline(metrics: dict) -> str:
    def mean(key: str) -> float:
        return metrics[key]["mean"]

    return (f"{metrics['layers']}-layer character transformer, lr {metrics['lr']:g}, mean of "
            f"{len(metrics['seeds'])} seeds: validation loss {mean('valid_loss_post-ln'):.2f} nats with post-LN "
            f"(unigram {metrics['unigram_loss']:.2f}), {mean('valid_loss_deepnorm'):.2f} with DeepNorm, "
            f"{mean('valid_loss_pre-ln'):.2f} with pre-LN, {mean('valid_loss_post-ln-default'):.2f} with post-LN "
            f"at PyTorch's default init; model update after {CHANGE_AT} steps "
            f"{mean(f'update_step{CHANGE_AT}_post-ln'):.2f} post-LN, {mean(f'update_step{CHANGE_AT}_deepnorm'):.2f} "
            f"DeepNorm, after {PROBE_STEPS} steps {mean(f'update_step{PROBE_STEPS}_post-ln'):.2f} and "
            f"{mean(f'update_step{PROBE_STEPS}_deepnorm'):.2f}.")


NAMES = {"post-ln": "Post-LN (Xavier)", "deepnorm": "DeepNorm", "pre-ln": "Pre-LN (Xavier)",
         "post-ln-default": "Post-LN (default init)"}


def _figure(runs: dict, seeds: list[int], metrics: dict) -> plt.Figure:
    fig, (ax_loss, ax_update, ax_change) = plt.subplots(1, 3, figsize=(16, 4.2))
    for c, arm in enumerate(ARMS):
        for k, seed in enumerate(seeds):
            history, probes = runs[arm, seed]
            label = NAMES[arm] if k == 0 else None
            ax_loss.plot(history.steps("valid_loss"), history.values("valid_loss"), color=f"C{c}", alpha=0.8,
                         label=label)
            ax_update.plot(range(1, PROBE_STEPS + 1), probes["model_update"], color=f"C{c}", alpha=0.8,
                           label=label)
            ax_change.plot(range(1, len(probes["layer_change"]) + 1), probes["layer_change"], color=f"C{c}",
                           alpha=0.8, marker=".", label=label)
    ax_loss.axhline(metrics["unigram_loss"], color="gray", linestyle="--", linewidth=0.8,
                    label="character frequencies only")
    ax_loss.set(xlabel="training step", ylabel="validation loss (nats)",
                title=f"{metrics['layers']} layers, lr {metrics['lr']:g}, warm-up {metrics['warmup']} steps")
    for step in UPDATE_AT:
        ax_update.axvline(step, color="gray", linestyle=":", linewidth=0.8)
    ax_update.set(xlabel="training step $t$", ylabel=r"RMS of $F(x, \theta_t) - F(x, \theta_0)$",
                  title=f"Model update early in training (warm-up {metrics['warmup']} steps)")
    ax_change.xaxis.get_major_locator().set_params(integer=True)
    ax_change.set(xlabel="block $l$", ylabel="relative change of the block's output",
                  title=f"Change of each block's output after {CHANGE_AT} steps")
    for ax in (ax_loss, ax_update, ax_change):
        ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
