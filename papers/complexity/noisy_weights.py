r"""
---
title: Keeping Neural Networks Simple by Minimizing the Description Length of the Weights
summary: A network whose every weight is a Gaussian, trained to minimise misfit bits plus the weights' bits
  (their KL divergence from an adaptive prior, the "bits back" code), on 200 digits: with 8 hidden units it
  beats the plain network, early-stopped or not, on every seed and is level with weight decay tuned on a
  validation split; with 32 the plain network matches it and the noisy network falls behind.
---

# Keeping Neural Networks Simple by Minimizing the Description Length of the Weights

[Hinton, van Camp, 1993. *Keeping Neural Networks Simple by Minimizing the Description Length of the
Weights*. COLT 1993](https://www.cs.toronto.edu/~hinton/absps/colt93.html)

The paper's opening sentence is the whole idea: a supervised network generalises well if there is much less
information in its weights than in the output vectors of its training cases. So count that information, in
bits, and make learning pay for it.

**The cost of sending the data.** Picture a sender who must send the training labels to a receiver who
already has the inputs. She can send a network first, then each label coded with the network's prediction;
a good network makes the labels cheap. The total is

$$\text{description length} = \underbrace{L(\text{weights})}_{\text{weight bits}} +
  \underbrace{\sum_n -\log_2 p(y_n \mid x_n, \text{weights})}_{\text{misfit bits}},$$

and the minimum description length principle picks the network that makes it shortest. A network that
memorises its 200 labels sends them for almost nothing, but its weights, sent precisely enough to memorise,
cost a great deal; a network with no weights costs nothing to send but leaves every label at full price,
$\log_2 10 \approx 3.32$ bits for a digit.

**Noisy weights are cheap weights.** A real number sent to infinite precision costs infinitely many bits;
the precision is the lever. Hinton and van Camp make every weight a Gaussian $Q_i = \mathcal{N}(\mu_i,
\sigma_i^2)$: the network the receiver gets is a *sample* from those Gaussians, so a weight with a large
$\sigma_i$ needs little precision and costs few bits, and the data misfit is the *expected* misfit over the
noise. With the "bits back" argument (below, in *The cost of one noisy weight*) the cost
of the weights is $\sum_i \mathrm{KL}(Q_i \,\|\, P)$ for a prior $P$ the two parties agreed on, plus the cost
of sending the prior's own parameters (here two learned widths, neglected on this page, as the paper
neglects its mixture's parameters). The
sum of expected misfit and KL is what variational Bayes would later call the negative evidence lower bound;
this paper is where neural networks first met it. Learning adapts each weight's noise level: the gradient of
the total trades each weight's precision against the misfit it buys.

**The paper's setting.** One hidden layer of logistic units, a small regression task (105 training cases
with 128 inputs each), linear outputs and squared error. For that network the paper computes the expected
squared error *exactly*, without sampling: each hidden unit's total input is Gaussian, its output's mean and
variance come from tables, and with linear outputs the expected squared error follows. Its prior is
*adaptive*: a mixture of Gaussians whose parameters are learned with the weights, so that the weights can
cluster around a few values that are cheap to code.

**Where this page differs, and why.**

* *Data*: 200 of scikit-learn's 8×8 digits (64 inputs, 10 classes), a different random 200 for each seed,
  standardised pixel by pixel; classification with a softmax, so the misfit is the cross-entropy in bits
  (cross-entropy in nats divided by $\ln 2$), not squared error.
* *Expectation*: sampled, not exact. Each hidden and output unit's total input is Gaussian, as in the paper,
  but we draw it (the *local reparameterisation*, below) with one draw per example and step
  and back-propagate through the draw; the paper integrates over it, which needs linear outputs.
* *Prior*: one zero-mean Gaussian per layer with a learned width, not the paper's adaptive mixture.
* *Hidden units*: 8 `tanh` units (the paper's were logistic).
* *Optimiser*: full-batch Adam, and a warm-up of the weights' cost (its factor $\beta$ rises from 0 to 1 over
  the first half of training). Without it every weight collapses onto the prior (recorded below).
* *Settings chosen by hand*: the hidden size, the initial posterior width $\sigma = 10^{-3}$, the initial prior
  width $\sigma_p = 0.1$ and the warm-up were set from unrecorded tries, not searched or tuned on data.

## What the experiment shows

Three networks of the same shape (64 inputs, 8 hidden units, 10 outputs, 610 weights and biases), from the
same initial weights, trained for 3,000 full-batch Adam steps at one learning rate (0.01) on the same 200
digits, for three seeds:

* **plain**: cross-entropy only. It learns the training set by heart (no training error on any seed). Its
  **early-stopped** copy keeps the weights of lowest validation error, checked every 50 steps.
* **weight decay**: cross-entropy plus $\lambda \sum w^2$, with $\lambda$ chosen on the validation split from
  five values ($10^{-3}$ to $10^{-1}$) for each seed: the rival the paper's penalty has to beat, tuned with
  more care than the noisy network, whose only extra setting (the warm-up) was not tuned per seed.
* **noisy weights (MDL)**: the description length above, $\beta = 1$ for the second half of training.

and three controls, also over the three seeds: the plain and the noisy network with 32 hidden units (2,410
weights and biases, the same warm-up), and the noisy network with 8 and $\beta = 1$ from the first step.

**Against the plain network the claim holds on every seed.** The plain network fits its 200 digits exactly
and gets 14.4% of the test digits wrong (12.2% to 15.8% over the seeds); the noisy network, with its mean
weights, 8.2% (7.3% to 9.1%), lower on each seed. Its test labels also cost far fewer bits: 0.40 bits per
label (0.38 to 0.43) against 0.93 (0.79 to 1.11): its predicted probabilities are better, not only its
arg-max. The win is not only the plain network's over-training: stopped early on the validation split (at
step 150 to 200), the plain network gets 13.7% (12.2% to 16.0%) and 0.62 bits per label (0.55 to 0.68),
still worse than the noisy network on every seed.

**Against tuned weight decay it is level.** Weight decay, with $\lambda$ picked on the validation split
(0.03, 0.01 and 0.01 on the three seeds), gets 8.8% (8.2% to 9.3%): the noisy network is better on seeds 1
and 2 and worse on seed 0 (9.1% against 8.2%). Three seeds and a test set of 449 digits (one digit is 0.22
points) cannot separate the two. The noisy network's test bits, 0.40, are lower than weight decay's 0.83
(0.66 to 1.15), but $\lambda$ was chosen for validation *error*, not bits, so that gap partly reflects our
choice of criterion. Weight decay also had data the noisy network never saw: $\lambda$ was chosen on 269 extra
labelled validation digits. The noisy network used no validation split: the trade $\beta$ between misfit and
weights is fixed at 1 by the coding argument. It is not free of choices, though: the warm-up (essential,
below), the hidden size and the initial widths were chosen by hand.

**The description length.** The noisy network sends its 200 training labels in 433 bits (427 to 441):
286 bits of weights (286 to 287) plus 147 expected misfit bits (140 to 156). Sent raw, with $\log_2 10$
bits each, the labels cost 664 bits, so the network is a genuine compression of its training set, by about
a third, and its 610 weights and biases cost under half a bit each on average. The plain network's labels
cost only 0.08 bits (0.06 to 0.10) given its weights, but its point weights have no finite price in this
code (see *The experiment* below); at 32-bit precision they would cost $610 \times 32 = 19{,}520$ bits (a
computation, not a measurement).

**The warm-up is essential.** With $\beta = 1$ from the first step, and nothing else changed, every weight
collapses onto the prior on every seed: 0.3 weight bits (0.3 to 0.4), the uniform distribution predicted
(3.32 bits per test label) and 90.4% of the test digits wrong (90.2% to 90.9%). Its description length, 665
bits, is a little more than the raw labels' 664. The objective is the same in both runs from the middle of
training on ($\beta = 1$, the paper's description length); the warm-up only changes which optimum the
optimiser reaches, and it reaches a much better one of the same objective (433 bits against 665).

**Mean weights or sampled weights.** Averaging the predictions of 100 sampled networks is *worse* here than
the mean network, on every seed: 8.7% test error (8.0% to 9.6%) and 0.71 bits per label (0.68 to 0.75). The
posterior is wide (that is what makes it cheap), and a single sampled network is a poor classifier: the
expected misfit on the training set is 147 bits, about 0.73 bits per label, while the mean network's test
labels cost 0.40.

**Which weights carry the bits.** On average 22.8% of the weights (16.9% to 26.9%) cost under 0.01 bits each:
their posteriors have stayed at the prior, and setting their means to zero leaves the test error at 9.1% and
8.0% on seeds 0 and 2 and moves seed 1 from 7.3% to 7.1%, one test digit. They are effectively pruned, but
not as whole units: no hidden unit lost all its outgoing weights on any seed. The bits are concentrated: the
most expensive tenth of the weights carry 42.5% of them (40.5% to 44.8%). That the network generalises
*because* its weights carry few bits is the paper's argument, and not something this page isolates: the
KL also contains $\mu^2 / 2\sigma_p^2$, an L2 penalty on the means with a learned strength, so part of what
the noisy network does is weight decay with $\lambda$ set by the data, and set per layer. The learned prior
widths, 0.21 (0.21 to 0.21) for the hidden layer and 1.36 (1.33 to 1.39) for the output layer, imply
strengths $1 / (2 \sigma_p^2 N)$ ($N = 200$) in weight decay's units of 0.057 (0.054 to 0.059) and 0.0013
(0.0013 to 0.0014): about forty times apart, which one shared $\lambda$ (0.01 or 0.03 here) cannot express.

**At 32 hidden units the order changes.** The plain network with 32 hidden units gets 8.5% (7.3% to 9.3%),
level with the noisy network at 8 (no better on any seed, worse by 0 to 4 test digits). The noisy network
with 32 hidden units, with the same hand-set warm-up and widths, does worse: 12.6% (9.6% to 16.0%), behind
the plain network of its size on every seed, and it under-fits, with 4.2% training error (2.0% to 6.5%). So
the win holds at 8 hidden units; at 32 the plain network matches it and the noisy network falls behind, as
measured here, with settings chosen at 8. The penalty beats the plain network at one size, not a plain
network of any size. The paper's own data set, its exact expectation and its mixture prior are not
reproduced.

![Test error per seed, description length, and its two parts during training](results/noisy_weights.png)
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.data import Digits, Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History, train_loop

LN2 = math.log(2.0)


# ## The cost of one noisy weight
#
# The sender and the receiver agree on a prior $P = \mathcal{N}(0, \sigma_p^2)$ for every weight of a layer.
# The sender picks a posterior $Q = \mathcal{N}(\mu, \sigma^2)$ for each weight, draws a weight from it, and
# sends it coded with $P$, to a precision far finer than $\sigma$. That costs $-\log P(w)$ (plus a constant
# for the precision), but the sender can use the freedom of the draw to carry other bits: the receiver, once
# it knows all the weights and has decoded the training labels with them, re-runs the same deterministic
# learning algorithm on the inputs and labels, rebuilds $Q$, and recovers the random bits used to pick $w$,
# worth $-\log Q(w)$ (the same constant cancels). The net cost, averaged over the draw, is the *bits-back* code length
#
# $$\mathbb{E}_{w \sim Q}\big[\log Q(w) - \log P(w)\big] = \mathrm{KL}(Q \,\|\, P)
#   = \ln\frac{\sigma_p}{\sigma} + \frac{\sigma^2 + \mu^2}{2\sigma_p^2} - \frac{1}{2} \quad \text{nats},$$
#
# divided by $\ln 2$ for bits. A weight that the data leave free ($\mu \approx 0$, $\sigma \approx \sigma_p$)
# costs nothing; a precise, large weight costs $\approx \ln(\sigma_p / \sigma) + \mu^2 / 2\sigma_p^2$ (the
# $\sigma^2 / 2\sigma_p^2 - 1/2$ left out is under $1/2$ nat). The function
# works elementwise on tensors of any shape (`mean`, `std` alike; `prior_std` broadcasts).
def gaussian_kl(mean: torch.Tensor, std: torch.Tensor, prior_std: torch.Tensor) -> torch.Tensor:
    check_tensor("std", std, list(mean.shape), dtype=mean.dtype, allow_empty=True)
    if std.device.type != "meta" and bool((std <= 0).any()):
        raise ValueError("std must be positive everywhere: a weight with no noise costs infinitely many bits")
    variance_ratio = (std / prior_std) ** 2
    return 0.5 * (variance_ratio + (mean / prior_std) ** 2 - 1.0 - torch.log(variance_ratio))


# ## A layer of noisy weights
#
# Every weight and bias has a mean $\mu$ and a standard deviation $\sigma = \mathrm{softplus}(\rho)$ (always
# positive); the layer also learns the log of its prior's standard deviation $\sigma_p$, shared by its weights
# and biases. This is the paper's *adaptive* prior in its simplest form: the paper used a mixture of Gaussians
# whose means, variances and mixing proportions are learned; we use one zero-mean Gaussian per layer.
#
# For an input $x$ `[batch, inputs]`, a unit's total input $a_j = \sum_i w_{ji} x_i + b_j$ is a sum of
# independent Gaussians, so it is exactly Gaussian:
#
# $$a_j \sim \mathcal{N}\Big(\sum_i \mu_{ji} x_i + \mu_{b_j},\; \sum_i \sigma_{ji}^2 x_i^2 + \sigma_{b_j}^2\Big).$$
#
# The paper propagates these two moments through the network. We sample $a_j$ from them, $a_j = m_j +
# \sqrt{v_j}\,\varepsilon_j$ with $\varepsilon_j \sim \mathcal{N}(0, 1)$ drawn for each example and unit (the
# *local reparameterisation*): the same distribution as drawing a fresh weight matrix for every example, and
# differentiable in $\mu$ and $\rho$ with the noise held fixed. `noise=None` gives the mean network.
class NoisyLinear(nn.Module):
    def __init__(self, inputs: int, outputs: int, init_std: float = 1e-3, prior_std: float = 0.1):
        super().__init__()
        check_positive("inputs", inputs, integer=True)
        check_positive("outputs", outputs, integer=True)
        check_positive("init_std", init_std)
        check_positive("prior_std", prior_std)
        bound = 1.0 / math.sqrt(inputs)
        self.weight_mean = nn.Parameter(torch.empty(outputs, inputs).uniform_(-bound, bound))
        self.bias_mean = nn.Parameter(torch.empty(outputs).uniform_(-bound, bound))
        rho = math.log(math.expm1(init_std))  # softplus(rho) = init_std
        self.weight_rho = nn.Parameter(torch.full((outputs, inputs), rho))
        self.bias_rho = nn.Parameter(torch.full((outputs,), rho))
        self.prior_log_std = nn.Parameter(torch.tensor(math.log(prior_std)))

    def stds(self) -> tuple[torch.Tensor, torch.Tensor]:
        return F.softplus(self.weight_rho), F.softplus(self.bias_rho)

    # The mean and variance of the total inputs, both `[batch, outputs]`.
    def input_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor("x", x, ["batch", self.weight_mean.shape[1]], dtype=self.weight_mean.dtype)
        weight_std, bias_std = self.stds()
        mean = F.linear(x, self.weight_mean, self.bias_mean)
        variance = F.linear(x ** 2, weight_std ** 2, bias_std ** 2)
        return mean, variance

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        mean, variance = self.input_moments(x)
        if noise is None:
            return mean
        check_tensor("noise", noise, list(mean.shape), dtype=mean.dtype)
        return mean + variance.sqrt() * noise

    # Each weight's and bias's description length in nats, `[outputs * inputs + outputs]`.
    def kl_per_weight(self) -> torch.Tensor:
        weight_std, bias_std = self.stds()
        prior_std = self.prior_log_std.exp()
        return torch.cat([gaussian_kl(self.weight_mean, weight_std, prior_std).flatten(),
                          gaussian_kl(self.bias_mean, bias_std, prior_std)])


# ## The network
#
# One hidden layer of `tanh` units (the paper's were logistic; `tanh` is the same curve rescaled and centred at
# zero) and a softmax output over the ten digits (the paper had linear outputs and squared error). Images
# `[batch, 1, 8, 8]` or `[batch, 64]` $\to$ logits `[batch, classes]`. `sample_noise` draws the $\varepsilon$
# of both layers for a batch.
class NoisyMLP(nn.Module):
    def __init__(self, inputs: int, hidden: int, classes: int, init_std: float = 1e-3, prior_std: float = 0.1):
        super().__init__()
        self.inputs = inputs
        self.hidden = NoisyLinear(inputs, hidden, init_std, prior_std)
        self.output = NoisyLinear(hidden, classes, init_std, prior_std)

    def sample_noise(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        check_positive("batch", batch, integer=True)
        like = self.hidden.weight_mean
        return [torch.randn(batch, layer.weight_mean.shape[0], generator=generator, dtype=like.dtype,
                            device=like.device) for layer in (self.hidden, self.output)]

    def forward(self, x: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = x.flatten(1) if x.dim() > 2 else x
        hidden_noise, output_noise = noise if noise is not None else (None, None)
        return self.output(torch.tanh(self.hidden(x, hidden_noise)), output_noise)

    def kl_per_weight(self) -> torch.Tensor:
        return torch.cat([self.hidden.kl_per_weight(), self.output.kl_per_weight()])

    def weight_bits(self) -> torch.Tensor:
        return self.kl_per_weight().sum() / LN2


# ## The description length of the data
#
# The receiver knows the inputs; the sender codes each label with the network's predicted distribution,
# $-\log_2 p(y_n \mid x_n, w)$ bits, for weights $w \sim Q$. The total to minimise, in nats, is
#
# $$L(\mu, \sigma, \sigma_p) = \underbrace{\sum_n \mathbb{E}_{w \sim Q}\big[-\ln p(y_n \mid x_n, w)\big]}
#   _{\text{misfit}} + \beta\,\underbrace{\sum_i \mathrm{KL}(Q_i \,\|\, P)}_{\text{weights}},$$
#
# with $\beta = 1$ the true code length (the negative evidence lower bound of variational Bayes). The
# expectation is estimated with one draw of $\varepsilon$ per example and step. `beta` below 1 is used only in a
# warm-up at the start of training (see the experiment).
def description_length(model: NoisyMLP, x: torch.Tensor, y: torch.Tensor, noise: list[torch.Tensor],
                       beta: float = 1.0) -> torch.Tensor:
    check_in_range("beta", beta, 0.0, 1.0)
    return F.cross_entropy(model(x, noise), y, reduction="sum") + beta * model.kl_per_weight().sum()


# The rival: the same network, mean weights only, trained on the mean cross-entropy plus weight decay
# $\lambda \sum w^2$ on the weight matrices (not the biases); $\lambda = 0$ is the plain network.
def decay_loss(model: NoisyMLP, x: torch.Tensor, y: torch.Tensor, weight_decay: float) -> torch.Tensor:
    check_in_range("weight_decay", weight_decay, 0.0, math.inf)
    penalty = sum((layer.weight_mean ** 2).sum() for layer in (model.hidden, model.output))
    return F.cross_entropy(model(x), y) + weight_decay * penalty


# The misfit part, measured after training: the expected code length of the labels in bits, averaged over
# `samples` draws of the weights (a sum over examples).
@torch.no_grad()
def misfit_bits(model: NoisyMLP, split: Split, samples: int, generator: torch.Generator) -> float:
    check_positive("samples", samples, integer=True)
    nats = [F.cross_entropy(model(split.x, model.sample_noise(len(split.y), generator)), split.y, reduction="sum")
            for _ in range(samples)]
    return (torch.stack(nats).mean() / LN2).item()


# ## Two ways to predict
#
# The mean network ($w = \mu$), or the average of the predicted probabilities over `samples` draws of the
# weights. Both are reported. Returns probabilities `[batch, classes]`.
@torch.no_grad()
def predict(model: NoisyMLP, x: torch.Tensor, samples: int = 0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    if samples == 0:
        return F.softmax(model(x), dim=-1)
    check_positive("samples", samples, integer=True)
    draws = [F.softmax(model(x, model.sample_noise(len(x), generator)), dim=-1) for _ in range(samples)]
    return torch.stack(draws).mean(dim=0)


def scores(probabilities: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Error rate and mean code length in bits per label."""
    error = (probabilities.argmax(dim=-1) != y).float().mean().item()
    bits = -(probabilities.gather(1, y[:, None]).clamp_min(1e-12).log2()).mean().item()
    return error, bits


# ## Training
#
# Full-batch Adam at one learning rate for every arm. `penalty` is `"mdl"` (the description length, divided by
# the number of examples so the step size matches the other arms) or `"decay"`. For the noisy network, $\beta$
# rises linearly from 0 to 1 over the first `warmup` steps and stays at 1. The warm-up is ours, not the paper's,
# and it changes only the path: from step `warmup` on, the objective is the paper's description length with
# $\beta = 1$. With `warmup=0` the weights' cost dominates the first gradients and every weight collapses onto
# the prior (measured on every seed: see *What the experiment shows*). `after_step`, if given, is called with
# the step's index after each update (early stopping uses it).
def train(model: NoisyMLP, data: Split, penalty: str, steps: int, *, weight_decay: float = 0.0, lr: float = 0.01,
          warmup: int = 0, seed: int = 0, after_step: Callable[[int], None] | None = None) -> History:
    if penalty not in ("mdl", "decay"):
        raise ValueError(f"penalty must be 'mdl' or 'decay', got {penalty!r}")
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    check_in_range("warmup", warmup, 0, steps)
    x, y = data.x.flatten(1), data.y
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed + 1000)

    def step(i: int) -> dict[str, float]:
        if penalty == "mdl":
            beta = min(1.0, i / warmup) if warmup else 1.0
            noise = model.sample_noise(len(y), generator)
            misfit = F.cross_entropy(model(x, noise), y, reduction="sum")
            weights = model.kl_per_weight().sum()
            loss = (misfit + beta * weights) / len(y)
            metrics = {"misfit_bits": misfit.item() / LN2, "weight_bits": weights.item() / LN2}
        else:
            loss = decay_loss(model, x, y, weight_decay)
            metrics = {}
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(i)
        return {"loss": loss.item(), **metrics}

    return train_loop(steps, step, log_every=max(steps // 10, 1))


# ## The data
#
# A random subset of the digits' training split (a different subset for each seed), the inputs standardised
# with that subset's mean and standard deviation per pixel (plus 0.1, so always-blank pixels stay at zero).
# The validation split is used only to choose the weight decay and the plain network's early-stopping point;
# the noisy network has no hyper-parameter tuned on it (its settings were chosen by hand, see the page).
def standardise(train_split: Split, *splits: Split) -> list[Split]:
    x = train_split.x.flatten(1)  # [N, 64]
    mean, scale = x.mean(dim=0), x.std(dim=0) + 0.1
    return [Split((s.x.flatten(1) - mean) / scale, s.y) for s in (train_split, *splits)]


def subset(split: Split, size: int, seed: int) -> Split:
    check_in_range("size", size, 1, len(split.y))
    order = torch.randperm(len(split.y), generator=torch.Generator().manual_seed(seed))[:size]
    return Split(split.x[order], split.y[order])


# ## The experiment
#
# For each seed: a plain network (and its early-stopped copy), the weight-decay network tuned on the
# validation split, and the noisy network, all from the same initial means; then the controls below. Each is
# scored on the 449 test digits by its error and its mean code length per label in bits; the noisy one both
# with its mean weights and with the average of `SAMPLES` sampled networks' probabilities. Its description
# length is measured after training: the weights' KL in bits (exact) plus the expected misfit of the training
# labels in bits (averaged over `SAMPLES` draws); the same for the run without warm-up. We also record the
# learned prior widths and the L2 strengths $1 / (2\sigma_p^2 N)$ they imply. The plain network's weights have
# no description length in this code: a point weight has $\sigma = 0$ and costs infinitely many bits, and any
# finite price depends on a precision we would have to choose. For it we report the misfit bits of its
# training labels only.
TRAINING_EXAMPLES = 200
HIDDEN = 8
WIDE = 32  # the hidden size of the control arms
DECAYS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
PRUNED_BITS = 0.01  # a weight whose posterior costs less than this is "at the prior"
SAMPLES = 100


def new_model(seed: int, hidden: int = HIDDEN) -> NoisyMLP:
    torch.manual_seed(seed)  # the same initial means in every arm of one size
    return NoisyMLP(64, hidden, 10)


# ## Early stopping
#
# The plain network's other remedy for over-fitting: watch its validation error every `every` steps during the
# same training run and keep a copy of the weights where it was lowest (ties: the earlier). Called after each
# step by `train`, so the early-stopped network costs no extra training.
class EarlyStopping:
    def __init__(self, model: NoisyMLP, valid: Split, every: int = 50):
        check_positive("every", every, integer=True)
        self.model, self.valid, self.every = model, valid, every
        self.best, self.best_error, self.best_step = copy.deepcopy(model), math.inf, 0

    def __call__(self, i: int) -> None:
        if (i + 1) % self.every:
            return
        error = scores(predict(self.model, self.valid.x), self.valid.y)[0]
        if error < self.best_error:
            self.best_error, self.best_step = error, i + 1
            self.best.load_state_dict(self.model.state_dict())


# The weight decay with the lowest validation error (ties: the lower validation bits per label).
def tuned_decay(train_split: Split, valid: Split, steps: int, seed: int) -> tuple[NoisyMLP, float]:
    candidates = []
    for weight_decay in DECAYS:
        model = new_model(seed)
        train(model, train_split, "decay", steps, weight_decay=weight_decay, seed=seed)
        candidates.append((scores(predict(model, valid.x), valid.y), weight_decay, model))
    _, weight_decay, model = min(candidates, key=lambda candidate: candidate[:2])
    return model, weight_decay


# ## Which weights carry the bits
#
# Measured, not assumed: the fraction of weights that cost less than `PRUNED_BITS` (their posterior has stayed
# at the prior: effectively pruned), how many hidden units have every outgoing weight so pruned, the test
# error of the mean network with the pruned weights' means set to zero, and the share of all the weight bits
# carried by the most expensive tenth of the weights.
@torch.no_grad()
def pruning(model: NoisyMLP, test: Split) -> dict[str, float]:
    bits = model.kl_per_weight() / LN2
    pruned = bits < PRUNED_BITS
    n_hidden_weights = model.hidden.weight_mean.numel() + model.hidden.bias_mean.numel()
    out_pruned = pruned[n_hidden_weights:n_hidden_weights + model.output.weight_mean.numel()]
    dead_units = out_pruned.view_as(model.output.weight_mean).all(dim=0).sum().item()
    means = [model.hidden.weight_mean, model.hidden.bias_mean, model.output.weight_mean, model.output.bias_mean]
    saved = [m.clone() for m in means]
    offset = 0
    for m in means:
        m.masked_fill_(pruned[offset:offset + m.numel()].view_as(m), 0.0)
        offset += m.numel()
    error_zeroed = scores(predict(model, test.x), test.y)[0]
    for m, value in zip(means, saved):
        m.copy_(value)
    return {"pruned_fraction": pruned.float().mean().item(), "dead_hidden_units": dead_units,
            "test_error_pruned_zeroed": error_zeroed,
            "bits_top_10pct": bits.sort(descending=True).values[:len(bits) // 10].sum().item() / bits.sum().item()}


def run_seed(data: Digits, seed: int, steps: int, warmup: int) -> dict:
    train_split, valid, test = standardise(subset(data.train, TRAINING_EXAMPLES, seed), data.valid, data.test)
    generator = torch.Generator().manual_seed(seed + 2000)
    plain = new_model(seed)
    early = EarlyStopping(plain, valid)
    train(plain, train_split, "decay", steps, seed=seed, after_step=early)
    decayed, weight_decay = tuned_decay(train_split, valid, steps, seed)
    noisy = new_model(seed)
    history = train(noisy, train_split, "mdl", steps, warmup=warmup, seed=seed)
    run: dict = {"seed": seed, "weight_decay": weight_decay, "history": history, "early_stop_step": early.best_step}
    arms = {"plain": plain, "plain_early": early.best, "decay": decayed, "mdl": noisy, **other_arms(
        train_split, steps, warmup, seed)}
    for name, model in arms.items():
        run[f"test_error_{name}"], run[f"test_bits_{name}"] = scores(predict(model, test.x), test.y)
        run[f"train_error_{name}"] = scores(predict(model, train_split.x), train_split.y)[0]
    no_warmup = arms["mdl_no_warmup"]
    run["weight_bits_no_warmup"] = no_warmup.weight_bits().item()
    run["total_bits_no_warmup"] = run["weight_bits_no_warmup"] + misfit_bits(no_warmup, train_split, SAMPLES,
                                                                             generator)
    for name, layer in (("hidden", noisy.hidden), ("output", noisy.output)):
        run[f"prior_std_{name}"] = layer.prior_log_std.exp().item()
        run[f"implied_decay_{name}"] = 1 / (2 * run[f"prior_std_{name}"] ** 2 * TRAINING_EXAMPLES)
    run["test_error_mdl_sampled"], run["test_bits_mdl_sampled"] = scores(
        predict(noisy, test.x, SAMPLES, generator), test.y)
    run["train_bits_plain"] = scores(predict(plain, train_split.x), train_split.y)[1] * TRAINING_EXAMPLES
    run["weight_bits"] = noisy.weight_bits().item()
    run["data_bits"] = misfit_bits(noisy, train_split, SAMPLES, generator)
    run["total_bits"] = run["weight_bits"] + run["data_bits"]
    run.update(pruning(noisy, test))
    return run


# The controls: the plain and the noisy network with `WIDE` hidden units instead of 8 (is the win only at one
# size?), and the noisy network with $\beta = 1$ from the first step (is the warm-up needed?).
def other_arms(train_split: Split, steps: int, warmup: int, seed: int) -> dict[str, NoisyMLP]:
    plain_wide, noisy_wide, no_warmup = new_model(seed, WIDE), new_model(seed, WIDE), new_model(seed)
    train(plain_wide, train_split, "decay", steps, seed=seed)
    train(noisy_wide, train_split, "mdl", steps, warmup=warmup, seed=seed)
    train(no_warmup, train_split, "mdl", steps, warmup=0, seed=seed)
    return {"plain_wide": plain_wide, "mdl_wide": noisy_wide, "mdl_no_warmup": no_warmup}


def experiment(config: RunConfig) -> Outcome:
    data = digits()
    steps = config.train_steps(full=3000, quick=1500)
    seeds = range(config.seed, config.seed + config.choose(3, 2))
    runs = [run_seed(data, seed, steps, steps // 2) for seed in seeds]
    metrics = _metrics(runs, steps)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs)})


ARMS = ["plain", "plain_early", "decay", "mdl", "mdl_sampled", "plain_wide", "mdl_wide", "mdl_no_warmup"]
COMPARED = ([f"test_error_{arm}" for arm in ARMS] + [f"test_bits_{arm}" for arm in ARMS]
            + [f"train_error_{arm}" for arm in ARMS if arm != "mdl_sampled"]
            + ["train_bits_plain", "weight_bits", "data_bits", "total_bits", "weight_bits_no_warmup",
               "total_bits_no_warmup", "early_stop_step", "weight_decay", "prior_std_hidden", "prior_std_output",
               "implied_decay_hidden", "implied_decay_output", "pruned_fraction", "dead_hidden_units",
               "test_error_pruned_zeroed", "bits_top_10pct"])


def _metrics(runs: list[dict], steps: int) -> dict:
    metrics: dict = {"training_examples": TRAINING_EXAMPLES, "hidden_units": HIDDEN, "wide_hidden_units": WIDE,
                     "train_steps": steps,
                     "seeds": [run["seed"] for run in runs], "decays_tried": DECAYS,
                     "uniform_code_bits": round(TRAINING_EXAMPLES * math.log2(10), 1),
                     "weights": 64 * HIDDEN + HIDDEN + HIDDEN * 10 + 10}
    for key in COMPARED:
        metrics[key] = over_seeds({run["seed"]: run[key] for run in runs})
    return metrics


def _headline(metrics: dict) -> str:
    def mean(key: str) -> float:
        return metrics[key]["mean"]

    return (f"Mean of {len(metrics['seeds'])} seeds, {metrics['training_examples']} training digits: test error "
            f"{mean('test_error_plain'):.1%} plain, {mean('test_error_decay'):.1%} with tuned weight decay, "
            f"{mean('test_error_mdl'):.1%} with noisy weights (MDL); the noisy net's description length "
            f"{mean('weight_bits'):.0f} weight bits + {mean('data_bits'):.0f} data bits, against "
            f"{metrics['uniform_code_bits']:.0f} bits for the labels sent raw.")


def _figure(runs: list[dict]) -> plt.Figure:
    fig, (ax_error, ax_bits, ax_curve) = plt.subplots(1, 3, figsize=(18, 4.8), width_ratios=[1.5, 1, 1])
    arms = ["plain", "plain_early", "decay", "mdl", "mdl_sampled", "plain_wide", "mdl_wide"]
    labels = ["plain", "plain, early-stopped", "tuned weight decay", "noisy, mean weights",
              f"noisy, {SAMPLES} samples", f"plain, {WIDE} hidden", f"noisy, {WIDE} hidden"]
    for i, run in enumerate(runs):
        ax_error.plot(range(len(arms)), [100 * run[f"test_error_{a}"] for a in arms], marker="o",
                      color=f"C{i}", label=f"seed {run['seed']}")
    ax_error.set(xticks=range(len(arms)), ylabel="test error (%)", title="Test error, each seed")
    ax_error.set_xticklabels(labels, rotation=25, ha="right")
    ax_error.legend()
    width = 0.4
    for i, run in enumerate(runs):
        ax_bits.bar(i, run["data_bits"], width, color="C0", label="misfit bits (expected)" if i == 0 else None)
        ax_bits.bar(i, run["weight_bits"], width, bottom=run["data_bits"], color="C1",
                    label="weight bits, KL / ln 2" if i == 0 else None)
        ax_bits.text(i, run["total_bits"] + 15, f"{run['total_bits']:.0f}", ha="center")
        ax_bits.text(i + 0.3, 20, f"plain net:\n{run['train_bits_plain']:.2f}\nmisfit bits", ha="center", fontsize=8)
    ax_bits.axhline(TRAINING_EXAMPLES * math.log2(10), color="k", linestyle="--", label="labels sent raw")
    ax_bits.set(xticks=range(len(runs)), xticklabels=[f"seed {run['seed']}" for run in runs], xlim=(-0.5, 2.7),
                ylim=(0, 900), ylabel="bits", title=f"Noisy net: description length of {TRAINING_EXAMPLES} labels")
    ax_bits.legend(fontsize=8, loc="upper center", ncol=2)
    history = runs[0]["history"]
    for name, label in (("misfit_bits", "misfit bits (one draw)"), ("weight_bits", "weight bits")):
        ax_curve.plot(history.steps(name), history.values(name), label=label)
    ax_curve.axvline(len(history.steps("loss")) // 2, color="k", linestyle=":", label="end of warm-up")
    ax_curve.set(xlabel="training step", ylabel="bits", yscale="log",
                 title=f"Noisy net during training, seed {runs[0]['seed']}")
    ax_curve.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
