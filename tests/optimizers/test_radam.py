r"""Tests for papers/optimizers/radam.py: equality with torch.optim.RAdam in float64, $\rho_t$ against a brute-force
centre of mass, $r_t$ against its closed form and the switch steps, the first steps in closed form, a Monte Carlo
check that the rectification evens out the adaptive step's spread, the claim in miniature, and the page's numbers
against the recorded run."""
from __future__ import annotations

import math

import pytest
import torch

from comparisons import assert_same_parameters, optimizer_run
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.optimizers import radam as paper
from papers.optimizers.adam import Adam
from papers.optimizers.radam import RAdam, first_adaptive_step, rectification, rho_infinity, sma_length
from papers.optimizers.warmup import SETTINGS, final_loss, make_adam


# ## Against PyTorch
#
# 25 steps (the first 5 un-adapted, then rectified) equal `torch.optim.RAdam`, whose threshold is 5; with
# decoupled weight decay, `RAdam(decoupled_weight_decay=True)`. And RAdam is not Adam.
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.8, 0.98)])
def test_matches_torch_radam(betas: tuple[float, float]) -> None:
    ours = optimizer_run(lambda g: RAdam(g, lr=0.01, betas=betas, eps=1e-6))
    assert_same_parameters(ours, optimizer_run(lambda g: torch.optim.RAdam(g, lr=0.01, betas=betas, eps=1e-6)))
    assert not torch.allclose(ours[0], optimizer_run(lambda g: Adam(g, lr=0.01, betas=betas, eps=1e-6))[0])


def test_weight_decay_matches_torch_decoupled_radam() -> None:
    ours = optimizer_run(lambda g: RAdam(g, lr=0.01, weight_decay=0.1))
    theirs = optimizer_run(lambda g: torch.optim.RAdam(g, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True))
    assert_same_parameters(ours, theirs)


# ## $\rho_t$ and $r_t$
#
# $\rho_t$ is the length of the simple moving average with the same centre of mass as the EMA: the EMA gives
# $g_i^2$ the weight $w_i = (1 - \beta_2) \beta_2^{t - i} / (1 - \beta_2^t)$, and an SMA of length $\rho$ has
# mean age $(\rho - 1) / 2$, so $\rho_t = 1 + 2 \sum_i w_i (t - i)$, summed here by brute force.
@pytest.mark.parametrize("beta2", [0.9, 0.98, 0.999])
@pytest.mark.parametrize("t", [1, 2, 5, 6, 50, 3000])
def test_sma_length_is_the_centre_of_mass(beta2: float, t: int) -> None:
    ages = torch.arange(t, dtype=torch.float64)  # t - i for i = t, ..., 1
    weights = (1 - beta2) * beta2 ** ages / (1 - beta2 ** t)
    assert weights.sum().item() == pytest.approx(1.0, rel=1e-12)
    assert sma_length(t, beta2) == pytest.approx(1 + 2 * (weights * ages).sum().item(), rel=1e-9)
    assert rho_infinity(beta2) == pytest.approx((1 + beta2) / (1 - beta2), rel=1e-12)


# $r_t$ against its formula typed out here; it rises to 1; and the switch: for $\beta_2 = 0.999$,
# $\rho_5 = 4.996$ and $\rho_6 = 5.994$, so $\rho_t > 5$ from $t = 6$ (PyTorch's and our threshold) and
# $\rho_t > 4$ from $t = 5$ (the paper's); for $\beta_2 = 0.98$ the same steps ($\rho_5 = 4.92$). $r_t$ rises
# with $t$ (checked up to $t = 1000$; beyond, it is within rounding of 1) and is 1 at $t = 2000$ for
# $\beta_2 = 0.98$.
def test_rectification_closed_form_and_switch_steps() -> None:
    beta2 = 0.999
    rho_inf = 1999.0
    for t in (6, 7, 100, 1000):
        rho = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
        closed = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        assert rectification(t, beta2) == pytest.approx(closed, rel=1e-12)
    assert sma_length(5, 0.999) == pytest.approx(4.996, abs=5e-4)
    assert sma_length(6, 0.999) == pytest.approx(5.994, abs=5e-4)
    assert first_adaptive_step(0.999, 5.0) == 6 and first_adaptive_step(0.999, 4.0) == 5
    assert first_adaptive_step(0.98, 5.0) == 6 and first_adaptive_step(0.98, 4.0) == 5
    rates = [rectification(t, 0.98) for t in range(6, 1000)]
    assert all(a < b for a, b in zip(rates, rates[1:]))
    assert rectification(2000, 0.98) == pytest.approx(1.0, abs=1e-9)


# ## The first steps in closed form
#
# A constant gradient $g = 2$ and $\beta_1 = 0$: until the switch the step is plain SGD, $-\alpha g$ each step;
# at $t = 6$ it is the rectified adaptive step $-\alpha\, r_6\, g \sqrt{1 - \beta_2^6} / (\sqrt{v_6} + \epsilon)$
# with $v_6 = (1 - \beta_2^6)\, g^2$, i.e. $-\alpha r_6$ up to $\epsilon$. With `threshold=4` the switch comes
# a step earlier, at $t = 5$.
@pytest.mark.parametrize(("threshold", "switch"), [(5.0, 6), (4.0, 5)])
def test_sgd_until_the_switch_then_rectified(threshold: float, switch: int) -> None:
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = RAdam([theta], lr=0.1, betas=(0.0, 0.999), eps=1e-12, threshold=threshold)
    for t in range(1, 9):
        before = theta.detach().clone()
        theta.grad = torch.full((3,), 2.0, dtype=torch.float64)
        optimizer.step()
        step = (theta.detach() - before)[0].item()
        expected = -0.1 * 2.0 if t < switch else -0.1 * rectification(t, 0.999)
        assert step == pytest.approx(expected, rel=1e-9), t


# ## What the rectification is for, by Monte Carlo
#
# 20,000 independent coordinates with Gaussian gradients $g \sim \mathcal{N}(0, 1)$, $\beta_2 = 0.98$: the
# standard deviation of $\psi_t = 1 / \sqrt{\hat{v}_t}$ over the coordinates falls about sixfold from $t = 6$ to
# $t = 400$, while that of $r_t \psi_t$ stays within 0.6 to 1.05 of its final value (measured: 0.67 at $t = 6$,
# 0.92 at $t = 20$, 0.94 at $t = 100$; the paper's variance formula is a first-order approximation, least
# accurate for small $\rho_t$). Element-wise float64 on seeded numbers: no thread dependence to calibrate.
def test_rectification_evens_out_the_adaptive_steps_spread() -> None:
    beta2, coordinates, steps = 0.98, 20_000, 400
    generator = torch.Generator().manual_seed(0)
    v = torch.zeros(coordinates, dtype=torch.float64)
    spread, rectified = {}, {}
    for t in range(1, steps + 1):
        g = torch.randn(coordinates, generator=generator, dtype=torch.float64)
        v = beta2 * v + (1 - beta2) * g * g
        psi = (v / (1 - beta2 ** t)).rsqrt()
        if t >= 6:
            spread[t], rectified[t] = psi.std().item(), rectification(t, beta2) * psi.std().item()
    assert spread[6] > 4 * spread[steps]
    assert all(0.6 < value / rectified[steps] < 1.05 for value in rectified.values())


# ## The claim in miniature
#
# 200 steps at the rate 0.012, where the page finds that RAdam without warm-up trains and Adam without warm-up
# fails on two seeds of three: Adam and RAdam, both without warm-up, on the page's three seeds.
def claim_metrics(seed: int) -> dict[str, float]:
    settings = SETTINGS.but(steps=200)
    return {"adam": final_loss(make_adam, 0.012, 0, settings, seed),
            "radam": final_loss(paper.make_radam, 0.012, 0, settings, seed)}


# Calibrated at 1 thread over seeds 0-2 (scripts/calibrate.py): Adam 3.147, 3.153, 2.707 and RAdam 2.573, 2.588,
# 2.622 (Adam trains on seed 2), so RAdam's worst seed 2.62 and the mean gap 0.41. The 2-thread and
# portable-kernel runs were not finished on a machine at load 10-15. Thresholds: RAdam below 2.8 on every seed
# (the failed runs end above 3.1), the mean gap above 0.15 (one more Adam seed training would leave about 0.2).
@pytest.mark.claim
def test_radam_without_warmup_trains_where_adam_fails() -> None:
    runs = [claim_metrics(seed) for seed in (0, 1, 2)]
    assert max(run["radam"] for run in runs) < 2.8, runs
    assert sum(run["adam"] - run["radam"] for run in runs) / len(runs) > 0.15, runs


# ## The recorded run
#
# What held: at 0.012 RAdam trains on every seed while Adam without warm-up fails on two (every RAdam seed
# below every Adam seed); at their best rates the three arms are within 0.05 nats. What did not: at 0.024 the
# warm-up is better on average than RAdam, which fails on one seed. And the rectification's switch and the
# step where it reaches 0.98 for $\beta_2 = 0.999$, checked against $r_t$ directly.
def test_recorded_run_shows_the_claim() -> None:
    metrics = recorded_metrics(paper.__file__)
    sweep = metrics["sweep"]
    assert sweep["radam"]["by_lr"]["0.012"]["max"] < sweep["adam"]["by_lr"]["0.012"]["min"]
    assert sweep["radam"]["failed"]["0.012"] == 0 and sweep["adam"]["failed"]["0.012"] >= 2
    bests = [sweep[arm]["best"]["mean"] for arm in ("adam", "adam_warmup", "radam")]
    assert max(bests) - min(bests) < 0.05
    assert sweep["adam_warmup"]["by_lr"]["0.024"]["mean"] < sweep["radam"]["by_lr"]["0.024"]["mean"]
    assert metrics["beta2_0.999"]["first_adaptive_step"] == 6 and metrics["beta2_0.98"]["first_adaptive_step"] == 6
    t = metrics["beta2_0.999"]["first_step_r_098"]
    assert rectification(t - 1, 0.999) < 0.98 <= rectification(t, 0.999)


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    sweep = metrics["sweep"]
    rates = [f"{lr:g}" for lr in metrics["learning_rates"]]
    losses = {arm: " | ".join(f"{sweep[arm]['by_lr'][r]['mean']:.2f}" for r in rates) for arm in sweep}
    failed = " | ".join(" / ".join(str(sweep[arm]["failed"][r]) for arm in ("adam", "adam_warmup", "radam"))
                        for r in rates)
    quotes = [f"| Adam, no warm-up | {losses['adam']} |", f"| Adam, 100-step warm-up | {losses['adam_warmup']} |",
              f"| RAdam, no warm-up | {losses['radam']} |",
              f"| failed seeds (of 3): Adam / warm-up / RAdam | {failed} |"]
    quotes += [f"{sweep[arm]['best']['mean']:.2f}" for arm in ("adam", "adam_warmup", "radam")]
    quotes += [f"{metrics['radam_vs_warmup_max_gap'][s]:.2f}" for s in ("mean", "min", "max")]
    quotes += [f"at step {metrics['beta2_0.999']['first_step_r_098']:,}", f"{sweep['radam']['fail_threshold']:.2f}"]
    for quote in quotes:
        assert quoted_on_page(paper.__file__, quote), quote


# ## Bad input
def test_bad_input_rejected() -> None:
    params = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="lr must be a positive number"):
        RAdam(params, lr=-1.0)
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\)"):
        RAdam(params, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="eps must be a positive number"):
        RAdam(params, eps=0.0)
    with pytest.raises(ValueError, match=r"threshold must be in \[4, inf\]"):
        RAdam(params, threshold=3.0)
    with pytest.raises(ValueError, match=r"betas\[1\] must give rho_inf"):
        RAdam(params, betas=(0.9, 0.5))
    with pytest.raises(ValueError, match="the rectification needs rho_t > 4"):
        rectification(3, 0.999)
    with pytest.raises(ValueError, match="t must be a positive integer"):
        sma_length(0, 0.999)
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        rho_infinity(1.0)
