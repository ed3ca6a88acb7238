r"""
---
title: Deep Residual Learning for Image Recognition
summary: Residual blocks with identity and projection shortcuts, a CIFAR-style ResNet, and the degradation
  experiment on digits over three seeds, each network at its best rate of the same sweep: a deep plain network
  trains far worse than a shallow one, the same deep network with shortcuts reaches a lower training loss than
  both.
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

The degradation experiment in miniature, on scikit-learn's $8 \times 8$ digits at their own size: three
networks with the CIFAR layout of the paper's section 4.2,

* a **shallow plain** network, plain-20,
* a **deep plain** network, plain-56, the same layout with more blocks per stage,
* the same deep network **with shortcuts**: resnet-56.

Each is trained for 200 steps of SGD with momentum 0.9 on mini-batches of 64, every network of a seed on the
same mini-batches, over three seeds. **Every network gets the same learning-rate sweep**, the constant rates
0.01 and 0.05 at every seed, and is compared at its own best rate: the one with the lower final training loss
(the mean over the last 20 steps), averaged over the seeds. The choice is made on training loss because the
claim is about fitting the training set; the test set plays no part in it. The best rates are 0.05 for
plain-20 and 0.01 for plain-56 and resnet-56.

![Training loss and error of plain and residual networks](results/resnet.png)

Means of three seeds at the best rate of each (the results below give every seed, and the whole sweep):

| network | rate | final training loss | training error | test accuracy |
|---|---|---|---|---|
| plain-20 | 0.05 | 0.45 | 16.3% | 81.6% |
| plain-56 | 0.01 | 2.06 | 76.4% | 22.4% |
| resnet-56 | 0.01 | 0.33 | 13.4% | 83.5% |

The training error is measured on the whole training set in evaluation mode, the final training loss on the
shifted mini-batches.

**Degradation at equal steps and the same sweep: holds, in an extreme form.** The deep plain network fits the
training set far worse than the shallow one on every seed: its final training loss is higher by 1.56 to 1.67 (mean
1.61) and its training error by 51.0 to 65.6 points (mean 60.1). At its other rate, 0.05, it does no better
(training loss 2.12). That is more extreme than the paper, whose plain-56 does train, only to a higher training
error than plain-20 (Figure 1, and Figure 6 left for 20 to 56 layers): ours is still at 74 to 80% training error
(chance: 90%) after 200 steps. Its best rate is the low end of our two-rate sweep; a lower rate, the paper's
warm-up (which it uses for its 110-layer ResNet) or longer training are not tested here. So this run shows that
with the same steps and the same sweep the deep plain network fits far worse than the shallow one, not that it
could not fit with more training.

**Shortcuts fix it.** The same 56 layers with shortcuts end with a training loss lower than plain-56's by 1.64
to 1.83 on every seed, and lower than plain-20's too, by 0.08 to 0.16 (mean 0.12), as the paper's deeper ResNets
reach lower training error than shallower ones (Figure 6 middle); though plain-20's best rate, 0.05, is the top of
our two-rate sweep, so a higher rate (the paper's 0.1) might close this margin; and the 56-layer nets' best, 0.01,
is its bottom. The sweep brackets no network's best rate. On the training error this margin over plain-20 is
weaker: 2.9 points in resnet-56's favour on average, but from 12.9 points ahead to 2.4 points behind over the
seeds. And it depends on size: in the smaller calibration run of the tests (plain-8, plain-26 and resnet-26, 100
steps), resnet-26's final loss is 1.07 to 1.42 times plain-8's, so at that size the deep ResNet trails the shallow
plain net. Test accuracy follows the same order as here (83.5% against 81.6% for plain-20), but with a range of
seeds this wide it is not a claim of this page. All three networks are far from converged (about 12 passes over
the 1,079 training images, against about 160 in the paper), so these are differences in how fast they fit, at
equal steps.

**How this setup differs from the paper's** (section 4.2): $8 \times 8$ digits, not $32 \times 32$ CIFAR-10
images; widths 8, 16 and 32, not 16, 32 and 64; 200 steps on batches of 64 at a constant rate, not 64k
iterations on batches of 128 at 0.1, divided by 10 twice; no weight decay (the paper's $10^{-4}$); shifts by up
to a pixel instead of 4-pixel padding, cropping and flipping; projection shortcuts where the shape changes (the
paper's CIFAR networks use option A); and PyTorch's default initialisation of the convolutions (uniform, with
a standard deviation of $1 / \sqrt{3\, \text{fan-in}}$) rather than the paper's
$\mathcal{N}(0, 2 / \text{fan-in})$. With batch normalisation after every convolution the convolutions' weight
scale does not change what a network computes (apart from the classifier, which no normalisation follows), only
how large a step of a given rate is relative to the weights; the rate sweep covers part of that difference.
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
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier


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
# sequence of mini-batches of 64 digits, each shifted at random by up to a pixel (the paper augments with
# random crops of a 4-pixel padding and horizontal flips). What is compared is how well each *fits the
# training set*, the quantity the degradation problem is about.
def train_network(model: nn.Module, data: Split, evaluation: Split, steps: int, seed: int,
                  lr: float = 0.05, max_shift: int = 2) -> History:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=max_shift, eval_every=steps)
    return train_classifier(model, optimizer, data, evaluation, settings, torch.Generator().manual_seed(seed))


# Per-step training losses are noisy; the curves and the summary use a trailing mean over `window` steps.
def smoothed(values: list[float], window: int) -> list[float]:
    check_positive("window", window, integer=True)
    series = torch.tensor(values)
    cumulative = torch.cat([torch.zeros(1), series.cumsum(0)])
    starts = (torch.arange(len(values)) + 1 - window).clamp(min=0)
    ends = torch.arange(len(values)) + 1
    return ((cumulative[ends] - cumulative[starts]) / (ends - starts)).tolist()


# ### One run
#
# A network (`blocks` per stage, with or without shortcuts), one learning rate, one seed. Recorded: the final
# training loss (the mean over the last tenth of the steps, on the shifted mini-batches, with batch statistics),
# the error on the whole training set (evaluation mode, no shifts) and the accuracy on the test set.
Run = tuple[History, dict[str, float]]


def run_network(blocks: int, residual: bool, data: tuple[Split, Split], steps: int, seed: int,
                lr: float) -> Run:
    train, test = data
    torch.manual_seed(seed)
    model = ResNet(blocks, width=8, residual=residual)
    history = train_network(model, train, test, steps, seed, lr=lr, max_shift=1)
    losses = history.values("loss")
    window = max(steps // 10, 1)
    return history, {"final_train_loss": sum(losses[-window:]) / window,
                     "train_error": 1.0 - evaluate(model, train)[1],
                     "test_accuracy": history.last("eval_accuracy")}


# ### The learning-rate sweep
#
# Every network gets the same sweep, $\{0.01, 0.05\}$, at every seed, and the comparison uses each network's
# own best rate: the one with the lower final training loss, averaged over the seeds. The choice is made on
# training loss because the claim is about fitting the training set (the paper's Figure 1 and Figure 6 compare
# training error); the test set plays no part in it.
LEARNING_RATES = (0.01, 0.05)
SUMMARY = ("final_train_loss", "train_error", "test_accuracy")


def network_layouts(shallow: int, deep: int) -> dict[str, tuple[int, bool]]:
    return {f"plain-{6 * shallow + 2}": (shallow, False), f"plain-{6 * deep + 2}": (deep, False),
            f"resnet-{6 * deep + 2}": (deep, True)}


def sweep(layouts: dict[str, tuple[int, bool]], data: tuple[Split, Split], steps: int,
          seeds: list[int]) -> dict[str, dict[float, list[Run]]]:
    return {name: {lr: [run_network(blocks, residual, data, steps, seed, lr) for seed in seeds]
                   for lr in LEARNING_RATES}
            for name, (blocks, residual) in layouts.items()}


def mean_of(runs: list[Run], key: str) -> float:
    return sum(result[key] for _, result in runs) / len(runs)


def best_rate(runs_by_rate: dict[float, list[Run]]) -> float:
    return min(runs_by_rate, key=lambda lr: mean_of(runs_by_rate[lr], "final_train_loss"))


def plot_curves(histories: dict[str, list[History]], window: int) -> Figure:
    fig, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (name, runs), color in zip(histories.items(), ("C0", "C1", "C2")):
        for i, history in enumerate(runs):
            steps = history.steps("loss")
            errors = [1.0 - a for a in history.values("train_accuracy")]
            loss_ax.plot(steps, smoothed(history.values("loss"), window), color=color, alpha=0.8,
                         label=name if i == 0 else None)
            error_ax.plot(steps, smoothed(errors, window), color=color, alpha=0.8)
    loss_ax.set(xlabel="step", ylabel="training loss", yscale="log", title="Training loss, best rate of each")
    error_ax.set(xlabel="step", ylabel="training error", title="Training error (mini-batches)")
    loss_ax.legend()
    fig.tight_layout()
    return fig


# ### The comparison
#
# Over three seeds (two in the quick run). The results file holds the whole sweep, each network's best rate,
# its numbers at that rate (each seed, mean, spread) and, seed by seed, the differences the claim is about.
def experiment(config: RunConfig) -> Outcome:
    data = digits()  # the 8 x 8 digits, at their own size
    shallow, deep = config.choose((3, 9), (1, 4))  # blocks per stage: 20 and 56 layers (quick: 8 and 26)
    steps = config.train_steps(200, 100)
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    layouts = network_layouts(shallow, deep)
    runs = sweep(layouts, (data.train, data.test), steps, seeds)
    best = {name: best_rate(runs[name]) for name in layouts}

    def summary(name: str, lr: float) -> dict[str, dict]:
        return {key: over_seeds({s: r[1][key] for s, r in zip(seeds, runs[name][lr])}) for key in SUMMARY}

    def difference(a: str, b: str, key: str) -> dict:
        pairs = zip(seeds, runs[a][best[a]], runs[b][best[b]])
        return over_seeds({s: ra[1][key] - rb[1][key] for s, ra, rb in pairs})

    plain_shallow, plain_deep, resnet_deep = layouts
    metrics = {
        "steps": steps, "seeds": seeds, "learning_rates": list(LEARNING_RATES), "best_rate": best,
        "sweep": {name: {str(lr): summary(name, lr) for lr in LEARNING_RATES} for name in layouts},
        "best": {name: summary(name, best[name]) for name in layouts},
        "differences": {f"{a} minus {b}": {key: difference(a, b, key) for key in SUMMARY[:2]}
                        for a, b in ((plain_deep, plain_shallow), (resnet_deep, plain_deep),
                                     (resnet_deep, plain_shallow))},
        "parameters": {name: sum(p.numel() for p in ResNet(blocks, width=8, residual=residual).parameters())
                       for name, (blocks, residual) in layouts.items()},
    }
    headline = (f"Final training loss at each network's best rate, mean of {len(seeds)} seeds: "
                + ", ".join(f"{n} {metrics['best'][n]['final_train_loss']['mean']:.3f} (lr {best[n]})"
                            for n in layouts) + f" ({steps} steps)")
    curves = {f"{name} (lr {best[name]})": [history for history, _ in runs[name][best[name]]] for name in layouts}
    return Outcome(headline=headline, metrics=metrics, figures={"": plot_curves(curves, max(steps // 10, 1))})


if __name__ == "__main__":
    run_paper(__file__, experiment)
