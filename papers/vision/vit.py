r"""
---
title: "Vision Transformer: An Image is Worth 16x16 Words"
summary: Patch embedding, class token and learned positions in front of the project's pre-norm transformer
  blocks; on 1,797 digits it trails the small CNN of about the same size on every seed (90.5% against
  98.9% test accuracy), and its heads' mean attention distance stays near that of uniform attention at
  every depth, though the heads do concentrate their attention.
---

# An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale

[Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, Dehghani, Minderer, Heigold, Gelly,
Uszkoreit, Houlsby, 2020. *An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale*](https://arxiv.org/abs/2010.11929)

A convolutional network is built around two assumptions about images: what matters is local (a small
kernel), and the same thing can appear anywhere (the kernel is shared over positions). The Vision
Transformer (ViT) drops both. It cuts the image into $P \times P$ patches, maps each flattened patch to a
vector with one shared linear map, puts a learned *class token* in front, adds a learned position vector to
every slot, and hands the sequence to a standard Transformer encoder; the class token's final state is
classified. Apart from cutting the image into patches, nothing in the model knows that pixels have
neighbours: which patches matter to which has to be learned from data.

The paper's result is about how much data that takes. Pre-trained on ImageNet-21k (14 M images) or JFT-300M
and fine-tuned, ViT matches or beats the best ResNets at a fraction of the pre-training compute. Trained on
ImageNet alone (1.3 M images) the large ViTs trail ResNets of comparable size (its Fig. 3), and on random
subsets of JFT, ResNets are better up to about 30 M images and ViT only beyond (Fig. 4). The paper's reading:
the convolutional inductive bias helps on small data, and large data makes up for its absence.

It also looks inside (Fig. 7, right): for each head, the *mean attention distance*, the attention-weighted
distance in pixels between a query patch and the patches it attends to, the analogue of a CNN's receptive
field. In the lowest layers some heads already attend across most of the image while others stay local, and
the distance grows with depth.

## What the experiment shows

Scikit-learn's digits are about as little data as there is: 1,079 training images of $8 \times 8$ pixels
(269 for validation, 449 for test). ViT here uses $2 \times 2$ patches, a $4 \times 4$ grid of 16 patches
(no upsampling: the patches are smaller instead), width 64, 4 heads, 2 layers, feed-forward width 128 and a
head with 64 hidden units: 73,354 parameters. The baseline is the project's
[small CNN](cs231n.py) (a $3 \times 3$ convolution with 32 filters, $2 \times 2$ max-pooling, 128 hidden
units): 67,274 parameters. Both get the same recipe: Adam, batches of 64, 1,200 steps, random shifts of up to
one pixel, no weight decay, no dropout, and a constant learning rate chosen per model from
$\{3 \times 10^{-4}, 10^{-3}, 3 \times 10^{-3}\}$ by validation accuracy on seed 0 after half the steps
(600). Both chose $10^{-3}$, the middle of the grid. For ViT the choice is clear (validation accuracy
70.6%, 86.2%, 77.7% for the three rates); for the CNN it is not (95.9%, 97.4%, 96.7%: 2 of 269
validation images separate the two best, and by validation loss, 0.081 against 0.093 nats,
$3 \times 10^{-3}$ would have won). A 600-step sweep favours rates that learn fast, so $3 \times 10^{-4}$ may be
undersold. Then three seeds (initial weights and batches; the split is fixed) train for the full 1,200 steps.
The whole run takes 154 s of CPU time at one thread.

**ViT trails the CNN on every seed**: 90.5% test accuracy (87.5% to 93.3%) against 98.9% (98.7% to 99.1%),
a gap of 8.4 points (5.8 to 11.4). Its test cross-entropy is six and a half times the CNN's, 0.275 nats
against 0.043. This is the direction the paper predicts for small data, not a test of its large-data claim,
which needs data this page does not have. Part of the gap may be speed of training rather than its end
point: ViT's validation accuracy (left, seed 0) is still rising at the last evaluations while the CNN's has
flattened out, so a longer budget might narrow the gap (not measured here). A warm-up and decay schedule
(the paper's) was not tried for either model.

![Validation accuracy, and the mean attention distance of each head by layer](results/vit.png)

**The attention-distance figure does not reproduce the paper's picture at this scale** (right). Uniform
attention over the 16 patches has a mean distance of 4.02 pixels, and the untrained models sit there (4.00
pixels, averaged over heads and seeds). After training the mean distances have moved only a little below
it: 3.91 pixels in layer 1 and 3.92 pixels in layer 2, averaged over heads (seed means from 3.77 to 4.07).
The most local head is at 3.29 pixels (layer 1, seed 0); there is no consistent growth with depth (layer 2
minus layer 1: 0.01 pixels on average, from -0.13 to 0.22 by seed). The heads of layer 1 differ among
themselves by 0.40 pixels on average, but by 0.12 to 0.83 depending on the seed. The class token takes
only 2% (layer 1) and 5% (layer 2) of a patch's attention.

**A near-uniform distance is not near-uniform attention.** Over the patch keys, the heads' attention
entropy is on average 0.80 of uniform attention's $\log 16$ in layer 1 (heads from 0.56 to 0.96) and 0.80
in layer 2 (0.63 to 0.89), and the largest weight a query gives one patch is 0.28 on average in both
layers (heads from 0.13 to 0.49 in layer 1, 0.20 to 0.42 in layer 2), against $1/16 = 0.0625$ for uniform
attention. The heads do concentrate, some strongly, but not on nearby patches: what they select
averages out to about the distance of a random patch. Which patches they select (by content, by position)
is not measured here, nor why locality is not learned (too little data to learn it, or too small an image
to need it).

The distance is the paper's measure in form, not in scale: here it is between patch centres on a
$4 \times 4$ grid of $2 \times 2$-pixel patches (the farthest 8.5 pixels apart), and a query's weight on
itself counts at distance 0; the paper's is in pixels of 224-pixel images with 16 or 14-pixel patches.

Differences from the paper: no pre-training, a model a thousand times smaller, no warm-up, decay or weight
decay, and the classification head has one hidden layer with tanh (the paper's pre-training head, as in the
released code) even though the model is trained from scratch. The positions are 1-D learned vectors, the
paper's default. Each block is the project's pre-norm block with GELU, as in the paper.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Digits, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier
from papers.transformers.attention import use_fused_attention
from papers.transformers.building_blocks import block_with_activation
from papers.vision.cs231n import SmallCNN


# ## Cutting an image into patches
#
# An image `[batch, C, H, W]` becomes $N = HW / P^2$ patches of $P \times P$ pixels, read row by row over the
# $\frac{H}{P} \times \frac{W}{P}$ grid, each flattened channel-first into a vector of $C P^2$ numbers:
# `[batch, N, C * P * P]`. The reshape splits each spatial axis into (grid position, offset inside the patch)
# and moves both offsets next to the channel.
def check_patch_size(image_size: int, patch_size: int) -> None:
    check_positive("image_size", image_size, integer=True)
    check_positive("patch_size", patch_size, integer=True)
    if image_size % patch_size != 0:
        raise ValueError(f"patch_size ({patch_size}) must divide image_size ({image_size})")


def patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    sizes = check_tensor("images", images, ["batch", "channels", "height", "width"], dtype=None)
    for axis in ("height", "width"):
        if sizes[axis] % patch_size != 0:
            raise ValueError(f"patch_size ({patch_size}) must divide the image {axis} ({sizes[axis]}), "
                             f"got images of shape {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    grid = images.reshape(batch, channels, rows, patch_size, cols, patch_size)
    grid = grid.permute(0, 2, 4, 1, 3, 5)  # [batch, rows, cols, C, P, P]
    return grid.reshape(batch, rows * cols, channels * patch_size * patch_size)


# ## The patch embedding
#
# Each flattened patch $x_p^i \in \mathbb{R}^{C P^2}$ is mapped to the model width by one shared linear map
# $E \in \mathbb{R}^{C P^2 \times D}$ (the paper's Eq. 1). This is the only place the pixels enter, and the
# only "convolution" in the model: the same map is a convolution with a $P \times P$ kernel and stride $P$,
# whose kernel is $E$ reshaped to `[D, C, P, P]` (the tests check that the two agree).
class PatchEmbedding(nn.Module):
    def __init__(self, image_size: int, patch_size: int, channels: int, d_model: int):
        super().__init__()
        check_patch_size(image_size, patch_size)
        check_positive("channels", channels, integer=True)
        check_positive("d_model", d_model, integer=True)
        self.image_size, self.patch_size, self.channels = image_size, patch_size, channels
        self.patches = (image_size // patch_size) ** 2
        self.projection = nn.Linear(channels * patch_size ** 2, d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_tensor("images", images, ["batch", self.channels, self.image_size, self.image_size],
                     dtype=self.projection.weight.dtype)
        return self.projection(patches(images, self.patch_size))  # [batch, N, d_model]


# ## The classification head
#
# The paper classifies from the class token's final state with "an MLP with one hidden layer at pre-training
# time"; the released code puts a $\tanh$ on that hidden layer, and so does this head by default.
# `activation="relu"` gives labml-nn's head, which the tests compare against.
HEAD_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


class ClassificationHead(nn.Module):
    def __init__(self, d_model: int, hidden: int, classes: int, activation: str = "tanh"):
        super().__init__()
        for name, size in (("d_model", d_model), ("hidden", hidden), ("classes", classes)):
            check_positive(name, size, integer=True)
        if activation not in HEAD_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(HEAD_ACTIVATIONS)}, got {activation!r}")
        self.hidden = nn.Linear(d_model, hidden)
        self.output = nn.Linear(hidden, classes)
        self.activation = activation

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [batch, d_model] -> [batch, classes]
        return self.output(HEAD_ACTIVATIONS[self.activation](self.hidden(z)))


# ## The Vision Transformer
#
# The sequence is the class token followed by the $N$ patch embeddings, plus one learned position vector per
# slot (the paper's Eq. 1-4):
#
# $$z_0 = [x_\text{class};\, x_p^1 E;\, \dots;\, x_p^N E] + E_\text{pos}, \qquad
# E_\text{pos} \in \mathbb{R}^{(N + 1) \times D},$$
#
# $$z_\ell = \mathrm{Block}_\ell(z_{\ell - 1}), \quad \ell = 1 \dots L, \qquad
# y = \mathrm{Head}(\mathrm{LN}(z_L^0)).$$
#
# Each block is the kit's pre-norm [`Block`](../kit/char_transformer.py#the-block), with the GELU
# feed-forward of [Transformer building blocks](../transformers/building_blocks.py) (the paper's MLP) and the
# project's [multi-head attention](../transformers/attention.py), called *without* a mask: every token sees
# every other, since an image has no order to respect. The class token $x_\text{class}$ is a learned vector
# with no pixel behind it; it gathers what the head needs through attention. Positions are 1-D (the index
# of a slot), learned from $\mathcal{N}(0, 0.02^2)$: the model is not told that patch 4 sits below patch 0.
# The paper found 2-D or relative position codes no better (its Table 8). The class token starts at zero, as
# in the released code.
class VisionTransformer(nn.Module):
    def __init__(self, image_size: int, patch_size: int, channels: int, classes: int, d_model: int,
                 heads: int, layers: int, d_ff: int, head_hidden: int, head_activation: str = "tanh"):
        super().__init__()
        check_positive("layers", layers, integer=True)
        self.patch_embedding = PatchEmbedding(image_size, patch_size, channels, d_model)
        self.class_token = nn.Parameter(torch.zeros(d_model))
        self.positions = nn.Parameter(torch.randn(self.patch_embedding.patches + 1, d_model) * 0.02)
        block = block_with_activation("gelu")
        self.blocks = nn.ModuleList(block(d_model, heads, d_ff, pre_norm=True) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.head = ClassificationHead(d_model, head_hidden, classes, head_activation)
        use_fused_attention(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [batch, C, H, W] -> [batch, classes]
        z = self.embed(images)  # [batch, N + 1, d_model]
        for block in self.blocks:
            z = block(z, None)
        return self.head(self.final_norm(z[:, 0]))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embedding(images)  # [batch, N, d_model]
        token = self.class_token.expand(x.shape[0], 1, -1)  # [batch, 1, d_model]
        return torch.cat([token, x], dim=1) + self.positions  # [batch, N + 1, d_model]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ## Attention distance
#
# How far does a head look? For a query patch $i$ and the patch keys $j$, let $d_{ij}$ be the distance in
# pixels between the centres of the two patches ($P$ times the Euclidean distance on the patch grid). The
# paper's *mean attention distance* (its Fig. 7, the analogue of a receptive field) is the attention-weighted
# distance, averaged over query patches and images:
#
# $$\bar{d}_{\ell h} = \mathbb{E}_{\text{images}}\, \frac{1}{N} \sum_{i=1}^{N}
# \frac{\sum_{j=1}^{N} a^{\ell h}_{ij}\, d_{ij}}{\sum_{j=1}^{N} a^{\ell h}_{ij}}.$$
#
# The class token has no place in the image: it is left out as a query, and its share of each query's
# attention is left out of the average (the weights over the patches are renormalised). `weights` is
# `[batch, heads, N + 1, N + 1]` with the class token first; the result is `[heads]`.
def patch_distances(grid: int, patch_size: int) -> torch.Tensor:
    check_positive("grid", grid, integer=True)
    check_positive("patch_size", patch_size, integer=True)
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=-1).double() * patch_size  # [N, 2]
    return torch.cdist(centres, centres)  # [N, N]


def patch_shares(weights: torch.Tensor) -> torch.Tensor:
    sizes = check_tensor("weights", weights, ["batch", "heads", "tokens", "tokens"])
    grid = math.isqrt(sizes["tokens"] - 1)
    if grid * grid != sizes["tokens"] - 1:
        raise ValueError(f"weights must cover a class token and a square grid of patches, got "
                         f"{sizes['tokens']} tokens")
    on_patches = weights[:, :, 1:, 1:]  # [batch, heads, N, N]: patch queries, patch keys
    return on_patches / on_patches.sum(dim=-1, keepdim=True)


def mean_attention_distance(weights: torch.Tensor, patch_size: int) -> torch.Tensor:
    share = patch_shares(weights)  # [batch, heads, N, N]
    distances = patch_distances(math.isqrt(share.shape[-1]), patch_size).to(weights)  # [N, N]
    return (share * distances).sum(dim=-1).mean(dim=(0, 2))  # [heads]


# A distance near uniform attention's does not mean the attention *is* near uniform: a head that puts
# most of its weight on one far patch and one near patch can average out to the same distance. Two measures
# of how concentrated a head is, on the same renormalised weights over the $N$ patch keys, averaged over
# patch queries and images (`[heads]` each): the entropy $-\sum_j s_{ij} \log s_{ij}$ as a fraction of
# uniform attention's $\log N$ (1 for uniform, 0 for one key), and the largest weight $\max_j s_{ij}$
# ($1/N$ for uniform, 1 for one key).
def attention_entropy_fraction(weights: torch.Tensor) -> torch.Tensor:
    share = patch_shares(weights)  # [batch, heads, N, N]
    entropy = -(share * share.clamp_min(1e-30).log()).sum(dim=-1)  # [batch, heads, N]
    return entropy.mean(dim=(0, 2)) / math.log(share.shape[-1])  # [heads]


def largest_weight(weights: torch.Tensor) -> torch.Tensor:
    return patch_shares(weights).amax(dim=-1).mean(dim=(0, 2))  # [heads]


# The distances of every layer and head of a trained model on `images`: `[layers, heads]`. Each block's
# attention keeps its weights for the one call (the fused kernel does not produce them).
@torch.no_grad()
def attention_distances(model: VisionTransformer, images: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    attentions = [block.attention for block in model.blocks]
    for attention in attentions:
        attention.keep_weights = True
    model(images)
    for attention in attentions:
        attention.keep_weights = False
    model.train(was_training)
    patch = model.patch_embedding.patch_size
    return torch.stack([mean_attention_distance(a.weights, patch) for a in attentions])


# The share of each patch query's attention that goes to the class token, and the two measures of
# concentration, per layer and head: `[layers, heads]` each (read from the weights kept by the last
# `attention_distances` call).
def class_token_share(model: VisionTransformer) -> torch.Tensor:
    return torch.stack([block.attention.weights[:, :, 1:, 0].mean(dim=(0, 2)) for block in model.blocks])


def attention_concentration(model: VisionTransformer) -> dict[str, torch.Tensor]:
    kept = [block.attention.weights for block in model.blocks]
    return {"entropy_fraction": torch.stack([attention_entropy_fraction(w) for w in kept]),
            "largest_weight": torch.stack([largest_weight(w) for w in kept])}


# ## The experiment
#
# Both models see the digits at their own $8 \times 8$ size, with the same augmentation (random shifts of up
# to `MAX_SHIFT` pixels, from the [vision kit](../kit/vision.py)), the same optimiser, batches and number of
# steps. For one seed the two models draw the same batches and shifts (the batch generator is seeded with
# the seed alone). The learning rate of each is chosen from the same grid by its validation accuracy on the
# first seed after *half* the training steps (ties broken by validation loss): a shorter sweep pays for the
# third rate. Then all three seeds, the first included, train for the full number of steps at the chosen
# rates. Test images are used only for the final numbers and the attention measures. (The quick run uses 300
# steps, two seeds and the rate $3 \times 10^{-3}$ alone.)
IMAGE_SIZE = 8
PATCH_SIZE = 2
LEARNING_RATES = (3e-4, 1e-3, 3e-3)
MAX_SHIFT = 1


def vit(generator_seed: int) -> VisionTransformer:
    torch.manual_seed(generator_seed)
    return VisionTransformer(IMAGE_SIZE, PATCH_SIZE, 1, 10, d_model=64, heads=4, layers=2, d_ff=128,
                             head_hidden=64)


def cnn(generator_seed: int) -> SmallCNN:
    return SmallCNN(1, 32, 128, 10, IMAGE_SIZE, torch.Generator().manual_seed(generator_seed))


ARMS = {"ViT": vit, "CNN": cnn}


def train_arm(arm: str, data: Digits, lr: float, steps: int, seed: int) -> tuple[nn.Module, History]:
    model = ARMS[arm](seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=MAX_SHIFT, eval_every=max(steps // 10, 1))
    history = train_classifier(model, optimizer, data.train, data.valid, settings,
                               torch.Generator().manual_seed(seed))
    return model, history


def best_rate(runs: dict[float, tuple[nn.Module, History]]) -> float:
    return max(runs, key=lambda lr: (runs[lr][1].last("eval_accuracy"), -runs[lr][1].last("eval_loss")))


# Attention at random initialisation is nearly uniform; uniform attention over the patches gives the mean
# distance between two patches of the grid, the reference line of the figure.
def uniform_distance(grid: int, patch_size: int) -> float:
    return patch_distances(grid, patch_size).mean().item()


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    steps = config.train_steps(1200, 300)
    grid = config.choose(LEARNING_RATES, LEARNING_RATES[2:])
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    sweep = {arm: {lr: train_arm(arm, data, lr, steps // 2, seeds[0]) for lr in grid} for arm in ARMS}
    rates = {arm: best_rate(runs) for arm, runs in sweep.items()}
    trained = {arm: {seed: train_arm(arm, data, rates[arm], steps, seed) for seed in seeds} for arm in ARMS}
    scores = {arm: {seed: evaluate(model, data.test) for seed, (model, _) in runs.items()}
              for arm, runs in trained.items()}
    distances, shares, concentration = {}, {}, {}
    for seed, (model, _) in trained["ViT"].items():
        distances[seed] = attention_distances(model, data.test.x)
        shares[seed], concentration[seed] = class_token_share(model), attention_concentration(model)
    initial = {seed: attention_distances(vit(seed), data.test.x) for seed in seeds}
    metrics = _metrics(sweep, rates, scores, distances, shares, initial, steps)
    metrics.update(_concentration_metrics(concentration))
    return Outcome(_headline(metrics), metrics,
                   {"": _figure(trained, scores, distances, initial, metrics["uniform_attention_distance"])})


def _metrics(sweep: dict, rates: dict, scores: dict, distances: dict, shares: dict, initial: dict,
             steps: int) -> dict:
    seeds = list(distances)
    metrics: dict = {
        "seeds": seeds, "train_steps": steps, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE,
        "max_shift": MAX_SHIFT, "parameters": {arm: parameter_count(build(0)) for arm, build in ARMS.items()},
        "learning_rate": rates, "learning_rate_sweep_steps": steps // 2,
        "learning_rate_sweep_valid_accuracy": {
            arm: {str(lr): history.last("eval_accuracy") for lr, (_, history) in runs.items()}
            for arm, runs in sweep.items()},
        "learning_rate_sweep_valid_loss": {
            arm: {str(lr): history.last("eval_loss") for lr, (_, history) in runs.items()}
            for arm, runs in sweep.items()},
        "test_images": len(digits().test.y),
    }
    for arm in ARMS:
        metrics[f"test_accuracy_{arm}"] = over_seeds({s: scores[arm][s][1] for s in seeds})
        metrics[f"test_loss_{arm}"] = over_seeds({s: scores[arm][s][0] for s in seeds})
    metrics["test_accuracy_gap_CNN_minus_ViT"] = over_seeds(
        {s: scores["CNN"][s][1] - scores["ViT"][s][1] for s in seeds})
    layers = len(distances[seeds[0]])
    for layer in range(layers):
        metrics[f"distance_layer{layer + 1}_mean_over_heads"] = over_seeds(
            {s: distances[s][layer].mean().item() for s in seeds})
        metrics[f"distance_layer{layer + 1}_spread_over_heads"] = over_seeds(
            {s: (distances[s][layer].max() - distances[s][layer].min()).item() for s in seeds})
        metrics[f"class_token_share_layer{layer + 1}"] = over_seeds(
            {s: shares[s][layer].mean().item() for s in seeds})
    metrics["distance_last_minus_first_layer"] = over_seeds(
        {s: (distances[s][-1].mean() - distances[s][0].mean()).item() for s in seeds})
    metrics["distance_per_head"] = {str(s): [[round(v, 3) for v in row] for row in distances[s].tolist()]
                                    for s in seeds}
    metrics["distance_at_initialisation"] = over_seeds({s: initial[s].mean().item() for s in seeds})
    metrics["uniform_attention_distance"] = round(uniform_distance(IMAGE_SIZE // PATCH_SIZE, PATCH_SIZE), 4)
    return metrics


# Entropy fraction and largest weight: per layer (mean over heads, over seeds), per head (mean over seeds)
# and every seed's per-head values.
def _concentration_metrics(concentration: dict) -> dict:
    seeds = list(concentration)
    metrics: dict = {}
    for name in ("entropy_fraction", "largest_weight"):
        values = torch.stack([concentration[s][name] for s in seeds])  # [seeds, layers, heads]
        for layer in range(values.shape[1]):
            metrics[f"{name}_layer{layer + 1}_mean_over_heads"] = over_seeds(
                {s: values[k, layer].mean().item() for k, s in enumerate(seeds)})
            metrics[f"{name}_layer{layer + 1}_min_over_heads"] = over_seeds(
                {s: values[k, layer].min().item() for k, s in enumerate(seeds)})
            metrics[f"{name}_layer{layer + 1}_max_over_heads"] = over_seeds(
                {s: values[k, layer].max().item() for k, s in enumerate(seeds)})
        metrics[f"{name}_per_head"] = {str(s): [[round(v, 3) for v in row] for row in values[k].tolist()]
                                       for k, s in enumerate(seeds)}
    return metrics


def _headline(metrics: dict) -> str:
    vit_, cnn_ = metrics["test_accuracy_ViT"], metrics["test_accuracy_CNN"]
    return (f"Test accuracy, mean of {len(metrics['seeds'])} seeds: ViT {vit_['mean']:.1%} "
            f"({metrics['parameters']['ViT']:,} parameters) against the small CNN {cnn_['mean']:.1%} "
            f"({metrics['parameters']['CNN']:,}); mean attention distance "
            f"{metrics['distance_layer1_mean_over_heads']['mean']:.2f} pixels in layer 1 and "
            f"{metrics['distance_layer2_mean_over_heads']['mean']:.2f} in layer 2 "
            f"(uniform attention: {metrics['uniform_attention_distance']:.2f}).")


def _figure(trained: dict, scores: dict, distances: dict, initial: dict, uniform: float) -> plt.Figure:
    fig, (ax_curve, ax_distance) = plt.subplots(1, 2, figsize=(11, 4))
    first = next(iter(distances))
    for i, arm in enumerate(ARMS):
        history = trained[arm][first][1]
        ax_curve.plot(history.steps("eval_accuracy"), [100 * a for a in history.values("eval_accuracy")],
                      marker=".", color=f"C{i}", label=f"{arm}, seed {first}")
        for seed, (_, accuracy) in scores[arm].items():
            ax_curve.plot(history.steps("eval_accuracy")[-1] * 1.04, 100 * accuracy, "x", color=f"C{i}")
    ax_curve.set(xlabel="training step", ylabel="accuracy (%)", ylim=(0, 100.5),
                 title="Validation accuracy (line), test accuracy of each seed (x)")
    ax_curve.legend(loc="lower right")
    for k, seed in enumerate(distances):
        layers, heads = distances[seed].shape
        for layer in range(layers):
            offsets = layer + 1 + 0.08 * (k - 1) + torch.zeros(heads)
            ax_distance.scatter(offsets, distances[seed][layer], color=f"C{k}", s=18,
                                label=f"seed {seed}" if layer == 0 else None)
            ax_distance.scatter(offsets, initial[seed][layer], color=f"C{k}", s=18, marker="x", alpha=0.5,
                                label=f"seed {seed}, untrained" if layer == 0 else None)
    ax_distance.axhline(uniform, color="gray", linestyle="--", linewidth=0.8, label="uniform attention")
    ax_distance.set(xlabel="layer (network depth)", ylabel="mean attention distance (pixels)",
                    xticks=range(1, layers + 1), ylim=(0, None),
                    title="Mean attention distance of each head (Fig. 7)")
    ax_distance.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
