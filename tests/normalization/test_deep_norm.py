"""Tests for papers/normalization/deep_norm.py: the DeepNorm block against labml-nn's layer and a hand-written
float64 computation, the paper's constants and initialisation, the plain post-norm block as the case
alpha = 1, the claim in miniature, the page's numbers against the recorded run, and bad input."""
from __future__ import annotations

import math

import pytest
import torch
from labml_nn.normalization.deep_norm import DeepNormTransformerLayer
from labml_nn.transformers import MultiHeadAttention as LabmlAttention
from labml_nn.transformers.feed_forward import FeedForward as LabmlFeedForward
from torch import nn

from papers.kit.char_transformer import Block, LMSettings, build_model
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.normalization import deep_norm as paper
from papers.normalization.deep_norm import (
    DeepNormBlock, arm_block, deep_norm_block, deep_norm_constants, deep_norm_init)
from papers.transformers.attention import subsequent_mask

D_MODEL, HEADS, D_FF = 16, 2, 32


def our_block(alpha: float, beta: float, seed: int = 0) -> DeepNormBlock:
    torch.manual_seed(seed)
    block = deep_norm_block(alpha, beta)(D_MODEL, HEADS, D_FF).double()
    with torch.no_grad():  # non-trivial norm gains and biases, so that copying them is tested too
        for norm in (block.attention_norm, block.feed_forward_norm):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    return block


# labml-nn's decoder layer with our block's weights copied in; its layout is `[seq, batch, d_model]`.
def labml_layer(block: DeepNormBlock, alpha: float) -> DeepNormTransformerLayer:
    attention = LabmlAttention(HEADS, D_MODEL, dropout_prob=0.0)
    feed_forward = LabmlFeedForward(D_MODEL, D_FF, dropout=0.0)
    layer = DeepNormTransformerLayer(d_model=D_MODEL, self_attn=attention, feed_forward=feed_forward,
                                     deep_norm_alpha=alpha, deep_norm_beta=1.0).double()
    pairs = [(block.attention.w_q, attention.query.linear), (block.attention.w_k, attention.key.linear),
             (block.attention.w_v, attention.value.linear), (block.attention.w_o, attention.output),
             (block.feed_forward.layer1, feed_forward.layer1), (block.feed_forward.layer2, feed_forward.layer2)]
    with torch.no_grad():
        for ours, theirs in pairs:
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
        for ours, theirs in ((block.attention_norm, layer.self_attn_norm.layer_norm),
                             (block.feed_forward_norm, layer.feed_forward_norm.layer_norm)):
            theirs.gain.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return layer.eval()


def run_ours(block: DeepNormBlock, x: torch.Tensor) -> torch.Tensor:  # x [batch, seq, d_model]
    return block(x, subsequent_mask(x.shape[1]))


def run_labml(layer: DeepNormTransformerLayer, x: torch.Tensor) -> torch.Tensor:
    return layer(x.transpose(0, 1)).transpose(0, 1)


def inputs(seed: int = 1) -> torch.Tensor:
    return torch.randn(3, 7, D_MODEL, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ## Against labml-nn
#
# Where the conventions agree, $\alpha = 1$ (plain post-norm), our block and labml-nn's
# `DeepNormTransformerLayer` with the same weights agree to float64 rounding.
def test_matches_labml_at_alpha_one() -> None:
    block = our_block(1.0, 0.3)
    x = inputs()
    torch.testing.assert_close(run_ours(block, x), run_labml(labml_layer(block, 1.0), x), rtol=1e-10, atol=1e-10)


# For $\alpha \ne 1$ they do not: labml-nn computes $\mathrm{LN}(x + \alpha G(x))$, putting $\alpha$ on the
# sub-layer, where the paper (its equation and its pseudo-code) has $\mathrm{LN}(\alpha x + G(x))$.
# Layer norm without $\epsilon$ is blind to a positive scale, $\mathrm{LN}(\alpha x + G) = \mathrm{LN}(x + G/\alpha)$,
# so with $\epsilon = 0$ in both our block at $\alpha$ equals labml-nn's at $1/\alpha$; at labml-nn's own
# $\alpha$ the two differ by far more than rounding.
def test_labml_puts_alpha_on_the_sublayer() -> None:
    alpha = 2.5
    block = our_block(alpha, 0.3)
    x = inputs()
    ours = run_ours(block, x)
    assert (ours - run_labml(labml_layer(block, alpha), x)).abs().max() > 0.1
    block.attention_norm.eps = block.feed_forward_norm.eps = 0.0
    inverse = labml_layer(block, 1 / alpha)
    inverse.self_attn_norm.layer_norm.eps = inverse.feed_forward_norm.layer_norm.eps = 0.0
    torch.testing.assert_close(run_ours(block, x), run_labml(inverse, x), rtol=1e-10, atol=1e-10)


# The paper's equation written out by hand in float64 for $\alpha \ne 1$, with labml-nn's attention and
# feed-forward (weights copied) as $G$, and layer norm as $\gamma \odot (z - \mu)/\sqrt{\sigma^2 + \epsilon} + b$.
def test_matches_the_equation_by_hand() -> None:
    alpha = 2.5
    block = our_block(alpha, 0.3)
    layer = labml_layer(block, alpha)
    x = inputs()  # [batch, seq, d_model]

    def layer_norm(z: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        mean, var = z.mean(-1, keepdim=True), z.var(-1, unbiased=False, keepdim=True)
        return norm.weight * (z - mean) / torch.sqrt(var + norm.eps) + norm.bias

    h = x.transpose(0, 1)  # [seq, batch, d_model]
    mask = torch.tril(torch.ones(len(h), len(h), dtype=torch.bool)).unsqueeze(-1)
    h = layer_norm(alpha * h + layer.self_attn(query=h, key=h, value=h, mask=mask), block.attention_norm)
    h = layer_norm(alpha * h + layer.feed_forward(h), block.feed_forward_norm)
    torch.testing.assert_close(run_ours(block, x), h.transpose(0, 1), rtol=1e-10, atol=1e-10)


# ## The constants and the initialisation
#
# Table 1 of the paper, decoder-only: $\alpha = (2N)^{1/4}$, $\beta = (8N)^{-1/4}$. Hand values: $N = 8$ gives
# $\alpha = 16^{1/4} = 2$ and $\beta = 64^{-1/4} = 2^{-3/2}$; $N = 32$ gives $\alpha = 2\sqrt{2}$, $\beta = 1/4$.
def test_constants_are_the_papers() -> None:
    assert deep_norm_constants(8) == pytest.approx((2.0, 2 ** -1.5), rel=1e-12)
    assert deep_norm_constants(32) == pytest.approx((2 * math.sqrt(2), 0.25), rel=1e-12)
    for layers in (1, 6, 18, 100, 1000):
        alpha, beta = deep_norm_constants(layers)
        assert alpha == pytest.approx((2 * layers) ** 0.25, rel=1e-12)
        assert beta == pytest.approx((8 * layers) ** -0.25, rel=1e-12)


# Xavier-normal weights have standard deviation $\mathrm{gain} \cdot \sqrt{2 / (d_\text{in} + d_\text{out})}$:
# gain $\beta$ for the value, output and feed-forward weights, 1 for queries and keys. With about $2.6 \cdot
# 10^5$ weights per matrix the sample deviation is within 1% of that (a fixed seed: deterministic, no
# calibration needed).
def test_initialisation_scales_by_beta() -> None:
    torch.manual_seed(0)
    beta = 0.3
    block = Block(512, 4, 512, pre_norm=False)
    deep_norm_init(block, beta)
    xavier = math.sqrt(2 / (512 + 512))
    attention, feed_forward = block.attention, block.feed_forward
    for layer, gain in ((attention.w_q, 1.0), (attention.w_k, 1.0), (attention.w_v, beta), (attention.w_o, beta),
                        (feed_forward.layer1, beta), (feed_forward.layer2, beta)):
        assert layer.weight.std().item() == pytest.approx(gain * xavier, rel=0.01)
        assert layer.weight.mean().abs().item() < 0.01 * gain * xavier
        assert torch.count_nonzero(layer.bias) == 0


# ## Plain post-norm is the case $\alpha = 1$
#
# With $\alpha = 1$ and the plain block's own weights the DeepNorm block *is* the kit's post-norm block, bit
# for bit, and so is a whole model built from it.
def test_alpha_one_is_plain_post_norm() -> None:
    torch.manual_seed(0)
    plain = Block(D_MODEL, HEADS, D_FF, pre_norm=False)
    block = deep_norm_block(1.0, 1.0)(D_MODEL, HEADS, D_FF)
    block.load_state_dict(plain.state_dict())
    x = inputs().float()
    mask = subsequent_mask(x.shape[1])
    assert torch.equal(block(x, mask), plain(x, mask))
    settings = LMSettings(pre_norm=False, layers=3, d_model=D_MODEL, heads=HEADS, d_ff=D_FF, max_chars=20_000)
    plain_model = build_model(settings, 0)
    model = build_model(settings, 1, block=deep_norm_block(1.0, 1.0))
    model.load_state_dict(plain_model.state_dict())
    tokens = torch.randint(0, 20, (2, 9), generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(tokens), plain_model(tokens))


# ## Bad input
def test_bad_input_rejected() -> None:
    for layers in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="layers must be a positive integer"):
            deep_norm_constants(layers)
    for alpha in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="alpha must be a positive number"):
            deep_norm_block(alpha, 0.5)
    for beta in (0.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="beta must be a positive number"):
            deep_norm_block(1.0, beta)
        with pytest.raises(ValueError, match="beta must be a positive number"):
            deep_norm_init(Block(D_MODEL, HEADS, D_FF), beta)
    with pytest.raises(ValueError, match="pre_norm must be False"):
        deep_norm_block(2.0, 0.5)(D_MODEL, HEADS, D_FF, pre_norm=True)
    with pytest.raises(ValueError, match="arm must be one of"):
        arm_block("rms-norm", 4)


# ## The claim in miniature
#
# A 12-layer post-norm stack at the full run's learning rate and warm-up, trained for 150 steps with and
# without DeepNorm from the same seed.
def claim_metrics(seed: int) -> dict[str, float]:
    settings = LMSettings(layers=12, d_model=32, heads=2, d_ff=64, seq_len=32, batch_size=16, steps=150,
                          eval_every=150, eval_windows=32)
    metrics = {}
    for arm in ("post-ln", "deepnorm"):
        history, probes = paper.train_arm(arm, settings, paper.LR, paper.WARMUP, seed)
        metrics[f"valid_loss_{arm}"] = history.last("valid_loss")
        metrics[f"update_{arm}"] = probes["model_update"][paper.CHANGE_AT - 1]
    metrics["unigram_loss"] = paper.unigram_loss(settings)
    return metrics


# Calibrated on `claim_metrics` over seeds 0, 1, 2 at 1 thread, at 2 threads and under the portable kernels
# (`ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE`); `scripts/calibrate.py` gave the 1-thread values, and the
# other two were run by hand (2 threads with `OMP_WAIT_POLICY=PASSIVE`: on a machine at load 15, spinning
# threads made calibrate.py's 2-thread run crawl). The three agree to 3 decimals. Measured: Post-LN 3.301 to
# 3.309 against the frequency-only loss 3.297 (it stalls there; threshold: above 3.247), DeepNorm 3.049 to
# 3.115, so Post-LN minus DeepNorm 0.19 to 0.25 (threshold 0.08); model update after 10 steps 0.71 to 0.97
# Post-LN, 0.15 to 0.16 DeepNorm, a ratio of 4.5 to 6.0 (threshold 2): DeepNorm's early lag, which the full run
# shows closing by step 30. Post-LN here has Xavier weights; the default-init control is checked on the
# recorded run below, not here (it would add a third training run to this test).
@pytest.mark.claim
def test_claim_deepnorm_trains_where_post_ln_stalls() -> None:
    metrics = claim_metrics(0)
    assert metrics["valid_loss_post-ln"] > metrics["unigram_loss"] - 0.05
    assert metrics["valid_loss_post-ln"] - metrics["valid_loss_deepnorm"] > 0.08
    assert metrics["update_post-ln"] > 2 * metrics["update_deepnorm"]


# ## The recorded full run
#
# On every seed Xavier Post-LN ends within 0.05 nats of the frequency-only loss (recorded: 3.300 to 3.303
# against 3.297), and DeepNorm at least 0.2 below it (recorded gap 0.37 to 0.48).
def test_recorded_post_ln_stalls_and_deepnorm_trains() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["valid_loss_post-ln"]["max"] < metrics["unigram_loss"] + 0.05
    assert metrics["gap_post_ln_minus_deepnorm"]["min"] > 0.2
    assert metrics["valid_loss_deepnorm"]["max"] < metrics["valid_loss_pre-ln"]["max"]


# The referee's control: the same plain Post-LN block with PyTorch's default (smaller) initialisation trains on
# every seed, at least 0.3 below the frequency-only loss (recorded: 2.90 to 2.98 against 3.30), and DeepNorm
# stays ahead of it on every seed, but by less than 0.15 (recorded 0.04 to 0.08).
def test_recorded_default_init_post_ln_trains() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["valid_loss_post-ln-default"]["max"] < metrics["unigram_loss"] - 0.3
    gap = metrics["gap_post_ln_default_minus_deepnorm"]
    assert 0 < gap["min"] and gap["max"] < 0.15


# DeepNorm's model update lags: after 10 steps it is below half the smallest of Post-LN's on every seed
# (recorded: 0.18 to 0.20 against 0.55 to 1.01), after 30 steps the gap has closed on every seed (recorded:
# 1.16 to 1.19 against 0.90 to 1.19). Post-LN trains when it is shallow (4 layers: 2.84).
def test_recorded_model_update_lags_then_catches_up() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert 2 * metrics["update_step10_deepnorm"]["max"] < metrics["update_step10_post-ln"]["min"]
    assert metrics["update_step30_deepnorm"]["min"] > 0.95 * metrics["update_step30_post-ln"]["max"]
    assert metrics["update_step30_deepnorm"]["mean"] > metrics["update_step30_post-ln"]["mean"]
    assert metrics["post_ln_4_layers_first_seed"] < metrics["unigram_loss"] - 0.3


# The bottom block's gradient is smaller than the top's in Xavier Post-LN on two seeds of three only (recorded:
# reversed on seed 1, 0.137 against 0.133), and in default-init Post-LN, which trains, on every seed: the
# pattern does not separate the stalled arm from a trained one.
def test_recorded_bottom_gradient_does_not_separate_the_arms() -> None:
    metrics = recorded_metrics(paper.__file__)

    def bottom_below_top(arm: str) -> int:
        bottom, top = metrics[f"bottom_gradient_{arm}"]["per_seed"], metrics[f"top_gradient_{arm}"]["per_seed"]
        return sum(bottom[s] < top[s] for s in bottom)

    assert bottom_below_top("post-ln") == 2
    assert bottom_below_top("post-ln-default") == 3


# The page quotes the recorded numbers.
def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("valid_loss_deepnorm", "valid_loss_pre-ln", "valid_loss_post-ln-default",
                 "gap_post_ln_minus_deepnorm", "gap_post_ln_default_minus_deepnorm",
                 "update_step20_post-ln", "update_step20_deepnorm", "update_step30_post-ln",
                 "update_step30_deepnorm", *(f"update_step10_{arm}" for arm in paper.ARMS)):
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:.2f}"), (name, statistic)
    for name in ("update_step30_pre-ln", "update_step30_post-ln-default"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:.2f}"), name
    for value in metrics["valid_loss_post-ln-default"]["per_seed"].values():
        assert quoted_on_page(paper.__file__, f"{value:.2f}")
    for statistic in ("min", "max"):
        assert quoted_on_page(paper.__file__, f"{metrics['valid_loss_post-ln'][statistic]:.3f}"), statistic
    for name in ("valid_loss_post-ln", "unigram_loss", "alpha", "beta", "post_ln_4_layers_first_seed"):
        value = metrics[name]["mean"] if isinstance(metrics[name], dict) else metrics[name]
        assert quoted_on_page(paper.__file__, f"{value:.2f}"), name


# ... and the gradients, the sweep and the ablations.
def test_page_quotes_the_recorded_controls() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in paper.ARMS:
        for end in ("bottom", "top"):
            assert quoted_on_page(paper.__file__, f"{metrics[f'{end}_gradient_{arm}']['mean']:.3f}"), (arm, end)
    for end in ("bottom", "top"):
        for value in metrics[f"{end}_gradient_post-ln"]["per_seed"].values():
            assert quoted_on_page(paper.__file__, f"{value:.3f}"), end
    for run, value in metrics["sweep_first_seed"].items():
        assert quoted_on_page(paper.__file__, f"{value:.2f}"), run
    for arm in ("alpha-only", "beta-only"):
        for value in metrics[f"{arm}_first_seed"].values():
            assert quoted_on_page(paper.__file__, f"{value:.2f}"), arm
    for arm in ("post-ln", "deepnorm"):
        assert quoted_on_page(paper.__file__, f"{metrics[f'update_step10_{arm}']['per_seed']['0']:.2f}"), arm
    ratio = metrics["alpha-only_first_seed"]["update_step10"] / metrics["update_step10_deepnorm"]["per_seed"]["0"]
    assert quoted_on_page(paper.__file__, f"{ratio:.1f} times"), ratio


# Large early updates that train, compared on matched seeds: each half of DeepNorm alone trains on the first
# seed (recorded: 2.80 and 2.76), and with $\alpha$ alone the update after 10 steps is more than 3 times full
# DeepNorm's on that seed (recorded: 0.81 against 0.18, 4.4 times); default-init Post-LN, which trains, has an
# update after 10 steps more than 3 times DeepNorm's largest on every seed (recorded: 0.71 to 0.90 against
# 0.18 to 0.20). This is why the page does not claim the small update as the cause.
def test_recorded_large_early_updates_that_train() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ("alpha-only", "beta-only"):
        assert metrics[f"{arm}_first_seed"]["valid_loss"] < metrics["unigram_loss"] - 0.3, arm
    first_seed = str(metrics["seeds"][0])
    deepnorm = metrics["update_step10_deepnorm"]
    assert metrics["alpha-only_first_seed"]["update_step10"] > 3 * deepnorm["per_seed"][first_seed]
    assert metrics["update_step10_post-ln-default"]["min"] > 3 * deepnorm["max"]


def test_ablation_blocks_keep_one_constant() -> None:
    alpha, beta = deep_norm_constants(18)
    alpha_only, beta_only = arm_block("alpha-only", 18)[0], arm_block("beta-only", 18)[0]
    assert (alpha_only.alpha, alpha_only.beta) == (alpha, 1.0)
    assert (beta_only.alpha, beta_only.beta) == (1.0, beta)
    assert arm_block("post-ln-default", 18) == (Block, False)
