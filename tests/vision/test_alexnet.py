"""Tests for the scaled-down AlexNet: local response normalisation, the network's shapes, and the claims."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from papers.kit.data import Split, digits
from papers.kit.experiment import seed_everything
from papers.kit.training import History
from papers.kit.vision import resize
from papers.vision.alexnet import (AlexNet, LocalResponseNorm, local_response_norm, standardised,
                                   steps_to_error, train_test_gap, training_error_curve)


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


def speed_metrics(seed: int, digits32: tuple[Split, Split] | None = None) -> dict[str, float]:
    """Steps to 25% training error on the 256-image probe (measured every 10 steps; inf if never reached)."""
    seed_everything(seed)
    train, _ = digits32 if digits32 is not None else digits24()
    probe = Split(train.x[:256], train.y[:256])
    reached = {a: steps_to_error(training_error_curve(a, train, probe, 60, seed=seed), 0.25)
               for a in ("relu", "tanh")}
    return {a: float("inf") if steps is None else float(steps) for a, steps in reached.items()}


# The paper's Figure 1 has ReLU six times faster than tanh; at this scale it is the other way round (the page
# says so). Steps to 25% training error on the 256-image probe, measured every 10 steps, over seeds 0-2 at
# 1 thread and portable kernels: tanh (lr 0.03) 20-30 (threshold 40), ReLU (lr 0.01) 50, 60 or not within the
# 60 steps (seed 1, portable kernels), so ReLU's arrival is not asserted, only that tanh gets there first.
@pytest.mark.claim
def test_speed_tanh_reaches_the_target_and_is_not_slower_at_this_scale(digits32):
    reached = speed_metrics(0, digits32)
    assert reached["tanh"] <= 40
    assert reached["tanh"] <= reached["relu"]


# Seeded, the run repeats: dropout masks, shifts and batches are drawn again the same. The accuracies are
# compared to within one image, not bit for bit, so that the check is about the seeding, not about the last bits.
@pytest.mark.claim
def test_train_test_gap_is_measured_in_evaluation_mode(digits32):
    seed_everything(0)
    train, test = digits32
    run = train_test_gap(True, train, test, steps=20, seed=0)
    assert 0.0 <= run["test_accuracy"] <= 1.0 and 0.0 <= run["train_accuracy"] <= 1.0
    assert run["gap"] == pytest.approx(run["train_accuracy"] - run["test_accuracy"])
    again = train_test_gap(True, train, test, steps=20, seed=0)
    assert again == pytest.approx(run, abs=1.5 / len(test.y))


def test_steps_to_error_reads_the_history():
    history = History()
    for step, accuracy in ((9, 0.5), (19, 0.8), (29, 0.9)):
        history.record(step, {"loss": 1.0, "eval_accuracy": accuracy})
    assert steps_to_error(history, 0.25) == 20
    assert steps_to_error(history, 0.05) is None


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="odd"):
        local_response_norm(torch.zeros(1, 4, 2, 2), n=4)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        local_response_norm(torch.zeros(4, 2, 2))
    with pytest.raises(ValueError, match="activation"):
        AlexNet(activation="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        AlexNet(dropout=1.0)
    with pytest.raises(ValueError, match="five"):
        AlexNet(widths=(8, 8, 8))
    with pytest.raises(ValueError, match=r"x must have shape \[N, 1, 24, 24\]"):
        AlexNet()(torch.zeros(2, 3, 32, 32))
