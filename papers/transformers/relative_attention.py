r"""
---
title: Self-Attention with Relative Position Representations
summary: Shaw et al.'s relative attention (learned, clipped offset vectors on keys and values, no position
  vectors on the inputs), checked against a loop over the paper's equations and exactly invariant to shifting
  all positions; trained on 32 characters and read on 128, its loss beyond the training length rises 0.04
  nats above the loss earlier in the same windows, against 0.80 for sinusoidal absolute positions.
---

# Self-Attention with Relative Position Representations

[Shaw, Uszkoreit, Vaswani, 2018. *Self-Attention with Relative Position Representations*. NAACL
2018](https://arxiv.org/abs/1803.02155)

Attention by itself does not know the order of its inputs: permute the keys and values together and the
output does not change. The original Transformer adds a vector for each absolute position $0, 1, 2, \dots$
to the input embeddings ([sinusoids or learned ones](attention.py)). Shaw et al. instead tell each
attention *how far apart* the two positions are. For the pair $(i, j)$ they add a learned vector
$a^K_{ij}$ to the key and $a^V_{ij}$ to the value, and both depend only on the offset $j - i$, clipped to
at most $k$ in either direction:

$$e_{ij} = \frac{x_i W^Q \left(x_j W^K + a^K_{ij}\right)^\top}{\sqrt{d_z}}, \qquad
z_i = \sum_j \alpha_{ij} \left(x_j W^V + a^V_{ij}\right), \qquad
a^K_{ij} = w^K_{\mathrm{clip}(j - i, k)},\ a^V_{ij} = w^V_{\mathrm{clip}(j - i, k)}.$$

Two consequences follow from the form alone. The output cannot depend on where a sequence starts
(only differences of positions appear; [the tests](../../tests/transformers/test_relative_attention.py)
check that shifting every position by any amount gives bit-for-bit the same output). And since offsets
beyond $k$ share one vector, a sequence longer than any seen in training brings no offset the model has not
learned. The paper makes the second point when it introduces clipping (Section 3.2: precise offsets are
probably not useful beyond some distance, and clipping lets the model handle lengths not seen in
training), but it does not test it: its experiments are translation (WMT 2014 English-German and
English-French), where relative positions *replacing* the sinusoids gain 0.3 to 1.3 BLEU, adding the
sinusoids back gains nothing, $a^V$ adds nothing over $a^K$ alone, and BLEU is flat for clipping distances
from $k = 2$ to $256$ (its ablations). This page measures the untested point, in miniature, on the
project's character language model.

## What the experiment shows

The model is the project's [small character transformer](../kit/char_transformer.py) (2 pre-norm
layers, 64 wide, 4 heads, about 0.1 M parameters) on Shakespeare, in two arms that differ only in where
position enters: **relative**, with every attention replaced by relative attention with $k = 16$ and no
position vectors on the inputs, and **sinusoidal**, the fixed sinusoids of the original Transformer added
to the embeddings. In both, the embeddings are multiplied by $\sqrt{d_\text{model}} = 8$ before anything is
added to them, as in the original Transformer (without it the harness's amplitude-1 sinusoids swamp its
embeddings, which start at a standard deviation of 0.02, and a first run of this page's sinusoidal arm did
not learn: 3.20 nats; the [ALiBi page](alibi.py) found the same, and this page uses its scaled embedding).
Both train on windows of $L = 32$ characters for 300 steps (the harness's defaults are 64 and 600, halved
to fit the CPU budget of a machine shared by many runs), with Adam and gradients clipped to norm 1, at the
rate each arm picks from the same grid by its held-out loss on windows of $L$ after 150 steps on the first
seed (left panel):

| Adam rate | 0.001 | 0.003 | 0.01 |
|---|---|---|---|
| relative, loss after 150 steps (nats) | 2.474 | 2.267 | 2.373 |
| sinusoidal | 2.565 | 2.436 | 2.625 |

Both chose 0.003. Then 3 seeds each are read on 64 held-out windows of $L$, $2L$ and $4L$ characters. A
third arm, **learned** absolute positions (at the sinusoidal arm's rate, not swept), checks that the
sinusoidal model is a sound baseline at the training length; a learned table has nothing for positions
beyond $L$, so it is read on windows of $L$ only.

The mean loss over a long window mixes in the first $L$ positions, which training covered, so on each long
window two ranges are read from the same windows (the middle panel's shaded band and dashed line): the
positions from $L$ on ("beyond $L$"), which no training window had, and the positions $[L/2, L)$, which
training had, with at least half a window of context. Their difference, the *rise*, is the measure of
length generalisation: it compares positions of the same windows, and an arm that is simply worse
everywhere does not count as generalising worse. (Windows of different lengths start at different places
in the text, so the loss on windows of $L$ is not a comparison point for the longer ones.) With more
context, a model that generalised perfectly would do no worse beyond $L$ than before it.

*Why $k = 16$.* The paper found $k \ge 2$ enough for translation, with 6 layers. Here there are 2 layers,
and a layer cannot tell apart by position the keys more than $k$ back, so $k$ bounds how far back one
layer sees exact order (a causal model can still infer some order otherwise); 16 characters
cover a couple of words, and $k < L$ means every offset the model will ever meet, including the shared
one beyond $k$, occurs in training. (In a causal model the positive offsets never occur, so the $k$ rows
for keys ahead, half of each table, are never used; a $k$ larger than $L - 1$ would leave further rows
that training never reaches.) $k$ was chosen before the run and not tuned.

**Relative attention's loss hardly rises beyond the training length; the sinusoidal model's rises by about
0.8 nats.** Mean of 3 seeds, range in brackets, nats:

| | relative | sinusoidal | learned |
|---|---|---|---|
| windows of $L$, whole window | 2.078 (2.066 to 2.085) | 2.290 (2.251 to 2.339) | 2.344 (2.311 to 2.365) |
| windows of $2L$, whole window | 2.142 | 2.725 | |
| windows of $2L$: positions $[L/2, L)$ | 2.150 | 2.354 | |
| windows of $2L$: positions from $L$ on | 2.097 | 3.071 | |
| windows of $4L$, whole window | 2.156 | 2.930 | |
| windows of $4L$: positions $[L/2, L)$ | 2.102 | 2.317 | |
| windows of $4L$: positions from $L$ on | 2.140 (2.134 to 2.148) | 3.113 (3.072 to 3.178) | |
| rise at $2L$ (from $L$ on minus $[L/2, L)$) | -0.053 (-0.082 to -0.027) | 0.717 (0.666 to 0.779) | |
| rise at $4L$ | 0.038 (0.022 to 0.049) | 0.797 (0.766 to 0.818) | |

On windows of $4L$ the sinusoidal rise exceeds the relative one by 0.759 nats (0.723 to 0.795 over seeds),
and at $2L$ relative attention's loss beyond $L$ is even slightly lower than before it, while the sinusoidal
model jumps as soon as it meets its first unseen position (middle panel). Relative attention's rises, -0.053
and 0.038, are within the variation from one set of windows to another: the same positions $[L/2, L)$ read
2.150 on the windows of $2L$ and 2.102 on those of $4L$. So its rise is zero to within about 0.05 nats; no
"longer context helps" is measured here. The
sinusoidal baseline learned this time: at $L$ it is better than learned positions (whose rate was not tuned:
they reuse the sinusoidal arm's), though 0.212 nats worse
than relative attention (0.165 to 0.258), so the arms are not equal even where both were trained; the rise
is measured against each arm's own level for that reason. (In one unrecorded single-seed check by the
referee, the sinusoidal arm trained for twice the steps matched relative attention's loss at $L$, and its
rise at $4L$ grew rather than shrank: the gap at $L$ looks like slower training, not a broken baseline.) If
relative attention's small rise at $4L$ (0.038) is more than noise, one candidate, not tested here, is
that every key more than $k$ back shares one offset vector, so the number of keys in that bucket, and the
attention they draw, grows with the window.

![Rate sweep, loss by position on windows of 4L, and each seed's losses](results/relative_attention.png)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model, corpus, train_lm, validation_windows
from papers.kit.length_generalisation import validation_loss_by_position
from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.transformers.alibi import ScaledEmbedding
from papers.transformers.attention import MultiHeadAttention


# ## Relative positions, clipped
#
# The attention from position $i$ to position $j$ is labelled by the offset $j - i$, clipped to
# $[-k, k]$: $\mathrm{clip}(x, k) = \max(-k, \min(k, x))$. Each label indexes one of $2k + 1$ learned
# vectors. `query_positions` `[q_len]` and `key_positions` `[k_len]` are integers; the result is the
# row of the table for each pair, `[q_len, k_len]`, in $0 \dots 2k$.
def relative_index(query_positions: torch.Tensor, key_positions: torch.Tensor, max_distance: int) -> torch.Tensor:
    offsets = key_positions[None, :] - query_positions[:, None]  # [q_len, k_len]: j - i
    return offsets.clamp(-max_distance, max_distance) + max_distance


# ## Relative attention
#
# Shaw et al. add to each pair $(i, j)$ two learned vectors, $a^K_{ij}$ on the key side and $a^V_{ij}$ on
# the value side, both of the head's width $d_z$ (our $d_k$):
#
# $$e_{ij} = \frac{x_i W^Q \left(x_j W^K + a^K_{ij}\right)^\top}{\sqrt{d_z}}, \qquad
# \alpha_{ij} = \frac{\exp e_{ij}}{\sum_{j'} \exp e_{ij'}}, \qquad
# z_i = \sum_j \alpha_{ij} \left(x_j W^V + a^V_{ij}\right),$$
#
# with $a^K_{ij} = w^K_{\mathrm{clip}(j - i, k)}$ and $a^V_{ij} = w^V_{\mathrm{clip}(j - i, k)}$. The
# tables $w^K, w^V \in \mathbb{R}^{(2k+1) \times d_z}$ are shared by all heads (as in the paper) and by
# all layers' positions, but each layer has its own. Nothing else carries position: the model adds no
# position vectors to its inputs. Since only differences $j - i$ appear, the output cannot depend on
# where the sequence starts, and since they are clipped, all keys more than $k$ away look alike except
# for their content.
#
# Everything outside $e$ and $z$ is [multi-head attention](attention.py) unchanged: the projections
# $W^Q, W^K, W^V$, the split into heads and the output projection $W^O$ are inherited; only `_attend`,
# which turns the heads' $q, k, v$ into their outputs, is replaced.
#
# The positions are given explicitly (`query_positions` `[q_len]`, `key_positions` `[k_len]`, int64,
# default $0 \dots n - 1$), so that a test can shift them all and check that nothing changes.
class RelativeAttention(MultiHeadAttention):
    def __init__(self, d_model: int, heads: int, max_distance: int, dropout: float = 0.0, bias: bool = True):
        super().__init__(d_model, heads, dropout, bias)
        check_positive("max_distance", max_distance, integer=True)
        self.max_distance = max_distance
        # $w^K$ and $w^V$: `[2k + 1, d_k]`, row $r$ for the clipped offset $r - k$. Started small,
        # $\mathcal{N}(0, 0.02^2)$, like the harness's embeddings; the paper does not say how it starts them.
        self.key_table = nn.Parameter(torch.randn(2 * max_distance + 1, self.d_k) * 0.02)
        self.value_table = nn.Parameter(torch.randn(2 * max_distance + 1, self.d_k) * 0.02)
        self._positions: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)

    # The inherited `forward` projects and splits the heads, then calls `_attend`; the positions of this
    # call are held for it meanwhile.
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,  # pylint: disable=arguments-differ
                mask: torch.Tensor | None = None, query_positions: torch.Tensor | None = None,
                key_positions: torch.Tensor | None = None) -> torch.Tensor:
        for name, positions, x in (("query_positions", query_positions, query), ("key_positions", key_positions, key)):
            if positions is not None:
                check_tensor(name, positions, [x.shape[1]], dtype=torch.long)
        self._positions = (query_positions, key_positions)
        try:
            return super().forward(query, key, value, mask)
        finally:
            self._positions = (None, None)

    # `q` `[batch, heads, q_len, d_k]`, `k` and `v` `[batch, heads, k_len, d_k]`, `mask`
    # `[batch or 1, 1, q_len or 1, k_len]` (`True` = may attend) → `[batch, heads, q_len, d_k]`.
    # PyTorch's fused kernel cannot add the value term, so the `fused` switch is ignored: the weights are
    # always written out, and a training step of the model here takes about twice as long as with the
    # fused plain attention (about 70 against 34 ms of CPU, measured once while developing, not recorded).
    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        index = self._index(q.shape[2], k.shape[2], q.device).expand(*q.shape[:2], -1, -1)  # [batch, heads, q, k]
        weights = self._weights(self._scores(q, k, index), mask)  # [batch, heads, q_len, k_len]
        if self.keep_weights:
            self.weights = weights.detach()
        return self._values(self.dropout(weights), v, index)

    def _index(self, q_len: int, k_len: int, device: torch.device) -> torch.Tensor:
        query_positions, key_positions = self._positions
        if query_positions is None:
            query_positions = torch.arange(q_len, device=device)
        if key_positions is None:
            key_positions = torch.arange(k_len, device=device)
        return relative_index(query_positions, key_positions, self.max_distance)  # [q_len, k_len]

    # ### The scores, without an $n \times n \times d_z$ tensor
    #
    # The score splits into the usual content term and a position term,
    # $e_{ij} \sqrt{d_z} = q_i k_j^\top + q_i (w^K_{r(i,j)})^\top$. The paper's Section 3.3 computes the
    # second as a batched product of $q_i$ with the `[n, n, d_z]` tensor of the $a^K_{ij}$. Fewer
    # numbers are needed: there are only $2k + 1$ distinct vectors, so we take the products of each query
    # with every row of the table, `[batch, heads, q_len, 2k + 1]`, and then *gather* for each pair the
    # entry of its offset. The cost is $O(n (2k + 1) d_z)$ for the products and $O(n^2)$ for the gather,
    # instead of $O(n^2 d_z)$ memory for the paper's tensor.
    def _scores(self, q: torch.Tensor, k: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        content = q @ k.transpose(-2, -1)  # [batch, heads, q_len, k_len]
        by_offset = q @ self.key_table.T  # [batch, heads, q_len, 2k + 1]
        position = by_offset.gather(-1, index)  # [batch, heads, q_len, k_len]
        return (content + position) / math.sqrt(self.d_k)

    # The softmax with the project's masking convention: a masked pair gets the lowest float as its
    # score, and a query that may attend to no key gets all-zero weights, not a NaN (as in
    # [scaled dot-product attention](attention.py)).
    @staticmethod
    def _weights(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            return scores.softmax(dim=-1)
        weights = scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(dim=-1)
        return weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)

    # ### The values, by bucket
    #
    # Likewise $\sum_j \alpha_{ij} a^V_{ij} = \sum_{r=0}^{2k} \big(\sum_{j:\, r(i,j) = r} \alpha_{ij}\big)
    # w^V_r$: add up the weights of all keys that share an offset (a *scatter-add* into $2k + 1$
    # buckets: for a query far from the start, bucket $0$ collects every key more than $k$ behind it),
    # then multiply the `[batch, heads, q_len, 2k + 1]` buckets by the table.
    def _values(self, weights: torch.Tensor, v: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        buckets = weights.new_zeros(*weights.shape[:-1], self.key_table.shape[0])  # [batch, heads, q, 2k + 1]
        buckets = buckets.scatter_add(-1, index, weights)
        return weights @ v + buckets @ self.value_table  # [batch, heads, q_len, d_k]

    def extra_repr(self) -> str:
        return f"max_distance={self.max_distance}"


# ## The block
#
# The harness's [pre-norm block](../kit/char_transformer.py), its attention replaced by relative
# attention with clipping distance `max_distance` (a class attribute, since the harness builds every
# block from `(d_model, heads, d_ff, pre_norm)`). The model is built with `positions="none"`: the
# attention is the only place where order enters.
class RelativeBlock(Block):
    max_distance = 16

    def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
        super().__init__(d_model, heads, d_ff, pre_norm)
        self.attention = RelativeAttention(d_model, heads, self.max_distance)


# ## The experiment
#
# Two arms on the [shared harness](../kit/char_transformer.py): relative attention (no position
# vectors), and the harness's absolute sinusoidal positions added to the embeddings. Both are trained on
# windows of $L$ characters and then measured on held-out windows of $L$, $2L$ and $4L$. The full run
# trains the harness's model for 300 steps on windows of 32 (the harness's defaults, 600 steps of 64, are
# halved for the CPU budget), the quick run of the tests 200 steps of a model half as wide. The
# sinusoidal model's table is built for $4L$ positions (`max_len`), so it can be read on the long windows.
# A third arm, learned absolute positions, has nothing for positions beyond $L$, so it is measured on
# windows of $L$ only, as a check that the sinusoidal baseline is a sound one.
#
# Every arm's embeddings are multiplied by $\sqrt{d_\text{model}}$ before anything is added to them, with
# [the ALiBi page's `ScaledEmbedding`](alibi.py): the harness starts embeddings at a standard deviation of
# 0.02 and its sinusoids have amplitude 1, so unscaled the input is almost all position, and a first run of
# this page's sinusoidal arm did not learn (3.20 nats at $L$ against 2.18 for relative attention, a flat
# rate sweep; that run is not recorded). Even scaled, the embeddings (standard deviation $0.02 \cdot 8 =
# 0.16$) are smaller than the sinusoids (root mean square about 0.71), so the input is still mostly
# position; an unrecorded single-seed check with embeddings drawn at $1/\sqrt{d}$ gave a similar baseline
# and a similar rise. The factor is the original Transformer's (its Section 3.4), not tuned, and the same for all
# arms.
ARMS = {"relative": ("none", RelativeBlock), "sinusoidal": ("sinusoidal", Block), "learned": ("learned", Block)}
LENGTH_FACTORS = (1, 2, 4)
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
CLIP_NORM = 1.0


def settings_for(config: RunConfig, arm: str) -> LMSettings:
    quick = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, eval_windows=32, max_chars=200_000)
    base = config.choose(LMSettings(seq_len=32), quick)
    return base.but(steps=config.train_steps(300, 200), positions=ARMS[arm][0])


def train_arm(arm: str, settings: LMSettings, lr: float, seed: int) -> nn.Module:
    longest = settings.seq_len * (max(LENGTH_FACTORS) if arm != "learned" else 1)
    model = build_model(settings, seed, block=ARMS[arm][1], max_len=longest)
    model.embedding = ScaledEmbedding(model.embedding.weight, math.sqrt(settings.d_model))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_lm(model, optimizer, settings, seed, clip_norm=CLIP_NORM)
    return model


# For each window length, from [the kit's loss by position](../kit/length_generalisation.py) on the same
# held-out windows: the mean over the whole window (`loss_1x`, `loss_2x`, `loss_4x`); on the longer
# windows, the mean over the positions from $L$ on (`beyond_*`, those no training window had) and over
# positions $[L/2, L)$ of the *same* windows (`before_*`, trained positions that already have half a window
# of context); and the *rise* `beyond - before`, so that an arm that is simply worse everywhere is not
# counted as generalising worse, and the comparison is on the same windows. (Windows of different lengths
# start at different places in the text, so the loss on windows of $L$ is not the comparison point.)
def measure(model: nn.Module, settings: LMSettings, factors: tuple[int, ...] = LENGTH_FACTORS) -> dict:
    length, result = settings.seq_len, {}
    for factor in factors:
        windows = validation_windows(corpus(settings.max_chars).valid, length * factor, settings.eval_windows)
        losses = validation_loss_by_position(model, windows)  # [length * factor]
        result[f"loss_{factor}x"] = losses.mean().item()
        if factor > 1:
            result[f"beyond_{factor}x"] = losses[length:].mean().item()
            result[f"before_{factor}x"] = losses[length // 2:length].mean().item()
            result[f"rise_{factor}x"] = result[f"beyond_{factor}x"] - result[f"before_{factor}x"]
        result[f"by_position_{factor}x"] = losses.tolist()
    return result


# The learning rate of each arm: the best loss on windows of $L$ of the first seed over the same grid, each
# rate trained for half the steps (the choice does not look at the longer windows).
def choose_rate(arm: str, settings: LMSettings, seed: int) -> tuple[float, dict[float, float]]:
    short = settings.but(steps=max(settings.steps // 2, 1))
    losses = {lr: measure(train_arm(arm, short, lr, seed), short, (1,))["loss_1x"] for lr in LEARNING_RATES}
    return min(losses, key=losses.get), losses


# The learned arm is not swept (CPU budget): it uses the rate the sinusoidal arm chose, the other arm with
# absolute positions on the inputs.
def experiment(config: RunConfig) -> Outcome:
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs: dict = {}
    sweeps: dict = {}
    for arm in ARMS:
        settings = settings_for(config, arm)
        if arm == "learned":
            lr = runs["sinusoidal"]["lr"]
        else:
            lr, sweeps[arm] = choose_rate(arm, settings, seeds[0])
        factors = (1,) if arm == "learned" else LENGTH_FACTORS
        runs[arm] = {"lr": lr, "seeds": {seed: measure(train_arm(arm, settings, lr, seed), settings, factors)
                                         for seed in seeds}}
    metrics = _metrics(runs, sweeps, settings_for(config, "relative"), seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, sweeps, settings_for(config, "relative"))})


SCALARS = ["loss_1x", "loss_2x", "loss_4x", "beyond_2x", "beyond_4x", "before_2x", "before_4x", "rise_2x", "rise_4x"]


def _metrics(runs: dict, sweeps: dict, settings: LMSettings, seeds: list[int]) -> dict:
    metrics: dict = {"train_length": settings.seq_len, "train_steps": settings.steps, "seeds": seeds,
                     "max_distance": RelativeBlock.max_distance}
    for arm, run in runs.items():
        metrics[f"{arm}_lr"] = run["lr"]
        if arm in sweeps:
            metrics[f"{arm}_sweep"] = {str(lr): round(loss, 4) for lr, loss in sweeps[arm].items()}
        for key in SCALARS if arm != "learned" else ["loss_1x"]:
            metrics[f"{arm}_{key}"] = over_seeds({seed: m[key] for seed, m in run["seeds"].items()})
    for key in SCALARS:
        metrics[f"gap_{key}"] = over_seeds({seed: runs["sinusoidal"]["seeds"][seed][key]
                                            - runs["relative"]["seeds"][seed][key] for seed in seeds})
    return metrics


def _headline(metrics: dict) -> str:
    def mean(key: str) -> float:
        return metrics[key]["mean"]

    return (f"Trained on {metrics['train_length']} characters, mean of {len(metrics['seeds'])} seeds: "
            f"validation loss at 1x {mean('relative_loss_1x'):.3f} (relative) vs {mean('sinusoidal_loss_1x'):.3f} "
            f"(sinusoidal), {mean('learned_loss_1x'):.3f} (learned); on windows of 4x, loss at positions >= L "
            f"minus positions [L/2, L): {mean('relative_rise_4x'):+.3f} vs {mean('sinusoidal_rise_4x'):+.3f} nats.")


def _figure(runs: dict, sweeps: dict, settings: LMSettings) -> plt.Figure:
    fig, (ax_sweep, ax_position, ax_length) = plt.subplots(1, 3, figsize=(16, 4.2))
    length = settings.seq_len
    for i, arm in enumerate(sweeps):
        ax_sweep.plot(list(sweeps[arm]), list(sweeps[arm].values()), marker="o", color=f"C{i}", label=arm)
        per_seed = torch.tensor([m[f"by_position_{max(LENGTH_FACTORS)}x"] for m in runs[arm]["seeds"].values()])
        smooth = F.avg_pool1d(per_seed.mean(dim=0)[None, None], 8, stride=1)[0, 0]  # running mean of 8
        ax_position.plot(torch.arange(len(smooth)) + 7, smooth, color=f"C{i}", label=arm)
        for factor_index, factor in enumerate(LENGTH_FACTORS):
            for m in runs[arm]["seeds"].values():
                ax_length.scatter(factor_index + 0.1 * (2 * i - 1), m[f"loss_{factor}x"], color=f"C{i}",
                                  marker="o", s=18)
                if factor > 1:
                    ax_length.scatter(factor_index + 0.1 * (2 * i - 1), m[f"beyond_{factor}x"],
                                      color=f"C{i}", marker="x", s=24)
        ax_length.plot([], [], color=f"C{i}", marker="o", linestyle="", label=f"{arm}: whole window")
        ax_length.plot([], [], color=f"C{i}", marker="x", linestyle="", label=f"{arm}: positions ≥ L")
    for m in runs["learned"]["seeds"].values():
        ax_length.scatter(0.3, m["loss_1x"], color="C2", marker="s", s=18)
    ax_length.plot([], [], color="C2", marker="s", linestyle="", label="learned (L only)")
    ax_sweep.set(xscale="log", xlabel="Adam learning rate", ylabel="validation loss at L (nats)",
                 title=f"Rate sweep, seed {next(iter(runs['relative']['seeds']))}, half the steps")
    ax_position.axvline(length, color="grey", linestyle="--", linewidth=0.8)
    ax_position.axvspan(length // 2, length, color="grey", alpha=0.15, linewidth=0)
    ax_position.set(xlabel="position in the window", ylabel="loss (nats), running mean of 8",
                    title=f"Loss by position, windows of {max(LENGTH_FACTORS)}L (L = {length}), mean of seeds")
    ax_length.set(xticks=range(len(LENGTH_FACTORS)), xticklabels=[f"{f}L" for f in LENGTH_FACTORS],
                  xlabel="validation window", ylabel="loss (nats)", title="Each seed")
    for ax in (ax_sweep, ax_position, ax_length):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
