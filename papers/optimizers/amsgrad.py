r"""
---
title: "On the Convergence of Adam and Beyond (AMSGrad)"
summary: AMSGrad as a one-method change to the Adam base class, equal to torch.optim.Adam(amsgrad=True) in
  float64, on Reddi et al.'s counter-example where Adam converges to the worst point of [-1, 1] and AMSGrad
  to the best, online and stochastic.
---

# On the Convergence of Adam and Beyond (AMSGrad)

[Reddi, Kale, Kumar, 2018. *On the Convergence of Adam and Beyond*. ICLR 2018](https://arxiv.org/abs/1904.09237)

Adam's step divides by $\sqrt{v_t}$, an exponential moving average of squared gradients. The paper shows
that this average *forgets* too fast for Adam to converge: a rare large gradient that carries the useful
information raises $v_t$ for a few steps only, and the many small gradients that follow, divided by a
$\sqrt{v_t}$ that has shrunk again, take large steps the wrong way. Section 3 builds a one-dimensional online
convex problem on which Adam converges to the *worst* point of the feasible set, with average regret bounded
away from zero (Theorem 1), and extends it to a stochastic problem (Theorem 3). The cause, in the paper's
words, is that the quantity
$\Gamma_{t+1} = \sqrt{v_{t+1}} / \alpha_{t+1} - \sqrt{v_t} / \alpha_t$ can be negative: the effective step
size $\alpha_t / \sqrt{v_t}$ is not monotone. AMSGrad divides by the running maximum of $v_t$ instead, which
makes the effective step size non-increasing and restores the $O(\sqrt{T})$ regret bound of the convex
analysis.

## What the experiment shows

![Iterate, average regret and effective rate, online (top) and stochastic (bottom)](results/amsgrad.png)

*Online (top row)*, the counter-example of Section 3 with $C = 3$, $\beta_1 = 0$, $\beta_2 = 1/(1 + C^2) = 0.1$,
$\alpha_t = 0.5 / \sqrt{t}$, 30,000 steps, projected onto $[-1, 1]$. This run is deterministic, so there are no
seeds. Adam climbs to $x = +1$ within the first few dozen steps and stays there; its average regret $R_T / T$ is 0.669,
against $(2C - 4)/3 = 2/3$ for an iterate that sits at $+1$. AMSGrad goes to $x = -1$ and its average regret
falls to 0.004 (0.0035 recorded). The right panel measures the explanation: AMSGrad's effective rate
$\alpha_t / \sqrt{\hat{v}_t}$ never rises (its largest rebound above an earlier low is 1.0, i.e. none), while
Adam's rises again each time the large gradient fades from $v_t$, up to 2.8 times above an earlier low.

*Stochastic (bottom row)*, the paper's Section 5 version: $f_t(x) = 1010\,x$ with probability 0.01, else
$-10\,x$ (expected loss $0.2\,x$, optimum $-1$), with our choice of $\beta_1 = 0.9$, $\beta_2 = 0.99$ and
$\alpha_t = 2/\sqrt{t}$ (one value, not tuned, the same for both), 150,000 steps, three seeds; the regret
plotted is that of the expected loss, $0.2\,(x_t + 1)$. Both start by running to $+1$ (the large gradient
comes once in a hundred steps on average). After that Adam drifts back to $+1$: its final iterate averages 0.95
(0.88 to 1.00) and its average regret 0.37 (0.37 to 0.38), close to the 0.4 of sitting at $+1$. AMSGrad ends at $-0.66$
on average ($-0.97$ to $-0.18$) with average regret 0.17 (0.12 to 0.23), lower than Adam's on every seed; its
effective rate again never rises, while Adam's rebounds to 17 to 19 times an earlier low. So the stochastic
claim holds in direction but **not to convergence at this length**: AMSGrad's iterate still wanders (one seed is
at $-0.18$ at the end), and its average regret is not near 0 and is *rising* at the end on every seed (the
figure). The paper's convergence guarantee for AMSGrad (its Theorem 4) also assumes a decaying $\beta_{1t}$;
this run keeps $\beta_1 = 0.9$ constant. The paper's Figure 1 shows far longer runs; we
ran 150,000 to keep the run near a minute of CPU time.

*Differences from the paper.* The experiment runs the paper's Algorithm 2 without bias correction, as the paper
writes it; the optimizer's default (bias correction on) is PyTorch's `amsgrad=True`, which the tests check it
against. The paper's projection is in the norm weighted by $\sqrt{\hat{v}_t}$, which in one dimension is plain
clipping. The online problem is the one of Theorem 1's proof; the online panel of the paper's Figure 1 uses, as we
read it, a variant with larger constants ($1010\,x$ once every 101 steps, else $-10\,x$), which we did not run."""
from __future__ import annotations

import math
from typing import Any, Callable

import matplotlib.pyplot as plt
import torch
from labml import monit

from papers.kit.checks import check_in_range, check_positive
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.optimizers.adam import Adam


# ## AMSGrad
#
# Adam divides its step by $\sqrt{v_t}$, an exponential moving average that *forgets*: a rare large gradient
# raises $v_t$ for a while, then $v_t$ decays and the step size grows again. AMSGrad keeps the largest
# second moment seen so far,
#
# $$\hat{v}_t = \max(\hat{v}_{t-1}, v_t), \qquad
# \theta_t = \theta_{t-1} - \alpha_t \frac{m_t}{\sqrt{\hat{v}_t} + \epsilon},$$
#
# so the per-coordinate step size $\alpha_t / \sqrt{\hat{v}_t}$ never grows while $\alpha_t$ does not (without bias
# correction: with PyTorch's correction the maximum is divided by a growing $1 - \beta_2^t$, and the rate can
# rise by up to a factor $1 / \sqrt{1 - \beta_2}$). That is
# the one change to [Adam](adam.py): one more state tensor, and [`second_moment`](adam.py#second_moment)
# returns the running maximum instead of $v_t$. Everything else, the moments and the optional bias correction
# and weight decay, is inherited.
#
# With bias correction on (the default, as in `torch.optim.Adam(amsgrad=True)`), the maximum is taken of the
# uncorrected $v_t$ and then divided by $1 - \beta_2^t$, as PyTorch does. The paper's Algorithm 2 has no bias
# correction; the experiment below runs it that way (`bias_correction=False`).
class AMSGrad(Adam):
    def init_state(self, state: dict[str, Any], param: torch.Tensor) -> None:
        super().init_state(state, param)
        state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def second_moment(self, state: dict[str, Any], group: dict[str, Any]) -> torch.Tensor:
        return torch.maximum(state["max_exp_avg_sq"], state["exp_avg_sq"], out=state["max_exp_avg_sq"])


# The per-coordinate step size after a step, $\alpha_t / (\sqrt{\hat{v}_t} + \epsilon)$ (without bias
# correction, as the experiment runs): the quantity AMSGrad keeps non-increasing. For Adam $\hat{v}_t = v_t$.
def effective_rate(optimizer: Adam, param: torch.Tensor) -> torch.Tensor:
    group = next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))
    second = optimizer.state[param]["max_exp_avg_sq" if isinstance(optimizer, AMSGrad) else "exp_avg_sq"]
    return group["lr"] / (second.sqrt() + group["eps"])


# ## The counter-example
#
# Online convex optimisation on the feasible set $\mathcal{F} = [-1, 1]$: at each step $t$ the learner plays
# $x_t$, then sees a linear loss
#
# $$f_t(x) = \begin{cases} C x & t \bmod 3 = 1 \\ -x & \text{otherwise} \end{cases}, \qquad C > 2.$$
#
# Over three steps the losses sum to $(C - 2)\, x$, so the best fixed point is $x^* = -1$. Every third
# gradient is large and points the right way; the other two are small and point the wrong way. The *regret*
# is $R_T = \sum_{t=1}^{T} f_t(x_t) - f_t(x^*)$; an algorithm converges when $R_T / T \to 0$.
#
# Theorem 1 of the paper runs Adam with $\beta_1 = 0$, $\beta_2 = 1 / (1 + C^2)$ and $\alpha_t = \alpha / \sqrt{t}$:
# $v_t$ then forgets the large gradient $C$ so fast that the two small steps up, each divided by a small
# $\sqrt{v_t}$, outweigh the one large step down, each cycle of three.
def online_gradient(t: int, big: float) -> float:
    return big if t % 3 == 1 else -1.0


# The paper's stochastic version (its Section 5): $f_t(x) = 1010\, x$ with probability $0.01$, else
# $-10\, x$. The expected loss is $(10.1 - 9.9)\, x = 0.2\, x$, again minimised at $x^* = -1$. `[runs]`
# independent gradients, one per run packed side by side (the optimizers are element-wise, so packed runs do
# not interact).
STOCHASTIC_BIG, STOCHASTIC_SMALL, STOCHASTIC_P = 1010.0, -10.0, 0.01
STOCHASTIC_MEAN = STOCHASTIC_P * STOCHASTIC_BIG + (1 - STOCHASTIC_P) * STOCHASTIC_SMALL  # 0.2


def stochastic_gradient(generator: torch.Generator, runs: int) -> torch.Tensor:
    rare = torch.rand(runs, generator=generator, dtype=torch.float64) < STOCHASTIC_P
    return torch.where(rare, STOCHASTIC_BIG, STOCHASTIC_SMALL).to(torch.float64)  # [runs]


# ## Projected online updates
#
# Each step: record the loss, take the optimizer's step with $\alpha_t = \alpha / \sqrt{t}$, and project back
# onto $[-1, 1]$. (The paper projects in the norm weighted by $\sqrt{\hat{v}_t}$; in one dimension that is the
# same clipping.) The regret of a linear loss is $g_t (x_t - x^*) = g_t (x_t + 1)$; in the stochastic case
# the *expected* loss's regret, $0.2\,(x_t + 1)$, is recorded, which has the same expectation and less noise.
# Returns, at `checkpoints` (steps), the iterate, the average regret $R_t / t$ and the effective rate, each
# `[checkpoints, runs]`, and the effective rate's largest *rebound* `[runs]`: the largest factor by which it
# rose above its lowest value so far, $\max_t \eta_t / \min_{s \le t} \eta_s$ (1 for a non-increasing rate).
def online_run(optimizer_class: type[Adam], gradient: Callable[[int], torch.Tensor], runs: int, steps: int,
               betas: tuple[float, float], alpha: float, checkpoints: list[int],
               regret_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    check_positive("steps", steps, integer=True)
    check_positive("alpha", alpha)
    x = torch.zeros(runs, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([x], lr=alpha, betas=betas, bias_correction=False)
    regret = torch.zeros(runs, dtype=torch.float64)
    lowest_rate = torch.full((runs,), math.inf, dtype=torch.float64)
    rebound = torch.ones(runs, dtype=torch.float64)
    record: dict[str, list[torch.Tensor]] = {"x": [], "average_regret": [], "rate": []}
    for t in monit.loop(range(1, steps + 1)):
        g = gradient(t)  # [runs]
        regret += regret_of(g, x.detach())
        optimizer.param_groups[0]["lr"] = alpha / math.sqrt(t)
        x.grad = g
        optimizer.step()
        with torch.no_grad():
            x.clamp_(-1.0, 1.0)
        rate = effective_rate(optimizer, x)
        lowest_rate = torch.minimum(lowest_rate, rate)
        rebound = torch.maximum(rebound, rate / lowest_rate)
        if t in checkpoints:
            for key, value in (("x", x.detach()), ("average_regret", regret / t), ("rate", rate)):
                record[key].append(value.clone())
    return {**{key: torch.stack(values) for key, values in record.items()}, "max_rate_rebound": rebound}


def online_regret(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return g * (x + 1)


def expected_regret(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # pylint: disable=unused-argument
    return STOCHASTIC_MEAN * (x + 1)


# About 40 log-spaced checkpoints up to `steps`.
def log_checkpoints(steps: int) -> list[int]:
    check_positive("steps", steps, integer=True)
    return sorted({int(round(10 ** (i * math.log10(steps) / 40))) for i in range(41)})


# ## The experiment
#
# Online: $C = 3$, $\beta_1 = 0$, $\beta_2 = 1 / (1 + C^2) = 0.1$, $\alpha = 0.5$ (the theorem asks for
# $\alpha < \sqrt{1 - \beta_2}$), deterministic, so one run each. Stochastic: $\beta_1 = 0.9$,
# $\beta_2 = 0.99$, $\alpha = 2$, three seeds.
ONLINE_C = 3.0
ONLINE_ALPHA = 0.5
STOCHASTIC_BETAS = (0.9, 0.99)
STOCHASTIC_ALPHA = 2.0


def check_online_c(big: float) -> None:
    check_in_range("C", big, 2, math.inf, low_open=True)


def online_experiment(optimizer_class: type[Adam], steps: int, big: float = ONLINE_C) -> dict[str, torch.Tensor]:
    check_online_c(big)
    return online_run(optimizer_class, lambda t: torch.tensor([online_gradient(t, big)], dtype=torch.float64), 1,
                      steps, (0.0, 1 / (1 + big ** 2)), ONLINE_ALPHA, log_checkpoints(steps), online_regret)


def stochastic_experiment(optimizer_class: type[Adam], steps: int, seeds: list[int]) -> dict[str, torch.Tensor]:
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def gradient(_: int) -> torch.Tensor:
        return torch.cat([stochastic_gradient(generator, 1) for generator in generators])

    return online_run(optimizer_class, gradient, len(seeds), steps, STOCHASTIC_BETAS, STOCHASTIC_ALPHA,
                      log_checkpoints(steps), expected_regret)


def experiment(config: RunConfig) -> Outcome:
    online_steps = config.train_steps(full=30_000, quick=3_000)
    stochastic_steps = config.train_steps(full=150_000, quick=20_000)
    seeds = list(range(config.seed, config.seed + 3))
    online = {name: online_experiment(cls, online_steps) for name, cls in (("adam", Adam), ("amsgrad", AMSGrad))}
    stochastic = {name: stochastic_experiment(cls, stochastic_steps, seeds)
                  for name, cls in (("adam", Adam), ("amsgrad", AMSGrad))}
    metrics = _metrics(online, stochastic, online_steps, stochastic_steps, seeds)
    figure = _figure(online, stochastic, log_checkpoints(online_steps), log_checkpoints(stochastic_steps))
    return Outcome(_headline(metrics), metrics, {"": figure})


def _metrics(online: dict, stochastic: dict, online_steps: int, stochastic_steps: int, seeds: list[int]) -> dict:
    metrics: dict = {"online_steps": online_steps, "stochastic_steps": stochastic_steps, "seeds": seeds,
                     "online_c": ONLINE_C, "stochastic_alpha": STOCHASTIC_ALPHA}
    for name, run in online.items():
        metrics[f"online_{name}_final_x"] = round(run["x"][-1, 0].item(), 4)
        metrics[f"online_{name}_average_regret"] = round(run["average_regret"][-1, 0].item(), 4)
        metrics[f"online_{name}_max_rate_rebound"] = round(run["max_rate_rebound"][0].item(), 4)
    for name, run in stochastic.items():
        for key, values in (("final_x", run["x"][-1]), ("average_regret", run["average_regret"][-1]),
                            ("max_rate_rebound", run["max_rate_rebound"])):
            metrics[f"stochastic_{name}_{key}"] = over_seeds(dict(zip(seeds, values.tolist())))
    return metrics


def _headline(metrics: dict) -> str:
    return (f"Online counter-example (C = 3, {metrics['online_steps']} steps): Adam ends at x = "
            f"{metrics['online_adam_final_x']:.2f} with average regret {metrics['online_adam_average_regret']:.3f}, "
            f"AMSGrad at x = {metrics['online_amsgrad_final_x']:.2f} with "
            f"{metrics['online_amsgrad_average_regret']:.3f}; stochastic ({metrics['stochastic_steps']} steps, "
            f"3 seeds): mean x = {metrics['stochastic_adam_final_x']['mean']:.2f} for Adam, "
            f"{metrics['stochastic_amsgrad_final_x']['mean']:.2f} for AMSGrad (optimum -1).")


def _figure(online: dict, stochastic: dict, online_steps: list[int], stochastic_steps: list[int]) -> plt.Figure:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for row, (setting, runs, steps) in enumerate((("online", online, online_steps),
                                                  ("stochastic", stochastic, stochastic_steps))):
        for name, color in (("adam", "C3"), ("amsgrad", "C0")):
            label = "Adam" if name == "adam" else "AMSGrad"
            for column, key in enumerate(("x", "average_regret", "rate")):
                axes[row, column].plot(steps, runs[name][key].numpy(), color=color, alpha=0.8,
                                       label=[label] + [None] * (runs[name][key].shape[1] - 1))
        axes[row, 0].set(ylabel=f"{setting}: iterate $x_t$", ylim=(-1.1, 1.1))
        axes[row, 1].set(ylabel=f"{setting}: average regret $R_t / t$")
        axes[row, 2].set(ylabel=rf"{setting}: effective rate $\alpha_t / \sqrt{{\hat v_t}}$", yscale="log")
        for ax in axes[row]:
            ax.set(xscale="log", xlabel="step $t$")
            ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
