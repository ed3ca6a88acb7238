"""Tests for papers/transformers/glu_variants.py: each gated feed-forward against labml-nn's gated FeedForward
with copied weights and against its formula in float64, the equal parameter counts, the claim in miniature,
the recorded full run and the page's numbers, and bad input."""
from __future__ import annotations

import math

import pytest
import torch
from labml_nn.transformers.feed_forward import FeedForward as LabmlFeedForward
from torch import nn

from comparisons import value_and_gradients
from papers.kit.char_transformer import LMSettings, build_model
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.normalization.deep_norm import unigram_loss
from papers.transformers import glu_variants as paper
from papers.transformers.building_blocks import PositionWiseFeedForward
from papers.transformers.glu_variants import (ARMS, FULL, VARIANTS, GatedFeedForward, block_for,
                                              feed_forward_parameters, gated_block, gated_width, train_arm)

LABML_GATES = {"glu": nn.Sigmoid(), "bilinear": nn.Identity(), "reglu": nn.ReLU(), "geglu": nn.GELU(),
               "swiglu": nn.SiLU()}
LABML_PLAIN = {"relu": nn.ReLU(), "gelu": nn.GELU()}


def float64_input(seed: int, d_model: int = 8) -> torch.Tensor:
    return torch.randn(2, 5, d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# ## Against labml-nn's gated feed-forward, weights copied, float64
#
# labml-nn's `FeedForward(..., is_gated=True)` computes $f(xW_1 + b_1) \otimes (xV + c)$, then $W_2$; with
# all three biases on (the project's choice) it is the same function as ours. Output, input gradient and
# every weight's gradient agree; the plain ReLU and GELU arms are checked against its ungated form.
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gated_feed_forward_equals_labml_nn(variant: str) -> None:
    torch.manual_seed(0)
    ours = GatedFeedForward(8, 12, variant).double()
    theirs = LabmlFeedForward(8, 12, 0.0, LABML_GATES[variant], is_gated=True, bias1=True, bias2=True,
                              bias_gate=True).double()
    theirs.layer1.load_state_dict(ours.layer1.state_dict())
    theirs.linear_v.load_state_dict(ours.layer_v.state_dict())
    theirs.layer2.load_state_dict(ours.layer2.state_dict())
    upstream = float64_input(1)
    ours_out = value_and_gradients(ours, float64_input(0), upstream)
    theirs_out = value_and_gradients(theirs, float64_input(0), upstream)
    gradients = dict(zip(["y", "x", *dict(ours.named_parameters())], ours_out))
    reference = dict(zip(["y", "x", *dict(theirs.named_parameters())], theirs_out))
    reference = {name.replace("linear_v", "layer_v"): value for name, value in reference.items()}
    assert gradients.keys() == reference.keys()
    for name, value in gradients.items():
        torch.testing.assert_close(value, reference[name], rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.parametrize("activation", sorted(LABML_PLAIN))
def test_plain_arms_equal_labml_nn(activation: str) -> None:
    torch.manual_seed(0)
    ours = PositionWiseFeedForward(8, 12, activation).double()
    theirs = LabmlFeedForward(8, 12, 0.0, LABML_PLAIN[activation]).double()
    theirs.load_state_dict(ours.state_dict())
    x = float64_input(0)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


# ## Against the formula, float64
#
# Each gate written out from its definition (the logistic function, the normal CDF through `erf`, Swish with
# $\beta = 1$), and $(g(xW_1 + b_1) \otimes (xV + c))W_2 + b_2$ computed with the weight matrices directly.
FORMULAS = {"glu": lambda z: 1 / (1 + torch.exp(-z)), "bilinear": lambda z: z,
            "reglu": lambda z: torch.where(z > 0, z, torch.zeros_like(z)),
            "geglu": lambda z: z * 0.5 * (1 + torch.erf(z / math.sqrt(2))),
            "swiglu": lambda z: z / (1 + torch.exp(-z))}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gated_feed_forward_equals_its_formula(variant: str) -> None:
    torch.manual_seed(1)
    layer = GatedFeedForward(8, 12, variant).double()
    x = float64_input(2)
    with torch.no_grad():
        w1, b1 = layer.layer1.weight.T, layer.layer1.bias  # [8, 12], [12]
        v, c = layer.layer_v.weight.T, layer.layer_v.bias
        w2, b2 = layer.layer2.weight.T, layer.layer2.bias  # [12, 8], [8]
        expected = (FORMULAS[variant](x @ w1 + b1) * (x @ v + c)) @ w2 + b2
        torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


# ## Equal parameter count
#
# At the harness's width ($d = 64$, $d_\text{ff} = 256$) the gated layers are $d'_\text{ff} = 171$ wide:
# ReLU/GELU hold $2 \cdot 64 \cdot 256 + 256 + 64 = 33\,088$ weights per block, the gated ones
# $3 \cdot 64 \cdot 171 + 2 \cdot 171 + 64 = 33\,238$ (0.45% more). At Shazeer's size ($d = 768$,
# $d_\text{ff} = 3072$) the rule gives his 2048.
def test_parameter_counts() -> None:
    assert gated_width(256) == 171
    assert gated_width(3072) == 2048
    assert feed_forward_parameters(64, 256, gated=False) == 33_088
    assert feed_forward_parameters(64, 171, gated=True) == 33_238
    for arm in ARMS:
        block = block_for(arm)(64, 4, 256)
        counted = sum(p.numel() for p in block.feed_forward.parameters())
        width = 171 if arm in VARIANTS else 256
        assert counted == feed_forward_parameters(64, width, gated=arm in VARIANTS), arm
        assert block.feed_forward.layer1.out_features == width


# The whole models differ by the feed-forward layers only: $2 \times 150$ weights at 2 layers.
def test_whole_models_differ_by_the_feed_forward_only() -> None:
    sizes = {arm: sum(p.numel() for p in build_model(FULL, 0, block=block_for(arm)).parameters()) for arm in ARMS}
    for arm in ARMS:
        assert sizes[arm] - sizes["relu"] == (300 if arm in VARIANTS else 0), arm


# A gated block is the kit's block with only its feed-forward replaced: same call, same output shape.
def test_gated_block_in_a_model() -> None:
    settings = LMSettings(d_model=16, heads=2, d_ff=24, seq_len=8, max_chars=20_000)
    model = build_model(settings, 0, block=gated_block("swiglu"))
    assert isinstance(model.blocks[1].feed_forward, GatedFeedForward)
    assert model.blocks[0].feed_forward.layer1.out_features == 16
    logits = model(torch.zeros(3, 8, dtype=torch.long))
    assert logits.shape == (3, 8, model.embedding.num_embeddings)


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="variant must be one of"):
        GatedFeedForward(8, 12, "swish")
    with pytest.raises(ValueError, match="variant must be one of"):
        gated_block("GLU")
    with pytest.raises(ValueError, match="arm must be one of"):
        block_for("tanh")
    with pytest.raises(ValueError, match="d_ff"):
        GatedFeedForward(8, 0, "glu")
    with pytest.raises(ValueError, match="d_model"):
        GatedFeedForward(-1, 12, "glu")
    with pytest.raises(ValueError, match="d_ff must be at least 2"):
        gated_width(1)
    with pytest.raises(ValueError, match="d_ff"):
        gated_width(2.5)
    with pytest.raises(ValueError, match="d_model"):
        feed_forward_parameters(0, 12, gated=True)
    layer = GatedFeedForward(8, 12, "geglu")
    with pytest.raises(ValueError, match="dimension 2"):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer(torch.randn(5, 8))
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.randn(2, 5, 8, dtype=torch.float64))


# ## The claim in miniature: faster early progress
#
# A smaller model than the full run's (width 32, 2 heads, $d_\text{ff} = 96$ so the gated width is exactly
# 64; windows of 32, batches of 16, 150 steps), one rate for every arm ($10^{-2}$, the schedule and clipping
# of the full run): ReLU against SwiGLU and GEGLU, same seed, same batches. This is early training: after 150
# steps ReLU is only about 0.4 nats below the unigram loss (3.37 nats at these settings), and the gap shrinks
# with longer training (see the page). So the test pins what it measures, "gated layers make faster early
# progress at this small setting", not the page's full-run comparison, which three seeds leave open.
CLAIM = LMSettings(d_model=32, heads=2, d_ff=96, seq_len=32, batch_size=16, steps=150, eval_every=150,
                   eval_windows=64, max_chars=200_000)
CLAIM_ARMS = ("relu", "swiglu", "geglu")


def claim_metrics(seed: int) -> dict[str, float]:
    final = {arm: train_arm(arm, CLAIM, seed, 1e-2)[1].last("valid_loss") for arm in CLAIM_ARMS}
    return {**{f"{arm}_valid": value for arm, value in final.items()},
            **{f"{arm}_minus_relu": final[arm] - final["relu"] for arm in CLAIM_ARMS[1:]}}


@pytest.fixture(scope="module", name="seed_metrics")
def fixture_seed_metrics() -> list[dict[str, float]]:
    return [claim_metrics(seed) for seed in (0, 1, 2)]


# Gated layers ahead of ReLU in mean over three seeds with no seed far behind, while ReLU is still early in
# training (within 0.6 nats of the unigram loss).
# Measured over seeds 0-2 (scripts/calibrate.py): SwiGLU minus ReLU at 1 thread -0.147, -0.148, -0.014 (mean
# -0.103), portable kernels -0.147, -0.142, -0.008 (mean -0.099), 2 threads -0.147, -0.147, -0.021 (mean
# -0.105); GEGLU minus ReLU at 1 thread -0.152, -0.173, -0.043 (mean -0.123), portable -0.152, -0.167, -0.044
# (mean -0.121), 2 threads -0.152, -0.172, -0.044 (mean -0.123). ReLU's loss 2.964 to 3.008 in every setting,
# 0.36 to 0.41 nats below the unigram loss (3.371). Thresholds: mean gap below -0.04, every seed below +0.03
# (SwiGLU's seed 2 is close to zero, hence the claim on the mean), ReLU less than 0.6 nats below unigram.
CLAIM_MEAN_GAP = -0.04
CLAIM_WORST_GAP = 0.03
EARLY_PROGRESS = 0.6


@pytest.mark.claim
def test_quick_gated_layers_make_faster_early_progress(seed_metrics: list[dict[str, float]]) -> None:
    unigram = unigram_loss(CLAIM)
    for metrics in seed_metrics:
        assert unigram - metrics["relu_valid"] < EARLY_PROGRESS, (unigram, metrics)
    for arm in CLAIM_ARMS[1:]:
        gaps = [metrics[f"{arm}_minus_relu"] for metrics in seed_metrics]
        assert sum(gaps) / len(gaps) < CLAIM_MEAN_GAP, (arm, gaps)
        assert max(gaps) < CLAIM_WORST_GAP, (arm, gaps)


# ## The recorded full run
#
# Equal parameter counts in the recorded run, each arm's rate the best of its sweep, and every arm far below
# the unigram loss (all arms trained).
def test_recorded_run_is_fair() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["gated_d_ff"] == 171 and metrics["d_ff"] == 256
    for arm in ARMS:
        assert metrics[f"{arm}_parameters"] == (33_238 if arm in VARIANTS else 33_088)
        sweep = metrics[f"{arm}_sweep"]
        assert sweep[f"{metrics[f'{arm}_lr']:g}"] == min(sweep.values()), arm
        assert metrics[f"{arm}_valid"]["max"] < metrics["unigram_loss"] - 0.3, arm
    assert len(metrics["seeds"]) == 3


# The page's findings: every variant's mean below ReLU's; the gap's own standard deviation larger than its mean
# for ReGLU, GEGLU, SwiGLU and GLU (ahead on 2 of 3 seeds); only Bilinear's gap one-signed on every seed with
# an uncorrected paired p below 0.05, and not below it after Bonferroni's correction for six comparisons;
# six arms chose the middle rate of the grid, GLU the top, and the lowest rate was worst for every arm.
def test_recorded_claims() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["gaps_beyond_spread"] == ["bilinear"]
    for arm in ARMS[1:]:
        assert metrics[f"{arm}_minus_relu"]["mean"] < 0, arm
    for arm in ("glu", "reglu", "geglu", "swiglu"):
        gap = metrics[f"{arm}_minus_relu"]
        assert gap["std"] > abs(gap["mean"]), arm
        assert sum(v < 0 for v in gap["per_seed"].values()) == 2, arm
    assert 0.05 < 6 * metrics["bilinear_paired_p"]
    assert [arm for arm in ARMS if not metrics[f"{arm}_rate_inside_grid"]] == ["glu"]
    assert metrics["glu_lr"] == max(metrics["rates"])
    for arm in ARMS:
        sweep = metrics[f"{arm}_sweep"]
        assert sweep[f"{min(metrics['rates']):g}"] == max(sweep.values()), arm


# The page's table, checked row by row (a number alone can occur elsewhere on the page): each arm's weights,
# rate, mean loss and range, and for the gated arms and GELU the gap to ReLU (mean, range, its own standard
# deviation over seeds and the paired $t$); and the unigram loss.
RATE_TEX = {1e-3: r"$10^{-3}$", 3e-3: r"$3 \cdot 10^{-3}$", 1e-2: r"$10^{-2}$"}


def table_row(metrics: dict, arm: str) -> str:
    summary = metrics[f"{arm}_valid"]
    row = (f"| {paper.LABELS[arm]} | {metrics[f'{arm}_parameters']:,} | {RATE_TEX[metrics[f'{arm}_lr']]} | "
           f"{summary['mean']:.3f} | {summary['min']:.3f} to {summary['max']:.3f} |").replace(",", " ")
    if arm == "relu":
        return row + " | | | |"
    gap = metrics[f"{arm}_minus_relu"]
    return row + (f" {gap['mean']:+.3f} | {gap['min']:+.3f} to {gap['max']:+.3f} | {gap['std']:.3f} | "
                  f"{metrics[f'{arm}_paired_t']:.2f} |")


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ARMS:
        assert quoted_on_page(paper.__file__, table_row(metrics, arm)), table_row(metrics, arm)
    assert quoted_on_page(paper.__file__, f"unigram loss, {metrics['unigram_loss']:.2f} nats")
