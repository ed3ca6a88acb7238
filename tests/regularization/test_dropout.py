"""Tests for papers/regularization/dropout.py: the expectation of inverted dropout, agreement with PyTorch's
dropout, weight-scaling inference, what dropout does to an over-fitting net's test cross-entropy, and the page's
numbers against the recorded run."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from papers.kit.data import digits
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.kit.vision import evaluate
from papers.regularization import dropout as paper
from papers.regularization.dropout import (
    Dropout, DropoutMLP, apply_mask, dropout, dropout_mask, mc_errors, mc_probabilities, train_mlp,
    training_subset)


def all_masks(n: int) -> list[torch.Tensor]:
    return [torch.tensor(bits, dtype=torch.bool) for bits in itertools.product([False, True], repeat=n)]


def mask_probability(mask: torch.Tensor, p: float) -> float:
    kept = int(mask.sum())
    return (1 - p) ** kept * p ** (len(mask) - kept)


# ## The expectation, exactly
#
# Enumerating all $2^n$ masks of a tiny input, weighted by their probabilities, gives the exact expectation of
# inverted dropout: the input itself.
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_exact_expectation_by_enumerating_masks(p: float) -> None:
    x = torch.tensor([1.5, -2.0, 0.25, 3.0, -0.5], dtype=torch.float64)
    masks = all_masks(len(x))
    assert math.isclose(sum(mask_probability(m, p) for m in masks), 1.0)
    expectation = sum(mask_probability(m, p) * apply_mask(x, m, p) for m in masks)
    torch.testing.assert_close(expectation, x, rtol=1e-12, atol=1e-12)


# For a linear layer after dropout the weight-scaled (evaluation) output *is* the average over all thinned
# networks; after a ReLU it is only an approximation, and the two differ.
def test_weight_scaling_is_exact_for_linear_and_approximate_after_relu() -> None:
    torch.manual_seed(0)
    x = torch.randn(6, dtype=torch.float64)
    w1, w2 = torch.randn(4, 6, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    p = 0.5
    linear_average = sum(mask_probability(m, p) * (w1 @ apply_mask(x, m, p)) for m in all_masks(6))
    torch.testing.assert_close(linear_average, w1 @ x, rtol=1e-12, atol=1e-12)
    relu_average = sum(mask_probability(m, p) * (w2 @ torch.relu(w1 @ apply_mask(x, m, p)))
                       for m in all_masks(6))
    weight_scaled = w2 @ torch.relu(w1 @ x)
    assert (relu_average - weight_scaled).abs().max() > 1e-3


# The paper's formulation (drop at training, multiply the weights by $1 - p$ at test) and inverted dropout
# are the same network: with weights $W_\text{inv} = (1 - p) W_\text{paper}$ both give the same training
# output for the same mask, and the same test output.
def test_inverted_dropout_equals_paper_formulation() -> None:
    torch.manual_seed(1)
    p = 0.3
    x, w_paper = torch.randn(8, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    w_inverted = (1 - p) * w_paper
    mask = dropout_mask(x, p, torch.Generator().manual_seed(0))
    torch.testing.assert_close(apply_mask(x, mask, p) @ w_inverted.T, (x * mask) @ w_paper.T)
    evaluation = dropout(x, p, training=False) @ w_inverted.T
    torch.testing.assert_close(evaluation, x @ ((1 - p) * w_paper).T)


# ## Statistics on a large input
#
# On $n$ ones, the number of dropped elements is $\mathrm{Binomial}(n, p)$ and the output mean has mean 1
# and standard deviation $\sqrt{p / ((1 - p) n)}$. Both must lie within 5 standard deviations (seeded, so
# the test is deterministic; a correct implementation fails with probability below $10^{-6}$).
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_statistics_within_binomial_bounds(p: float) -> None:
    n = 200_000
    generator = torch.Generator().manual_seed(3)
    y = dropout(torch.ones(n, dtype=torch.float64), p, training=True, generator=generator)
    dropped = int((y == 0).sum())
    assert abs(dropped - n * p) < 5 * math.sqrt(n * p * (1 - p))
    assert abs(y.mean().item() - 1.0) < 5 * math.sqrt(p / ((1 - p) * n))
    # Every kept element is scaled by exactly 1 / (1 - p).
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)))


# PyTorch's `F.dropout` is a reference we did not write: the same support, and drop fractions that agree
# within a two-sample bound.
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_matches_torch_dropout_distribution(p: float) -> None:
    n = 200_000
    x = torch.randn(n, dtype=torch.float64)
    torch.manual_seed(4)
    ours = dropout(x, p, training=True)
    theirs = F.dropout(x, p, training=True)
    for y in (ours, theirs):
        kept = y != 0
        torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    difference = ((ours == 0).double().mean() - (theirs == 0).double().mean()).abs().item()
    assert difference < 5 * math.sqrt(2 * p * (1 - p) / n)
    # Elements are dropped independently: the correlation of neighbouring masks is near zero, for both.
    for y in (ours, theirs):
        kept = (y != 0).double()
        correlation = torch.corrcoef(torch.stack([kept[:-1], kept[1:]]))[0, 1].item()
        assert abs(correlation) < 5 / math.sqrt(n)


def test_evaluation_mode_is_identity_and_training_mode_is_not() -> None:
    layer = Dropout(0.5, torch.Generator().manual_seed(0))
    x = torch.randn(4, 10)
    layer.eval()
    assert torch.equal(layer(x), x)
    layer.train()
    assert not torch.equal(layer(x), x)
    assert torch.equal(dropout(x, 0.0, training=True), x)


def test_gradient_flows_through_kept_units_only() -> None:
    x = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    p = 0.4
    mask = dropout_mask(x, p, torch.Generator().manual_seed(5))
    apply_mask(x, mask, p).sum().backward()
    torch.testing.assert_close(x.grad, mask.double() / (1 - p))


# ## Monte-Carlo averaging
#
# The running averages are the means of the first $k$ sampled predictions, and with no dropout every sample
# is the deterministic prediction.
def test_mc_probabilities_are_running_means() -> None:
    x = torch.randn(5, 1, 8, 8)
    torch.manual_seed(0)
    model = DropoutMLP(64, 16, 10, p_input=0.2, p_hidden=0.5, generator=torch.Generator().manual_seed(0))
    twin = DropoutMLP(64, 16, 10, p_input=0.2, p_hidden=0.5, generator=torch.Generator().manual_seed(0))
    twin.load_state_dict(model.state_dict())
    model.eval()
    averages = mc_probabilities(model, x, 4)  # [4, 5, 10]
    assert not model.training
    with torch.no_grad():
        samples = torch.stack([F.softmax(twin(x), dim=-1) for _ in range(4)])  # the same masks
    torch.testing.assert_close(averages[1], samples[:2].mean(dim=0))
    torch.testing.assert_close(averages[-1], samples.mean(dim=0))
    assert not torch.allclose(samples[0], samples[1])
    no_dropout = DropoutMLP(64, 16, 10).eval()
    with torch.no_grad():
        deterministic = F.softmax(no_dropout(x), dim=-1)
    torch.testing.assert_close(mc_probabilities(no_dropout, x, 3)[-1], deterministic)


# ## The claim in miniature
#
# The experiment's networks, narrower (256 hidden units) and trained for 1,500 steps on the same 150 digits,
# each pair with the same initial weights and batches. `claim_metrics` trains one pair and measures it: the
# test cross-entropy without and with dropout, the test errors of weight scaling and of Monte-Carlo
# averages over 1 and 100 masks.
def claim_metrics(seed: int) -> dict[str, float]:
    data = digits()
    train = training_subset(data.train, 150, seed)
    plain, _ = train_mlp(train, data.valid, 256, 0.0, 0.0, 1500, seed)
    dropped, _ = train_mlp(train, data.valid, 256, 0.2, 0.5, 1500, seed)
    loss_without, loss_with = evaluate(plain, data.test)[0], evaluate(dropped, data.test)[0]
    one_mask, many_masks = mc_errors(dropped, data.test, [1, 100])
    return {"loss_without": loss_without, "loss_with": loss_with,
            "weight_scaling_error": 1 - evaluate(dropped, data.test)[1],
            "mc_error_1": one_mask, "mc_error_100": many_masks}


@pytest.fixture(scope="module", name="seed_metrics")
def fixture_seed_metrics() -> list[dict[str, float]]:
    return [claim_metrics(seed) for seed in (0, 1, 2)]


def mean(seed_metrics: list[dict[str, float]], name: str) -> float:
    return sum(metrics[name] for metrics in seed_metrics) / len(seed_metrics)


# What this checks: in quick mode the test cross-entropy *averaged over three seeds* is lower with dropout. It
# is not a gain of dropout on every seed, and the page does not claim one: in quick mode seed 2's ratio
# (without / with) swings across 1 by thread count and CPU kernels, and in the full run the lower mean is
# carried by one seed of three (recorded per-seed ratios 2.20, 0.90, 0.99; the page: "lowers the test
# cross-entropy on one seed of three"). So the test asserts the mean, as the page states it, and nothing more.
# Measured over seeds 0-2 at 1 thread and under portable kernels: test cross-entropy without dropout
# 0.33-0.65 (3-seed mean 0.44), with dropout 0.21-0.38 (3-seed mean 0.29-0.31); per-seed ratio 0.94-1.81
# (seed 2: 1.16 at 1 thread, 0.94 under portable kernels); ratio of the 3-seed means 1.42-1.51 (threshold 1.2).
# The test *error* is not asserted here: it has no reliable gain at this size, nor in the full run (see
# `test_recorded_dropout_does_not_lower_test_error`).
@pytest.mark.claim
def test_quick_mean_test_loss_over_seeds_is_lower_with_dropout(seed_metrics: list[dict[str, float]]) -> None:
    assert mean(seed_metrics, "loss_without") > 1.2 * mean(seed_metrics, "loss_with")


# Weight scaling against the Monte-Carlo average of 100 masks: close in test error, and both far better than
# a single thinned network. Measured over seeds 0-2 at 1 thread and under portable kernels: the test errors
# of weight scaling and of 100 masks differ by 0.000-0.011 per seed (one test digit is 0.002), by 0.004-0.009
# averaged over the seeds (threshold 0.02); one mask is worse than 100 by 0.065-0.122 (threshold 0.03).
@pytest.mark.claim
def test_weight_scaling_close_to_monte_carlo(seed_metrics: list[dict[str, float]]) -> None:
    gaps = [abs(metrics["mc_error_100"] - metrics["weight_scaling_error"]) for metrics in seed_metrics]
    assert sum(gaps) / len(gaps) < 0.02
    for metrics in seed_metrics:
        assert metrics["mc_error_1"] > metrics["mc_error_100"] + 0.03


# ## Controls on the recorded run
#
# The comparison is between two networks that both memorise their training set: in the full run neither
# gets more than one of its 150 training digits wrong on any seed, so the one without dropout is not an
# under-trained baseline, and dropout does not keep its network from fitting the training set.
def test_recorded_both_arms_fit_the_training_set() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("train_error_without", "train_error_with"):
        assert metrics[name]["max"] <= 1 / 150 + 1e-4, name


# The page's headline: at this scale dropout does not lower the test error. In the full run the mean test
# error over the three seeds with dropout is within 1.5 points of the mean without (recorded: 9.1% against
# 9.0%), and dropout is worse on two seeds of three.
def test_recorded_dropout_does_not_lower_test_error() -> None:
    metrics = recorded_metrics(paper.__file__)
    with_, without = metrics["test_error_with"], metrics["test_error_without"]
    assert abs(with_["mean"] - without["mean"]) < 0.015
    worse = [seed for seed in with_["per_seed"] if with_["per_seed"][seed] > without["per_seed"][seed]]
    assert len(worse) == 2


# Weight scaling and the Monte-Carlo average of 500 masks agree, in the full run, to within a few test digits
# on every seed (one digit is 0.2 points of test error).
def test_recorded_weight_scaling_close_to_monte_carlo() -> None:
    metrics = recorded_metrics(paper.__file__)
    gap = metrics["weight_scaling_minus_mc_error"]
    assert max(abs(gap["min"]), abs(gap["max"])) < 0.02


# The page quotes the recorded numbers: the mean test errors and cross-entropies over seeds, their ranges, and
# the Monte-Carlo average.
def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("test_error_without", "test_error_with", "mc_test_error"):
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:.1%}"), (name, statistic)
    for name in ("test_loss_without", "test_loss_with", "mc_test_loss"):
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:.3f}"), (name, statistic)


# ## Bad input
def test_bad_probability_rejected() -> None:
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="dropout probability p must be in"):
            Dropout(p)
        with pytest.raises(ValueError, match="dropout probability p must be in"):
            dropout(torch.ones(3), p, training=True)
    with pytest.raises(ValueError, match="dropout probability"):
        DropoutMLP(64, 8, 10, p_hidden=1.0)


def test_bad_input_rejected() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        dropout(torch.ones(3, dtype=torch.long), 0.5, training=True)
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        DropoutMLP(64, 0, 10)
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        mc_probabilities(DropoutMLP(64, 8, 10), torch.zeros(2, 1, 8, 8), 0)
    with pytest.raises(ValueError, match="size"):
        training_subset(digits().train, 0, 0)
