"""Tests for papers/normalization/batch_norm.py: the layer against PyTorch's `BatchNorm1d`/`BatchNorm2d` and
labml-nn's `BatchNorm` (values, gradients, running statistics), the train/evaluation difference, the running
estimates against the noise of a moving average, faster training in miniature, the recorded run, bad input."""
from __future__ import annotations

import pytest
import torch
from labml_nn.normalization.batch_norm import BatchNorm as LabmlBatchNorm
from torch import nn

from papers.kit.data import digits
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.normalization import batch_norm as paper
from papers.normalization.batch_norm import (
    BatchNorm, SmallCNN, batch_dependence, no_norm, running_statistics_error, steps_to_accuracy, train_cnn)


def ours_and_torch(shape: tuple[int, ...], momentum: float = 0.1) -> tuple[BatchNorm, nn.Module]:
    channels = shape[1]
    reference = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(channels, momentum=momentum).double()
    ours = BatchNorm(channels, momentum=momentum).double()
    with torch.no_grad():
        ours.weight.copy_(torch.rand(channels) + 0.5)
        ours.bias.copy_(torch.randn(channels))
        reference.weight.copy_(ours.weight)
        reference.bias.copy_(ours.bias)
    return ours, reference


# ## Against PyTorch
#
# Several training steps (values, gradients with respect to the input and to $\gamma$, $\beta$, and the running
# mean and unbiased running variance after each), then evaluation mode, for images `[N, C, H, W]`, vectors
# `[N, C]` and sequences `[N, C, L]`, in float64.
@pytest.mark.parametrize("shape", [(6, 3, 5, 4), (7, 5), (4, 3, 9)])
def test_matches_torch_in_training_and_evaluation(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    ours, reference = ours_and_torch(shape, momentum=0.3)
    for step in range(3):
        x = (torch.randn(shape, dtype=torch.float64) * (step + 1) + step).requires_grad_()
        x_ref = x.detach().clone().requires_grad_()
        upstream = torch.randn(shape, dtype=torch.float64)
        (ours(x) * upstream).sum().backward()
        (reference(x_ref) * upstream).sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad)
        torch.testing.assert_close(ours.running_mean, reference.running_mean)
        torch.testing.assert_close(ours.running_var, reference.running_var)
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad)
    torch.testing.assert_close(ours.bias.grad, reference.bias.grad)
    ours.eval()
    reference.eval()
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(ours(x), reference(x))


# ## Against labml-nn
#
# labml-nn's layer gives the same training-mode output and gradients and the same running mean. Its running
# variance averages the *biased* batch variance, where PyTorch and the paper's Algorithm 2 use the unbiased one:
# after one step from 1, labml-nn's is $0.9 + 0.1\,\sigma^2_\mathcal{B}$ and ours $0.9 + 0.1\,\frac{n}{n-1}
# \sigma^2_\mathcal{B}$, with $n$ the values per channel.
def test_matches_labml_nn_in_training_mode() -> None:
    torch.manual_seed(1)
    shape = (5, 4, 3, 3)
    ours, _ = ours_and_torch(shape)
    reference = LabmlBatchNorm(4).double()
    with torch.no_grad():
        reference.scale.copy_(ours.weight)
        reference.shift.copy_(ours.bias)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    upstream = torch.randn(shape, dtype=torch.float64)
    (ours(x) * upstream).sum().backward()
    (reference(x_ref) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, reference.scale.grad)
    torch.testing.assert_close(ours.bias.grad, reference.shift.grad)
    torch.testing.assert_close(ours.running_mean, reference.exp_mean)
    n = shape[0] * shape[2] * shape[3]
    biased = x.detach().var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(reference.exp_var, 0.9 + 0.1 * biased)
    torch.testing.assert_close(ours.running_var, 0.9 + 0.1 * biased * n / (n - 1))


# The momentum's two ends: 0 keeps the running statistics at their start, 1 replaces them by the last batch's.
def test_momentum_ends() -> None:
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64) * 3 + 2
    frozen, replaced = BatchNorm(3, momentum=0.0).double(), BatchNorm(3, momentum=1.0).double()
    frozen(x)
    replaced(x)
    torch.testing.assert_close(frozen.running_mean, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(frozen.running_var, torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(replaced.running_mean, x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(replaced.running_var, x.var(dim=(0, 2, 3)))


# In training mode each channel of the output has mean $\beta$ and (biased) standard deviation close to
# $\gamma$ over the batch, whatever the input's scale and offset.
def test_training_output_is_standardised() -> None:
    layer, _ = ours_and_torch((16, 3, 4, 4))
    y = layer(torch.randn(16, 3, 4, 4, dtype=torch.float64) * 50 - 7)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), layer.bias.detach())
    torch.testing.assert_close(y.std(dim=(0, 2, 3), unbiased=False), layer.weight.detach(), rtol=1e-4, atol=1e-4)


# ## Training mode against evaluation mode
#
# A sample's output in training mode depends on the other samples of its batch; in evaluation mode it does not.
# Deterministic (no training), so no calibration: the training-mode difference is of order one, the evaluation
# one exactly zero up to rounding.
def test_train_mode_depends_on_the_batch_eval_mode_does_not() -> None:
    torch.manual_seed(0)
    model = SmallCNN(BatchNorm).double()
    images = digits().test.x[:32].double()
    differences = batch_dependence(model, images)
    assert differences["train_mode"] > 1e-3
    assert differences["eval_mode"] < 1e-12
    torch.testing.assert_close(model.net[2].running_mean, torch.zeros(16, dtype=torch.float64))


# The running mean of a lone layer fed batches of digits settles at the noise of a moving average,
# $\sqrt{m / (2 - m) \cdot \sigma^2 / B}$. Deterministic (a fixed generator, no training, float64), so no
# calibration; measured: the mean error over the last 300 of 400 batches is 0.98 times the floor at seed 0
# and 0.95 to 1.03 over seeds 0-4; the bounds are 0.8 and 1.25.
def test_running_mean_settles_at_the_moving_average_noise() -> None:
    x = digits().train.x.flatten(1).double()
    errors, _, floor = running_statistics_error(x, 400, 32, 0.1, 0)
    late = sum(errors[-300:]) / 300
    assert 0.8 * floor < late < 1.25 * floor
    assert errors[0] > 5 * floor


# ## The claim in miniature
#
# The experiment's two arms, each at its best rate of the full run's sweep (0.1 for both),
# trained for 150 steps on the same batches. `claim_metrics` returns the steps each takes to
# reach 90% validation accuracy (160 if it never does).
def claim_metrics(seed: int) -> dict[str, float]:
    data = digits()
    result = {}
    for name, norm, lr in (("plain", no_norm, 0.1), ("bn", BatchNorm, 0.1)):
        _, history = train_cnn(lambda norm=norm: SmallCNN(norm), (data.train, data.valid), lr, 32, 150, seed, 10)
        reached = steps_to_accuracy(history, 0.9)
        result[f"steps_{name}"] = float(reached if reached is not None else 160)
    return result


# Measured over seeds 0-2 at 1 thread and under portable kernels (`ATEN_CPU_CAPABILITY=default`), and seed 0 at
# 2 threads (the overloaded machine did not finish the rest of scripts/calibrate.py): steps with batch
# normalisation 70-90 (threshold: at most 120 on every seed), without it 140-160; ratio of the sums over the
# seeds 1.83-1.92 (threshold 1.4).
@pytest.mark.claim
def test_batch_norm_reaches_the_target_sooner() -> None:
    metrics = [claim_metrics(seed) for seed in (0, 1, 2)]
    for m in metrics:
        assert m["steps_bn"] <= 120
    assert sum(m["steps_plain"] for m in metrics) > 1.4 * sum(m["steps_bn"] for m in metrics)


# ## The recorded run
def test_recorded_run_shows_the_claim() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["speedup"]["min"] > 1.5
    assert metrics["test_accuracy_bn"]["mean"] >= metrics["test_accuracy_plain"]["mean"]
    usable = metrics["largest_usable_rate"]
    assert usable["batch norm"] is not None
    assert usable["plain"] is None or usable["batch norm"] > usable["plain"]
    assert metrics["batch_dependence"]["train_mode"] > 1e-2
    assert metrics["batch_dependence"]["eval_mode"] < 1e-6


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    bn, plain = metrics["steps_bn"], metrics["steps_plain"]
    assert quoted_on_page(paper.__file__, f"validation accuracy after {bn['mean']:.0f} steps (mean of three seeds, "
                                          f"{bn['min']:.0f} to {bn['max']:.0f})")
    assert quoted_on_page(paper.__file__, f"without it after {plain['mean']:.0f} ({plain['min']:.0f} to "
                                          f"{plain['max']:.0f})")
    assert quoted_on_page(paper.__file__, f"test accuracy is {metrics['test_accuracy_bn']['mean']:.1%} against "
                                          f"{metrics['test_accuracy_plain']['mean']:.1%}")
    assert quoted_on_page(paper.__file__, f"{metrics['speedup']['mean']:.1f} times fewer steps on average")


# ## Bad input
def test_bad_input_rejected() -> None:
    layer = BatchNorm(3)
    with pytest.raises(ValueError, match="dimension 1 should be 3"):
        layer(torch.randn(4, 5, 2, 2))
    with pytest.raises(ValueError, match="2 dimensions"):
        layer(torch.randn(3))
    with pytest.raises(ValueError, match="single value"):
        layer(torch.randn(1, 3))
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.randn(4, 3, dtype=torch.float64))
    for eps in (0.0, -1e-5):
        with pytest.raises(ValueError, match="eps must be a positive number"):
            BatchNorm(3, eps=eps)
    for momentum in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
            BatchNorm(3, momentum=momentum)
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="at least 4 images"):
        batch_dependence(SmallCNN(BatchNorm), torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="target"):
        steps_to_accuracy(train_cnn(lambda: SmallCNN(no_norm), (digits().train, digits().valid), 0.1, 4, 1, 0, 1)[1],
                          1.5)
