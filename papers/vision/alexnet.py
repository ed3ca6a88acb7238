r"""
---
title: ImageNet Classification with Deep Convolutional Neural Networks
summary: A scaled-down AlexNet (ReLU, local response normalisation, overlapping pooling, dropout, shift
  augmentation) on 24x24 digits; ReLU against tanh training speed, and the train-test gap with and without
  dropout and augmentation.
---

# ImageNet Classification with Deep Convolutional Neural Networks

[Krizhevsky, Sutskever and Hinton, 2012. *ImageNet Classification with Deep Convolutional Neural
Networks*](https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks)

AlexNet won the 2012 ImageNet challenge by a wide margin and started the deep-learning era of computer vision.
Its architecture is a plain stack: five convolutional layers, some followed by max-pooling, then three fully
connected layers. What made it train, and generalise, were a handful of ingredients the paper describes one by
one, and which this page builds in miniature:

* **ReLU** non-linearities, $f(x) = \max(0, x)$, instead of the saturating $\tanh$: the paper's Figure 1 shows
  a four-layer convolutional network reaching 25% training error on CIFAR-10 *six times faster* with ReLUs;
* **local response normalisation** (LRN), a "brightness normalisation" across neighbouring channels;
* **overlapping pooling**: $3 \times 3$ windows with stride 2, so neighbouring windows share a row or column;
* **dropout** in the fully connected layers, and **data augmentation** (random crops and flips, here random
  shifts) against over-fitting: with 60 million parameters and 1.2 million images, the network over-fits
  badly without them.

Our AlexNet keeps the layer pattern, LRN, overlapping pooling and dropout, shrunk to widths of 8 to 24
channels, on scikit-learn's digits resized from $8 \times 8$ to $24 \times 24$ (so that three overlapping
poolings have room: $24 \to 11 \to 5 \to 2$).

## What the experiment shows

**At this scale the first claim is reversed and the second is not tested fairly, and the page says so.**

**ReLU against tanh (the paper's Figure 1).** The same network, without dropout or augmentation, trained by SGD
with momentum with either non-linearity, three seeds each; the training error is measured every 10 steps on a fixed
set of 256 training images, for 80 steps, so a count of steps below is the first measurement at which the error is
at most 25%: "20 steps" means somewhere within steps 11 to 20. As in the paper, each non-linearity gets its own
learning rate ("chosen independently to make training as fast as possible"): both get the same sweep, 0.003, 0.01,
0.03 and 0.1 at every seed, and each is compared at the rate that reaches 25% training error in the fewest steps on
average (the results below record the whole sweep). That is 0.01 for ReLU and 0.03 for tanh, both inside the sweep.
The paper's ReLU network reached 25% training error on CIFAR-10 six times sooner than its tanh twin. On digits it is
the **other way round** in all three seeds: tanh gets there in 20, 30 and 20 steps (mean 23.3) and ReLU in 50, 50
and 60 (mean 53.3), so the ratio tanh/ReLU is 0.44 on average (0.33 to 0.60; above 1 would favour ReLU). It is not a
matter of tuning: tanh at three of the four rates of the sweep reaches the target sooner on average than ReLU at its
best (ReLU at 0.1 never does within the 80 steps).

Nor does it hinge on tanh's larger initial scale. Each network starts from weights scaled for its own non-linearity
(below); started instead from exactly the ReLU network's initial weights, tanh at its rate reaches 25% in 20, 20 and
20 steps (mean 20.0), no slower. The paper's $\mathcal{N}(0, 0.01^2)$ initialisation is not tried. Other differences
from the paper's Figure 1 network: ours has five convolutional and three fully connected layers with LRN, not four
layers; and 24-pixel digits, not CIFAR-10. Why the ordering flips is not measured here. One hypothesis, untested on
this page: on an easy task that needs only a few dozen steps, a well-initialised tanh network never gets deep into
its saturated regime, so the advantage of non-saturating units that the paper describes has no room to appear.
Recording the fraction of saturated tanh units during training would test it.

![Training error of ReLU and tanh networks](results/alexnet.png)

**Dropout and augmentation against over-fitting: not tested.** The same ReLU network trained for 450 steps at
ReLU's rate from the sweep (0.01), once plain and once with dropout 0.5 and random shifts of up to 2 pixels,
three seeds; accuracies measured in evaluation mode. The plain network fits the training set (100.0% in every seed) and
tests at 98.2% on average (97.8% to 98.7%): on digits its train-test gap is already small, 1.8 points on
average. The regularised network learns much more slowly, and after the same 450 steps it is still
*under*-fitting (training accuracy 84.0% on average, from 74.9% to 92.6%; test accuracy 80.7%), with a
*larger* gap, 3.3 points on average (1.8 to 4.7). The paper notes that dropout "roughly doubles the number of
iterations required to converge" (Section 4.2) and trains for roughly 90 passes over the data (Section 5);
450 steps of 64 images are about 27 passes over our 1,079 training images. So this comparison, at equal steps,
does not test the paper's claim fairly: the plain network has little over-fitting to remove, and the
regularised one has not converged. The regularised arm also got no learning-rate sweep of its own: it reuses
the plain ReLU network's rate, 0.01, and its 450 steps, and at that rate and budget it under-fits (80.7% test
accuracy; 74.9% training accuracy on its worst seed). So this part is recorded as *not tested*, not as a result
for or against the paper's claim: whether a rate and a budget chosen for the regularised network would let it
close or reverse the gap is not measured here.

![Train and test accuracy with and without dropout and augmentation](results/alexnet-gap.png)

The results table below has this run's numbers: the sweep, the steps each network needs to reach 25% training
error (each seed, mean and spread), the ratio tanh/ReLU, and the accuracies and gaps.
"""
from __future__ import annotations

import itertools
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, resize, train_classifier


# ## Local response normalisation
#
# Section 3.3 of the paper. With $a^i_{x,y}$ the activity of channel $i$ at position $(x, y)$ after the ReLU, and
# $N$ channels, the normalised activity is
#
# $$b^i_{x,y} = a^i_{x,y} \Big/ \left(k + \alpha \sum_{j=\max(0,\, i-n/2)}^{\min(N-1,\, i+n/2)}
# \left(a^j_{x,y}\right)^2\right)^{\beta},$$
#
# a sum over $n$ "adjacent" channels at the same position, a form of lateral inhibition: a channel that fires
# strongly damps its neighbours. The paper uses $k = 2$, $n = 5$, $\alpha = 10^{-4}$, $\beta = 0.75$.
#
# We square the activities `[N, C, H, W]`, pad the channel axis with $n/2$ zeros at each end, and sum windows of
# $n$ channels with `unfold`. We require odd $n$, so that the window is centred.
#
# **PyTorch's convention differs.** `torch.nn.LocalResponseNorm(size, alpha, beta, k)` divides its `alpha` by
# `size`: it computes $k + \frac{\alpha_\text{torch}}{n} \sum (a^j)^2$. So the paper's $\alpha$ is
# $\alpha_\text{torch} / n$, and the paper's setting is `LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)`.
def local_response_norm(a: torch.Tensor, n: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 2.0) -> torch.Tensor:
    check_tensor("a", a, ["N", "C", "H", "W"])
    check_lrn_settings(n, alpha, beta, k)
    half = n // 2
    squared = F.pad(a.pow(2), (0, 0, 0, 0, half, half))  # [N, C + n - 1, H, W]
    window_sum = squared.unfold(1, n, 1).sum(dim=-1)  # [N, C, H, W]
    return a / (k + alpha * window_sum).pow(beta)


# The denominator must stay positive: $k > 0$, $\alpha \ge 0$ and $\beta \ge 0$ (a negative $k$ or $\alpha$
# can make it zero or negative, and a negative number to the power $\beta$ is NaN).
def check_lrn_settings(n: int, alpha: float, beta: float, k: float) -> None:
    check_positive("n", n, integer=True)
    if n % 2 == 0:
        raise ValueError(f"the window n must be a positive odd number of channels, got {n}")
    check_in_range("alpha", alpha, 0, math.inf)
    check_in_range("beta", beta, 0, math.inf)
    check_positive("k", k)


class LocalResponseNorm(nn.Module):
    def __init__(self, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        check_lrn_settings(n, alpha, beta, k)
        self.n, self.alpha, self.beta, self.k = n, alpha, beta, k

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return local_response_norm(a, self.n, self.alpha, self.beta, self.k)


# ## The network
#
# The paper's layer pattern (Figure 2), with its two GPU halves merged and every width shrunk:
#
# | layer | paper (224 x 224 x 3) | here (24 x 24 x 1) |
# |---|---|---|
# | conv1 | 96 filters 11x11, stride 4, LRN, 3x3/2 pooling | 8 filters 5x5, LRN, 3x3/2 pooling: `[8, 11, 11]` |
# | conv2 | 256 filters 5x5, LRN, pooling | 16 filters 5x5, LRN, pooling: `[16, 5, 5]` |
# | conv3, conv4 | 384 filters 3x3 each | 24 filters 3x3 each |
# | conv5 | 256 filters 3x3, pooling | 16 filters 3x3, pooling: `[16, 2, 2]` |
# | fc6, fc7 | 4096 units, dropout 0.5 before each | 64 units, dropout before each |
# | fc8 | 1000-way softmax | 10-way |
#
# `activation` is `"relu"` (the paper) or `"tanh"` (for Figure 1); `dropout` is the probability of dropping a
# fully connected layer's input unit (0 switches dropout off).
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def overlapping_pool() -> nn.Module:
    return nn.MaxPool2d(kernel_size=3, stride=2)


# The side of the feature maps after the three poolings (the convolutions keep it): $24 \to 11 \to 5 \to 2$.
def pooled_side(image_size: int) -> int:
    check_positive("image_size", image_size, integer=True)
    side = image_size
    for _ in range(3):
        side = (side - 3) // 2 + 1
    return side


class AlexNet(nn.Module):
    def __init__(self, activation: str = "relu", dropout: float = 0.5,
                 widths: tuple[int, ...] = (8, 16, 24, 24, 16), hidden: int = 64, classes: int = 10,
                 image_size: int = 24, init: str | None = None) -> None:
        super().__init__()
        for name, value in (("activation", activation), ("init", init or activation)):
            if value not in ACTIVATIONS:
                raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)}, got {value!r}")
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        if len(widths) != 5:
            raise ValueError(f"AlexNet has five convolutional layers, got widths {widths}")
        for name, size in (*((f"widths[{i}]", w) for i, w in enumerate(widths)), ("hidden", hidden),
                           ("classes", classes)):
            check_positive(name, size, integer=True)
        side = pooled_side(image_size)
        if side < 1:
            smallest = next(size for size in itertools.count(1) if pooled_side(size) >= 1)
            raise ValueError(f"image_size must be at least {smallest} for three overlapping poolings, "
                             f"got {image_size}")
        self.image_size = image_size
        act = ACTIVATIONS[activation]
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), act(), LocalResponseNorm(), overlapping_pool(),
            nn.Conv2d(c1, c2, 5, padding=2), act(), LocalResponseNorm(), overlapping_pool(),
            nn.Conv2d(c2, c3, 3, padding=1), act(),
            nn.Conv2d(c3, c4, 3, padding=1), act(),
            nn.Conv2d(c4, c5, 3, padding=1), act(), overlapping_pool(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(c5 * side * side, hidden), act(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), act(),
            nn.Linear(hidden, classes),
        )

        self.initialise(init or activation)

    # Every weight is drawn from $\mathcal{N}(0, g^2 / \text{fan-in})$ with the gain $g$ suited to the
    # non-linearity named by `init` (by default the network's own: $\sqrt{2}$ for ReLU, $5/3$ for tanh), biases
    # start at zero. The paper drew every weight from $\mathcal{N}(0, 0.01^2)$ and set some biases to 1; at our
    # widths (fan-ins of 25 to 216) that would multiply the spread of the signal by at most
    # $0.01 \sqrt{216} \approx 0.15$ at every layer, so we do not use it. Built from the same seed with the same
    # `init`, a ReLU and a tanh network start from the *same* weights.
    def initialise(self, activation: str) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity=activation)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["N", 1, self.image_size, self.image_size], dtype=self.classifier[-1].weight.dtype)
        return self.classifier(self.features(x))  # [N, classes]


# ## The experiment
#
# Both parts use the digits resized to $24 \times 24$ (the kit's `resize`), the small widths above so that the
# whole run fits a few minutes of CPU, SGD with momentum 0.9 (as in the paper) and mini-batches of 64. The
# test images play no part in any choice: they are only evaluated at the end of the train-test-gap runs.
IMAGE_SIZE = 24


# The paper subtracts the mean image; we also divide by the standard deviation, both measured on the training
# images, so the inputs have zero mean and unit variance.
def standardised(train: Split, test: Split) -> tuple[Split, Split]:
    mean, std = train.x.mean(), train.x.std()
    if not std > 0:
        raise ValueError(f"train.x must vary to be standardised, got standard deviation {std.item()}")
    return Split((train.x - mean) / std, train.y), Split((test.x - mean) / std, test.y)


def make_model(activation: str, dropout: float, seed: int, init: str | None = None) -> AlexNet:
    torch.manual_seed(seed)  # the initial weights (and the dropout masks that follow) come from this seed
    return AlexNet(activation, dropout, image_size=IMAGE_SIZE, init=init)


# ### ReLU against tanh
#
# No dropout, no augmentation, as in the paper's Figure 1. Every 10 steps the trainer measures the accuracy on a
# fixed *probe* of 256 training images; the training error is one minus it. Each non-linearity gets its own
# learning rate, as in the paper ("chosen independently to make training as fast as possible"), from the same
# sweep, run at every seed and recorded: the rate with the fewest steps to 25% training error, averaged over the
# seeds (a run that never gets there counts as the whole budget), ties broken by the lower final training error.
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1)
TARGET_ERROR = 0.25


def training_error_curve(activation: str, train: Split, probe: Split, steps: int, seed: int, lr: float,
                         init: str | None = None) -> History:
    model = make_model(activation, dropout=0.0, seed=seed, init=init)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    settings = ClassifierTraining(steps=steps, batch_size=64, eval_every=10)
    return train_classifier(model, optimizer, train, probe, settings, torch.Generator().manual_seed(seed))


# The first measured step at which the training error is at most `target`; `None` if it never gets there.
def steps_to_error(history: History, target: float) -> int | None:
    for step, accuracy in zip(history.steps("eval_accuracy"), history.values("eval_accuracy")):
        if 1.0 - accuracy <= target:
            return step + 1
    return None


# Steps to the target with a run that never reaches it counted as the whole budget (so a mean is a lower bound).
def censored_steps(history: History, budget: int) -> int:
    reached = steps_to_error(history, TARGET_ERROR)
    return budget if reached is None else reached


def final_error(history: History) -> float:
    return 1.0 - history.last("eval_accuracy")


# How a rate ranks in the sweep: mean steps to the target, then mean final training error (lower is better).
def rate_score(histories: list[History], budget: int) -> tuple[float, float]:
    return (average([censored_steps(h, budget) for h in histories]), average([final_error(h) for h in histories]))


def fastest_rate(by_rate: dict[float, list[History]], budget: int) -> float:
    return min(by_rate, key=lambda lr: rate_score(by_rate[lr], budget))


# ### The train-test gap
#
# The same network trained for the same number of steps, once plain and once with dropout 0.5 in the fully
# connected layers and random shifts of up to 2 pixels (the kit's `random_shift`, our stand-in for the paper's
# random $224 \times 224$ crops of $256 \times 256$ images). Both accuracies are measured in evaluation mode
# (dropout off, no shifts): the gap is training accuracy minus test accuracy.
def train_test_gap(regularised: bool, data: tuple[Split, Split], steps: int, seed: int,
                   lr: float) -> dict[str, float]:
    train, test = data
    model = make_model("relu", dropout=0.5 if regularised else 0.0, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    settings = ClassifierTraining(steps=steps, batch_size=64, max_shift=2 if regularised else 0,
                                  eval_every=steps)
    train_classifier(model, optimizer, train, test, settings, torch.Generator().manual_seed(seed))
    train_accuracy, test_accuracy = evaluate(model, train)[1], evaluate(model, test)[1]
    return {"train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
            "gap": train_accuracy - test_accuracy}


def speed_figure(curves: dict[str, list[History]], target: float) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for (name, histories), style in zip(curves.items(), ("-", "--", ":")):
        for i, history in enumerate(histories):
            errors = [1 - a for a in history.values("eval_accuracy")]
            ax.plot(history.steps("eval_accuracy"), errors, style, color=f"C{i}",
                    label=f"{name}, seed {i}" if i == 0 or style == "-" else None)
    ax.axhline(target, color="gray", linewidth=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("training error")
    ax.set_title("ReLU (solid) against tanh (dashed), best rate of each")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gap_figure(gaps: dict[str, list[dict[str, float]]]) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for x, runs in enumerate(gaps.values()):
        for key, offset, color in (("train_accuracy", -0.15, "C0"), ("test_accuracy", 0.15, "C1")):
            values = [100 * run[key] for run in runs]
            ax.scatter([x + offset] * len(values), values, color=color,
                       label=key.replace("_", " ") if x == 0 else None)
            ax.hlines(sum(values) / len(values), x + offset - 0.1, x + offset + 0.1, color=color)
    ax.set_xticks(range(len(gaps)), list(gaps))
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    fig.tight_layout()
    return fig


def average(values: list[float]) -> float:
    return sum(values) / len(values)


# ### The speed comparison
#
# The sweep for both non-linearities at every seed; then, as a control on the initialisation, tanh at its chosen
# rate once more, started from the ReLU network's initial weights (the ReLU gain $\sqrt{2}$ instead of $5/3$).
def speed_comparison(train: Split, probe: Split, steps: int, seeds: list[int]) -> tuple[dict, Figure]:
    runs = {activation: {lr: [training_error_curve(activation, train, probe, steps, s, lr) for s in seeds]
                         for lr in LEARNING_RATES}
            for activation in ACTIVATIONS}
    best = {activation: fastest_rate(by_rate, steps) for activation, by_rate in runs.items()}
    curves = {f"{activation} (lr {best[activation]})": runs[activation][best[activation]]
              for activation in ACTIVATIONS}
    curves["tanh, ReLU's initial weights"] = [
        training_error_curve("tanh", train, probe, steps, s, best["tanh"], init="relu") for s in seeds]
    reached = {name: over_seeds({s: censored_steps(h, steps) for s, h in zip(seeds, histories)})
               for name, histories in curves.items()}
    relu, tanh, control = curves.values()
    metrics = {
        "budget_steps": steps,
        "sweep": {activation: {str(lr): {"steps_to_target": [steps_to_error(h, TARGET_ERROR) for h in hs],
                                         "score": rate_score(hs, steps)}
                               for lr, hs in by_rate.items()}
                  for activation, by_rate in runs.items()},
        "best_rate": best,
        "steps_to_target": reached,
        "tanh_over_relu_steps": over_seeds({s: censored_steps(t, steps) / censored_steps(r, steps)
                                            for s, r, t in zip(seeds, relu, tanh)}),
        "control_over_tanh_steps": over_seeds({s: censored_steps(c, steps) / censored_steps(t, steps)
                                               for s, t, c in zip(seeds, tanh, control)}),
        "final_training_error": {name: over_seeds({s: final_error(h) for s, h in zip(seeds, histories)})
                                 for name, histories in curves.items()},
    }
    return metrics, speed_figure(curves, TARGET_ERROR)


# ### The train-test gap comparison
#
# Both arms at the rate the sweep chose for ReLU, over the same seeds.
def gap_comparison(data: tuple[Split, Split], steps: int, seeds: list[int], lr: float) -> tuple[dict, Figure]:
    gaps = {name: [train_test_gap(regularised, data, steps, s, lr) for s in seeds]
            for name, regularised in (("plain", False), ("dropout + shifts", True))}
    metrics = {"steps": steps, "learning_rate": lr,
               **{name: {key: over_seeds({s: run[key] for s, run in zip(seeds, runs)})
                         for key in ("train_accuracy", "test_accuracy", "gap")}
                  for name, runs in gaps.items()}}
    return metrics, gap_figure(gaps)


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    train, test = standardised(resize(data.train, IMAGE_SIZE), resize(data.test, IMAGE_SIZE))
    probe = Split(x=train.x[:256], y=train.y[:256])
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    speed, speed_fig = speed_comparison(train, probe, config.train_steps(80, 50), seeds)
    gap, gap_fig = gap_comparison((train, test), config.train_steps(450, 100), seeds, speed["best_rate"]["relu"])
    steps = {name: value["mean"] for name, value in speed["steps_to_target"].items()}
    headline = (f"mean steps to {TARGET_ERROR:.0%} training error, best rate of each: "
                + ", ".join(f"{name} {value:.1f}" for name, value in steps.items())
                + f"; train-test gap {gap['plain']['gap']['mean']:.3f} plain, "
                f"{gap['dropout + shifts']['gap']['mean']:.3f} with dropout and shifts")
    return Outcome(headline=headline, metrics={"seeds": seeds, "target_training_error": TARGET_ERROR,
                                               "speed": speed, "gap": gap},
                   figures={"": speed_fig, "gap": gap_fig})


if __name__ == "__main__":
    run_paper(__file__, experiment)
