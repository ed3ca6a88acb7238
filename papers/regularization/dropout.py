r"""
---
title: "Dropout: A Simple Way to Prevent Neural Networks from Overfitting"
summary: Inverted dropout written from scratch, checked against its exact expectation and PyTorch's dropout,
  tried on an over-fitting network (at this scale it does not lower the test error, and lowers the test
  cross-entropy on one seed of three), with weight-scaling inference matched by Monte-Carlo averaging.
---

# Dropout: A Simple Way to Prevent Neural Networks from Overfitting

[Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, 2014. *Dropout: A Simple Way to Prevent Neural
Networks from Overfitting*. JMLR 15(56): 1929–1958](https://jmlr.org/papers/v15/srivastava14a.html)

A large network trained on little data learns its training set by heart: training error reaches zero and
test error stays high. The best cure would be to average the predictions of many different networks, but
training and running many large networks is expensive.

Dropout gets most of that average for the price of one network. On every training case, each unit is
switched off at random with probability $p$: its output is set to zero, so the next layer cannot count on
it. The units that remain form a *thinned* network. A network with $n$ units has $2^n$ thinned networks,
all sharing the same weights, and each training step trains one of them. A unit can no longer lean on a
few particular partners being present (the paper calls this *co-adaptation*): it has to be useful in
many random company. That is the paper's explanation of why dropout works; this page does not measure
co-adaptation.

At test time we want the average prediction of all $2^n$ thinned networks. That is intractable, so the paper
uses one network without dropout, its weights scaled so that each unit's *expected* input is what it was
during training: the *weight-scaling inference rule*. For a single linear layer the average of the
pre-activations is exact. With a softmax on top, weight scaling gives the renormalised geometric mean of the
thinned networks' predictions, not the arithmetic mean that a Monte-Carlo average estimates; with
non-linearities in between it is an approximation, and the paper checks it against a Monte-Carlo average over
many sampled masks (its Figure 11).

*Conventions.* The paper writes $p$ for the probability of *keeping* a unit. We follow PyTorch, where $p$
is the probability of *dropping* it; the paper's $p$ is our $1 - p$.

## What the experiment shows

A wide network (two hidden layers of 512 units) trained on 150 of the 8×8 digit images memorises them:
no training error without dropout, at most one of the 150 wrong with dropout (0.2 on the inputs, 0.5 on
the hidden units, the paper's usual values). Both arms share one recipe: the same initial weights and
batches for each seed, SGD with momentum at one learning rate (0.05, not tuned for either arm), 4,000
steps, no weight decay, no max-norm constraint and no early stopping (the final weights are tested; the
validation split is only plotted). **At this scale dropout does not lower the test error.** Over three
seeds the mean test error is 9.0% without dropout (7.1% to 10.7%) and 9.1% with it (7.8% to 10.9%):
dropout helps a lot on one seed (seed 0, 10.7% down to 7.8%) and hurts on the other two (9.1% up to
10.9%, and 7.1% up to 8.7%). The validation error of seed 0 (left) also jumps around more with dropout
than without.

The test cross-entropy, which also rewards being right with the right confidence, tells the same story with
one difference. Its mean is lower with dropout, 0.329 nats (0.320 to 0.339) against 0.445 without (0.305 to
0.705), but that mean rests on seed 0 alone, where the network without dropout has both its highest test error
(10.7%) and a cross-entropy of 0.705; on the other two seeds dropout's cross-entropy is slightly higher. What
the three seeds do show is a much narrower spread of the cross-entropy with dropout; the spread of the test
error is about the same (3.1 points against 3.6). Three seeds are too few to call that a property of dropout
rather than of these runs.

This is not at odds with the paper. Its MNIST gains (Table 2) come from 60,000 digits of 28×28 pixels, longer
training, max-norm constraints and tuned learning rates, none of which this run of a minute and a half of CPU
time has. And its study of data-set size (Section 7.4, Figure 10) trains on random subsets of MNIST and
reports no gain from dropout on the smallest subsets, where the network over-fits even through the noise of
dropout. With 150 digits this page sits in that regime; which of the other differences would matter at a
larger size is not tested here.

![Validation error, test error per seed, and Monte-Carlo averaging against weight scaling](results/dropout.png)

The right panel is the paper's Figure 11 in miniature, and this part of the claim does hold: the test error of
the Monte-Carlo average over $k$ dropout masks, as $k$ grows. One mask is a single thinned network and much
worse (15.6% on seed 0). Averaging hundreds of masks brings the error to that of the deterministic
weight-scaled network (dashed): at 500 masks the mean test error is 9.1% (8.0% to 11.1%), the same as weight
scaling's, and within 0.7 points (three test digits) of it on every seed (weight scaling is 0.2 points better
on seeds 0 and 1, 0.7 points worse on seed 2), at 500 times the cost. The cross-entropy of the 500-mask
average is 0.313 (0.274 to 0.358), a little below weight scaling's 0.329 in the mean, and below it on two
seeds of three. The paper's MNIST network matched weight scaling at about $k = 50$; here, on seed 0, 50 masks
are still 1.1 points worse (8.9% against 7.8%), and it takes 200 to come within 0.3 points.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier


# ## The dropout mask
#
# Each element is kept independently with probability $1 - p$:
# $m_i \sim \mathrm{Bernoulli}(1 - p)$. A uniform $u \in [0, 1)$ satisfies $u \ge p$ with probability exactly
# $1 - p$. The mask has the shape of the activations it will multiply.
def check_probability(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p}")


def dropout_mask(like: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    check_probability(p)
    uniform = torch.rand(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    return uniform >= p  # bool, same shape as `like`


# ## Inverted dropout
#
# The paper drops units at training time and multiplies the outgoing weights by the keep probability
# $1 - p$ at test time. *Inverted* dropout, which PyTorch and almost every library use, moves the scaling to
# training time instead:
#
# $$\tilde{y} = \frac{m \odot y}{1 - p}, \qquad m_i \sim \mathrm{Bernoulli}(1 - p).$$
#
# Each element then keeps its expectation, $\mathbb{E}[\tilde{y}_i] = (1 - p)\,\frac{y_i}{1 - p} = y_i$, so at
# test time dropout is simply the identity. A layer $W$ trained on $\tilde{y}$ is the paper's layer
# $W_\text{paper} = W / (1 - p)$ trained on $m \odot y$; at test time the paper uses
# $(1 - p) W_\text{paper} = W$. The two are the same network, written differently, and the test-time network
# costs nothing extra.
#
# $p = 1$ would drop everything and divide by zero, so $p$ must lie in $[0, 1)$.
def apply_mask(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
    check_probability(p)
    return x * mask / (1.0 - p)


def dropout(x: torch.Tensor, p: float, training: bool,
            generator: torch.Generator | None = None) -> torch.Tensor:
    if not x.is_floating_point():
        raise TypeError(f"dropout needs floating-point activations, got {x.dtype}")
    check_probability(p)
    if not training or p == 0.0:
        return x
    return apply_mask(x, dropout_mask(x, p, generator), p)


# As a module, dropout follows the module's `training` flag: `model.train()` samples masks,
# `model.eval()` makes it the identity. An optional `torch.Generator` makes the masks reproducible
# independently of PyTorch's global random state.
class Dropout(nn.Module):
    def __init__(self, p: float, generator: torch.Generator | None = None):
        super().__init__()
        check_probability(p)
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ## A network to over-fit
#
# A multi-layer perceptron in the paper's style: dropout on the input pixels with probability `p_input`
# and on each hidden layer's output with probability `p_hidden`. The paper found $p = 0.2$ for inputs and
# $p = 0.5$ for hidden units close to optimal on many tasks. Images `[batch, 1, 8, 8]` → logits
# `[batch, classes]`.
class DropoutMLP(nn.Module):
    def __init__(self, inputs: int, hidden: int, classes: int, depth: int = 2, p_input: float = 0.0,
                 p_hidden: float = 0.0, generator: torch.Generator | None = None):
        super().__init__()
        for name, size in (("inputs", inputs), ("hidden", hidden), ("classes", classes), ("depth", depth)):
            check_positive(name, size, integer=True)
        self.inputs = inputs
        layers: list[nn.Module] = [nn.Flatten(), Dropout(p_input, generator)]
        width = inputs
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU(), Dropout(p_hidden, generator)]
            width = hidden
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    # `[batch, ...]` (each example flattened to `inputs` features) $\to$ logits `[batch, classes]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["batch", *[None] * (x.dim() - 1)], dtype=self.net[-1].weight.dtype)
        if math.prod(x.shape[1:]) != self.inputs:
            raise ValueError(f"x must have {self.inputs} features per example, got shape {tuple(x.shape)}")
        return self.net(x)


# ## Two ways to predict
#
# *Weight scaling* is the deterministic network: `model.eval()`, with every dropout layer the identity.
#
# The *Monte-Carlo* model average samples $k$ thinned networks, keeping dropout on at test time, and
# averages their predicted class probabilities:
#
# $$\hat{P}_k(y \mid x) = \frac{1}{k} \sum_{j=1}^{k} \mathrm{softmax}\big(f(x; m^{(j)})\big)_y.$$
#
# As $k \to \infty$ this converges to the true average over all thinned networks, which weight scaling only
# approximates. `mc_probabilities` returns the running averages for $k = 1 \dots$ `samples`, all at once:
# `[samples, batch, classes]`.
@torch.no_grad()
def mc_probabilities(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    check_positive("samples", samples, integer=True)
    was_training = model.training
    model.train()  # dropout on: each call is a fresh thinned network
    probabilities = torch.stack([F.softmax(model(x), dim=-1) for _ in range(samples)])  # [k, batch, classes]
    model.train(was_training)
    counts = torch.arange(1, samples + 1, dtype=probabilities.dtype, device=probabilities.device)[:, None, None]
    return probabilities.cumsum(dim=0) / counts


# The test error of the Monte-Carlo average after each number of samples in `sample_counts`.
def mc_errors(model: nn.Module, split: Split, sample_counts: list[int]) -> list[float]:
    return mc_scores(model, split, sample_counts)[0]


# The test errors and cross-entropies of the Monte-Carlo average after each number of samples. The
# cross-entropy is that of the averaged probabilities, $-\log \hat{P}_k(y \mid x)$, floored at $10^{-12}$
# so that a single thinned network's underflowed zero does not make it infinite.
def mc_scores(model: nn.Module, split: Split, sample_counts: list[int]) -> tuple[list[float], list[float]]:
    if not sample_counts:
        raise ValueError("sample_counts must name at least one number of samples, got []")
    for k in sample_counts:
        check_positive("sample_counts", k, integer=True)
    sizes = check_tensor("split.x", split.x, ["batch", *[None] * (split.x.dim() - 1)])
    check_tensor("split.y", split.y, ["batch"], dtype=torch.long, sizes=sizes)
    averages = mc_probabilities(model, split.x, max(sample_counts))  # [k, batch, classes]
    wrong = averages.argmax(dim=-1) != split.y  # [k, batch]
    likelihood = averages.gather(-1, split.y.expand(len(averages), -1).unsqueeze(-1)).squeeze(-1)  # [k, batch]
    nll = -likelihood.clamp_min(1e-12).log().mean(dim=-1)  # [k]
    return [wrong[k - 1].float().mean().item() for k in sample_counts], [nll[k - 1].item() for k in sample_counts]


# ## The experiment
#
# A random subset of the digits training split, small enough for a wide network to memorise. For each seed,
# two networks with the same initial weights and the same batches, one with dropout and one without, are
# trained with SGD and momentum; the validation split is measured during training, the test split at the
# end. The dropout networks are then evaluated both ways.
TRAINING_EXAMPLES = 150
MC_COUNTS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500]


def training_subset(train: Split, size: int, seed: int) -> Split:
    if not 0 < size <= len(train.y):
        raise ValueError(f"subset size must be in [1, {len(train.y)}], got {size}")
    order = torch.randperm(len(train.y), generator=torch.Generator().manual_seed(seed))[:size]
    return Split(train.x[order], train.y[order])


def train_mlp(train: Split, valid: Split, hidden: int, p_input: float, p_hidden: float, steps: int,
              seed: int) -> tuple[DropoutMLP, History]:
    torch.manual_seed(seed)  # the same initial weights with and without dropout
    model = DropoutMLP(64, hidden, 10, p_input=p_input, p_hidden=p_hidden,
                       generator=torch.Generator().manual_seed(seed + 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    settings = ClassifierTraining(steps=steps, batch_size=32, eval_every=max(steps // 20, 1))
    history = train_classifier(model, optimizer, train, valid, settings, torch.Generator().manual_seed(seed))
    return model, history


def error(model: nn.Module, split: Split) -> float:
    return 1.0 - evaluate(model, split)[1]


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    hidden = config.choose(512, 256)
    steps = config.train_steps(full=4000, quick=1500)
    mc_counts = [k for k in MC_COUNTS if k <= config.choose(500, 100)]
    runs = []
    for seed in range(config.seed, config.seed + config.choose(3, 2)):
        train = training_subset(data.train, TRAINING_EXAMPLES, seed)
        plain, plain_history = train_mlp(train, data.valid, hidden, 0.0, 0.0, steps, seed)
        dropped, dropped_history = train_mlp(train, data.valid, hidden, 0.2, 0.5, steps, seed)
        mc_error, mc_loss = mc_scores(dropped, data.test, mc_counts)
        runs.append({
            "seed": seed,
            "train_error_without": error(plain, train), "train_error_with": error(dropped, train),
            "train_loss_without": evaluate(plain, train)[0], "train_loss_with": evaluate(dropped, train)[0],
            "test_error_without": error(plain, data.test), "test_error_with": error(dropped, data.test),
            "test_loss_without": evaluate(plain, data.test)[0], "test_loss_with": evaluate(dropped, data.test)[0],
            "mc_errors": mc_error, "mc_test_error": mc_error[-1], "mc_test_loss": mc_loss[-1],
            "histories": (plain_history, dropped_history),
        })
    for run in runs:
        run["weight_scaling_minus_mc_error"] = run["test_error_with"] - run["mc_test_error"]
        run["weight_scaling_minus_mc_loss"] = run["test_loss_with"] - run["mc_test_loss"]
        run["test_loss_ratio"] = run["test_loss_without"] / run["test_loss_with"]
    metrics = _metrics(runs, hidden, steps, mc_counts)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, mc_counts)})


# Every number that compares arms is recorded for each seed with its mean and spread.
COMPARED = ["train_error_without", "train_error_with", "train_loss_without", "train_loss_with",
            "test_error_without", "test_error_with", "test_loss_without", "test_loss_with", "test_loss_ratio",
            "mc_test_error", "mc_test_loss", "weight_scaling_minus_mc_error", "weight_scaling_minus_mc_loss"]


def _metrics(runs: list[dict], hidden: int, steps: int, mc_counts: list[int]) -> dict:
    metrics: dict = {"training_examples": TRAINING_EXAMPLES, "hidden_units": hidden, "train_steps": steps,
                     "seeds": [run["seed"] for run in runs], "mc_samples": mc_counts[-1]}
    for key in COMPARED:
        metrics[key] = over_seeds({run["seed"]: run[key] for run in runs})
    metrics["mc_error_by_samples_first_seed"] = {str(k): round(e, 4) for k, e in zip(mc_counts, runs[0]["mc_errors"])}
    return metrics


def _headline(metrics: dict) -> str:
    def mean(key: str) -> float:
        return metrics[key]["mean"]

    return (f"Mean of {len(metrics['seeds'])} seeds: test error {mean('test_error_without'):.1%} without dropout, "
            f"{mean('test_error_with'):.1%} with (weight scaling), {mean('mc_test_error'):.1%} with a Monte-Carlo "
            f"average of {metrics['mc_samples']} masks; test cross-entropy {mean('test_loss_without'):.3f} "
            f"without, {mean('test_loss_with'):.3f} with.")


def _figure(runs: list[dict], mc_counts: list[int]) -> plt.Figure:
    fig, (ax_curve, ax_seeds, ax_mc) = plt.subplots(1, 3, figsize=(15, 4))
    plain_history, dropped_history = runs[0]["histories"]
    for history, label in ((plain_history, "without dropout"), (dropped_history, "with dropout")):
        ax_curve.plot(history.steps("eval_accuracy"), [1 - a for a in history.values("eval_accuracy")],
                      marker=".", label=label)
    ax_curve.set(xlabel="training step", ylabel="validation error", title=f"Seed {runs[0]['seed']}")
    ax_curve.legend()
    for i, run in enumerate(runs):
        ax_seeds.plot([0, 1], [run["test_error_without"], run["test_error_with"]], marker="o",
                      color=f"C{i}", label=f"seed {run['seed']}")
        ax_mc.plot(mc_counts, run["mc_errors"], marker="o", color=f"C{i}", label=f"MC, seed {run['seed']}")
        ax_mc.axhline(run["test_error_with"], color=f"C{i}", linestyle="--", linewidth=0.8)
    ax_seeds.set(xticks=[0, 1], xticklabels=["without dropout", "with dropout"], xlim=(-0.3, 1.3),
                 ylabel="test error", title="Test error, each seed")
    ax_seeds.legend()
    ax_mc.set(xscale="log", xlabel="masks averaged, $k$", ylabel="test error",
              title="Monte-Carlo average (dashed: weight scaling)")
    ax_mc.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
