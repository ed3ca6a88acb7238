r"""
---
title: "Train Short, Test Long: Attention with Linear Biases (ALiBi)"
summary: Head-specific linear penalties on attention scores instead of position embeddings, checked against
  labml-nn's ALiBi and a loop over query and key; a small character model trained on 32 characters and
  measured on windows of 32, 64 and 128 against sinusoidal positions, over three seeds.
---

# Train Short, Test Long: Attention with Linear Biases

[Press, Smith, Lewis, 2021. *Train Short, Test Long: Attention with Linear Biases Enables Input Length
Extrapolation*. arXiv:2108.12409](https://arxiv.org/abs/2108.12409) (ICLR 2022)

A transformer language model is trained on windows of some length $L$, because attention's cost grows with
the square of the length. Can it then *read* longer windows than it was trained on? With learned position
embeddings, no: there is no embedding for position $L$. With the fixed sinusoidal positions of
[the original Transformer](attention.py) every position has a vector, and the hope was that a model would
carry on past $L$; the paper shows that it does not (its Figure 1): the perplexity of a sinusoidal model
climbs as soon as the evaluation window exceeds the training length.

ALiBi (Attention with Linear Biases) adds no position to the embeddings at all. Instead each attention score
is penalised in proportion to the distance between query and key:

$$\mathrm{softmax}\Big(\frac{q_i K^\top}{\sqrt{d_k}} + m_h \cdot \big[-(i - 1), \dots, -2, -1, 0\big]\Big),$$

for query $i$ over keys $1, \dots, i$, with a fixed slope $m_h$ per head, from $\frac12$ down to
$\frac1{256}$ for 8 heads. Recent keys are favoured, the more so the steeper the head; since the penalty
depends only on the distance $i - j$, a longer window brings nothing new but more, and more heavily
penalised, distant keys. The paper's headline: a 1.3 B-parameter model trained on 1,024 tokens and evaluated
on 2,048 matches the perplexity of a sinusoidal model trained on 2,048, training 11% faster with 11% less
memory.

This page implements the [slopes](#the-slopes), the [biases](#the-biases) and
[attention with them](#attention-with-the-biases), as a subclass of the project's
[multi-head attention](attention.py) that replaces only its `_attend`, and a block for
[the shared character-model harness](../kit/char_transformer.py), run with `positions="none"`.
[The tests](../../tests/transformers/test_alibi.py) check the slopes against the paper's rule (transcribed
from its released code) and against labml-nn's `get_slopes`, the attention weights against a loop over
$(i, j)$ in `float64`, the whole attention against labml-nn's `AlibiMultiHeadAttention` with copied weights
(labml-nn adds $+m_h$ times the number of visible keys up to $j$ rather than $-m_h (i - j)$; the two differ
by a constant in each query's row, which the softmax ignores, and the test pins that the outputs agree),
that the scores between two vectors are unchanged when both move by the same offset, that PyTorch's
fused kernel with the biases as a float mask gives the step-by-step result, and that a mask letting a query
see later keys is rejected.

## What the experiment shows

The set-up: [the harness](../kit/char_transformer.py)'s model (2 layers, $d_\text{model} = 64$, 4 heads, so
slopes $\frac14, \frac1{16}, \frac1{64}, \frac1{256}$), trained for 600 steps of Adam at a constant rate on
batches of 32 random windows of $L = 32$ characters of Shakespeare. Three arms differ only in position:
ALiBi (no position in the embeddings), the fixed sinusoidal table, and learned positions. Each arm tried the
rates $10^{-3}$, $3 \cdot 10^{-3}$ and $10^{-2}$ on the first seed with 300 steps and kept the one with the
lowest held-out loss at length $L$ (all three chose $3 \cdot 10^{-3}$; right panel); then three seeds each.
Every arm's embeddings are multiplied by $\sqrt{d_\text{model}} = 8$ ([why](#a-fair-embedding-scale)).
The held-out loss is measured on 256 windows of $L$, $2L$ and $4L$ characters spread evenly over the
held-out text, each read from a blank context. As in the paper's non-overlapping evaluation every window
starts with no history, but these are 256 sample windows, not the text cut into consecutive pieces, and
their starts depend on the length, so the windows of $L$ and of $4L$ are different text. The rates were
chosen on the same 256 windows of $L$ (there is no separate validation split).

**Trained on 32 characters, ALiBi reads 64 and 128 at no loss; sinusoidal positions break.** Mean over
three seeds (range in brackets), in nats per character:

| | at $L = 32$ | at $2L = 64$ | at $4L = 128$ | positions $\ge L$ of $2L$ | positions $\ge L$ of $4L$ |
|---|---|---|---|---|---|
| ALiBi | 2.153 (2.144 to 2.159) | 2.139 | 2.143 | 2.126 | 2.130 (2.121 to 2.137) |
| sinusoidal | 2.142 (2.117 to 2.155) | 2.699 | 2.973 | 3.248 | 3.237 (3.167 to 3.281) |
| learned | 2.156 (2.151 to 2.164) | | | | |

At the training length the three arms are within 0.015 nats of each other (the sinusoidal arm, with the
scaled embeddings, trains as well as the others). Beyond it, ALiBi's loss is flat, to within 0.03 nats on
every seed. Compared within the same windows of 128: positions 32 to 127 average 2.130, against 2.142 on
positions 16 to 31, a difference -0.012 (-0.030 to -0.001) over the seeds; in the windows of 64 the same
difference is +0.007 (-0.005 to +0.015). Its mean over whole windows is a little lower at $2L$ and $4L$
than at $L$ (table), which is not the model reading better past $L$: those are different windows of text,
and the first positions of each window have almost no context (in the windows of 128, ALiBi's loss is
2.74 at position 0 alone, averaged over the seeds), so a longer window, with a smaller share of them,
averages lower. The paper's Figure 1 shows ALiBi's perplexity falling as the evaluation window grows past
$L$, and its own analysis (Appendix B.2, "Extrapolation reduces the early token curse") attributes the
gain to this effect, not to use of the longer history: ALiBi "might not be using contexts longer than the
ones it was trained on". The flat profile here agrees with that; the page does not measure use of context
beyond $L$. The sinusoidal model's loss past position 32 is 1.098 nats higher than on positions 16 to 31
of the same windows (1.022 to 1.170): in the left panel it jumps at position 32, the first it never
trained on, and stays high at every later position. The mean over a whole
window (middle panel, solid lines) hides part of this, since it mixes in the first 32 positions the model
was trained on; the dashed lines are the positions past $L$ only.

What this does and does not show. It is the paper's Figure 1 in miniature, with characters instead of
words, 0.1 M parameters instead of 247 M, a training length of 32 instead of 512, and evaluation to 4
times that length rather than the paper's up to about 30 times; the paper's sliding-window evaluation and
its speed and memory comparison are not reproduced. The learned-position arm cannot be run past $L$ at all (it has no
embedding there) and is shown at $L$ only. Why the sinusoidal model fails past $L$ (positions it never saw
produce inputs it never saw) is the paper's reading; it is not measured here. With the harness's
unscaled embeddings the sinusoidal arm trains worse even at $L$ (2.510 against 2.155 on the first seed, see
[the scale](#a-fair-embedding-scale)), so the comparison depends on that fix being applied, equally, to all
three arms.

![Held-out loss by position and by window length, ALiBi and sinusoidal, and the rate sweep](results/alibi.png)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.ticker import NullFormatter
from torch import nn

from papers.kit.char_transformer import (Block, CharTransformer, LMSettings, build_model, corpus, train_lm,
                                         validation_windows)
from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.length_generalisation import validation_loss_by_position
from papers.transformers.attention import MultiHeadAttention


# ## The slopes
#
# Head $h$ of $n$ (counting from 1) gets the slope $m_h = 2^{-8h/n}$: a geometric sequence that starts at
# $2^{-8/n}$ and has that same ratio, so for 8 heads the slopes are $\frac12, \frac14, \dots, \frac1{256}$
# and for 4 heads $\frac14, \frac1{16}, \frac1{64}, \frac1{256}$. The last head's slope is always
# $2^{-8}$. For $n$ not a power of two the rule of the paper's released code takes the
# $2^{\lfloor \log_2 n \rfloor}$ slopes of the nearest smaller power of two, $c$, and fills the remaining
# $n - c$ heads with every other slope of the sequence for $2c$ heads, the odd ones $2^{-8k/(2c)}$ for
# $k = 1, 3, 5, \dots$, which fall halfway (geometrically) between the slopes already taken. For 6 heads:
# $2^{-2}, 2^{-4}, 2^{-6}, 2^{-8}$ and then $2^{-1}, 2^{-3}$.
#
# Returns `[heads]` in `float64`.
def alibi_slopes(heads: int) -> torch.Tensor:
    check_positive("heads", heads, integer=True)
    power = 2 ** int(math.floor(math.log2(heads)))  # the largest power of two <= heads
    exponents = [8 * k / power for k in range(1, power + 1)]
    exponents += [8 * k / (2 * power) for k in range(1, 2 * (heads - power), 2)]
    return torch.tensor([2.0 ** -e for e in exponents], dtype=torch.float64)


# ## The biases
#
# Query $i$ looking at key $j \le i$ gets, in head $h$, the score
#
# $$s_{h, i, j} = \frac{q_i \cdot k_j}{\sqrt{d_k}} - m_h\,(i - j).$$
#
# The penalty grows linearly with the distance $i - j$: a key one step back costs $m_h$ in logit, ten
# steps back $10\,m_h$. A head with slope $\frac14$ is short-sighted (a key 20 steps back is down by a
# factor $e^{-5}$ against an equal-scoring key at the query itself); a head with slope $\frac1{256}$ barely
# discounts anything within a few hundred steps. No position is added to the embeddings: the biases are all
# the position information the model has. They depend on $i - j$ only, so shifting a window changes
# nothing, and a distance the model never saw in training gets a larger penalty of the same form rather
# than an embedding it never learned.
#
# The matrix `[heads, q_len, k_len]` of $-m_h (i - j)$; the queries are the *last* `q_len` of the `k_len`
# positions (query $i$ sits at position $k_\text{len} - q_\text{len} + i$), which is self-attention when the
# lengths are equal. Entries with $j > i$ come out positive; the causal mask removes them.
def alibi_bias(slopes: torch.Tensor, q_len: int, k_len: int) -> torch.Tensor:
    check_tensor("slopes", slopes, ["heads"], dtype=None)
    check_positive("q_len", q_len, integer=True)
    check_positive("k_len", k_len, integer=True)
    if q_len > k_len:
        raise ValueError(f"q_len ({q_len}) must not exceed k_len ({k_len}): queries are the last positions")
    query_position = torch.arange(k_len - q_len, k_len, device=slopes.device, dtype=slopes.dtype)  # [q_len]
    key_position = torch.arange(k_len, device=slopes.device, dtype=slopes.dtype)  # [k_len]
    distance = query_position[:, None] - key_position[None, :]  # [q_len, k_len], i - j
    return -slopes[:, None, None] * distance  # [heads, q_len, k_len]


# ## Attention with the biases
#
# The step-by-step equation, as [scaled dot-product attention](attention.py) with one term added: scores
# plus biases, masked keys set to the lowest finite number (so they get exactly zero weight), the softmax
# over keys, and a query that sees no key at all gets zero weights and a zero output, the project's
# convention. `bias` is `[heads, q_len, k_len]`; the rest as in the project's attention. Returns the output
# `[batch, heads, q_len, d_k]` and the weights `[batch, heads, q_len, k_len]`.
def biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     mask: torch.Tensor, dropout: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1) + bias  # [batch, heads, q_len, k_len]
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1).masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    return dropout(weights) @ v, weights


# `AlibiAttention` is the project's [multi-head attention](attention.py) (its projections, head split and
# output projection) with only `_attend` replaced. On the fused path the biases go to PyTorch's
# `F.scaled_dot_product_attention` as a *float* mask, added to the scores: the bias where a key is allowed,
# the lowest finite number where it is not. A float mask cannot say "no key at all" (such a row would
# spread its weight evenly over the masked keys), so rows whose mask is empty are zeroed afterwards, as on
# the step-by-step path. The slopes are fixed, not learned (the paper's choice: in its early
# experiments trainable slopes did not extrapolate well), and recomputed in `float64` on the inputs'
# device at every call (a few numbers), so a `float64` model gets exact slopes. ALiBi is a causal
# scheme: the mask is required, and it must be causal. The bias $-m_h (i - j)$ is *positive* for a key
# after its query ($j > i$), growing with the distance, so a mask that let queries see later keys would
# favour the farthest future keys; such a mask (any allowed entry with $j > i$) is rejected with an error
# rather than silently giving that. (On the meta device, which has no values, the check is skipped.)
class AlibiAttention(MultiHeadAttention):
    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            raise ValueError("ALiBi attention needs a mask (True = may attend), normally the causal mask")
        slopes = alibi_slopes(self.heads).to(q.device)  # [heads]
        bias = alibi_bias(slopes, q.shape[-2], k.shape[-2]).to(q.dtype)  # [heads, q_len, k_len]
        if not mask.is_meta and (mask & (bias > 0)).any():  # a later key allowed: its bias would be a bonus
            raise ValueError("ALiBi attention needs a causal mask: no query may attend to a later key")
        if self.fused and not self.keep_weights:
            float_mask = bias.masked_fill(~mask, torch.finfo(q.dtype).min)  # [batch or 1, heads, q_len, k_len]
            dropout = self.dropout.p if self.training else 0.0
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask, dropout_p=dropout)
            return heads.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
        heads, weights = biased_attention(q, k, v, bias, mask, self.dropout)
        if self.keep_weights:
            self.weights = weights.detach()
        return heads


# The harness's [block](../kit/char_transformer.py) with its attention replaced; build the model with
# `positions="none"`, since the biases carry all the order.
class AlibiBlock(Block):
    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
        super().__init__(d_model, heads, d_ff, pre_norm)
        self.attention = AlibiAttention(d_model, heads)


# ## A fair embedding scale
#
# The harness starts token embeddings at $\mathcal{N}(0, 0.02^2)$, and its sinusoidal table has amplitude 1,
# so at the start the sum $E[x] + P$ is almost all position. The original Transformer multiplies the
# embeddings by $\sqrt{d_\text{model}}$ before adding the sinusoids (its Section 3.4), a factor 8 at
# $d_\text{model} = 64$. The recorded run has a control: the sinusoidal arm with the harness's unscaled
# embeddings, trained on the first seed only (one seed: a control, not a comparison), at the rate the scaled
# arm chose and the full 600 steps, reaches 2.510 nats at $L$, against 2.155 for the scaled
# sinusoidal arm on the same seed. The scaled embeddings, of standard deviation 0.16, are still smaller
# than the table; they are enough here. The paper's code builds on fairseq's `transformer_lm`, whose
# decoder multiplies token embeddings by $\sqrt{d}$ unless `no_scale_embedding` is set (it is not by
# default), so the factor is likely part of the paper's set-up too; whether its WikiText-103 models, which
# use adaptive input embeddings, go through the same scaling was not checked here.
# To keep the arms equal, *every* arm gets the same factor (for ALiBi, with nothing to add, it only sets
# the embeddings' size against the blocks' updates). The
# output layer, tied to the same matrix, reads it unscaled. The factor is a number this page chose, from
# the paper it cites, not tuned.
class ScaledEmbedding(nn.Embedding):
    def __init__(self, weight: nn.Parameter, scale: float):
        super().__init__(*weight.shape)
        check_positive("scale", scale)
        self.weight = weight  # the model's own embedding matrix, shared with its output layer
        self.scale = scale

    # `tokens` `[batch, seq]` → `[batch, seq, d_model]`.
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # pylint: disable=arguments-renamed
        return super().forward(tokens) * self.scale


# ## The experiment
#
# Three arms, one harness: ALiBi (`positions="none"`, [`AlibiBlock`](#attention-with-the-biases)), fixed
# sinusoidal positions and learned positions, each with its embeddings scaled by $\sqrt{d_\text{model}}$.
# All are trained on windows of $L$ characters; the sinusoidal table is built for $4L$ positions, so
# the same model can be run on longer windows (its first $L$ rows are the ones it trained with). A
# learned table has nothing for positions it never trained, so that arm is measured at $L$ only.
ARMS = {"alibi": ("none", AlibiBlock), "sinusoidal": ("sinusoidal", Block), "learned": ("learned", Block)}
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
LENGTHS = (1, 2, 4)  # evaluation windows, in multiples of the training length


def build_arm(arm: str, settings: LMSettings, seed: int, scaled: bool = True) -> CharTransformer:
    positions, block = ARMS[arm]
    longest = settings.seq_len * (max(LENGTHS) if arm == "sinusoidal" else 1)
    model = build_model(settings.but(positions=positions), seed, block=block, max_len=longest)
    if scaled:
        model.embedding = ScaledEmbedding(model.embedding.weight, math.sqrt(settings.d_model))
    return model


def train_arm(arm: str, settings: LMSettings, seed: int, lr: float, scaled: bool = True) -> CharTransformer:
    model = build_arm(arm, settings, seed, scaled)
    train_lm(model, torch.optim.Adam(model.parameters(), lr=lr), settings, seed)
    return model


# Each arm's measurements, from [the kit's loss by position](../kit/length_generalisation.py) on `count`
# held-out windows of $L$, $2L$, $4L$ characters (`[length]` each, nats): the mean over the window
# (`loss_1x`, ...), the mean over the positions beyond $L$ (`beyond_2x`, `beyond_4x`), the mean over
# positions $[L/2, L)$ of the *same* longer windows (`before_2x`, `before_4x`; the comparison with the
# positions beyond $L$ is then on the same text), and the profile by position at $4L$.
def measure(model: nn.Module, arm: str, settings: LMSettings, count: int) -> dict:
    lengths = LENGTHS if arm != "learned" else (1,)
    length, result = settings.seq_len, {}
    for factor in lengths:
        windows = validation_windows(corpus(settings.max_chars).valid, factor * length, count)
        profile = validation_loss_by_position(model, windows)  # [factor * length]
        result[f"loss_{factor}x"] = profile.mean().item()
        if factor > 1:
            result[f"beyond_{factor}x"] = profile[length:].mean().item()
            result[f"before_{factor}x"] = profile[length // 2:length].mean().item()
            result["profile"] = profile.tolist()
    return result


# The rate: each arm tries the same three on the first seed with half the steps, and keeps the one with the
# lowest held-out loss at the training length $L$ (so the choice does not look at the longer windows).
def choose_rate(arm: str, settings: LMSettings, seed: int, count: int) -> tuple[float, dict[str, float]]:
    short = settings.but(steps=settings.steps // 2)
    sweep = {lr: measure(train_arm(arm, short, seed, lr), "learned", short, count)["loss_1x"]
             for lr in LEARNING_RATES}
    return min(sweep, key=sweep.get), {str(lr): round(loss, 4) for lr, loss in sweep.items()}


def experiment(config: RunConfig) -> Outcome:
    settings = LMSettings(seq_len=config.choose(32, 16), steps=config.train_steps(600, 250))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    count = config.choose(256, 64)
    runs: dict = {}
    for arm in ARMS:
        lr, sweep = choose_rate(arm, settings, seeds[0], count)
        runs[arm] = {"lr": lr, "sweep": sweep,
                     "seeds": {seed: measure(train_arm(arm, settings, seed, lr), arm, settings, count)
                               for seed in seeds}}
    metrics = _metrics(runs, settings, seeds, count)
    unscaled = train_arm("sinusoidal", settings, seeds[0], runs["sinusoidal"]["lr"], scaled=False)
    metrics["sinusoidal_unscaled_loss_1x_first_seed"] = measure(unscaled, "learned", settings, count)["loss_1x"]
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


def _metrics(runs: dict, settings: LMSettings, seeds: list[int], count: int) -> dict:
    metrics: dict = {"seeds": seeds, "seq_len": settings.seq_len, "steps": settings.steps,
                     "eval_windows": count, "embedding_scale": math.sqrt(settings.d_model),
                     "learning_rates": list(LEARNING_RATES)}
    for arm, run in runs.items():
        metrics[f"{arm}_lr"] = run["lr"]
        metrics[f"{arm}_sweep"] = run["sweep"]
        for key in run["seeds"][seeds[0]]:
            if key != "profile":
                metrics[f"{arm}_{key}"] = over_seeds({seed: m[key] for seed, m in run["seeds"].items()})
        for factor in LENGTHS[1:]:
            if f"beyond_{factor}x" in run["seeds"][seeds[0]]:
                metrics[f"{arm}_beyond_{factor}x_minus_1x"] = over_seeds(
                    {seed: m[f"beyond_{factor}x"] - m["loss_1x"] for seed, m in run["seeds"].items()})
                metrics[f"{arm}_beyond_{factor}x_minus_before"] = over_seeds(
                    {seed: m[f"beyond_{factor}x"] - m[f"before_{factor}x"] for seed, m in run["seeds"].items()})
        if "profile" in run["seeds"][seeds[0]]:
            profiles = torch.tensor([m["profile"] for m in run["seeds"].values()])  # [seeds, 4L]
            metrics[f"{arm}_profile_mean"] = [round(x, 4) for x in profiles.mean(0).tolist()]
            metrics[f"{arm}_profile_min"] = [round(x, 4) for x in profiles.min(0).values.tolist()]
            metrics[f"{arm}_profile_max"] = [round(x, 4) for x in profiles.max(0).values.tolist()]
    return metrics


def _headline(metrics: dict) -> str:
    def mean(key: str) -> float:
        return metrics[key]["mean"]

    length = metrics["seq_len"]
    return (f"Trained on {length} characters, mean of {len(metrics['seeds'])} seeds, held-out loss (nats) at "
            f"{length}/{2 * length}/{4 * length} characters: ALiBi {mean('alibi_loss_1x'):.3f}/"
            f"{mean('alibi_loss_2x'):.3f}/{mean('alibi_loss_4x'):.3f}, sinusoidal {mean('sinusoidal_loss_1x'):.3f}/"
            f"{mean('sinusoidal_loss_2x'):.3f}/{mean('sinusoidal_loss_4x'):.3f}; on positions beyond {length} "
            f"of the {4 * length}-character windows: ALiBi {mean('alibi_beyond_4x'):.3f} (against "
            f"{mean('alibi_before_4x'):.3f} on positions {length // 2} to {length - 1} of the same windows), "
            f"sinusoidal {mean('sinusoidal_beyond_4x'):.3f} (against {mean('sinusoidal_before_4x'):.3f}); "
            f"learned positions at {length}: {mean('learned_loss_1x'):.3f}.")


def _figure(metrics: dict) -> plt.Figure:
    fig, (ax_position, ax_length, ax_sweep) = plt.subplots(1, 3, figsize=(16, 4.5))
    length, labels = metrics["seq_len"], {"alibi": "ALiBi", "sinusoidal": "sinusoidal", "learned": "learned"}
    for i, arm in enumerate(("alibi", "sinusoidal")):
        mean = metrics[f"{arm}_profile_mean"]
        positions = range(len(mean))
        ax_position.plot(positions, mean, color=f"C{i}", label=f"{labels[arm]} (mean of seeds)")
        ax_position.fill_between(positions, metrics[f"{arm}_profile_min"], metrics[f"{arm}_profile_max"],
                                 color=f"C{i}", alpha=0.25, linewidth=0)
        factors = [f for f in LENGTHS if f"{arm}_loss_{f}x" in metrics]
        for key, style in (("loss", "-o"), ("beyond", "--s")):
            shown = [f for f in factors if f"{arm}_{key}_{f}x" in metrics]
            values = [metrics[f"{arm}_{key}_{f}x"] for f in shown]
            ax_length.errorbar(shown, [v["mean"] for v in values],
                               yerr=[[v["mean"] - v["min"] for v in values],
                                     [v["max"] - v["mean"] for v in values]],
                               fmt=style, color=f"C{i}", capsize=3,
                               label=f"{labels[arm]}, {'whole window' if key == 'loss' else f'positions ≥ {length}'}")
    learned = metrics["learned_loss_1x"]
    ax_length.errorbar([1], [learned["mean"]],
                       yerr=[[learned["mean"] - learned["min"]], [learned["max"] - learned["mean"]]], fmt="^",
                       color="C2", capsize=3, label="learned (length L only)")
    ax_position.axvline(length - 0.5, color="grey", linestyle=":", label=f"training length L = {length}")
    ax_position.set(xlabel="position in a window of 4L characters", ylabel="held-out loss (nats)",
                    title="Loss by position (band: min to max over seeds)")
    ax_position.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
    ax_length.set(xscale="log", xticks=list(LENGTHS), xticklabels=[f"{f}L" for f in LENGTHS],
                  xlabel="evaluation window", ylabel="held-out loss (nats)", title="Loss by window length")
    ax_length.xaxis.set_minor_formatter(NullFormatter())
    ax_length.legend(fontsize=8)
    for i, arm in enumerate(ARMS):
        sweep = metrics[f"{arm}_sweep"]
        ax_sweep.plot([float(lr) for lr in sweep], list(sweep.values()), "-o", color=f"C{i}", label=labels[arm])
    ax_sweep.set(xscale="log", xlabel="learning rate (Adam)",
                 ylabel=f"held-out loss at L, {metrics['steps'] // 2} steps", title="Rate sweep, first seed")
    ax_sweep.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
