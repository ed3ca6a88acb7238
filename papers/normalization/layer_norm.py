r"""
---
title: Layer Normalization
summary: Layer normalisation from its formula, equal to PyTorch's (the one the project's Transformer uses) and
  labml-nn's; a sample's output does not depend on its batch; trained online, one example per step (where
  batch normalisation cannot run), a He-initialised network with it reaches 90% validation accuracy in 550
  steps on average, the same network without it in 650 (1.2 times more, never fewer), and it tolerates a
  higher rate.
---

# Layer Normalization

[Ba, Kiros and Hinton, 2016. *Layer Normalization*](https://arxiv.org/abs/1607.06450)

[Batch normalisation](batch_norm.py) needs a batch: its statistics are averages over the examples of a
mini-batch, so it cannot be used with a batch of one (online learning), behaves differently in training and
at test time, and fits recurrent networks badly, where each time step would need its own statistics. Layer
normalisation computes the statistics over the *hidden units of one layer for one example* instead. Every
example is normalised on its own, the same way in training and at test time, and a recurrent network can
normalise each time step with the statistics of that step alone.

The paper applies it above all to recurrent networks (order embeddings, skip-thought vectors, DRAW,
handwriting generation), where it speeds up training, and reports that on convolutional networks batch
normalisation does better (its Section 6.7). It has since become the normalisation of the Transformer, used
in [this project's](../transformers/attention.py) as well.

[The tests](../../tests/normalization/test_layer_norm.py) check the layer against PyTorch's `LayerNorm` and
labml-nn's, in value and gradient, and that a sample's output is the same alone and inside a batch.

## What the experiment shows

A multi-layer perceptron (three hidden layers of 128 units, He initialisation) trained on the $8 \times 8$
digits *online*: one example per step, 1,500 steps (about 1.4 passes over the 1,079 training digits), SGD with
momentum 0.9, with and without layer normalisation before each hidden ReLU, over three seeds, each arm at its
best rate of the sweep 0.0003, 0.001, 0.003, 0.01. Batch normalisation is not an arm: with one example per
step it has nothing to average over (the tests check that our `BatchNorm` refuses it).

**With layer normalisation the network reaches 90% validation accuracy after 550 steps on average (500 to
650 over the seeds); without it, after 650 steps on every seed; both at their best rate, 0.001.** That is 1.2
times fewer steps on average (1.0 to 1.3), fewer on two seeds and as many on the third: a modest gain, of the
size of the evaluation interval (50 steps), and the figure shows the two arms' curves intertwined. Layer
normalisation does more for the rate the network tolerates: with it the target is reached on every seed at
every rate of the sweep; without it, on every seed from 0.0003 to 0.003, but on one seed of three at 0.01.
After the 1,500 steps the test accuracy is 91.8% with it (87.5% to 94.7% over the seeds) and 89.3% without
(81.7% to 93.3%). A single online step can move an evaluation by ten points (the figure shows drops of
that size at the last evaluation); averaged over the last five evaluations (steps 1,300 to 1,500) the
validation accuracy is 93.4% with it (91.7% to 95.1%) and 91.3% without (88.4% to 93.8%).

Both arms start from He initialisation, as on [the batch-normalisation page](batch_norm.py) and for the same
reason: PyTorch's default initialisation shrinks the signal at every layer, and would handicap the plain
network for its start rather than for its lack of normalisation. The best rate of both arms, 0.001, is inside
the sweep.

The paper's nearest experiment is its Section 6.6 (Figure 6): permutation-invariant MNIST with a
784-1000-1000-10 network, layer normalisation on the hidden layers, compared with *batch* normalisation, not
with no normalisation; the paper reports it robust to the batch size (batches of 128 and of 4) and faster to
converge than batch normalisation. Online learning is that robustness pushed to a batch of one, where batch
normalisation cannot run at all, so the comparison here is with the plain network instead. The paper's
strong results are for recurrent networks, which this page does not train, and the setting it reports as
weak is convolutional networks (its Section 6.7).

![Validation accuracy during online training](results/layer_norm.png)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.vision import evaluate
from papers.normalization.batch_norm import (
    NormFactory, best_rate, check_eps, check_set_size, mean, no_norm, normalize, steps_to_accuracy, train_cnn)


# ## Layer normalisation
#
# Layer normalisation takes $S$ to be *all the summed inputs of one layer for one example*: for a hidden
# vector $a \in \mathbb{R}^H$,
#
# $$\mu = \frac{1}{H} \sum_{i=1}^{H} a_i, \qquad \sigma^2 = \frac{1}{H} \sum_{i=1}^{H} (a_i - \mu)^2, \qquad
# y_i = g_i \, \frac{a_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + b_i.$$
#
# `normalized_shape` names the trailing axes that make up $S$ (`[H]` for a vector, `[C, H, W]` for an image);
# every leading axis (batch, time) is a separate example. The gain $g$ and bias $b$ have the shape
# `normalized_shape`, one per unit, as in the paper and in PyTorch's `LayerNorm`. Nothing is computed across
# examples, so training and evaluation are the same computation and a batch of one is fine.
class LayerNorm(nn.Module):
    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape:
            raise ValueError("normalized_shape must name at least one axis, got ()")
        for size in shape:
            check_positive("normalized_shape", size, integer=True)
        check_set_size(math.prod(shape), "layer normalisation over a single unit")
        check_eps(eps)
        self.normalized_shape, self.eps = shape, eps
        self.weight = nn.Parameter(torch.ones(shape))  # g [*normalized_shape]
        self.bias = nn.Parameter(torch.zeros(shape))  # b [*normalized_shape]

    # `x` `[*, *normalized_shape]` $\to$ the same shape
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, [None] * max(x.dim() - len(self.normalized_shape), 1) + list(self.normalized_shape),
                     dtype=self.weight.dtype)
        dims = tuple(range(x.dim() - len(self.normalized_shape), x.dim()))
        return normalize(x, dims, self.eps) * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


# ## Where this project uses it
#
# The Transformer of [Attention Is All You Need](../transformers/attention.py) normalises after every residual
# connection, $x \leftarrow \mathrm{LayerNorm}(x + \mathrm{Sublayer}(x))$, over the model dimension of each
# position: `[batch, len, d_model]` with `normalized_shape = d_model`. It uses PyTorch's `nn.LayerNorm`, which
# [the tests](../../tests/normalization/test_layer_norm.py) show equal to this one. A sequence model is where
# batch statistics fit worst: sequences differ in length, and at generation time the batch may be one
# sequence, one position at a time.
#
# ## The experiment: learning one example at a time
#
# Batch normalisation needs a batch: with one example its statistics are that example's own values, and our
# `BatchNorm` refuses a fully connected layer in training mode at batch size 1 (PyTorch's does too). Layer
# normalisation does not care. The experiment trains a multi-layer perceptron on the $8 \times 8$ digits
# *online*, one example per step, with and without layer normalisation after each hidden linear layer (before
# the ReLU, as in the paper's feed-forward use). The paper's claim is faster training; the score is the
# number of steps to `TARGET` validation accuracy, each arm at its best rate of the same sweep, as on
# [the batch-normalisation page](batch_norm.py). Every linear layer starts from He initialisation (normal,
# variance $2 / \text{fan-in}$, zero bias), with or without the normalisation, so that the plain network is
# not handicapped by a start that shrinks its signal.
class MLP(nn.Module):
    def __init__(self, norm: NormFactory, hidden: int = 128, depth: int = 3, classes: int = 10):
        super().__init__()
        check_positive("hidden", hidden, integer=True)
        check_positive("depth", depth, integer=True)
        layers: list[nn.Module] = [nn.Flatten()]
        width = 64
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), norm(hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    # `[N, 1, 8, 8]` $\to$ logits `[N, classes]`
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["N", 1, 8, 8], dtype=self.net[-1].weight.dtype)
        return self.net(x)


RATES = [0.0003, 0.001, 0.003, 0.01]
TARGET = 0.9
EVAL_EVERY = 50
LATE_EVALUATIONS = 5


def layer_norm(features: int) -> nn.Module:
    return LayerNorm(features)


ARMS: dict[str, NormFactory] = {"plain": no_norm, "layer norm": layer_norm}


def online_run(norm: NormFactory, data: tuple[Split, Split], lr: float, steps: int, seed: int) -> dict:
    model, history = train_cnn(lambda: MLP(norm), data, lr, 1, steps, seed, EVAL_EVERY)
    reached = steps_to_accuracy(history, TARGET)
    return {"model": model, "history": history, "reached": reached is not None,
            "steps": reached if reached is not None else steps + EVAL_EVERY,
            "final_valid_accuracy": history.last("eval_accuracy"),
            "late_valid_accuracy": mean(history.values("eval_accuracy")[-LATE_EVALUATIONS:])}


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    steps = config.train_steps(full=1500, quick=600)
    rates = config.choose(RATES, [0.01])
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    runs = {arm: {lr: [online_run(norm, (data.train, data.valid), lr, steps, seed) for seed in seeds]
                  for lr in rates} for arm, norm in ARMS.items()}
    best = {arm: best_rate(runs[arm]) for arm in ARMS}
    metrics: dict = {"seeds": seeds, "steps": steps, "rates": rates, "target": TARGET, "best_rate": best}
    for arm, key in (("plain", "plain"), ("layer norm", "ln")):
        chosen = runs[arm][best[arm]]
        metrics[f"steps_{key}"] = over_seeds({s: r["steps"] for s, r in zip(seeds, chosen)})
        metrics[f"test_accuracy_{key}"] = over_seeds({s: evaluate(r["model"], data.test)[1]
                                                      for s, r in zip(seeds, chosen)})
        metrics[f"late_valid_accuracy_{key}"] = over_seeds({s: r["late_valid_accuracy"]
                                                            for s, r in zip(seeds, chosen)})
        metrics[f"reached_{key}"] = {str(lr): sum(r["reached"] for r in runs[arm][lr]) for lr in rates}
    metrics["speedup"] = over_seeds({s: p["steps"] / n["steps"] for s, p, n in
                                     zip(seeds, runs["plain"][best["plain"]], runs["layer norm"][best["layer norm"]])})
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, best)})


# A run that never reaches the target is censored: the headline says so rather than quote its stand-in count.
def _steps_text(metrics: dict, arm: str, key: str) -> str:
    reached = metrics[f"reached_{key}"][str(metrics["best_rate"][arm])]
    if reached == len(metrics["seeds"]):
        return f"{metrics[f'steps_{key}']['mean']:.0f}"
    return f"not reached in {metrics['steps']:,} on {len(metrics['seeds']) - reached} of {len(metrics['seeds'])} seeds"


def _headline(metrics: dict) -> str:
    return (f"Online training (batch size 1), steps to {metrics['target']:.0%} validation accuracy at each arm's "
            f"best rate, mean of {len(metrics['seeds'])} seeds: {_steps_text(metrics, 'plain', 'plain')} without "
            f"layer normalisation, {_steps_text(metrics, 'layer norm', 'ln')} with it; test accuracy "
            f"{metrics['test_accuracy_plain']['mean']:.1%} and {metrics['test_accuracy_ln']['mean']:.1%}.")


def _figure(runs: dict, best: dict[str, float]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, arm in enumerate(runs):
        for j, run in enumerate(runs[arm][best[arm]]):
            history = run["history"]
            ax.plot(history.steps("eval_accuracy"), history.values("eval_accuracy"), color=f"C{i}", alpha=0.8,
                    label=f"{arm} (rate {best[arm]})" if j == 0 else None)
    ax.axhline(TARGET, color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="training step (one example each)", ylabel="validation accuracy", ylim=(0, 1),
           title="Online training, each arm at its best rate, every seed")
    ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
