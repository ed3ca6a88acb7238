"""Tests for papers/vision/identity_mappings.py: pre-activation blocks, exact shortcut gradients, the claim."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.vision import identity_mappings
from papers.vision.identity_mappings import (PreActBlock, PreActResNet, ShortcutBlock, gradient_norms,
                                             gradient_study, shortcut_stack, signal_stds)
from papers.vision.resnet import BasicBlock


def randomise_batch_norm(module: nn.Module, generator: torch.Generator) -> None:
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            c = bn.num_features
            bn.weight.data = torch.rand(c, generator=generator, dtype=torch.float64) + 0.5
            bn.bias.data = torch.randn(c, generator=generator, dtype=torch.float64)
            bn.running_mean = torch.randn(c, generator=generator, dtype=torch.float64)
            bn.running_var = torch.rand(c, generator=generator, dtype=torch.float64) + 0.5


def bn_relu_by_hand(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    normalised = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    return torch.clamp(bn.weight.view(shape) * normalised + bn.bias.view(shape), min=0.0)


def make_block(in_channels: int, out_channels: int, stride: int) -> PreActBlock:
    torch.manual_seed(0)
    block = PreActBlock(in_channels, out_channels, stride).double()
    randomise_batch_norm(block, torch.Generator().manual_seed(1))
    return block.eval()


@pytest.mark.parametrize("in_channels,out_channels,stride", [(5, 5, 1), (4, 8, 2)])
def test_pre_activation_block_by_hand(in_channels, out_channels, stride):
    block = make_block(in_channels, out_channels, stride)
    x = torch.randn(3, in_channels, 8, 8, dtype=torch.float64)
    activated = bn_relu_by_hand(x, block.bn1)
    h = bn_relu_by_hand(F.conv2d(activated, block.conv1.weight, stride=stride, padding=1), block.bn2)
    residual = F.conv2d(h, block.conv2.weight, padding=1)
    if stride == 1:
        shortcut = x  # the identity: nothing after the addition either
    else:
        shortcut = torch.einsum("oc,bchw->bohw", block.projection.weight[:, :, 0, 0], activated[:, :, ::2, ::2])
    torch.testing.assert_close(block(x), shortcut + residual)


def zero_residual_stack(kind: str, blocks: int, channels: int, **kwargs) -> nn.Sequential:
    stack = nn.Sequential(*(ShortcutBlock(channels, kind, **kwargs) for _ in range(blocks))).double().train()
    for block in stack:
        nn.init.zeros_(block.branch.conv2.weight)  # F(x) = 0 exactly
        if block.gate is not None:
            nn.init.zeros_(block.gate.weight)  # a constant gate g = sigmoid(b)
    return stack


@pytest.mark.parametrize("kind,factor", [("identity", 1.0), ("scaled", 0.5), ("scaled", 0.8),
                                         ("gated", 1.0 / (1.0 + math.exp(1.5)))])
def test_zero_residual_gradient_is_exactly_the_product_of_shortcuts(kind, factor):
    # With F = 0, x_L = lambda^L x_0, so dE/dx_0 = lambda^L dE/dx_L exactly (lambda = 1 - sigmoid(b) for the
    # constant gate g = sigmoid(b), with b = 1.5).
    blocks = 12
    scale = factor if kind == "scaled" else 0.5
    stack = zero_residual_stack(kind, blocks, 4, scale=scale, gate_bias=1.5)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    r = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    (stack(x) * r).sum().backward()
    torch.testing.assert_close(x.grad, factor ** blocks * r)


def test_gradient_norms_with_zero_residuals():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    identity = gradient_norms(zero_residual_stack("identity", 6, 4), x, generator)
    scaled = gradient_norms(zero_residual_stack("scaled", 6, 4), x, generator)
    assert identity == pytest.approx([1.0] * 7)
    assert scaled == pytest.approx([0.5 ** (6 - l) for l in range(7)])


def test_signal_stds_with_zero_residuals():
    # With F = 0 the scaled stack multiplies the signal by lambda = 0.5 per block, so its std by 0.5 exactly.
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    stds = signal_stds(zero_residual_stack("scaled", 6, 4), x)
    assert stds == pytest.approx([float(x.std()) * 0.5 ** l for l in range(7)])


def test_network_shapes():
    model = PreActResNet(2, width=4)
    assert model.depth == 14
    assert model(torch.randn(3, 1, 16, 16)).shape == (3, 10)


def claim_metrics(seed: int) -> dict[str, float]:
    """log10 of the gradient reaching the first of 30 fresh blocks, relative to the top, per kind of shortcut."""
    study = gradient_study(30, 8, seed, batch_statistics=False)
    return {f"log10_{kind}": math.log10(norms[0]) for kind, norms in study.items()}


# Fresh stacks of 30 blocks, BN fixed: identity ~ O(1), scaled ~ 0.5^30 ~ 1e-9, gated likewise; compared on a
# log scale, with orders of magnitude between the kinds. Measured (log10) over seeds 0-2 at 1 and 2 threads and
# portable kernels: identity 0.12-0.15 (thresholds -0.3 and 0.6), scaled -8.91 to -8.89 and gated -8.85 to
# -8.79 (threshold -6).
@pytest.mark.claim
def test_gradient_reaching_the_first_block():
    for seed in range(3):
        first = claim_metrics(seed)
        assert -0.3 < first["log10_identity"] < 0.6
        assert first["log10_scaled"] < -6
        assert first["log10_gated"] < -6


def zero_residual_stage(block_type: type, blocks: int, channels: int) -> nn.Sequential:
    torch.manual_seed(0)
    stage = nn.Sequential(*(block_type(channels, channels, 1) for _ in range(blocks))).double().eval()
    for block in stage:
        nn.init.zeros_(block.conv2.weight)  # F(x) = 0 exactly (the post-activation BN maps 0 to its shift, 0)
    return stage


# Pre- against post-activation, the paper's section 4 argument made exact: with zero residual branches a stage
# of pre-activation blocks is the identity, forward and backward, however deep, while a stage of the original
# post-activation blocks is a ReLU, which zeroes the shortcut's signal and its gradient wherever x < 0.
# (The training comparison is checked over three seeds by the full run, quoted by the page. A miniature of it,
# 56 layers for 100 steps at the rate 0.01, did not keep a margin to test: post minus pre training error 0.095,
# -0.006 and 0.027 for seeds 0-2.)
def test_pre_activation_keeps_the_shortcut_clean_and_post_activation_truncates_it():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    r = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    for block_type, expected, mask in ((PreActBlock, x, torch.ones_like(r)),
                                       (BasicBlock, F.relu(x), (x > 0).double())):
        x.grad = None
        out = zero_residual_stage(block_type, 12, 4)(x)
        (out * r).sum().backward()
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(x.grad, mask * r)
    assert 0 < int((x < 0).sum()) < x.numel()  # the ReLU does cut something


def test_page_quotes_the_recorded_numbers():
    page = identity_mappings.__file__
    recorded = recorded_metrics(page)
    gradients = [v["mean"] for mode in recorded["log10_first_block_gradient"].values() for v in mode.values()]
    signal = [v["mean"] for v in recorded["scaled_with_batch_statistics"].values()]
    training = recorded["training"]
    quotes = [f"{v:.2f}" for v in gradients + signal]
    for setting, designs in training["sweep"].items():
        for name, result in designs.items():
            quotes += [f"{result['final_train_loss']['mean']:.2f}", f"{result['test_accuracy']['mean']:.1%}"]
            if setting == training["best_setting"][name]:
                quotes.append(f"{result['train_error']['mean']:.1%}")
    gap = training["pre_minus_post_test_accuracy"]
    assert min(gap["per_seed"].values()) > 0  # the page: pre-activation ahead on every seed
    quotes += [f"{gap['mean']:.1%}"] + [f"{v:.1%}" for v in gap["per_seed"].values()]
    quotes += [f"{v:.2f}" for v in training["pre_minus_post_final_train_loss"]["per_seed"].values()]
    for text in quotes:
        assert quoted_on_page(page, text), text


def test_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        ShortcutBlock(4, "learned")
    with pytest.raises(ValueError, match=r"scale must be in \[0, 1\]"):
        ShortcutBlock(4, "scaled", scale=1.5)
    with pytest.raises(ValueError, match="blocks must be a positive integer"):
        shortcut_stack("identity", 0, 4)
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 4, height, width\]"):
        ShortcutBlock(4, "identity")(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 1, height, width\]"):
        PreActResNet(1)(torch.randn(2, 2, 8, 8))
    with pytest.raises(ValueError, match="classes must be a positive integer"):
        PreActResNet(1, classes=0)
