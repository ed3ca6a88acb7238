r"""
---
title: Multi-Scale Context Aggregation by Dilated Convolutions
summary: The context module (3x3 convolutions with dilations 1, 1, 2, 4, 8, 16, 1, identity-initialised), its
  receptive field measured from input gradients, and a dense-labelling task that needs wide context.
---

# Multi-Scale Context Aggregation by Dilated Convolutions

[Yu and Koltun, 2015. *Multi-Scale Context Aggregation by Dilated Convolutions*](https://arxiv.org/abs/1511.07122)

Dense prediction (a label for every pixel) needs two things at once: full resolution, and context from far
away. Classification networks get context by pooling, which throws the resolution away. A **dilated
convolution** gets it without pooling: the $3 \times 3$ kernel is spread out, its taps $l$ pixels apart,

$$(F *_l k)(p) = \sum_{s + l t = p} F(s)\, k(t),$$

so one layer sees a $(2l + 1) \times (2l + 1)$ window with nine weights. Stack layers with dilations
$1, 2, 4, \dots, 2^{i-1}$ and the receptive field after $i$ layers is $(2^{i+1} - 1) \times (2^{i+1} - 1)$:
it grows *exponentially* with depth while the parameters grow linearly. With ordinary $3 \times 3$
convolutions it grows linearly, $(2i + 1) \times (2i + 1)$.

The paper's **context module** is such a stack, made to be plugged on top of any dense-prediction network: it
takes $C$ feature maps (for instance class scores) and returns $C$ feature maps of the same size, each output
pixel having seen a $67 \times 67$ window (the paper's Table 1). It is *identity-initialised*, so that before
training it passes its input through unchanged; the paper reports that random initialisations "were not
effective" for the module (Section 3). This page uses identity initialisation only and does not compare it
with a random one.

[The tests](../../tests/vision/test_dilated_convolutions.py) check the module against dilated convolutions
written out tap by tap, the identity initialisation, the measured receptive fields against the analytic ones,
and the task's labels against a k-d tree's nearest neighbours (scipy).

## The experiments

**Receptive fields, measured.** The receptive field of an output pixel is the set of input pixels its value
depends on: the nonzero region of $\partial y_{\text{centre}} / \partial x$. We measure it with autograd for
stacks of $i$ layers, dilated and not, and find the analytic sizes exactly: $3, 7, 15, \dots, 511$ for
dilations $1, 2, \dots, 128$ against $3, 5, 7, \dots, 17$ undilated, and $3, 5, 9, 17, 33, 65, 67$ across the
layers of the basic module.

![Receptive field against depth](results/dilated_convolutions-receptive_field.png)

**A task that needs context.** Each $40 \times 40$ image holds three single-pixel seeds, one per class, at
random places (one input channel per class); every pixel is to be labelled with the class of the *nearest*
seed, a Voronoi diagram. A pixel may be forty pixels from every seed, so the answer needs wide context. This
task is ours: the paper evaluates the module on Pascal VOC 2012 semantic segmentation, on top of its front-end
network (Section 5). Two networks of the same depth and the same number of parameters are trained for 600
steps on the same batches: the context module, and the same stack with all dilations set to 1, whose
receptive field is $15 \times 15$.

![Accuracy against distance to the nearest seed](results/dilated_convolutions.png)

Per-pixel accuracy on 256 held-out images is 90.6% for the context module and 52.7% for the undilated stack
(one seed). The undilated stack labels the pixels within its reach almost perfectly (99.8% and 99.5% in the
distance bins centred at 2 and 6 pixels) and is near chance (one in three) from 10 pixels on. The context
module does not label the whole image: its accuracy falls with distance too, from 98.9% at 2 pixels to 93.5%
at 14, 62.7% at 30 and 35.8% at 38, so beyond its reach of 33 pixels, and already somewhat inside it, it also
fails. Its advantage is in the wide band between the two reaches. The results table gives the accuracy by
distance for both.
"""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.training import History, accuracy, optimizer_step, train_loop

# The basic context module's dilations (the paper's Table 1).
DILATIONS = (1, 1, 2, 4, 8, 16, 1)


# ## The context module
#
# Layer $i$ is a $3 \times 3$ convolution with dilation $d_i$ and padding $d_i$ (the size is kept), $C$
# channels in and out, followed by the truncation $\max(\cdot, 0)$; a final $1 \times 1$ convolution produces
# the module's output. `[batch, C, H, W]` $\to$ `[batch, C, H, W]`.
#
# **Identity initialisation.** Every kernel starts as $k^b(t, a) = 1_{[t = 0]} 1_{[a = b]}$: the centre tap
# connects channel $a$ to the same channel, all other weights and the biases are zero. For a non-negative input
# (class scores after a ReLU, one-hot maps) the module is then exactly the identity.
class ContextModule(nn.Module):
    def __init__(self, channels: int, dilations: tuple[int, ...] = DILATIONS, identity_init: bool = True):
        super().__init__()
        check_positive("channels", channels, integer=True)
        if not dilations or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dilations):
            raise ValueError(f"dilations must be a non-empty sequence of positive integers, got {dilations}")
        self.channels, self.dilations = channels, tuple(dilations)
        self.layers = nn.ModuleList(nn.Conv2d(channels, channels, kernel_size=3, padding=d, dilation=d)
                                    for d in dilations)
        self.output = nn.Conv2d(channels, channels, kernel_size=1)
        if identity_init:
            for conv in [*self.layers, self.output]:
                identity_initialise(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["batch", self.channels, "height", "width"], dtype=self.output.weight.dtype)
        for conv in self.layers:
            x = F.relu(conv(x))  # [batch, C, H, W]
        return self.output(x)


def identity_initialise(conv: nn.Conv2d) -> None:
    centre = conv.kernel_size[0] // 2
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for channel in range(conv.out_channels):
            conv.weight[channel, channel, centre, centre] = 1.0


# ## Receptive fields
#
# **Analytic.** A $3 \times 3$ layer with dilation $d$ widens the field by $d$ pixels on each side, so after
# layers with dilations $d_1, \dots, d_i$ it is $1 + 2 \sum_j d_j$ pixels wide: $3, 5, 9, 17, 33, 65, 67$ for
# the basic module.
def analytic_receptive_field(dilations: tuple[int, ...]) -> int:
    return 1 + 2 * sum(dilations)


# **Measured.** The width of the region where $\partial y_{\text{centre}} / \partial x \neq 0$, on an input
# large enough that borders play no part. A zero gradient could also come from a ReLU that is off or from
# weights that cancel, not from the wiring; to measure the wiring alone we use a copy of the module with
# random *positive* weights and a positive input, so every unit is active and no sum cancels.
def measured_receptive_field(module: ContextModule, seed: int = 0) -> int:
    wiring = positive_copy(module, torch.Generator().manual_seed(seed))
    size = analytic_receptive_field(module.dilations) + 4
    x = torch.ones(1, module.channels, size, size, dtype=torch.float64, requires_grad=True)
    centre = size // 2
    wiring(x)[0, :, centre, centre].sum().backward()
    reached = (x.grad[0] != 0).any(dim=0)  # [size, size]
    rows, cols = reached.any(dim=1).nonzero(), reached.any(dim=0).nonzero()
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    if height != width or int(reached.sum()) != height * width:
        raise RuntimeError(f"the receptive field is not a filled square: {height} x {width}, "
                           f"{int(reached.sum())} pixels")
    return width


def positive_copy(module: ContextModule, generator: torch.Generator) -> ContextModule:
    wiring = copy.deepcopy(module).double()
    with torch.no_grad():
        for parameter in wiring.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator, dtype=torch.float64) + 0.1)
    return wiring


# Exponentially growing dilations $1, 2, \dots, 2^{i-1}$ against plain $3 \times 3$ stacks, for
# $i = 1, \dots, $ `max_layers`.
def receptive_field_growth(max_layers: int) -> dict[str, list[int]]:
    growth: dict[str, list[int]] = {"dilated": [], "undilated": []}
    for layers in range(1, max_layers + 1):
        growth["dilated"].append(measured_receptive_field(
            ContextModule(1, tuple(2 ** i for i in range(layers)))))
        growth["undilated"].append(measured_receptive_field(ContextModule(1, (1,) * layers)))
    return growth


# ## The dense-labelling task
#
# Images `[batch, classes, size, size]` with one single-pixel seed per class, placed uniformly at random
# (channel $k$ holds the seed of class $k$), and labels `[batch, size, size]`: the class of the nearest seed
# in Euclidean distance. Also returned: each pixel's distance to its nearest seed, `[batch, size, size]`.
def nearest_seed_batch(batch: int, size: int, classes: int,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if batch <= 0 or size <= 0 or classes < 2:
        raise ValueError(f"need batch > 0, size > 0, classes >= 2; got {batch}, {size}, {classes}")
    seeds = torch.randint(0, size, (batch, classes, 2), generator=generator)  # [batch, classes, (row, col)]
    x = torch.zeros(batch, classes, size, size)
    b, k = torch.meshgrid(torch.arange(batch), torch.arange(classes), indexing="ij")
    x[b, k, seeds[..., 0], seeds[..., 1]] = 1.0
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), dim=-1)
    offsets = grid[None, None] - seeds[:, :, None, None, :]  # [batch, classes, size, size, 2]
    distance = offsets.float().norm(dim=-1)  # [batch, classes, size, size]
    nearest, labels = distance.min(dim=1)
    return x, labels, nearest


# ### Training
#
# Per-pixel cross-entropy with Adam on fresh batches. The module's output channels are the class scores.
def train_dense(model: ContextModule, steps: int, size: int, generator: torch.Generator,
                lr: float = 3e-3, batch: int = 16) -> History:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> dict[str, float]:
        x, labels, _ = nearest_seed_batch(batch, size, model.channels, generator)
        logits = model(x)  # [batch, classes, size, size]
        loss = F.cross_entropy(logits, labels)
        return {"loss": optimizer_step(loss, optimizer),
                "pixel_accuracy": accuracy(logits.detach().movedim(1, -1), labels)}

    return train_loop(steps, step, log_every=max(steps // 10, 1))


# Per-pixel accuracy on a held-out batch, overall and by distance to the nearest seed: pairs
# `[bin centre, accuracy]` for bins `width` pixels wide.
@torch.no_grad()
def evaluate_dense(model: ContextModule, x: torch.Tensor, labels: torch.Tensor, distance: torch.Tensor,
                   width: int = 4) -> tuple[float, list[list[float]]]:
    correct = (model(x).argmax(dim=1) == labels).float()  # [batch, size, size]
    bins = (distance / width).long()
    by_distance = [[width * (i + 0.5), correct[bins == i].mean().item()]
                   for i in range(int(bins.max()) + 1) if (bins == i).any()]
    return correct.mean().item(), by_distance


def plot_receptive_fields(growth: dict[str, list[int]]) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    layers = range(1, len(growth["dilated"]) + 1)
    ax.plot(layers, growth["dilated"], "o", label="measured, dilations $1, 2, 4, \\dots$")
    ax.plot(layers, growth["undilated"], "s", label="measured, dilation 1")
    ax.plot(layers, [2 ** (i + 1) - 1 for i in layers], "-", color="C0", alpha=0.5, label="$2^{i+1} - 1$")
    ax.plot(layers, [2 * i + 1 for i in layers], "-", color="C1", alpha=0.5, label="$2i + 1$")
    ax.set(xlabel="layers $i$", ylabel="receptive field width (pixels)", yscale="log",
           title="Receptive field from input gradients")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_by_distance(curves: dict[str, list[list[float]]], reach: int) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, pairs in curves.items():
        ax.plot([d for d, _ in pairs], [a for _, a in pairs], marker="o", label=name)
    ax.axvline(reach, color="grey", linestyle=":", label="reach of the undilated stack")
    ax.set(xlabel="distance to the nearest seed (pixels)", ylabel="per-pixel accuracy", ylim=(0, 1.02),
           title="Nearest-seed labelling")
    ax.legend()
    fig.tight_layout()
    return fig


# ## The experiment
def experiment(config: RunConfig) -> Outcome:
    growth = receptive_field_growth(8)
    module_fields = [measured_receptive_field(ContextModule(1, DILATIONS[:i])) for i in range(1, 8)]

    size, classes = 40, 3
    steps = config.train_steps(600, 150)
    x, labels, distance = nearest_seed_batch(config.choose(256, 64), size, classes,
                                             torch.Generator().manual_seed(10_000 + config.seed))
    accuracies, curves = {}, {}
    for name, dilations in (("context module", DILATIONS), ("undilated stack", (1,) * len(DILATIONS))):
        torch.manual_seed(config.seed)
        model = ContextModule(classes, dilations)
        train_dense(model, steps, size, torch.Generator().manual_seed(config.seed))
        accuracies[name], curves[name] = evaluate_dense(model, x, labels, distance)
    reach = (analytic_receptive_field((1,) * len(DILATIONS)) - 1) // 2
    headline = (f"Per-pixel accuracy on nearest-seed labelling: context module {accuracies['context module']:.1%}, "
                f"undilated stack {accuracies['undilated stack']:.1%}; module receptive field {module_fields[-1]}")
    metrics = {"module_receptive_fields": module_fields, "receptive_field_growth": growth, "steps": steps,
               "pixel_accuracy": accuracies, "accuracy_by_distance": curves}
    return Outcome(headline=headline, metrics=metrics,
                   figures={"": plot_by_distance(curves, reach),
                            "receptive_field": plot_receptive_fields(growth)})


if __name__ == "__main__":
    run_paper(__file__, experiment)
