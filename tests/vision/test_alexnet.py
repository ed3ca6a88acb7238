"""Tests for the scaled-down AlexNet: local response normalisation, the network's shapes, and the claims."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from papers.kit.data import Split, digits
from papers.kit.experiment import quoted_on_page, recorded_metrics, seed_everything
from papers.kit.training import History
from papers.kit.vision import resize
from papers.vision import alexnet as alexnet_page
from papers.vision.alexnet import (LEARNING_RATES, AlexNet, LocalResponseNorm, fastest_rate, local_response_norm,
                                   make_model, standardised, steps_to_error, train_test_gap,
                                   training_error_curve)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("n, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.1, 0.5, 1.0), (1, 0.3, 1.0, 0.5)])
def test_lrn_matches_pytorch_with_alpha_times_n(n, alpha, beta, k):
    # Large activations (x 10) so that the normalisation term matters.
    a = 10 * rand(2, 7, 4, 5)
    reference = nn.LocalResponseNorm(size=n, alpha=n * alpha, beta=beta, k=k)
    torch.testing.assert_close(local_response_norm(a, n, alpha, beta, k), reference(a))


def test_lrn_matches_the_formula_by_brute_force():
    a, n, alpha, beta, k = 3 * rand(1, 6, 2, 2), 5, 1e-2, 0.75, 2.0
    expected = torch.empty_like(a)
    for i in range(6):
        window = range(max(0, i - n // 2), min(5, i + n // 2) + 1)
        expected[:, i] = a[:, i] / (k + alpha * sum(a[:, j] ** 2 for j in window)) ** beta
    torch.testing.assert_close(LocalResponseNorm(n, alpha, beta, k)(a), expected)


def test_network_shapes_and_overlapping_pooling():
    model = AlexNet()
    assert model.features(torch.zeros(2, 1, 24, 24)).shape == (2, 16, 2, 2)  # 24 -> 11 -> 5 -> 2
    assert model(torch.zeros(2, 1, 24, 24)).shape == (2, 10)
    wide = AlexNet(widths=(4, 4, 4, 4, 6), image_size=32)
    assert wide.features(torch.zeros(1, 1, 32, 32)).shape == (1, 6, 3, 3)  # 32 -> 15 -> 7 -> 3
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 3 and p.stride == 2 for p in pools)


def digits24() -> tuple[Split, Split]:
    data = digits()
    return standardised(resize(data.train, 24), resize(data.test, 24))


@pytest.fixture(scope="module", name="digits32")
def fixture_digits32() -> tuple[Split, Split]:
    return digits24()


def claim_metrics(seed: int, data: tuple[Split, Split] | None = None) -> dict[str, float]:
    """Steps to 25% training error on the 256-image probe within 50 steps, each non-linearity at the best rate of
    the page's sweep at this seed, and tanh at that rate from the ReLU network's initial weights (inf if never)."""
    seed_everything(seed)
    train, _ = data if data is not None else digits24()
    probe = Split(train.x[:256], train.y[:256])
    runs = {a: {lr: [training_error_curve(a, train, probe, 50, seed, lr)] for lr in LEARNING_RATES}
            for a in ("relu", "tanh")}
    best = {a: fastest_rate(by_rate, 50) for a, by_rate in runs.items()}
    histories = {a: runs[a][best[a]][0] for a in runs}
    histories["tanh_relu_init"] = training_error_curve("tanh", train, probe, 50, seed, best["tanh"], init="relu")
    reached = {name: steps_to_error(h, 0.25) for name, h in histories.items()}
    return {name: float("inf") if steps is None else float(steps) for name, steps in reached.items()}


# The paper's Figure 1 has ReLU six times faster than tanh; at this scale it is the other way round (the page
# says so). Steps to 25% training error, measured every 10 steps within 50, each non-linearity at its best rate
# of the sweep at the seed; at 1 thread over seeds 0-2 and under portable kernels at seed 0 (the 2-thread runs
# were left out on a machine loaded 6-fold): ReLU 50 in all four, tanh 20, 30, 20 and 20, tanh from the ReLU
# network's initial weights 20 in all four. Thresholds: tanh and the control at most 40, and no slower than ReLU
# (whose arrival within 50 steps is not asserted: the full run has it at 60 on one seed).
@pytest.mark.claim
def test_speed_tanh_is_not_slower_at_this_scale(digits32):
    reached = claim_metrics(0, digits32)
    assert reached["tanh"] <= 40 and reached["tanh_relu_init"] <= 40
    assert reached["tanh"] <= reached["relu"]
    assert reached["tanh_relu_init"] <= reached["relu"]


# Seeded, the train-test-gap run repeats: dropout masks, shifts and batches are drawn again the same, and the gap
# is training minus test accuracy. (That the accuracies are measured in evaluation mode is the code's doing, not
# checked here.) The accuracies are compared to within one image, not bit for bit, so that the check is about the
# seeding, not about the last bits.
@pytest.mark.claim
def test_train_test_gap_run_repeats_under_its_seed(digits32):
    seed_everything(0)
    run = train_test_gap(True, digits32, steps=20, seed=0, lr=0.01)
    assert 0.0 <= run["test_accuracy"] <= 1.0 and 0.0 <= run["train_accuracy"] <= 1.0
    assert run["gap"] == pytest.approx(run["train_accuracy"] - run["test_accuracy"])
    again = train_test_gap(True, digits32, steps=20, seed=0, lr=0.01)
    assert again == pytest.approx(run, abs=1.5 / len(digits32[1].y))


def test_the_same_seed_and_init_give_relu_and_tanh_the_same_weights():
    relu, tanh = make_model("relu", 0.0, seed=3), make_model("tanh", 0.0, seed=3, init="relu")
    for a, b in zip(relu.parameters(), tanh.parameters()):
        assert torch.equal(a, b)
    own = make_model("tanh", 0.0, seed=3)
    ratio = own.features[0].weight.std() / relu.features[0].weight.std()
    assert ratio.item() == pytest.approx((5 / 3) / 2 ** 0.5, rel=1e-5)  # the same draws, scaled by the gain


def test_rate_choice_counts_unreached_runs_as_the_budget_and_breaks_ties_by_final_error():
    def curve(*accuracies: float) -> History:
        history = History()
        for k, accuracy in enumerate(accuracies):
            history.record(10 * k + 9, {"eval_accuracy": accuracy})
        return history
    by_rate = {0.01: [curve(0.5, 0.8, 0.9)], 0.03: [curve(0.8, 0.85, 0.95)], 0.1: [curve(0.8, 0.9, 0.9)]}
    assert fastest_rate(by_rate, 30) == 0.03  # 0.03 and 0.1 reach 25% at step 10; 0.03 ends lower
    assert fastest_rate({0.01: [curve(0.5, 0.6, 0.7)], 0.03: [curve(0.5, 0.6, 0.8)]}, 30) == 0.03


def test_steps_to_error_reads_the_history():
    history = History()
    for step, accuracy in ((9, 0.5), (19, 0.8), (29, 0.9)):
        history.record(step, {"loss": 1.0, "eval_accuracy": accuracy})
    assert steps_to_error(history, 0.25) == 20
    assert steps_to_error(history, 0.05) is None


# The controls a referee asks for, on the recorded run: each rate was chosen by the sweep's own criterion (no
# test data), both chosen rates lie inside the sweep, tanh is ahead of ReLU on every seed, and tanh started from
# the ReLU network's own initial weights is no slower than ReLU either.
def test_recorded_speed_comparison_is_fair():
    speed = recorded_metrics(alexnet_page.__file__)["speed"]
    assert len(speed["steps_to_target"]["relu (lr 0.01)"]["per_seed"]) >= 3
    for activation, by_rate in speed["sweep"].items():
        scores = {float(lr): tuple(result["score"]) for lr, result in by_rate.items()}
        best = speed["best_rate"][activation]
        assert best == min(scores, key=scores.get)
        assert min(LEARNING_RATES) < best < max(LEARNING_RATES)
    steps = {name.split(" ")[0].rstrip(","): value for name, value in speed["steps_to_target"].items()}
    relu, tanh = steps["relu"]["per_seed"], steps["tanh"]["per_seed"]
    control = speed["steps_to_target"]["tanh, ReLU's initial weights"]["per_seed"]
    assert all(tanh[s] < relu[s] and control[s] < relu[s] for s in relu)


def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(alexnet_page.__file__)
    speed, gap = metrics["speed"], metrics["gap"]

    def quoted(text: str) -> None:
        assert quoted_on_page(alexnet_page.__file__, text), text

    def seeds_and_mean(summary: dict) -> str:
        first, second, third = (f"{v:.0f}" for v in summary["per_seed"].values())
        return f"{first}, {second} and {third}"

    relu, tanh, control = speed["steps_to_target"].values()
    quoted("0.01 for ReLU and 0.03 for tanh")
    assert speed["best_rate"] == {"relu": 0.01, "tanh": 0.03}
    quoted(f"tanh gets there in {seeds_and_mean(tanh)} steps (mean {tanh['mean']:.1f}) and ReLU in "
           f"{seeds_and_mean(relu)} (mean {relu['mean']:.1f})")
    ratio = speed["tanh_over_relu_steps"]
    quoted(f"{ratio['mean']:.2f} on average ({ratio['min']:.2f} to {ratio['max']:.2f};")
    quoted(f"25% in {seeds_and_mean(control)} steps (mean {control['mean']:.1f}), no slower")
    plain, regularised = gap["plain"], gap["dropout + shifts"]
    quoted(f"trained for {gap['steps']} steps at ReLU's rate from the sweep ({gap['learning_rate']})")
    quoted(f"({plain['train_accuracy']['min']:.1%} in every seed) and tests at {plain['test_accuracy']['mean']:.1%} "
           f"on average ({plain['test_accuracy']['min']:.1%} to {plain['test_accuracy']['max']:.1%})")
    quoted(f"already small, {100 * plain['gap']['mean']:.1f} points")
    accuracy = regularised["train_accuracy"]
    quoted(f"(training accuracy {accuracy['mean']:.1%} on average, from {accuracy['min']:.1%} to "
           f"{accuracy['max']:.1%}; test accuracy {regularised['test_accuracy']['mean']:.1%})")
    quoted(f"{100 * regularised['gap']['mean']:.1f} points on average ({100 * regularised['gap']['min']:.1f} to "
           f"{100 * regularised['gap']['max']:.1f})")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="odd"):
        local_response_norm(torch.zeros(1, 4, 2, 2), n=4)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        local_response_norm(torch.zeros(4, 2, 2))
    with pytest.raises(ValueError, match="activation"):
        AlexNet(activation="sigmoid")
    with pytest.raises(ValueError, match="init must be one of"):
        AlexNet(init="gelu")
    with pytest.raises(ValueError, match="dropout"):
        AlexNet(dropout=1.0)
    with pytest.raises(ValueError, match="five"):
        AlexNet(widths=(8, 8, 8))
    with pytest.raises(ValueError, match=r"x must have shape \[N, 1, 24, 24\]"):
        AlexNet()(torch.zeros(2, 3, 32, 32))
