"""Tests for papers/transformers/primer_ez.py: squared ReLU and the feed-forward network against labml-nn's,
the causal depth-wise convolution against PyTorch's conv1d and a loop in float64, its causality (exact),
Multi-DConv-Head Attention against labml-nn's with copied weights, the claim in miniature, the page's numbers
against the recorded run, and bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from papers.kit.char_transformer import Block
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import primer_ez as paper
from papers.transformers.attention import MultiHeadAttention, subsequent_mask
from papers.transformers.building_blocks import PositionWiseFeedForward
from papers.transformers.primer_ez import (ARMS, CONTROL, QUICK, CausalDepthwiseConv, MultiDConvHeadAttention,
                                           SquaredReLUFeedForward, build_arm, squared_relu, steps_to_reach,
                                           train_arm)

SQUARED_RELU_AHEAD = 3  # of 3 seeds, in the recorded run
PRIMER_AHEAD_OF_DCONV = 2


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ## Squared ReLU
#
# The activation equals labml-nn's `SquaredReLU` and the formula $\max(0, z)^2$, exactly, in float64; and the
# project's feed-forward network with it (`SquaredReLUFeedForward`) equals labml-nn's `FeedForward` with
# that activation, weights copied.
def test_squared_relu_equals_labml_nn_and_the_formula() -> None:
    from labml_nn.transformers.primer_ez import SquaredReLU

    z = torch.randn(4, 7, 33, dtype=torch.float64, generator=generator(0))
    assert torch.equal(squared_relu(z), SquaredReLU()(z))
    assert torch.equal(squared_relu(z), torch.where(z > 0, z * z, torch.zeros_like(z)))


def test_squared_relu_feed_forward_equals_labml_nn() -> None:
    from labml_nn.transformers.feed_forward import FeedForward
    from labml_nn.transformers.primer_ez import SquaredReLU

    torch.manual_seed(0)
    ours = SquaredReLUFeedForward(16, 64).double()
    theirs = FeedForward(16, 64, dropout=0.0, activation=SquaredReLU()).double()
    assert isinstance(ours, PositionWiseFeedForward)
    theirs.load_state_dict(ours.state_dict())  # the same names: layer1, layer2
    x = torch.randn(3, 9, 16, dtype=torch.float64, generator=generator(1))
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-12)


# ## The causal depth-wise convolution
#
# Against PyTorch's grouped `conv1d` with $k - 1$ zeros padded on the left, and against a loop over
# (position, channel, tap) of the page's equation, in float64, for several kernel sizes, with and without the
# bias (made non-zero here).
def loop_convolution(conv: CausalDepthwiseConv, x: torch.Tensor) -> torch.Tensor:
    batch, length, channels = x.shape
    k = conv.weight.shape[1]
    out = torch.zeros_like(x)
    for b in range(batch):
        for t in range(length):
            for c in range(channels):
                total = 0.0 if conv.bias is None else conv.bias[c].item()
                for j in range(k):
                    if t - k + 1 + j >= 0:
                        total += conv.weight[c, j].item() * x[b, t - k + 1 + j, c].item()
                out[b, t, c] = total
    return out


@pytest.mark.parametrize("kernel_size", [1, 3, 4])
@pytest.mark.parametrize("bias", [False, True])
def test_convolution_equals_a_loop_and_conv1d(kernel_size: int, bias: bool) -> None:
    conv = CausalDepthwiseConv(5, kernel_size, bias).double()
    x = torch.randn(2, 8, 5, dtype=torch.float64, generator=generator(2))
    with torch.no_grad():
        for parameter in conv.parameters():
            parameter.copy_(torch.randn(parameter.shape, dtype=torch.float64, generator=generator(kernel_size)))
        out = conv(x)
        torch.testing.assert_close(out, loop_convolution(conv, x), rtol=0, atol=1e-12)
        padded = F.pad(x.transpose(1, 2), (kernel_size - 1, 0))  # [batch, channels, k - 1 + len]
        reference = F.conv1d(padded, conv.weight[:, None, :], conv.bias, groups=5).transpose(1, 2)
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-12)


# The initialisation of the paper's code (google-research `primer/t5_models.py`, `causal_depthwise_conv`): the
# current tap 0.5, each earlier tap 0.5 / k, no bias; so MDHA adds $3 \cdot 3d$ parameters per layer.
@pytest.mark.parametrize("kernel_size", [1, 3, 4])
def test_initialisation_follows_the_papers_code(kernel_size: int) -> None:
    conv = CausalDepthwiseConv(6, kernel_size)
    expected = torch.full((6, kernel_size), 0.5 / kernel_size)
    expected[:, -1] = 0.5
    assert torch.equal(conv.weight.detach(), expected)
    assert conv.bias is None and len(list(conv.parameters())) == 1
    assert CausalDepthwiseConv(6, kernel_size, bias=True).bias.abs().sum() == 0


# Causality, exactly (no rounding allowed): changing the input at position $s$ leaves every output before
# $s$ bit for bit the same, for the convolution alone, for MDHA under the causal mask, and for the whole
# Primer EZ model; and it does change the output at $s$ (the convolution reads the current position).
@pytest.mark.parametrize("position", [0, 5, 11])
def test_convolution_is_causal(position: int) -> None:
    conv = CausalDepthwiseConv(6)
    x = torch.randn(2, 12, 6, generator=generator(3))
    changed = x.clone()
    changed[:, position] += 1.0
    with torch.no_grad():
        before, after = conv(x), conv(changed)
    assert torch.equal(before[:, :position], after[:, :position])
    assert (before[:, position] - after[:, position]).abs().min() > 0


@pytest.mark.parametrize("fused", [False, True])
def test_dconv_attention_is_causal(fused: bool) -> None:
    torch.manual_seed(4)
    attention = MultiDConvHeadAttention(16, 4)
    attention.fused = fused
    x = torch.randn(2, 10, 16, generator=generator(4))
    changed = x.clone()
    changed[:, 6] += 1.0
    mask = subsequent_mask(10)
    with torch.no_grad():
        before, after = attention(x, x, x, mask), attention(changed, changed, changed, mask)
    assert torch.equal(before[:, :6], after[:, :6])
    assert (before[:, 6:] - after[:, 6:]).abs().max() > 1e-3


def test_primer_ez_model_is_causal() -> None:
    model = build_arm("primer_ez", QUICK, 0).eval()
    tokens = torch.randint(0, 50, (2, QUICK.seq_len), generator=generator(5))
    changed = tokens.clone()
    changed[:, 20] = (changed[:, 20] + 1) % 50
    with torch.no_grad():
        assert torch.equal(model(tokens)[:, :20], model(changed)[:, :20])


# ## Multi-DConv-Head Attention against labml-nn
#
# labml-nn's `MultiDConvHeadAttention` (sequence-first `[seq, batch, d_model]`, mask `[seq_q, seq_k, batch]`)
# shares its $d_k$ kernels across heads; ours has one per channel of each head. With our projections copied
# into theirs and their kernels and biases copied into every head of ours (built with `conv_bias=True`, since
# labml-nn's `nn.Conv1d` has a bias where the paper's code has none; channel $h d_k + i$ gets their channel $i$),
# the two agree in float64 under a causal mask. With our own, per-head kernels they differ: the convention
# difference, pinned.
def labml_copy(ours: MultiDConvHeadAttention) -> torch.nn.Module:
    from labml_nn.transformers.primer_ez import MultiDConvHeadAttention as LabmlMDHA

    assert ours.q_conv.bias is not None, "labml-nn's convolutions have a bias: build ours with conv_bias=True"
    theirs = LabmlMDHA(ours.heads, ours.d_model, dropout_prob=0.0).double().eval()
    with torch.no_grad():
        for mine, their in ((ours.w_q, theirs.query[0].linear), (ours.w_k, theirs.key[0].linear),
                            (ours.w_v, theirs.value[0].linear), (ours.w_o, theirs.output)):
            their.weight.copy_(mine.weight)
            their.bias.copy_(mine.bias)
        for mine, their in ((ours.q_conv, theirs.query[1]), (ours.k_conv, theirs.key[1]),
                            (ours.v_conv, theirs.value[1])):
            mine.weight.copy_(their.conv.weight[:, 0, :].repeat(ours.heads, 1))  # [d_k, k] -> [d_model, k]
            mine.bias.copy_(their.conv.bias.repeat(ours.heads))
    return theirs


def labml_output(theirs: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    seq_first = x.transpose(0, 1)  # [seq, batch, d_model]
    return theirs(query=seq_first, key=seq_first, value=seq_first, mask=mask.permute(1, 2, 0)).transpose(0, 1)


@pytest.mark.parametrize("fused", [False, True])
def test_dconv_attention_equals_labml_nn_with_copied_weights(fused: bool) -> None:
    torch.manual_seed(6)
    ours = MultiDConvHeadAttention(32, 4, conv_bias=True).double()
    ours.fused = fused
    theirs = labml_copy(ours)
    x = torch.randn(3, 15, 32, dtype=torch.float64, generator=generator(6))
    mask = subsequent_mask(15)  # [1, seq, seq]
    torch.testing.assert_close(ours(x, x, x, mask), labml_output(theirs, x, mask), rtol=0, atol=1e-10)


def test_per_head_kernels_differ_from_labml_nn_shared_ones() -> None:
    torch.manual_seed(7)
    ours = MultiDConvHeadAttention(32, 4, conv_bias=True).double()
    theirs = labml_copy(ours)
    with torch.no_grad():
        ours.k_conv.weight[8:16] += 0.5  # head 1's key kernels now differ from the other heads'
    x = torch.randn(2, 10, 32, dtype=torch.float64, generator=generator(7))
    mask = subsequent_mask(10)
    assert (ours(x, x, x, mask) - labml_output(theirs, x, mask)).abs().max() > 1e-3


# With every kernel the identity (the current tap 1, the others 0) MDHA is the parent's
# multi-head attention with the same projections: the convolution is the only change.
def test_identity_kernels_give_plain_attention() -> None:
    torch.manual_seed(8)
    ours = MultiDConvHeadAttention(16, 2).double()
    plain = MultiHeadAttention(16, 2).double()
    plain.load_state_dict(ours.state_dict(), strict=False)
    with torch.no_grad():
        for conv in (ours.q_conv, ours.k_conv, ours.v_conv):
            conv.weight.zero_()
            conv.weight[:, -1] = 1.0
    x = torch.randn(2, 9, 16, dtype=torch.float64, generator=generator(8))
    mask = subsequent_mask(9)
    torch.testing.assert_close(ours(x, x, x, mask), plain(x, x, x, mask), rtol=0, atol=1e-12)


# The arms differ only where they should: the feed-forward activation and the attention class; the DConv arms
# have $3 \cdot 3d$ more parameters per layer (kernels of width 3, no bias, for Q, K and V), the width-1
# control $3d$.
def test_arms_change_only_their_pieces() -> None:
    counts = {}
    for arm, (squared, kernel_size) in (ARMS | CONTROL).items():
        model = build_arm(arm, QUICK, 0)
        block = model.blocks[0]
        assert isinstance(block, Block)
        assert isinstance(block.attention, MultiDConvHeadAttention) == bool(kernel_size)
        if kernel_size:
            assert block.attention.q_conv.weight.shape == (QUICK.d_model, kernel_size)
        activation = getattr(block.feed_forward, "activation", "relu")
        assert (activation == "squared_relu") == squared
        counts[arm] = sum(p.numel() for p in model.parameters())
    extra = QUICK.layers * 3 * QUICK.d_model * 3
    assert counts["dconv"] - counts["baseline"] == extra == counts["primer_ez"] - counts["squared_relu"]
    assert counts["width_1"] - counts["baseline"] == QUICK.layers * 3 * QUICK.d_model
    assert counts["squared_relu"] == counts["baseline"]


def test_steps_to_reach_interpolates_between_evaluations() -> None:
    assert steps_to_reach([10, 20, 30], [3.0, 2.5, 2.0], 2.25) == 25.0
    assert steps_to_reach([10, 20, 30], [2.0, 1.5, 1.0], 2.5) == 10.0
    assert steps_to_reach([10, 20], [3.0, 2.9], 2.5) is None


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        CausalDepthwiseConv(0)
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        CausalDepthwiseConv(4, kernel_size=0)
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        MultiDConvHeadAttention(16, 2, kernel_size=2.5)
    conv = CausalDepthwiseConv(4)
    with pytest.raises(ValueError, match="x must have shape"):
        conv(torch.randn(2, 7, 5))
    with pytest.raises(TypeError, match="x must have dtype"):
        conv(torch.randn(2, 7, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        conv([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(ValueError, match="heads"):
        MultiDConvHeadAttention(10, 4)
    attention = MultiDConvHeadAttention(16, 2)
    with pytest.raises(ValueError, match="query must have shape"):
        attention(torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="d_ff must be a positive integer"):
        SquaredReLUFeedForward(16, 0)
    with pytest.raises(ValueError, match="x must have shape"):
        SquaredReLUFeedForward(16, 32)(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="arm must be one of"):
        build_arm("primer", QUICK, 0)


def test_meta_tensors() -> None:
    attention = MultiDConvHeadAttention(16, 2).to("meta")
    h = torch.randn(2, 7, 16, device="meta")
    assert attention(h, h, h, subsequent_mask(7, device="meta")).shape == (2, 7, 16)
    assert CausalDepthwiseConv(16).to("meta")(h).device.type == "meta"


# ## The claim in miniature
#
# Not the page's run: the quick settings (width 32, 2 heads, windows of 32, 200 steps instead of 450, the full
# run's warm-up, cosine decay and clipping) at one shared rate, 0.01, for every arm instead of each arm's own
# choice from a sweep: the baseline and Primer EZ, on seeds 0-2.
def claim_metrics(seed: int) -> dict[str, float]:
    losses = {arm: train_arm(arm, QUICK, seed, 0.01).last("valid_loss") for arm in ("baseline", "primer_ez")}
    return {"primer_ez_gap": losses["baseline"] - losses["primer_ez"]}


# At 200 steps and a shared rate the gains are smaller and noisier than the page's (every arm is still leaving
# a plateau near 2.9 nats, at a seed-dependent step), so the test asks for Primer EZ ahead of the baseline by
# more than 0.1 nats on the mean of seeds 0-2. Measured with the paper's initialisation of the kernels:
# Primer EZ's gap 0.026, 0.470 and 0.125 at 1 thread (mean 0.207), 0.039, 0.406 and 0.174 under portable
# kernels (mean 0.206), 0.070 on seed 0 at 2 threads (seeds 1-2 not finished on the loaded machine).
# Threshold 0.1 on the mean, half the measured means. The single seeds are too close to zero (0.026 at
# least) to assert one by one. The DConv arm alone is not tested in miniature: its gap at this budget
# (-0.014 to 0.093 over seeds and kernel settings, mean 0.004 under portable kernels) does not separate from
# zero; its gain is checked on the recorded full run.
@pytest.mark.claim
def test_quick_primer_ez_ahead_of_the_baseline() -> None:
    gaps = [claim_metrics(seed)["primer_ez_gap"] for seed in (0, 1, 2)]
    assert sum(gaps) / len(gaps) > 0.1, gaps


# ## The recorded full run
#
# Each arm's rate is the best of its own sweep (the same grid for every arm), and the runs are of equal
# length.
def test_recorded_rates_are_each_arms_best() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ARMS:
        sweep = metrics[f"{arm}_sweep"]
        assert sweep[f"{metrics[f'{arm}_lr']:g}"] == min(sweep.values()), arm
        assert len(sweep) == len(metrics["rates"])
        assert len(metrics[f"{arm}_curves"]["steps"]) == len(metrics["baseline_curves"]["steps"])
    assert metrics["width_1_sweep"][f"{metrics['width_1_lr']:g}"] == min(metrics["width_1_sweep"].values())
    assert len(metrics["width_1_sweep"]) == len(paper.CONTROL_RATES)


# The page's findings: the DConv arms ahead of the baseline on every seed by more than 0.1 nats, and in
# fewer steps on every seed; the DConv arms slower per step than the baseline by more than 20%; and the DConv
# arm ahead of the width-1 control on every seed (the part of the gain that comes from mixing over positions).
def test_recorded_claims() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ("dconv", "primer_ez"):
        assert metrics[f"{arm}_gap"]["min"] > 0.1, arm
        assert metrics[f"{arm}_step_speedup"]["min"] > 1.5, arm
        assert metrics[f"{arm}_time_ratio"] > 1.2, arm
    assert metrics["squared_relu_ahead_seeds"] == SQUARED_RELU_AHEAD
    assert metrics["primer_ez_ahead_of_dconv_seeds"] == PRIMER_AHEAD_OF_DCONV
    assert metrics["dconv_over_width_1"]["min"] > 0


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in [f"{arm}_valid" for arm in ARMS | CONTROL] + [
            f"{arm}_gap" for arm in ARMS | CONTROL if arm != "baseline"] + [
            "squared_relu_on_dconv_gap", "dconv_over_width_1"]:
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:.3f}"), (name, statistic)
    for arm in ARMS | CONTROL:
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_ms_per_step']:.1f}"), arm
        if arm != "baseline":
            assert quoted_on_page(paper.__file__, f"({metrics[f'{arm}_time_ratio']:.2f} times"), arm
        if arm in ("dconv", "primer_ez"):  # squared ReLU's time speed-up is not quoted: its time ratio is noise
            for name in (f"{arm}_step_speedup", f"{arm}_time_speedup"):
                assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:.2f} "
                                                      f"({metrics[name]['min']:.2f} to {metrics[name]['max']:.2f})")
    step = metrics["squared_relu_step_speedup"]
    assert quoted_on_page(paper.__file__, f"{step['mean']:.2f} ({step['min']:.2f} to {step['max']:.2f})")
    assert quoted_on_page(paper.__file__, f"varies by {metrics['baseline_valid']['std']:.3f}")
