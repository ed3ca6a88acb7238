r"""
---
title: "AdaBelief: Adapting Stepsizes by the Belief in Observed Gradients"
summary: AdaBelief as a small extension of the shared Adam base (the EMA of (g - m)^2 in place of g^2), equal to
  labml-nn's AdaBelief in float64, run on the paper's 2-D toy functions against Adam and SGD with momentum (faster
  than Adam at equal learning rates up to 0.1, but not the fastest once each is tuned), and slightly ahead of Adam
  on a small character transformer with each learning rate swept, by less than the noise between seeds once
  Adam's epsilon matches AdaBelief's.
---

# AdaBelief: Adapting Stepsizes by the Belief in Observed Gradients

[Zhuang et al., 2020. *AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients*.
NeurIPS 2020](https://arxiv.org/abs/2010.07468)

Adam divides its step by $\sqrt{v_t}$, a running average of $g_t^2$: a large gradient means a small step.
AdaBelief divides instead by the running average of $(g_t - m_t)^2$, how far the observed gradient $g_t$ lands
from its *prediction* $m_t$, the momentum. When the gradient is what the optimizer expected (it "believes" the
observation) the denominator is small and the step is large; when the gradient surprises it, the step is small.
It is a one-line change to [Adam](adam.py)'s update, made in the base's hook for the second moment; the rest
(the hyper-parameter checks, the loop over parameters, bias correction, $\epsilon$, decoupled weight decay) is
Adam's.

The paper motivates the change with three kinds of region on a loss curve (its Figure 1):

1. *flat* ($|g_t|$ small, small curvature): the ideal optimizer takes a large step. Adam does ($v_t$ is small);
   so does AdaBelief ($g_t - m_t$ is small too).
2. *steep and curved* ($|g_t|$ large, large curvature, the gradient changes fast): the ideal step is small.
   Adam's $v_t$ is large, so its step is small; AdaBelief's $|g_t - m_t|$ is large, so its step is small too.
3. *steep but straight* ($|g_t|$ large, small curvature: a long constant slope): the ideal step is large. Adam's
   $v_t$ is large and its step is *small*, about $\alpha$ whatever the slope; AdaBelief's $g_t - m_t$ shrinks as
   the momentum catches up with a constant gradient, and its step *grows*. This is the case where the two
   differ.

## What the experiment shows

![Trajectories on the 2-D toy functions](results/adabelief.png)

*Toy functions (the figure above).* The paper's Figure 3 runs SGD, Adam and AdaBelief on five 2-D functions;
as far as we can tell from its captions, $f = |x| + |y|$, $|x + y| + |x - y|/10$, $(x + y)^2 + (x - y)^2/10$,
Beale's function and Rosenbrock's. We run all three optimizers from the same start for 3,000 steps with
$\beta_1 = 0.9$, $\beta_2 = 0.999$ (SGD: PyTorch's, momentum 0.9), each optimizer's learning rate swept over the
same grid of nine values, $10^{-4}, 3 \times 10^{-4}, \dots, 1$, and report each at its best: the step from which
the path stays within 0.1 of the minimum to the end of the run (fewest steps wins; a path that only flies
through the neighbourhood has not settled). The starting points (black dots), the grid and the radius are ours;
the paper does not state its learning rates in what we read. These runs are deterministic, so there are no seeds.
Steps to settle, with the best learning rate in brackets (3,001 would mean never):

| function | SGD + momentum | Adam | AdaBelief |
|---|---|---|---|
| $\lvert x \rvert + \lvert y \rvert$ | 53 (0.01) | 47 (0.1) | **40 (0.1)** |
| $\lvert x + y \rvert + \lvert x - y \rvert / 10$ | 77 (0.01) | **45 (0.3)** | 72 (0.1) |
| $(x + y)^2 + (x - y)^2 / 10$ | **54 (0.01)** | 56 (1) | 62 (0.3) |
| Beale | **77 (0.003)** | 90 (0.3) | 80 (0.3) |
| Rosenbrock | **518 (0.001)** | 1006 (0.3) | 960 (0.3) |

So the paper's "fastest in all cases" (its Figure 3) **does not hold** once each optimizer has its own best
learning rate: AdaBelief settles first on one function of five, tuned SGD with momentum on three, Adam on one.
The count itself depends on our choices. From the same paths, AdaBelief settles first (or tied) on 1 of 5 at
radius 0.1 (the table), 3 of 5 at radius 0.03 and 2 of 5 at radius 0.01 (all recorded); the referee's re-runs,
not recorded here, found 2 of 5 with a 25-point logarithmic grid from $10^{-4}$ to 1, and 3 of 5 from other
starting points. What holds in every variant is only that AdaBelief is not the fastest on all five.

What does hold is the comparison with Adam *at the same learning rate*, up to 0.1. In 21 of the 35 cells (five
functions, seven rates) at least one of the two settles, and there AdaBelief settles 1.07 to 6.5 times sooner
(median 1.46; 3 or more times in 3 of 21 cells, all on $\lvert x \rvert + \lvert y \rvert$, for instance 367
steps against 2,401 at $10^{-3}$; where Adam never settles its 3,001 counts as a lower bound); in 14 of the 35
cells neither settles within the run. At the largest rates AdaBelief is the less stable of the two: at 0.3 on
$\lvert x + y \rvert + \lvert x - y \rvert / 10$ it settles only at step 2,995 (Adam at 45), and at 1 on the
quadratic it never settles (Adam at 56). That is why Adam beats AdaBelief in those two rows, but not the whole
reason: on the quadratic Adam is ahead at the shared rate 0.3 as well, 57 against 62 steps.

*The paper's third case, measured.* On $\lvert x \rvert + \lvert y \rvert$ the gradient is constant until the path
reaches a kink. With $\alpha = 10^{-3}$ for both, the length of the step divided by $\alpha$ is 1.414 for Adam at
steps 1, 10, 100 and 300 ($\sqrt{2}$: $\alpha$ per coordinate, whatever the slope), while AdaBelief's grows from
1.571 at step 1 to 2.313, 7.008 and 9.14 at steps 10, 100 and 300, as $m_t$ catches up with the constant
$g_t$ and $s_t$ decays. (SGD with momentum also speeds up on the slope, from 1.414 to 14.142 by step 100:
momentum alone multiplies a constant gradient's step by up to $1 / (1 - 0.9) = 10$.)

*A small language model (second figure).* [The shared small transformer](../kit/char_transformer.py) on
Shakespeare ($d_{\text{model}} = 32$, two pre-norm layers of four heads, $d_{\text{ff}} = 128$, windows of
32 characters, batches of 16, 600 steps at a constant learning rate, no clipping), three arms: AdaBelief with
$\epsilon = 10^{-16}$ (the official implementation's default), Adam with $\epsilon = 10^{-8}$ (PyTorch's default),
and Adam with $\epsilon = \sqrt{10^{-16} / (1 - 0.999)} \approx 3.2 \times 10^{-7}$, the floor that AdaBelief's
$\epsilon$ puts under its denominator (see [where $\epsilon$ goes](#adabelief)), so that the two add the same
amount to the denominator where the statistic is near zero. We could not find which $\epsilon$ the paper's Adam
baselines used. Each arm's learning rate is swept over the same grid
$\{2 \times 10^{-3}, 5 \times 10^{-3}, 10^{-2}\}$, three seeds (a seed's runs share their initial weights
and batches), and the validation loss after the last step is compared at each arm's best rate. All three do
best at $\alpha = 5 \times 10^{-3}$, inside the grid. There the validation loss is
2.378 nats per character for AdaBelief (2.355 to 2.395 over the seeds),
2.393 for Adam at $\epsilon = 10^{-8}$ (2.364 to 2.412) and 2.398 for Adam at the matched $\epsilon$ (2.377 to
2.436). Against the default Adam, AdaBelief is lower on every seed, by 0.009 to 0.019 (mean difference -0.015).
Against the matched Adam the mean difference is -0.020, but the seeds disagree: -0.051, -0.027 and +0.019, so
that gap is no larger than the noise between seeds. (The referee's runs at $3 \times 10^{-3}$, not recorded here,
gave the same picture: changing Adam's $\epsilon$ from $10^{-8}$ to $3.2 \times 10^{-7}$ moved Adam from 2.400 to
2.391, and AdaBelief, at 2.384, stayed ahead by 0.002 to 0.013 per seed.) So the gain is small, under 1% of the
loss and smaller than the spread between seeds, part of it may come from $\epsilon$ rather than from the belief
term, and it is the best of a coarse grid after 600 steps. The best rate is also chosen on the same validation
windows that are then reported, for every arm, so each arm's best is slightly optimistic. Off the best rate
AdaBelief is behind both Adams: 2.417 against 2.408 and 2.407 at $2 \times 10^{-3}$, and 2.470 against 2.432 and
2.431 at $10^{-2}$, so in this run its good range of learning rates is narrower. No run diverged. Why AdaBelief is
ahead at its best was not measured here (the slope case above is one candidate, not shown to be the one at work).
The tests check the slope measurement and the optimizer; the language-model comparison is checked only against
this recorded run, as a reduced-scale control does not fit in the tests' time.

![Language model: learning-rate sweep and curves at each optimizer's best](results/adabelief-lm.png)

*Differences from the paper.* The paper's claims are about ImageNet, CIFAR, Penn Treebank and GANs with their
tuned schedules; this is a CPU miniature of about two minutes. The official package's later versions, and
labml-nn's class, switch on rectification (RAdam's warm-up) by default; this page runs plain AdaBelief, the paper's
Algorithm 2, without weight decay and without a learning-rate schedule.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import matplotlib.pyplot as plt
import numpy as np
import torch
from labml import monit

from papers.kit.char_transformer import LMSettings, build_model, train_lm
from papers.kit.checks import check_positive
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.optimizers.adam import Adam


# <a id="adabelief"></a>
# ## AdaBelief
#
# The paper's Algorithm 2, for one parameter $\theta$ with gradient $g_t$ (element-wise, any shape):
#
# \begin{align}
# m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
# s_t &= \beta_2 s_{t-1} + (1 - \beta_2)\, (g_t - m_t)^2 + \epsilon \\
# \hat{m}_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat{s}_t = \frac{s_t}{1 - \beta_2^t} \\
# \theta_t &= \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{s}_t} + \epsilon}
# \end{align}
#
# Only the second line differs from [Adam's update](adam.py#update): $(g_t - m_t)^2$ in place of $g_t^2$, with
# the *current* momentum $m_t$ (not bias-corrected), as the paper writes it. $s_t$ is an estimate of the
# variance of the gradient around its running mean, where $v_t$ estimated its raw second moment.
#
# *Where $\epsilon$ goes.* The paper adds $\epsilon$ *inside* the running average, every step, and again outside
# the square root; the official implementation does the same (it adds $\epsilon$ to its state in place). We
# follow that. Unrolled from $s_0 = 0$, the $\epsilon$ terms inside sum to a constant after bias correction:
#
# $$\hat{s}_t = \frac{(1 - \beta_2) \sum_{i=1}^{t} \beta_2^{t-i} (g_i - m_i)^2}{1 - \beta_2^t}
#   + \frac{\epsilon}{1 - \beta_2},$$
#
# so the floor under $\hat{s}_t$ is $\epsilon / (1 - \beta_2)$, a thousand times $\epsilon$ for
# $\beta_2 = 0.999$ (the tests check this closed form). labml-nn's AdaBelief instead adds $\epsilon$ once, to the
# stored average before the correction, $\hat{s}_t = (s_t + \epsilon) / (1 - \beta_2^t)$ with no $\epsilon$ in
# the recursion; the two agree as $\epsilon \to 0$, and the tests compare them there. labml-nn's class is
# RAdam's subclass: for plain AdaBelief the tests pass `rectify=False`, `amsgrad=False` and
# `degenerate_to_sgd=False`. Its constructor hands these on to RAdam's one position off (`amsgrad` becomes
# `optimized_update`, `degenerate_to_sgd` becomes `amsgrad`), so with its defaults it keeps AMSGrad's running
# maximum of $s_t$; with both False it is the textbook update, which is what the tests compare against.
#
# The default $\epsilon = 10^{-16}$ is the official implementation's. It sits under the square root, where
# Adam's $10^{-8}$ sits outside it, and by the closed form above its floor under $\sqrt{\hat{s}_t}$ is
# $\sqrt{\epsilon / (1 - \beta_2)} \approx 3.2 \times 10^{-7}$ for $\beta_2 = 0.999$, 32 times Adam's $10^{-8}$:
# the rule of thumb $\epsilon_{\text{AdaBelief}} = \epsilon_{\text{Adam}}^2$ (the author's, in the official
# repository's [issue 38](https://github.com/juntang-zhuang/Adabelief-Optimizer/issues/38)) counts $\epsilon$
# once, not once per step. The language model below runs Adam at both $\epsilon$s.
class AdaBelief(Adam):
    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: float = 0.0, bias_correction: bool = True):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         bias_correction=bias_correction)

    # The state: $t = 0$, $m_0 = s_0 = 0$. There is no $v_t$.
    def init_state(self, state: dict[str, Any], param: torch.Tensor) -> None:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_var"] = torch.zeros_like(param, memory_format=torch.preserve_format)

    # The one change, in the base's hook [`update_second_moment`](adam.py#update_second_moment), which Adam's
    # update calls right after it has updated $m_t$ (`state["exp_avg"]`): the running average of
    # $(g_t - m_t)^2$, with $\epsilon$ added inside, every step. The rest of the step (bias correction,
    # $\sqrt{\hat{s}_t} + \epsilon$, weight decay) is Adam's, unchanged.
    def update_second_moment(self, state: dict[str, Any], grad: torch.Tensor, group: dict[str, Any]) -> None:
        beta2 = group["betas"][1]
        residual = grad - state["exp_avg"]  # g_t - m_t
        state["exp_avg_var"].mul_(beta2).addcmul_(residual, residual, value=1 - beta2).add_(group["eps"])  # s_t

    # And the step divides by $s_t$ where Adam's divides by $v_t$ (the hook [`second_moment`](adam.py#second_moment)).
    def second_moment(self, state: dict[str, Any], group: dict[str, Any]) -> torch.Tensor:  # pylint: disable=unused-argument
        return state["exp_avg_var"]


# ## The toy functions
#
# Each takes points `[..., 2]` and returns `[...]`. Their minima: the origin for the first three, $(3, 0.5)$
# for Beale's function, $(1, 1)$ for Rosenbrock's. The first two are not differentiable on lines through the
# minimum: their gradients have a constant size on each side, and the minimum is a kink.
def abs_sum(p: torch.Tensor) -> torch.Tensor:
    return p[..., 0].abs() + p[..., 1].abs()


def abs_tilted(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (x + y).abs() + (x - y).abs() / 10


def quadratic_tilted(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (x + y) ** 2 + (x - y) ** 2 / 10


def beale(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


# Name, function, starting point, minimum and the box the figure shows.
TOYS: list[tuple[str, Callable[[torch.Tensor], torch.Tensor], tuple[float, float], tuple[float, float], float]] = [
    ("|x| + |y|", abs_sum, (-2.5, 1.5), (0.0, 0.0), 3.0),
    ("|x + y| + |x - y| / 10", abs_tilted, (2.5, 1.0), (0.0, 0.0), 3.0),
    ("(x + y)² + (x - y)² / 10", quadratic_tilted, (2.5, 1.0), (0.0, 0.0), 3.0),
    ("Beale", beale, (1.0, 1.5), (3.0, 0.5), 4.0),
    ("Rosenbrock", rosenbrock, (-2.0, 2.0), (1.0, 1.0), 3.0),
]
OPTIMIZERS: dict[str, Callable[[list[dict]], torch.optim.Optimizer]] = {
    "SGD+momentum": lambda groups: torch.optim.SGD(groups, lr=1e-3, momentum=0.9),
    "Adam": lambda groups: Adam(groups, eps=1e-8),
    "AdaBelief": lambda groups: AdaBelief(groups, eps=1e-16),
}
TOY_LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
RADIUS = 0.1
# Smaller radii, for the sensitivity of the count of wins to the definition of "settled" (the same paths).
CHECK_RADII = [0.03, 0.01]


# ### One optimizer on one function, every learning rate at once
#
# Each learning rate gets its own copy of the starting point in its own parameter group; the optimizers are
# element-wise and the loss is a sum over the copies, so the copies do not interact. Returns the path
# `[steps + 1, len(lrs), 2]`. A copy that diverges keeps its non-finite values, and never settles.
def toy_paths(make: Callable[[list[dict]], torch.optim.Optimizer], function: Callable[[torch.Tensor], torch.Tensor],
              start: tuple[float, float], lrs: list[float], steps: int) -> torch.Tensor:
    check_positive("steps", steps, integer=True)
    points = [torch.tensor(start, dtype=torch.float64, requires_grad=True) for _ in lrs]
    optimizer = make([{"params": [p], "lr": lr} for p, lr in zip(points, lrs)])
    path = torch.empty(steps + 1, len(lrs), 2, dtype=torch.float64)
    for t in range(steps + 1):
        stacked = torch.stack(points)  # [lrs, 2]
        path[t] = stacked.detach()
        if t < steps:
            optimizer.zero_grad()
            function(stacked).sum().backward()
            optimizer.step()
    return path


# The step from which each path stays within `radius` of the minimum to the end of the run (`steps + 1` if it
# is not inside at the end: a path that flies through the neighbourhood has not *settled*), and its final
# distance (`inf` if it diverged): `[lrs]` each.
def settling(path: torch.Tensor, minimum: tuple[float, float], radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    check_positive("radius", radius)
    distance = (path - torch.tensor(minimum, dtype=path.dtype)).norm(dim=-1)  # [steps + 1, lrs]
    distance = torch.where(distance.isfinite(), distance, torch.inf)
    stays = (distance < radius).flip(0).cumprod(0).flip(0).bool()  # inside from this step to the end
    first = torch.where(stays[-1], stays.float().argmax(0), path.shape[0])
    return first, distance[-1]


# *The step on a constant slope* (the paper's third case). With one learning rate for all, $\alpha = 10^{-3}$,
# the length of each step divided by $\alpha$, $|\theta_t - \theta_{t-1}| / \alpha$, at a few steps: Adam's
# stays near $\sqrt{2}$ (about $\alpha$ per coordinate) on $|x| + |y|$, where the gradient is constant until the
# path reaches a kink; AdaBelief's grows as $m_t$ catches up with $g_t$. `[len(SLOPE_STEPS)]`.
SLOPE_LR = 1e-3
SLOPE_STEPS = [1, 10, 100, 300]


def slope_speed(path: torch.Tensor, lr: float) -> list[float]:
    steps = (path[1:] - path[:-1]).norm(dim=-1) / lr  # [steps]
    return [round(steps[t - 1].item(), 3) for t in SLOPE_STEPS]


# The best learning rate: fewest steps to settle, then the smallest final distance.
def best_index(first: torch.Tensor, final: torch.Tensor) -> int:
    return min(range(len(first)), key=lambda i: (first[i].item(), final[i].item()))


def toy_experiment(steps: int) -> dict[str, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name, function, start, minimum, _ in monit.iterate("toy functions", TOYS):
        results[name] = {}
        for optimizer_name, make in OPTIMIZERS.items():
            path = toy_paths(make, function, start, TOY_LRS, steps)
            first, final = settling(path, minimum, RADIUS)
            best = best_index(first, final)
            results[name][optimizer_name] = {
                "best_lr": TOY_LRS[best], "steps_to_settle": int(first[best]), "final_distance": final[best].item(),
                "steps_to_settle_by_lr": [int(f) for f in first], "path": path[:, best].numpy(),
                "slope_speed": slope_speed(path[:, TOY_LRS.index(SLOPE_LR)], SLOPE_LR),
                "best_steps_by_radius": {f"{radius:g}": int(settling(path, minimum, radius)[0].min())
                                         for radius in CHECK_RADII}}
    return results


# How many functions AdaBelief settles first on (ties count for it), each optimizer at its best learning rate,
# given each optimizer's best steps per function.
def adabelief_wins(steps: dict[str, dict[str, int]]) -> int:
    return sum(per_opt["AdaBelief"] <= min(per_opt.values()) for per_opt in steps.values())


# ## The language model
#
# The shared small transformer, shrunk so that the sweep fits the time budget. Both optimizers see the same
# initial weights and the same batches for a given seed. A run whose final validation loss is not finite is
# recorded as diverged (`inf`), not dropped.
LM_SETTINGS = LMSettings(d_model=32, d_ff=128, seq_len=32, batch_size=16, steps=600, eval_every=100,
                         eval_windows=64)
LM_LRS = [2e-3, 5e-3, 1e-2]
# AdaBelief's $\epsilon = 10^{-16}$ sits inside its average, so its floor under $\sqrt{\hat{s}_t}$ is
# $\sqrt{\epsilon / (1 - \beta_2)} \approx 3.2 \times 10^{-7}$; the third arm is Adam with that floor as its
# $\epsilon$, so the two add the same amount to the denominator of a parameter whose statistic is near zero.
ADABELIEF_EPS = 1e-16
MATCHED_EPS = math.sqrt(ADABELIEF_EPS / (1 - 0.999))
LM_OPTIMIZERS: dict[str, Callable[[Iterable[torch.Tensor], float], torch.optim.Optimizer]] = {
    "Adam": lambda params, lr: Adam(params, lr=lr, eps=1e-8),
    "Adam, matched eps": lambda params, lr: Adam(params, lr=lr, eps=MATCHED_EPS),
    "AdaBelief": lambda params, lr: AdaBelief(params, lr=lr, eps=ADABELIEF_EPS),
}


def lm_run(optimizer_name: str, lr: float, settings: LMSettings, seed: int) -> tuple[float, list[float]]:
    model = build_model(settings, seed)
    history = train_lm(model, LM_OPTIMIZERS[optimizer_name](model.parameters(), lr), settings, seed)
    curve = history.values("valid_loss")
    final = curve[-1] if math.isfinite(curve[-1]) else math.inf
    return final, curve


def lm_experiment(settings: LMSettings, seeds: list[int]) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for optimizer_name in LM_OPTIMIZERS:
        for lr in LM_LRS:
            for seed in seeds:
                runs[optimizer_name, lr, seed] = lm_run(optimizer_name, lr, settings, seed)
    return runs


# ## The experiment
def experiment(config: RunConfig) -> Outcome:
    toy_steps = config.train_steps(full=3000, quick=600)
    settings = config.choose(LM_SETTINGS, LM_SETTINGS.but(steps=60, eval_every=30, eval_windows=16))
    seeds = list(range(config.seed, config.seed + 3))
    toys = toy_experiment(toy_steps)
    lm = lm_experiment(settings, seeds)
    metrics = _metrics(toys, lm, toy_steps, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _toy_figure(toys), "lm": _lm_figure(lm, metrics, settings)})


def _lm_sweep(lm: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    sweep = {}
    for optimizer_name in LM_OPTIMIZERS:
        finals = {lr: [lm[optimizer_name, lr, seed][0] for seed in seeds] for lr in LM_LRS}
        means = {lr: float(np.mean(values)) for lr, values in finals.items()}
        best = min(LM_LRS, key=means.__getitem__)
        sweep[optimizer_name] = {"best_lr": best, "mean_by_lr": {f"{lr:g}": round(means[lr], 4) for lr in LM_LRS},
                                 "best": over_seeds({seed: lm[optimizer_name, best, seed][0] for seed in seeds})}
    return sweep


def _metrics(toys: dict, lm: dict, toy_steps: int, settings: LMSettings, seeds: list[int]) -> dict:
    toy_metrics = {name: {opt: {k: v for k, v in r.items() if k != "path"} for opt, r in per_opt.items()}
                   for name, per_opt in toys.items()}
    for per_opt in toy_metrics.values():
        for result in per_opt.values():
            result["final_distance"] = round(result["final_distance"], 4)
    sweep = _lm_sweep(lm, seeds)
    gaps = {baseline: over_seeds({seed: lm["AdaBelief", sweep["AdaBelief"]["best_lr"], seed][0]
                                  - lm[baseline, sweep[baseline]["best_lr"], seed][0] for seed in seeds})
            for baseline in ("Adam", "Adam, matched eps")}
    by_radius = {f"{RADIUS:g}": adabelief_wins({name: {opt: r["steps_to_settle"] for opt, r in per_opt.items()}
                                                for name, per_opt in toy_metrics.items()})}
    for radius in CHECK_RADII:
        by_radius[f"{radius:g}"] = adabelief_wins(
            {name: {opt: r["best_steps_by_radius"][f"{radius:g}"] for opt, r in per_opt.items()}
             for name, per_opt in toy_metrics.items()})
    return {"toy_steps": toy_steps, "toy_lrs": TOY_LRS, "radius": RADIUS, "toys": toy_metrics,
            "lm_steps": settings.steps, "lm_lrs": LM_LRS, "seeds": seeds, "lm": sweep,
            "lm_matched_eps": MATCHED_EPS, "lm_gap_adabelief_minus_adam": gaps["Adam"],
            "lm_gap_adabelief_minus_adam_matched_eps": gaps["Adam, matched eps"],
            "toy_adabelief_fastest": by_radius[f"{RADIUS:g}"], "toy_adabelief_fastest_by_radius": by_radius}


def _headline(metrics: dict) -> str:
    lm = metrics["lm"]
    return (f"Toy functions: AdaBelief settles first (or tied) on {metrics['toy_adabelief_fastest']} of "
            f"{len(metrics['toys'])}, each optimizer at its best learning rate; small transformer, each at its best "
            f"learning rate (3 seeds): validation loss {lm['AdaBelief']['best']['mean']:.3f} for AdaBelief, "
            f"{lm['Adam']['best']['mean']:.3f} for Adam (eps 1e-8), {lm['Adam, matched eps']['best']['mean']:.3f} "
            f"for Adam with eps at AdaBelief's floor ({metrics['lm_matched_eps']:.2g}).")


COLORS = {"SGD+momentum": "C2", "Adam": "C3", "Adam, matched eps": "C1", "AdaBelief": "C0"}


def _toy_figure(toys: dict) -> plt.Figure:
    fig, axes = plt.subplots(2, len(TOYS), figsize=(4 * len(TOYS), 8))
    for column, (name, function, start, minimum, half) in enumerate(TOYS):
        grid = torch.stack(torch.meshgrid(torch.linspace(minimum[0] - half, minimum[0] + half, 200),
                                          torch.linspace(minimum[1] - half, minimum[1] + half, 200),
                                          indexing="xy"), dim=-1).double()
        values = function(grid).numpy()
        axes[0, column].contour(grid[..., 0], grid[..., 1], np.log1p(values), levels=20, cmap="Greys", alpha=0.6)
        for optimizer_name, result in toys[name].items():
            path = result["path"]
            label = f"{optimizer_name} (lr {result['best_lr']:g})"
            axes[0, column].plot(path[:, 0], path[:, 1], color=COLORS[optimizer_name], label=label, linewidth=1.2)
            distance = np.linalg.norm(path - np.array(minimum), axis=-1)
            axes[1, column].plot(distance, color=COLORS[optimizer_name], label=optimizer_name)
        axes[0, column].plot(*start, "ko")
        axes[0, column].plot(*minimum, "x", color="orange", markersize=12, markeredgewidth=3)
        axes[0, column].set(xlim=(minimum[0] - half, minimum[0] + half), ylim=(minimum[1] - half, minimum[1] + half),
                            title=name)
        axes[0, column].legend(fontsize=8, loc="lower right")
        axes[1, column].axhline(RADIUS, color="gray", linestyle=":")
        axes[1, column].set(yscale="log", ylim=(1e-8, 30), xlabel="step",
                            ylabel="distance to the minimum (axis cut at 1e-8)")
        axes[1, column].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _lm_figure(lm: dict, metrics: dict, settings: LMSettings) -> plt.Figure:
    fig, (sweep_ax, curve_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    seeds = metrics["seeds"]
    for optimizer_name in LM_OPTIMIZERS:
        color = COLORS[optimizer_name]
        for seed in seeds:
            finals = [min(lm[optimizer_name, lr, seed][0], 10.0) for lr in LM_LRS]
            sweep_ax.plot(LM_LRS, finals, "o", color=color, alpha=0.4)
        means = [metrics["lm"][optimizer_name]["mean_by_lr"][f"{lr:g}"] for lr in LM_LRS]
        sweep_ax.plot(LM_LRS, np.minimum(means, 10.0), "-", color=color, label=optimizer_name)
        best = metrics["lm"][optimizer_name]["best_lr"]
        evals = [min(settings.eval_every * (i + 1), settings.steps)
                 for i in range(len(lm[optimizer_name, best, seeds[0]][1]))]
        for seed in seeds:
            curve_ax.plot(evals, lm[optimizer_name, best, seed][1], color=color, alpha=0.7,
                          label=f"{optimizer_name}, lr {best:g}" if seed == seeds[0] else None)
    sweep_ax.set(xscale="log", xlabel="learning rate", ylabel="final validation loss (nats/char)",
                 title="Sweep: mean over seeds (line), each seed (dots)")
    curve_ax.set(xlabel="step", ylabel="validation loss (nats/char)", title="At each optimizer's best learning rate")
    sweep_ax.legend()
    curve_ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
