"""Tests for papers/vision/dilated_convolutions.py: the module, receptive fields, the task, the claim."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.vision import dilated_convolutions as paper
from papers.vision.dilated_convolutions import (DILATIONS, ContextModule, analytic_receptive_field,
                                                experiment, measured_receptive_field, nearest_seed_batch,
                                                receptive_field_growth, seed_in_view)


@pytest.mark.parametrize("dilations", [DILATIONS, (1,) * 7])
def test_identity_initialisation_passes_non_negative_input_through(dilations):
    module = ContextModule(3, dilations).double()
    x = torch.rand(2, 3, 20, 20, dtype=torch.float64)
    torch.testing.assert_close(module(x), x, rtol=0, atol=0)


def dilated_conv_by_hand(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, d: int) -> torch.Tensor:
    """y(p) = b + sum_t k(t) x(p + d t) over the 3x3 taps t, with zeros outside the image."""
    _, _, h, w = x.shape
    padded = F.pad(x, (d, d, d, d))
    y = bias.view(1, -1, 1, 1).expand(x.shape[0], -1, h, w).clone()
    for i in range(3):
        for j in range(3):
            window = padded[:, :, i * d:i * d + h, j * d:j * d + w]  # x shifted by d * (i - 1, j - 1)
            y += torch.einsum("oc,bchw->bohw", weight[:, :, i, j], window)
    return y


def test_module_is_the_stack_of_dilated_convolutions_by_hand():
    torch.manual_seed(0)
    module = ContextModule(2, identity_init=False).double()
    x = torch.randn(1, 2, 40, 40, dtype=torch.float64)
    h = x
    for conv, d in zip(module.layers, DILATIONS):
        h = torch.relu(dilated_conv_by_hand(h, conv.weight, conv.bias, d))
    expected = torch.einsum("oc,bchw->bohw", module.output.weight[:, :, 0, 0], h)
    expected = expected + module.output.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(module(x), expected)


def test_receptive_field_of_the_basic_module_matches_the_paper():
    # The paper's Table 1: 3, 5, 9, 17, 33, 65, 67 after layers 1 to 7.
    measured = [measured_receptive_field(ContextModule(2, DILATIONS[:i])) for i in range(1, 8)]
    assert measured == [analytic_receptive_field(DILATIONS[:i]) for i in range(1, 8)]
    assert measured == [3, 5, 9, 17, 33, 65, 67]


def test_receptive_field_grows_exponentially_with_dilation_and_linearly_without():
    growth = receptive_field_growth(6)
    assert growth["dilated"] == [2 ** (i + 1) - 1 for i in range(1, 7)]
    assert growth["undilated"] == [2 * i + 1 for i in range(1, 7)]


def test_same_parameters_with_and_without_dilation():
    def count(module: ContextModule) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(ContextModule(3)) == count(ContextModule(3, (1,) * 7)) == 7 * (9 * 9 + 3) + 3 * 3 + 3


def test_labels_are_the_nearest_seed_by_brute_force():
    x, labels, distance = nearest_seed_batch(4, 17, 3, torch.Generator().manual_seed(0))
    assert x.shape == (4, 3, 17, 17) and labels.shape == distance.shape == (4, 17, 17)
    assert torch.all(x.sum(dim=(2, 3)) == 1)  # one seed per class
    pixels = torch.stack(torch.meshgrid(torch.arange(17), torch.arange(17), indexing="ij"), -1).reshape(-1, 2)
    for b in range(4):
        seeds = x[b].nonzero()  # [classes, (class, row, col)], in class order
        nearest_distance, nearest = cKDTree(seeds[:, 1:].numpy()).query(pixels.numpy())
        torch.testing.assert_close(distance[b].reshape(-1).double(), torch.tensor(nearest_distance))
        ties = torch.isclose(torch.cdist(pixels.double(), seeds[:, 1:].double()).sort(dim=1).values[:, :2]
                             .diff(dim=1).squeeze(1), torch.zeros(1, dtype=torch.float64))
        agree = labels[b].reshape(-1) == seeds[torch.tensor(nearest), 0]
        assert torch.all(agree | ties)


def test_seed_in_view_is_a_seed_within_reach_along_both_axes():
    x, _, _ = nearest_seed_batch(3, 23, 3, torch.Generator().manual_seed(1))
    seeds = x.nonzero()  # [seeds, (image, class, row, col)]
    rows, cols = torch.meshgrid(torch.arange(23), torch.arange(23), indexing="ij")
    for reach in (0, 3, 7):
        expected = torch.zeros(3, 23, 23, dtype=torch.bool)
        for image, _, row, col in seeds.tolist():
            expected[image] |= ((rows - row).abs() <= reach) & ((cols - col).abs() <= reach)
        assert torch.equal(seed_in_view(x, reach), expected)


def claim_metrics(seed: int) -> dict[str, float]:
    """The quick run's held-out per-pixel accuracies (mean of its two seeds), overall and where the undilated
    stack has no seed within its receptive field."""
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    overall, blind = metrics["pixel_accuracy"], metrics["accuracy_no_seed_in_undilated_view"]
    return {"context": overall["context module"]["mean"], "undilated": overall["undilated stack"]["mean"],
            "gap": metrics["accuracy_gap"]["mean"], "context_no_seed_in_view": blind["context module"]["mean"],
            "undilated_no_seed_in_view": blind["undilated stack"]["mean"]}


# Quick run: 150 steps on 40x40 images, two seeds, per-pixel accuracy on 64 held-out images each (chance is 33%).
# Measured (scripts/calibrate.py) over seeds 0-2 at 1 thread and under portable kernels, and at 2 threads for seeds
# 0-1 (seed 2 at 2 threads was cut for time on a loaded machine): context module 0.82-0.89 (threshold 0.7),
# undilated stack 0.47-0.52 (threshold 0.6), gap 0.35-0.39 (threshold 0.25); on the pixels with no seed in the
# undilated stack's 15 x 15 field, the undilated stack 0.31-0.37 (threshold 0.45: it cannot beat chance there)
# and the context module 0.77-0.86 (threshold 0.6).
@pytest.mark.claim
def test_context_module_solves_what_the_undilated_stack_cannot():
    accuracy = claim_metrics(0)
    assert accuracy["context"] > 0.7
    assert accuracy["undilated"] < 0.6
    assert accuracy["gap"] > 0.25
    assert accuracy["undilated_no_seed_in_view"] < 0.45
    assert accuracy["context_no_seed_in_view"] > 0.6


# The controls on the recorded full run. The undilated stack is not an under-trained baseline: where a seed lies
# inside its 15 x 15 field it labels the pixels almost perfectly, in every seed. Where none does, it is at
# chance, as its wiring forces (its output there cannot depend on the seeds); the context module is not.
def test_recorded_undilated_stack_is_trained_and_blind_only_beyond_its_field():
    metrics = recorded_metrics(paper.__file__)
    assert metrics["accuracy_seed_in_undilated_view"]["undilated stack"]["min"] > 0.95
    assert metrics["accuracy_no_seed_in_undilated_view"]["undilated stack"]["max"] < 0.4
    assert metrics["accuracy_no_seed_in_undilated_view"]["context module"]["min"] > 0.7
    assert metrics["parameters"]["context module"] == metrics["parameters"]["undilated stack"]


# The page quotes the recorded means: overall, the gap, and both arms with and without a seed in view.
def test_page_quotes_the_recorded_accuracies():
    metrics = recorded_metrics(paper.__file__)
    quoted = [metrics["accuracy_gap"]["mean"]]
    for key in ("pixel_accuracy", "accuracy_seed_in_undilated_view", "accuracy_no_seed_in_undilated_view"):
        quoted += [metrics[key][name]["mean"] for name in ("context module", "undilated stack")]
    for value in quoted:
        assert quoted_on_page(paper.__file__, f"{value:.1%}"), f"{value:.1%}"


def test_bad_input():
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        ContextModule(0)
    with pytest.raises(ValueError, match="dilations must be a non-empty sequence of positive integers"):
        ContextModule(3, (1, 0, 2))
    with pytest.raises(ValueError, match=r"x must have shape \[batch, 3, height, width\]"):
        ContextModule(3)(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="classes >= 2"):
        nearest_seed_batch(2, 10, 1, torch.Generator())
