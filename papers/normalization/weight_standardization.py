r"""
---
title: "Micro-Batch Training with Batch-Channel Normalization and Weight Standardization"
nav: Weight Standardization and BCN
summary: Weight standardisation and batch-channel normalisation from their formulas, equal to labml-nn's up to
  two stated conventions; with two images per step on digits, weight standardisation lifts group
  normalisation's test accuracy from 66% to 93% in 800 steps and stays ahead at three times the steps, on
  every seed; batch-channel normalisation adds nothing over it here.
---

# Weight Standardization and Batch-Channel Normalization

[Qiao, Wang, Liu, Shen and Yuille, 2019. *Micro-Batch Training with Batch-Channel Normalization and Weight
Standardization*](https://arxiv.org/abs/1903.10520)

Batch normalisation helps training, and it needs batches: with one or two images per GPU, as in detection
and segmentation, its statistics come from very few values ([the group-normalisation page](group_norm.py)
measures what that costs on digits: little). Group normalisation needs no batch, but by the paper's account
it does not match batch normalisation with large batches. The paper names two things
batch normalisation gives that group normalisation lacks, and brings each back without a batch.

*Weight standardisation* (WS) reparameterises each convolution: every filter is standardised to zero mean
and unit variance over its $C_\text{in} k_h k_w$ weights before it is used,

$$\hat{W}_{o,\cdot} = \frac{W_{o,\cdot} - \mu_o}{\sqrt{\sigma_o^2 + \epsilon}}, \qquad y = \hat{W} * x,$$

and the gradient flows through the standardisation to $W$. The paper argues that this smooths the loss
landscape, by reducing the Lipschitz constants of the loss and of its gradients.

*Batch-channel normalisation* (BCN) is a batch normalisation followed by a channel (group) normalisation.
The batch part keeps each channel's activations centred and scaled across the data set, which the paper
argues keeps the network away from *elimination singularities* (channels that are always off, or that
duplicate each other); the channel part normalises each sample. For micro-batches the batch part
normalises with moving estimates of the mean and variance, not the batch's own. The paper's abstract claims
that WS and BCN "improve micro-batch training significantly", and that with both, micro-batch training
matches or beats batch normalisation with large batches.

[The tests](../../tests/normalization/test_weight_standardization.py) check the standardised filters' moments
exactly, the layer against an unfolded convolution with each filter's moments from `torch.var_mean` and against
labml-nn's weight-standardised convolution, and BCN against labml-nn's `BatchChannelNorm` and PyTorch's
`batch_norm` and `group_norm`, in value, gradient and running estimates, in float64.

## What the experiment shows

The small CNN of the [batch-normalisation page](batch_norm.py) (three $3 \times 3$ convolutions of 16, 32
and 32 channels) on scikit-learn's $8 \times 8$ digits, trained with **two images per step** for 800 steps
(about 1.5 epochs of the 1,079 training digits), SGD with momentum 0.9 at a constant rate, in three arms:
group normalisation ($G = 4$) after each convolution (GN), the same with weight-standardised convolutions
(GN + WS), and BCN ($G = 4$) with weight-standardised convolutions (BCN + WS). Every arm is trained at the
rates 0.003, 0.01 and 0.03 on three seeds (same initial weights and batches across arms), and compared
at its own best rate by mean validation accuracy; the best is 0.01 for all three, inside the grid.

**Weight standardisation helps, by a wide margin, on every seed.** Test accuracy at the best rate, mean of
three seeds: GN 66.1% (55.5% to 75.7%), GN + WS 93.5% (92.4% to 95.3%), BCN + WS 92.3% (90.2% to 95.1%);
test loss 1.00, 0.20 and 0.25. GN + WS is ahead of GN by 27.3 points on average and on every seed (19.6 to
37.2), BCN + WS by 26.1 points (14.5 to 39.6). The gap holds across the sweep: GN's final validation accuracy is
57.6%, 68.3% and 62.0% at the three rates, GN + WS's 90.3%, 93.1% and 89.7%, so no rate of the grid
brings GN near either WS arm. The curves (below) show how: the mean validation accuracy of both WS
arms passes 80% within the first 400 steps, while GN's is still climbing at step 800, below 80%.

**BCN is not ahead of GN + WS here.** The paper's micro-batch experiments (ImageNet classification and COCO
detection among them) report BCN + WS ahead of GN + WS. On this network it does not show: BCN + WS's test accuracy
is 1.2 points below GN + WS's on average (-5.1 to +2.5 per seed, ahead on one seed of three), within the
seed-to-seed spread. Its validation accuracy is slightly higher (94.4% against 93.1%), and across the grid it is
the less sensitive to the rate (93.7%, 94.4% and 94.0%, against 90.3%, 93.1% and 89.7%); the grid stops at 0.03, so
how either arm tolerates higher rates is not measured here.

**Is GN just slower?** Partly. Trained three times as long (2,400 steps, each at its best rate), GN
reaches 96.1% (95.8% to 96.9%), above what either WS arm reaches in 800 steps; but GN + WS trained as long
reaches 98.5% (98.0% to 99.1%), test loss 0.05 against 0.12, ahead by 2.4 points on every seed (2.2 to
2.7). The rate is constant, though, and a constant rate favours WS late in training. In a referee's check
that is not recorded here (the rate 0.01 decayed by a cosine to zero, seeds 0-2), GN reached 78.1% (mean)
against GN + WS's 97.0% at 800 steps, a gap of about 19 points on every seed, but 98.1% against 99.2% at
2,400 steps, a gap of 1.1 points (0.7 to 1.8, positive on every seed), less than half the 2.4 recorded here.
So at this scale WS makes two-image training much faster; at three times the steps it is still better on
every seed, by a margin that depends on the schedule; how much of the remaining gap is speed (neither arm
has stopped improving) is not measured.

**What is measured of why.** Neither of the paper's mechanisms is measured as the paper states it: the
Lipschitz constants of the loss and its gradients are not estimated here. Of the elimination singularities,
one kind is counted: channels whose ReLU output is zero for every training image. There are none, in any
arm or seed at the chosen rate (0% of the 80 channels), so dead channels do not explain GN's slowness or
separate BCN from GN. The count barely discriminates, though. After group (or channel) normalisation each
group of channels has zero mean over each image before the affine map, so a channel that is zero everywhere
needs its own affine map ($\gamma_c \le 0$ or a large negative $\beta_c$) or the rest of its group to carry
all the positive values: the normalisation itself steers away from what is counted. And it is counted at the
end of training only; in a referee's check not recorded here, GN had 0%, 0% and 2.5% dead channels on
seeds 0-2 after 50 steps and 0%, 0% and 1.3% after 150 (one or two of the 80), none at the end.

One fact from the formulas bears on the fairness of the rate sweep without explaining the gap: group normalisation
after a convolution already makes the output blind to the scale of each *group* of filters, and WS makes it blind
to each filter's scale and mean (a test checks it), so in both arms the rate acts on scale-free weights that start
from the same He-initialised tensors.

**Where the setup differs from the paper's.** The paper trains ResNets on ImageNet, COCO, Kinetics and VOC,
with 1 or 2 images per GPU and $G = 32$; its micro-batch is per GPU. Here the network has three
convolutions and $G = 4$, the normalisation batch of two images is also the optimiser batch, training is
1.5 epochs at a constant rate with no weight decay, and BCN's estimates use the rate $r = 0.1$, this page's
own choice (one version of the authors' code sets 0.01, another leaves it to be set from outside). The paper's
comparison with batch normalisation at large batches is not repeated.

![Validation accuracy and loss at each arm's best rate, and the rate sweep](results/weight_standardization.png)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
import matplotlib.pyplot as plt

from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import evaluate
from papers.normalization.batch_norm import (
    NormFactory, SmallCNN, check_channels_input, check_eps, check_set_size, mean, normalize, per_channel_affine,
    train_cnn)
from papers.normalization.group_norm import GROUPS, GroupNorm, group_norm


# ## Weight standardisation
#
# A convolution with weight $W$ `[O, C_in, kh, kw]` has $O$ filters, each a vector of
# $I = C_\text{in} \cdot k_h \cdot k_w$ numbers. Weight standardisation (the paper's Eq. 5) gives every
# filter zero mean and unit variance before it is used,
#
# $$\hat{W}_{o,\cdot} = \frac{W_{o,\cdot} - \mu_o}{\sqrt{\sigma_o^2 + \epsilon}}, \qquad
# \mu_o = \frac{1}{I} \sum_{i=1}^{I} W_{o,i}, \qquad \sigma_o^2 = \frac{1}{I} \sum_{i=1}^{I} (W_{o,i} - \mu_o)^2,$$
#
# and convolves with $\hat{W}$. The parameters are still $W$: the gradient flows through the
# standardisation, as through batch normalisation's statistics, so each filter's gradient is projected to be
# orthogonal to the all-ones vector and to the centred filter $W_{o,\cdot} - \mu_o$ (exactly as
# $\epsilon \to 0$) and divided by $\sqrt{\sigma_o^2 + \epsilon}$. The variance is the
# biased one (divided by $I$), as the paper writes it; the authors' released code and labml-nn divide by
# $I - 1$ (the tests check the exact relation between the two). It is the same as the batch-normalisation
# page's `normalize` applied to the weight, over the axes of one filter.
def standardize_weight(weight: torch.Tensor, eps: float) -> torch.Tensor:
    check_tensor("weight", weight, ["out", "in", "kh", "kw"])
    check_eps(eps)
    check_set_size(weight[0].numel(), "weight standardisation (a filter of one weight)")
    return normalize(weight, (1, 2, 3), eps)  # [O, C_in, kh, kw]


# The layer is a `Conv2d` whose forward pass uses the standardised weight. Nothing else changes: stride,
# padding and bias (the paper sets it to zero, and so does the network here, where a normalisation follows).
# `x` `[N, C_in, H, W]` $\to$ `[N, O, H', W']`.
class WSConv2d(nn.Conv2d):
    def __init__(self, *args: object, eps: float = 1e-5, **kwargs: object):
        super().__init__(*args, **kwargs)
        check_eps(eps)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pylint: disable=arguments-renamed
        check_tensor("x", x, ["batch", self.in_channels, "H", "W"], dtype=self.weight.dtype)
        weight = standardize_weight(self.weight, self.eps)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, eps={self.eps}"


# To put weight standardisation into an existing network, every `Conv2d` of it is replaced by a `WSConv2d`
# with the same shape and the same weight and bias tensors (so the initialisation is the network's own). The
# model is changed in place and returned.
def with_weight_standardization(model: nn.Module, eps: float = 1e-5) -> nn.Module:
    check_eps(eps)
    for name, child in model.named_children():
        if isinstance(child, nn.Conv2d) and not isinstance(child, WSConv2d):
            ws = WSConv2d(child.in_channels, child.out_channels, child.kernel_size, stride=child.stride,
                          padding=child.padding, dilation=child.dilation, groups=child.groups,
                          bias=child.bias is not None, padding_mode=child.padding_mode, eps=eps)
            ws.weight, ws.bias = child.weight, child.bias
            setattr(model, name, ws)
        else:
            with_weight_standardization(child, eps)
    return model


# ## Batch-channel normalisation
#
# Weight standardisation leaves the activations' scale to the layers after it. The paper pairs it with
# *batch-channel normalisation* (BCN): a batch normalisation over each channel, then a *channel*
# normalisation, which is group normalisation with one scale and shift per group instead of per channel.
#
# With one or two images per step, batch statistics are too noisy to normalise with. The paper's micro-batch
# BCN (as in the authors' released code) therefore normalises with *estimates* of each channel's mean and variance,
# updated at every training step with rate $r$ and never differentiated through:
#
# $$\mu_c = \frac{1}{BHW} \sum_{b,h,w} X_{bchw}, \qquad
# \sigma^2_c = \frac{1}{BHW} \sum_{b,h,w} (X_{bchw} - \hat{\mu}_c)^2,$$
#
# $$\hat{\mu}_c \leftarrow \hat{\mu}_c + r(\mu_c - \hat{\mu}_c), \qquad
# \hat{\sigma}^2_c \leftarrow \hat{\sigma}^2_c + r(\sigma^2_c - \hat{\sigma}^2_c), \qquad
# \dot{X}_{bchw} = \gamma_c \frac{X_{bchw} - \hat{\mu}_c}{\sqrt{\hat{\sigma}^2_c + \epsilon}} + \beta_c.$$
#
# The variance is taken about the estimate $\hat{\mu}_c$ before its update, as in the authors' released code,
# so $\sigma^2_c$ is the batch's own variance plus $(\mu_c - \hat{\mu}_c)^2$; labml-nn takes it about the
# batch mean instead (the tests check both the agreement and that difference). The normalisation uses the
# estimates *after* the update, in training as in evaluation, where they are left alone. So unlike
# [batch normalisation](batch_norm.py) the layer is a per-channel affine map in both modes; it is the channel
# normalisation after it that normalises each sample.
class EstimatedBatchNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5, rate: float = 0.1):
        super().__init__()
        check_positive("channels", channels, integer=True)
        check_eps(eps)
        check_in_range("rate", rate, 0, 1, low_open=True)
        self.channels, self.eps, self.rate = channels, eps, rate
        self.weight = nn.Parameter(torch.ones(channels))  # gamma [C]
        self.bias = nn.Parameter(torch.zeros(channels))  # beta [C]
        self.register_buffer("running_mean", torch.zeros(channels))  # mu-hat [C]
        self.register_buffer("running_var", torch.ones(channels))  # sigma-hat^2 [C]

    # `x` `[N, C, *]` $\to$ `[N, C, *]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels_input(x, self.channels, self.weight.dtype)
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            self._update_estimates(x, shape)
        x_hat = (x - self.running_mean.view(shape)) / torch.sqrt(self.running_var.view(shape) + self.eps)
        return per_channel_affine(x_hat, self.weight, self.bias)

    @torch.no_grad()
    def _update_estimates(self, x: torch.Tensor, shape: list[int]) -> None:
        dims = (0, *range(2, x.dim()))  # every axis but the channels
        batch_mean = x.mean(dim=dims)  # [C]
        variance = ((x - self.running_mean.view(shape)) ** 2).mean(dim=dims)  # about mu-hat, [C]
        self.running_mean.add_(self.rate * (batch_mean - self.running_mean))
        self.running_var.add_(self.rate * (variance - self.running_var))

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps}, rate={self.rate}"


# Channel normalisation: each sample's $G$ groups of channels normalised as in
# [group normalisation](group_norm.py), then one scale $\gamma_g$ and shift $\beta_g$ per *group*, as the
# authors' code does (group normalisation has them per channel; here the per-channel ones are those of
# the batch-normalisation part).
class ChannelNorm(GroupNorm):
    def __init__(self, groups: int, channels: int, eps: float = 1e-5):
        super().__init__(groups, channels, eps)
        self.weight = nn.Parameter(torch.ones(groups))  # [G]
        self.bias = nn.Parameter(torch.zeros(groups))  # [G]

    # `x` `[N, C, *]` $\to$ `[N, G, C/G * H * W]`, normalised and scaled per group, $\to$ `[N, C, *]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels_input(x, self.channels, self.weight.dtype)
        grouped = x.reshape(x.shape[0], self.groups, -1)  # [N, G, C/G * H * W]
        check_set_size(grouped.shape[-1], "channel normalisation (one channel per group and spatial size 1)")
        return per_channel_affine(normalize(grouped, (2,), self.eps), self.weight, self.bias).reshape(x.shape)


# BCN is the two in sequence, `[N, C, *]` $\to$ `[N, C, *]`.
class BatchChannelNorm(nn.Sequential):
    def __init__(self, channels: int, groups: int, eps: float = 1e-5, rate: float = 0.1):
        super().__init__(EstimatedBatchNorm(channels, eps, rate), ChannelNorm(groups, channels, eps))


def batch_channel_norm(channels: int) -> nn.Module:
    return BatchChannelNorm(channels, GROUPS)


# ## The experiment: two images per step
#
# The paper's claim for micro-batch training (1 or 2 images per GPU, on ImageNet, COCO and other tasks) is
# that WS improves on group normalisation alone, that BCN + WS improves further, and that together they
# match or beat batch normalisation with large batches. Here, in miniature: the small CNN
# of [the batch-normalisation page](batch_norm.py) on the $8 \times 8$ digits, with group normalisation
# ($G = 4$) after each convolution, with the convolutions weight-standardised as well, or with BCN
# ($G = 4$, rate $r = 0.1$) and weight standardisation. Every arm is trained with batches of `BATCH` = 2
# images for `STEPS` steps by the recipe of the batch-normalisation page (SGD, momentum 0.9, a constant rate,
# the seed fixing the initial weights and the batches), at every rate of one grid, over three seeds. Each arm
# is compared at its own best rate, the highest mean validation accuracy at the end; the test split is used
# for the final numbers only. One control: GN and GN + WS at their best rates for `LONGER` = 3 times the
# steps, to see whether GN is only slower.
BATCH = 2
STEPS = 800
RATES = [0.003, 0.01, 0.03]
EVAL_EVERY = 50
LONGER = 3
ARMS: dict[str, tuple[NormFactory, bool]] = {"GN": (group_norm, False), "GN + WS": (group_norm, True),
                                             "BCN + WS": (batch_channel_norm, True)}
KEYS = {"GN": "gn", "GN + WS": "gn_ws", "BCN + WS": "bcn_ws"}


def model_factory(norm: NormFactory, standardize: bool) -> nn.Module:
    model = SmallCNN(norm)
    return with_weight_standardization(model) if standardize else model


def one_run(arm: str, data: tuple[Split, Split, Split], lr: float, steps: int, seed: int) -> dict:
    norm, standardize = ARMS[arm]
    model, history = train_cnn(lambda: model_factory(norm, standardize), data[:2], lr, BATCH, steps, seed,
                               EVAL_EVERY)
    test_loss, test_accuracy = evaluate(model, data[2])
    return {"history": history, "valid_accuracy": history.last("eval_accuracy"), "test_accuracy": test_accuracy,
            "test_loss": test_loss, "dead_channels": dead_channel_fraction(model, data[0].x)}


# ## Dead channels: one kind of elimination singularity
#
# The paper's argument for BCN is that batch statistics keep the network away from *elimination
# singularities*: units that stop contributing, such as a channel whose ReLU output is zero for every input.
# That kind is cheap to count: after training, the fraction of channels, over the three ReLUs, whose output is
# zero at every position of every training image (in evaluation mode). It is measured for every run of the
# chosen rates; the other kinds the paper names (two channels that are linearly dependent) are not.
@torch.no_grad()
def dead_channel_fraction(model: nn.Module, x: torch.Tensor) -> float:
    check_tensor("x", x, ["N", 1, "H", "W"])
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    was_training = model.training
    model.eval()
    model(x)
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    dead = [out.amax(dim=(0, 2, 3)) <= 0 for out in outputs]  # [C] per ReLU
    return torch.cat(dead).float().mean().item()


def best_rate(runs: dict[float, list[dict]]) -> float:
    return max(runs, key=lambda lr: mean([r["valid_accuracy"] for r in runs[lr]]))


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    splits = (data.train, data.valid, data.test)
    steps = config.train_steps(full=STEPS, quick=100)
    rates = config.choose(RATES, [0.01])
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs = {arm: {lr: [one_run(arm, splits, lr, steps, seed) for seed in seeds] for lr in rates} for arm in ARMS}
    best = {arm: best_rate(runs[arm]) for arm in ARMS}
    metrics = _metrics(runs, best, seeds, steps)
    metrics.update(_longer(splits, best, seeds, LONGER * steps))
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, best)})


# The control: GN and GN + WS, each at its best rate, trained `LONGER` times as many steps.
def _longer(data: tuple[Split, Split, Split], best: dict[str, float], seeds: list[int], steps: int) -> dict:
    metrics: dict = {"longer_steps": steps}
    for arm in ("GN", "GN + WS"):
        runs = [one_run(arm, data, best[arm], steps, seed) for seed in seeds]
        for name in ("test_accuracy", "test_loss"):
            metrics[f"{name}_{KEYS[arm]}_longer"] = over_seeds({s: r[name] for s, r in zip(seeds, runs)})
    metrics["gn_ws_minus_gn_longer"] = over_seeds({s: a - b for s, a, b in zip(
        seeds, metrics["test_accuracy_gn_ws_longer"]["per_seed"].values(),
        metrics["test_accuracy_gn_longer"]["per_seed"].values())})
    return metrics


def _metrics(runs: dict, best: dict[str, float], seeds: list[int], steps: int) -> dict:
    metrics: dict = {"seeds": seeds, "rates": list(runs["GN"]), "steps": steps, "batch": BATCH,
                     "best_rate": best,
                     "sweep_valid_accuracy": {arm: {str(lr): round(mean([r["valid_accuracy"] for r in seeds_runs]), 4)
                                                    for lr, seeds_runs in runs[arm].items()} for arm in runs}}
    for arm, key in KEYS.items():
        chosen = runs[arm][best[arm]]
        for name in ("test_accuracy", "test_loss", "valid_accuracy", "dead_channels"):
            metrics[f"{name}_{key}"] = over_seeds({s: r[name] for s, r in zip(seeds, chosen)})
    for key, baseline in (("gn_ws", "gn"), ("bcn_ws", "gn"), ("bcn_ws", "gn_ws")):
        metrics[f"{key}_minus_{baseline}"] = over_seeds({s: a - b for s, a, b in zip(
            seeds, metrics[f"test_accuracy_{key}"]["per_seed"].values(),
            metrics[f"test_accuracy_{baseline}"]["per_seed"].values())})
    return metrics


def _headline(metrics: dict) -> str:
    parts = [f"{arm} {metrics[f'test_accuracy_{key}']['mean']:.1%} (rate {metrics['best_rate'][arm]})"
             for arm, key in KEYS.items()]
    return (f"Test accuracy after {metrics['steps']} steps of {metrics['batch']} images, each arm at its best "
            f"rate, mean of {len(metrics['seeds'])} seeds: " + ", ".join(parts) + ".")


# Mean over the seeds of one recorded series, at the steps where it was recorded.
def _mean_curve(histories: list[History], name: str) -> tuple[list[int], list[float]]:
    values = [h.values(name) for h in histories]
    return histories[0].steps(name), [sum(v) / len(v) for v in zip(*values)]


def _figure(runs: dict, best: dict[str, float]) -> plt.Figure:
    fig, (ax_acc, ax_loss, ax_rates) = plt.subplots(1, 3, figsize=(15, 4))
    for i, arm in enumerate(runs):
        histories = [r["history"] for r in runs[arm][best[arm]]]
        label = f"{arm} (rate {best[arm]})"
        for history in histories:
            ax_acc.plot(history.steps("eval_accuracy"), history.values("eval_accuracy"), color=f"C{i}", alpha=0.25)
        ax_acc.plot(*_mean_curve(histories, "eval_accuracy"), color=f"C{i}", label=label)
        ax_loss.plot(*_mean_curve(histories, "eval_loss"), color=f"C{i}", label=label)
        rates = list(runs[arm])
        ax_rates.plot(rates, [mean([r["valid_accuracy"] for r in runs[arm][lr]]) for lr in rates], marker="o",
                      color=f"C{i}", label=arm)
    ax_acc.set(xlabel="step", ylabel="validation accuracy", title="mean of the seeds (faint: each seed)")
    ax_loss.set(xlabel="step", ylabel="validation loss (mean of the seeds)", yscale="log")
    ax_rates.set(xscale="log", xlabel="learning rate", ylabel="final validation accuracy (mean of the seeds)",
                 title="the rate sweep")
    ax_rates.set_xticks(list(runs["GN"]), [str(lr) for lr in runs["GN"]])
    ax_rates.minorticks_off()
    for ax in (ax_acc, ax_loss, ax_rates):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
