r"""
---
title: "Pay Attention to MLPs (gMLP)"
summary: The spatial gating unit, a learned n × n mixing over positions that gates half the channels,
  started as the identity and checked against a loop and labml-nn's block; at about 29 thousand parameters
  and 1,200 steps, with the harness transformer trained well past the bigram level, a causal gMLP is still
  ahead of it on Shakespeare characters on every seed (1.924 against 2.300 nats; bigram counts 2.521), and on
  digits ahead of the ViT at 400 steps (90.3% against 78.3%), at a scale where neither arm is converged.
---

# Pay Attention to MLPs

[Liu, Dai, So and Le, 2021. *Pay Attention to MLPs*](https://arxiv.org/abs/2105.08050)

A Transformer block mixes information across positions with self-attention, whose weights are computed
from the content, and transforms each position with a feed-forward network. gMLP asks whether the mixing
needs to depend on the content at all. Its block is a feed-forward network with one extra piece in the
middle, the *spatial gating unit*: the hidden activations are split in two halves, the second half is
mixed over positions by a learned $n \times n$ matrix $W$ (the same for every channel and every input),
and the result multiplies the first half,

$$Z = \mathrm{GELU}(\mathrm{LN}(X) U), \qquad s(Z) = Z_1 \odot \big(W\, \mathrm{LN}(Z_2) + b\big), \qquad
Y = X + s(Z)\, V.$$

The mixing weights depend only on the positions; the content enters through the product, a
multiplicative gate like a GLU's, but across positions. $W$ starts near zero and $b$ at one, so that at
first $s(Z) \approx Z_1$ and each block is a plain feed-forward network; the paper finds this
near-identity start important. For language modelling $W$ is made lower-triangular, so that a position
never reads a later one.

The paper's claims: on ImageNet without extra data, gMLPs match DeiT (the data-efficient ViT) at
comparable sizes (its ImageNet comparison); on BERT-style masked language modelling a gMLP reaches the perplexity of a
Transformer of the same size, the gap closing with scale, but trails on fine-tuning tasks that pair two
sentences (MNLI, SQuAD), where adding a tiny single-head attention ("aMLP", 64-wide) closes the gap. Its
visualised $W$ learned on language (shown in a figure of the paper) are local and close to shift-invariant
(Toeplitz-like).

## What the experiment shows

Two comparisons, three seeds each, every arm choosing its learning rate from the same grid by the same rule
(the rules are in the code below).

**(a) Characters, on the [shared harness](../kit/char_transformer.py).** The harness's pre-norm transformer
(width 32, 2 layers, 2 heads, feed-forward width 128, learned positions: 28,928 parameters) against a causal
gMLP of the same width and depth ($d_\text{ffn} = 240$, no position embedding: 28,800 parameters), 1,200
steps on windows of 32 characters. Three references that cannot read past the current character: the
unigram counts (3.241 nats per character), the bigram counts (the next character's frequency given the
current one, 0.1 added to every count, 2.521) and the gMLP with $W$ frozen at zero, trained like the gMLP
at its rate (seed 0 only: 2.517, the bigram level, as it should be). **The transformer is trained past
them**: 2.300 nats (2.259 to 2.333), below the bigram counts by -0.221 (-0.262 to -0.188) and below the
$W = 0$ control by -0.217 (-0.258 to -0.184); its curve crosses the bigram level only near step 450 (left
panel). **The gMLP is ahead of it on every seed**: 1.924 (1.917 to 1.929), a difference of -0.376 nats
(-0.404 to -0.343), and 0.6 nats below its own $W = 0$ control on seed 0, so its lead comes from reading context,
not only from learning the bigram statistics sooner. Its curve is below the transformer's at every
evaluation; at step 400 of these runs the gap is larger (2.110 against 2.547, mean of seeds).

A first version of this page trained for 400 steps, where the transformer (2.553) was no better than the
bigram counts and the comparison showed only that the gMLP uses context sooner. Trained three times longer,
the transformer gains 0.25 nats and the gap narrows but stays wide. Both curves still fall at 1,200 steps
(the cosine schedule ends at rate zero there); whether the gap closes with more steps was not measured.

**Rates.** Each arm picks its rate from the same grid in 300-step runs on seed 0 (the same schedule
compressed to 300 steps), by the mean training loss of its last 50 steps; the chosen rate then trains all
three seeds for 1,200 steps. A rate chosen at a quarter of the steps can differ from the best at 1,200; that
was not checked. The transformer chose $10^{-2}$, inside the grid (2.677, 2.620, 2.696 for
$3 \cdot 10^{-3}$, $10^{-2}$, $3 \cdot 10^{-2}$), the gMLP $3 \cdot 10^{-2}$, the top of the grid, by a
small margin (2.305, 2.139, 2.114). An earlier grid one step lower had both arms choose its top, so the grid
was moved up a step.

This is one size only: 1,200 steps of a 29-thousand-parameter model with windows of 32 characters, not
trained to convergence. It does not show the paper's pattern (a gMLP behind a Transformer of the same size
on perplexity, catching up with scale); here the gMLP is ahead, and no other size was tried. The transformer
has to learn to attend to the previous few characters from learned absolute positions; the gMLP's $W$
indexes positions directly. What $W$ learns is measured (right panel): the last position's row puts 78% of
its weight (mean over seeds, 73% to 81%) on the four nearest offsets in layer 1 and 77% (74% to 80%) in
layer 2, against 12.5% for weight spread evenly: a short, learned causal filter, the local pattern the paper
reports. Whether that is *why* it beats the transformer here is not tested (a transformer with relative
positions would be the control).

**(b) Digits, against the [Vision Transformer](../vision/vit.py).** The ViT page's set-up, imported: its
split, its 73,354-parameter ViT, its recipe and rate rule, against a gMLP classifier of the same width,
depth and patches (73,610 parameters). At 400 steps the gMLP reaches 90.3% test accuracy (88.4% to 91.5%)
against the ViT's 78.3% (77.1% to 80.6%): ahead on every seed, by 11.9 points (7.8 to 14.5). The ViT at
400 steps is far from its own page's 90.5% at 1,200 steps, so this says that the gMLP learns faster at
equal steps, not that it ends higher. The ViT chose $10^{-3}$, inside the grid, the gMLP $10^{-2}$, its
top (tied with $3 \cdot 10^{-3}$ on validation accuracy, broken by validation loss). The rates are chosen
after 200 steps, where the ViT's validation accuracy is 35% to 45% at every rate (the gMLP's 58% to 81%): the
ViT's rate is picked while it has barely learned, and a choice at more steps might differ. The whole run,
both comparisons with their sweeps and the $W = 0$ control, took 223 s of CPU time at one thread.

![Validation loss on characters, test accuracy on digits, and one learned row of W](results/gmlp.png)

**Not done.** No "aMLP" (the tiny attention the paper adds for tasks that pair sentences), no masked
language modelling (the paper's BERT set-up; here the model is causal, as on labml-nn's page), no runs to
convergence, one model size, and no transformer with relative positions (the control for whether indexing
positions directly is what helps). Differences from the paper: models about a
thousand times smaller; $\varepsilon = 10^{-3}$ for the initial $W$ (the paper gives no number); for
digits the final states are averaged over patches (no class token) and classified by the ViT's head.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import LMSettings, build_model, train_lm
from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Digits, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier
from papers.transformers.aft import count_references
from papers.transformers.gpt import gpt_schedule
from papers.vision import vit as vit_page
from papers.vision.vit import ClassificationHead, PatchEmbedding, parameter_count


# ## The spatial gating unit
#
# The unit takes $Z \in \mathbb{R}^{n \times d_\text{ffn}}$ (`[batch, n, d_ffn]`), splits its channels
# into two halves $Z_1, Z_2 \in \mathbb{R}^{n \times d_\text{ffn}/2}$, normalises the second, mixes it over
# *positions* with one $n \times n$ matrix shared by all channels, and uses the result to gate the first:
#
# $$s(Z) = Z_1 \odot \big(W\, \mathrm{LN}(Z_2) + b\big), \qquad W \in \mathbb{R}^{n \times n},\;
# b \in \mathbb{R}^{n},$$
#
# that is, $s(Z)_{ic} = Z_{1,ic} \big(\sum_j W_{ij} Z'_{2,jc} + b_i\big)$ with $Z'_2 = \mathrm{LN}(Z_2)$.
# Row $i$ of $W$ says how much position $i$ reads each position $j$; the weights depend on the positions,
# never on the content, which is what separates this from attention. The content enters through the
# product: the gate is multiplicative, so the unit is quadratic in its input.
#
# **Near-identity initialisation.** The paper starts $W$ "as near-zero values and $b$ as ones", so that
# $f_{W,b}(Z'_2) \approx 1$ and $s(Z) \approx Z_1$: at first each gMLP block is an ordinary two-layer
# feed-forward network (on half the hidden width), and mixing over positions is switched on gradually by
# training. Here $W_{ij} \sim \mathcal{U}(-\varepsilon, \varepsilon)$ with $\varepsilon = 10^{-3}$
# (`init_scale`; the paper gives no number). Then, exactly,
# $|s(Z)_{ic} - Z_{1,ic}| \le \varepsilon\, |Z_{1,ic}| \sum_j |Z'_{2,jc}|$, the bound the tests check.
#
# **Masks.** `mask`, when given, is boolean `[1, n, n]` (True where position $i$ may read $j$), the
# convention of the project's [attention](attention.py); entries of $W$ where it is False are set to
# zero. With the causal mask $W$ is lower-triangular: position $i$ reads only $j \le i$, which is the
# gMLP used for language modelling. $W$ is made for the longest sequence, `seq_len`; a shorter input uses its
# top-left $n \times n$ corner (for a causal $W$ this is the same model on a prefix), a longer one is refused.
INIT_SCALE = 1e-3


class SpatialGatingUnit(nn.Module):
    def __init__(self, d_ffn: int, seq_len: int, init_scale: float = INIT_SCALE):
        super().__init__()
        check_positive("d_ffn", d_ffn, integer=True)
        check_positive("seq_len", seq_len, integer=True)
        check_positive("init_scale", init_scale)
        if d_ffn % 2:
            raise ValueError(f"d_ffn must be even (it is split into two halves), got {d_ffn}")
        self.d_ffn, self.seq_len = d_ffn, seq_len
        self.norm = nn.LayerNorm(d_ffn // 2)
        self.weight = nn.Parameter(torch.empty(seq_len, seq_len).uniform_(-init_scale, init_scale))  # W [n, n]
        self.bias = nn.Parameter(torch.ones(seq_len))  # b [n]

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        sizes = check_tensor("z", z, ["batch", "seq", self.d_ffn], dtype=self.weight.dtype)
        n = sizes["seq"]
        if n > self.seq_len:
            raise ValueError(f"sequence length {n} exceeds the unit's seq_len {self.seq_len}")
        weight = self.weight[:n, :n]  # [n, n]
        if mask is not None:
            check_tensor("mask", mask, [1, n, n], dtype=torch.bool)
            weight = weight * mask[0]
        z1, z2 = z.chunk(2, dim=-1)  # [batch, n, d_ffn / 2] each
        gate = weight @ self.norm(z2) + self.bias[:n, None]  # [batch, n, d_ffn / 2]
        return z1 * gate


# ## The gMLP block
#
# $$Z = \mathrm{GELU}(\mathrm{LN}(X)\, U), \qquad Y = X + s(Z)\, V,$$
#
# with $X$ `[batch, n, d_model]`, $U \in \mathbb{R}^{d_\text{model} \times d_\text{ffn}}$ and
# $V \in \mathbb{R}^{d_\text{ffn}/2 \times d_\text{model}}$ (both with biases). This one block replaces both
# sub-layers of a Transformer block: the channel projections do the feed-forward network's work and the
# spatial gating unit does attention's. There is no attention, no softmax and, in the paper's models, no
# position embedding: $W$ is indexed by position, so it carries order itself.
class GMLPBlock(nn.Module):
    def __init__(self, d_model: int, d_ffn: int, seq_len: int, init_scale: float = INIT_SCALE):
        super().__init__()
        check_positive("d_model", d_model, integer=True)
        self.d_model = d_model
        self.norm = nn.LayerNorm(d_model)
        self.proj_in = nn.Linear(d_model, d_ffn)  # U
        self.sgu = SpatialGatingUnit(d_ffn, seq_len, init_scale)
        self.proj_out = nn.Linear(d_ffn // 2, d_model)  # V

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("x", x, ["batch", "seq", self.d_model], dtype=self.proj_in.weight.dtype)
        z = F.gelu(self.proj_in(self.norm(x)))  # [batch, n, d_ffn]
        return x + self.proj_out(self.sgu(z, mask))  # [batch, n, d_model]


# ## On the shared language-model harness
#
# The [harness](../kit/char_transformer.py) builds every block as `block(d_model, heads, d_ff, pre_norm)` and
# calls it with the causal mask `[1, n, n]`. A gMLP block there takes `d_ff` as its $d_\text{ffn}$, ignores
# `heads` (it has none) and is always pre-norm; `seq_len` is fixed when the class is made.
def gmlp_block(seq_len: int) -> type[nn.Module]:
    check_positive("seq_len", seq_len, integer=True)

    class HarnessGMLPBlock(GMLPBlock):
        def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
            check_positive("heads", heads, integer=True)
            if not pre_norm:
                raise ValueError("a gMLP block is pre-norm: pre_norm must be True")
            super().__init__(d_model, d_ff, seq_len)

    return HarnessGMLPBlock


# ## An image classifier
#
# For digits, the [Vision Transformer's](../vision/vit.py) patch embedding (2 × 2 patches, a 4 × 4 grid of
# $n = 16$ tokens) feeds gMLP blocks without a mask (every patch may read every other) and without position
# embeddings; the final states are normalised, averaged over the patches (there is no class token) and
# classified by the ViT's head.
class GMLPClassifier(nn.Module):
    def __init__(self, image_size: int, patch_size: int, channels: int, classes: int, d_model: int,
                 d_ffn: int, layers: int, head_hidden: int):
        super().__init__()
        check_positive("layers", layers, integer=True)
        self.patch_embedding = PatchEmbedding(image_size, patch_size, channels, d_model)
        tokens = self.patch_embedding.patches
        self.blocks = nn.ModuleList(GMLPBlock(d_model, d_ffn, tokens) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.head = ClassificationHead(d_model, head_hidden, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [batch, C, H, W] -> [batch, classes]
        x = self.patch_embedding(images)  # [batch, N, d_model]
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x).mean(dim=1))


# ## Experiment (a): language modelling on the shared harness
#
# The [harness's](../kit/char_transformer.py) transformer (pre-norm, learned positions, ReLU feed-forward
# network) against a gMLP of the same depth, width and size, at a size that fits the CPU budget: width 32,
# 2 layers, windows of 32 characters, batches of 16, 1,200 steps. The transformer has 2 heads and
# feed-forward width 128 (28,928 parameters); the gMLP has $d_\text{ffn} = 240$ and no position embedding
# (28,800 parameters; each of its blocks replaces a whole Transformer block). Both train with Adam on the
# [GPT schedule](gpt.py) (40 steps of warm-up, cosine decay to zero) with the gradient norm clipped at 1.
#
# **Rates.** Each arm picks its peak rate from the same grid, $3 \cdot 10^{-3}$, $10^{-2}$, $3 \cdot 10^{-2}$, in
# 300-step runs on the first seed, by the mean training loss of its last 50 steps (the rule of
# [Primer](primer_ez.py) and [RoPE](rope.py)), and the chosen rate trains three seeds for the full 1,200
# steps. A seed fixes the batches (the same for both arms) and the initial weights. The $W = 0$ control
# trains on the first seed at the gMLP's rate; the count models are [AFT's](aft.py).
LM_QUICK = LMSettings(d_model=32, heads=2, d_ff=128, seq_len=32, batch_size=16, steps=150, eval_every=25,
                      eval_windows=32, max_chars=200_000)
LM_FULL = LM_QUICK.but(steps=1200, eval_every=50, eval_windows=64, max_chars=1_000_000)
LM_SWEEP_STEPS = 300
GMLP_D_FFN = 240
LM_RATES = (3e-3, 1e-2, 3e-2)
WARMUP = 40
CLIP_NORM = 1.0
CHOICE_STEPS = 50
LM_ARMS = ("transformer", "gMLP")
W_ZERO = "gMLP, W = 0"


# The control `W_ZERO` is the gMLP with every $W$ set to zero and frozen: then $s(Z) = Z_1 \odot b$ and no
# position reads another, so the model predicts each character from the current one only (a bigram model
# learned by gradient descent).
def lm_model(arm: str, settings: LMSettings, seed: int) -> nn.Module:
    if arm == "transformer":
        return build_model(settings, seed)
    if arm in ("gMLP", W_ZERO):
        model = build_model(settings.but(positions="none", d_ff=GMLP_D_FFN), seed, block=gmlp_block(settings.seq_len))
        if arm == W_ZERO:
            for block in model.blocks:
                block.sgu.weight.data.zero_()
                block.sgu.weight.requires_grad_(False)
        return model
    raise ValueError(f"arm must be one of {LM_ARMS + (W_ZERO,)}, got {arm!r}")


def train_lm_arm(arm: str, settings: LMSettings, seed: int, lr: float) -> tuple[nn.Module, History]:
    model = lm_model(arm, settings, seed)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    history = train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(lr, WARMUP, settings.steps),
                       clip_norm=CLIP_NORM)
    return model, history


def choose_lm_rate(arm: str, settings: LMSettings, seed: int, rates: tuple[float, ...]) -> tuple[float, dict]:
    if len(rates) == 1:
        return rates[0], {}
    trials = {lr: train_lm_arm(arm, settings, seed, lr)[1] for lr in rates}
    sweep = {lr: _mean(history.values("loss")[-CHOICE_STEPS:]) for lr, history in trials.items()}
    return min(sweep, key=sweep.get), sweep


# ## Experiment (b): digits against the Vision Transformer
#
# The [Vision Transformer page's](../vision/vit.py) set-up, imported from it: its data split (1,079
# training, 269 validation, 449 test digits), its ViT (2 × 2 patches, width 64, 4 heads, 2 layers, 73,354
# parameters), its recipe (Adam, batches of 64, random shifts of up to one pixel) and its rate rule (each
# arm picks by validation accuracy on the first seed after half the steps, ties broken by validation loss,
# then three seeds train for the full number). The grid is the ViT page's, $3 \cdot 10^{-4}$, $10^{-3}$,
# $3 \cdot 10^{-3}$, with $10^{-2}$ added because a first run of the gMLP chose the top of that grid. The gMLP
# classifier has the same width, depth, patches and head, with $d_\text{ffn} = 344$ (73,610 parameters). The
# budget allows 400 steps, a third of the ViT page's 1,200, so both arms are less trained than there.
DIGIT_STEPS = 400
DIGIT_D_FFN = 344
DIGIT_RATES = (3e-4, 1e-3, 3e-3, 1e-2)
DIGIT_ARMS = ("ViT", "gMLP")


def digit_model(arm: str, seed: int) -> nn.Module:
    if arm == "ViT":
        return vit_page.vit(seed)
    if arm == "gMLP":
        torch.manual_seed(seed)
        return GMLPClassifier(vit_page.IMAGE_SIZE, vit_page.PATCH_SIZE, 1, 10, d_model=64, d_ffn=DIGIT_D_FFN,
                              layers=2, head_hidden=64)
    raise ValueError(f"arm must be one of {DIGIT_ARMS}, got {arm!r}")


# The ViT page's training of one arm (its `train_arm`, for these two arms; a test checks that the two give
# the same run for the ViT).
def train_digit_arm(arm: str, data: Digits, lr: float, steps: int, seed: int) -> tuple[nn.Module, History]:
    model = digit_model(arm, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=vit_page.MAX_SHIFT,
                                  eval_every=max(steps // 10, 1))
    history = train_classifier(model, optimizer, data.train, data.valid, settings,
                               torch.Generator().manual_seed(seed))
    return model, history


# ## What the learned $W$ reads
#
# Row $i$ of a causal $W$ gives the weight position $i$ puts on position $i - k$, $k = 0 \dots i$ characters
# back. For the last position of a window (which sees the most), the share of $\sum_k |W_{i, i-k}|$ that falls
# on the nearest `NEAR` offsets, $k < 4$ (4 of 32 offsets, 12.5% if spread evenly).
NEAR = 4


def last_row(block: GMLPBlock) -> torch.Tensor:
    weight = block.sgu.weight.detach()
    return weight[-1].flip(0)  # [n]: offset k = 0, 1, ... (position n - 1 - k)


def near_share(row: torch.Tensor) -> float:
    return (row[:NEAR].abs().sum() / row.abs().sum()).item()


# ## The experiment
def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(LM_FULL, LM_QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    lm_grid = config.choose(LM_RATES, LM_RATES[1:2])
    sweep_settings = settings.but(steps=min(LM_SWEEP_STEPS, settings.steps))
    lm_rates, lm_sweeps, lm_runs = {}, {}, {}
    for arm in LM_ARMS:
        lm_rates[arm], lm_sweeps[arm] = choose_lm_rate(arm, sweep_settings, seeds[0], lm_grid)
        lm_runs[arm] = {seed: train_lm_arm(arm, settings, seed, lm_rates[arm]) for seed in seeds}
    lm_runs[W_ZERO] = {seeds[0]: train_lm_arm(W_ZERO, settings, seeds[0], lm_rates["gMLP"])}
    data = digits()
    steps = config.train_steps(DIGIT_STEPS, 100)
    digit_grid = config.choose(DIGIT_RATES, DIGIT_RATES[2:3])
    sweep = {arm: {lr: train_digit_arm(arm, data, lr, steps // 2, seeds[0]) for lr in digit_grid}
             for arm in DIGIT_ARMS}
    digit_rates = {arm: vit_page.best_rate(runs) for arm, runs in sweep.items()}
    scores = {arm: {seed: evaluate(train_digit_arm(arm, data, digit_rates[arm], steps, seed)[0], data.test)
                    for seed in seeds} for arm in DIGIT_ARMS}
    metrics = _lm_metrics(lm_runs, lm_rates, lm_sweeps, settings, seeds)
    metrics["lm_sweep_steps"] = sweep_settings.steps
    metrics.update(_digit_metrics(sweep, digit_rates, scores, steps, seeds))
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _lm_metrics(runs: dict, rates: dict, sweeps: dict, settings: LMSettings, seeds: list[int]) -> dict:
    final = {arm: {s: runs[arm][s][1].last("valid_loss") for s in seeds} for arm in LM_ARMS}
    references = count_references(settings)
    metrics: dict = {"seeds": seeds, "lm_steps": settings.steps, "lm_rates": list(LM_RATES),
                     "unigram_loss": round(references["unigram"], 4), "bigram_loss": round(references["bigram"], 4)}
    for arm in LM_ARMS:
        history = runs[arm][seeds[0]][1]
        metrics[f"lm_{arm}_lr"] = rates[arm]
        metrics[f"lm_{arm}_sweep"] = {f"{lr:g}": round(loss, 4) for lr, loss in sweeps[arm].items()}
        metrics[f"lm_{arm}_parameters"] = parameter_count(runs[arm][seeds[0]][0])
        metrics[f"lm_{arm}_valid"] = over_seeds(final[arm])
        metrics[f"lm_{arm}_curves"] = {"steps": [i + 1 for i in history.steps("valid_loss")],
                                       **{str(s): [round(v, 4) for v in runs[arm][s][1].values("valid_loss")]
                                          for s in seeds}}
    metrics["lm_gap_gmlp_minus_transformer"] = over_seeds({s: final["gMLP"][s] - final["transformer"][s]
                                                           for s in seeds})
    metrics["lm_gmlp_ahead_seeds"] = sum(final["gMLP"][s] < final["transformer"][s] for s in seeds)
    control = runs[W_ZERO][seeds[0]][1]
    metrics["lm_w0_lr"] = rates["gMLP"]
    metrics["lm_w0_valid_seed0"] = round(control.last("valid_loss"), 4)
    metrics["lm_w0_curve"] = [round(v, 4) for v in control.values("valid_loss")]
    metrics["lm_transformer_minus_w0"] = over_seeds({s: final["transformer"][s] - control.last("valid_loss")
                                                     for s in seeds})
    metrics["lm_transformer_minus_bigram"] = over_seeds({s: final["transformer"][s] - references["bigram"]
                                                         for s in seeds})
    metrics["lm_curve_at_400"] = {arm: over_seeds({s: runs[arm][s][1].values("valid_loss")[
        runs[arm][s][1].steps("valid_loss").index(399)] for s in seeds}) for arm in LM_ARMS
        if 399 in runs[arm][seeds[0]][1].steps("valid_loss")}
    rows = {s: [last_row(block) for block in runs["gMLP"][s][0].blocks] for s in seeds}
    metrics["w_last_row"] = [[round(v, 4) for v in row.tolist()] for row in rows[seeds[0]]]
    for layer in range(len(rows[seeds[0]])):
        metrics[f"w_near_share_layer{layer + 1}"] = over_seeds({s: near_share(rows[s][layer]) for s in seeds})
    return metrics


def _digit_metrics(sweep: dict, rates: dict, scores: dict, steps: int, seeds: list[int]) -> dict:
    metrics: dict = {"digit_steps": steps, "digit_rates": list(DIGIT_RATES)}
    for arm in DIGIT_ARMS:
        metrics[f"digit_{arm}_lr"] = rates[arm]
        metrics[f"digit_{arm}_sweep_valid_accuracy"] = {f"{lr:g}": history.last("eval_accuracy")
                                                        for lr, (_, history) in sweep[arm].items()}
        metrics[f"digit_{arm}_parameters"] = parameter_count(digit_model(arm, 0))
        metrics[f"digit_{arm}_test_accuracy"] = over_seeds({s: scores[arm][s][1] for s in seeds})
    metrics["digit_gap_gmlp_minus_vit"] = over_seeds({s: scores["gMLP"][s][1] - scores["ViT"][s][1] for s in seeds})
    metrics["digit_gmlp_ahead_seeds"] = sum(scores["gMLP"][s][1] > scores["ViT"][s][1] for s in seeds)
    return metrics


def _headline(metrics: dict) -> str:
    n = len(metrics["seeds"])
    lm = {arm: metrics[f"lm_{arm}_valid"]["mean"] for arm in LM_ARMS}
    acc = {arm: metrics[f"digit_{arm}_test_accuracy"]["mean"] for arm in DIGIT_ARMS}
    return (f"Mean of {n} seeds. Language model, held-out loss: gMLP {lm['gMLP']:.3f} against the transformer "
            f"{lm['transformer']:.3f} nats/char ({metrics['lm_gMLP_parameters']:,} and "
            f"{metrics['lm_transformer_parameters']:,} parameters). Digits, test accuracy: gMLP {acc['gMLP']:.1%} "
            f"against ViT {acc['ViT']:.1%} ({metrics['digit_gMLP_parameters']:,} and "
            f"{metrics['digit_ViT_parameters']:,} parameters).")


def _figure(metrics: dict) -> Figure:
    fig, (ax_lm, ax_digits, ax_w) = plt.subplots(1, 3, figsize=(15, 4.5))
    for i, arm in enumerate(LM_ARMS):
        curves = metrics[f"lm_{arm}_curves"]
        for j, seed in enumerate(metrics["seeds"]):
            ax_lm.plot(curves["steps"], curves[str(seed)], color=f"C{i}", alpha=0.8,
                       label=f"{arm} (lr {metrics[f'lm_{arm}_lr']:g})" if j == 0 else None)
    ax_lm.plot(metrics[f"lm_{LM_ARMS[0]}_curves"]["steps"], metrics["lm_w0_curve"], color="C2", linestyle=":",
               label=f"gMLP, W frozen at 0 (seed {metrics['seeds'][0]})")
    ax_lm.axhline(metrics["unigram_loss"], color="grey", linestyle="--", linewidth=0.8, label="unigram counts")
    ax_lm.axhline(metrics["bigram_loss"], color="black", linestyle="--", linewidth=0.8, label="bigram counts")
    ax_lm.set(xlabel="training step", ylabel="validation loss (nats / char)",
              ylim=(None, metrics["unigram_loss"] + 0.3),
              title=f"(a) Shakespeare characters, {len(metrics['seeds'])} seeds each")
    ax_lm.legend()
    for i, arm in enumerate(DIGIT_ARMS):
        result = metrics[f"digit_{arm}_test_accuracy"]
        values = [100 * v for v in result["per_seed"].values()]
        ax_digits.scatter([i] * len(values), values, color=f"C{i}", alpha=0.7, label="one seed" if i == 0 else None)
        ax_digits.scatter([i], [100 * result["mean"]], color="black", marker="_", s=600,
                          label="mean" if i == 0 else None)
    ax_digits.set(xticks=range(len(DIGIT_ARMS)),
                  xticklabels=[f"{arm}\n(lr {metrics[f'digit_{arm}_lr']:g})" for arm in DIGIT_ARMS],
                  xlim=(-0.6, len(DIGIT_ARMS) - 0.4), ylabel="test accuracy (%)",
                  title=f"(b) Digits, {metrics['digit_steps']} steps")
    ax_digits.legend()
    for layer, row in enumerate(metrics["w_last_row"]):
        ax_w.plot(range(len(row)), row, marker=".", label=f"layer {layer + 1}")
    ax_w.axhline(0, color="grey", linewidth=0.8)
    ax_w.set(xlabel="offset k (characters back)", ylabel="$W_{n-1,\\, n-1-k}$",
             title=f"Learned causal W, last position (seed {metrics['seeds'][0]})")
    ax_w.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
