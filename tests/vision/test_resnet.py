"""Tests for papers/vision/resnet.py: blocks against hand computation and labml-nn, shapes, the claim."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.data import digits
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.vision import resnet as resnet_page
from papers.vision.resnet import (BasicBlock, ProjectionShortcut, ResNet, best_rate, mean_of, network_layouts,
                                  smoothed, sweep)


def randomise_batch_norm(module: nn.Module, generator: torch.Generator) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics."""
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            c = bn.num_features
            bn.weight.data = torch.rand(c, generator=generator, dtype=bn.weight.dtype) + 0.5
            bn.bias.data = torch.randn(c, generator=generator, dtype=bn.bias.dtype)
            bn.running_mean = torch.randn(c, generator=generator, dtype=bn.running_mean.dtype)
            bn.running_var = torch.rand(c, generator=generator, dtype=bn.running_var.dtype) + 0.5


def batch_norm_by_hand(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Evaluation-mode batch norm: gamma (x - mean) / sqrt(var + eps) + beta, per channel."""
    shape = (1, -1, 1, 1)
    normalised = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    return bn.weight.view(shape) * normalised + bn.bias.view(shape)


def make_block(in_channels: int, out_channels: int, stride: int, residual: bool = True) -> BasicBlock:
    torch.manual_seed(0)
    block = BasicBlock(in_channels, out_channels, stride, residual).double()
    randomise_batch_norm(block, torch.Generator().manual_seed(1))
    return block.eval()


def residual_by_hand(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    stride = block.conv1.stride
    h = F.relu(batch_norm_by_hand(F.conv2d(x, block.conv1.weight, stride=stride, padding=1), block.bn1))
    return batch_norm_by_hand(F.conv2d(h, block.conv2.weight, padding=1), block.bn2)


def test_identity_block_is_residual_plus_input():
    block = make_block(6, 6, 1)
    x = torch.randn(3, 6, 7, 7, dtype=torch.float64)
    expected = F.relu(residual_by_hand(block, x) + x)
    torch.testing.assert_close(block(x), expected)


def test_plain_block_has_no_shortcut():
    block = make_block(6, 6, 1, residual=False)
    x = torch.randn(3, 6, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(block(x), F.relu(residual_by_hand(block, x)))


def test_projection_shortcut_is_a_strided_1x1_convolution():
    torch.manual_seed(0)
    projection = ProjectionShortcut(4, 8, stride=2).double()
    randomise_batch_norm(projection, torch.Generator().manual_seed(2))
    projection.eval()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    # A 1x1 convolution with stride 2 is a matrix product on every second pixel.
    w = projection.conv.weight[:, :, 0, 0]  # [8, 4]
    by_hand = torch.einsum("oc,bchw->bohw", w, x[:, :, ::2, ::2])
    torch.testing.assert_close(projection(x), batch_norm_by_hand(by_hand, projection.bn))


def test_downsampling_block_uses_the_projection():
    block = make_block(4, 8, 2)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    expected = F.relu(residual_by_hand(block, x) + block.shortcut(x))
    assert isinstance(block.shortcut, ProjectionShortcut)
    assert block(x).shape == (2, 8, 4, 4)
    torch.testing.assert_close(block(x), expected)


def test_zero_residual_branch_makes_the_block_the_identity():
    # With the last BN's gamma and beta at zero, F(x) = 0 exactly, and y = ReLU(x) = x for x >= 0 (the
    # output of the previous block's ReLU), in training mode too.
    block = BasicBlock(5, 5).double().train()
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    x = torch.rand(4, 5, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)


@pytest.mark.parametrize("in_channels,out_channels,stride", [(6, 6, 1), (4, 8, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_matches_labml_residual_block(in_channels, out_channels, stride, training):
    from labml_nn.resnet import ResidualBlock

    ours = make_block(in_channels, out_channels, stride).train(training)
    theirs = ResidualBlock(in_channels, out_channels, stride).double().train(training)
    # labml's convolutions have biases; ours have none (BN follows), so theirs are set to zero.
    for conv in (m for m in theirs.modules() if isinstance(m, nn.Conv2d)):
        nn.init.zeros_(conv.bias)
    mapping = {"conv1": "conv1", "bn1": "bn1", "conv2": "conv2", "bn2": "bn2"}
    if stride != 1:
        mapping.update({"shortcut.conv": "shortcut.conv", "shortcut.bn": "shortcut.bn"})
    ours_modules, theirs_modules = dict(ours.named_modules()), dict(theirs.named_modules())
    for name_ours, name_theirs in mapping.items():
        theirs_modules[name_theirs].load_state_dict(ours_modules[name_ours].state_dict(), strict=False)
    x = torch.randn(3, in_channels, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_network_shapes_and_depth():
    model = ResNet(2, width=4, classes=10)
    assert model.depth == 14
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == model.depth  # 3x3 convolutions plus the classifier
    assert model(torch.randn(5, 1, 16, 16)).shape == (5, 10)
    features = model.stages(model.stem(torch.randn(5, 1, 16, 16)))
    assert features.shape == (5, 16, 4, 4)


def test_plain_network_has_no_projections():
    plain, residual = ResNet(1, residual=False), ResNet(1, residual=True)
    assert not any(isinstance(m, ProjectionShortcut) for m in plain.modules())
    assert sum(isinstance(m, ProjectionShortcut) for m in residual.modules()) == 2


def test_smoothed_is_a_trailing_mean():
    assert smoothed([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]


def claim_metrics(seed: int) -> dict[str, float]:
    """The quick networks (plain-8, plain-26, resnet-26; 100 steps, one seed), each at the rate of the page's sweep
    with the lower final training loss: ratios of their final training losses."""
    data = digits()
    runs = sweep(network_layouts(1, 4), (data.train, data.test), 100, [seed])
    loss = {name: mean_of(by_rate[best_rate(by_rate)], "final_train_loss") for name, by_rate in runs.items()}
    return {"deep_over_shallow": loss["plain-26"] / loss["plain-8"],
            "deep_over_resnet": loss["plain-26"] / loss["resnet-26"],
            "resnet_over_shallow": loss["resnet-26"] / loss["plain-8"]}


# Quick run: plain-8, plain-26 and resnet-26 on the 8 x 8 digits, 100 steps, each at its best rate of the sweep
# {0.01, 0.05} at the seed; final loss is the mean of the last 10 steps. Measured at 1 thread over seeds 0-2 and
# under portable kernels at seed 0 (the 2-thread runs were cut short on a machine loaded 6-fold): plain-26 over
# plain-8 4.67, 6.43, 4.78 and 4.03 portable (threshold 2.5); plain-26 over resnet-26 4.36, 4.52, 3.93 and 3.68
# portable (threshold 2.0). The paper's third point, the deep ResNet beating the shallow plain net, is not
# asserted at this size: resnet-26's loss is 1.07-1.42 times plain-8's, i.e. the resnet-vs-shallow-plain ordering
# reverses at this size (the page says so).
@pytest.mark.claim
def test_degradation_in_miniature():
    ratios = claim_metrics(0)
    assert ratios["deep_over_shallow"] > 2.5  # degradation: the deeper plain net trains worse
    assert ratios["deep_over_resnet"] > 2.0  # shortcuts fix it


# The control a referee asks for, on the recorded run: plain-56 is worse than plain-20 at both rates of the sweep.
# Its training loss is above plain-20's at every rate of the sweep and on every seed at the best rates, and each
# network's best rate is the one with the lower mean final training loss (not chosen on the test set).
def test_recorded_degradation_holds_at_every_rate_of_the_sweep():
    metrics = recorded_metrics(resnet_page.__file__)
    sweep_results = metrics["sweep"]
    assert len(metrics["seeds"]) >= 3
    for name, by_rate in sweep_results.items():
        losses = {float(lr): summary["final_train_loss"]["mean"] for lr, summary in by_rate.items()}
        assert metrics["best_rate"][name] == min(losses, key=losses.get)
    worst_shallow = max(s["final_train_loss"]["max"] for s in sweep_results["plain-20"].values())
    assert min(s["final_train_loss"]["min"] for s in sweep_results["plain-56"].values()) > worst_shallow
    differences = metrics["differences"]
    assert differences["plain-56 minus plain-20"]["final_train_loss"]["min"] > 1.0
    assert differences["resnet-56 minus plain-56"]["final_train_loss"]["max"] < -1.0
    assert differences["resnet-56 minus plain-20"]["final_train_loss"]["max"] < 0.0


def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(resnet_page.__file__)
    best, differences = metrics["best"], metrics["differences"]
    for name in ("plain-20", "plain-56", "resnet-56"):
        row = best[name]
        assert quoted_on_page(resnet_page.__file__, f"| {name} | {metrics['best_rate'][name]} | "
                                                    f"{row['final_train_loss']['mean']:.2f} | "
                                                    f"{row['train_error']['mean']:.1%} | "
                                                    f"{row['test_accuracy']['mean']:.1%} |")
    other_rate = metrics["sweep"]["plain-56"]["0.05"]["final_train_loss"]["mean"]
    assert quoted_on_page(resnet_page.__file__, f"At its other rate, 0.05, it does no better (training loss "
                                                f"{other_rate:.2f})")
    for key, fmt in (("plain-56 minus plain-20", "by {min:.2f} to {max:.2f} (mean {mean:.2f})"),
                     ("resnet-56 minus plain-20", "by {neg_max:.2f} to {neg_min:.2f} (mean {neg_mean:.2f})"),
                     ("resnet-56 minus plain-56", "by {neg_max:.2f} to {neg_min:.2f} on every seed")):
        loss = differences[key]["final_train_loss"]
        text = fmt.format(**loss, neg_max=-loss["max"], neg_min=-loss["min"], neg_mean=-loss["mean"])
        assert quoted_on_page(resnet_page.__file__, text), text
    error = differences["plain-56 minus plain-20"]["train_error"]
    assert quoted_on_page(resnet_page.__file__, f"by {100 * error['min']:.1f} to {100 * error['max']:.1f} points "
                                                f"(mean {100 * error['mean']:.1f})")
    error = differences["resnet-56 minus plain-20"]["train_error"]
    assert quoted_on_page(resnet_page.__file__, f"{-100 * error['mean']:.1f} points in resnet-56's favour on "
                                                f"average, but from {-100 * error['min']:.1f} points ahead to "
                                                f"{100 * error['max']:.1f} points behind")


def test_bad_input():
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        BasicBlock(4, 4, stride=3)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        BasicBlock(0, 4)
    with pytest.raises(ValueError, match="blocks_per_stage must be a positive integer"):
        ResNet(0)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        ResNet(1, width=0)
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 1, height, width\]"):
        ResNet(1)(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 4, height, width\]"):
        BasicBlock(4, 4)(torch.randn(4, 8, 8))
