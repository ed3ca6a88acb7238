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
network (Section 5).

**Two arms, one recipe.** The context module against the same seven-layer stack with every dilation set to 1.
Both have exactly the same 600 parameters ($64 C^2$ weights, the paper's count for the basic module, plus
$8C$ biases, with $C = 3$), the same identity initialisation and the same per-pixel cost; they differ only in
where the taps are, so the receptive fields are $67 \times 67$ and $15 \times 15$. Each arm gets its learning
rate from the same grid ($3 \cdot 10^{-3}$, $10^{-2}$, $3 \cdot 10^{-2}$, Adam, batches of 8, 800 steps),
chosen on a separate validation batch; both choose $10^{-2}$, inside the grid. Three seeds, each with its own
training stream and its own 256 test images.

This is not the fairest possible baseline for the *task*: an undilated stack can see as far as the module,
but it needs 33 layers of $3 \times 3$ convolutions for a $67 \times 67$ field, 2784 parameters at $C = 3$
($4.6\times$ as many) and about $33/7$ times the computation. We did not train it. What the comparison isolates is
the paper's point: at equal depth and parameters, dilation buys the receptive field.

![Accuracy against distance to the nearest seed](results/dilated_convolutions.png)

**Results, mean of three seeds (range in brackets).** Per-pixel accuracy is 92.7% for the context module
(92.6% to 92.9%) and 54.0% for the undilated stack (53.3% to 54.9%), a gap of 38.8% of the pixels (38.0% to
39.3%); chance is 33.3%.

**The explanation, measured.** Split the test pixels by whether any seed lies inside the undilated stack's
$15 \times 15$ window around them (69.7% of the pixels have none). Where a seed is in view, the undilated
stack labels 98.1% of the pixels right (97.0% to 98.7%, every seed), as well as the context module does
(97.8%): it is a trained baseline, not a broken one. Where no seed is in view, its output cannot depend on the
seeds at all, and it scores 34.8% (33.5% to 36.0%), at chance (33.3%) to within seed noise; the
context module, which has a seed in its $67 \times 67$ field for all but 0.14% of the pixels, scores
90.5% there. By distance to the nearest seed the
undilated stack drops from 99.0% in the bin centred at 6 pixels to 42.4% at 10 and 34.5% at 14, right at its
reach of 7 pixels. So the whole gap comes from the 69.7% of pixels with no seed in the undilated stack's
field: they contribute 0.697 x (0.9055 - 0.3479) = 0.389 of accuracy to the difference, against a measured
gap of 0.388 (means of three seeds), and the pixels with a seed in view contribute 0.303 x (0.9779 -
0.9813) = -0.001. Where a seed is in view the two arms are level.

It does not account for everything the context module does. Up to 33 pixels away the nearest seed is always
inside the module's field (a seed less than 33 pixels away is less than 33 along both axes), yet its accuracy
falls from 98.8% at 2 pixels to 95.5% at 14 and 78.7% at 30. The receptive field does not explain this
decline, and we did not measure what does (the module's three channels and the gaps between its dilated taps
are candidates; the paper's "large" module, with up to $32C$ channels, would be the obvious test). From the
bin centred at 34 pixels on, where the nearest seed can lie outside its field, it falls to 47.8% and below.
The results table gives the accuracy by distance for both arms, per seed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
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
# $i$ from 1 to `max_layers`.
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
# Per-pixel cross-entropy with Adam on fresh batches of 8 images. The module's output channels are the class
# scores.
def train_dense(model: ContextModule, steps: int, size: int, generator: torch.Generator,
                lr: float = 3e-3, batch: int = 8) -> History:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> dict[str, float]:
        x, labels, _ = nearest_seed_batch(batch, size, model.channels, generator)
        logits = model(x)  # [batch, classes, size, size]
        loss = F.cross_entropy(logits, labels)
        return {"loss": optimizer_step(loss, optimizer),
                "pixel_accuracy": accuracy(logits.detach().movedim(1, -1), labels)}

    return train_loop(steps, step, log_every=max(steps // 10, 1))


# ### Evaluation
#
# Which pixels can see a seed at all through a receptive field of radius `reach` (a square
# $(2 \cdot \text{reach} + 1)$ pixels wide): those with some seed within `reach` pixels along both axes.
# `[batch, classes, H, W]` $\to$ `[batch, H, W]`.
def seed_in_view(x: torch.Tensor, reach: int) -> torch.Tensor:
    seeds = x.amax(dim=1, keepdim=True)  # [batch, 1, H, W]
    return F.max_pool2d(seeds, 2 * reach + 1, stride=1, padding=reach)[:, 0] > 0


# Per-pixel accuracy on a held-out batch: overall; on the pixels that do and do not have a seed within `reach`;
# and by distance to the nearest seed, in bins `width` pixels wide keyed by their centre.
@dataclass
class DenseScores:
    accuracy: float
    seed_in_view: float
    no_seed_in_view: float
    by_distance: dict[str, float]


@torch.no_grad()
def evaluate_dense(model: ContextModule, x: torch.Tensor, labels: torch.Tensor, distance: torch.Tensor,
                   reach: int, width: int = 4) -> DenseScores:
    correct = (model(x).argmax(dim=1) == labels).float()  # [batch, size, size]
    in_view = seed_in_view(x, reach)
    bins = (distance / width).long()
    by_distance = {f"{width * (i + 0.5):g}": correct[bins == i].mean().item()
                   for i in range(int(bins.max()) + 1) if (bins == i).any()}
    return DenseScores(correct.mean().item(), correct[in_view].mean().item(), correct[~in_view].mean().item(),
                       by_distance)


# ## The experiment
#
# **Two arms, one recipe.** The context module and the same seven-layer stack with every dilation set to 1:
# the same layers, the same 600 parameters, the same identity initialisation and the same training (Adam,
# batches of 8, the same number of steps). Each arm gets its learning rate from the same grid, chosen by
# accuracy on a validation batch with the first seed, and keeps it for the other seeds. Every seed draws its own
# training batches and its own test batch (256 images); the validation batch is a third, separate draw. (The
# quick run of the tests sweeps only the two larger rates.)
LEARNING_RATES = (3e-3, 1e-2, 3e-2)
ARMS = {"context module": DILATIONS, "undilated stack": (1,) * len(DILATIONS)}


def trained_module(dilations: tuple[int, ...], classes: int, steps: int, size: int, lr: float,
                   seed: int) -> ContextModule:
    torch.manual_seed(seed)
    model = ContextModule(classes, dilations)
    train_dense(model, steps, size, torch.Generator().manual_seed(seed), lr=lr)
    return model


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def experiment(config: RunConfig) -> Outcome:
    growth = receptive_field_growth(8)
    module_fields = [measured_receptive_field(ContextModule(1, DILATIONS[:i])) for i in range(1, 8)]

    size, classes, held_out = 40, 3, config.choose(256, 64)
    steps = config.train_steps(800, 150)
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    grid = config.choose(LEARNING_RATES, LEARNING_RATES[1:])
    fields = {name: measured_receptive_field(ContextModule(classes, d)) for name, d in ARMS.items()}
    reach = (fields["undilated stack"] - 1) // 2
    valid = nearest_seed_batch(held_out, size, classes, torch.Generator().manual_seed(20_000 + seeds[0]))
    sweep = {name: {lr: trained_module(d, classes, steps, size, lr, seeds[0]) for lr in grid}
             for name, d in ARMS.items()}
    sweep_accuracy = {name: {lr: evaluate_dense(model, *valid, reach).accuracy for lr, model in models.items()}
                      for name, models in sweep.items()}
    rates = {name: max(by_rate, key=by_rate.get) for name, by_rate in sweep_accuracy.items()}

    scores: dict[str, dict[int, DenseScores]] = {name: {} for name in ARMS}
    out_of_view: dict[str, dict[int, float]] = {"undilated stack": {}, "context module": {}}
    for seed in seeds:
        test = nearest_seed_batch(held_out, size, classes, torch.Generator().manual_seed(10_000 + seed))
        for name, dilations in ARMS.items():
            model = sweep[name][rates[name]] if seed == seeds[0] else \
                trained_module(dilations, classes, steps, size, rates[name], seed)
            scores[name][seed] = evaluate_dense(model, *test, reach)
            out_of_view[name][seed] = 1 - seed_in_view(test[0], (fields[name] - 1) // 2).float().mean().item()

    def summary(value: Callable[[DenseScores], float]) -> dict[str, dict]:
        return {name: over_seeds({seed: value(s) for seed, s in by_seed.items()}) for name, by_seed in scores.items()}

    by_distance = {name: {centre: over_seeds({seed: s.by_distance[centre] for seed, s in by_seed.items()})
                          for centre in by_seed[seeds[0]].by_distance
                          if all(centre in s.by_distance for s in by_seed.values())}
                   for name, by_seed in scores.items()}
    accuracy_gap = over_seeds({seed: scores["context module"][seed].accuracy - scores["undilated stack"][seed].accuracy
                               for seed in seeds})
    pixel_accuracy = summary(lambda s: s.accuracy)
    same_field_layers = (fields["context module"] - 1) // 2
    parameters = {name: parameter_count(ContextModule(classes, d)) for name, d in ARMS.items()}
    headline = (f"Per-pixel accuracy on nearest-seed labelling, mean of {len(seeds)} seeds: context module "
                f"{pixel_accuracy['context module']['mean']:.1%}, undilated stack "
                f"{pixel_accuracy['undilated stack']['mean']:.1%} ({parameters['context module']} and "
                f"{parameters['undilated stack']} parameters; receptive fields "
                f"{fields['context module']} and {fields['undilated stack']})")
    metrics = {
        "module_receptive_fields": module_fields, "receptive_field_growth": growth, "steps": steps,
        "seeds": seeds, "test_images": held_out, "receptive_field": fields,
        "parameters": parameters,
        "same_field_undilated_stack": {
            "layers": same_field_layers,
            "parameters": parameter_count(ContextModule(classes, (1,) * same_field_layers))},
        "learning_rate_sweep_valid_accuracy": {name: {str(lr): a for lr, a in by_rate.items()}
                                               for name, by_rate in sweep_accuracy.items()},
        "learning_rate": rates,
        "pixel_accuracy": pixel_accuracy, "accuracy_gap": accuracy_gap,
        "accuracy_seed_in_undilated_view": summary(lambda s: s.seed_in_view),
        "accuracy_no_seed_in_undilated_view": summary(lambda s: s.no_seed_in_view),
        "fraction_of_pixels_without_a_seed_in_view": {name: over_seeds(v) for name, v in out_of_view.items()},
        "accuracy_by_distance": by_distance,
    }
    return Outcome(headline=headline, metrics=metrics,
                   figures={"": plot_by_distance(by_distance, reach, (fields["context module"] - 1) // 2),
                            "receptive_field": plot_receptive_fields(growth)})


# ## Figures
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


# Accuracy by distance to the nearest seed: the mean over seeds as a line, the range over seeds shaded.
def plot_by_distance(by_distance: dict[str, dict[str, dict]], reach: int, module_reach: int) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, bins in by_distance.items():
        centres = [float(c) for c in bins]
        ax.plot(centres, [b["mean"] for b in bins.values()], marker="o", label=name)
        ax.fill_between(centres, [b["min"] for b in bins.values()], [b["max"] for b in bins.values()], alpha=0.25)
    ax.axvline(reach, color="C1", linestyle=":", label=f"reach of the undilated stack ({reach} px)")
    ax.axvline(module_reach, color="C0", linestyle=":", label=f"reach of the context module ({module_reach} px)")
    ax.axhline(1 / 3, color="grey", linewidth=0.8, label="chance")
    ax.set(xlabel="distance to the nearest seed (pixels)", ylabel="per-pixel accuracy", ylim=(0, 1.02),
           title="Nearest-seed labelling (mean and range over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
