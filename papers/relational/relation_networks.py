r"""
---
title: A Simple Neural Network Module for Relational Reasoning
summary: A relation network sums one small MLP over every pair of objects; on Sort-of-CLEVR state
  descriptions it beats the position-blind guess on the farthest-object question on every seed and on the
  closest-object question on two of three, where a slightly larger MLP, trained for the same 6,000 steps,
  does not.
---

# A Simple Neural Network Module for Relational Reasoning

[Santoro et al., 2017. *A Simple Neural Network Module for Relational
Reasoning*](https://arxiv.org/abs/1706.01427)

A question such as "what is the shape of the object farthest from the red one?" is about a *relation*
between objects: no property of the red object alone answers it. A multi-layer perceptron that reads all
the objects at once can in principle learn such a question, but it has to discover, from data, which inputs
belong to one object, which pairs to compare and how. In the paper's experiments it learns the questions
about single objects and stalls on the relational ones.

A **relation network** (RN) builds the comparison of pairs into the architecture. For a set of objects
$O = \{o_1, \dots, o_n\}$ and a question embedding $q$,

$$\mathrm{RN}(O, q) = f_\phi\Big(\sum_{i, j} g_\theta(o_i, o_j, q)\Big),$$

where $g_\theta$, an MLP shared by all $n^2$ ordered pairs, says how two objects relate (as far as the
question cares), and $f_\phi$, another MLP, reads the summed relations and answers. Three things follow from
this form. The RN learns *one* function of a pair and applies it to every pair; the paper argues that this
makes it data-efficient compared with a network that must learn the comparison separately for each pair of
slots (this page does not measure data efficiency). The sum makes the RN *invariant to
the order of the objects*: a set, not a list, goes in. And the cost is $n^2$ evaluations of a small MLP.

## The experiment

The task is [Sort-of-CLEVR from state descriptions](../kit/sort_of_clevr.py): six objects per scene, each a
coloured square or circle at a random position, given as state vectors; three kinds of non-relational
questions (shape, left or right, top or bottom of the named object) and three relational ones (shape of the
closest and of the farthest object, number of objects of the same shape). The objects are listed in a fixed
order, by colour: presumably the easiest case for the MLP, whose slot $k$ then always holds the $k$-th colour, and no
help to the RN, which is invariant to the order (tested below). The MLP baseline reads the concatenated object
states and the question; it has 17,802 parameters against the RN's 15,242 (4 layers of 64 units against
$g_\theta$'s 3 and $f_\phi$'s 2), so the baseline is the larger of the two, as in the paper, whose layers are
far wider (2,000 units).

Both models get the same recipe: Adam, batches of 64 fresh scenes, 6,000 steps, and on each seed the very
same batches (the two models step side by side on one stream). Both get the same learning-rate sweep,
$3 \cdot 10^{-4}$, $10^{-3}$, $3 \cdot 10^{-3}$ and $10^{-2}$: each model is trained at every rate for 1,500
steps on seed 0 and keeps the rate with the best accuracy over all six kinds on 3,000 validation scenes, drawn
from their own generator; the test scenes play no part in the choice (a test checks that no held-out scene is
in the training stream). The RN chose $10^{-2}$ (validation accuracy 88.9%, against 84.9% at $3 \cdot
10^{-3}$), the MLP $3 \cdot 10^{-3}$ (74.9%, against 69.6% at $10^{-2}$ and 69.4% at $10^{-3}$). The MLP's
rate is inside the sweep; the RN's is at its top, so a larger rate might suit the RN better still (not tried).
The sweep is short, a quarter of the training budget: it picks the rate that learns fastest early, not
necessarily the best at 6,000 steps. Then both models are trained at their rates on seeds 0, 1 and 2 (each
seed its own initial weights, data stream and 3,000 test scenes) and measured on the test scenes every 500
steps. The first figure gives the test accuracy per kind (bars: mean of the three seeds; dots: each seed) and
the sweep; the second gives every kind during training.

![Test accuracy per question kind, and the learning-rate sweep](results/relation_networks.png)

![Test accuracy per question kind during training, three seeds](results/relation_networks-curves.png)

After 6,000 steps the RN answers 86.5% of the relational questions and the MLP 74.7% (means of three seeds);
the RN leads on every seed, by 4.4% to 20.3%. On the non-relational questions both are near the ceiling (RN
99.5%, MLP 96.8%). The split by kind shows where the lead comes from, and how solid each part is:

* **Farthest**: RN 83.9%, MLP 64.2%; the RN leads on every seed, by 8.7% to 25.4%, and is above the
  position-blind guess (below) on each, at 75.3% on its weakest seed. This is the robust part of the result.
* **Closest**: RN 77.8%, MLP 66.9%; the lead ranges from 1.8% to 17.8%. The RN learned the question on two
  seeds and was still at the level of the best position-blind guess on the third (the curves).
* **Count**: RN 97.8%, MLP 92.9%. Counting the objects of one shape needs no comparison of positions, and
  the MLP learns it too, late: around step 5,500 on two seeds, and not by step 6,000 on the third, where it
  answers 82.0% (the lead ranges from -6.2% to 18.0%: on seed 0 the MLP counts better). The count lead is
  the MLP's slowness, not an inability, and it is not part of the claim.

The reference level for closest and farthest is the best guess that ignores positions, the shape most common
among the other five objects, right with probability $\sum_k \binom5k 2^{-5} \max(k, 5 - k) / 5 = 22/32
\approx 68.8\%$ if the shapes are equally likely and independent (a test checks it by sampling). The MLP
never beats it: on every seed and at every one of the twelve evaluations during training its accuracy on
closest and on farthest stays at or below that level, while its non-relational and counting accuracies are
still rising at 6,000 steps. The MLP is far from converged: it learns even the single-object shape question
only late (its shape accuracy stays between 65.8% and 79.0% up to step 4,500 on every seed, and passes 99%
only at step 5,500 or 6,000), its rate was chosen after 1,500 steps, before it learns that question on any
recorded curve, and on seed 1 it does not learn to count within the 6,000 steps. Within this budget it
learns nothing about distances; this shows that the RN learns them sooner, not that the MLP cannot.
Whether the MLP would with much longer training is not measured here. The RN is not converged either: its
closest and farthest curves are still climbing or, on the third seed, have not left the guess level, and
they move by several points from one evaluation to the next.

The paper's own numbers are for Sort-of-CLEVR *from pixels* (its Section 5.3; its question answering from
state descriptions is on CLEVR, at 96.4%, Section 5.2): a CNN with an RN above 94% on both relational and
non-relational questions, a CNN with an MLP of the same layer sizes reaching that on the non-relational ones
only and plateauing at 63% on the relational ones. Its models are much
larger and trained longer (Adam at $10^{-4}$, batches of 64, on 10,000 images of 20 questions each). The
direction is the same here, at a far smaller scale and with state vectors instead of pixels: the MLP fails on
closest and farthest, the RN beats the guess level on farthest on every seed and learns closest on two of
three; the gap is smaller than the paper's, and counting, which the paper groups with the relational
questions, is learned by both.

The tests check the claim in a still smaller run (3,000 steps of 32 scenes): there closest and farthest are
still at the guess level for both models, and what the quick test shows is that the RN learns the counting
and single-object questions sooner than the MLP; the distance questions are checked only on the recorded
full run.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.sort_of_clevr import (ANSWERS, KINDS, NON_RELATIONAL, OBJECT_DIM, QUESTION_DIM, RELATIONAL,
                                      QuestionBatch, question_batch)
from papers.kit.training import optimizer_step, train_loop


# ## A plain MLP
#
# Both $g_\theta$ and $f_\phi$, and the baseline, are stacks of linear layers with ReLU between them:
# `sizes = [input, hidden, ..., output]`. `final_activation` keeps a ReLU after the last layer too, as
# $g_\theta$'s output is a hidden representation, not a prediction.
def mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least two positive sizes, got {sizes}")
    for i, size in enumerate(sizes):
        check_positive(f"sizes[{i}]", size, integer=True)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# ## The relation network
#
# The pairs are formed by broadcasting: `objects[:, :, None]` is $o_i$ along the second axis and
# `objects[:, None, :]` is $o_j$ along the third, so the concatenation $[o_i, o_j, q]$ for all $n^2$
# ordered pairs is one tensor `[batch, n, n, 2 d + d_q]`, and $g_\theta$ runs on all of them at once.
# The sum over both pair axes leaves `[batch, hidden]` for $f_\phi$. Pairs with $i = j$ are kept, as in the
# paper; they let $g_\theta$ look at single objects too.
class RelationNetwork(nn.Module):
    def __init__(self, object_dim: int, question_dim: int, answers: int, hidden: int = 64,
                 g_layers: int = 3, f_layers: int = 2) -> None:
        super().__init__()
        if g_layers < 1 or f_layers < 1:
            raise ValueError(f"g_layers and f_layers must be at least 1, got {g_layers} and {f_layers}")
        check_positive("object_dim", object_dim, integer=True)
        check_positive("question_dim", question_dim, integer=True)
        self.object_dim, self.question_dim = object_dim, question_dim
        self.g = mlp([2 * object_dim + question_dim] + [hidden] * g_layers, final_activation=True)
        self.f = mlp([hidden] * f_layers + [answers])

    def forward(self, objects: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        sizes = check_tensor("objects", objects, ["batch", "n", self.object_dim], dtype=self.f[-1].weight.dtype)
        check_tensor("question", question, ["batch", self.question_dim], dtype=objects.dtype, sizes=sizes)
        batch, n, d = objects.shape
        o_i = objects[:, :, None, :].expand(batch, n, n, d)                   # [batch, n, n, d]
        o_j = objects[:, None, :, :].expand(batch, n, n, d)                   # [batch, n, n, d]
        q = question[:, None, None, :].expand(batch, n, n, self.question_dim)  # [batch, n, n, d_q]
        relations = self.g(torch.cat([o_i, o_j, q], dim=-1))                  # [batch, n, n, hidden]
        return self.f(relations.sum(dim=(1, 2)))                              # [batch, answers]


# ## The baseline: an MLP on the concatenated objects
#
# The same inputs, flattened into one vector `[batch, n d + d_q]`. Nothing in this architecture tells it that
# the first ten numbers describe one object; it must learn which numbers to compare with which, for every
# pair of slots separately.
class ObjectMLP(nn.Module):
    def __init__(self, objects: int, object_dim: int, question_dim: int, answers: int, hidden: int = 64,
                 layers: int = 4) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        for name, size in (("objects", objects), ("object_dim", object_dim), ("question_dim", question_dim)):
            check_positive(name, size, integer=True)
        self.objects, self.object_dim, self.question_dim = objects, object_dim, question_dim
        self.net = mlp([objects * object_dim + question_dim] + [hidden] * layers + [answers])

    def forward(self, objects: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        sizes = check_tensor("objects", objects, ["batch", self.objects, self.object_dim],
                             dtype=self.net[-1].weight.dtype)
        check_tensor("question", question, ["batch", self.question_dim], dtype=objects.dtype, sizes=sizes)
        return self.net(torch.cat([objects.flatten(1), question], dim=-1))   # [batch, answers]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ## Accuracy per kind of question
#
# The fraction of correct answers for each of the six kinds, the means over the non-relational and over the
# relational kinds, and over all six (`all`, the figure of merit that chooses learning rates).
@torch.no_grad()
def accuracy_by_kind(model: nn.Module, batch: QuestionBatch) -> dict[str, float]:
    correct = (model(batch.objects, batch.questions).argmax(dim=-1) == batch.answers).float()
    by_kind = {kind: correct[batch.kinds == k].mean().item() for k, kind in enumerate(KINDS)}
    by_kind["non_relational"] = sum(by_kind[k] for k in NON_RELATIONAL) / len(NON_RELATIONAL)
    by_kind["relational"] = sum(by_kind[k] for k in RELATIONAL) / len(RELATIONAL)
    by_kind["all"] = sum(by_kind[k] for k in KINDS) / len(KINDS)
    return by_kind


# ## Training
#
# Cross-entropy on the ten answers, Adam, and a fresh batch of scenes at every step (the data are unlimited,
# so there is no over-fitting to fight). Several models train side by side, each with its own learning rate:
# every batch is drawn once, from the stream that `seed` fixes, and every model takes one step on it, so all
# the models of one seed see exactly the same data. Every `eval_every` steps, and after the last, each model's
# accuracy by kind on the held-out batch is appended to its curve, `[(step, accuracy by kind), ...]`.
Curve = list[tuple[int, dict[str, float]]]


def train(models: dict[str, nn.Module], rates: dict[str, float], steps: int, held_out: QuestionBatch, *,
          seed: int, batch_size: int = 64, eval_every: int = 500) -> dict[str, Curve]:
    optimizers = {name: torch.optim.Adam(model.parameters(), lr=rates[name]) for name, model in models.items()}
    generator = torch.Generator().manual_seed(seed)
    curves: dict[str, Curve] = {name: [] for name in models}

    def step(i: int) -> dict[str, float]:
        batch = question_batch(batch_size, generator, shuffled=False)
        metrics = {}
        for name, model in models.items():
            loss = nn.functional.cross_entropy(model(batch.objects, batch.questions), batch.answers)
            metrics[f"loss_{name}"] = optimizer_step(loss, optimizers[name])
        if (i + 1) % eval_every == 0 or i == steps - 1:
            for name, model in models.items():
                curves[name].append((i + 1, accuracy_by_kind(model, held_out)))
                metrics[f"relational_{name}"] = curves[name][-1][1]["relational"]
        return metrics

    train_loop(steps, step, log_every=eval_every)
    return curves


# ## The two models
#
# Each seed fixes the initial weights of both (the same for every learning rate tried) and the data stream.
MODELS = ("RN", "MLP")


def build_models(seed: int) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    return {
        "RN": RelationNetwork(OBJECT_DIM, QUESTION_DIM, len(ANSWERS)),
        "MLP": ObjectMLP(6, OBJECT_DIM, QUESTION_DIM, len(ANSWERS)),
    }


# Held-out scenes: the test batch of a seed, and the validation batch that chooses the learning rates. They
# come from their own generators (`10_000 + seed` and `20_000 + seed`), not the training stream's (`seed`).
def held_out_batch(size: int, seed: int, split: str) -> QuestionBatch:
    offset = {"test": 10_000, "validation": 20_000}[split]
    return question_batch(size, torch.Generator().manual_seed(offset + seed), shuffled=False)


# ## The same learning-rate sweep for both models
#
# Every model is trained at every rate of the sweep, on one seed, all on the same batches; each keeps the rate
# with the best accuracy over all six kinds on the validation scenes (the first of equals). The test scenes
# play no part in the choice.
def choose_rate(validation: dict[float, float]) -> float:
    if not validation:
        raise ValueError("choose_rate needs at least one learning rate")
    return max(validation, key=lambda lr: validation[lr])


def sweep(rates: list[float], steps: int, validation_size: int, seed: int) -> dict[str, dict[float, float]]:
    validation = held_out_batch(validation_size, seed, "validation")
    models, lrs = {}, {}
    for lr in rates:
        for name, model in build_models(seed).items():
            models[f"{name}@{lr}"], lrs[f"{name}@{lr}"] = model, lr
    curves = train(models, lrs, steps, validation, seed=seed, eval_every=steps)
    return {name: {lr: curves[f"{name}@{lr}"][-1][1]["all"] for lr in rates} for name in MODELS}


# ## The comparison, seed by seed
#
# With the chosen rates, both models are trained from each seed's initial weights on that seed's stream, and
# measured on that seed's test scenes along the way.
def compare(rates: dict[str, float], steps: int, seed: int, test_size: int, eval_every: int) -> dict[str, Curve]:
    test = held_out_batch(test_size, seed, "test")
    return train(build_models(seed), rates, steps, test, seed=seed, eval_every=eval_every)


# ## The experiment
#
# The full run sweeps the rates $3 \cdot 10^{-4}$, $10^{-3}$, $3 \cdot 10^{-3}$ and $10^{-2}$ on seed
# `config.seed` for a quarter of the training budget (1,500 steps), then trains both models for 6,000 steps on
# three seeds at their chosen rates. The quick run is the same, smaller: two seeds, two rates, fewer steps and scenes.
SCORES = (*KINDS, "non_relational", "relational", "all")


def experiment(config: RunConfig) -> Outcome:
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    rates = config.choose([3e-4, 1e-3, 3e-3, 1e-2], [1e-3, 3e-3])
    steps = config.train_steps(full=6000, quick=600)
    sweep_steps = config.choose(1500, 200)
    validation = sweep(rates, sweep_steps, config.choose(3000, 600), config.seed)
    chosen = {name: choose_rate(validation[name]) for name in MODELS}
    curves = {seed: compare(chosen, steps, seed, config.choose(3000, 600), config.choose(500, 200))
              for seed in seeds}
    final = {name: {seed: curves[seed][name][-1][1] for seed in seeds} for name in MODELS}
    accuracy = {name: {score: over_seeds({s: final[name][s][score] for s in seeds}) for score in SCORES}
                for name in MODELS}
    lead = {score: over_seeds({s: final["RN"][s][score] - final["MLP"][s][score] for s in seeds})
            for score in SCORES}
    models = build_models(config.seed)
    metrics = {
        "seeds": seeds, "train_steps": steps, "batch_size": 64, "sweep_seed": config.seed,
        "sweep_steps": sweep_steps, "learning_rates": rates,
        "validation_accuracy": {name: {str(lr): round(v, 4) for lr, v in by_lr.items()}
                                for name, by_lr in validation.items()},
        "learning_rate": chosen,
        "parameters": {name: parameter_count(model) for name, model in models.items()},
        "majority_shape_guess": 22 / 32,
        "accuracy": accuracy, "lead": lead,
        "curves": curve_metrics(curves, seeds),
    }
    return Outcome(headline=headline(metrics), metrics=metrics,
                   figures={"": plot_accuracy(metrics), "curves": plot_curves(metrics)})


# Each seed's curves, per model and score, rounded: `{"steps": [...], model: {score: {seed: [...]}}}`.
def curve_metrics(curves: dict[int, dict[str, Curve]], seeds: list[int]) -> dict:
    steps = [step for step, _ in curves[seeds[0]]["RN"]]
    return {"steps": steps, **{name: {score: {str(s): [round(acc[score], 4) for _, acc in curves[s][name]]
                                              for s in seeds} for score in SCORES} for name in MODELS}}


def headline(metrics: dict) -> str:
    def quote(name: str, score: str) -> str:
        stats = metrics["accuracy"][name][score]
        return f"{name} {stats['mean']:.1%} ({stats['min']:.1%}-{stats['max']:.1%})"

    return (f"mean of {len(metrics['seeds'])} seeds, each model at its own swept learning rate: relational "
            f"accuracy {quote('RN', 'relational')} vs {quote('MLP', 'relational')}; non-relational "
            f"{quote('RN', 'non_relational')} vs {quote('MLP', 'non_relational')}")


# ## The figures
#
# Held-out accuracy on each kind of question, mean over seeds with each seed as a dot, and the validation
# accuracy of the sweep.
def plot_accuracy(metrics: dict) -> Figure:
    fig, (bars, rates) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    width = 0.38
    for m, (offset, name) in enumerate(zip((-width / 2, width / 2), MODELS)):
        stats = [metrics["accuracy"][name][kind] for kind in KINDS]
        xs = [k + offset for k in range(len(KINDS))]
        bars.bar(xs, [s["mean"] for s in stats], width, color=f"C{m}",
                 label=f"{name} ({metrics['parameters'][name]:,} parameters, lr {metrics['learning_rate'][name]:g})")
        for x, s in zip(xs, stats):
            bars.plot([x] * len(s["per_seed"]), list(s["per_seed"].values()), "k.", markersize=3)
        lrs = [float(lr) for lr in metrics["validation_accuracy"][name]]
        rates.plot(lrs, list(metrics["validation_accuracy"][name].values()), "o-", color=f"C{m}", label=name)
    bars.axhline(metrics["majority_shape_guess"], xmin=0.5, xmax=0.84, color="grey", linestyle=":",
                 label="majority-shape guess")
    bars.set_xticks(range(len(KINDS)), KINDS)
    bars.axvline(2.5, color="grey", linewidth=0.8)
    bars.set(ylabel=f"test accuracy, {len(metrics['seeds'])} seeds", ylim=(0, 1.05),
             title="non-relational | relational")
    bars.legend(loc="lower left", fontsize=8)
    rates.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (all kinds)",
              title=f"sweep: seed {metrics['sweep_seed']}, {metrics['sweep_steps']:,} steps")
    rates.set_xticks(metrics["learning_rates"], [f"{lr:g}" for lr in metrics["learning_rates"]])
    rates.minorticks_off()
    rates.legend()
    fig.tight_layout()
    return fig


# Test accuracy on each kind of question during training: each seed faint, the mean bold.
def plot_curves(metrics: dict) -> Figure:
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharex=True, sharey=True)
    steps = metrics["curves"]["steps"]
    for ax, kind in zip(axes.flat, KINDS):
        for m, name in enumerate(MODELS):
            runs = torch.tensor(list(metrics["curves"][name][kind].values()))  # [seeds, evaluations]
            for run in runs:
                ax.plot(steps, run.tolist(), color=f"C{m}", alpha=0.3, linewidth=0.8)
            ax.plot(steps, runs.mean(dim=0).tolist(), color=f"C{m}", label=name)
        if kind in ("closest", "farthest"):
            ax.axhline(metrics["majority_shape_guess"], color="grey", linestyle=":", label="majority-shape guess")
        ax.set(title=kind, ylim=(0.3, 1.02))
    for ax in axes[1]:
        ax.set_xlabel("training step")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    axes[1, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
