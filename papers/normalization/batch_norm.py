r"""
---
title: "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift"
nav: Batch Normalization
summary: Batch normalisation from its formula, equal to PyTorch's and labml-nn's with running statistics; on a
  small CNN on digits it reaches 90% validation accuracy in 2.3 times fewer steps than the same network
  without it, each at its best rate, and reaches it at every rate from 0.01 to 1 where the plain network does
  so on every seed only at 0.03 and 0.1; the training/evaluation difference and the running estimates measured.
---

# Batch Normalization

[Ioffe and Szegedy, 2015. *Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift*](https://arxiv.org/abs/1502.03167)

A layer's input distribution changes during training, because the layers below it change. The paper's answer
is to *normalise* each channel of a layer's pre-activation with the mean and variance of the current
mini-batch, then give it back a learnable scale $\gamma$ and shift $\beta$:

$$\hat{x} = \frac{x - \mu_\mathcal{B}}{\sqrt{\sigma^2_\mathcal{B} + \epsilon}}, \qquad y = \gamma \hat{x} + \beta.$$

The normalisation is part of the network, so gradients flow through $\mu_\mathcal{B}$ and
$\sigma^2_\mathcal{B}$ too; a sample's output, and its gradient, depend on the other samples of its batch. At
test time the batch statistics are replaced by running estimates, and the layer becomes a fixed affine map.

The paper names the problem *internal covariate shift* and claims batch normalisation reduces it. What it
*shows* is the practical effect: a network trains in many fewer steps, tolerates much higher learning rates
and is less sensitive to initialisation: its batch-normalised Inception network with a five times higher rate
reached the original's best accuracy in 14 times fewer steps (its Figures 2 and 3). This page measures the
practical claim only. It does not measure internal covariate shift, and offers no mechanism. Santurkar et
al. (2018, *How Does Batch Normalization Help Optimization?*) argue that the reduction of covariate shift is
not what helps; that is their claim, and it is not tested here either.

The layer is written once, below, with the pieces its three relatives share:
[group normalisation](group_norm.py), [layer normalisation](layer_norm.py) and
[instance normalisation](instance_norm.py) differ only in which values share a mean and a variance. The
small network and the training recipe of all four pages are here too.
[The tests](../../tests/normalization/test_batch_norm.py) check the layer against PyTorch's `BatchNorm1d` and
`BatchNorm2d` in training and evaluation mode (running statistics included) and against labml-nn's
`BatchNorm`, in value and gradient.

## What the experiment shows

A small CNN (three convolutions, He initialisation) on scikit-learn's $8 \times 8$ digits, with and without
batch normalisation after each convolution, trained with SGD and momentum on batches of 32 for 400 steps,
at each rate of the sweep 0.01, 0.03, 0.1, 0.3 and 1, over three seeds, on the same batches. Each arm is
compared at its own best rate.

**It trains faster.** With batch normalisation the network reaches 90% validation accuracy after 80 steps
(mean of three seeds, 70 to 90), without it after 180 (140 to 200), each at its best rate (0.1 for both): 2.3
times fewer steps on average, and fewer on every seed (1.75 to 2.86 times). After 400 steps its test accuracy
is 98.7% against 96.2%. The left panel shows every seed's validation curve at the best rate.

**It trains at higher rates.** The middle panel is the whole sweep. Without batch normalisation the network
reaches the target on every seed only at the rates 0.03 and 0.1; at 0.3 on one seed of three, and at 1 on
none (its final validation accuracy there is 8%, chance). With batch normalisation every rate from 0.01 to
1 works on every seed, and the rate 1 takes 87 steps on average, close to the best. This is the paper's
"higher learning rates" in miniature; the network here is three convolutions deep, the paper's Inception
network many more, and the paper's 14-fold speed-up also came with other changes to the recipe (a faster
rate decay, no dropout, less weight decay, its Section 4.2.1) that this page does not make.

**Training and evaluation mode differ.** One test image put into two batches of 32 that share nothing else
gets logits that differ by up to 1.33 in training mode, and exactly the same logits in evaluation mode
(`batch_dependence`). The running estimates behind evaluation mode do follow the data: a lone
`BatchNorm(64)` fed batches of digits (right panel) has its running mean settle within a root-mean-square
error of 0.0116 over the last 100 batches, against 0.0110 predicted for the noise of the moving average
(derived below, the tests check it); and in the trained network, the first layer's running mean is within
0.061 standard deviations of the true mean of its input over the training split, its running variance within
4.5% of the true one, on every channel.

![Validation curves, the rate sweep, and the running statistics](results/batch_norm.png)
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier


# ## Normalising over some axes
#
# Every layer of this family (batch, layer, instance and group normalisation) does the same two things and
# differs only in *which* elements share a mean and a variance. Over a set $S$ of $m$ elements,
#
# $$\mu_S = \frac{1}{m} \sum_{i \in S} x_i, \qquad \sigma_S^2 = \frac{1}{m} \sum_{i \in S} (x_i - \mu_S)^2,
# \qquad \hat{x}_i = \frac{x_i - \mu_S}{\sqrt{\sigma_S^2 + \epsilon}}.$$
#
# The variance is the *biased* one (divided by $m$, not $m - 1$), as in all four papers, and $\epsilon$ sits
# inside the square root, so a constant set gives $\hat{x} = 0$, never a division by zero. `dims` are the
# axes that make up $S$; the result has the shape of `x`.
def normalize(x: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    mean = x.mean(dim=dims, keepdim=True)  # pylint: disable=redefined-outer-name
    variance = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps)


# Then each channel $c$ gets back a learnable scale $\gamma_c$ and shift $\beta_c$, $y = \gamma_c \hat{x} +
# \beta_c$, so that the layer can represent the identity if that is what training wants (with
# $\gamma_c = \sigma_c$ and $\beta_c = \mu_c$). Channels are axis 1 of `x` `[batch, channels, *]`.
def per_channel_affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    shape = [1, -1] + [1] * (x.dim() - 2)
    return x * weight.view(shape) + bias.view(shape)


# The checks all four layers share: a positive $\epsilon$ (with $\epsilon \le 0$ a constant channel divides
# by zero), and an input `[batch, channels, *]` with the layer's channel count, in the dtype of its weights.
# `min_dims` is 3 for the layers that normalise over the spatial axes of one sample.
def check_eps(eps: float) -> None:
    check_positive("eps", eps)


def check_channels_input(x: torch.Tensor, channels: int, dtype: torch.dtype, min_dims: int = 2) -> None:
    trailing = [None] * (max(x.dim(), min_dims) - 2)
    check_tensor("x", x, ["batch", channels, *trailing], dtype=dtype)


# A set $S$ of one element normalises to exactly zero whatever its value: the layer would silently erase its
# input. All four layers refuse it.
def check_set_size(size: int, what: str) -> None:
    if size < 2:
        raise ValueError(f"{what} has a single value to normalise over, which would always give zero; "
                         f"it needs at least 2")


# ## Batch normalisation
#
# Batch normalisation (Algorithm 1 of the paper) takes $S$ to be one channel over the whole mini-batch: for a
# convolutional layer with input `[N, C, H, W]`, every channel $c$ is normalised with the mean and variance of
# its $N \cdot H \cdot W$ values (the paper's Section 3.2: all locations of a feature map are normalised
# alike, so that the layer stays convolutional). For a fully connected layer `[N, C]` the set is the $N$
# values of the batch.
#
# At evaluation time the output should depend on the input alone, not on which other examples share its batch.
# So the layer keeps *running* estimates of each channel's mean and variance, an exponential moving average
# over training batches,
#
# $$\hat{\mu} \leftarrow (1 - m)\,\hat{\mu} + m\,\mu_\mathcal{B}, \qquad
#   \hat{\sigma}^2 \leftarrow (1 - m)\,\hat{\sigma}^2 + m\,\frac{n}{n - 1}\,\sigma^2_\mathcal{B},$$
#
# with momentum $m$ (PyTorch's convention: the weight of the *new* batch, 0.1 by default) and $n$ the number of
# values per channel in the batch. The running variance uses the *unbiased* batch variance, as the paper's
# Algorithm 2 does ($\mathrm{Var}[x] = \frac{n}{n-1} \mathrm{E}_\mathcal{B}[\sigma^2_\mathcal{B}]$, where
# the paper writes $m$ for the batch size; here $m$ is the momentum) and as PyTorch does. The paper averages
# over many batches of the final network; the moving average is the usual shortcut, and the one PyTorch
# takes. In evaluation mode the layer uses $\hat{\mu}$ and $\hat{\sigma}^2$: it is then a fixed affine map
# per channel.
class BatchNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        check_positive("channels", channels, integer=True)
        check_eps(eps)
        check_in_range("momentum", momentum, 0, 1)
        self.channels, self.eps, self.momentum = channels, eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))  # gamma [C]
        self.bias = nn.Parameter(torch.zeros(channels))  # beta [C]
        self.register_buffer("running_mean", torch.zeros(channels))  # [C]
        self.register_buffer("running_var", torch.ones(channels))  # [C]

    # `x` `[N, C, *]` $\to$ `[N, C, *]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels_input(x, self.channels, self.weight.dtype)
        dims = (0, *range(2, x.dim()))  # every axis but the channels
        if self.training:
            count = x.numel() // self.channels  # n: values per channel in this batch
            check_set_size(count, "batch normalisation in training mode (batch and spatial size 1)")
            self._update_running_statistics(x, dims, count)
            x_hat = normalize(x, dims, self.eps)
        else:
            shape = [1, -1] + [1] * (x.dim() - 2)
            x_hat = (x - self.running_mean.view(shape)) / torch.sqrt(self.running_var.view(shape) + self.eps)
        return per_channel_affine(x_hat, self.weight, self.bias)

    # The running estimates are statistics, not parameters: no gradient flows into them.
    @torch.no_grad()
    def _update_running_statistics(self, x: torch.Tensor, dims: tuple[int, ...], count: int) -> None:
        mean = x.mean(dim=dims)  # [C]  pylint: disable=redefined-outer-name
        unbiased = ((x - mean.view([1, -1] + [1] * (x.dim() - 2))) ** 2).sum(dim=dims) / (count - 1)  # [C]
        self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
        self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, momentum={self.momentum}"


# ## A small convolutional network
#
# The four pages train the same network on scikit-learn's $8 \times 8$ digits `[N, 1, 8, 8]`, with the
# normalisation layer as an argument: `norm(channels)` builds the layer that follows each convolution. Three
# $3 \times 3$ convolutions (16, 32 and 32 channels), each followed by the normalisation and a ReLU, a
# $2 \times 2$ max-pooling after the second, global average pooling and a linear classifier. When a
# normalisation follows a convolution, the convolution has no bias: batch normalisation would subtract it
# again ($\beta$ takes its place). An optional `input_norm` acts on the pixels before the first convolution
# (the instance-normalisation page uses it).
#
# The convolutions start from He initialisation (He et al., 2015: normal, variance $2 / \text{fan-in}$),
# which keeps the scale of the activations steady through ReLUs *without* normalisation. It is there for the
# network without batch normalisation: PyTorch's default initialisation draws weights of variance
# $1 / (3\,\text{fan-in})$, a sixth of He's, so the signal shrinks at every layer, and the plain network
# would be handicapped by its start rather than by its lack of normalisation. The paper's baseline was a
# tuned Inception network, not a badly started one.
NormFactory = Callable[[int], nn.Module]


def no_norm(channels: int) -> nn.Module:
    check_positive("channels", channels, integer=True)
    return nn.Identity()


class SmallCNN(nn.Module):
    def __init__(self, norm: NormFactory, width: int = 16, classes: int = 10, input_norm: nn.Module | None = None):
        super().__init__()
        check_positive("width", width, integer=True)
        check_positive("classes", classes, integer=True)
        layers: list[nn.Module] = [input_norm if input_norm is not None else nn.Identity()]
        channels = 1
        for out, pool in ((width, False), (2 * width, True), (2 * width, False)):
            layer = norm(out)
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=isinstance(layer, nn.Identity)), layer, nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes)]
        self.net = nn.Sequential(*layers)
        for module in self.net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # `[N, 1, H, W]` $\to$ logits `[N, classes]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["N", 1, "H", "W"], dtype=self.net[-1].weight.dtype)
        return self.net(x)


# ## One training recipe
#
# SGD with momentum 0.9 and a constant learning rate, mini-batches drawn at random from the training split,
# cross-entropy, the validation accuracy measured every `eval_every` steps. The seed fixes the initial
# weights and the batches, so two arms of one seed differ only in their normalisation (and learning rate).
def train_cnn(model_factory: Callable[[], nn.Module], data: tuple[Split, Split], lr: float, batch_size: int,
              steps: int, seed: int, eval_every: int = 20) -> tuple[nn.Module, History]:
    check_positive("lr", lr)
    torch.manual_seed(seed)
    model = model_factory()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    settings = ClassifierTraining(steps=steps, batch_size=batch_size, eval_every=eval_every)
    history = train_classifier(model, optimizer, data[0], data[1], settings, torch.Generator().manual_seed(seed))
    return model, history


# The first step at which the validation accuracy reaches `target`, or `None` if it never does.
def steps_to_accuracy(history: History, target: float) -> int | None:
    check_in_range("target", target, 0, 1)
    for step, value in zip(history.steps("eval_accuracy"), history.values("eval_accuracy")):
        if value >= target:
            return step + 1
    return None


# ## The experiment: faster training, higher usable rates
#
# For each seed, the network with and without batch normalisation is trained at every rate of one sweep, on
# the same batches. The score of a run is the number of steps until the validation accuracy first reaches
# `TARGET`; a run that never does counts as the budget plus one evaluation interval (censored). Each arm is
# then compared at its own best rate: the one with the fewest steps, averaged over the seeds (ties broken by
# the final validation accuracy). The test split is used only for the final accuracies.
RATES = [0.01, 0.03, 0.1, 0.3, 1.0]
TARGET = 0.9
EVAL_EVERY = 10
ARMS: dict[str, NormFactory] = {"plain": no_norm, "batch norm": BatchNorm}


def sweep_run(norm: NormFactory, data: tuple[Split, Split], lr: float, steps: int, seed: int) -> dict:
    model, history = train_cnn(lambda: SmallCNN(norm), data, lr, 32, steps, seed, EVAL_EVERY)
    reached = steps_to_accuracy(history, TARGET)
    return {"model": model, "history": history, "reached": reached is not None,
            "steps": reached if reached is not None else steps + EVAL_EVERY,
            "final_valid_accuracy": history.last("eval_accuracy")}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def best_rate(runs: dict[float, list[dict]]) -> float:
    return min(runs, key=lambda lr: (mean([r["steps"] for r in runs[lr]]),
                                     -mean([r["final_valid_accuracy"] for r in runs[lr]])))


# The largest rate at which every seed still reaches the target: the paper's "higher learning rates".
def largest_usable_rate(runs: dict[float, list[dict]]) -> float | None:
    usable = [lr for lr, seeds in runs.items() if all(r["reached"] for r in seeds)]
    return max(usable) if usable else None


# ## Training mode against evaluation mode
#
# In training mode a sample's output depends on the rest of its batch; in evaluation mode it does not. One
# test image is put in two batches that share nothing else, and its logits compared. The network is copied,
# so this probe leaves its running statistics alone.
@torch.no_grad()
def batch_dependence(model: nn.Module, images: torch.Tensor) -> dict[str, float]:
    check_tensor("images", images, ["N", 1, 8, 8])
    if len(images) < 4:
        raise ValueError(f"images must hold at least 4 images to make two batches, got {len(images)}")
    probe = copy.deepcopy(model)
    half = len(images) // 2
    batch_a, batch_b = images[:half], torch.cat([images[:1], images[half:2 * half - 1]])
    differences = {}
    for mode, training in (("train_mode", True), ("eval_mode", False)):
        probe.train(training)
        differences[mode] = (probe(batch_a)[0] - probe(batch_b)[0]).abs().max().item()
    return differences


# The running estimates follow the data. A lone layer `BatchNorm(64)` watches batches of 32 flattened digits
# (each pixel a channel) and nothing is learned, so the true statistics are fixed: the training split's
# per-pixel mean $\mu$ and variance $\sigma^2$. The error of the running mean falls like $(1 - m)^t$ and then
# stays at the noise of the moving average: with batch means of variance $\sigma^2 / B$ (batches drawn with
# replacement), the average $\hat{\mu} = m \sum_k (1 - m)^k \mu_{\mathcal{B}_{t-k}}$ has the stationary
# variance $\frac{m}{2 - m} \frac{\sigma^2}{B}$. Returns the root-mean-square errors over the pixels after each
# step, `[steps]` each, and that predicted floor for the mean.
@torch.no_grad()
def running_statistics_error(x: torch.Tensor, steps: int, batch_size: int, momentum: float,
                             seed: int) -> tuple[list[float], list[float], float]:
    check_tensor("x", x, ["N", "features"])
    check_positive("steps", steps, integer=True)
    layer = BatchNorm(x.shape[1], momentum=momentum).to(x.dtype)
    mean_true, var_true = x.mean(dim=0), x.var(dim=0, unbiased=False)  # [features] each
    generator = torch.Generator().manual_seed(seed)
    mean_errors, var_errors = [], []
    for _ in range(steps):
        layer(x[torch.randint(0, len(x), (batch_size,), generator=generator)])
        mean_errors.append((layer.running_mean - mean_true).pow(2).mean().sqrt().item())
        var_errors.append((layer.running_var - var_true).pow(2).mean().sqrt().item())
    floor = math.sqrt(momentum / (2 - momentum) * var_true.mean().item() / batch_size)
    return mean_errors, var_errors, floor


# After training, the first batch-normalisation layer of a trained network against the statistics of its own
# input (the first convolution's output) over the whole training split: the relative error of the running
# mean and variance, largest over the channels.
@torch.no_grad()
def trained_running_statistics_error(model: SmallCNN, x: torch.Tensor) -> dict[str, float]:
    conv, layer = model.net[1], model.net[2]
    if not isinstance(layer, BatchNorm):
        raise ValueError(f"the model's first normalisation must be a BatchNorm, got {type(layer).__name__}")
    features = conv(model.net[0](x))  # [N, C, H, W]
    mean, var = features.mean(dim=(0, 2, 3)), features.var(dim=(0, 2, 3))  # pylint: disable=redefined-outer-name
    return {"mean_error": ((layer.running_mean - mean).abs() / var.sqrt()).max().item(),
            "var_relative_error": ((layer.running_var - var).abs() / var).max().item()}


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    steps = config.train_steps(full=400, quick=150)
    rates = config.choose(RATES, [0.03, 0.3])
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs = {arm: {lr: [sweep_run(norm, (data.train, data.valid), lr, steps, seed) for seed in seeds]
                  for lr in rates} for arm, norm in ARMS.items()}
    best = {arm: best_rate(runs[arm]) for arm in ARMS}
    trained_bn = runs["batch norm"][best["batch norm"]][0]["model"]
    probe = batch_dependence(trained_bn, data.test.x[:64])
    mean_errors, var_errors, floor = running_statistics_error(data.train.x.flatten(1), config.choose(300, 100),
                                                              32, 0.1, config.seed)
    metrics = _metrics(runs, best, seeds, data.test, steps)
    metrics.update({"batch_dependence": probe, "running_mean_rms_error_last_100": mean(mean_errors[-100:]),
                    "running_mean_predicted_floor": floor, "running_var_rms_error_last_100": mean(var_errors[-100:]),
                    "trained_first_layer": trained_running_statistics_error(trained_bn, data.train.x)})
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, best, (mean_errors, var_errors, floor))})


def _metrics(runs: dict, best: dict[str, float], seeds: list[int], test: Split, steps: int) -> dict:
    metrics: dict = {"seeds": seeds, "rates": list(runs["plain"]), "steps": steps, "target": TARGET,
                     "best_rate": best,
                     "largest_usable_rate": {arm: largest_usable_rate(runs[arm]) for arm in runs},
                     "sweep": {arm: {str(lr): {"mean_steps": mean([r["steps"] for r in seeds_runs]),
                                               "reached": sum(r["reached"] for r in seeds_runs),
                                               "final_valid_accuracy": round(mean([r["final_valid_accuracy"]
                                                                                   for r in seeds_runs]), 4)}
                                     for lr, seeds_runs in runs[arm].items()} for arm in runs}}
    for arm, key in (("plain", "plain"), ("batch norm", "bn")):
        chosen = runs[arm][best[arm]]
        metrics[f"steps_{key}"] = over_seeds({s: r["steps"] for s, r in zip(seeds, chosen)})
        metrics[f"test_accuracy_{key}"] = over_seeds({s: evaluate(r["model"], test)[1] for s, r in zip(seeds, chosen)})
    plain, bn = runs["plain"][best["plain"]], runs["batch norm"][best["batch norm"]]
    metrics["speedup"] = over_seeds({s: p["steps"] / b["steps"] for s, p, b in zip(seeds, plain, bn)})
    return metrics


def _headline(metrics: dict) -> str:
    return (f"Steps to {metrics['target']:.0%} validation accuracy at each arm's best rate, mean of "
            f"{len(metrics['seeds'])} seeds: {metrics['steps_plain']['mean']:.0f} without batch normalisation "
            f"(rate {metrics['best_rate']['plain']}), {metrics['steps_bn']['mean']:.0f} with it (rate "
            f"{metrics['best_rate']['batch norm']}); test accuracy {metrics['test_accuracy_plain']['mean']:.1%} "
            f"and {metrics['test_accuracy_bn']['mean']:.1%}.")


def _figure(runs: dict, best: dict[str, float], running: tuple[list[float], list[float], float]) -> plt.Figure:
    fig, (ax_curve, ax_rates, ax_running) = plt.subplots(1, 3, figsize=(15, 4))
    for i, arm in enumerate(runs):
        for j, run in enumerate(runs[arm][best[arm]]):
            history = run["history"]
            ax_curve.plot(history.steps("eval_accuracy"), history.values("eval_accuracy"), color=f"C{i}",
                          alpha=0.8, label=f"{arm} (rate {best[arm]})" if j == 0 else None)
        rates = list(runs[arm])
        ax_rates.plot(rates, [mean([r["steps"] for r in runs[arm][lr]]) for lr in rates], marker="o",
                      color=f"C{i}", label=arm)
    ax_curve.axhline(TARGET, color="grey", linestyle=":", linewidth=0.8)
    ax_curve.set(xlabel="training step", ylabel="validation accuracy", ylim=(0, 1),
                 title="Each arm at its best rate, every seed")
    ax_curve.legend()
    budget = max(r["steps"] for arm in runs for seeds in runs[arm].values() for r in seeds)
    ax_rates.axhline(budget, color="grey", linestyle=":", linewidth=0.8)
    ax_rates.set(xscale="log", xlabel="learning rate", ylabel=f"steps to {TARGET:.0%} (mean of seeds)",
                 title=f"Rate sweep (dotted: never reached in {budget - EVAL_EVERY} steps)")
    ax_rates.legend()
    mean_errors, var_errors, floor = running
    ax_running.plot(range(1, len(mean_errors) + 1), mean_errors, label="running mean")
    ax_running.plot(range(1, len(var_errors) + 1), var_errors, label="running variance")
    ax_running.axhline(floor, color="C0", linestyle="--", linewidth=0.8, label="predicted floor (mean)")
    ax_running.set(yscale="log", xlabel="training batches seen", ylabel="RMS error over the 64 pixels",
                   title="Running statistics of BatchNorm(64) on digits")
    ax_running.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
