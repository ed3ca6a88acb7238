"""Tests for papers/transformers/attention.py: against PyTorch's and labml-nn's attention, the claim, bad input."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics, seed_everything
from papers.kit.tasks import RESERVED
from papers.transformers import attention as paper
from papers.transformers.attention import (DecoderLayer, EncoderLayer, MultiHeadAttention, Transformer,
                                           experiment, greedy_decode, order_blind_reference,
                                           scaled_dot_product_attention, sinusoidal_positional_encoding,
                                           subsequent_mask)

D_MODEL, HEADS, BATCH, Q_LEN, K_LEN = 16, 4, 3, 5, 7


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


def ours_mha(bias: bool = True) -> MultiHeadAttention:
    mha = MultiHeadAttention(D_MODEL, HEADS, bias=bias).double().eval()
    mha.keep_weights = True  # the tests compare the weights too
    return mha


def inputs():
    query = torch.randn(BATCH, Q_LEN, D_MODEL, dtype=torch.float64)
    key = torch.randn(BATCH, K_LEN, D_MODEL, dtype=torch.float64)
    value = torch.randn(BATCH, K_LEN, D_MODEL, dtype=torch.float64)
    return query, key, value


# A mask that combines a per-query pattern with padding of the last keys of some sequences, never hiding
# every key from a query: [BATCH, Q_LEN, K_LEN], True = may attend.
def mixed_mask() -> torch.Tensor:
    mask = torch.rand(BATCH, Q_LEN, K_LEN) > 0.3
    mask[1, :, -2:] = False
    mask[:, :, 0] = True
    return mask


def copy_into_torch(ours: MultiHeadAttention, bias: bool = True) -> nn.MultiheadAttention:
    theirs = nn.MultiheadAttention(D_MODEL, HEADS, bias=bias, batch_first=True).double().eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        if bias:
            theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
            theirs.out_proj.bias.copy_(ours.w_o.bias)
    return theirs


# ## Against PyTorch's nn.MultiheadAttention with copied weights

@pytest.mark.parametrize("bias", [True, False])
def test_multi_head_attention_equals_torch_without_mask(bias):
    ours = ours_mha(bias)
    theirs = copy_into_torch(ours, bias)
    query, key, value = inputs()
    expected, expected_weights = theirs(query, key, value)
    torch.testing.assert_close(ours(query, key, value), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.weights.mean(dim=1), expected_weights, rtol=1e-10, atol=1e-12)


def test_multi_head_attention_equals_torch_with_mask():
    ours = ours_mha()
    theirs = copy_into_torch(ours)
    query, key, value = inputs()
    mask = mixed_mask()
    # PyTorch's boolean attn_mask marks the positions that may NOT attend, one mask per (batch, head).
    torch_mask = (~mask).repeat_interleave(HEADS, dim=0)
    expected, expected_weights = theirs(query, key, value, attn_mask=torch_mask)
    torch.testing.assert_close(ours(query, key, value, mask), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.weights.mean(dim=1), expected_weights, rtol=1e-10, atol=1e-12)
    assert (ours.weights[~mask.unsqueeze(1).expand_as(ours.weights)] == 0).all()


def test_padding_mask_equals_torch_key_padding_mask():
    ours = ours_mha()
    theirs = copy_into_torch(ours)
    query, key, value = inputs()
    padding = torch.zeros(BATCH, K_LEN, dtype=torch.bool)
    padding[0, -3:] = True
    expected, _ = theirs(query, key, value, key_padding_mask=padding)
    torch.testing.assert_close(ours(query, key, value, (~padding).unsqueeze(1)), expected,
                               rtol=1e-10, atol=1e-12)


def test_scaled_dot_product_equals_torch_functional():
    query, key, value = (torch.randn(2, 3, n, 8, dtype=torch.float64) for n in (5, 6, 6))
    mask = torch.rand(2, 1, 5, 6) > 0.4
    mask[..., 0] = True
    ours, _ = scaled_dot_product_attention(query, key, value, mask)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(query, key, value, attn_mask=mask))


# ## Against labml-nn's MultiHeadAttention with copied weights
#
# labml-nn works sequence-first, `[seq, batch, d_model]`, with masks `[q_len, k_len, batch]`.
def test_multi_head_attention_equals_labml_nn():
    from labml_nn.transformers.mha import MultiHeadAttention as LabmlMHA

    ours = ours_mha()
    theirs = LabmlMHA(HEADS, D_MODEL, dropout_prob=0.0).double().eval()
    with torch.no_grad():
        for mine, their in ((ours.w_q, theirs.query.linear), (ours.w_k, theirs.key.linear),
                            (ours.w_v, theirs.value.linear), (ours.w_o, theirs.output)):
            their.weight.copy_(mine.weight)
            their.bias.copy_(mine.bias)
    query, key, value = inputs()
    mask = mixed_mask()
    expected = theirs(query=query.transpose(0, 1), key=key.transpose(0, 1), value=value.transpose(0, 1),
                      mask=mask.permute(1, 2, 0))
    torch.testing.assert_close(ours(query, key, value, mask), expected.transpose(0, 1), rtol=1e-10, atol=1e-12)


# ## Positional encoding: the formula, labml-nn's, and the rotation property

def test_positional_encoding_equals_formula_and_labml_nn():
    from labml_nn.transformers.positional_encoding import get_positional_encoding

    encoding = sinusoidal_positional_encoding(50, 16)
    assert encoding[7, 4] == pytest.approx(math.sin(7 / 10000 ** (4 / 16)), abs=1e-6)
    assert encoding[7, 5] == pytest.approx(math.cos(7 / 10000 ** (4 / 16)), abs=1e-6)
    torch.testing.assert_close(encoding, get_positional_encoding(16, 50)[:, 0, :])


def test_shifting_position_is_a_rotation_independent_of_position():
    d_model, k = 8, 3
    encoding = sinusoidal_positional_encoding(40, d_model).double()
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    for p in (0, 5, 20):
        for i, w in enumerate(frequency):
            c, s = math.cos(k * w), math.sin(k * w)
            sin_p, cos_p = encoding[p, 2 * i].item(), encoding[p, 2 * i + 1].item()
            # sin(w(p+k)) = sin(wp)cos(wk) + cos(wp)sin(wk); cos(w(p+k)) = cos(wp)cos(wk) - sin(wp)sin(wk)
            assert encoding[p + k, 2 * i].item() == pytest.approx(sin_p * c + cos_p * s, abs=1e-6)
            assert encoding[p + k, 2 * i + 1].item() == pytest.approx(cos_p * c - sin_p * s, abs=1e-6)


# ## Encoder and decoder layers against PyTorch's with copied weights

def _copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
    theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
    theirs.out_proj.weight.copy_(ours.w_o.weight)
    theirs.out_proj.bias.copy_(ours.w_o.bias)


def _copy_feed_forward_and_norms(ours, theirs, norms) -> None:
    theirs.linear1.load_state_dict(ours.feed_forward.layer1.state_dict())
    theirs.linear2.load_state_dict(ours.feed_forward.layer2.state_dict())
    for mine, their in norms:
        their.load_state_dict(mine.norm.state_dict())


def test_encoder_layer_equals_torch():
    ours = EncoderLayer(D_MODEL, HEADS, 32).double().eval()
    theirs = nn.TransformerEncoderLayer(D_MODEL, HEADS, 32, dropout=0.0, batch_first=True).double().eval()
    with torch.no_grad():
        _copy_attention(ours.self_attention, theirs.self_attn)
        _copy_feed_forward_and_norms(ours, theirs, [(ours.residual1, theirs.norm1), (ours.residual2, theirs.norm2)])
    x = torch.randn(BATCH, K_LEN, D_MODEL, dtype=torch.float64)
    padding = torch.zeros(BATCH, K_LEN, dtype=torch.bool)
    padding[2, -2:] = True
    expected = theirs(x, src_key_padding_mask=padding)
    torch.testing.assert_close(ours(x, (~padding).unsqueeze(1)), expected, rtol=1e-10, atol=1e-12)


def test_decoder_layer_equals_torch():
    ours = DecoderLayer(D_MODEL, HEADS, 32).double().eval()
    theirs = nn.TransformerDecoderLayer(D_MODEL, HEADS, 32, dropout=0.0, batch_first=True).double().eval()
    with torch.no_grad():
        _copy_attention(ours.self_attention, theirs.self_attn)
        _copy_attention(ours.cross_attention, theirs.multihead_attn)
        _copy_feed_forward_and_norms(ours, theirs, [(ours.residual1, theirs.norm1), (ours.residual2, theirs.norm2),
                                                    (ours.residual3, theirs.norm3)])
    target = torch.randn(BATCH, Q_LEN, D_MODEL, dtype=torch.float64)
    memory = torch.randn(BATCH, K_LEN, D_MODEL, dtype=torch.float64)
    memory_padding = torch.zeros(BATCH, K_LEN, dtype=torch.bool)
    memory_padding[1, -3:] = True
    expected = theirs(target, memory, tgt_mask=~subsequent_mask(Q_LEN)[0], memory_key_padding_mask=memory_padding)
    got = ours(target, memory, (~memory_padding).unsqueeze(1), subsequent_mask(Q_LEN))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


# ## Masks, decoding and the missing sense of order

def test_subsequent_mask_allows_only_the_past():
    assert subsequent_mask(3).tolist() == [[[True, False, False], [True, True, False], [True, True, True]]]


def small_model(positional: bool = True) -> Transformer:
    return Transformer(12, 12, d_model=D_MODEL, heads=HEADS, d_ff=32, layers=2, positional=positional).double().eval()


def test_decoder_cannot_see_the_future():
    model = small_model()
    source = torch.randint(2, 12, (2, 6))
    target = torch.randint(2, 12, (2, 5))
    changed = target.clone()
    changed[:, 3:] = (changed[:, 3:] + 1 - 2) % 10 + 2
    with torch.no_grad():
        before, after = model(source, target), model(source, changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_greedy_decode_agrees_with_one_teacher_forced_pass():
    model = small_model()
    source = torch.randint(2, 12, (4, 6))
    decoded = greedy_decode(model, source, steps=6, start_symbol=1)
    with torch.no_grad():
        logits = model(source, torch.cat([torch.ones(4, 1, dtype=torch.long), decoded[:, :-1]], dim=1))
    assert torch.equal(logits.argmax(dim=-1), decoded)


def test_without_positional_encoding_the_encoder_is_permutation_equivariant():
    model = small_model(positional=False)
    source = torch.randint(2, 12, (2, 7))
    permutation = torch.randperm(7)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(source)[:, permutation], model.encode(source[:, permutation]))
    with_positions = small_model(positional=True)
    with torch.no_grad():
        assert not torch.allclose(with_positions.encode(source)[:, permutation],
                                  with_positions.encode(source[:, permutation]))


# Without positional encoding the whole model, not just the encoder, cannot tell one order of the source from
# another: the next-token logits are the same for a permuted source. This is what makes the order-blind
# reference of the experiment the right yardstick for that arm.
def test_without_positional_encoding_the_output_ignores_source_order():
    model = small_model(positional=False)
    source, target = torch.randint(2, 12, (3, 7)), torch.randint(2, 12, (3, 5))
    permutation = torch.randperm(7)
    with torch.no_grad():
        torch.testing.assert_close(model(source[:, permutation], target), model(source, target))


# The order-blind reference by hand. A source of one repeated symbol is fully known from its bag: floor 0,
# accuracy 1. A source of distinct symbols leaves $n - t$ equally likely candidates at step $t$: the floor
# is the mean of $\log(n - t)$, and any order-blind guess is right with probability $1 / n$.
def test_order_blind_reference_by_hand():
    same = torch.full((2, 4), RESERVED + 3)
    reference = order_blind_reference(same, same.flip(1))
    assert reference["loss"].item() == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(reference["by_position"], torch.ones(4))
    assert reference["ceiling"].item() == pytest.approx(1.0)
    distinct = torch.stack([torch.randperm(10)[:5] + RESERVED for _ in range(3)])
    reference = order_blind_reference(distinct, distinct.flip(1))
    assert reference["loss"].item() == pytest.approx(sum(math.log(5 - t) for t in range(5)) / 5, rel=1e-6)
    torch.testing.assert_close(reference["by_position"], torch.full((5,), 0.2))
    assert reference["ceiling"].item() == pytest.approx(0.2)


# ## The claim in miniature
def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    return {"with": metrics["token_accuracy_with"]["mean"], "without": metrics["token_accuracy_without"]["mean"],
            "order_blind": metrics["order_blind_accuracy"]["mean"]}


#
# Quick mode: length 6, 150 steps, seeds `seed` and `seed + 1`; mean greedy-decoding token accuracy (chance
# 0.1). Measured with scripts/calibrate.py, claim_metrics(0), (1), (2) at 1 thread, 2 threads and under
# portable kernels: with positional encoding 0.46-0.60 (seed 0, the one asserted: 0.59-0.60), without
# 0.25-0.26, the order-blind reference 0.25. Thresholds: with > 0.4, 0.06 below the lowest value measured;
# without < 0.35, 0.09 above the highest and above the order-blind ceiling for length 6 (0.34), which no model
# blind to order beats beyond sampling noise.
@pytest.mark.claim
def test_reversal_needs_positional_encoding():
    metrics = claim_metrics(0)
    assert metrics["with"] > 0.4
    assert metrics["without"] < 0.35


# ## Controls on the recorded run
#
# The arm without positional encoding is not under-trained: on every seed its test cross-entropy is within a
# few hundredths of a nat of the floor that no order-blind model can beat (recorded: 0.047-0.056 above it), so
# no longer training or other learning rate could lift it far. Its greedy accuracy is what such a model gives:
# within about one point of the frequency-ordered decoder of the reference, below the ceiling $\max_s c_s / n$ on
# every seed, and almost every symbol it writes occurs in the source.
def test_recorded_arm_without_positions_is_at_the_order_blind_optimum():
    metrics = recorded_metrics(paper.__file__)
    assert metrics["loss_without_minus_floor"]["max"] < 0.1
    assert abs(metrics["token_accuracy_without"]["mean"] - metrics["order_blind_accuracy"]["mean"]) < 0.03
    assert metrics["token_accuracy_without"]["max"] < metrics["order_blind_ceiling"]["min"]
    assert metrics["in_source_without"]["min"] > 0.99


# No test sequence was a training sequence, and the model with positions looks where its answer stands: the
# cross-attention weight on the mirrored source position is far above an even spread (1 / length), while for
# the model without positions the mean weight on that position is 1 / length, which symmetry requires of any
# model blind to source order (it does not show how that model spreads its attention within a sequence).
def test_recorded_controls():
    metrics = recorded_metrics(paper.__file__)
    assert metrics["test_sources_seen_in_training"] == 0
    uniform = 1 / metrics["length"]
    assert metrics["mirror_attention_with"]["min"] > 2 * uniform
    assert abs(metrics["mirror_attention_without"]["mean"] - uniform) < 0.02


# The page quotes the recorded numbers: the accuracies of both arms with their ranges over seeds, and the
# measurements that explain the arm without positions.
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for name in ("token_accuracy_with", "token_accuracy_without", "mirror_attention_with"):
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:.1%}"), (name, statistic)
    for name in ("order_blind_accuracy", "order_blind_ceiling", "rearranged_without", "mirror_attention_without"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:.1%}"), name
    assert quoted_on_page(paper.__file__, f"{metrics['in_source_without']['mean']:.2%}")
    for name in ("test_loss_without", "order_blind_loss_floor"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:.3f}"), name
    for name in ("accuracy_by_position_without", "order_blind_accuracy_by_position"):
        for value in (metrics[name][0], metrics[name][-1]):
            assert quoted_on_page(paper.__file__, f"{value:.1%}"), name
    assert quoted_on_page(paper.__file__, f"{metrics['train_steps']} steps")


# ## Bad input

def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match=r"heads \(3\) must divide d_model \(16\)"):
        MultiHeadAttention(16, 3)


def test_mismatched_embedding_size_is_named():
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match=r"key must have shape \[batch=2, k_len, 16\], got \(2, 5, 8\)"):
        mha(torch.randn(2, 5, 16), torch.randn(2, 5, 8), torch.randn(2, 5, 16))


def test_key_and_value_lengths_must_agree():
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match=r"value must have shape \[batch=2, k_len=5, 16\], got \(2, 6, 16\)"):
        mha(torch.randn(2, 5, 16), torch.randn(2, 5, 16), torch.randn(2, 6, 16))


def test_wrong_mask_shape_is_named():
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match=r"mask must be \[batch or 1, q_len or 1, k_len\].*got \(2, 5, 4\)"):
        mha(x, x, x, torch.ones(2, 5, 4, dtype=torch.bool))


def test_mask_must_be_boolean():
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(2, 5, 16)
    with pytest.raises(TypeError, match="mask must be boolean"):
        mha(x, x, x, torch.ones(2, 5, 5))


def test_positional_encoding_needs_even_size():
    with pytest.raises(ValueError, match="positive even number, got 7"):
        sinusoidal_positional_encoding(10, 7)


def test_tokens_must_be_integer_batches():
    with pytest.raises(TypeError, match=r"source must have dtype torch.int64, got torch.float32"):
        small_model().encode(torch.rand(2, 5))
