"""Tests for papers/normalization/group_norm.py: the layer against PyTorch's `GroupNorm` and labml-nn's (values
and gradients), its two limits (one group is layer normalisation, one channel per group is instance
normalisation), its independence of the batch, the small-batch claim in miniature, the recorded run, bad
input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from labml_nn.normalization.group_norm import GroupNorm as LabmlGroupNorm
from torch import nn

from comparisons import value_and_gradients, with_random_affine
from papers.kit.data import digits
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.normalization import group_norm as paper
from papers.normalization.batch_norm import BatchNorm
from papers.normalization.group_norm import (
    GhostBatchNorm, GroupNorm, SmallCNN, ghost_batch_norm, group_norm, one_run, steps_for, train_decayed,
    with_recomputed_statistics)
from papers.normalization.instance_norm import InstanceNorm
from papers.normalization.layer_norm import LayerNorm


# ## Against PyTorch and labml-nn
#
# Values and gradients (input, $\gamma$, $\beta$) in float64, for images, vectors and sequences.
@pytest.mark.parametrize("shape,groups", [((3, 6, 4, 5), 3), ((4, 8), 2), ((2, 4, 7), 4), ((2, 6, 3, 3), 1)])
def test_matches_torch(shape: tuple[int, ...], groups: int) -> None:
    torch.manual_seed(0)
    ours = with_random_affine(GroupNorm(groups, shape[1]).double())
    reference = nn.GroupNorm(groups, shape[1]).double()
    reference.load_state_dict(ours.state_dict())
    x, upstream = torch.randn(shape, dtype=torch.float64) * 3 + 1, torch.randn(shape, dtype=torch.float64)
    for a, b in zip(value_and_gradients(ours, x, upstream), value_and_gradients(reference, x, upstream)):
        torch.testing.assert_close(a, b)


def test_matches_labml_nn() -> None:
    torch.manual_seed(1)
    ours = with_random_affine(GroupNorm(2, 6).double())
    reference = LabmlGroupNorm(2, 6).double()
    with torch.no_grad():
        reference.scale.copy_(ours.weight)
        reference.shift.copy_(ours.bias)
    x, upstream = torch.randn(3, 6, 4, 4, dtype=torch.float64), torch.randn(3, 6, 4, 4, dtype=torch.float64)
    for a, b in zip(value_and_gradients(ours, x, upstream), value_and_gradients(reference, x, upstream)):
        torch.testing.assert_close(a, b)


# ## The two limits
#
# One group: layer normalisation over `(C, H, W)`, with the per-channel $\gamma$, $\beta$ spread over each
# channel's positions (PyTorch's `layer_norm` and our `LayerNorm`). One channel per group: instance
# normalisation with a per-channel affine map.
def test_one_group_is_layer_norm() -> None:
    torch.manual_seed(2)
    ours = with_random_affine(GroupNorm(1, 4).double())
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    weight, bias = (p.detach()[:, None, None].expand(4, 5, 5) for p in (ours.weight, ours.bias))
    torch.testing.assert_close(ours(x), F.layer_norm(x, (4, 5, 5), weight, bias, eps=1e-5))
    layer = LayerNorm((4, 5, 5)).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    torch.testing.assert_close(ours(x), layer(x))


def test_one_channel_per_group_is_instance_norm() -> None:
    torch.manual_seed(3)
    ours = with_random_affine(GroupNorm(4, 4).double())
    instance = InstanceNorm(4, affine=True).double()
    instance.load_state_dict(ours.state_dict())
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x), instance(x))
    reference = nn.InstanceNorm2d(4, affine=True).double()
    reference.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), reference(x))


# A sample's output does not depend on its batch, and training and evaluation mode agree.
def test_independent_of_the_batch() -> None:
    layer = with_random_affine(GroupNorm(2, 4).double())
    x = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    alone = layer(x[:1])
    torch.testing.assert_close(layer(x)[:1], alone)
    layer.eval()
    torch.testing.assert_close(layer(x)[:1], alone)


# ## Ghost batches
#
# In training, each group of 2 consecutive images is normalised by PyTorch's own `batch_norm` on that group
# alone, and the running statistics follow one PyTorch update per group, in order; in evaluation the layer
# uses them as batch normalisation does. Recomputing the statistics switches the groups off: the estimate is
# that of the whole set.
def test_ghost_batches_match_torch_per_group() -> None:
    torch.manual_seed(5)
    layer = with_random_affine(GhostBatchNorm(3, 2).double())
    x = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    mean, var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    expected = torch.cat([F.batch_norm(part, mean, var, layer.weight, layer.bias, training=True, momentum=0.1)
                          for part in x.split(2)])
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.running_mean, mean)
    torch.testing.assert_close(layer.running_var, var)
    layer.eval()
    torch.testing.assert_close(layer(x), F.batch_norm(x, mean, var, layer.weight, layer.bias, training=False))


def test_recomputed_statistics_ignore_ghost_batches() -> None:
    torch.manual_seed(6)
    model = SmallCNN(ghost_batch_norm).double()
    plain = SmallCNN(BatchNorm).double()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(10, 1, 8, 8, dtype=torch.float64)
    for a, b in zip(with_recomputed_statistics(model, x).buffers(), with_recomputed_statistics(plain, x).buffers()):
        torch.testing.assert_close(a, b)


# ## The experiment's pieces
#
# Equal epochs: a batch of $B$ takes $\lceil E \cdot n / B \rceil$ steps.
def test_steps_for_equal_epochs() -> None:
    assert steps_for(6, 1079, 64) == 102
    assert steps_for(6, 1079, 2) == 3237
    assert steps_for(1, 64, 64) == 1


# Recomputed statistics: every running mean and variance of the copy is its layer's input statistics over the
# given images (mean, and torch's unbiased variance), computed here layer by layer with PyTorch's own
# `batch_norm` in training mode; the original network is left as it was.
def test_recomputed_statistics_are_the_split_statistics() -> None:
    torch.manual_seed(4)
    model = SmallCNN(BatchNorm).double()
    x = torch.randn(40, 1, 8, 8, dtype=torch.float64)
    before = [b.clone() for b in model.buffers()]
    probe = with_recomputed_statistics(model, x)
    assert not probe.training and model.training
    for a, b in zip(before, model.buffers()):
        assert torch.equal(a, b)
    h = x
    for layer in probe.net:
        if isinstance(layer, BatchNorm):
            mean, var = torch.zeros(layer.channels, dtype=h.dtype), torch.ones(layer.channels, dtype=h.dtype)
            F.batch_norm(h, mean, var, training=True, momentum=1.0)
            torch.testing.assert_close(layer.running_mean, mean)
            torch.testing.assert_close(layer.running_var, var)
            h = F.batch_norm(h, None, None, layer.weight, layer.bias, training=True)
        else:
            h = layer(h)


# The rate follows the half cosine: step $t$ of $T$ (from 0) is taken at $\eta \cdot \tfrac12(1 + \cos(\pi t /
# T))$, read from the optimiser by a hook that runs after each step, before the schedule's own.
def test_rate_decays_along_a_half_cosine(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    original = torch.optim.SGD.__init__

    def spy(self: torch.optim.SGD, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        self.register_step_post_hook(lambda opt, *_: seen.append(opt.param_groups[0]["lr"]))

    monkeypatch.setattr(torch.optim.SGD, "__init__", spy)
    data = digits()
    train_decayed(group_norm, (data.train, data.valid), 0.1, 8, 4, 0)
    torch.testing.assert_close(seen, [0.1 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(4)])


# ## The claim in miniature, as measured
#
# The paper's claim is that batch normalisation's error rises at small batches while group normalisation's
# stays flat and ends below it. At equal epochs on this network that does not show (see the page): at batch 2
# batch normalisation is no worse than at batch 64, and ahead of group normalisation. The test checks the
# batch-2 half at a third of the full run's length: two epochs (1,079 steps) at batch 2, each arm at the base
# rate the full run chose for it scaled to batch 2 (0.8 and 0.2 times 2/64), evaluated with running
# statistics. Both arms are less trained than in the full run, so the gap is wider here (the full run's is
# -1.0 points); what the test holds is the direction and that batch normalisation does not collapse at batch 2.
def claim_metrics(seed: int) -> dict[str, float]:
    data = digits()
    splits = (data.train, data.valid, data.test)
    bn = one_run(BatchNorm, splits, 0.8 * 2 / 64, 2, 2, seed)["test_error"]
    gn = one_run(group_norm, splits, 0.2 * 2 / 64, 2, 2, seed)["test_error"]
    return {"bn": bn, "gn": gn, "bn_minus_gn": bn - gn}


# Measured over seeds 0-2 at 1 thread and under portable kernels (ATEN_CPU_CAPABILITY=default,
# MKL_CBWR=COMPATIBLE): batch normalisation's test error 0.031-0.049 (threshold on the worst seed 0.08),
# group normalisation's 0.089-0.216; batch minus group normalisation -0.185 to -0.040 per seed, mean over the
# seeds -0.119 (1 thread) and -0.115 (portable kernels) (threshold -0.05).
@pytest.mark.claim
def test_batch_norm_is_not_behind_group_norm_at_batch_2() -> None:
    metrics = [claim_metrics(seed) for seed in (0, 1, 2)]
    assert max(m["bn"] for m in metrics) < 0.08
    assert sum(m["bn_minus_gn"] for m in metrics) / 3 < -0.05


# The paper's setup in miniature: its batch is per GPU, so at 2 images per GPU batch normalisation still
# takes steps averaged over many images. Ghost batches do the same here: batch normalisation with statistics
# over groups of 2 images inside a batch of 64, against statistics over the whole batch, both at the full
# run's rate (0.8) and length (6 epochs, 102 steps), and group normalisation at the same batch and length
# at its base rate (0.2). What the test holds: with 2-image statistics batch normalisation still trains well
# and stays below group normalisation's error on every seed. That the 2-image statistics cost something is
# checked on the recorded run only: in this test the cost is 2 to 3 test digits per seed, too close to zero
# for another machine's rounding (a sign flip by two digits would fail it).
def ghost_metrics(seed: int) -> dict[str, float]:
    data = digits()
    splits = (data.train, data.valid, data.test)
    ghost = one_run(ghost_batch_norm, splits, 0.8, 64, 6, seed)["test_error"]
    plain = one_run(BatchNorm, splits, 0.8, 64, 6, seed)["test_error"]
    gn = one_run(group_norm, splits, 0.2, 64, 6, seed)["test_error"]
    return {"ghost": ghost, "plain": plain, "gn": gn, "ghost_minus_plain": ghost - plain, "ghost_minus_gn": ghost - gn}


# Measured over seeds 0-2 at 1 thread, 2 threads and under portable kernels (ATEN_CPU_CAPABILITY=default,
# MKL_CBWR=COMPATIBLE): ghost minus plain per seed -0.002 to 0.013 (one test digit in 449 is 0.0022), its mean
# over the seeds 0.0052 (1 thread), 0.0045 (2 threads) and 0.0059 (portable kernels) (not asserted, see
# above); ghost minus group normalisation -0.076 to -0.020 per
# seed (threshold on the worst seed -0.01); the ghost arm's error 0.011-0.029 (threshold 0.04).
@pytest.mark.claim
def test_two_image_statistics_still_beat_group_norm() -> None:
    metrics = [ghost_metrics(seed) for seed in (0, 1, 2)]
    assert max(m["ghost_minus_gn"] for m in metrics) < -0.01
    assert max(m["ghost"] for m in metrics) < 0.04


# ## The recorded run
#
# What the page states of the full run: batch normalisation's error at batch 2 is at most 0.5 points above
# its error at batch 64 on every seed (the paper's claim is that it rises); its running statistics cost less
# than 0.5 points at batch 2 (against recomputed ones); group normalisation's error falls from batch 64 to
# batch 2 on every seed, and is at or above batch normalisation's at batch 2 on every seed.
def test_recorded_run() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["epochs"] == paper.EPOCHS and metrics["batch_sizes"] == paper.BATCH_SIZES
    assert metrics["degradation_bn"]["max"] < 0.005
    assert abs(metrics["test_error_bn_2"]["mean"] - metrics["test_error_bn_recomputed_2"]["mean"]) < 0.005
    assert metrics["degradation_gn"]["max"] < 0
    assert metrics["bn_minus_gn_smallest_batch"]["max"] <= 0


# The controls. Ghost batches: batch normalisation with 2-image statistics inside a batch of 64 is worse on
# average than with statistics over the whole batch (the paper's direction), the running averages are not
# the cause (recomputing them changes its mean error by under 0.5 points), and it is still ahead of group
# normalisation at the same batch and length on every seed. Longer training: four times the epochs at batch
# 64 take group normalisation more than half of the way from its batch-64 error to its batch-2 error (more
# steps are most of its fall with smaller batches), and batch normalisation stays ahead on every seed.
def test_recorded_controls() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["ghost_group"] == paper.GHOST_GROUP and metrics["longer_epochs"] == paper.LONGER * paper.EPOCHS
    assert metrics["ghost_minus_plain"]["mean"] > 0
    assert abs(metrics["test_error_bn_ghost"]["mean"] - metrics["test_error_bn_ghost_recomputed"]["mean"]) < 0.005
    ghost, gn_64 = (metrics[k]["per_seed"] for k in ("test_error_bn_ghost", "test_error_gn_64"))
    assert all(ghost[seed] < gn_64[seed] for seed in ghost)
    gn = {b: metrics[f"test_error_gn_{b}"]["mean"] for b in (2, 64)}
    assert gn[64] - metrics["test_error_gn_longer"]["mean"] > 0.5 * (gn[64] - gn[2])
    bn_longer, gn_longer = (metrics[k]["per_seed"] for k in ("test_error_bn_longer", "test_error_gn_longer"))
    assert all(bn_longer[seed] < gn_longer[seed] for seed in bn_longer)


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    quoted = [metrics[f"test_error_{key}_{b}"]["mean"] for key in ("bn", "gn") for b in metrics["batch_sizes"]]
    quoted += [metrics[f"test_error_bn_recomputed_{b}"]["mean"] for b in (2, 64)]
    for key in ("test_error_bn_2", "test_error_bn_64", "test_error_gn_2", "test_error_gn_64", "degradation_bn",
                "bn_minus_gn_smallest_batch"):
        quoted += [metrics[key]["min"], metrics[key]["max"]]
    quoted += [metrics["degradation_bn"]["mean"], metrics["bn_minus_gn_smallest_batch"]["mean"]]
    for key in ("test_error_bn_ghost", "test_error_bn_ghost_recomputed", "ghost_minus_plain",
                "test_error_bn_longer", "test_error_gn_longer"):
        quoted += [metrics[key]["mean"], metrics[key]["min"], metrics[key]["max"]]
    for value in quoted:
        assert quoted_on_page(paper.__file__, f"{value:.1%}"), value
    for arm, rates in metrics["sweep_valid_accuracy"].items():
        best = rates[str(metrics["base_rate"][arm])]
        assert quoted_on_page(paper.__file__, f"{metrics['base_rate'][arm]} for {arm}alisation ({best:.1%}"), arm
    for lr in ("0.4", "0.8"):
        assert quoted_on_page(paper.__file__, f"{metrics['sweep_valid_accuracy']['group norm'][lr]:.1%} at {lr}"), lr
    for b, steps in metrics["steps"].items():
        assert quoted_on_page(paper.__file__, f"{steps:,}"), b


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="groups must divide channels"):
        GroupNorm(3, 8)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        GroupNorm(0, 8)
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match="eps must be a positive number"):
            GroupNorm(2, 8, eps=eps)
    layer = GroupNorm(2, 4)
    with pytest.raises(ValueError, match="dimension 1 should be 4"):
        layer(torch.randn(2, 6, 3, 3))
    with pytest.raises(ValueError, match="2 dimensions"):
        layer(torch.randn(4))
    with pytest.raises(ValueError, match="single value"):
        GroupNorm(4, 4)(torch.randn(3, 4))
    with pytest.raises(ValueError, match="group must be a positive integer"):
        GhostBatchNorm(4, 0)
    with pytest.raises(ValueError, match="epochs must be a positive number"):
        steps_for(0, 100, 2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        steps_for(1, 100, 0)
    data = digits()
    with pytest.raises(ValueError, match="lr must be a positive number"):
        train_decayed(group_norm, (data.train, data.valid), 0.0, 2, 1, 0)
    with pytest.raises(ValueError, match="x"):
        with_recomputed_statistics(SmallCNN(BatchNorm), torch.randn(4, 8, 8))
