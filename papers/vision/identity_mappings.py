r"""
---
title: Identity Mappings in Deep Residual Networks
summary: Pre-activation residual blocks, with identity, scaled and gated shortcuts; the gradient that reaches
  the first block, measured, and pre- against post-activation networks trained at depth on digits.
---

# Identity Mappings in Deep Residual Networks

[He, Zhang, Ren and Sun, 2016. *Identity Mappings in Deep Residual Networks*](https://arxiv.org/abs/1603.05027)

The [original ResNet](resnet.py) block computes $y_l = h(x_l) + \mathcal{F}(x_l)$ and then
$x_{l+1} = f(y_l)$, with the identity shortcut $h(x) = x$ and a ReLU $f$ *after* the addition. This paper
asks what happens when *both* $h$ and $f$ are identities. Then

$$x_{l+1} = x_l + \mathcal{F}(x_l, \mathcal{W}_l), \qquad
x_L = x_l + \sum_{i=l}^{L-1} \mathcal{F}(x_i, \mathcal{W}_i),$$

any deep unit is a shallow unit plus a sum of residuals, and the gradient of a loss $\mathcal{E}$ splits into
two terms,

$$\frac{\partial \mathcal{E}}{\partial x_l} = \frac{\partial \mathcal{E}}{\partial x_L}
\Big(1 + \frac{\partial}{\partial x_l} \sum_{i=l}^{L-1} \mathcal{F}(x_i, \mathcal{W}_i)\Big).$$

The first term carries the gradient from the top straight to *any* block, untouched by weights; the second is
unlikely to cancel it exactly for a whole mini-batch. So no block's gradient vanishes, however deep the
network.

Replace the shortcut by anything else and the first term becomes a product. With a constant scale,
$x_{l+1} = \lambda x_l + \mathcal{F}(x_l)$, it is $\prod_{i=l}^{L-1} \lambda = \lambda^{L - l}$: for $\lambda < 1$ it
vanishes exponentially with depth (for $\lambda > 1$ it explodes). A gate $1 - g(x)$ on the shortcut multiplies
it by a factor below one at every block, unless the gate learns to stay closed.

Keeping $f$ an identity too means moving the ReLU: the paper's **pre-activation** block applies batch
normalisation and ReLU *before* each convolution,
$\mathcal{F}(x) = W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * \mathrm{ReLU}(\mathrm{BN}(x))))$, and adds the result
to $x$ with nothing after.

[The tests](../../tests/vision/test_identity_mappings.py) check the pre-activation block against the same
computation written out by hand, and the gradient and the signal through stacks with zero residual branches:
exactly the identity through $L$ identity shortcuts, exactly $\lambda^L$ through scaled ones. With zero
residual branches, too, a stage of pre-activation blocks is exactly the identity, while a stage of the original
post-activation blocks is a ReLU that zeroes the shortcut's signal and gradient wherever the input is negative.

## The experiments

**The gradient that reaches the first block.** Stacks of $L = 50$ pre-activation blocks, freshly
initialised, with three kinds of shortcut: the identity, a constant scale $\lambda = 0.5$, and exclusive gating.
A random gradient is sent into the top of the stack and its norm measured at the input of every block,
relative to the norm at the top. We measure it twice. On the left, the batch normalisations act as the fixed
affine maps they were initialised to (evaluation mode), the setting of the paper's analysis. In the middle,
they normalise with the statistics of the batch, as they do in training. Three seeds; the curves are the
first's.

![Gradient norm at each block's input](results/identity_mappings-gradients.png)

With identity shortcuts the gradient that reaches the first block stays of order one, both ways (it grows a
little: the residual branches add their own terms). In $\log_{10}$ of the ratio, mean of three seeds: 0.23 with BN
fixed, 0.78 with batch statistics. With BN fixed, the scaled shortcut makes it fall as $0.5^{L}$, to about
$10^{-15}$ after 50 blocks (-14.82), and gating (its bias initialised at zero, so the gate is half open) does the
same (-14.78). With batch statistics something the paper's analysis leaves out happens: the gradient at the
first block *grows* instead, to about $10^{5}$ (4.73 with scaled shortcuts, 4.38 with gating).

It is not that the signal keeps shrinking. The third panel shows what each BN divides by, the standard deviation
of the signal at every block's input: with scaled shortcuts it falls from 1 to 0.21 by block 5 and then stays
flat (0.22 at the top of the stack, means of three seeds), while the gradient, from the top down to block 5,
grows by a nearly constant factor of 1.29 per block (below block 5, where the deviation is still larger, it
stops growing). We have not measured what sets that factor and offer no explanation for it. Either way only
the identity keeps the gradient near one.

**Pre- against post-activation at depth.** Two deep networks of the [ResNet](resnet.py) layout, 56 layers
(9 blocks per stage), one of the original post-activation blocks, one of pre-activation blocks, trained for 200
steps on the $8 \times 8$ digits at their own size. Both designs get the same small learning-rate sweep, over
three seeds: a constant 0.01, and a warm-up at 0.01 followed by 0.05 (the recipe the ResNet paper gives its
110-layer network). For each design the comparison takes the setting with the lower mean final training loss,
which is 0.01 for post-activation and 0.01 then 0.05 for pre-activation. The figure shows their training loss,
three seeds each.

![Training loss of pre- and post-activation networks](results/identity_mappings.png)

Pre-activation is ahead on every seed, in training loss only narrowly on one. Means of three seeds, post- against
pre-activation at the best setting of each: final training loss on mini-batches 0.33 against 0.26 (pre minus post,
per seed: -0.10, -0.11 and -0.01); error on the whole training set 13.4% against 4.5%; test accuracy 83.5% against
93.7%, pre-activation ahead by 10.2% on average, in percentage points (8.5%, 5.1% and 16.9% per seed). The
training loss is measured on mini-batches with batch statistics, the training error in evaluation mode with BN's
running averages; the gap is much wider in the second, and we have not measured why. With the other setting
neither design does better: post-activation reaches a loss of 0.42 and 82.4% test accuracy at 0.01 then 0.05,
pre-activation 0.32 and 92.9% at 0.01. So at the same constant rate the two end with almost the same training loss
on mini-batches (0.33 and 0.32), and pre-activation is still ahead in test accuracy. Nor does the post-activation
network start slowly here, as the paper's 1001-layer one does: in the figure its loss falls faster over the first
hundred or so steps, and pre-activation, at its higher rate, overtakes it later.

What the paper reports (He et al. 2016, Table 3, CIFAR-10 test error, original against pre-activation): at 110
layers both designs train and differ little, 6.61% against 6.37%; at 164 layers 5.93% against 5.46%; the stark
gap is at 1001 layers, 7.61% against 4.92%, where the original network's training error falls very slowly at
the start (Figure 1). This page runs 56 layers: 110 layers over the same sweep and seeds would take about twice
the two minutes of CPU time a page's run may use. Other differences from the paper: $8 \times 8$ digits instead
of $32 \times 32$ CIFAR-10 images, widths 8, 16 and 32 (the paper's 16, 32 and 64), 200 steps instead of 64k
iterations, mini-batches of 64 (128), no weight decay (the paper's $10^{-4}$), a shift by up to a pixel instead
of padding, cropping and flipping, and a main rate of 0.05 (0.1). The runs are short; whether the gap would
close with longer training, as it nearly does at 110 layers in the paper, is not tested here.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_in_range, check_positive
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier
from papers.vision.resnet import ResNet, check_images, conv3x3, residual_stages, smoothed


# ## The pre-activation block
#
# $$x_{l+1} = W_s x_l + W_2 * \mathrm{ReLU}(\mathrm{BN}(W_1 * \mathrm{ReLU}(\mathrm{BN}(x_l)))).$$
#
# The shortcut is the identity when the shapes agree. When the block halves the resolution and widens the
# channels it is a strided $1 \times 1$ convolution $W_s$, applied, like the first convolution, to the
# *pre-activated* input $\mathrm{ReLU}(\mathrm{BN}(x_l))$, as in the paper's code.
class PreActBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("stride", stride)):
            check_positive(name, value, integer=True)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)

    # $\mathcal{F}$ from the pre-activated input $\mathrm{ReLU}(\mathrm{BN}(x_l))$
    def residual_from(self, activated: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.bn2(self.conv1(activated))))

    # $\mathcal{F}(x_l)$ alone, for blocks that combine it with a shortcut of their own
    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual_from(F.relu(self.bn1(x)))

    # `[batch, in_channels, H, W]` $\to$ `[batch, out_channels, H / stride, W / stride]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.conv1)
        activated = F.relu(self.bn1(x))
        shortcut = x if self.projection is None else self.projection(activated)
        return shortcut + self.residual_from(activated)


# ## The pre-activation network
#
# The [ResNet](resnet.py) layout filled with pre-activation blocks. The stem is a bare convolution (the first
# block normalises its input), and since the last block ends with a convolution, a final BN and ReLU come before
# the pooling.
class PreActResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, width: int = 8, classes: int = 10, in_channels: int = 1):
        super().__init__()
        for name, size in (("width", width), ("classes", classes), ("in_channels", in_channels)):
            check_positive(name, size, integer=True)
        self.depth = 6 * blocks_per_stage + 2
        self.stem = conv3x3(in_channels, width)
        self.stages = residual_stages(PreActBlock, blocks_per_stage, width)
        self.final_bn = nn.BatchNorm2d(4 * width)
        self.classifier = nn.Linear(4 * width, classes)

    # `[batch, in_channels, H, W]` $\to$ logits `[batch, classes]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.stem)
        features = F.relu(self.final_bn(self.stages(self.stem(x))))  # [batch, 4w, H / 4, W / 4]
        return self.classifier(features.mean(dim=(2, 3)))


# ## Shortcuts other than the identity
#
# A pre-activation block whose shortcut is one of the paper's alternatives (section 3), on `channels`
# feature maps of unchanged size:
#
# * `"identity"`: $x_{l+1} = x_l + \mathcal{F}(x_l)$;
# * `"scaled"`: constant scaling, $x_{l+1} = \lambda x_l + (1 - \lambda) \mathcal{F}(x_l)$;
# * `"gated"`: exclusive gating, $x_{l+1} = g(x_l) \odot \mathcal{F}(x_l) + (1 - g(x_l)) \odot x_l$, with the
#   gate $g(x) = \sigma(W_g * x + b_g)$ a $1 \times 1$ convolution and a sigmoid.
SHORTCUTS = ("identity", "scaled", "gated")


class ShortcutBlock(nn.Module):
    def __init__(self, channels: int, kind: str, scale: float = 0.5, gate_bias: float = 0.0):
        super().__init__()
        if kind not in SHORTCUTS:
            raise ValueError(f"kind must be one of {SHORTCUTS}, got {kind!r}")
        check_in_range("scale", scale, 0, 1)
        self.kind, self.scale = kind, scale
        self.branch = PreActBlock(channels, channels)  # only its residual branch is used
        self.gate = nn.Conv2d(channels, channels, kernel_size=1) if kind == "gated" else None
        if self.gate is not None:
            nn.init.constant_(self.gate.bias, gate_bias)

    # `[batch, channels, H, W]` $\to$ the same shape
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.branch.conv1)
        residual = self.branch.residual(x)
        if self.kind == "identity":
            return x + residual
        if self.kind == "scaled":
            return self.scale * x + (1.0 - self.scale) * residual
        g = torch.sigmoid(self.gate(x))
        return g * residual + (1.0 - g) * x


def shortcut_stack(kind: str, blocks: int, channels: int) -> nn.Sequential:
    check_positive("blocks", blocks, integer=True)
    return nn.Sequential(*(ShortcutBlock(channels, kind) for _ in range(blocks)))


# ## Measuring the gradient at every block
#
# The loss is $\mathcal{E} = \langle x_L, r \rangle$ for a fixed random direction $r$, so
# $\partial \mathcal{E} / \partial x_L = r$, and back-propagation gives $\partial \mathcal{E} / \partial x_l$ at
# the input of each block. Returned: $\|\partial \mathcal{E} / \partial x_l\| / \|r\|$ for $l = 0, \dots, L$
# (block $l$'s input; $l = L$ is the top, where the ratio is 1).
def gradient_norms(stack: nn.Sequential, x: torch.Tensor, generator: torch.Generator) -> list[float]:
    inputs = []
    h = x
    for block in stack:
        h = h.detach().requires_grad_(True) if not inputs else h
        h.retain_grad()
        inputs.append(h)
        h = block(h)
    direction = torch.randn(h.shape, generator=generator, dtype=h.dtype).to(h.device)
    (h * direction).sum().backward()
    norms = [float(t.grad.norm() / direction.norm()) for t in inputs]
    return norms + [1.0]


# The experiment's gradient study: for each kind of shortcut, a freshly initialised stack on a random batch
# `[16, channels, 8, 8]`. With `batch_statistics=False` the stack is in evaluation mode, where each BN is the
# fixed affine map it was initialised to (here the identity, up to $\epsilon$): the setting of the paper's
# analysis, where nothing rescales the signal between blocks. With `batch_statistics=True` each BN normalises by
# the statistics of the batch, as in training.
def fresh_stack(kind: str, blocks: int, channels: int, seed: int,
                batch_statistics: bool) -> tuple[nn.Sequential, torch.Tensor, torch.Generator]:
    torch.manual_seed(seed)
    stack = shortcut_stack(kind, blocks, channels).train(batch_statistics)
    generator = torch.Generator().manual_seed(seed)
    return stack, torch.randn(16, channels, 8, 8, generator=generator), generator


def gradient_study(blocks: int, channels: int, seed: int, batch_statistics: bool) -> dict[str, list[float]]:
    curves = {}
    for kind in SHORTCUTS:
        stack, x, generator = fresh_stack(kind, blocks, channels, seed, batch_statistics)
        curves[kind] = gradient_norms(stack, x, generator)
    return curves


# ### The signal through the stack
#
# What each batch normalisation divides by: the standard deviation of the signal $x_l$ at the input of every
# block (over the batch, the channels and the positions), for $l = 0, \dots, L$, in the same fresh stacks with
# batch statistics.
def signal_stds(stack: nn.Sequential, x: torch.Tensor) -> list[float]:
    stds = [float(x.std())]
    with torch.no_grad():
        for block in stack:
            x = block(x)
            stds.append(float(x.std()))
    return stds


def signal_study(blocks: int, channels: int, seed: int) -> dict[str, list[float]]:
    curves = {}
    for kind in SHORTCUTS:
        stack, x, _ = fresh_stack(kind, blocks, channels, seed, batch_statistics=True)
        curves[kind] = signal_stds(stack, x)
    return curves


# From one seed's curves: the signal's deviation at block 5 and at the top, and the factor by which the gradient
# grows per block, on average, from the top down to block 5: $(g_5 / g_L)^{1 / (L - 5)}$.
def scaled_shortcut_summary(norms: list[float], stds: list[float]) -> dict[str, float]:
    top = len(norms) - 1
    return {"signal_std_block_5": stds[5], "signal_std_top": stds[top],
            "gradient_growth_per_block": (norms[5] / norms[top]) ** (1.0 / (top - 5))}


def plot_gradients(studies: dict[str, dict[str, list[float]]], stds: dict[str, list[float]]) -> Figure:
    fig, axes = plt.subplots(1, len(studies) + 1, figsize=(5 * (len(studies) + 1), 3.8))
    for ax, (title, curves) in zip(axes, studies.items()):
        for kind, norms in curves.items():
            ax.plot(range(len(norms)), norms, marker=".", label=kind)
        ax.set(xlabel="block input $x_l$ (0 = first block, L = top)", yscale="log", title=title,
               ylabel=r"$\|\partial E / \partial x_l\| \,/\, \|\partial E / \partial x_L\|$")
    for kind, values in stds.items():
        axes[-1].plot(range(len(values)), values, marker=".", label=kind)
    axes[-1].set(xlabel="block input $x_l$", ylabel="std of $x_l$", yscale="log",
                 title="Signal, BN with batch statistics")
    axes[0].legend()
    fig.tight_layout()
    return fig


# ## Training at depth
#
# Both networks get the same small learning-rate sweep, two settings, each with SGD and momentum 0.9:
#
# * `"0.01"`: a constant rate of 0.01;
# * `"0.01 then 0.05"`: the recipe the ResNet paper gives its 110-layer network (its section 4.2), a warm-up at
#   0.01, here for the first fifth of the steps, then the main rate, here 0.05 (the paper warms up for about 400
#   iterations, until the training error is below 80%, then trains at 0.1).
#
# Mini-batches of 64 digits, each shifted at random by up to a pixel, in the same order for both networks.
LEARNING_RATES = {"0.01": (0.01, 0.01), "0.01 then 0.05": (0.01, 0.05)}


def train_with_warm_up(model: nn.Module, data: Split, evaluation: Split, steps: int, seed: int,
                       lr: float = 0.05, warm_up_lr: float = 0.01) -> History:
    optimizer = torch.optim.SGD(model.parameters(), lr=warm_up_lr, momentum=0.9)
    taken = [0]

    def after_step(opt: torch.optim.Optimizer, _args: object, _kwargs: object) -> None:
        taken[0] += 1
        if taken[0] == max(steps // 5, 1):
            for group in opt.param_groups:
                group["lr"] = lr

    optimizer.register_step_post_hook(after_step)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=1, eval_every=max(steps // 4, 1))
    return train_classifier(model, optimizer, data, evaluation, settings, torch.Generator().manual_seed(seed))


# One seed and one learning-rate setting of the comparison: a post-activation [ResNet](resnet.py) and a
# pre-activation network of the same depth, initialised from the same seed. Recorded per network: the final
# training loss (mean of the last tenth of the steps), the error on the whole training set and the test accuracy.
def train_pair(blocks_per_stage: int, data: Split, test: Split, steps: int, seed: int,
               rates: tuple[float, float]) -> tuple[dict[str, History], dict[str, dict[str, float]]]:
    histories, results = {}, {}
    window = max(steps // 10, 1)
    for name, build in (("post-activation", lambda: ResNet(blocks_per_stage, residual=True)),
                        ("pre-activation", lambda: PreActResNet(blocks_per_stage))):
        torch.manual_seed(seed)
        model = build()
        histories[name] = train_with_warm_up(model, data, test, steps, seed, lr=rates[1], warm_up_lr=rates[0])
        losses = histories[name].values("loss")
        results[name] = {"final_train_loss": sum(losses[-window:]) / window,
                         "train_error": 1.0 - evaluate(model, data)[1],
                         "test_accuracy": histories[name].last("eval_accuracy")}
    return histories, results


def plot_training(histories: dict[str, list[History]], window: int, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for (name, runs), color in zip(histories.items(), ("tab:blue", "tab:orange")):
        for i, history in enumerate(runs):
            ax.plot(history.steps("loss"), smoothed(history.values("loss"), window), color=color, alpha=0.8,
                    label=name if i == 0 else None)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title=title)
    ax.legend()
    fig.tight_layout()
    return fig


# ## The experiment
#
# Both studies over three seeds, `config.seed` and the next two; the curves of the gradient figure are the first
# seed's.
def shortcut_metrics(blocks: int, seeds: list[int]) -> tuple[dict, Figure]:
    modes = {"BN fixed": False, "BN batch statistics": True}
    studies = {s: {mode: gradient_study(blocks, 16, s, stats) for mode, stats in modes.items()} for s in seeds}
    stds = {s: signal_study(blocks, 16, s) for s in seeds}
    first_block = {mode: {kind: over_seeds({s: math.log10(studies[s][mode][kind][0]) for s in seeds})
                          for kind in SHORTCUTS} for mode in modes}
    summaries = {s: scaled_shortcut_summary(studies[s]["BN batch statistics"]["scaled"], stds[s]["scaled"])
                 for s in seeds}
    scaled = {key: over_seeds({s: summaries[s][key] for s in seeds}) for key in summaries[seeds[0]]}
    metrics = {"blocks": blocks, "log10_first_block_gradient": first_block,
               "scaled_with_batch_statistics": scaled, "gradient_norms": studies[seeds[0]],
               "signal_stds": stds[seeds[0]]}
    return metrics, plot_gradients(studies[seeds[0]], stds[seeds[0]])


# The comparison takes, for each design, the learning-rate setting with the lower mean final training loss (the
# quantity the claim is about; the test set plays no part in the choice), and compares the two per seed.
def training_metrics(blocks_per_stage: int, steps: int, seeds: list[int]) -> tuple[dict, Figure]:
    data = digits()  # the 8 x 8 digits, at their own size
    runs = {(setting, s): train_pair(blocks_per_stage, data.train, data.test, steps, s, rates)
            for setting, rates in LEARNING_RATES.items() for s in seeds}
    designs = ("post-activation", "pre-activation")
    sweep = {setting: {name: {key: over_seeds({s: runs[setting, s][1][name][key] for s in seeds})
                              for key in ("final_train_loss", "train_error", "test_accuracy")}
                       for name in designs} for setting in LEARNING_RATES}
    best = {name: min(LEARNING_RATES, key=lambda setting, n=name: sweep[setting][n]["final_train_loss"]["mean"])
            for name in designs}
    per_seed = {key: {s: runs[best["pre-activation"], s][1]["pre-activation"][key]
                      - runs[best["post-activation"], s][1]["post-activation"][key] for s in seeds}
                for key in ("final_train_loss", "test_accuracy")}
    metrics = {"sweep": sweep, "best_setting": best,
               "best": {name: sweep[best[name]][name] for name in designs},
               "pre_minus_post_final_train_loss": over_seeds(per_seed["final_train_loss"]),
               "pre_minus_post_test_accuracy": over_seeds(per_seed["test_accuracy"])}
    histories = {f"{name} ({best[name]})": [runs[best[name], s][0][name] for s in seeds] for name in designs}
    title = f"Training loss at {6 * blocks_per_stage + 2} layers, best rate of each ({len(seeds)} seeds)"
    return metrics, plot_training(histories, max(steps // 10, 1), title)


def experiment(config: RunConfig) -> Outcome:
    seeds = [config.seed + i for i in range(3)]
    shortcuts, gradient_figure = shortcut_metrics(config.choose(50, 12), seeds)
    n = config.choose(9, 2)  # blocks per stage: 56 layers (quick: 14)
    steps = config.train_steps(200, 40)
    training, training_figure = training_metrics(n, steps, seeds)
    fixed = shortcuts["log10_first_block_gradient"]["BN fixed"]
    headline = (f"log10 gradient at the first of {shortcuts['blocks']} blocks (BN fixed, mean of 3 seeds): "
                + ", ".join(f"{kind} {fixed[kind]['mean']:.2f}" for kind in SHORTCUTS)
                + f"; test accuracy at {6 * n + 2} layers, best rate of each (mean of 3 seeds): "
                + ", ".join(f"{name} {training['best'][name]['test_accuracy']['mean']:.1%}"
                            for name in ("post-activation", "pre-activation")))
    metrics = {**shortcuts, "steps": steps, "depth": 6 * n + 2, "training": training}
    return Outcome(headline=headline, metrics=metrics,
                   figures={"": training_figure, "gradients": gradient_figure})


if __name__ == "__main__":
    run_paper(__file__, experiment)
