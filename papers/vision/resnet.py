r"""
---
title: Deep Residual Learning for Image Recognition
summary: Residual blocks with identity and projection shortcuts, a CIFAR-style ResNet, and the degradation
  experiment on digits: a deep plain network trains worse than a shallow one, the same deep network with
  shortcuts trains better than both.
---

# Deep Residual Learning for Image Recognition

[He, Zhang, Ren and Sun, 2015. *Deep Residual Learning for Image Recognition*](https://arxiv.org/abs/1512.03385)

Stacking more layers should never hurt a network: the extra layers could copy their input and the deeper
network would compute exactly what the shallower one does. Yet in practice it does hurt. A 56-layer plain
network (convolutions, batch normalisation and ReLUs, nothing else) reaches a *higher training error* than a
20-layer one on CIFAR-10 (the paper's Figure 1, and Figure 6 left for 20 to 56 layers). That is not
overfitting, the training error itself is worse: the paper reads it as the optimiser failing to find the
solution the deeper network can represent. The paper calls this the **degradation problem**.

The fix is to change what the layers are asked to learn. Instead of fitting a desired mapping
$\mathcal{H}(x)$ directly, a few stacked layers fit the *residual* $\mathcal{F}(x) = \mathcal{H}(x) - x$ and
a shortcut adds the input back:

$$y = \mathcal{F}(x, \{W_i\}) + x.$$

The paper's hypothesis: if the identity is (close to) optimal, pushing $\mathcal{F}$ to zero is easier than
fitting an identity with a stack of non-linear layers (this page does not measure it). The shortcut costs
no parameters and no computation. Where a block changes the number of channels or the resolution, $x$ and
$\mathcal{F}(x)$ differ in shape and the shortcut becomes a learned projection $W_s x$ (the paper's
"option B": a strided $1 \times 1$ convolution, here followed by batch normalisation). The paper's own CIFAR
networks (Section 4.2) use option A instead, an identity shortcut padded with zeros for the extra channels;
the projection is our choice:

$$y = \mathcal{F}(x, \{W_i\}) + W_s x.$$

[The tests](../../tests/vision/test_resnet.py) check a block against the same computation written out by hand,
the projection shortcut against an explicit $1 \times 1$ matrix product, the block against labml-nn's
`ResidualBlock` with copied weights, and that a block whose residual branch is zero is exactly the identity.

## The experiment

The degradation experiment in miniature, on scikit-learn's digits resized to $16 \times 16$: three networks
with the CIFAR layout of the paper's section 4.2, trained with the same optimiser, steps and batches. The
scale differs from the paper's: widths 8, 16, 32 (not 16, 32, 64), $16 \times 16$ digits (not $32 \times 32$
CIFAR-10), 400 steps at learning rate 0.05 with batches of 64 (not 64k iterations at 0.1 with batches of 128),
and no weight decay.

* a **shallow plain** network,
* a **deep plain** network, the same layout with more blocks per stage,
* the same deep network **with shortcuts**: a ResNet.

![Training loss and error of plain and residual networks](results/resnet.png)

The deep plain network trains far worse than the shallow one: final training loss 1.76 against 0.069, and
training error 71% against 5.3% on the whole training set (seed 0, the one recorded run). That is far more
extreme than the paper's Figure 6, where the plain-56 network does train, only to a higher error than
plain-20: here it barely leaves chance in 400 steps (test accuracy 24%). Every network got the same single
learning rate, so a plain-56 tuned on its own, or trained longer, might close part of this gap; that is not
tested here. Adding shortcuts to exactly the same deep network fixes it: resnet-56 ends with the lowest
training loss (0.054) and training error (3.3%) of the three, and the best test accuracy (96.2% against 93.3%
for plain-20). Its margin over the shallow plain network is small and comes from one seed, so this run does
not establish that the deeper residual network fits better than the shallow plain one; only its margin over
the deep plain network is large. The results below give the final training loss (mean of the last 40 steps),
the training error on the whole training set and the test accuracy of each.
"""
from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, resize, train_classifier


# ## Building pieces
#
# All convolutions are $3 \times 3$ with padding 1 (the spatial size is kept, or halved with stride 2) and
# have no bias: each is followed by batch normalisation, whose shift $\beta$ makes a bias redundant.
def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def _check_block_args(in_channels: int, out_channels: int, stride: int) -> None:
    check_positive("in_channels", in_channels, integer=True)
    check_positive("out_channels", out_channels, integer=True)
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")


def check_images(x: torch.Tensor, layer: nn.Conv2d) -> None:
    """Feature maps must be `[batch, channels, height, width]` with the channels and dtype of the first layer."""
    check_tensor("x", x, ["batch", layer.in_channels, "height", "width"], dtype=layer.weight.dtype)


# ### The projection shortcut
#
# Option B of the paper: when a block halves the resolution and widens the channels, the shortcut is a
# $1 \times 1$ convolution with the block's stride, $W_s x$, followed by batch normalisation.
# `[batch, in_channels, H, W]` $\to$ `[batch, out_channels, H / stride, W / stride]`.
class ProjectionShortcut(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        _check_block_args(in_channels, out_channels, stride)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.conv)
        return self.bn(self.conv(x))


# The shortcut a block needs: the identity (free) when the shapes agree, the projection when they do not.
def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ProjectionShortcut(in_channels, out_channels, stride)


# ## The basic block
#
# Two $3 \times 3$ convolutions, each followed by batch normalisation, with a ReLU between them:
#
# $$\mathcal{F}(x) = \mathrm{BN}(W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * x))),$$
#
# and the block's output $y = \mathrm{ReLU}(\mathcal{F}(x) + x)$: the second ReLU comes *after* the addition.
# With `residual=False` the same layers make a block of the *plain* network, $y = \mathrm{ReLU}(\mathcal{F}(x))$,
# so the plain and residual networks of the experiment differ in nothing but the shortcuts.
class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, residual: bool = True):
        super().__init__()
        _check_block_args(in_channels, out_channels, stride)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut(in_channels, out_channels, stride) if residual else None

    # $\mathcal{F}(x)$: `[batch, in_channels, H, W]` $\to$ `[batch, out_channels, H / stride, W / stride]`
    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.conv1)
        out = self.residual_branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


# ## The network
#
# The CIFAR layout of the paper's section 4.2: a $3 \times 3$ convolution, then three *stages* of $n$ blocks
# each, with $w$, $2w$ and $4w$ channels on feature maps of size $s$, $s/2$ and $s/4$ (the first block of the
# second and third stage has stride 2), then global average pooling and a linear classifier. That is $6n + 2$
# weighted layers: $n = 3$ gives ResNet-20, $n = 9$ ResNet-56.
#
# `make_block(in_channels, out_channels, stride)` builds one block, so later papers can fill the same layout
# with their own blocks.
def residual_stages(make_block: Callable[[int, int, int], nn.Module], blocks_per_stage: int,
                    width: int) -> nn.Sequential:
    check_positive("blocks_per_stage", blocks_per_stage, integer=True)
    blocks, channels = [], width
    for stage, stage_width in enumerate((width, 2 * width, 4 * width)):
        for i in range(blocks_per_stage):
            stride = 2 if stage > 0 and i == 0 else 1
            blocks.append(make_block(channels, stage_width, stride))
            channels = stage_width
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    """A CIFAR-style network of basic blocks; with `residual=False`, the plain network of the same depth."""

    def __init__(self, blocks_per_stage: int, width: int = 8, classes: int = 10, in_channels: int = 1,
                 residual: bool = True):
        super().__init__()
        for name, size in (("width", width), ("classes", classes), ("in_channels", in_channels)):
            check_positive(name, size, integer=True)
        self.depth = 6 * blocks_per_stage + 2
        self.stem = nn.Sequential(conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU())
        self.stages = residual_stages(lambda i, o, s: BasicBlock(i, o, s, residual), blocks_per_stage, width)
        self.classifier = nn.Linear(4 * width, classes)

    # `[batch, in_channels, H, W]` $\to$ logits `[batch, classes]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.stem[0])
        features = self.stages(self.stem(x))  # [batch, 4w, H / 4, W / 4]
        return self.classifier(features.mean(dim=(2, 3)))  # [batch, classes]


# ## The degradation experiment
#
# Each network is trained from the same seed with SGD and momentum, the paper's optimiser, on the same
# sequence of mini-batches of 64 digits, each shifted at random by up to 2 pixels (the paper augments with
# random crops of a 4-pixel padding and horizontal flips; here the shifts are meant to keep the training set
# from being memorised in a few steps, which this page does not measure). What is compared is how well each
# *fits the training set*, the quantity the degradation problem is about.
def train_network(model: nn.Module, data: Split, evaluation: Split, steps: int, seed: int,
                  lr: float = 0.05, max_shift: int = 2) -> History:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=max_shift, eval_every=max(steps // 4, 1))
    return train_classifier(model, optimizer, data, evaluation, settings, torch.Generator().manual_seed(seed))


# Per-step training losses are noisy; the curves and the summary use a trailing mean over `window` steps.
def smoothed(values: list[float], window: int) -> list[float]:
    check_positive("window", window, integer=True)
    series = torch.tensor(values)
    cumulative = torch.cat([torch.zeros(1), series.cumsum(0)])
    starts = (torch.arange(len(values)) + 1 - window).clamp(min=0)
    ends = torch.arange(len(values)) + 1
    return ((cumulative[ends] - cumulative[starts]) / (ends - starts)).tolist()


def plot_curves(histories: dict[str, History], window: int) -> Figure:
    fig, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, history in histories.items():
        steps = history.steps("loss")
        loss_ax.plot(steps, smoothed(history.values("loss"), window), label=name)
        errors = [1.0 - a for a in history.values("train_accuracy")]
        error_ax.plot(steps, smoothed(errors, window), label=name)
    loss_ax.set(xlabel="step", ylabel="training loss", yscale="log", title="Training loss")
    error_ax.set(xlabel="step", ylabel="training error", title="Training error (mini-batches)")
    loss_ax.legend()
    fig.tight_layout()
    return fig


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    size = 16
    train, test = resize(data.train, size), resize(data.test, size)
    shallow, deep = config.choose((3, 9), (1, 4))  # blocks per stage: 20 and 56 layers (quick: 8 and 26)
    steps = config.train_steps(400, 100)
    window = max(steps // 10, 1)
    networks = {f"plain-{6 * shallow + 2}": (shallow, False), f"plain-{6 * deep + 2}": (deep, False),
                f"resnet-{6 * deep + 2}": (deep, True)}
    histories, metrics = {}, {}
    for name, (blocks, residual) in networks.items():
        torch.manual_seed(config.seed)
        model = ResNet(blocks, width=8, residual=residual)
        history = train_network(model, train, test, steps, config.seed)
        train_loss, train_accuracy = evaluate(model, train)
        histories[name] = history
        losses = history.values("loss")
        metrics[name] = {"final_train_loss": sum(losses[-window:]) / window,
                         "mean_train_loss": sum(losses) / len(losses),
                         "train_error": 1.0 - train_accuracy, "eval_train_loss": train_loss,
                         "test_accuracy": history.last("eval_accuracy"),
                         "parameters": sum(p.numel() for p in model.parameters())}
    names = list(networks)
    headline = ("Final training loss: " + ", ".join(f"{n} {metrics[n]['final_train_loss']:.3f}" for n in names)
                + f" ({steps} steps)")
    return Outcome(headline=headline, metrics={"steps": steps, **metrics},
                   figures={"": plot_curves(histories, window)})


if __name__ == "__main__":
    run_paper(__file__, experiment)
