r"""
---
title: Adam with Warm-up (the Noam schedule)
summary: The Transformer's warm-up schedule (imported from the Annotated Transformer) and the plain linear warm-up;
  the spread of Adam's adaptive step over its first steps, measured on a small transformer; and a learning-rate
  sweep of Adam with and without warm-up over three seeds.
---

# Adam with Warm-up (the Noam schedule)

[Vaswani et al., 2017. *Attention Is All You Need*, Section 5.3](https://arxiv.org/abs/1706.03762) ·
[Liu et al., 2019. *On the Variance of the Adaptive Learning Rate and Beyond*](https://arxiv.org/abs/1908.03265)

The Transformer was trained with Adam and a learning rate that *rises* linearly for the first $w = 4000$ steps
and then decays as $1 / \sqrt{t}$, the "Noam" schedule. The paper gives the schedule without a reason. It
became standard because without it Adam often fails on a Transformer in the first few hundred steps: the
loss stalls near that of predicting token frequencies and does not recover.

Liu et al. (2019) proposed an explanation. Adam divides each coordinate's step by $\sqrt{\hat{v}_t}$, an
estimate of the gradient's root mean square from the squared gradients seen so far. At the start there are
very few of them: at $t = 1$, $\hat{v}_1 = g_1^2$, so the *adaptive step* $\psi_t = 1 / \sqrt{\hat{v}_t}$ is
$1 / |g_1|$ and the first update is $\alpha\, \mathrm{sign}(g_1)$, a full step of size $\alpha$ on every
weight, however small and noisy its gradient. They argue that $\psi_t$ has a large variance in the first steps
(for Gaussian gradients, an infinite one while fewer than about four gradients are averaged), and that
warm-up works by keeping $\alpha_t$ small until $\hat{v}_t$ has averaged enough gradients. Their fix,
[Rectified Adam](radam.py), replaces the hand-set warm-up by a factor derived from that variance.

## What the experiment shows

![Schedules, the adaptive step's spread, update sizes, and the learning-rate sweep](results/warmup.png)

The set-up is [the shared small transformer](../kit/char_transformer.py), made small for the budget (2
post-norm layers of width 32, 28,864 weights, Shakespeare's characters, batches of 16 windows of 32
characters, 400 steps), with the Transformer paper's Adam ($\beta_1 = 0.9$, $\beta_2 = 0.98$,
$\epsilon = 10^{-9}$). Warm-up is linear over $w = 100$ steps, then constant, so that the arms differ only in
the ramp. Everything is over three seeds (three initial weights, each with its own batches).

*Schedules (first panel).* The Noam schedule with the paper's $d_{\text{model}} = 512$ and $w = 4000$, and the
linear warm-up to the same peak held constant.

*The adaptive step's spread (second panel).* From the same initial weights, 40 independent streams of
batches with the weights frozen (rate 0, the setting of Liu et al.'s analysis: independent gradients from one
distribution); per weight, the standard deviation of $\psi_t$ over the streams divided by its mean, then the
median over the *live* weights among 2,000 sampled. A weight is live if every stream has given it a gradient:
14.7% of the sampled weights (12.5% to 18.8% over the seeds) get none in any of the 40 first
batches (feed-forward units whose ReLU is off at every position), so their $\psi_1 = 1 / \epsilon$ is set by
$\epsilon$ alone, and another 7.6% get none in some streams only; both are left out, as they would
distort the median. Many streams are needed because the spread of a heavy-tailed $\psi_t$ is underestimated
by a few. The spread is 0.88 at step 1 (0.77 to 1.01 over the seeds), 0.139 at step 10 and 0.079 at
step 30: $\psi_t$ is noisiest in the first steps and settles as $\hat{v}_t$ averages more gradients, as Liu
et al. say. At step 1 it is large, a standard deviation close to the mean itself, but not the unbounded
variance of their zero-mean Gaussian model, and the gradients here are not zero-mean: over the same 40 first
batches the per-weight signal-to-noise ratio $|\text{mean}| / \text{std}$ of the gradient has median 2.28
(2.01 to 2.53 over the seeds) and is above 1 for 74% of the live weights; for a gradient whose mean is large
next to its noise, $1 / |g_1|$ has a bounded spread. Once the weights are trained, the streams also drift
apart in weight space, and a spread over streams would measure that drift as much as
the noise of $\hat{v}_t$; the page does not report it.

*Update size (third panel).* $\lVert \theta_t - \theta_{t-1} \rVert$ at $\alpha = 0.024$, averaged over 3
streams. Without warm-up the first update is 3.70, the sign step's $\alpha \sqrt{N}$ over the $N$ weights that
have a non-zero gradient in the first batch (the tests check the first step against this closed form, and
the recorded one against the dead fraction above). Over the first 20 steps the update averages 1.31 without
warm-up and 0.19 with it.

*The learning-rate sweep (fourth panel)*, final validation loss in nats per character (mean line, seeds as
dots; the dotted line is the unigram loss, 3.28, of predicting each character from its frequency alone).
A run *fails* if its final loss is above 2.83, the midpoint between the best mean loss of the sweep (2.38)
and the unigram loss: it ended closer to knowing only the character frequencies than to the best run.

| peak rate | 0.003 | 0.006 | 0.012 | 0.024 | 0.048 |
|---|---|---|---|---|---|
| Adam, no warm-up | 2.42 | 2.38 | 2.85 | 3.23 | 3.24 |
| Adam, warm-up | 2.44 | 2.40 | 2.41 | 2.48 | 3.05 |
| failed seeds (of 3), no warm-up | 0 | 0 | 2 | 3 | 3 |
| failed seeds (of 3), warm-up | 0 | 0 | 0 | 0 | 2 |

Without warm-up Adam fails from 0.012 on: two seeds of three at 0.012 (2.94 and 3.11; the third ends at
2.50), every seed at 0.024 and 0.048, each within 0.11 of the unigram loss (the model learned little beyond
character frequencies). With warm-up the rates 0.012 and 0.024 train on every seed, each seed below every
seed without warm-up, and only 0.048 fails (two seeds of three). So warm-up makes a four times larger rate
usable. It does not make the best run better: at each arm's best rate (0.006 for both) the loss is 2.38
without warm-up and 2.40 with it, and paired by seed Adam without warm-up is the lower on every seed, by
0.017, 0.023 and 0.002 at 0.006 and by 0.034, 0.009 and 0.007 at 0.003. A possible reason, not measured here:
the warm-up spends 100 of the 400 steps below the peak rate. The claim holds as a claim about *stability*,
as it was made.

What the experiment does not separate is *why* large early steps break training: the spread of $\psi_t$ (Liu et
al.) or simply their size, every weight moving by about $\alpha$ at once whatever its gradient ([Ma and
Yarats, 2019](https://arxiv.org/abs/1910.04209), argue for the latter). Both shrink with warm-up. The
[RAdam page](radam.py) runs the test that
bears on it: a damping computed from the variance alone.

*Differences from the paper.* A 29 k-weight character model for 400 steps instead of a 65 M-weight translation
model for 100,000; a warm-up of 100 steps held constant instead of 4,000 steps with inverse-square-root decay;
no dropout or label smoothing; no gradient clipping (none in either arm). The sweep's loss is after 400 steps, not
at convergence.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import matplotlib.pyplot as plt
from matplotlib.ticker import NullLocator
import torch
from torch import nn

from papers.kit.char_transformer import LMSettings, build_model, corpus, train_lm
from papers.kit.checks import check_positive
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.optimizers.adam import Adam
from papers.transformers.annotated_transformer import noam_rate


# ## The schedules
#
# The Transformer paper's schedule (its Section 5.3, equation (3)), with the step $t$ counted from 1,
#
# $$\alpha_t = \text{factor} \cdot d_{\text{model}}^{-0.5} \cdot \min\left(t^{-0.5},\; t\, w^{-1.5}\right),$$
#
# is [`noam_rate`](../transformers/annotated_transformer.py) of the Annotated Transformer, imported here, not
# copied. It is two pieces: for $t \le w$ the second term is the smaller, and the rate grows *linearly*,
# $\alpha_t = \alpha_{\text{peak}}\, t / w$; after $w$ it decays as $1 / \sqrt{t}$,
# $\alpha_t = \alpha_{\text{peak}} \sqrt{w / t}$. Both meet at $t = w$, at the peak
# $\alpha_{\text{peak}} = \text{factor} / \sqrt{d_{\text{model}}\, w}$: with the paper's $d_{\text{model}} = 512$
# and $w = 4000$ that is $7.0 \times 10^{-4}$.
#
# Later work keeps the linear ramp and chooses the peak directly instead of through $d_{\text{model}}$, then
# either holds it (`"constant"`, the schedule the experiment below uses, so that the only difference between
# the arms is the ramp) or decays it (`"inverse_sqrt"`, which with
# $\alpha_{\text{peak}} = \text{factor} / \sqrt{d_{\text{model}} w}$ *is* the Noam schedule):
#
# $$\alpha_t = \alpha_{\text{peak}} \min\left(\frac{t}{w},\, 1\right) \quad\text{or}\quad
# \alpha_t = \alpha_{\text{peak}} \min\left(\frac{t}{w},\, \sqrt{\frac{w}{t}}\right).$$
DECAYS = ("constant", "inverse_sqrt")


def linear_warmup(step: int, peak: float, warmup: int, decay: str = "constant") -> float:
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")
    check_positive("peak", peak)
    check_positive("warmup", warmup, integer=True)
    if decay == "constant":
        return peak * min(step / warmup, 1.0)
    if decay == "inverse_sqrt":
        return peak * min(step / warmup, math.sqrt(warmup / step))
    raise ValueError(f"decay must be one of {DECAYS}, got {decay!r}")


# ## The set-up shared with the Rectified Adam page
#
# [The shared small transformer](../kit/char_transformer.py), made smaller to fit the budget: 2 layers of
# width 32, 4 heads, feed-forward width 128 (29 k parameters), windows of 32 characters, batches of 16, 400
# steps. The shared model defaults to pre-norm blocks, $x + f(\mathrm{LN}(x))$; this page sets
# `pre_norm=False` for **post-norm** blocks, $\mathrm{LN}(x + f(x))$, as in the Transformer paper: the
# arrangement whose training needed the warm-up. [Xiong et al., 2020](https://arxiv.org/abs/2002.04745) show
# that pre-norm Transformers train without it, so a pre-norm model would make the comparison moot. Adam has the
# Transformer paper's $\beta_1 = 0.9$, $\beta_2 = 0.98$, $\epsilon = 10^{-9}$; the warm-up is linear over
# $w = 100$ steps, then constant. The learning-rate grid doubles from $0.003$ to $0.048$.
SETTINGS = LMSettings(d_model=32, heads=4, layers=2, d_ff=128, pre_norm=False, seq_len=32, batch_size=16,
                      steps=400, eval_every=100)
BETAS = (0.9, 0.98)
EPS = 1e-9
WARMUP = 100
LEARNING_RATES = (0.003, 0.006, 0.012, 0.024, 0.048)

# An arm of a comparison: how to make its optimizer from the parameters and a learning rate, and its warm-up
# length in steps (0: none, a constant rate from the first step).
OptimizerFactory = Callable[[Iterable[nn.Parameter], float], torch.optim.Optimizer]


def make_adam(params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return Adam(params, lr=lr, betas=BETAS, eps=EPS)


# One training run: the model drawn from `seed`, its batches from `seed`, the rate from `lr_schedule` if
# `warmup` is positive. Returns the final validation loss (nats per character). A run whose loss is not finite
# is *diverged*: it is recorded as `nan`, and the sweep below counts it.
def final_loss(make: OptimizerFactory, lr: float, warmup: int, settings: LMSettings, seed: int) -> float:
    check_positive("lr", lr)
    if warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup}")
    model = build_model(settings, seed)
    optimizer = make(model.parameters(), lr)
    lr_at = (lambda i: linear_warmup(i + 1, lr, warmup)) if warmup else None
    return train_lm(model, optimizer, settings, seed, lr_at=lr_at).last("valid_loss")


# ## The learning-rate sweep
#
# Every arm at every rate of the grid and every seed, the same seed giving every arm the same initial
# weights and batches. `arms` maps a name to `(factory, warmup)`. Returns, for each arm and rate, the final
# validation loss per seed: `{arm: {lr: {seed: loss}}}`.
def sweep(arms: dict[str, tuple[OptimizerFactory, int]], rates: Iterable[float], settings: LMSettings,
          seeds: list[int]) -> dict[str, dict[float, dict[int, float]]]:
    results: dict[str, dict[float, dict[int, float]]] = {name: {} for name in arms}
    for name, (make, warmup) in arms.items():
        for lr in rates:
            results[name][lr] = {seed: final_loss(make, lr, warmup, settings, seed) for seed in seeds}
    return results


# The sweep's numbers for the results file, per arm: each rate's loss over seeds (a diverged run enters as
# the loss of a uniform prediction, $\ln V$, and is counted in `diverged`), the arm at its best rate (lowest
# mean loss), the fair comparison of tuned optimizers, and at each rate the number of seeds whose run *failed*.
# A run fails if its final loss is above `fail_threshold`, the midpoint between the best mean loss of any arm
# at any rate and the unigram loss: it ended closer to predicting character frequencies than to the best run.
def sweep_metrics(results: dict[str, dict[float, dict[int, float]]]) -> dict[str, Any]:
    chance = math.log(corpus(SETTINGS.max_chars).vocab_size)
    metrics: dict[str, Any] = {}
    for name, by_rate in results.items():
        summary = {f"{lr:g}": over_seeds({s: v if math.isfinite(v) else chance for s, v in losses.items()})
                   for lr, losses in by_rate.items()}
        best_lr, best = min(summary.items(), key=lambda item: item[1]["mean"])
        metrics[name] = {"by_lr": summary, "best_lr": float(best_lr), "best": best,
                         "diverged": sum(not math.isfinite(v) for losses in by_rate.values() for v in losses.values())}
    threshold = (min(arm["best"]["mean"] for arm in metrics.values()) + unigram_loss()) / 2
    for name, by_rate in results.items():
        metrics[name]["fail_threshold"] = round(threshold, 4)
        metrics[name]["failed"] = {f"{lr:g}": sum(not v <= threshold for v in losses.values())
                                   for lr, losses in by_rate.items()}
    return metrics


# The *unigram* loss: the cross-entropy of predicting every validation character from the training text's
# character frequencies alone. A run that ends near it has learned nothing beyond the frequencies.
def unigram_loss() -> float:
    text = corpus(SETTINGS.max_chars)
    counts = torch.bincount(text.train, minlength=text.vocab_size).double() + 1.0  # [vocab]
    log_p = (counts / counts.sum()).log()
    return -log_p[text.valid].mean().item()


# ## Why Adam needs the warm-up: the adaptive step's variance
#
# Adam's step is $\alpha_t \hat{m}_t \psi_t$ with the *adaptive step* $\psi_t = 1 / (\sqrt{\hat{v}_t} + \epsilon)$
# per coordinate. Early on, $\hat{v}_t$ averages the squares of only a few gradients; at $t = 1$ it is $g_1^2$
# itself, so $\psi_1 = 1 / |g_1|$ and the first step is $\alpha\, \mathrm{sign}(g_1)$: a full-size step on
# every coordinate, however small and noisy its gradient. Liu et al. (2019) argue that $\psi_t$ then has a
# very large variance (unbounded for $t = 1$ if $g$ can be near zero), falling as $\hat{v}_t$ averages more
# gradients, and that warm-up works by keeping $\alpha_t$ small while that variance is large.
#
# The measurement: from the same initial weights (`seed`), `streams` independent streams of mini-batches, each
# run through Adam for `steps` steps with the rate schedule `lr_at` (step index from 0 → rate). After each
# step we record, on `coordinates` fixed coordinates (drawn at random among all weights), $\psi_t$ and the
# bias-corrected first moment $\hat{m}_t$ (at $t = 1$ it is the first batch's gradient $g_1$), and the size of
# the whole update, $\lVert \theta_t - \theta_{t-1} \rVert$. Returns `psi` and `m_hat`
# `[streams, steps, coordinates]` and `update` `[streams, steps]`.
#
# With a rate of 0 the weights stay at their initial values and the streams differ only in their batches: the
# setting of the paper's analysis, independent gradients from one distribution, so the spread of $\psi_t$
# over the streams is that of the estimate $\hat{v}_t$ alone. With a positive rate the streams also drift
# apart in weight space, which adds spread of its own.
def adaptive_step_streams(lr_at: Callable[[int], float], seed: int, streams: int, steps: int,
                          coordinates: int = 2000) -> dict[str, torch.Tensor]:
    check_positive("streams", streams, integer=True)
    runs = [one_stream(lr_at, seed, 1000 * (seed + 1) + k, steps, coordinates) for k in range(streams)]
    return {key: torch.stack([run[key] for run in runs]) for key in ("psi", "m_hat", "update")}


# One stream: the model drawn from `seed`, the batches from `stream_seed`. `psi`, `m_hat`
# `[steps, coordinates]`, `update` `[steps]`.
def one_stream(lr_at: Callable[[int], float], seed: int, stream_seed: int, steps: int,
               coordinates: int) -> dict[str, torch.Tensor]:
    settings = SETTINGS.but(steps=steps, eval_every=steps)
    model = build_model(settings, seed)
    optimizer = make_adam(model.parameters(), 1.0)  # the rate is set by lr_at at every step
    previous = flat_parameters(model)
    pick = torch.randperm(len(previous), generator=torch.Generator().manual_seed(seed))[:coordinates]
    record: dict[str, list[torch.Tensor]] = {"psi": [], "m_hat": [], "update": []}

    def after_step(_step: int, _inputs: torch.Tensor) -> None:
        nonlocal previous
        flat = flat_parameters(model)  # [parameters]
        psi, m_hat = adaptive_step(optimizer)
        record["psi"].append(psi[pick])
        record["m_hat"].append(m_hat[pick])
        record["update"].append((flat - previous).norm())
        previous = flat

    train_lm(model, optimizer, settings, stream_seed, lr_at=lr_at, after_step=after_step)
    return {key: torch.stack(values) for key, values in record.items()}


def flat_parameters(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# $\psi_t = 1 / (\sqrt{v_t / (1 - \beta_2^t)} + \epsilon)$ and $\hat{m}_t = m_t / (1 - \beta_1^t)$ of every
# weight, read from the optimizer's state after its step, flattened in the order of its parameters: two
# `[parameters]` tensors.
def adaptive_step(optimizer: Adam) -> tuple[torch.Tensor, torch.Tensor]:
    psi, m_hat = [], []
    for group in optimizer.param_groups:
        beta1, beta2 = group["betas"]
        for param in group["params"]:
            state = optimizer.state[param]
            v_hat = state["exp_avg_sq"] / (1 - beta2 ** state["step"])
            psi.append(1 / (v_hat.sqrt() + group["eps"]).flatten())
            m_hat.append((state["exp_avg"] / (1 - beta1 ** state["step"])).flatten())
    return torch.cat(psi), torch.cat(m_hat)


# A coordinate is *live* at step $t$ if its $\hat{v}_t$ is non-zero in every stream: some batch so far gave it
# a gradient. Where $\hat{v}_t = 0$, $\psi_t = 1 / \epsilon$, a value set by $\epsilon$, not by any gradient
# (a feed-forward unit whose ReLU was off at every position of every batch so far): those coordinates are left
# out of the spread. `[streams, steps, coordinates]` → `[steps, coordinates]`.
def live(psi: torch.Tensor) -> torch.Tensor:
    return (psi < 0.5 / EPS).all(dim=0)


# The spread of $\psi_t$ across the streams, as a fraction of its mean: per live coordinate the standard
# deviation over the streams divided by the mean, then the median over the live coordinates. `[steps]`.
def relative_spread(psi: torch.Tensor) -> torch.Tensor:
    spread = psi.std(dim=0) / psi.mean(dim=0)  # [steps, coordinates]
    return spread.masked_fill(~live(psi), math.nan).nanquantile(0.5, dim=-1)


# The first gradient's *signal-to-noise ratio* per live coordinate: $|\text{mean}| / \text{std}$ of $g_1$
# over the streams (independent batches at the initial weights). Returns its median over the coordinates and
# the fraction of coordinates where it exceeds 1.
def gradient_snr(m_hat: torch.Tensor, psi: torch.Tensor) -> tuple[float, float]:
    g1 = m_hat[:, 0, live(psi)[0]]  # [streams, live coordinates]
    snr = g1.mean(dim=0).abs() / g1.std(dim=0)
    return snr.median().item(), (snr > 1).double().mean().item()


# ## The experiment
#
# Two measurements over three seeds (three initial weights). The adaptive step with the weights frozen
# (rate 0) over 40 batch streams for 30 steps (many streams, because the spread of a heavy-tailed $\psi_t$ is
# underestimated by few); and the update size over 3 streams for 30 steps, trained at the rate $0.024$ (where
# training without warm-up fails, below) without and with warm-up. Then the learning-rate sweep of Adam without
# and with warm-up.
SPREAD_LR = 0.024
SPREAD_STEPS = 30
SPREAD_STREAMS = 40
UPDATE_STREAMS = 3


def spread_schedules(lr: float) -> dict[str, tuple[Callable[[int], float], int]]:
    return {"frozen": (lambda i: 0.0, SPREAD_STREAMS), "adam": (lambda i: lr, UPDATE_STREAMS),
            "adam_warmup": (lambda i: linear_warmup(i + 1, lr, WARMUP), UPDATE_STREAMS)}


def warmup_arms() -> dict[str, tuple[OptimizerFactory, int]]:
    return {"adam": (make_adam, 0), "adam_warmup": (make_adam, WARMUP)}


def experiment(config: RunConfig) -> Outcome:
    seeds = list(range(config.seed, config.seed + 3))
    settings = SETTINGS.but(steps=config.train_steps(full=SETTINGS.steps, quick=200))
    streams = {name: {seed: adaptive_step_streams(lr_at, seed, config.choose(count, 3),
                                                  config.choose(SPREAD_STEPS, 20)) for seed in seeds}
               for name, (lr_at, count) in spread_schedules(SPREAD_LR).items()}
    rates = config.choose(LEARNING_RATES, (0.003, SPREAD_LR))
    losses = sweep(warmup_arms(), rates, settings, seeds)
    metrics = {"steps": settings.steps, "warmup": WARMUP, "learning_rates": list(rates), "seeds": seeds,
               "unigram_loss": round(unigram_loss(), 4),
               "parameters": sum(p.numel() for p in build_model(settings, 0).parameters()),
               **_spread_metrics(streams), "sweep": sweep_metrics(losses)}
    return Outcome(_headline(metrics), metrics, {"": _figure(streams, metrics)})


# Metrics over the seeds. With frozen weights: the relative spread of $\psi_t$ at steps 1, 10 and the last;
# the fraction of the sampled weights with no gradient at step 1 in any stream (`dead_fraction`) and in some
# streams only (`partly_zero_fraction`); the first gradient's signal-to-noise ratio (median, and the fraction
# above 1). Trained: the update size $\lVert \Delta\theta_t \rVert$ averaged over the streams, at step 1 and
# over the first 20 steps.
def _spread_metrics(streams: dict[str, dict[int, dict[str, torch.Tensor]]]) -> dict[str, Any]:
    frozen = streams["frozen"]
    spreads = {seed: relative_spread(run["psi"]) for seed, run in frozen.items()}
    metrics: dict[str, Any] = {f"frozen_psi_spread_t{label}": over_seeds({s: v[t].item() for s, v in spreads.items()})
                               for label, t in (("1", 0), ("10", 9), ("last", -1))}
    zero = {seed: run["psi"][:, 0] >= 0.5 / EPS for seed, run in frozen.items()}  # [streams, coordinates]
    metrics["dead_fraction"] = over_seeds({s: z.all(dim=0).double().mean().item() for s, z in zero.items()})
    metrics["partly_zero_fraction"] = over_seeds(
        {s: (z.any(dim=0) & ~z.all(dim=0)).double().mean().item() for s, z in zero.items()})
    snr = {seed: gradient_snr(run["m_hat"], run["psi"]) for seed, run in frozen.items()}
    metrics["gradient_snr_median"] = over_seeds({s: v[0] for s, v in snr.items()})
    metrics["gradient_snr_above_1"] = over_seeds({s: v[1] for s, v in snr.items()})
    for name in ("adam", "adam_warmup"):
        by_seed = streams[name]
        metrics[f"{name}_update_t1"] = over_seeds({s: r["update"][:, 0].mean().item() for s, r in by_seed.items()})
        metrics[f"{name}_update_first20"] = over_seeds(
            {s: r["update"][:, :20].mean().item() for s, r in by_seed.items()})
    return metrics


def _headline(metrics: dict) -> str:
    sweep_ = metrics["sweep"]
    top = f"{max(metrics['learning_rates']):g}"
    return (f"Adam on a post-norm character transformer, {metrics['steps']} steps, 3 seeds: at lr {top} the final "
            f"validation loss is {sweep_['adam']['by_lr'][top]['mean']:.2f} nats without warm-up and "
            f"{sweep_['adam_warmup']['by_lr'][top]['mean']:.2f} with; at each arm's best rate "
            f"{sweep_['adam']['best']['mean']:.2f} and {sweep_['adam_warmup']['best']['mean']:.2f}. With frozen "
            f"weights the adaptive step's spread over batch streams falls from "
            f"{metrics['frozen_psi_spread_t1']['mean']:.2f} at step 1 to "
            f"{metrics['frozen_psi_spread_tlast']['mean']:.2f}.")


LABELS = {"frozen": "frozen weights (rate 0)", "adam": "Adam, no warm-up",
          "adam_warmup": f"Adam, {WARMUP}-step warm-up",
          "radam": "RAdam, no warm-up"}
COLORS = {"frozen": "k", "adam": "C3", "adam_warmup": "C0", "radam": "C2"}


def _figure(streams: dict[str, dict[int, dict[str, torch.Tensor]]], metrics: dict) -> plt.Figure:
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    _plot_schedules(axes[0])
    for name, by_seed in streams.items():
        for i, run in enumerate(by_seed.values()):
            steps = range(1, run["update"].shape[1] + 1)
            label = LABELS[name] if i == 0 else None
            if name == "frozen":
                axes[1].plot(steps, relative_spread(run["psi"]).numpy(), color=COLORS[name], alpha=0.7, label=label)
            else:
                axes[2].plot(steps, run["update"].mean(dim=0).numpy(), color=COLORS[name], alpha=0.7, label=label)
    axes[1].set(xscale="log", xlabel="step $t$", ylabel=r"spread of $\psi_t$ over batch streams (std / mean)",
                title=f"adaptive step, frozen weights, {SPREAD_STREAMS} streams, live weights")
    axes[2].set(xscale="log", yscale="log", xlabel="step $t$",
                ylabel=r"update size $\|\theta_t - \theta_{t-1}\|$",
                title=f"update size, lr {SPREAD_LR:g}")
    plot_sweep(axes[3], metrics)
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    return fig


def _plot_schedules(ax: plt.Axes) -> None:
    steps = range(1, 20_001)
    ax.plot(steps, [noam_rate(t, 512, 4000) for t in steps], color="k", label=r"Noam, $d$ = 512, $w$ = 4000")
    peak = noam_rate(4000, 512, 4000)
    ax.plot(steps, [linear_warmup(t, peak, 4000) for t in steps], color="C0", linestyle="--",
            label="linear warm-up, then constant")
    ax.set(xlabel="step $t$", ylabel=r"learning rate $\alpha_t$", title="schedules")


# Final validation loss against the learning rate, for every arm in `metrics["sweep"]`: the mean over the
# seeds as a line, each seed as a dot, and the unigram loss for reference. Shared with the RAdam page.
def plot_sweep(ax: plt.Axes, metrics: dict) -> None:
    for name, arm in metrics["sweep"].items():
        rates = [float(lr) for lr in arm["by_lr"]]
        ax.plot(rates, [s["mean"] for s in arm["by_lr"].values()], color=COLORS[name], marker="o",
                label=LABELS[name])
        for lr, summary in zip(rates, arm["by_lr"].values()):
            ax.scatter([lr] * len(summary["per_seed"]), list(summary["per_seed"].values()), color=COLORS[name],
                       s=12, alpha=0.5)
    ax.axhline(metrics["unigram_loss"], color="grey", linestyle=":", label="unigram (frequencies only)")
    ax.set(xscale="log", xlabel="peak learning rate", ylabel="final validation loss (nats / char)",
           title=f"{metrics['steps']} steps, 3 seeds")
    ax.set_xticks(metrics["learning_rates"], [f"{lr:g}" for lr in metrics["learning_rates"]])
    ax.xaxis.set_minor_locator(NullLocator())


if __name__ == "__main__":
    run_paper(__file__, experiment)
