r"""
---
title: "RoFormer: Rotary Position Embedding"
summary: Rotary position embeddings as a subclass of the project's multi-head attention, checked for exact
  relative-position scores in float64 and against labml-nn's module, and trained on the shared character
  transformer against learned and sinusoidal absolute positions, at and beyond the training length.
---

# RoFormer: Rotary Position Embedding

[Su, Lu, Pan, Murtadha, Wen, Liu, 2021. *RoFormer: Enhanced Transformer with Rotary Position Embedding*.
arXiv:2104.09864](https://arxiv.org/abs/2104.09864)

Attention compares a query with keys by dot products, and a dot product does not know where its two vectors
came from. The original Transformer therefore *adds* a vector that encodes the absolute position to each input
([sinusoidal](attention.py) or learned). The score of a query at position $m$ with a key at position $n$ then
mixes content and both absolute positions, and any preference for "the character two back" has to be learned
separately for every $m$.

RoPE puts position into the dot product itself. Split each query and key of a head, $d$ features, into $d/2$
pairs, view each pair as a point in the plane, and *rotate* it by an angle proportional to the position,
$m\theta_i$ for pair $i$, with the sinusoidal encoding's frequencies $\theta_i = 10000^{-2i/d}$. A rotation
keeps lengths, and the angle between two rotated vectors changes by the difference of the rotations. So

$$\langle R_m q, R_n k \rangle = q^\top R_{n-m} k:$$

the score depends on the content of $q$ and $k$ and on the offset $n - m$ only, never on $m$ and $n$
themselves. In the paper's complex notation (Section 3.2), pair $i$ is $z_i = x_{2i} + \mathrm{i} x_{2i+1}$,
the rotation multiplies it by $e^{\mathrm{i} m\theta_i}$, and the score is
$\mathrm{Re}\sum_i q_i \bar{k}_i e^{\mathrm{i}(m-n)\theta_i}$. Nothing is added to the input, there are no new
parameters, and values are not rotated.
[The tests](../../tests/transformers/test_rope.py) check the offset property exactly in `float64` (shifting
both positions changes the score by less than $10^{-12}$), the complex form, that norms are kept, and
agreement with labml-nn's rotary module and its rotary attention with copied weights.

*Conventions.* The paper rotates neighbouring features $(2i, 2i+1)$ (the block-diagonal matrix
$R^d_{\Theta,m}$ of its Equation 15; element-wise, its Equation 34), and so does this page.
labml-nn, like GPT-NeoX and many later code bases, rotates feature $i$ with feature $i + d/2$. The two are the
same rotation applied to features listed in another order (even ones first, then odd ones), a fixed
permutation that a learned $W^Q$ and $W^K$ absorb; the tests compare through that permutation and pin that
without it the two differ. Later models rotate only a fraction of each head's features; `rotary_fraction`
does that (labml-nn's `rope_percentage`, whose default is one half); the experiment rotates all of them, as
the paper does.

## What the experiment shows

The paper's language-model evidence is its Figure 3 (left): RoFormer's masked-LM pre-training loss falls faster
than BERT's with learned absolute positions. The miniature here is causal and tiny: the [shared character
transformer](../kit/char_transformer.py) on Shakespeare, at a smaller size than its default (width 32, 2 heads
of $d_k = 16$, so 8 frequencies per head; 2 layers; windows of 32 characters, batches of 16, 500 steps) to fit
this page's CPU budget. The [ALiBi page](alibi.py) runs the same harness at its default size (width 64, 4 heads,
batches of 32, 600 steps), so the two pages' numbers are not comparable with each other. Three arms differ only
in where position enters: rotary attention with nothing added to the input, learned absolute positions, and
fixed sinusoidal ones. Every arm's character embeddings are multiplied by $\sqrt{d_\text{model}} = \sqrt{32}$
before anything is added, as the original Transformer does (its Section 3.4), with the ALiBi page's
`ScaledEmbedding`. Without the factor the harness adds the amplitude-1 sinusoidal table to embeddings of scale
0.02, the input is almost all position, and in an earlier recording of this page the sinusoidal arm trained far
worse than the others: **the sinusoidal arm's results depend on the scale of its table against the embeddings**,
and the ones below hold for this scale only.

Each arm chose its peak learning rate from {0.003, 0.01, 0.03} in full-length runs on seed 0, by its training
loss over the last 50 steps (the chosen run is seed 0's run): 0.01 for RoPE, for learned positions and for
sinusoidal ones, inside the grid (the sinusoidal arm's losses were 2.425, 2.372 and 2.688 nats at the three
rates). Shorter runs of a third of
the steps, used by an earlier recording, picked 0.03 for sinusoidal positions, a rate that then trained far
worse over all 500 steps; hence the full-length choice. Every arm trains with Adam, GPT's warm-up (50 steps) and
cosine decay, and clipping at 1. RoPE and sinusoidal models have 27,904 parameters; the learned table adds
1,024.

**At the training length RoPE is ahead.** The validation loss over three seeds is 2.218 (2.190 to 2.247) nats
per character for RoPE, against 2.374 (2.353 to 2.388) with learned positions and 2.400 (2.369 to 2.444) with
sinusoidal ones. RoPE is ahead of learned positions on every seed, by 0.155 (0.133 to 0.170) nats. That is the
direction of the paper's Figure 3, in a setting far from it (causal, characters, 500 steps); the left panel
shows every seed's validation curve (recorded in the results). Why RoPE is ahead (an inductive bias towards
relative offsets, or simply not having to learn a position table in 500 steps) is not separated here.

**Beyond the training length neither extrapolates; RoPE degrades less at 2x, not clearly at 4x.** The paper
notes that RoPE can be applied to any length, which is true of the computation: the scores of an offset are the
same wherever it sits. Whether a model predicts well at positions and offsets it never trained on is another
matter. Read on held-out windows of 2 and 4 times the training length (64 and 128 characters), the RoPE model's
loss at the positions beyond 32 is 2.468 (2.439 to 2.492) at 2x and 2.768 (2.746 to 2.781) at 4x, against 2.297
(2.277 to 2.324) at the first 32 positions of the same 128-character windows, although the later positions have
more text before them. Sinusoidal positions: 2.880 (2.799 to 2.939) at 2x and 2.931 (2.859 to 3.019) at 4x
beyond the training length, against 2.472 (2.454 to 2.496) within it. The rise from within to beyond at 4x is
0.457/0.469/0.489 nats for RoPE on seeds 0, 1, 2 and 0.392/0.565/0.419 for sinusoidal positions: smaller for
RoPE on one seed of three at 4x, and on all three seeds at 2x (0.157/0.161/0.154 against 0.343/0.492/0.393).
RoPE's loss beyond 32 is lower in absolute terms mostly because it is lower at the training length too. Learned
positions cannot be read past 32 at all: their table has no row for position 32 (the model refuses). The right
panel shows the loss by position in 128-character windows, averaged over the seeds: after the first few
positions (little context) it is roughly flat (and noisy: 64 windows) within the training length; beyond it, the
sinusoidal model's loss jumps within a few positions, RoPE's climbs more gradually with the distance, and by 100
positions the two are alike. This matches what Press, Smith and Lewis measured at scale (the ALiBi paper,
arXiv:2108.12409, Figure 1): rotary and sinusoidal models degrade past their training length, while a bias that
penalises distance ([ALiBi](alibi.py)) keeps the loss flat. The mechanism (offsets never seen in training, or
low-frequency angles never reached) is not measured here.

![Validation loss curves, and loss by position beyond the training length](results/rope.png)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model, corpus, train_lm, validation_windows
from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.length_generalisation import validation_loss_by_position
from papers.kit.training import History
from papers.transformers.alibi import ScaledEmbedding
from papers.transformers.attention import MultiHeadAttention
from papers.transformers.gpt import gpt_schedule


# ## The angles
#
# Pair $i$ of the $d$ rotated features ($i = 0, \dots, d/2 - 1$) turns at its own frequency
# $\theta_i = b^{-2i/d}$, with base $b = 10000$: from one radian per position for $i = 0$ down to
# $b^{-(d-2)/d}$ radians per position for the last pair, the frequencies of the original Transformer's
# [sinusoidal encoding](attention.py). Position $m$ turns pair $i$ by the angle $m\theta_i$.
# `positions` `[len]` → angles `[len, d / 2]`, computed in `float64` and returned in `dtype`.
def rotation_angles(positions: torch.Tensor, dims: int, base: float = 10000.0,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    check_tensor("positions", positions, ["len"], dtype=None)
    check_even("dims", dims)
    check_positive("base", base)
    exponents = torch.arange(0, dims, 2, dtype=torch.float64, device=positions.device) / dims  # [d / 2]
    theta = base ** -exponents  # [d / 2]
    return (positions.to(torch.float64)[:, None] * theta).to(dtype)  # [len, d / 2]


def check_even(name: str, value: object) -> None:
    check_positive(name, value, integer=True)
    if value % 2 != 0:
        raise ValueError(f"{name} must be even (features are rotated in pairs), got {value}")


# ## The rotation
#
# Features $(2i, 2i+1)$ of a query or key at position $m$ are a point in the plane, rotated by $m\theta_i$:
#
# $$\begin{pmatrix} x'_{2i} \\ x'_{2i+1} \end{pmatrix} =
# \begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{pmatrix}
# \begin{pmatrix} x_{2i} \\ x_{2i+1} \end{pmatrix}.$$
#
# This is the paper's pairing (its Equation 15: neighbouring features). labml-nn pairs feature $i$ with
# feature $i + d/2$ instead; the two are the same operation on permuted features, as
# [the tests](../../tests/transformers/test_rope.py) check. The whole $d$-dimensional rotation is
# block-diagonal, $R_m = \mathrm{diag}(R(m\theta_0), \dots, R(m\theta_{d/2-1}))$, an orthogonal matrix, so
# it keeps every vector's length. It is applied with two element-wise products, never as a matrix.
#
# `x` is `[..., len, features]`; the first `dims` features (all, by default) are rotated and the others
# pass through unchanged (later models rotate a fraction of each head: GPT-NeoX rotates a quarter).
# `positions` `[len]` defaults to $0, 1, \dots, \text{len} - 1$.
def rotate(x: torch.Tensor, positions: torch.Tensor | None = None, dims: int | None = None,
           base: float = 10000.0) -> torch.Tensor:
    leading = max(getattr(x, "ndim", 2) - 2, 0)
    check_tensor("x", x, [*[None] * leading, "len", "features"])
    length, features = x.shape[-2], x.shape[-1]
    dims = features if dims is None else dims
    check_even("dims", dims)
    if dims > features:
        raise ValueError(f"dims ({dims}) must be at most the number of features ({features})")
    if positions is None:
        positions = torch.arange(length, device=x.device)
    check_tensor("positions", positions, [length], dtype=None)
    angles = rotation_angles(positions, dims, base, x.dtype)  # [len, dims / 2]
    cos, sin = angles.cos(), angles.sin()
    pairs = x[..., :dims].unflatten(-1, (dims // 2, 2))  # [..., len, dims / 2, 2]
    even, odd = pairs[..., 0], pairs[..., 1]  # [..., len, dims / 2] each
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)  # [..., len, dims / 2, 2]
    return torch.cat((rotated.flatten(-2), x[..., dims:]), dim=-1)  # [..., len, features]


# ## Rotary attention
#
# The score of query $q$ at position $m$ and key $k$ at position $n$ is
#
# $$\langle R_m q, R_n k \rangle = q^\top R_m^\top R_n k = q^\top R_{n-m}\, k,$$
#
# since rotations by angles compose by adding them and $R_m^\top = R_{-m}$. The absolute positions cancel
# and only the offset $n - m$ is left. In the complex view of the paper (Section 3.2), pair $i$ is the
# complex number $z_i = x_{2i} + \mathrm{i}\, x_{2i+1}$ and the rotation is a multiplication,
# $z_i \mapsto z_i e^{\mathrm{i} m\theta_i}$. The score is the real part of a sum of products with
# conjugates,
#
# $$\langle R_m q, R_n k \rangle = \mathrm{Re} \sum_i q_i e^{\mathrm{i} m\theta_i}
# \overline{k_i e^{\mathrm{i} n\theta_i}} = \mathrm{Re} \sum_i q_i \bar{k}_i e^{\mathrm{i}(m-n)\theta_i},$$
#
# a function of the content, $q_i \bar{k}_i$, and of $m - n$ alone. Unlike absolute positions added to the
# input, nothing here depends on where the pair of positions sits in the sequence, so the same scores
# come out at positions the model never trained on; whether the *model* then predicts well there is a
# separate question, which the experiment asks.
#
# Only queries and keys are rotated, after the projections and the split into heads; values are not, so
# the output is a weighted average of unrotated values. The rotation sits in `_attend`, before the parent's
# attention, so the project's [multi-head attention](attention.py) does the rest, fused kernel included.
# `rotary_fraction` of each head's $d_k$ features are rotated (rounded down to an even number, at least 2).
class RotaryAttention(MultiHeadAttention):
    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True,
                 rotary_fraction: float = 1.0, base: float = 10000.0):
        super().__init__(d_model, heads, dropout, bias)
        check_in_range("rotary_fraction", rotary_fraction, 0, 1, low_open=True)
        check_positive("base", base)
        self.rotary_dims = 2 * int(self.d_k * rotary_fraction / 2)
        if self.rotary_dims == 0:
            raise ValueError(f"rotary_fraction {rotary_fraction} rotates no pair of the {self.d_k} features "
                             f"of a head")
        self.base = base

    # `q`, `k`, `v` are `[batch, heads, len, d_k]`: queries and keys sit at the same positions
    # $0, \dots, \text{len} - 1$ (self-attention over one sequence).
    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        if q.shape[-2] != k.shape[-2]:
            raise ValueError(f"rotary attention needs queries and keys at the same positions, got "
                             f"{q.shape[-2]} queries and {k.shape[-2]} keys")
        q = rotate(q, dims=self.rotary_dims, base=self.base)
        k = rotate(k, dims=self.rotary_dims, base=self.base)
        return super()._attend(q, k, v, mask)


# ## The block for the shared harness
#
# The [shared character transformer](../kit/char_transformer.py)'s block with its attention replaced;
# the model is built with `positions="none"`, so rotary attention is its only source of word order.
class RotaryBlock(Block):
    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
        super().__init__(d_model, heads, d_ff, pre_norm)
        self.attention = RotaryAttention(d_model, heads)


# ## The experiment
#
# Three arms on the shared harness, identical but for where position enters: rotary attention (no
# positions added to the input), learned absolute positions (the harness's default) and the fixed
# sinusoidal ones. Every arm's token embeddings are multiplied by $\sqrt{d_\text{model}}$, with the
# [ALiBi page's](alibi.py) `ScaledEmbedding` (the output layer, tied to the same matrix, reads it unscaled).
# Adam with the [GPT schedule](gpt.py) (linear warm-up, cosine decay) and gradient clipping. Each arm
# picks its peak learning rate from the same grid on the first seed, in full-length runs, by the mean
# training loss of their last 50 steps; the chosen rate then trains the other seeds. The sizes are the
# `QUICK` ones of the tests with 500 steps: smaller than the harness's default, to fit the CPU budget.
# Each trained model is then read at the training length and at 2 and 4 times it.
QUICK = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, steps=300, eval_every=50,
                   eval_windows=32, max_chars=200_000)
FULL = QUICK.but(steps=500, eval_windows=64, max_chars=1_000_000)
ARMS = ("rope", "learned", "sinusoidal")
RATES = (0.003, 0.01, 0.03)
WARMUP = 50
CLIP_NORM = 1.0
CHOICE_STEPS = 50
STRETCH = (2, 4)


def build_arm(arm: str, settings: LMSettings, seed: int) -> nn.Module:
    if arm == "rope":
        model = build_model(settings.but(positions="none"), seed, block=RotaryBlock)
    else:
        longest = settings.seq_len * max(STRETCH) if arm == "sinusoidal" else settings.seq_len
        model = build_model(settings.but(positions=arm), seed, max_len=longest)
    model.embedding = ScaledEmbedding(model.embedding.weight, math.sqrt(settings.d_model))
    return model


# The mean next-character loss (nats) at each position of `settings.eval_windows` held-out windows of
# `length` characters, `[length]`, from the kit's [loss by position](../kit/length_generalisation.py).
def loss_by_position(model: nn.Module, length: int, settings: LMSettings) -> torch.Tensor:
    windows = validation_windows(corpus(settings.max_chars).valid, length, settings.eval_windows)
    return validation_loss_by_position(model, windows)


def train_arm(arm: str, settings: LMSettings, seed: int, lr: float) -> tuple[nn.Module, History]:
    model = build_arm(arm, settings, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(lr, WARMUP, settings.steps),
                       clip_norm=CLIP_NORM)
    return model, history


# The rate is chosen in full-length runs on the first seed (shorter runs misled: they favoured rates that
# then trained worse over all the steps); the chosen run is kept as that seed's run.
def choose_rate(arm: str, settings: LMSettings, seed: int,
                rates: tuple[float, ...]) -> tuple[float, dict, tuple[nn.Module, History]]:
    trials = {lr: train_arm(arm, settings, seed, lr) for lr in rates}
    sweep = {lr: _mean(history.values("loss")[-CHOICE_STEPS:]) for lr, (_, history) in trials.items()}
    best = min(sweep, key=sweep.get)
    return best, sweep, trials[best]


# The losses of one trained model: at the training length, and for each stretch, the mean over the
# positions beyond the training length and over the whole window (arms whose positions reach that far).
def length_losses(arm: str, model: nn.Module, settings: LMSettings) -> dict[str, list[float]]:
    losses = {"1": loss_by_position(model, settings.seq_len, settings).tolist()}
    if arm != "learned":
        for stretch in STRETCH:
            losses[str(stretch)] = loss_by_position(model, stretch * settings.seq_len, settings).tolist()
    return losses


def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    rates, sweeps, runs = {}, {}, {}
    for arm in ARMS:
        rates[arm], sweeps[arm], first = choose_rate(arm, settings, seeds[0], config.choose(RATES, RATES[1:2]))
        runs[arm] = {}
        for seed in seeds:
            model, history = first if seed == seeds[0] else train_arm(arm, settings, seed, rates[arm])
            runs[arm][seed] = {"history": history, "losses": length_losses(arm, model, settings),
                               "parameters": sum(p.numel() for p in model.parameters())}
    metrics = _metrics(runs, rates, sweeps, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, metrics)})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _metrics(runs: dict, rates: dict, sweeps: dict, settings: LMSettings, seeds: list[int]) -> dict:
    train_len = settings.seq_len
    metrics: dict = {"seeds": seeds, "steps": settings.steps, "seq_len": train_len, "rates": list(RATES),
                     "sweep_steps": settings.steps, "warmup": WARMUP}
    for arm in ARMS:
        metrics[f"{arm}_lr"] = rates[arm]
        metrics[f"{arm}_sweep"] = {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()}
        metrics[f"{arm}_valid"] = over_seeds({s: runs[arm][s]["history"].last("valid_loss") for s in seeds})
        metrics[f"{arm}_parameters"] = runs[arm][seeds[0]]["parameters"]
        metrics[f"{arm}_curves"] = {"steps": runs[arm][seeds[0]]["history"].steps("valid_loss"),
                                    **{str(s): [round(v, 4) for v in runs[arm][s]["history"].values("valid_loss")]
                                       for s in seeds}}
    metrics["learned_minus_rope"] = over_seeds({s: runs["learned"][s]["history"].last("valid_loss")
                                                - runs["rope"][s]["history"].last("valid_loss") for s in seeds})
    for arm in ("rope", "sinusoidal"):
        for stretch in STRETCH:
            per_seed = {s: runs[arm][s]["losses"][str(stretch)] for s in seeds}
            metrics[f"{arm}_{stretch}x_beyond"] = over_seeds({s: _mean(v[train_len:]) for s, v in per_seed.items()})
            metrics[f"{arm}_{stretch}x_mean"] = over_seeds({s: _mean(v) for s, v in per_seed.items()})
            metrics[f"{arm}_{stretch}x_within"] = over_seeds({s: _mean(v[:train_len])
                                                              for s, v in per_seed.items()})
            metrics[f"{arm}_{stretch}x_rise"] = over_seeds({s: _mean(v[train_len:]) - _mean(v[:train_len])
                                                            for s, v in per_seed.items()})
        metrics[f"{arm}_by_position_4x"] = [round(_mean([runs[arm][s]["losses"][str(max(STRETCH))][t]
                                                         for s in seeds]), 4)
                                            for t in range(max(STRETCH) * train_len)]
    for stretch in STRETCH:
        rises = {arm: metrics[f"{arm}_{stretch}x_rise"]["per_seed"] for arm in ("rope", "sinusoidal")}
        metrics[f"rope_smaller_rise_{stretch}x"] = sum(rises["rope"][str(s)] < rises["sinusoidal"][str(s)]
                                                       for s in seeds)
    metrics["embedding_scale"] = math.sqrt(settings.d_model)
    return metrics


def _headline(metrics: dict) -> str:
    rope, learned = metrics["rope_valid"], metrics["learned_valid"]
    return (f"Validation loss at the training length {metrics['seq_len']}: RoPE {rope['mean']:.3f} nats "
            f"(lr {metrics['rope_lr']:g}), learned positions {learned['mean']:.3f} (lr {metrics['learned_lr']:g}), "
            f"mean of {len(metrics['seeds'])} seeds; at 4x the length, beyond the training positions: RoPE "
            f"{metrics['rope_4x_beyond']['mean']:.3f}, sinusoidal {metrics['sinusoidal_4x_beyond']['mean']:.3f}")


def _figure(runs: dict, metrics: dict) -> Figure:
    fig, (ax_curve, ax_position) = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, arm in enumerate(ARMS):
        for j, (seed, run) in enumerate(runs[arm].items()):
            history = run["history"]
            ax_curve.plot(history.steps("valid_loss"), history.values("valid_loss"), color=f"C{i}",
                          alpha=0.8, linewidth=1.2, label=f"{arm} (lr {metrics[f'{arm}_lr']:g})" if j == 0 else None,
                          marker="." if seed == metrics["seeds"][0] else None)
    ax_curve.set(xlabel="training step", ylabel="validation loss (nats / char)", ylim=(2.0, 3.4),
                 title=f"Validation loss at the training length {metrics['seq_len']}, each seed")
    ax_curve.legend()
    train_len = metrics["seq_len"]
    for i, arm in enumerate(ARMS):
        if arm == "learned":
            continue
        by_position = metrics[f"{arm}_by_position_4x"]
        ax_position.plot(range(len(by_position)), by_position, color=f"C{i}", label=arm)
    ax_position.axvline(train_len - 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax_position.text(train_len, ax_position.get_ylim()[1], " training length", va="top", color="grey")
    ax_position.set(xlabel="position in the window", ylabel="validation loss (nats / char), mean of seeds",
                    title=f"Loss by position in windows of {max(STRETCH) * train_len} characters")
    ax_position.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
