r"""
---
title: "MLP-Mixer: An all-MLP Architecture for Vision"
summary: Token-mixing and channel-mixing MLPs on ViT's patch embedding, checked against labml-nn's
  MLPMixer in its transformer layer; on 1,797 digits the Mixer (69,930 parameters) is ahead of ViT (73,354)
  on every seed, 97.2% against 90.5% test accuracy, and removing its token mixing costs 55 points (4.8 when
  learned positions are added back), so this task does test token mixing.
---

# MLP-Mixer: An all-MLP Architecture for Vision

[Tolstikhin, Houlsby, Kolesnikov, Beyer, Zhai, Unterthiner, Yung, Steiner, Keysers, Uszkoreit, Lucic,
Dosovitskiy, 2021. *MLP-Mixer: An all-MLP Architecture for Vision*](https://arxiv.org/abs/2105.01601)

A [Vision Transformer](vit.py) does two kinds of work on its table of patches: attention moves information
*between* patches, with weights computed from the content, and the feed-forward layers transform each patch
*on its own*. MLP-Mixer keeps the second and replaces the first with something even plainer: an MLP that
reads one channel across all patches. Its input is a table $X \in \mathbb{R}^{S \times C}$ of $S$ patch
embeddings with $C$ channels, and each layer alternates two MLPs with skip connections:

* **token mixing**, applied to each column (one channel, all $S$ patches), with the same weights for every
  channel;
* **channel mixing**, applied to each row (one patch, all $C$ channels), with the same weights for every
  patch.

The token-mixing weights do not depend on the input: once trained, each hidden unit reads a fixed weighted
sum of one channel over the $S$ patches, like a convolution whose kernel covers the whole image and is
not shared over positions. Because those weights are tied to patch *places*, the model needs no position
embeddings; it has no class token either, and classifies the average over patches.

The paper's claim (its abstract): "when trained on large datasets, or with modern regularization schemes",
Mixer attains competitive scores on image classification, at a cost comparable to the best models. Its
largest model, Mixer-H/14 pre-trained on JFT-300M, reaches 87.94% top-1 on ImageNet (its Table 2), close to
ViT and the best convolutional networks; with less pre-training data it falls further behind them than ViT
does, which the paper reads as Mixer having even less inductive bias. The first-layer token-mixing units learn detectors
of image regions, local and global, often in pairs of opposite sign (its Fig. 5). Since nothing in the
model but the order of the token-mixing weights knows where a patch is, Mixer trained on images whose
patches are all shuffled by one fixed permutation learns as well as on the original images (its Sec. 3.4 and
Fig. 4, as we read them); the tests check the exact fact behind this.

## What the experiment shows

The task and recipe are [ViT's page](vit.py)'s, unchanged: scikit-learn's digits, 1,079 training images of
$8 \times 8$ pixels (269 for validation, 449 for test, one test digit is 0.2 points), cut into $S = 16$
patches of $2 \times 2$ pixels; Adam, batches of 64, 1,200 steps, random shifts of up to one pixel, no
weight decay or dropout, a constant rate chosen per model from $\{3 \times 10^{-4}, 10^{-3},
3 \times 10^{-3}\}$ by validation accuracy on seed 0 after 600 steps, then three seeds (initial weights and
batches) for the full 1,200 steps. The Mixer has $C = 64$ channels, 2 layers, $D_S = 32$ and $D_C = 256$ (the
paper's ratios $D_S = C/2$, $D_C = 4C$): 69,930 parameters, against ViT's 73,354 (width 64, 2 layers, 4
heads). Two controls say what the token mixing is worth: the same Mixer with its token-mixing MLPs removed
(67,530 parameters), which sees each image as a *bag* of patches, since nothing else knows where a patch
is; and the same with ViT's learned position vectors added to the patch embeddings (68,554 parameters),
which knows where each patch is but lets no patch see another before the final average. The ViT numbers
are not trained again: they are those of ViT's recorded run, the same function of the seed as here (a test
checks that this page's ViT arm trains step for step as ViT's page does), copied as they are, and only while
that run is fresh: if ViT's code has changed since, ViT is trained here. This run's three trained arms took
274.9 s of CPU time at one thread, about twice the two minutes a page aims for. It was not cut: the three
seeds of 1,200 steps alone cost about two thirds of it, and a run with fewer steps would no longer match
ViT's recorded run, so ViT would have to be trained here as well.

The rates chosen: $10^{-3}$ for the Mixer (validation accuracy 94.1%, 94.4%, 94.1% over the grid: a flat
choice) and for ViT (70.6%, 86.2%, 77.7%), $3 \times 10^{-3}$, the top of the grid, for both controls
(34.6%, 39.0%, 42.0% without positions; 56.1%, 85.9%, 88.8% with them). The top of the grid is not an
edge for the controls: the referee's check, outside this run, trained each at $10^{-2}$ for the sweep's 600
steps on seed 0 and found 37.2% without positions and 83.6% with them, both below their $3 \times 10^{-3}$
scores.

**The Mixer is ahead of ViT on every seed**: 97.2% test accuracy (96.2% to 98.2%) against 90.5% (87.5% to
93.3%), by 6.8 points on average (2.9 to 10.7 by seed), with about 5% fewer parameters; its test
cross-entropy is 0.097 nats against ViT's 0.275. The Mixer also learns faster: after the 600 steps of the
sweep it was already at 94% validation accuracy at every rate of the grid, where ViT was at 86% at best.
This is not the paper's small-data picture, in which Mixer falls further behind than ViT as pre-training
data shrinks; the paper's comparisons are at ImageNet scale with heavy regularisation, none of which this
miniature has, and why the Mixer does better here is not measured (its fixed, place-tied mixing is one
candidate; ViT's longer time to learn where patches are is another).

**This task does test token mixing.** Without it the Mixer falls to 42.5% (40.5% to 45.0%), 54.7 points
lower (51.2 to 56.8): a bag of $2 \times 2$ patches says little about the digit. Most of that is position:
with learned positions and still no token mixing the model reaches 92.4% (92.2% to 92.7%), ahead of ViT,
but 4.8 points behind the Mixer (3.6 to 6.0, every seed): at equal steps, patches meeting inside the network
are worth about 5 points here, the positions alone about 50 (the control with positions may learn more
slowly than the Mixer; longer runs were not tried). (This differs from [FNet's page](../transformers/fnet.py),
where a control with positions and no mixing, in a different encoder with a different recipe, was ahead of
the mixing arms on digits.)

The tests' claim in miniature (300 steps, one seed) checks this token-mixing finding only: the Mixer ahead
of the Mixer without token mixing. The Mixer's lead over ViT is checked on the recorded run alone (a test
asks that it be above zero on every seed).

The right panel shows what the 32 hidden units of the first token-mixing MLP read, $W_1$ of seed 0's Mixer,
each row drawn on the $4 \times 4$ grid of patch places. By eye they are not the paper's smooth local and
global detectors: most read from patches scattered over the grid, with weights of both signs. (The same
weights serve all 64 channels; their structure is not quantified here.)

![Test accuracy of each arm and seed; what each hidden unit of the first token-mixing MLP reads](results/mlp_mixer.png)

Differences from the paper: no pre-training, no regularisation (the paper's runs on ImageNet alone use
strong augmentation and regularisation, such as RandAugment, mixup and stochastic depth), a constant rate
with no warm-up or decay, PyTorch's default initialisation, and a model about 270 times smaller than
Mixer-S/32 (19 M parameters, 8 layers, $C = 512$; the paper's Table 1). The per-patch embedding is ViT's
linear map, the paper's "per-patch fully-connected" layer; the LayerNorm before the pooling is the released
code's.
"""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Digits, digits
from papers.kit.experiment import (Outcome, RunConfig, code_fingerprint, over_seeds, results_path,
                                   run_paper)
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier
from papers.transformers.building_blocks import PositionWiseFeedForward
from papers.vision import vit as vit_page
from papers.vision.vit import (IMAGE_SIZE, LEARNING_RATES, MAX_SHIFT, PATCH_SIZE, PatchEmbedding, best_rate,
                               parameter_count, vit)


# ## Token mixing
#
# The input of a Mixer layer is a table $X \in \mathbb{R}^{S \times C}$: $S$ patches (rows), $C$ channels
# (columns), `[batch, S, C]`. The token-mixing MLP acts on each *column*: for channel $c$ it reads that
# channel's value at all $S$ patches and writes $S$ new values,
#
# $$U_{*,c} = X_{*,c} + W_2\, \sigma\big(W_1\, \mathrm{LN}(X)_{*,c}\big), \qquad c = 1 \dots C,$$
#
# with $W_1 \in \mathbb{R}^{D_S \times S}$, $W_2 \in \mathbb{R}^{S \times D_S}$ (plus biases) shared by all
# channels and $\sigma$ the GELU. In code: transpose to `[batch, C, S]`, apply an ordinary MLP over the last
# axis (the project's [position-wise feed-forward](../transformers/building_blocks.py) with $S$ inputs),
# transpose back. The LayerNorm normalises each patch over its channels, as in the paper. This is the only
# place in the model where one patch's values reach another patch, and the weights of $W_1$ are tied to
# patch *places*: column $j$ of $W_1$ is what the hidden units read from patch $j$. Moving the patches of
# the input and the columns of $W_1$ (and the rows of $W_2$ and $b_2$) together moves the output with them
# (the tests check it).
class TokenMixing(nn.Module):
    def __init__(self, patches: int, channels: int, hidden: int):
        super().__init__()
        for name, size in (("patches", patches), ("channels", channels), ("hidden", hidden)):
            check_positive(name, size, integer=True)
        self.patches, self.channels = patches, channels
        self.norm = nn.LayerNorm(channels)
        self.mlp = PositionWiseFeedForward(patches, hidden, "gelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, S, C] -> [batch, S, C]
        check_tensor("x", x, ["batch", self.patches, self.channels], dtype=self.mlp.layer1.weight.dtype)
        columns = self.norm(x).transpose(1, 2)  # [batch, C, S]
        return x + self.mlp(columns).transpose(1, 2)


# ## Channel mixing
#
# The channel-mixing MLP acts on each *row*, one patch at a time, with weights shared by all patches:
#
# $$Y_{s,*} = U_{s,*} + W_4\, \sigma\big(W_3\, \mathrm{LN}(U)_{s,*}\big), \qquad s = 1 \dots S,$$
#
# $W_3 \in \mathbb{R}^{D_C \times C}$, $W_4 \in \mathbb{R}^{C \times D_C}$. It is a Transformer's
# feed-forward layer, the same project module with GELU. Nothing in it looks at another patch: the output
# of patch $s$ depends on the input of patch $s$ alone (a test checks the Jacobian).
class ChannelMixing(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        check_positive("channels", channels, integer=True)
        check_positive("hidden", hidden, integer=True)
        self.norm = nn.LayerNorm(channels)
        self.mlp = PositionWiseFeedForward(channels, hidden, "gelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, S, C] -> [batch, S, C]
        return x + self.mlp(self.norm(x))


# ## The Mixer layer
#
# One token-mixing step, then one channel-mixing step, each with its own skip connection (the paper's
# Eq. 1). With `token_mixing=False` the first step is left out: the layer is a channel-mixing MLP only, and a
# stack of such layers treats every patch on its own until the final average, the control of the
# experiment below.
class MixerLayer(nn.Module):
    def __init__(self, patches: int, channels: int, token_hidden: int, channel_hidden: int,
                 token_mixing: bool = True):
        super().__init__()
        self.token_mixing = TokenMixing(patches, channels, token_hidden) if token_mixing else None
        self.channel_mixing = ChannelMixing(channels, channel_hidden)
        self.patches, self.channels = patches, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, S, C] -> [batch, S, C]
        check_tensor("x", x, ["batch", self.patches, self.channels], dtype=self.channel_mixing.norm.weight.dtype)
        if self.token_mixing is not None:
            x = self.token_mixing(x)
        return self.channel_mixing(x)


# ## The whole Mixer
#
# The patches are embedded with ViT's [patch embedding](vit.py) (one shared linear map of each flattened
# $P \times P$ patch to $C$ channels), then $L$ Mixer layers, a LayerNorm, the mean over the patches (global
# average pooling) and a linear classifier:
#
# $$y = W_\text{head}\, \frac{1}{S} \sum_{s=1}^{S} \mathrm{LN}(X_L)_{s,*} + b_\text{head}.$$
#
# There is no class token and there are no position embeddings: the token-mixing weights are tied to patch
# places, so they are where the model knows which patch is where. Without token mixing the model has no way
# to tell where a patch was: it sees the image as a bag of patches. `positions=True` (for the second control
# only, not the paper's Mixer) adds ViT's learned position vectors, $\mathcal{N}(0, 0.02^2)$, one per patch,
# to the embeddings: without token mixing the model is then a sum over patches of what the channel MLPs make
# of each (patch, place) pair, with no interaction between patches but the final average.
class MLPMixer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, channels: int, classes: int, d_model: int,
                 layers: int, token_hidden: int, channel_hidden: int, token_mixing: bool = True,
                 positions: bool = False):
        super().__init__()
        check_positive("layers", layers, integer=True)
        check_positive("classes", classes, integer=True)
        self.patch_embedding = PatchEmbedding(image_size, patch_size, channels, d_model)
        patches = self.patch_embedding.patches
        self.positions = nn.Parameter(torch.randn(patches, d_model) * 0.02) if positions else None
        self.layers = nn.ModuleList(MixerLayer(patches, d_model, token_hidden, channel_hidden, token_mixing)
                                    for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [batch, channels, H, W] -> [batch, classes]
        x = self.patch_embedding(images)  # [batch, S, C]
        if self.positions is not None:
            x = x + self.positions
        for layer in self.layers:
            x = layer(x)
        return self.head(self.final_norm(x).mean(dim=1))


# ## The experiment
#
# Everything but the model is [ViT's page](vit.py): its digits at $8 \times 8$ cut into 16 patches of
# $2 \times 2$, its recipe (Adam, batches of 64, random shifts of up to one pixel, a constant rate), its rate
# grid and its way of choosing the rate (validation accuracy on the first seed after half the steps, ties
# broken by validation loss). The Mixer has the paper's proportions, $D_S = C / 2$ and $D_C = 4C$, at ViT's
# width $C = 64$ and depth 2. Two controls: the same Mixer without its token-mixing MLPs (a bag of
# patches), and the same again with learned positions (each patch knows its place, but no patch sees
# another before the final average). For one seed all arms draw the same batches and shifts. (The quick
# run: 300 steps, two seeds, the rate $3 \times 10^{-3}$ alone.)
WIDTH, LAYERS, TOKEN_HIDDEN, CHANNEL_HIDDEN = 64, 2, 32, 256


def mixer(generator_seed: int, token_mixing: bool = True, positions: bool = False) -> MLPMixer:
    torch.manual_seed(generator_seed)
    return MLPMixer(IMAGE_SIZE, PATCH_SIZE, 1, 10, WIDTH, LAYERS, TOKEN_HIDDEN, CHANNEL_HIDDEN, token_mixing,
                    positions)


ARMS = {"Mixer": mixer, "no token mixing": lambda seed: mixer(seed, token_mixing=False),
        "no token mixing, positions": lambda seed: mixer(seed, token_mixing=False, positions=True), "ViT": vit}
CONTROLS = ("no token mixing", "no token mixing, positions")


# ViT's `train_arm` with the model passed in: the same settings, the batch generator seeded with the seed.
def train_model(model: nn.Module, data: Digits, lr: float, steps: int, seed: int) -> History:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=MAX_SHIFT, eval_every=max(steps // 10, 1))
    return train_classifier(model, optimizer, data.train, data.valid, settings, torch.Generator().manual_seed(seed))


def train_arm(arm: str, data: Digits, lr: float, steps: int, seed: int) -> tuple[nn.Module, History]:
    model = ARMS[arm](seed)
    return model, train_model(model, data, lr, steps, seed)


# One arm, the whole procedure: the sweep on the first seed (validation accuracy and loss per rate), the
# chosen rate, and each seed's test loss and accuracy at that rate. Returns the first seed's model too.
def run_arm(arm: str, data: Digits, grid: tuple[float, ...], steps: int, seeds: list[int]) -> dict:
    runs = {lr: train_arm(arm, data, lr, steps // 2, seeds[0]) for lr in grid}
    sweep = {lr: (history.last("eval_accuracy"), history.last("eval_loss")) for lr, (_, history) in runs.items()}
    rate = best_rate(runs)
    models = {seed: train_arm(arm, data, rate, steps, seed)[0] for seed in seeds}
    return {"sweep": sweep, "rate": rate, "scores": {seed: evaluate(m, data.test) for seed, m in models.items()},
            "model": models[seeds[0]]}


# ViT costs a third of the run's time, and [its page](vit.py) has already run exactly this procedure (the
# same function of the seed: its `train_arm` builds the same model and batches as `train_arm` here). Its
# recorded run is reused only when it is *fresh*, its fingerprint that of ViT's code as it is now (this page's
# own fingerprint covers `vit.py` but not `vit.json`, and `make results` may run this page before ViT's), and
# when it has this run's steps, seeds and grid; otherwise (the quick run, or ViT's code changed since its run)
# ViT is trained here. Reused, ViT's metric dictionaries are copied as they are, not recomputed from their
# rounded per-seed values.
def vit_arm(data: Digits, grid: tuple[float, ...], steps: int, seeds: list[int]) -> dict:
    path = results_path(vit_page.__file__)
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if record.get("fingerprint") != code_fingerprint(vit_page.__file__)[0]:
        return run_arm("ViT", data, grid, steps, seeds)
    recorded = record["metrics"]
    valid = recorded["learning_rate_sweep_valid_accuracy"]["ViT"]
    if recorded["train_steps"] != steps or recorded["seeds"] != seeds or list(map(float, valid)) != list(grid):
        return run_arm("ViT", data, grid, steps, seeds)
    loss = recorded["learning_rate_sweep_valid_loss"]["ViT"]
    test_loss, test_accuracy = (recorded[f"test_{name}_ViT"] for name in ("loss", "accuracy"))
    return {"sweep": {float(lr): (valid[lr], loss[lr]) for lr in valid}, "rate": recorded["learning_rate"]["ViT"],
            "scores": {seed: (test_loss["per_seed"][str(seed)], test_accuracy["per_seed"][str(seed)])
                       for seed in seeds},
            "recorded": {"test_loss": test_loss, "test_accuracy": test_accuracy}, "model": None}


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    steps = config.train_steps(1200, 300)
    grid = config.choose(LEARNING_RATES, LEARNING_RATES[2:])
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    runs = {arm: run_arm(arm, data, grid, steps, seeds) for arm in ("Mixer", *CONTROLS)}
    runs["ViT"] = vit_arm(data, grid, steps, seeds)
    metrics = _metrics(runs, steps, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics, runs["Mixer"]["model"])})


def _metrics(runs: dict, steps: int, seeds: list[int]) -> dict:
    metrics: dict = {
        "seeds": seeds, "train_steps": steps, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE,
        "max_shift": MAX_SHIFT, "parameters": {arm: parameter_count(build(0)) for arm, build in ARMS.items()},
        "learning_rate": {arm: run["rate"] for arm, run in runs.items()}, "learning_rate_sweep_steps": steps // 2,
        "learning_rate_sweep_valid_accuracy": {
            arm: {str(lr): acc for lr, (acc, _) in run["sweep"].items()} for arm, run in runs.items()},
        "learning_rate_sweep_valid_loss": {
            arm: {str(lr): loss for lr, (_, loss) in run["sweep"].items()} for arm, run in runs.items()},
    }
    scores = {arm: run["scores"] for arm, run in runs.items()}
    for arm in ARMS:
        recorded = runs[arm].get("recorded", {})
        for name, index in (("accuracy", 1), ("loss", 0)):
            metrics[f"test_{name}_{arm}"] = recorded.get(
                f"test_{name}", over_seeds({s: scores[arm][s][index] for s in seeds}))
    for other in ("ViT", *CONTROLS):
        metrics[f"test_accuracy_gap_Mixer_minus_{other}"] = over_seeds(
            {s: scores["Mixer"][s][1] - scores[other][s][1] for s in seeds})
    return metrics


def _headline(metrics: dict) -> str:
    parts = [f"{arm} {metrics[f'test_accuracy_{arm}']['mean']:.1%} ({metrics['parameters'][arm]:,} parameters)"
             for arm in ARMS]
    return f"Test accuracy on digits, mean of {len(metrics['seeds'])} seeds: " + ", ".join(parts) + "."


# ## The figure
#
# Left: each seed's test accuracy per arm ("no mixing": no token mixing). Right: the first layer's
# token-mixing weights $W_1$ of the first seed's Mixer, `[D_S, S]`; row $k$ is what hidden unit $k$ reads from
# the 16 patches, drawn on the $4 \times 4$ grid of patch places (the paper's Fig. 5 in miniature), each on its
# own symmetric colour scale.
SHORT_LABELS = {"Mixer": "Mixer", "no token mixing": "no mixing",
                "no token mixing, positions": "no mixing\n+ positions", "ViT": "ViT"}


def _figure(metrics: dict, model: MLPMixer) -> plt.Figure:
    fig = plt.figure(figsize=(12, 4.2))
    left = fig.add_gridspec(1, 1, left=0.06, right=0.36, bottom=0.15, top=0.88)
    ax = fig.add_subplot(left[0])
    for i, arm in enumerate(ARMS):
        values = [100 * a for a in metrics[f"test_accuracy_{arm}"]["per_seed"].values()]
        ax.scatter([i] * len(values), values, color=f"C{i}", s=25)
        ax.hlines(sum(values) / len(values), i - 0.25, i + 0.25, color=f"C{i}")
    ax.set(xticks=range(len(ARMS)), xticklabels=list(SHORT_LABELS.values()),
           ylabel="test accuracy (%)",
           title="Test accuracy, each seed (dot) and mean (line)")
    weights = model.layers[0].token_mixing.mlp.layer1.weight.detach()  # [D_S, S]
    grid = int(weights.shape[1] ** 0.5)
    right = fig.add_gridspec(4, weights.shape[0] // 4, left=0.42, right=0.98, bottom=0.05, top=0.88,
                             wspace=0.1, hspace=0.1)
    for k, row in enumerate(weights):
        cell = fig.add_subplot(right[k // (weights.shape[0] // 4), k % (weights.shape[0] // 4)])
        scale = row.abs().max().item()
        cell.imshow(row.view(grid, grid), cmap="RdBu_r", vmin=-scale, vmax=scale)
        cell.set(xticks=[], yticks=[])
    fig.text(0.70, 0.93, "Token-mixing weights of layer 1 (one 4x4 grid of patch places per hidden unit)",
             ha="center")
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
