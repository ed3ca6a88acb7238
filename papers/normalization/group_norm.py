r"""
---
title: Group Normalization
summary: Group normalisation from its formula, equal to PyTorch's and labml-nn's, equal to layer normalisation
  with one group and to instance normalisation with one channel per group; the paper's Figure 1 in miniature,
  at equal epochs with the rate scaled with the batch, does not hold on digits - batch normalisation's error
  does not rise at batch 2, and group normalisation is behind it at every batch size; with the paper's
  per-GPU statistics (2 images inside a batch of 64) batch normalisation loses half a point and stays ahead.
---

# Group Normalization

[Wu and He, 2018. *Group Normalization*](https://arxiv.org/abs/1803.08494)

[Batch normalisation](batch_norm.py) estimates each channel's mean and variance from the batch. With a
small batch the estimate is noisy, and the statistics seen in training (those of the batch) differ more and
more from those used at test time (the running averages). The paper's Figure 1 shows what that costs: a
ResNet-50 on ImageNet has 23.6% top-1 error with batch normalisation at 32 images per GPU and 34.7% at 2,
while with group normalisation it stays between 24.0% and 24.2% at every batch size (its Table 2). Detection,
segmentation and video models, whose inputs are large, are trained with a few images per GPU, and that is
where it matters.

Group normalisation computes its statistics inside one sample: the channels are split into $G$ groups, and
each group is normalised over its channels and all positions. With $x$ `[N, C, H, W]` and group
$g = \lfloor c \cdot G / C \rfloor$,

$$\mu_{ng} = \frac{G}{C H W} \sum_{c \in g} \sum_{h, w} x_{nchw}, \qquad
\sigma^2_{ng} = \frac{G}{C H W} \sum_{c \in g} \sum_{h, w} (x_{nchw} - \mu_{ng})^2, \qquad
y_{nchw} = \gamma_c \frac{x_{nchw} - \mu_{ng}}{\sqrt{\sigma^2_{ng} + \epsilon}} + \beta_c.$$

Nothing depends on the batch, so there is no batch size to be too small and nothing to estimate for test
time. Its two ends are the other layers of this section: $G = 1$ is [layer normalisation](layer_norm.py)
over `(C, H, W)`, $G = C$ is [instance normalisation](instance_norm.py). The paper's default is $G = 32$ for
networks of 64 to 2048 channels; the small network here has 16 and 32 channels and uses $G = 4$.

[The tests](../../tests/normalization/test_group_norm.py) check the layer against PyTorch's `GroupNorm` and
labml-nn's, in value and gradient, and both limits.

## What the experiment shows

The paper's Figure 1 in miniature: the small network of the batch-normalisation page with batch
normalisation or with group normalisation after each convolution, trained for 6 epochs of the 1,079 training
digits at batch sizes 2, 4, 16 and 64 (3,237, 1,619, 405 and 102 steps), over three seeds, with SGD, momentum
and a cosine decay of the rate. As in the paper, every batch size sees the same number of examples, and the
rate is scaled linearly with the batch from one base rate per arm. Each arm's base rate is the best of the
same sweep at batch 64 (0.1, 0.2, 0.4 and 0.8, by mean validation accuracy): 0.8 for batch normalisation
(98.9% validation accuracy), 0.2 for group normalisation (93.3%; 78.4% at 0.4 and 57.7% at 0.8). The test
error is measured in evaluation mode, so batch normalisation uses its running statistics, as at test time.

**Where the setup differs from the paper's.** In the paper's Figure 1 and Table 2 the batch is per GPU, on
8 GPUs: at 2 images per GPU each GPU normalises over its own 2 images, but the gradient is still averaged
over 16 images, for 100 epochs of ImageNet. Here the normalisation batch is the optimiser batch, so batch 2
also means 32 times as many steps as batch 64, each noisier. A control puts the paper's setup back (*ghost
batches*, below): batch normalisation with statistics over groups of 2 images inside a batch of 64. A
small-batch penalty could come from two places: the running averages of noisy batch statistics, which the
network meets at test time, or weights trained on noisy statistics. The curve with statistics recomputed at
the final weights, and the ghost-batch control, tell the two apart.

**At this scale the claim does not hold.** Batch normalisation's test error does not rise as the batch
shrinks: 1.3% at batch 64 (0.7% to 2.5% over the seeds), 1.4% at 16, 0.8% at 4 and 0.8% at batch 2 (0.7% to
0.9%); from batch 64 to batch 2 it moves by -0.5% on average (-1.6% to 0.2%). With its running statistics
recomputed from the whole training split at the final weights it is 0.7% at batch 2 and 1.2% at batch 64:
the running averages of batch-2 statistics cost nothing measurable here. Group normalisation's error *falls*
as the batch shrinks: 6.2% at batch 64 (4.0% to 8.5%), 3.1% at 16, 1.9% at 4 and 1.9% at batch 2 (0.9% to
2.9%). It is behind batch normalisation at every batch size, at batch 2 by -1.0% on average (batch minus
group normalisation, -2.0% to 0.0%: one seed of three ties).

**The paper's setup: ghost batches.** With its statistics computed over groups of 2 images inside a batch
of 64 (102 steps at rate 0.8, as batch 64), batch normalisation's test error is 1.9% (1.1% to 2.9%), against
1.3% with statistics over the whole batch: 2-image statistics cost +0.5% on average, on every seed (0.2% to
0.9%). That is the paper's direction, far smaller than its 11 points. Recomputing the running statistics
gives 1.9% as well (1.3% to 2.7%), so the cost comes from training on noisy statistics, not from the running
averages. It is still far ahead of group normalisation at the same batch and length (6.2%), on every seed.

What is measured of why. Group normalisation's fall is not the paper's flat line: at batch 64 it has not
converged in 102 steps (93.3% validation accuracy at its best rate, against 98.9%), and a smaller batch takes
more steps over the same epochs. The control: trained four times as long at batch 64 (24 epochs, 405 steps,
rate 0.2), its error is 1.5% (1.1% to 1.8%), close to its 1.9% at batch 2, so more steps are most of its fall
with smaller batches. Batch normalisation trained as long is at 0.7% (0.2% to 1.1%), ahead on every seed, so
six epochs are only roughly enough for it too. On this network group normalisation is behind batch
normalisation at every batch size, at every rate of the sweep at batch 64 and with longer training; the
paper reports the same direction at its largest batch, far smaller (its Table 1: 24.1% against 23.6%
validation error at 32 images per GPU). Why batch normalisation suffers so little from 2-image statistics
here is not measured. That its statistics pool every position of a channel (2 images give 128 values per
channel in the first layer, 32 after the pooling) does not explain it, since it holds in the paper too (a
ResNet-50's last stage at 2 images pools $2 \times 7 \times 7 = 98$ values per channel, and degrades).
That digits are far easier than ImageNet is a guess, not tested; so is whether a harder task or a deeper
network would show the penalty.

![Test error against batch size](results/group_norm.png)
"""
from __future__ import annotations

import copy
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier
from papers.normalization.batch_norm import (
    BatchNorm, NormFactory, SmallCNN, check_channels_input, check_eps, check_set_size, mean, normalize,
    per_channel_affine)


# ## Group normalisation
#
# The $C$ channels of one sample are split into $G$ groups of $C / G$ consecutive channels, and each group is
# normalised with its own mean and variance over its channels and all spatial positions: $S$ is one sample,
# one group, $C/G \cdot H \cdot W$ values. Nothing is shared across the batch, so the layer computes the same
# thing in training and evaluation and needs no running statistics. Scale $\gamma$ and shift $\beta$ are
# per channel, as in batch normalisation. $G = 1$ is layer normalisation over `(C, H, W)`, $G = C$ is
# instance normalisation ([the tests](../../tests/normalization/test_group_norm.py) check both).
class GroupNorm(nn.Module):
    def __init__(self, groups: int, channels: int, eps: float = 1e-5):
        super().__init__()
        check_positive("groups", groups, integer=True)
        check_positive("channels", channels, integer=True)
        if channels % groups:
            raise ValueError(f"groups must divide channels, got {groups} groups for {channels} channels")
        check_eps(eps)
        self.groups, self.channels, self.eps = groups, channels, eps
        self.weight = nn.Parameter(torch.ones(channels))  # gamma [C]
        self.bias = nn.Parameter(torch.zeros(channels))  # beta [C]

    # `x` `[N, C, *]` $\to$ `[N, G, C/G, *]`, normalised over every axis after the group's, $\to$ `[N, C, *]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels_input(x, self.channels, self.weight.dtype)
        grouped = x.reshape(x.shape[0], self.groups, -1)  # [N, G, C/G * H * W]
        check_set_size(grouped.shape[-1], "group normalisation (one channel per group and spatial size 1)")
        x_hat = normalize(grouped, (2,), self.eps).reshape(x.shape)
        return per_channel_affine(x_hat, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.groups}, {self.channels}, eps={self.eps}"


# ## Ghost batches: the paper's per-GPU statistics
#
# In the paper the batch of Figure 1 is the batch *per GPU*: eight GPUs each normalise their own images, and
# the gradient is averaged over all of them, so at 2 images per GPU a step still sees 16 images. Here the
# normalisation batch is the optimiser batch. This layer separates the two: batch normalisation whose
# training statistics are computed over consecutive groups of `group` images inside a larger batch ("ghost
# batches"), `[N, C, *]` $\to$ `[N/group, group, C, *]` in effect, each group normalised on its own. The
# running averages are updated once per group, as each of the paper's GPUs updates its own. In evaluation
# mode, and when a batch has no more than `group` images, it is plain batch normalisation.
class GhostBatchNorm(BatchNorm):
    def __init__(self, channels: int, group: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(channels, eps, momentum)
        check_positive("group", group, integer=True)
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.shape[0] <= self.group:
            return super().forward(x)
        normalise_one = super().forward
        return torch.cat([normalise_one(part) for part in x.split(self.group)])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, group={self.group}"


# ## The experiment: error against batch size, at equal epochs
#
# The paper's Figure 1 in miniature: the network of [the batch-normalisation page](batch_norm.py) with batch
# normalisation or with group normalisation ($G = 4$ groups, 4 or 8 channels each), trained at batch sizes 2,
# 4, 16 and 64 for the same number of epochs (examples seen), so a batch of $B$ takes $64 / B$ times as many
# steps as a batch of 64. As in the paper (which follows Goyal et al., 2017), the rate is scaled linearly with
# the batch, $\eta_B = \eta_{64} \cdot B / 64$, from one base rate per arm; each arm's base rate is the best of
# the same sweep at the reference batch of 64 (highest mean validation accuracy over the seeds), and those
# batch-64 runs are the batch-64 results. The test error is measured in evaluation mode, so batch
# normalisation uses its running statistics there, as it would at test time. Batches are drawn at random with
# replacement, so an epoch is a number of examples seen, not one pass over each. Six epochs is what the budget
# allows (batch 2 then takes 3,237 steps): roughly enough for batch normalisation at batch 64, not for group
# normalisation (see the page).
#
# Two controls, at the batch of 64 and each arm's base rate. *Ghost batches*: batch normalisation with its
# statistics computed over groups of `GHOST_GROUP` = 2 images, the paper's per-GPU setup, so that the
# normalisation batch shrinks while the steps stay those of batch 64. *Longer training*: both arms for
# `LONGER` = 4 times the epochs (24 epochs, 405 steps, as many steps as batch 16 takes in 6), to see how much
# of group normalisation's fall with smaller batches is the extra steps.
BATCH_SIZES = [2, 4, 16, 64]
REFERENCE_BATCH = 64
BASE_RATES = [0.1, 0.2, 0.4, 0.8]
EPOCHS = 6
GROUPS = 4
GHOST_GROUP = 2
LONGER = 4


def group_norm(channels: int) -> nn.Module:
    return GroupNorm(GROUPS, channels)


def ghost_batch_norm(channels: int) -> nn.Module:
    return GhostBatchNorm(channels, GHOST_GROUP)


ARMS: dict[str, NormFactory] = {"batch norm": BatchNorm, "group norm": group_norm}


# The number of steps that makes `epochs` passes over `examples` training examples at `batch_size`.
def steps_for(epochs: float, examples: int, batch_size: int) -> int:
    check_positive("epochs", epochs)
    check_positive("examples", examples, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    return math.ceil(epochs * examples / batch_size)


# The recipe of the batch-normalisation page (SGD, momentum 0.9, batches drawn at random, the seed fixing the
# initial weights and the batches), with the rate decayed to zero along a half cosine over the run,
# $\eta_t = \eta \cdot \tfrac{1}{2}(1 + \cos(\pi t / T))$, so that the final weights are not those of one
# noisy step at a high rate (the paper decays its rate in steps). The schedule advances after every
# optimiser step. The validation accuracy is measured once, at the end.
def train_decayed(norm: NormFactory, data: tuple[Split, Split], lr: float, batch_size: int, steps: int,
                  seed: int) -> tuple[nn.Module, float]:
    check_positive("lr", lr)
    torch.manual_seed(seed)
    model = SmallCNN(norm)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    optimizer.register_step_post_hook(lambda *_: schedule.step())
    settings = ClassifierTraining(steps=steps, batch_size=batch_size, eval_every=steps)
    history = train_classifier(model, optimizer, data[0], data[1], settings, torch.Generator().manual_seed(seed))
    return model, history.last("eval_accuracy")


# Batch normalisation's running statistics are moving averages of batch statistics, and at batch 2 those are
# noisy. To see how much of its test error is that noise, a copy of the trained network gets every running
# mean and variance recomputed from the whole training split at the final weights (one pass in training mode,
# no gradient, each layer's momentum set to 1 so the estimate is that pass's statistics alone; ghost batches
# are switched off for that pass). Only the statistics change; a gap that remains comes from the weights
# learned with noisy batch statistics.
@torch.no_grad()
def with_recomputed_statistics(model: nn.Module, x: torch.Tensor) -> nn.Module:
    check_tensor("x", x, ["N", 1, "H", "W"])
    probe = copy.deepcopy(model).train()
    for layer in probe.modules():
        if isinstance(layer, BatchNorm):
            layer.momentum = 1.0
        if isinstance(layer, GhostBatchNorm):
            layer.group = len(x)
    probe(x)
    return probe.eval()


# One run: an arm at one batch size and rate for `epochs` epochs. Its validation accuracy (for the rate
# sweep), its test error, and for batch normalisation the test error with recomputed statistics.
def one_run(norm: NormFactory, data: tuple[Split, Split, Split], lr: float, batch_size: int, epochs: float,
            seed: int) -> dict[str, float]:
    steps = steps_for(epochs, len(data[0].y), batch_size)
    model, valid_accuracy = train_decayed(norm, data[:2], lr, batch_size, steps, seed)
    run = {"valid_accuracy": valid_accuracy, "test_error": 1 - evaluate(model, data[2])[1]}
    if any(isinstance(layer, BatchNorm) for layer in model.modules()):
        run["test_error_recomputed"] = 1 - evaluate(with_recomputed_statistics(model, data[0].x), data[2])[1]
    return run


# The base rate of one arm: every rate of the sweep at the reference batch on every seed, the best by mean
# validation accuracy. Returns it, its runs (the reference batch's results) and each rate's mean accuracy.
def sweep_base_rate(norm: NormFactory, data: tuple[Split, Split, Split], epochs: float, seeds: list[int],
                    rates: list[float]) -> tuple[float, list[dict[str, float]], dict[str, float]]:
    runs = {lr: [one_run(norm, data, lr, REFERENCE_BATCH, epochs, seed) for seed in seeds] for lr in rates}
    accuracy = {lr: mean([r["valid_accuracy"] for r in runs[lr]]) for lr in rates}
    best = max(rates, key=lambda lr: accuracy[lr])
    return best, runs[best], {str(lr): round(a, 4) for lr, a in accuracy.items()}


# One arm at every batch size, the rate scaled linearly from its base rate: `{batch: [run per seed]}`.
def arm_runs(norm: NormFactory, data: tuple[Split, Split, Split], epochs: float, seeds: list[int],
             batch_sizes: list[int], rates: list[float]) -> tuple[dict[int, list[dict]], float, dict[str, float]]:
    base, reference, sweep = sweep_base_rate(norm, data, epochs, seeds, rates)
    runs = {b: reference if b == REFERENCE_BATCH else
            [one_run(norm, data, base * b / REFERENCE_BATCH, b, epochs, seed) for seed in seeds]
            for b in batch_sizes}
    return runs, base, sweep


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    splits = (data.train, data.valid, data.test)
    epochs = config.train_steps(full=EPOCHS, quick=2)  # `--steps N` sets the number of epochs here
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    rates = config.choose(BASE_RATES, [0.2])
    batch_sizes = config.choose(BATCH_SIZES, [2, REFERENCE_BATCH])
    results = {arm: arm_runs(norm, splits, epochs, seeds, batch_sizes, rates) for arm, norm in ARMS.items()}
    controls = _controls(splits, epochs, seeds, {arm: results[arm][1] for arm in ARMS})
    metrics: dict = {"seeds": seeds, "epochs": epochs, "base_rates": rates, "reference_batch": REFERENCE_BATCH,
                     "groups": GROUPS, "batch_sizes": batch_sizes,
                     "steps": {str(b): steps_for(epochs, len(data.train.y), b) for b in batch_sizes},
                     "base_rate": {arm: results[arm][1] for arm in ARMS},
                     "sweep_valid_accuracy": {arm: results[arm][2] for arm in ARMS}}
    metrics.update(_errors({arm: results[arm][0] for arm in ARMS}, seeds, batch_sizes))
    metrics.update(_control_metrics(controls, results["batch norm"][0][REFERENCE_BATCH], seeds))
    metrics.update({"ghost_group": GHOST_GROUP, "longer_epochs": LONGER * epochs,
                    "longer_steps": steps_for(LONGER * epochs, len(data.train.y), REFERENCE_BATCH)})
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


# The two controls at the reference batch, each arm at its base rate: batch normalisation with ghost batches
# for the same epochs, and both arms trained `LONGER` times as many epochs. `{name: [run per seed]}`.
def _controls(data: tuple[Split, Split, Split], epochs: float, seeds: list[int],
              base: dict[str, float]) -> dict[str, list[dict[str, float]]]:
    runs = {"ghost": (ghost_batch_norm, base["batch norm"], epochs),
            "bn_longer": (BatchNorm, base["batch norm"], LONGER * epochs),
            "gn_longer": (group_norm, base["group norm"], LONGER * epochs)}
    return {name: [one_run(norm, data, lr, REFERENCE_BATCH, ep, seed) for seed in seeds]
            for name, (norm, lr, ep) in runs.items()}


# Test errors of the controls over the seeds, and ghost batches' cost: its error minus that of batch
# normalisation with statistics over the whole batch of 64, seed by seed.
def _control_metrics(controls: dict[str, list[dict[str, float]]], plain: list[dict[str, float]],
                     seeds: list[int]) -> dict:
    def by_seed(values: list[float]) -> dict:
        return over_seeds(dict(zip(seeds, values)))

    return {"test_error_bn_ghost": by_seed([r["test_error"] for r in controls["ghost"]]),
            "test_error_bn_ghost_recomputed": by_seed([r["test_error_recomputed"] for r in controls["ghost"]]),
            "ghost_minus_plain": by_seed([g["test_error"] - p["test_error"]
                                         for g, p in zip(controls["ghost"], plain)]),
            "test_error_bn_longer": by_seed([r["test_error"] for r in controls["bn_longer"]]),
            "test_error_gn_longer": by_seed([r["test_error"] for r in controls["gn_longer"]])}


# Test errors over the seeds for each arm and batch size, batch normalisation's with recomputed statistics,
# and the two differences the claim is about: each arm's rise from the largest batch to the smallest, and
# batch minus group normalisation at the smallest batch.
def _errors(runs: dict[str, dict[int, list[dict]]], seeds: list[int], batch_sizes: list[int]) -> dict:
    metrics = {}
    for arm, key in (("batch norm", "bn"), ("group norm", "gn")):
        for b in batch_sizes:
            metrics[f"test_error_{key}_{b}"] = over_seeds(dict(zip(seeds, [r["test_error"] for r in runs[arm][b]])))
    for b in batch_sizes:
        metrics[f"test_error_bn_recomputed_{b}"] = over_seeds(dict(zip(
            seeds, [r["test_error_recomputed"] for r in runs["batch norm"][b]])))
    small, large = batch_sizes[0], batch_sizes[-1]

    def differences(a: list[dict], b: list[dict]) -> dict:
        return over_seeds(dict(zip(seeds, [x["test_error"] - y["test_error"] for x, y in zip(a, b)])))

    for arm, key in (("batch norm", "bn"), ("group norm", "gn")):
        metrics[f"degradation_{key}"] = differences(runs[arm][small], runs[arm][large])
    metrics["bn_minus_gn_smallest_batch"] = differences(runs["batch norm"][small], runs["group norm"][small])
    return metrics


def _arm(key: str) -> str:
    return {"bn": "batch norm", "gn": "group norm"}[key]


def _headline(metrics: dict) -> str:
    small, large = metrics["batch_sizes"][0], metrics["batch_sizes"][-1]

    def error(key: str, b: int) -> str:
        return f"{metrics[f'test_error_{key}_{b}']['mean']:.1%}"

    return (f"Mean test error over {len(metrics['seeds'])} seeds after {metrics['epochs']} epochs at every batch "
            f"size, rate scaled with the batch: batch norm {error('bn', large)} at batch {large} and "
            f"{error('bn', small)} at batch {small}; group norm {error('gn', large)} and {error('gn', small)}.")


def _figure(metrics: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sizes = metrics["batch_sizes"]
    curves = (("bn", "batch norm (running statistics)", "C0", "-"),
              ("bn_recomputed", "batch norm (statistics recomputed)", "C0", ":"),
              ("gn", "group norm", "C1", "-"))
    for key, label, color, style in curves:
        stats = [metrics[f"test_error_{key}_{b}"] for b in sizes]
        means = [s["mean"] for s in stats]
        ax.errorbar(sizes, means, yerr=[[m - s["min"] for m, s in zip(means, stats)],
                                        [s["max"] - m for m, s in zip(means, stats)]],
                    marker="o", capsize=3, color=color, linestyle=style, label=label)
    controls = (("bn_ghost", metrics["ghost_group"], f"batch norm, statistics of {metrics['ghost_group']} images "
                 f"in a batch of {sizes[-1]}", "C0", "s"),
                ("bn_longer", sizes[-1], f"batch norm, {metrics['longer_epochs']} epochs", "C0", "^"),
                ("gn_longer", sizes[-1], f"group norm, {metrics['longer_epochs']} epochs", "C1", "^"))
    for key, b, label, color, marker in controls:
        stats = metrics[f"test_error_{key}"]
        ax.errorbar([b], [stats["mean"]], yerr=[[stats["mean"] - stats["min"]], [stats["max"] - stats["mean"]]],
                    marker=marker, markerfacecolor="none", capsize=3, color=color, linestyle="none", label=label)
    ax.set(xscale="log", xlabel="batch size (normalisation)", ylabel="test error (mean, bars: min to max)",
           ylim=(0, None),
           title=f"{metrics['epochs']} epochs at every batch size, rate scaled with the batch, "
                 f"{len(metrics['seeds'])} seeds")
    ax.title.set_fontsize(10)
    ax.minorticks_off()
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
