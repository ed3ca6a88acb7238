"""Tests for papers/transformers/hourglass.py: causality of the whole model, exact, for several shortening
factors and lengths that are not multiples of them (and the leak without the shift); the shortening and
upsampling against a hand computation; the pieces and the whole hourglass against labml-nn's with copied
weights; the FLOP count against PyTorch's counter; the claim in miniature; the page's numbers against the
recorded run; and bad input."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from papers.kit.char_transformer import Block, corpus, train_lm, validation_loss, validation_windows
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import hourglass as paper
from papers.transformers.attention import subsequent_mask, use_fused_attention
from papers.transformers.gpt import gpt_schedule
from papers.transformers.hourglass import (ARMS, CLIP_NORM, QUICK, ShortenedStack, Shortening, Upsampling,
                                           build_arm, build_hourglass, causal_shift, flops_per_token,
                                           format_layout, parse_layout)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def run_stack(stack: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    mask = subsequent_mask(x.shape[1])
    for layer in stack:
        x = layer(x, mask)
    return x


# ## Causality, exact
#
# Changing the token at position $t$ leaves every output before $t$ bit for bit the same (among them the
# logits at $t - 1$ that predict token $t$), for shortening factors 2, 3 and 4, nested hourglasses, both
# poolings and both upsamplings, and lengths that are not multiples of the factor. And information does flow:
# the output at $t$ or after changes. A prefix of the text gives the same outputs as the whole text on its
# positions (to rounding: different shapes may sum in another order).
LAYOUTS = ["1@1, 1@2, 1@1", "1@1, 2@3, 1@1", "1@1, 1@4, 1@1", "1@1, 1@2, 1@6, 1@2, 1@1"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("resampling", [("average", "repeat"), ("linear", "linear")])
def test_model_is_causal(layout: str, resampling: tuple[str, str]) -> None:
    model = build_hourglass(QUICK.but(seq_len=13), 0, layout, *resampling).eval()
    tokens = torch.randint(0, 50, (2, 13), generator=generator(0))
    with torch.no_grad():
        full = model(tokens)
        for length in (13, 7, 5):
            before = model(tokens[:, :length])
            torch.testing.assert_close(before, full[:, :length], rtol=0, atol=1e-5)
            for t in range(length):
                changed = tokens[:, :length].clone()
                changed[:, t] = (changed[:, t] + 11) % 50
                after = model(changed)
                assert torch.equal(before[:, :t], after[:, :t]), (length, t)
                assert (before[:, t:] - after[:, t:]).abs().max() > 1e-4, (length, t)


# Without the shift by $k - 1$ the shortened sequence leaks the future: with $k = 3$, position 0's output
# reads positions 1 and 2 through the average of its group. The shift is what makes it causal.
def test_without_the_shift_the_future_leaks() -> None:
    torch.manual_seed(1)
    stack = ShortenedStack(8, 3, nn.ModuleList([Block(8, 2, 16)]))
    x = torch.randn(1, 6, 8, generator=generator(1))
    changed = x.clone()
    changed[:, 2] += 1.0

    def unshifted(h: torch.Tensor) -> torch.Tensor:
        short = stack.shortening(h)
        return h + stack.upsampling(run_stack(stack.layers, short), h.shape[1])

    with torch.no_grad():
        assert torch.equal(stack(x)[:, :2], stack(changed)[:, :2])
        assert (unshifted(x)[:, :2] - unshifted(changed)[:, :2]).abs().max() > 1e-3


# ## Shift, shortening and upsampling against a hand computation
#
# Length 7, $k = 3$: the shift gives 9 positions, two zeros and then $x_0, \dots, x_6$; the groups are
# $(0, 0, x_0)$, $(x_1, x_2, x_3)$ and $(x_4, x_5, x_6)$. Average pooling divides each by 3; linear pooling
# applies one matrix to the three vectors concatenated. Length 8, $k = 3$: the same groups, $x_7$ unread.
def test_shift_and_shortening_equal_a_hand_computation() -> None:
    x = torch.randn(2, 8, 4, dtype=torch.float64, generator=generator(2))
    zero = torch.zeros_like(x[:, 0])
    groups = [(zero, zero, x[:, 0]), (x[:, 1], x[:, 2], x[:, 3]), (x[:, 4], x[:, 5], x[:, 6])]
    for length in (7, 8):
        shifted = causal_shift(x[:, :length], 3)  # [2, 9, 4]
        assert torch.equal(shifted, torch.stack([v for group in groups for v in group], dim=1))
    shifted = causal_shift(x[:, :7], 3)
    expected = torch.stack([(a + b + c) / 3 for a, b, c in groups], dim=1)
    torch.testing.assert_close(Shortening(4, 3).double()(shifted), expected, rtol=0, atol=1e-12)
    linear = Shortening(4, 3, "linear").double()
    weight, bias = linear.linear.weight, linear.linear.bias  # [4, 12], [4]
    expected = torch.stack([sum(part @ weight[:, 4 * i:4 * i + 4].T for i, part in enumerate(group)) + bias
                            for group in groups], dim=1)
    torch.testing.assert_close(linear(shifted), expected, rtol=0, atol=1e-12)


# Position $t$ reads group $\lfloor t / k \rfloor$: the repeat copies it, the linear upsampling applies the
# $(t \bmod k)$-th block of its $kd \times d$ matrix.
def test_upsampling_equals_a_hand_computation() -> None:
    short = torch.randn(2, 3, 4, dtype=torch.float64, generator=generator(4))
    assert torch.equal(Upsampling(4, 3)(short, 7), short[:, [0, 0, 0, 1, 1, 1, 2]])
    linear = Upsampling(4, 3, "linear").double()
    weight, bias = linear.linear.weight, linear.linear.bias  # [12, 4], [12]
    rows = [slice(4 * (t % 3), 4 * (t % 3) + 4) for t in range(7)]
    expected = torch.stack([short[:, t // 3] @ weight[rows[t]].T + bias[rows[t]] for t in range(7)], dim=1)
    torch.testing.assert_close(linear(short, 7), expected, rtol=0, atol=1e-12)


# ## Against labml-nn
#
# labml-nn's `labml_nn/transformers/hour_glass` works sequence-first (`[seq, batch, d]`). For lengths that are
# multiples of $k$ its `ShiftRight(k - 1)`, `AvgPoolShortening` (PyTorch's `AvgPool1d`) and `NaiveUpSampling`
# equal our shift, average pooling and repeat. For other lengths they differ in the last group: labml-nn
# shifts within the length (dropping the last $k - 1$ vectors) and lets `AvgPool1d(ceil_mode=True)` average
# the last, partial group over its real entries, so that group leaves out tokens it could read, and changes
# when the text grows (not prefix-consistent). Ours equals labml-nn's run on the text extended to a multiple
# of $k$ by any vectors at the end (random ones here: they are never read).
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("length", [8, 9, 11])
def test_pieces_equal_labml_nn(k: int, length: int) -> None:
    from labml_nn.transformers.hour_glass import AvgPoolShortening, NaiveUpSampling, ShiftRight

    x = torch.randn(2, length, 4, dtype=torch.float64, generator=generator(5))
    groups = -(-length // k)
    extended = torch.cat([x, torch.randn(2, groups * k - length, 4, dtype=torch.float64, generator=generator(6))],
                         dim=1).transpose(0, 1)  # [groups * k, batch, d]
    shifted = causal_shift(x, k)
    assert torch.equal(shifted, ShiftRight(k - 1)(extended).transpose(0, 1))
    short = Shortening(4, k)(shifted)
    theirs = AvgPoolShortening(k)(ShiftRight(k - 1)(extended))
    torch.testing.assert_close(short, theirs.transpose(0, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(Upsampling(4, k)(short, length),
                               NaiveUpSampling(k)(x.transpose(0, 1), theirs).transpose(0, 1), rtol=0, atol=0)
    on_x = AvgPoolShortening(k)(ShiftRight(k - 1)(x.transpose(0, 1))).transpose(0, 1)
    torch.testing.assert_close(short[:, :-1], on_x[:, :-1], rtol=0, atol=1e-12)
    assert (length % k == 0) == torch.allclose(short[:, -1], on_x[:, -1])


# The whole hourglass: labml-nn's `HourGlass` with shortening factors `[k]` is the layout
# $(1@1, 1@k, 1@1)$ with average pooling and repeat upsampling, and factors `[2, 2]` is
# $(1@1, 1@2, 1@4, 1@2, 1@1)$. Its `TransformerLayer` is pre-norm like the harness's `Block`; with our
# weights copied in, the two agree in float64.
def copy_block(ours: Block, theirs: nn.Module) -> None:
    pairs = [(ours.attention.w_q, theirs.self_attn.query.linear), (ours.attention.w_k, theirs.self_attn.key.linear),
             (ours.attention.w_v, theirs.self_attn.value.linear), (ours.attention.w_o, theirs.self_attn.output),
             (ours.feed_forward.layer1, theirs.feed_forward.layer1),
             (ours.feed_forward.layer2, theirs.feed_forward.layer2),
             (ours.attention_norm, theirs.norm_self_attn), (ours.feed_forward_norm, theirs.norm_ff)]
    for mine, their in pairs:
        their.load_state_dict(mine.state_dict())


def copy_hourglass(ours: nn.ModuleList, theirs: nn.Module) -> None:
    pre, middle, post = ours
    copy_block(pre, theirs.pre)
    copy_block(post, theirs.post)
    if theirs.hour_glass is None:
        copy_block(middle.layers[0], theirs.shortened)
    else:
        copy_hourglass(middle.layers, theirs.hour_glass)


@pytest.mark.parametrize(("factors", "layout"), [([2], "1@1, 1@2, 1@1"), ([3], "1@1, 1@3, 1@1"),
                                                 ([2, 2], "1@1, 1@2, 1@4, 1@2, 1@1")])
def test_hourglass_equals_labml_nn_with_copied_weights(factors: list[int], layout: str) -> None:
    from labml_nn.transformers.hour_glass import HourGlass

    torch.manual_seed(6)
    ours = build_hourglass(QUICK.but(d_model=16, heads=2, d_ff=32), 0, layout).blocks.double()
    theirs = HourGlass(2, 16, 0.0, 32, factors).double().eval()
    copy_hourglass(ours, theirs)
    x = torch.randn(2, 12, 16, dtype=torch.float64, generator=generator(7))  # a multiple of the factors
    with torch.no_grad():
        torch.testing.assert_close(run_stack(ours, x), theirs(x.transpose(0, 1)).transpose(0, 1), rtol=0, atol=1e-10)


# ## The FLOP count against PyTorch's
#
# `flops_per_token` is computed from the shapes; PyTorch's `FlopCounterMode` counts the matrix products of
# one forward pass of the blocks (embedding and output layer left out, as in the page's count), attention
# computed by the explicit products $QK^\top$ and $AV$ over the full square, as the page counts it. Exact:
# counts of integers, no training.
@pytest.mark.parametrize("arm", sorted(ARMS))
@pytest.mark.parametrize("seq_len", [32, 30])
def test_flops_equal_pytorchs_count(arm: str, seq_len: int) -> None:
    settings = QUICK.but(seq_len=seq_len)
    blocks = build_arm(arm, settings, 0).blocks
    use_fused_attention(blocks, False)  # the counter does not see inside the fused kernel on CPU
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        run_stack(blocks, torch.randn(1, seq_len, settings.d_model))
    assert counter.get_total_flops() == flops_per_token(settings, *ARMS[arm]) * seq_len


def test_layout_notation() -> None:
    assert parse_layout("1@1, 2@3, 1@1") == [(1, 1), (2, 3), (1, 1)]
    assert parse_layout("4@1") == [(4, 1)]
    assert format_layout(parse_layout("2@1,1@2,3@6,1@2,2@1")) == "2@1, 1@2, 3@6, 1@2, 2@1"
    model = build_hourglass(QUICK, 0, "2@1, 3@4, 1@1")
    assert [type(block).__name__ for block in model.blocks] == ["Block", "Block", "ShortenedStack", "Block"]
    assert len(model.blocks[2].layers) == 3 and model.blocks[2].k == 4


def test_arms_have_the_same_parameters_but_resampling() -> None:
    counts = {arm: sum(p.numel() for p in build_arm(arm, QUICK, 0).parameters()) for arm in ARMS}
    block = sum(p.numel() for p in Block(QUICK.d_model, QUICK.heads, QUICK.d_ff).parameters())
    d, k = QUICK.d_model, 2
    assert counts["hourglass"] - counts["flat"] == (k * d * d + d) + (d * k * d + k * d)
    assert counts["flat"] - counts["flat_3"] == block


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        Shortening(8, 0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        Upsampling(8, -1)
    with pytest.raises(ValueError, match="pooling must be one of"):
        Shortening(8, 2, "max")
    with pytest.raises(ValueError, match="upsampling must be one of"):
        Upsampling(8, 2, "attention")
    with pytest.raises(ValueError, match="x must have shape"):
        Shortening(8, 2)(torch.randn(2, 6, 6))
    with pytest.raises(ValueError, match="x must have shape"):
        Shortening(8, 2)(torch.randn(5, 8))
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        Shortening(8, 2)(torch.ones(2, 6, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="short must have shape"):
        Upsampling(8, 2)(torch.randn(2, 3, 4), 6)
    with pytest.raises(ValueError, match=r"length must be in \(4, 6\]"):
        Upsampling(8, 2)(torch.randn(2, 3, 8), 7)
    with pytest.raises(ValueError, match="x's length must be a multiple of k = 2"):
        Shortening(8, 2)(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        causal_shift(torch.randn(2, 5, 8), 0)
    for layout in ("1@1, 2@3", "1@2, 2@4, 1@2", "1@1, 2@3, 1@2", "1@1, 1@2, 1@3, 1@2, 1@1", "1@1, 0@2, 1@1",
                   "a@1", "1@1, 2@0, 1@1"):
        with pytest.raises(ValueError, match="layout"):
            parse_layout(layout)
    with pytest.raises(ValueError, match="layout must be a string"):
        parse_layout(3)
    with pytest.raises(ValueError, match="arm must be one of"):
        build_arm("deep", QUICK, 0)
    with pytest.raises(ValueError, match="tokens must have shape"):
        build_arm("hourglass", QUICK, 0)(torch.zeros(8, dtype=torch.long))


def test_meta_tensors() -> None:
    stack = ShortenedStack(16, 3, nn.ModuleList([Block(16, 2, 32)]), "linear", "linear").to("meta")
    x = torch.randn(2, 7, 16, device="meta")
    assert stack(x, subsequent_mask(7, device="meta")).shape == (2, 7, 16)
    assert Shortening(16, 3).to("meta")(causal_shift(x, 3)).shape == (2, 3, 16)


# ## The claim in miniature
#
# Not the page's run: the quick settings (windows of 32 characters, 150 steps instead of 300), one shared
# rate, 0.01 (the flat model's choice in the full run), with 10 steps of warm-up instead of 30, for the flat
# 4-block model and the hourglass $(1@1, 2@2, 1@1)$. Besides each arm's validation loss, the trained
# hourglass is measured once more with its shortened middle switched off (`SkippedMiddle` in place of the
# `ShortenedStack`, so the post-vanilla block gets the pre-vanilla block's output alone): how much the
# trained model relies on its middle. `claim_metrics` also trains the control the referee asked for, a flat
# $(2@1)$: the hourglass with its middle removed, trained that way from the start (calibration only; the test
# does not train it). The FLOP count at windows of 32 is 0.768 of the flat model's (88,064 against 114,688
# per token; 0.75 at the full run's 64): a deterministic count, no calibration.
CLAIM_RATE = 0.01
CLAIM_WARMUP = 10
CONTROL = ("2@1", "average", "repeat")


class SkippedMiddle(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        del mask
        return x


def train_quick(spec: tuple[str, str, str], seed: int) -> tuple[nn.Module, float]:
    settings = QUICK.but(eval_every=QUICK.steps)  # the last step's validation loss only
    model = build_hourglass(settings, seed, *spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=CLAIM_RATE)
    history = train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(CLAIM_RATE, CLAIM_WARMUP, settings.steps),
                       clip_norm=CLIP_NORM)
    return model, history.last("valid_loss")


def claim_run(seed: int) -> dict[str, float]:
    _, flat = train_quick(ARMS["flat"], seed)
    model, hourglass = train_quick(ARMS["hourglass"], seed)
    model.blocks[1] = SkippedMiddle()
    windows = validation_windows(corpus(QUICK.max_chars).valid, QUICK.seq_len, QUICK.eval_windows)
    skipped = validation_loss(model, windows)
    return {"flat_minus_hourglass": flat - hourglass, "skipped_middle_rise": skipped - hourglass, "flat": flat,
            "hourglass": hourglass}


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = claim_run(seed)
    control = train_quick(CONTROL, seed)[1]
    return {**metrics, "flat_minus_control": metrics["flat"] - control, "control_minus_hourglass":
            control - metrics["hourglass"]}


@pytest.fixture(scope="module", name="claim")
def fixture_claim() -> list[dict[str, float]]:
    return [claim_run(seed) for seed in (0, 1)]


# Two properties, on seeds 0 and 1 (about 8 s of CPU: two 150-step runs per seed). (1) Non-inferiority, two-sided:
# the flat model's loss minus the hourglass's, on the mean of the seeds, lies in $(-0.05, 0.25)$: the
# hourglass is not far behind the flat model of the same depth, and not implausibly far ahead of it (a causal
# leak through the shortening would put it far ahead). (2) The middle is used: switching off the trained
# hourglass's middle raises its loss by more than 0.02 on every seed; a middle that outputs zeros, or one
# that the model learned to ignore, fails this. What the test cannot do at this size: tell the hourglass from
# a flat $(2@1)$, which passes (1) as well, and which the hourglass does not beat on every seed.
#
# Calibrated with `scripts/calibrate.py`, seeds 0-2, per seed 0-1-2 (the test uses seeds 0 and 1). Flat minus
# hourglass: 0.047, 0.094, 0.093 at 1 thread; 0.097, 0.068, 0.076 under portable kernels (means over seeds 0-1:
# 0.071 and 0.083; band $(-0.05, 0.25)$, at least 0.12 from either edge). Rise with the middle switched off:
# 0.056, 0.095, 0.079 at 1 thread; 0.060, 0.086, 0.073 portable (threshold 0.02, margin 2.8x). 2 threads:
# started, not finished in the time available (load average 20 on the 2-core machine, over 13 minutes per seed);
# not measured. The control $(2@1)$, flat minus control: 0.195, 0.080, -0.012 at 1 thread, 0.211, 0.080, -0.013
# portable (means over seeds 0-1 0.138 and 0.146: inside the band, so the control passes (1)); control minus
# hourglass: -0.147, 0.014, 0.105 at 1 thread, -0.114, -0.013, 0.089 portable: the hourglass is not reliably
# ahead of it. The control has no middle to switch off, and fails (2).
@pytest.mark.claim
def test_quick_hourglass_matches_the_flat_model_and_uses_its_middle(claim: list[dict[str, float]]) -> None:
    assert flops_per_token(QUICK, *ARMS["hourglass"]) == 88_064
    assert flops_per_token(QUICK, *ARMS["flat"]) == 114_688
    gaps = [metrics["flat_minus_hourglass"] for metrics in claim]
    assert -0.05 < sum(gaps) / len(gaps) < 0.25, gaps
    for metrics in claim:
        assert metrics["skipped_middle_rise"] > 0.02, metrics


# ## The recorded full run
#
# Each arm's rate is the best of its own sweep over the same grid, and no arm chose a rate at the edge of it.
def test_recorded_rates_are_each_arms_best() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ARMS:
        sweep = metrics[f"{arm}_sweep"]
        assert sweep[f"{metrics[f'{arm}_lr']:g}"] == min(sweep.values()), arm
        assert list(sweep) == [f"{lr:g}" for lr in metrics["rates"]], arm
        assert metrics[f"{arm}_lr"] not in (min(metrics["rates"]), max(metrics["rates"])), arm


# The page's findings: the hourglass ahead of the flat model of the same depth on every seed, for 0.75 of its
# FLOPs and less time per step; ahead of the flat model of the same FLOPs on 2 of 3 seeds only, and slower
# per step than it; every arm well below the unigram loss; and the shallower flat model ahead of the deeper
# one (the sign that the runs are short).
def test_recorded_claims() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["hourglass_vs_flat"]["min"] > 0
    assert metrics["hourglass_ahead_of_flat_seeds"] == 3
    assert metrics["hourglass_flops_ratio"] == 0.75
    assert metrics["hourglass_flops_per_token"] == metrics["flat_3_flops_per_token"]
    assert metrics["hourglass_time_ratio"] < 1
    assert metrics["hourglass_ahead_of_flat_3_seeds"] == 2
    assert metrics["flat_3_ms_per_step"] < metrics["hourglass_ms_per_step"]
    assert metrics["flat_3_valid"]["mean"] < metrics["flat_valid"]["mean"]
    for arm in ARMS:
        assert metrics[f"{arm}_valid"]["max"] < metrics["unigram_loss"] - 0.5, arm


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ARMS:
        valid = metrics[f"{arm}_valid"]
        assert quoted_on_page(paper.__file__, f"{valid['mean']:.3f} ({valid['min']:.3f} to {valid['max']:.3f})"), arm
        assert quoted_on_page(paper.__file__, f"| {metrics[f'{arm}_flops_per_token']:,} | "
                                              f"{metrics[f'{arm}_ms_per_step']:.1f} | "
                                              f"{metrics[f'{arm}_parameters']:,} |"), arm
        assert quoted_on_page(paper.__file__, ", ".join(f"{v:.3f}" for v in metrics[f"{arm}_sweep"].values())), arm
    for other in ("flat", "flat_3"):
        gap = metrics[f"hourglass_vs_{other}"]
        assert quoted_on_page(paper.__file__, f"{gap['mean']:.3f} ({gap['min']:.3f} to {gap['max']:.3f})"), other
    for arm in ("hourglass", "flat_3"):
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_time_ratio']:.2f} times"), arm
    assert quoted_on_page(paper.__file__, f"unigram loss is {metrics['unigram_loss']:.3f}")
    assert quoted_on_page(paper.__file__, f"varies by {metrics['hourglass_valid']['std']:.3f}")
    leads = {other: [metrics[f"hourglass_vs_{other}"]["per_seed"][seed] for seed in ("1", "2")]
             for other in ("flat_3", "flat")}
    (to_3, to_3_next), (to_4, to_4_next) = leads["flat_3"], leads["flat"]
    assert quoted_on_page(paper.__file__, f"lead over $(3@1)$ is {to_3:.3f} and {to_3_next:.3f} nats, "
                                          f"over $(4@1)$ {to_4:.3f} and {to_4_next:.3f}")
