r"""
---
title: "Adam: A Method for Stochastic Optimization"
summary: Adam written as a base optimizer class (moment estimates, bias correction, optional decoupled weight
  decay), equal to torch.optim.Adam and AdamW in float64, with the first steps' effective step size measured
  with and without bias correction.
---

# Adam: A Method for Stochastic Optimization

[Kingma, Ba, 2015. *Adam: A Method for Stochastic Optimization*. ICLR 2015](https://arxiv.org/abs/1412.6980)

Adam gives each parameter its own step size. It keeps two exponential moving averages of the gradient $g_t$:
the first moment $m_t$ (a momentum-like mean) and the second raw moment $v_t$ (the mean of $g_t^2$), and
steps along $m_t / \sqrt{v_t}$. The ratio has the units of a pure number, so the step in parameter space is
about the learning rate $\alpha$, whatever the scale of the gradient: a parameter with small, consistent
gradients moves as fast as one with large ones, and a parameter whose gradient keeps changing sign (so
$|m_t| \ll \sqrt{v_t}$) moves slowly.

Both averages start at zero, so in the first steps they are biased towards zero. The paper corrects this by
dividing by $1 - \beta^t$, the total weight the average has given to the gradients so far. The correction
matters most for $v_t$, whose $\beta_2 = 0.999$ forgets slowly: after 10 steps $v_t$ carries only 1% of its
final weight, and without correction the step $m_t / \sqrt{v_t}$ is inflated by up to
$(1 - \beta_1^t) / \sqrt{1 - \beta_2^t}$, more than six times the learning rate (Section 3 of the paper).

## What the experiment shows

The figure measures the effective step size $|\Delta\theta_t| / \alpha$ over the first 50 steps, with and
without bias correction, $\beta_1 = 0.9$, $\beta_2 = 0.999$, three seeds.

*Left: a stream of noisy gradients*, $g_t \sim \mathcal{N}(1, 0.5^2)$ independently for each of 1,000
parameters (the median over the parameters is plotted). With bias correction the step starts at exactly
$\alpha$ and settles near $0.89\,\alpha$, the ratio of the gradient's mean to its root mean square,
$1 / \sqrt{1 + 0.5^2}$: over the 50 steps it averages 0.91 of $\alpha$. Without correction the step starts at
$\sqrt{10}\,\alpha$, rises to 5.96 times $\alpha$ at step 11, and is still 4.04 times $\alpha$ at step 50.
The dashed line is the closed form for a constant gradient, $(1 - \beta_1^t) / \sqrt{1 - \beta_2^t}$, which
the noisy stream follows about 10% below (the noise adds $\sigma^2$ to $v_t$, the same factor as with
correction); the tests check the optimizer against the closed form exactly for a constant gradient.

*Right: a small real model*, a perceptron with one hidden layer of 64 units trained on the 8×8 digits with
$\alpha = 0.01$, the two arms sharing their initial weights and batches (mean $|\Delta\theta|$ over all
weights). Here the corrected steps are already well below $\alpha$ (as they are whenever a weight's gradients
vary in sign or size, so that $|\hat{m}_t| < \sqrt{\hat{v}_t}$, and as the weights on the few input pixels that
are constant in the training split, which get no gradient and never move; which cause dominates was not
measured), and
the uncorrected optimizer's first 50 steps are 3.34 times as large on average (3.25 to 3.43 over the seeds).

What the larger steps do to training is not the claim measured here. The paper reports that without the
correction training becomes unstable for $\beta_2$ close to 1 (its Section 6.4 and Figure 4, on a variational
auto-encoder). On this small problem at $\alpha = 0.01$ they did not hurt: after 50 steps the
training loss is 0.23 with correction (0.21 to 0.25) and 0.19 without (0.14 to 0.26), lower without on two seeds
of three. By the closed form above, the uncorrected optimizer in effect runs with a learning rate a few times
larger during its first few hundred steps (3.2 times at step 100, 2.0 at step 300; only the first 50 were
measured), which helps or hurts depending on whether that rate is too large; no learning-rate sweep was run
to separate the two.

![Effective step size with and without bias correction](results/adam.png)
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from labml import monit
from torch import nn

from papers.kit.checks import check_in_range, check_positive
from papers.kit.data import digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper


# ## Checking the hyper-parameters
#
# The learning rate $\alpha$ and $\epsilon$ must be positive, both $\beta$s in $[0, 1)$ ($\beta = 1$ would
# never let a gradient in, and with bias correction divide by zero), and the weight decay non-negative.
def check_adam_hyper_parameters(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    check_positive("lr", lr)
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    check_in_range("betas[0]", betas[0], 0, 1, high_open=True)
    check_in_range("betas[1]", betas[1], 0, 1, high_open=True)
    check_positive("eps", eps)
    check_in_range("weight_decay", weight_decay, 0, math.inf)


# ## The base optimizer
#
# A `torch.optim.Optimizer` holds the parameters in *groups*, each with its own hyper-parameters, and a
# `state` dictionary per parameter. This class does the bookkeeping every Adam-like optimizer shares: the
# loop over groups and parameters, the per-parameter state (the step count $t$, $m_t$ and $v_t$), and the
# decoupled weight decay. The update rule is the method [`update`](#update), which the papers that build on
# Adam (AMSGrad, on [its own page](amsgrad.py)) override in part.
#
# `bias_correction=False` switches the correction off, for the experiment below; it is not something to
# train with.
class Adam(torch.optim.Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, bias_correction: bool = True):
        check_adam_hyper_parameters(lr, betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "bias_correction": bias_correction}
        super().__init__(params, defaults)

    # The state of one parameter, created at its first step: $t = 0$, $m_0 = v_0 = 0$, shaped like it.
    def init_state(self, state: dict[str, Any], param: torch.Tensor) -> None:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    # `closure`, when given, re-evaluates the model and returns the loss, as in every PyTorch optimizer.
    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise ValueError("Adam does not support sparse gradients")
                state = self.state[param]
                if not state:
                    self.init_state(state, param)
                self.update(param, param.grad, state, group)
        return loss

    # <a id="update"></a>
    # ## The update
    #
    # One step for one parameter $\theta$ with gradient $g_t$ (any shape; every operation is element-wise):
    #
    # \begin{align}
    # m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
    # v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
    # \hat{m}_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat{v}_t = \frac{v_t}{1 - \beta_2^t} \\
    # \theta_t &= \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}
    # \end{align}
    #
    # Why $1 - \beta^t$: unrolled, $v_t = (1 - \beta_2) \sum_{i=1}^{t} \beta_2^{t-i} g_i^2$, so if $g_i^2$ has
    # a constant expectation, $\mathbb{E}[v_t] = (1 - \beta_2^t)\, \mathbb{E}[g^2]$: dividing by
    # $1 - \beta_2^t$ removes the bias that the zero start leaves.
    #
    # Two hooks let later papers change the denominator without copying the rest of the step:
    # [`update_second_moment`](#update_second_moment) keeps the running statistic of the gradients (here
    # $v_t$; AdaBelief's belief term $s_t$ replaces it), and [`second_moment`](#second_moment) chooses what
    # divides the step (here $v_t$ itself; AMSGrad's running maximum replaces it).
    #
    # *Weight decay* is decoupled, as in AdamW (Loshchilov & Hutter, 2019): the parameter shrinks by
    # $\alpha \lambda \theta_{t-1}$ before the Adam step, instead of $\lambda \theta$ being added to the
    # gradient (where Adam's normalisation would rescale it). With $\lambda = 0$, the default, this is the
    # paper's Adam.
    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        state["step"] += 1
        t = state["step"]
        exp_avg = state["exp_avg"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)  # m_t
        self.update_second_moment(state, grad, group)
        v = self.second_moment(state, group)
        if group["bias_correction"]:
            first_correction, second_correction = 1 - beta1 ** t, 1 - beta2 ** t
        else:
            first_correction = second_correction = 1.0
        denominator = (v / second_correction).sqrt_().add_(group["eps"])  # sqrt(v_hat) + eps
        if group["weight_decay"]:
            param.mul_(1 - group["lr"] * group["weight_decay"])
        param.addcdiv_(exp_avg, denominator, value=-group["lr"] / first_correction)

    # <a id="update_second_moment"></a>
    # Adam's running average of the squared gradient, $v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2$, updated
    # in place after $m_t$ (so an override may use $m_t$).
    def update_second_moment(self, state: dict[str, Any], grad: torch.Tensor, group: dict[str, Any]) -> None:
        beta2 = group["betas"][1]
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v_t

    # <a id="second_moment"></a>
    # Adam divides by its running average $v_t$ itself.
    def second_moment(self, state: dict[str, Any], group: dict[str, Any]) -> torch.Tensor:  # pylint: disable=unused-argument
        return state["exp_avg_sq"]


# ## The effective step size
#
# The measurement of the experiment: $|\Delta\theta_t| / \alpha$, element by element, for one step of an
# optimizer. The optimizer changes `params` in place; the function returns the change of each, divided by
# the learning rate of its group.
def step_sizes(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    before = [[p.detach().clone() for p in group["params"]] for group in optimizer.param_groups]
    optimizer.step()
    return [(p.detach() - old).abs() / group["lr"]
            for group, olds in zip(optimizer.param_groups, before) for p, old in zip(group["params"], olds)]


# For a constant gradient the answer is known in closed form: $m_t = (1 - \beta_1^t) g$ and
# $v_t = (1 - \beta_2^t) g^2$, so with $\epsilon \to 0$ the corrected step is exactly $\alpha$ and the
# uncorrected one is $\alpha (1 - \beta_1^t) / \sqrt{1 - \beta_2^t}$. The tests check the optimizer against
# this formula.
def uncorrected_constant_gradient_step(t: int, beta1: float, beta2: float) -> float:
    check_positive("t", t, integer=True)
    return (1 - beta1 ** t) / math.sqrt(1 - beta2 ** t)


# ### A stream of noisy gradients
#
# `parameters` independent scalar parameters each receive $g_t \sim \mathcal{N}(\mu, \sigma^2)$, not
# dependent on $\theta$ (the gradient of a linear loss with noisy slope). Returns the median over the
# parameters of $|\Delta\theta_t| / \alpha$ for each of `steps` steps: `[steps]`.
def stream_step_sizes(bias_correction: bool, steps: int, seed: int, parameters: int = 1000,
                      mean: float = 1.0, std: float = 0.5, betas: tuple[float, float] = (0.9, 0.999)) -> list[float]:
    check_positive("steps", steps, integer=True)
    generator = torch.Generator().manual_seed(seed)
    theta = torch.zeros(parameters, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=1e-3, betas=betas, bias_correction=bias_correction)
    sizes = []
    for _ in range(steps):
        theta.grad = mean + std * torch.randn(parameters, generator=generator, dtype=torch.float64)
        sizes.append(step_sizes(optimizer)[0].median().item())
    return sizes


# ### A small real model
#
# A perceptron with one hidden layer of 64 units on the 8×8 digits (flattened to 64 inputs), cross-entropy
# loss, mini-batches of 32. The two arms start from the same weights and see the same batches. Returns the
# mean over all weights of $|\Delta\theta_t| / \alpha$ per step (`[steps]`) and the training loss of the full
# training split after the last step.
def digits_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))


def model_step_sizes(bias_correction: bool, steps: int, seed: int, lr: float = 0.01) -> tuple[list[float], float]:
    check_positive("steps", steps, integer=True)
    train = digits().train
    model = digits_model(seed)
    optimizer = Adam(model.parameters(), lr=lr, bias_correction=bias_correction)
    generator = torch.Generator().manual_seed(seed)
    sizes = []
    for _ in range(steps):
        batch = torch.randint(len(train.y), (32,), generator=generator)
        optimizer.zero_grad()
        F.cross_entropy(model(train.x[batch]), train.y[batch]).backward()
        changes = step_sizes(optimizer)
        sizes.append((sum(c.sum() for c in changes) / sum(c.numel() for c in changes)).item())
    with torch.no_grad():
        loss = F.cross_entropy(model(train.x), train.y).item()
    return sizes, loss


# ## The experiment
#
# Both measurements, with and without bias correction, over three seeds.
STEPS = 50


def experiment(config: RunConfig) -> Outcome:
    seeds = list(range(config.seed, config.seed + 3))
    steps = config.train_steps(full=STEPS, quick=STEPS)
    runs = []
    for seed in monit.iterate("seeds", seeds):
        run = {"seed": seed}
        for arm, corrected in (("with", True), ("without", False)):
            run[f"stream_{arm}"] = stream_step_sizes(corrected, steps, seed)
            run[f"model_{arm}"], run[f"loss_{arm}"] = model_step_sizes(corrected, steps, seed)
        runs.append(run)
    metrics = _metrics(runs, steps)
    return Outcome(_headline(metrics), metrics, {"": _figure(runs)})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _per_step_mean(runs: list[dict], key: str) -> list[float]:
    return [_mean([run[key][t] for run in runs]) for t in range(len(runs[0][key]))]


def _metrics(runs: list[dict], steps: int) -> dict:
    stream_without = _per_step_mean(runs, "stream_without")
    peak = max(range(steps), key=lambda t: stream_without[t])
    per_seed = {
        "stream_mean_with": {r["seed"]: _mean(r["stream_with"]) for r in runs},
        "stream_mean_without": {r["seed"]: _mean(r["stream_without"]) for r in runs},
        "model_mean_with": {r["seed"]: _mean(r["model_with"]) for r in runs},
        "model_mean_without": {r["seed"]: _mean(r["model_without"]) for r in runs},
        "model_ratio": {r["seed"]: _mean(r["model_without"]) / _mean(r["model_with"]) for r in runs},
        "loss_with": {r["seed"]: r["loss_with"] for r in runs},
        "loss_without": {r["seed"]: r["loss_without"] for r in runs},
    }
    metrics: dict = {"steps": steps, "seeds": [r["seed"] for r in runs],
                     "stream_peak_without": round(stream_without[peak], 2), "stream_peak_step": peak + 1,
                     "stream_last_without": round(stream_without[-1], 2),
                     "stream_with_by_step": [round(v, 3) for v in _per_step_mean(runs, "stream_with")],
                     "stream_without_by_step": [round(v, 3) for v in stream_without]}
    for key, values in per_seed.items():
        metrics[key] = over_seeds(values)
    return metrics


def _headline(metrics: dict) -> str:
    return (f"Over the first {metrics['steps']} steps with beta2 = 0.999, the step is about the learning rate "
            f"with bias correction and up to {metrics['stream_peak_without']:.2f} times it without "
            f"(noisy gradient stream); on a digits MLP the uncorrected steps are "
            f"{metrics['model_ratio']['mean']:.2f} times as large on average (3 seeds).")


def _figure(runs: list[dict]) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    steps = range(1, len(runs[0]["stream_with"]) + 1)
    titles = {"stream": "Noisy gradient stream (median over 1,000 parameters)",
              "model": "Digits MLP (mean over all weights)"}
    for ax, (kind, title) in zip(axes, titles.items()):
        for run in runs:
            for arm, color in (("with", "C0"), ("without", "C3")):
                ax.plot(steps, run[f"{kind}_{arm}"], color=color, alpha=0.7,
                        label=f"{arm} bias correction" if run is runs[0] else None)
        ax.axhline(1.0, color="gray", linestyle=":", linewidth=0.8)
        ax.set(xlabel="step $t$", ylabel=r"$|\Delta\theta_t| / \alpha$", title=title)
        ax.legend()
    t = torch.arange(1, len(steps) + 1, dtype=torch.float64)
    axes[0].plot(t, (1 - 0.9 ** t) / (1 - 0.999 ** t).sqrt(), "k--", linewidth=0.8,
                 label=r"$(1-\beta_1^t)/\sqrt{1-\beta_2^t}$")
    axes[0].legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
