"""Tests for papers/transformers/gmlp.py: the spatial gating unit against a loop over positions in float64,
its near-identity initialisation (a bound), the gMLP block against labml-nn's with copied weights, exact
causality of the language model, the digits training against the ViT page's own, the claim in miniature,
the page's numbers against the recorded run, and bad input."""
from __future__ import annotations

import pytest
import torch

from papers.kit.char_transformer import subsequent_mask
from papers.kit.data import digits
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import gmlp as paper
from papers.transformers.gmlp import (DIGIT_ARMS, LM_ARMS, LM_QUICK, GMLPBlock, GMLPClassifier, SpatialGatingUnit,
                                      digit_model, gmlp_block, lm_model, train_digit_arm, train_lm_arm, W_ZERO)
from papers.vision import vit as vit_page


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# A unit in float64 with every parameter made non-trivial: $W$ of order one (not the near-zero start), $b$
# and the normalisation's scale and shift random, so that each term of the equation shows.
def random_unit(d_ffn: int, seq_len: int, seed: int) -> SpatialGatingUnit:
    torch.manual_seed(seed)
    unit = SpatialGatingUnit(d_ffn, seq_len).double()
    with torch.no_grad():
        for parameter in unit.parameters():
            parameter.copy_(torch.randn(parameter.shape, dtype=torch.float64))
    return unit


# ## The spatial gating unit against a loop
#
# $s(Z)_{ic} = Z_{1,ic}\,(\sum_{j} M_{ij} W_{ij} Z'_{2,jc} + b_i)$ with the layer norm written out
# ($Z'_2 = \gamma (Z_2 - \mu) / \sqrt{\sigma^2 + 10^{-5}} + \beta$, biased variance), summed position by
# position in float64, for no mask, the causal mask and a random mask, and for a sequence shorter than $W$.
def loop_unit(unit: SpatialGatingUnit, z: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    batch, n, d_ffn = z.shape
    half = d_ffn // 2
    z1, z2 = z[..., :half], z[..., half:]
    mean = z2.mean(dim=-1, keepdim=True)
    variance = ((z2 - mean) ** 2).mean(dim=-1, keepdim=True)
    normed = (z2 - mean) / torch.sqrt(variance + 1e-5) * unit.norm.weight + unit.norm.bias
    out = torch.zeros(batch, n, half, dtype=z.dtype)
    for b in range(batch):
        for i in range(n):
            gate = unit.bias[i].clone()
            for j in range(n):
                if mask is None or mask[0, i, j]:
                    gate = gate + unit.weight[i, j] * normed[b, j]
            out[b, i] = z1[b, i] * gate
    return out


@pytest.mark.parametrize("mask_kind", ["none", "causal", "random"])
@pytest.mark.parametrize("n", [9, 6])
def test_unit_equals_a_loop_over_positions(mask_kind: str, n: int) -> None:
    unit = random_unit(10, 9, seed=0)
    z = torch.randn(2, n, 10, dtype=torch.float64, generator=generator(1))
    mask = {"none": None, "causal": subsequent_mask(n),
            "random": torch.rand(1, n, n, generator=generator(2)) < 0.5}[mask_kind]
    with torch.no_grad():
        torch.testing.assert_close(unit(z, mask), loop_unit(unit, z, mask), rtol=0, atol=1e-12)


# ## Near-identity initialisation
#
# At initialisation $b = 1$ and $|W_{ij}| \le \varepsilon$, so that
# $|s(Z)_{ic} - Z_{1,ic}| \le \varepsilon\, |Z_{1,ic}| \sum_j |Z'_{2,jc}|$ (the triangle inequality), in
# float64, for the default $\varepsilon = 10^{-3}$ and a larger one. The bound is reached in order of
# magnitude (the deviation is not much smaller than it), and with $\varepsilon$ near zero the unit is the
# identity on $Z_1$: the block starts as a feed-forward network.
@pytest.mark.parametrize("init_scale", [1e-3, 0.1])
def test_unit_starts_near_identity_within_the_bound(init_scale: float) -> None:
    torch.manual_seed(0)
    unit = SpatialGatingUnit(16, 12, init_scale=init_scale).double()
    assert torch.equal(unit.bias, torch.ones(12, dtype=torch.float64))
    assert unit.weight.abs().max() <= init_scale
    z = torch.randn(3, 12, 16, dtype=torch.float64, generator=generator(1))
    z1 = z[..., :8]
    with torch.no_grad():
        deviation = (unit(z) - z1).abs()
        bound = init_scale * z1.abs() * unit.norm(z[..., 8:]).abs().sum(dim=1, keepdim=True)
    assert (deviation <= bound + 1e-15).all()
    assert deviation.max() > 0.05 * bound.max()
    tiny = SpatialGatingUnit(16, 12, init_scale=1e-12).double()
    with torch.no_grad():
        torch.testing.assert_close(tiny(z), z1, rtol=1e-9, atol=1e-9)


# ## Against labml-nn's gMLP block
#
# labml-nn's `GMLPBlock` (with its `SpacialGatingUnit`) computes the same block, with weights copied. Its
# conventions differ: inputs are sequence-first `[n, batch, d_model]` (ours `[batch, n, d_model]`), and its
# mask is `[n, n, 1]` with the batch last (ours `[1, n, n]`, batch first); both multiply $W$ by the mask and
# both use the top-left corner of $W$ for a shorter input. Its initial $W$ is $\mathcal{U}(-0.01, 0.01)$ (ours
# $\varepsilon = 10^{-3}$); copying the weights makes that irrelevant here.
def labml_copy(ours: GMLPBlock, d_model: int, d_ffn: int, seq_len: int) -> torch.nn.Module:
    from labml_nn.transformers.gmlp import GMLPBlock as LabmlGMLPBlock

    theirs = LabmlGMLPBlock(d_model, d_ffn, seq_len).double()
    with torch.no_grad():
        for target, source in ((theirs.norm, ours.norm), (theirs.proj1, ours.proj_in),
                               (theirs.proj2, ours.proj_out), (theirs.sgu.norm, ours.sgu.norm)):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
        theirs.sgu.weight.copy_(ours.sgu.weight)
        theirs.sgu.bias.copy_(ours.sgu.bias)
    return theirs


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [8, 5])
def test_block_equals_labml_nn_with_copied_weights(causal: bool, n: int) -> None:
    torch.manual_seed(0)
    ours = GMLPBlock(12, 20, 8).double()
    with torch.no_grad():
        ours.sgu.weight.normal_()  # order one, so that the mixing is not negligible
    theirs = labml_copy(ours, 12, 20, 8)
    x = torch.randn(3, n, 12, dtype=torch.float64, generator=generator(1))
    mask = subsequent_mask(n) if causal else None
    labml_mask = mask.permute(1, 2, 0) if causal else None  # [n, n, 1]
    with torch.no_grad():
        expected = theirs(x=x.transpose(0, 1), mask=labml_mask).transpose(0, 1)
        torch.testing.assert_close(ours(x, mask), expected, rtol=0, atol=1e-12)


# ## Causality
#
# On the harness, the gMLP language model's logits at positions $\le t$ do not change, to the last bit, when
# every token after $t$ is replaced, for every $t$; a trained-like $W$ (order one everywhere, including the
# entries above the diagonal, which the mask must remove) makes a leak visible. As a control, the same
# model without the mask does change.
def test_gmlp_language_model_is_causal_exactly() -> None:
    model = lm_model("gMLP", LM_QUICK.but(max_chars=20_000), 0)
    with torch.no_grad():
        for block in model.blocks:
            block.sgu.weight.normal_()
    tokens = torch.randint(0, 30, (2, LM_QUICK.seq_len), generator=generator(1))
    with torch.no_grad():
        logits = model(tokens)
        for t in range(0, LM_QUICK.seq_len - 1, 5):
            changed = tokens.clone()
            changed[:, t + 1:] = torch.randint(0, 30, changed[:, t + 1:].shape, generator=generator(t))
            assert torch.equal(model(changed)[:, :t + 1], logits[:, :t + 1]), t
        block = model.blocks[0]
        h = torch.randn(2, LM_QUICK.seq_len, LM_QUICK.d_model)
        h_changed = h.clone()
        h_changed[:, 10:] += 1.0
        assert torch.equal(block(h, subsequent_mask(LM_QUICK.seq_len))[:, :10],
                           block(h_changed, subsequent_mask(LM_QUICK.seq_len))[:, :10])
        assert not torch.equal(block(h)[:, :10], block(h_changed)[:, :10])


# ## The digits set-up is the ViT page's
#
# For the ViT arm, this page's training gives the same run as the ViT page's own `train_arm` (the same
# losses, step by step), so the recipe is the imported one. The gMLP classifier reads the same patches and
# has about the ViT's size.
def test_digit_training_is_the_vit_pages() -> None:
    data = digits()
    _, ours = train_digit_arm("ViT", data, 1e-3, 4, seed=3)
    _, theirs = vit_page.train_arm("ViT", data, 1e-3, 4, seed=3)
    assert ours.values("loss") == theirs.values("loss")
    assert ours.values("eval_accuracy") == theirs.values("eval_accuracy")
    sizes = {arm: vit_page.parameter_count(digit_model(arm, 0)) for arm in DIGIT_ARMS}
    assert abs(sizes["gMLP"] / sizes["ViT"] - 1) < 0.01, sizes


def test_arms_have_about_the_same_size() -> None:
    sizes = {arm: vit_page.parameter_count(lm_model(arm, LM_QUICK, 0)) for arm in LM_ARMS}
    assert abs(sizes["gMLP"] / sizes["transformer"] - 1) < 0.01, sizes
    assert lm_model("gMLP", LM_QUICK, 0).positions is None  # gMLP carries order in W, no position embedding


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="d_ffn must be even"):
        SpatialGatingUnit(7, 4)
    with pytest.raises(ValueError, match="d_ffn must be even"):
        GMLPBlock(8, 15, 4)
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        SpatialGatingUnit(8, 0)
    with pytest.raises(ValueError, match="init_scale must be a positive number"):
        SpatialGatingUnit(8, 4, init_scale=0.0)
    unit = SpatialGatingUnit(8, 4)
    with pytest.raises(ValueError, match="sequence length 5 exceeds the unit's seq_len 4"):
        unit(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="z must have shape"):
        unit(torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="z must have shape"):
        unit(torch.randn(4, 8))
    with pytest.raises(TypeError, match="z must have dtype"):
        unit(torch.randn(2, 4, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="mask must have shape"):
        unit(torch.randn(2, 4, 8), torch.ones(1, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        unit(torch.randn(2, 4, 8), torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must have dtype"):
        unit(torch.randn(2, 4, 8), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="x must have shape"):
        GMLPBlock(8, 16, 4)(torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="pre_norm must be True"):
        gmlp_block(8)(16, 2, 32, pre_norm=False)
    with pytest.raises(ValueError, match="arm must be one of"):
        lm_model("mlp", LM_QUICK, 0)
    with pytest.raises(ValueError, match="arm must be one of"):
        digit_model("cnn", 0)
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        GMLPClassifier(8, 2, 1, 10, 16, 32, 0, 16)


def test_meta_tensors() -> None:
    block = GMLPBlock(16, 32, 8).to("meta")
    x = torch.randn(2, 8, 16, device="meta")
    assert block(x, subsequent_mask(8, device="meta")).shape == (2, 8, 16)
    images = torch.randn(2, 1, 8, 8, device="meta")
    assert GMLPClassifier(8, 2, 1, 10, 16, 32, 1, 16).to("meta")(images).shape == (2, 10)


# ## The claim in miniature
#
# Not the page's run: the quick settings (width 32, windows of 32, batches of 16, a fifth of the text) for 250
# steps instead of 1,200, at one shared rate, $10^{-2}$, with the full run's schedule and clipping, and three
# models: the transformer, the gMLP and the gMLP with $W$ frozen at zero (which cannot read other positions).
# The gMLP must be below both: ahead of the transformer, and by reading context, not only by learning the
# bigram statistics sooner.
def claim_metrics(seed: int) -> dict[str, float]:
    settings = LM_QUICK.but(steps=250)
    losses = {arm: train_lm_arm(arm, settings, seed, 1e-2)[1].last("valid_loss") for arm in LM_ARMS + (W_ZERO,)}
    return {"gap": losses["gMLP"] - losses["transformer"], "context_gain": losses["gMLP"] - losses[W_ZERO]}


@pytest.fixture(scope="module", name="claim_run")
def fixture_claim_run() -> dict[str, float]:
    return claim_metrics(0)


# Calibrated (scripts/calibrate.py, machine at load average ~20): gap -0.513, -0.549, -0.621 on seeds 0-2 at 1
# thread, -0.503 on seed 0 with portable kernels; context gain -0.361, -0.349, -0.377 at 1 thread, -0.361
# portable (2 threads and portable seeds 1-2 did not finish in time). Thresholds -0.2 and -0.1, under half the
# smallest measured. One seed (the fixture costs about 10 s CPU).
@pytest.mark.claim
def test_quick_gmlp_ahead_of_the_transformer_on_characters(claim_run: dict[str, float]) -> None:
    assert claim_run["gap"] < -0.2, claim_run


@pytest.mark.claim
def test_quick_gmlp_reads_context(claim_run: dict[str, float]) -> None:
    assert claim_run["context_gain"] < -0.1, claim_run


# ## The recorded full run
#
# Each arm's rate is its own best on the same grid: the lowest training loss of the last 50 steps for
# characters, the highest validation accuracy (ties broken by validation loss, not recorded) for digits.
def test_recorded_rates_are_each_arms_best() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in LM_ARMS:
        sweep = metrics[f"lm_{arm}_sweep"]
        assert len(sweep) == len(metrics["lm_rates"])
        assert sweep[f"{metrics[f'lm_{arm}_lr']:g}"] == min(sweep.values()), arm
    for arm in DIGIT_ARMS:
        sweep = metrics[f"digit_{arm}_sweep_valid_accuracy"]
        assert len(sweep) == len(metrics["digit_rates"])
        assert sweep[f"{metrics[f'digit_{arm}_lr']:g}"] == max(sweep.values()), arm


# The page's findings: the transformer trained past the context-free models (below both the bigram count model
# and the gMLP with $W$ frozen at zero, by more than 0.1 nats on every seed), the gMLP below the transformer on
# every seed by more than 0.2 nats and below its own $W = 0$ control by more than 0.3; on digits the gMLP ahead
# on every seed by more than 5 points; the arms of each comparison within 1% in size; the learned $W$ rows
# concentrated on the nearest offsets (more than twice the even share of 12.5%).
def test_recorded_claims() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["lm_steps"] == 1200
    assert metrics["lm_transformer_minus_bigram"]["max"] < -0.1
    assert metrics["lm_transformer_minus_w0"]["max"] < -0.1
    assert metrics["lm_gmlp_ahead_seeds"] == 3
    assert metrics["lm_gap_gmlp_minus_transformer"]["max"] < -0.2
    assert metrics["lm_gMLP_valid"]["max"] < metrics["lm_w0_valid_seed0"] - 0.3
    assert metrics["digit_gmlp_ahead_seeds"] == 3
    assert metrics["digit_gap_gmlp_minus_vit"]["min"] > 0.05
    for a, b in (("lm_gMLP", "lm_transformer"), ("digit_gMLP", "digit_ViT")):
        assert abs(metrics[f"{a}_parameters"] / metrics[f"{b}_parameters"] - 1) < 0.01
    for layer in (1, 2):
        assert metrics[f"w_near_share_layer{layer}"]["min"] > 0.25


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("lm_gMLP_valid", "lm_transformer_valid", "lm_gap_gmlp_minus_transformer"):
        result = metrics[name]
        assert quoted_on_page(paper.__file__, f"{result['mean']:.3f}"), name
        for low, high in ((result["min"], result["max"]), (result["max"], result["min"])):
            if quoted_on_page(paper.__file__, f"({low:.3f} to {high:.3f})"):
                break
        else:
            raise AssertionError(name)
    for name in ("unigram_loss", "bigram_loss", "lm_w0_valid_seed0"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]:.3f}"), name
    for name in ("lm_transformer_minus_bigram", "lm_transformer_minus_w0"):
        result = metrics[name]
        quote = f"{result['mean']:.3f} ({result['min']:.3f} to {result['max']:.3f})"
        assert quoted_on_page(paper.__file__, quote), name
    for arm in DIGIT_ARMS:
        result = metrics[f"digit_{arm}_test_accuracy"]
        assert quoted_on_page(paper.__file__, f"{100 * result['mean']:.1f}%"), arm
        assert quoted_on_page(paper.__file__, f"({100 * result['min']:.1f}% to {100 * result['max']:.1f}%)"), arm
    gap = metrics["digit_gap_gmlp_minus_vit"]
    assert quoted_on_page(paper.__file__, f"{100 * gap['mean']:.1f} points ({100 * gap['min']:.1f} to "
                                          f"{100 * gap['max']:.1f})")
    for layer in (1, 2):
        share = metrics[f"w_near_share_layer{layer}"]
        assert quoted_on_page(paper.__file__, f"{100 * share['mean']:.0f}%"), layer
        assert quoted_on_page(paper.__file__, f"{100 * share['min']:.0f}% to {100 * share['max']:.0f}%"), layer
    for name in ("lm_gMLP", "lm_transformer", "digit_gMLP", "digit_ViT"):
        assert quoted_on_page(paper.__file__, f"{metrics[f'{name}_parameters']:,}"), name
    for arm in LM_ARMS:
        assert quoted_on_page(paper.__file__, ", ".join(f"{v:.3f}" for v in metrics[f"lm_{arm}_sweep"].values()))
