"""Tests for papers/normalization/instance_norm.py: the layer against PyTorch's `InstanceNorm2d` and labml-nn's
`InstanceNorm` (values and gradients), its exact invariance to an image's contrast and brightness, the
contrast-changed digits in miniature, the recorded run, bad input."""
from __future__ import annotations

import pytest
import torch
from labml_nn.normalization.instance_norm import InstanceNorm as LabmlInstanceNorm
from torch import nn

from comparisons import value_and_gradients
from papers.kit.data import Split, digits
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.kit.vision import evaluate
from papers.normalization import instance_norm as paper
from papers.normalization.instance_norm import InstanceNorm, arm_run, change_contrast, make_model


# ## Against PyTorch and labml-nn
#
# PyTorch's `InstanceNorm2d` in its default setting (no affine map, no running statistics) and with an affine
# map, in training and evaluation mode (the same computation), and labml-nn's layer; values and gradients in
# float64.
@pytest.mark.parametrize("affine", [False, True])
def test_matches_torch(affine: bool) -> None:
    torch.manual_seed(0)
    ours = InstanceNorm(3, affine=affine).double()
    if affine:
        with torch.no_grad():
            ours.weight.copy_(torch.rand(3) + 0.5)
            ours.bias.copy_(torch.randn(3))
    reference = nn.InstanceNorm2d(3, affine=affine).double()
    reference.load_state_dict(ours.state_dict())
    x, upstream = torch.randn(4, 3, 5, 6, dtype=torch.float64) * 2 + 1, torch.randn(4, 3, 5, 6, dtype=torch.float64)
    for training in (True, False):
        ours.train(training)
        reference.train(training)
        for a, b in zip(value_and_gradients(ours, x, upstream), value_and_gradients(reference, x, upstream)):
            torch.testing.assert_close(a, b)


def test_matches_labml_nn() -> None:
    torch.manual_seed(1)
    ours = InstanceNorm(3, affine=True).double()
    with torch.no_grad():
        ours.weight.copy_(torch.rand(3) + 0.5)
        ours.bias.copy_(torch.randn(3))
    reference = LabmlInstanceNorm(3).double()
    with torch.no_grad():
        reference.scale.copy_(ours.weight)
        reference.shift.copy_(ours.bias)
    x, upstream = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.randn(2, 3, 4, 4, dtype=torch.float64)
    for a, b in zip(value_and_gradients(ours, x, upstream), value_and_gradients(reference, x, upstream)):
        torch.testing.assert_close(a, b)


# ## Contrast invariance, exactly
#
# For $a > 0$, instance normalisation of $a x + b$ is that of $x$ with $\epsilon$ replaced by $\epsilon / a^2$:
# checked to rounding with that $\epsilon$, and to within the effect of $\epsilon$ with the same one. With
# $a < 0$ the output flips sign.
@pytest.mark.parametrize("a,b", [(0.2, 0.5), (3.0, -1.0), (1.0, 7.0)])
def test_invariant_to_contrast_and_brightness(a: float, b: float) -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64)
    changed = InstanceNorm(2)(a * x + b)
    torch.testing.assert_close(changed, InstanceNorm(2, eps=1e-5 / a ** 2)(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(changed, InstanceNorm(2)(x), rtol=1e-3, atol=1e-6)  # relative change ~ eps / (2 a^2 var)
    torch.testing.assert_close(InstanceNorm(2)(-a * x + b), -InstanceNorm(2, eps=1e-5 / a ** 2)(x))


# A whole network with instance normalisation on its pixels gives the same predictions for contrast-changed
# digits as for the ordinary ones (untrained, float64: only $\epsilon$ and rounding differ).
def test_network_with_input_instance_norm_ignores_contrast() -> None:
    torch.manual_seed(3)
    model = make_model("instance norm").double().eval()
    x = digits().test.x[:64].double()
    changed = change_contrast(x, torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(changed), model(x), rtol=0, atol=1e-2)
        assert torch.equal(model(changed).argmax(-1), model(x).argmax(-1))


# ## The claim in miniature
#
# The plain network and the one with instance normalisation on its pixels, 150 steps at rate 0.03, tested on
# contrast-changed test digits.
def claim_metrics(seed: int) -> dict[str, float]:
    data = digits()
    changed = Split(change_contrast(data.test.x, torch.Generator().manual_seed(seed)), data.test.y)
    return {arm.replace(" ", "_"): 1 - evaluate(arm_run(arm, (data.train, data.valid), 0.03, 150, seed)["model"],
                                                changed)[1]
            for arm in ("plain", "instance norm")}


# Measured over seeds 0-2 at 1 thread and under portable kernels (`ATEN_CPU_CAPABILITY=default
# MKL_CBWR=COMPATIBLE`; re-measured after the augmented arm's change, which these two arms do not use): error
# on contrast-changed digits 0.568-0.626 for the plain network, 0.018-0.029 with instance normalisation; the
# gap is at least 0.55 on every seed (threshold 0.1 on every seed).
@pytest.mark.claim
def test_instance_norm_is_robust_to_contrast() -> None:
    metrics = [claim_metrics(seed) for seed in (0, 1, 2)]
    for m in metrics:
        assert m["plain"] > m["instance_norm"] + 0.1


# ## The recorded run
#
# The page's claims: the plain network errs more on changed digits than the instance-normalised one on every
# seed; instance normalisation costs nothing on ordinary digits (its mean error within one point of the plain
# network's); the augmented arm had the same passes per image (three times the steps) and comes within one
# point of instance normalisation on changed digits.
def test_recorded_run() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["changed_error_plain"]["min"] > metrics["changed_error_instance_norm"]["max"]
    assert metrics["clean_error_instance_norm"]["mean"] < metrics["clean_error_plain"]["mean"] + 0.01
    assert metrics["steps"]["augmented"] == (paper.COPIES + 1) * metrics["steps"]["plain"]
    assert abs(metrics["changed_error_augmented"]["mean"] - metrics["changed_error_instance_norm"]["mean"]) < 0.01


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    rows = (("plain", "plain (batch normalisation after every convolution)"),
            ("instance_norm", "instance norm on the pixels, then as plain"),
            ("augmented", f"plain, trained with contrast augmentation ({paper.COPIES + 1} times the data, "
                          f"{metrics['steps']['augmented']} steps)"))
    for arm, label in rows:
        clean, changed = metrics[f"clean_error_{arm}"]["mean"], metrics[f"changed_error_{arm}"]["mean"]
        assert quoted_on_page(paper.__file__, f"| {label} | {clean:.1%} | {changed:.1%} |"), arm
    plain, augmented = metrics["changed_error_plain"], metrics["changed_error_augmented"]
    assert quoted_on_page(paper.__file__, f"wrong ({plain['min']:.1%} to {plain['max']:.1%} over the seeds)")
    assert quoted_on_page(paper.__file__, f"errs on {metrics['clean_error_augmented']['mean']:.1%} of ordinary "
                                          f"digits and {augmented['mean']:.1%} of changed ones "
                                          f"({augmented['min']:.1%} to {augmented['max']:.1%} over the seeds)")


# ## Bad input
def test_bad_input_rejected() -> None:
    layer = InstanceNorm(3)
    with pytest.raises(ValueError, match="dimension 1 should be 3"):
        layer(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer(torch.randn(2, 3))
    with pytest.raises(ValueError, match="single value"):
        layer(torch.randn(2, 3, 1, 1))
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.ones(2, 3, 4, 4, dtype=torch.long))
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match="eps must be a positive number"):
            InstanceNorm(3, eps=eps)
    with pytest.raises(ValueError, match="scale low must be a positive number"):
        change_contrast(torch.rand(2, 1, 8, 8), torch.Generator(), scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="low <= high"):
        change_contrast(torch.rand(2, 1, 8, 8), torch.Generator(), scale=(2.0, 1.0))
    with pytest.raises(ValueError, match="max_shift"):
        change_contrast(torch.rand(2, 1, 8, 8), torch.Generator(), max_shift=-0.1)
