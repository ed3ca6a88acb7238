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
computation written out by hand, and the gradient through stacks with zero residual branches: exactly the
identity through $L$ identity shortcuts, exactly $\lambda^L$ through scaled ones.

## The experiments

**The gradient that reaches the first block.** Stacks of $L = 50$ pre-activation blocks, freshly
initialised, with three kinds of shortcut: the identity, a constant scale $\lambda = 0.5$, and exclusive gating.
A random gradient is sent into the top of the stack and its norm measured at the input of every block,
relative to the norm at the top. We measure it twice. On the left, the batch normalisations act as the fixed
affine maps they were initialised to (evaluation mode), the setting of the paper's analysis. On the right,
they normalise with the statistics of the batch, as they do in training.

![Gradient norm at each block's input](results/identity_mappings-gradients.png)

With identity shortcuts the gradient that reaches the first block stays of order one, both ways (it grows a
little: the residual branches add their own terms). With BN fixed, the scaled shortcut makes it fall as
$0.5^{L}$, to about $10^{-15}$ after 50 blocks, and gating (its bias initialised at zero, so the gate is half
open) does the same. With batch statistics something the paper's analysis leaves out happens: as the scaled
shortcuts shrink the signal block after block, each BN divides by an ever smaller standard deviation, and the
gradient *explodes* instead of vanishing. Either way only the identity keeps it near one.

**Pre- against post-activation at depth.** Two very deep networks of the [ResNet](resnet.py) layout, one of
the original post-activation blocks, one of pre-activation blocks, trained identically on digits.

![Training loss of pre- and post-activation networks](results/identity_mappings.png)

At 110 layers the difference is stark. In 300 steps the pre-activation network drives its training loss below
0.1 and reaches about 95% test accuracy; the post-activation network barely leaves its starting loss (about
1.5 at the end, under 50% test accuracy). This is one seed (the results below); the page makes no claim for
others.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.data import digits
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.training import History
from papers.kit.vision import evaluate, resize
from papers.vision.resnet import ResNet, check_images, conv3x3, residual_stages, smoothed, train_network


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
        self.in_channels = in_channels
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
        check_images(x, self.in_channels)
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
        if width <= 0 or classes <= 0 or in_channels <= 0:
            raise ValueError(f"width, classes and in_channels must be positive, got {width}, {classes}, "
                             f"{in_channels}")
        self.in_channels = in_channels
        self.depth = 6 * blocks_per_stage + 2
        self.stem = conv3x3(in_channels, width)
        self.stages = residual_stages(PreActBlock, blocks_per_stage, width)
        self.final_bn = nn.BatchNorm2d(4 * width)
        self.classifier = nn.Linear(4 * width, classes)

    # `[batch, in_channels, H, W]` $\to$ logits `[batch, classes]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_channels)
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
        if not 0.0 <= scale <= 1.0:
            raise ValueError(f"scale must be in [0, 1], got {scale}")
        self.kind, self.scale = kind, scale
        self.branch = PreActBlock(channels, channels)  # only its residual branch is used
        self.gate = nn.Conv2d(channels, channels, kernel_size=1) if kind == "gated" else None
        if self.gate is not None:
            nn.init.constant_(self.gate.bias, gate_bias)

    # `[batch, channels, H, W]` $\to$ the same shape
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.branch.in_channels)
        residual = self.branch.residual(x)
        if self.kind == "identity":
            return x + residual
        if self.kind == "scaled":
            return self.scale * x + (1.0 - self.scale) * residual
        g = torch.sigmoid(self.gate(x))
        return g * residual + (1.0 - g) * x


def shortcut_stack(kind: str, blocks: int, channels: int) -> nn.Sequential:
    if blocks <= 0:
        raise ValueError(f"blocks must be positive, got {blocks}")
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
    direction = torch.randn(h.shape, generator=generator, dtype=h.dtype)
    (h * direction).sum().backward()
    norms = [float(t.grad.norm() / direction.norm()) for t in inputs]
    return norms + [1.0]


# The experiment's gradient study: for each kind of shortcut, a freshly initialised stack on a random batch
# `[16, channels, 8, 8]`. With `batch_statistics=False` the stack is in evaluation mode, where each BN is the
# fixed affine map it was initialised to (here the identity, up to $\epsilon$): the setting of the paper's
# analysis, where nothing rescales the signal between blocks. With `batch_statistics=True` each BN normalises by
# the statistics of the batch, as in training.
def gradient_study(blocks: int, channels: int, seed: int, batch_statistics: bool) -> dict[str, list[float]]:
    curves = {}
    for kind in SHORTCUTS:
        torch.manual_seed(seed)
        stack = shortcut_stack(kind, blocks, channels).train(batch_statistics)
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(16, channels, 8, 8, generator=generator)
        curves[kind] = gradient_norms(stack, x, generator)
    return curves


def plot_gradients(studies: dict[str, dict[str, list[float]]]) -> Figure:
    fig, axes = plt.subplots(1, len(studies), figsize=(5 * len(studies), 3.8))
    for ax, (title, curves) in zip(axes, studies.items()):
        for kind, norms in curves.items():
            ax.plot(range(len(norms)), norms, marker=".", label=kind)
        ax.set(xlabel="block input $x_l$ (0 = first block, L = top)", yscale="log", title=title,
               ylabel=r"$\|\partial E / \partial x_l\| \,/\, \|\partial E / \partial x_L\|$")
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_training(histories: dict[str, History], window: int) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, history in histories.items():
        ax.plot(history.steps("loss"), smoothed(history.values("loss"), window), label=name)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="Training loss at depth")
    ax.legend()
    fig.tight_layout()
    return fig


# ## The experiment
def experiment(config: RunConfig) -> Outcome:
    blocks = config.choose(50, 12)
    studies = {"BN fixed (evaluation mode)": gradient_study(blocks, 16, config.seed, batch_statistics=False),
               "BN with batch statistics": gradient_study(blocks, 16, config.seed, batch_statistics=True)}

    data = digits()
    train, test = resize(data.train, 16), resize(data.test, 16)
    n = config.choose(18, 4)  # blocks per stage: 110 layers (quick: 26)
    steps = config.train_steps(300, 60)
    window = max(steps // 10, 1)
    histories, training = {}, {}
    for name, build in ((f"post-activation-{6 * n + 2}", lambda: ResNet(n, residual=True)),
                        (f"pre-activation-{6 * n + 2}", lambda: PreActResNet(n))):
        torch.manual_seed(config.seed)
        model = build()
        histories[name] = train_network(model, train, test, steps, config.seed)
        losses = histories[name].values("loss")
        training[name] = {"final_train_loss": sum(losses[-window:]) / window,
                          "train_error": 1.0 - evaluate(model, train)[1],
                          "test_accuracy": histories[name].last("eval_accuracy")}
    first_block = {mode: {kind: norms[0] for kind, norms in curves.items()} for mode, curves in studies.items()}
    fixed = first_block["BN fixed (evaluation mode)"]
    headline = (f"Gradient at the first of {blocks} blocks (BN fixed): "
                + ", ".join(f"{k} {v:.2g}" for k, v in fixed.items())
                + "; final training loss: " + ", ".join(f"{k} {v['final_train_loss']:.3f}"
                                                       for k, v in training.items()))
    metrics = {"blocks": blocks, "first_block_gradient": first_block, "gradient_norms": studies,
               "steps": steps, "training": training}
    return Outcome(headline=headline, metrics=metrics,
                   figures={"": plot_training(histories, window), "gradients": plot_gradients(studies)})


if __name__ == "__main__":
    run_paper(__file__, experiment)
