r"""Tests for papers/transformers/compressive.py: the FIFO and compression bookkeeping against a hand simulation,
the pooling functions against PyTorch's pools, the convolution against labml-nn's `Conv1dCompression` with
copied weights, the reconstruction loss against a direct computation and against labml-nn's
`AttentionReconstructionLoss`, which parameters each loss trains, causality across segments, the ablation
and the swap of compression functions, bad input, the claim in miniature and the recorded run."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from labml_nn.transformers.compressive import AttentionReconstructionLoss, Conv1dCompression
from labml_nn.transformers.mha import MultiHeadAttention as LabmlAttention

from papers.kit.char_transformer import LMSettings, corpus, validation_windows
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.kit.language_model import next_char_loss
from papers.transformers import compressive as paper
from papers.transformers.compressive import (Compression, CompressiveTransformer, LayerMemory, advance,
                                             compressed_positions, reconstruction_loss)

TINY = LMSettings(d_model=16, heads=2, layers=2, d_ff=32, batch_size=4, steps=1, eval_windows=4,
                  max_chars=200_000)


def _model(compressed_slots: int = 4, kind: str = "conv", seed: int = 0) -> CompressiveTransformer:
    return CompressiveTransformer(TINY, seed, segment_len=4, memory_slots=4, compressed_slots=compressed_slots,
                                  rate=2, compression=kind)


def _tokens(seed: int, length: int = 16) -> torch.Tensor:
    return torch.randint(0, 30, (3, length), generator=torch.Generator().manual_seed(seed))


# ## The bookkeeping, by hand
#
# Segments of $L = 4$ whose states are their own positions (one feature), $n_m = 6$, $n_{cm} = 2$, $c = 2$,
# mean pooling. Worked out on paper:
# after segment 0 (positions 0-3) the memory is 0-3 and nothing is evicted; after segment 1 (4-7), 0 and 1
# are evicted and pooled to 0.5 at position 0; after segment 2 (8-11), 2-5 are evicted into 2.5 and 4.5
# (at 2 and 4), which push 0.5 out of the two compressed slots; after segment 3 (12-15), 6-9 become 6.5
# and 8.5 (at 6 and 8).
EXPECTED = [  # (memory, compressed, compressed positions, evicted) after each segment
    ([0, 1, 2, 3], [], [], []),
    ([2, 3, 4, 5, 6, 7], [0.5], [0], [0, 1]),
    ([6, 7, 8, 9, 10, 11], [2.5, 4.5], [2, 4], [2, 3, 4, 5]),
    ([10, 11, 12, 13, 14, 15], [6.5, 8.5], [6, 8], [6, 7, 8, 9]),
]


def test_fifo_and_compression_against_a_hand_simulation():
    memory = LayerMemory.empty(1, 1, torch.device("cpu"), torch.float64)
    compress = Compression("mean", 1, 2)
    for segment, (kept, compressed, positions, evicted) in enumerate(EXPECTED):
        segment_positions = torch.arange(4 * segment, 4 * segment + 4)
        states = segment_positions.double()[None, :, None]  # [1, 4, 1]: each state is its position
        memory, old = advance(memory, states, segment_positions, 6, compress, 2)
        assert memory.memory[0, :, 0].tolist() == kept
        assert memory.memory_positions.tolist() == kept  # the positions travel with the states
        assert memory.compressed[0, :, 0].tolist() == compressed
        assert memory.compressed_positions.tolist() == positions
        assert old.states[0, :, 0].tolist() == evicted
        context, context_positions = memory.context()
        assert context[0, :, 0].tolist() == compressed + kept
        assert context_positions.tolist() == positions + kept


# Without compression ($n_{cm} = 0$) the same stream gives Transformer-XL's memory: the evicted states are
# dropped and nothing is compressed.
def test_memory_only_drops_what_it_evicts():
    memory = LayerMemory.empty(1, 1, torch.device("cpu"), torch.float64)
    for segment, (kept, _, _, evicted) in enumerate(EXPECTED):
        segment_positions = torch.arange(4 * segment, 4 * segment + 4)
        memory, old = advance(memory, segment_positions.double()[None, :, None], segment_positions, 6, None, 0)
        assert memory.memory[0, :, 0].tolist() == kept
        assert old.states[0, :, 0].tolist() == evicted and old.summary is None
        assert memory.compressed.shape[1] == 0


def test_compressed_slot_sits_at_the_centre_rounded_to_the_past():
    assert compressed_positions(torch.arange(9), 3).tolist() == [1, 4, 7]
    assert compressed_positions(torch.arange(8), 2).tolist() == [0, 2, 4, 6]


# In the model, layer 0's memory is its input: after three segments of 4 with $n_m = 4$ and $n_{cm} = 4$,
# $c = 2$ (mean), it holds the embeddings of the last segment, and its four compressed slots the pairwise
# means of the embeddings of segments 0 and 1, evicted one segment later each.
def test_model_memories_hold_the_layer_inputs():
    model = _model(kind="mean").double()
    tokens = _tokens(0, 12)
    memories = model.empty_memories(tokens)
    for start in (0, 4, 8):
        _, memories, _ = model.forward_segment(tokens[:, start:start + 4], start, memories)
    embedded = model.lm.embedding(tokens)  # [3, 12, 16]
    torch.testing.assert_close(memories[0].memory, embedded[:, 8:])
    torch.testing.assert_close(memories[0].compressed, embedded[:, :8].reshape(3, 4, 2, 16).mean(dim=2))
    assert memories[0].compressed_positions.tolist() == [0, 2, 4, 6]
    assert memories[1].memory.shape == (3, 4, 16)


# ## The compression functions against PyTorch's and labml-nn's
@pytest.mark.parametrize("kind, pool", [("mean", F.avg_pool1d), ("max", F.max_pool1d)])
@pytest.mark.parametrize("rate", [2, 3])
def test_pooling_equals_torch_pooling(kind, pool, rate):
    states = torch.randn(2, 4 * rate, 5, dtype=torch.float64)
    expected = pool(states.transpose(1, 2), rate).transpose(1, 2)  # pools run over the last axis
    torch.testing.assert_close(Compression(kind, 5, rate)(states), expected, rtol=0, atol=0)


# labml-nn's `Conv1dCompression` takes `[seq, batch, d]`; ours `[batch, seq, d]`.
def test_conv_equals_labml_conv1d_compression():
    ours = Compression("conv", 6, 3).double()
    reference = Conv1dCompression(3, 6).double()
    reference.conv.load_state_dict(ours.conv.state_dict())
    states = torch.randn(2, 9, 6, dtype=torch.float64)
    expected = reference(states.transpose(0, 1)).transpose(0, 1)
    torch.testing.assert_close(ours(states), expected)


# ## The reconstruction loss
#
# Against a direct computation with the layer's own modules (not the frozen functional calls): the mean
# squared difference of the attention over the evicted states and over their compression, in float64.
def test_reconstruction_loss_equals_a_direct_computation():
    torch.manual_seed(0)
    model = _model().double()
    block, compress = model.lm.blocks[1], model.compressions[1]
    h, old = torch.randn(2, 4, 16, dtype=torch.float64), torch.randn(2, 4, 16, dtype=torch.float64)
    positions, old_positions = torch.arange(8, 12), torch.arange(0, 4)
    memory = LayerMemory(old, old_positions, old[:, :0], old_positions[:0])
    _, evicted = advance(memory, h, positions, 4, compress, 4)
    loss, power = reconstruction_loss(block, h, positions, evicted)

    def attend(keys, key_positions):
        normed = block.attention_norm(keys)
        return block.attention(block.attention_norm(h), normed, normed, query_positions=positions,
                               key_positions=key_positions)

    target = attend(old, old_positions)
    summary = compress(old)
    expected = F.mse_loss(attend(summary, torch.tensor([0, 2])), target)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(power, target.pow(2).mean())


# Against labml-nn's `AttentionReconstructionLoss` with copied weights. labml-nn drops the position terms and
# the output projection ($W^O$) from the attention it reconstructs, and takes `[seq, batch, d]`; so Shaw's
# key and value tables are set to zero (no position terms) and $W^O$ to the identity with no bias, and then
# the two losses, and their gradients in the convolution, agree.
def test_reconstruction_loss_equals_labml():
    torch.manual_seed(0)
    model = _model().double()
    block, compress = model.lm.blocks[0], model.compressions[0]
    attention = block.attention
    with torch.no_grad():
        attention.key_table.zero_()
        attention.value_table.zero_()
        attention.w_o.weight.copy_(torch.eye(16))
        attention.w_o.bias.zero_()
    reference = LabmlAttention(2, 16, dropout_prob=0.0).double()
    for theirs, ours in ((reference.query, attention.w_q), (reference.key, attention.w_k),
                         (reference.value, attention.w_v)):
        theirs.linear.load_state_dict(ours.state_dict())
    labml_compress = Conv1dCompression(2, 16).double()
    labml_compress.conv.load_state_dict(compress.conv.state_dict())
    layer = SimpleNamespace(compress=labml_compress, norm_self_attn=block.attention_norm, self_attn=reference)
    h, old = torch.randn(2, 4, 16, dtype=torch.float64), torch.randn(2, 4, 16, dtype=torch.float64)
    positions, old_positions = torch.arange(8, 12), torch.arange(0, 4)
    _, evicted = advance(LayerMemory(old, old_positions, old[:, :0], old_positions[:0]), h, positions, 4,
                         compress, 4)
    loss, _ = reconstruction_loss(block, h, positions, evicted)
    expected = AttentionReconstructionLoss(nn.ModuleList()).calc_loss(layer, h.transpose(0, 1), old.transpose(0, 1))
    torch.testing.assert_close(loss, expected)
    ours_grad = torch.autograd.grad(loss, compress.conv.weight)[0]
    theirs_grad = torch.autograd.grad(expected, labml_compress.conv.weight)[0]
    torch.testing.assert_close(ours_grad, theirs_grad)


# The reconstruction loss trains $f_c$ only, the language-model loss the main network only (the paper's
# stop-gradients).
def test_each_loss_trains_only_its_own_parameters():
    model = _model()
    tokens = _tokens(1)
    logits, reconstruction, _ = model(tokens)
    reconstruction.backward(retain_graph=True)
    assert all(p.grad is None or not p.grad.any() for p in model.lm.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.compressions.parameters())
    model.zero_grad(set_to_none=True)
    next_char_loss(logits[:, :-1], tokens[:, 1:]).backward()
    assert all(p.grad is None for p in model.compressions.parameters())
    assert model.lm.embedding.weight.grad.abs().sum() > 0


# ## Causality
#
# Changing the token at position 9 (segment 2 of 4) changes no logit before it, through the current segment
# or through the memories, and does change later ones.
@pytest.mark.parametrize("compressed_slots", [0, 4])
def test_causal_across_segments(compressed_slots):
    model = _model(compressed_slots)
    tokens = _tokens(2)
    changed = tokens.clone()
    changed[:, 9] = (tokens[:, 9] + 1) % 30
    with torch.no_grad():
        before, after = model(tokens)[0], model(changed)[0]
    torch.testing.assert_close(before[:, :9], after[:, :9], rtol=0, atol=0)
    assert (before[:, 9:] - after[:, 9:]).abs().amax() > 1e-4


# ## The ablation and the swap
#
# With `attend_compressed=False` the compressive model is the memory-only model with $n_m$ slots: the same
# network (built from the same seed) gives the same logits. And `same_network_errors` measures what a model
# built with each compression function would: its "mean pool" entry is the relative error of the same network
# built with mean pooling, and it leaves the model's own convolutions in place.
def test_without_compressed_memory_is_the_memory_only_model():
    tokens = _tokens(3)
    with torch.no_grad():
        ablated = _model()(tokens, attend_compressed=False)[0]
        memory_only = _model(compressed_slots=0)(tokens)[0]
        full = _model()(tokens)[0]
    torch.testing.assert_close(ablated, memory_only)
    torch.testing.assert_close(ablated[:, :8], full[:, :8])  # nothing compressed yet in the first two segments
    assert (ablated[:, 8:] - full[:, 8:]).abs().amax() > 1e-4


def test_same_network_errors_swap_the_compression():
    model, pooled = _model(), _model(kind="mean")
    convolutions = model.compressions
    errors = paper.same_network_errors(model, TINY, 4, seed=5)
    assert model.compressions is convolutions and model.training
    inputs, _ = validation_windows(corpus(TINY.max_chars).valid, 16, TINY.eval_windows)
    pooled.eval()
    with torch.no_grad():
        assert errors["mean pool"] == pytest.approx(pooled(inputs)[2], rel=1e-6)
        model.eval()
        assert errors["trained conv"] == pytest.approx(model(inputs)[2], rel=1e-6)
    assert errors["untrained conv"] != pytest.approx(errors["trained conv"], rel=1e-3)


# ## Bad input
def test_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        Compression("median", 4, 2)
    with pytest.raises(ValueError, match="rate must be a positive integer"):
        Compression("mean", 4, 0)
    with pytest.raises(ValueError, match="multiple of the rate 2"):
        Compression("mean", 4, 2)(torch.randn(1, 3, 4))
    with pytest.raises(ValueError, match="states"):
        Compression("mean", 4, 2)(torch.randn(1, 4, 5))
    with pytest.raises(ValueError, match="compressed_slots must be a non-negative integer"):
        CompressiveTransformer(TINY, 0, 4, 4, compressed_slots=-1)
    with pytest.raises(ValueError, match="must be multiples of the rate 3"):
        CompressiveTransformer(TINY, 0, 4, 6, compressed_slots=2, rate=3)
    with pytest.raises(ValueError, match="memory_slots must be a positive integer"):
        CompressiveTransformer(TINY, 0, 4, 0)
    model = _model()
    with pytest.raises(ValueError, match="multiple of segment_len 4"):
        model(_tokens(0, 10))
    with pytest.raises(TypeError, match="tokens"):
        model(_tokens(0).float())


# ## The claim in miniature: on one network, the trained convolution reconstructs better than mean pooling
#
# A tiny compressive model (32 wide) with the convolution, trained for 60 steps at rate 0.01; then, on that
# network and held-out windows, the relative reconstruction error of its trained convolutions against mean
# pooling and freshly initialised convolutions (`same_network_errors`). Calibrated with
# `scripts/calibrate.py`: trained conv / mean pool 0.217, 0.418, 0.639 on seeds 0-2 at 1 thread; on seeds 0
# and 1, 0.218 and 0.486 at 2 threads and 0.222 and 0.428 under portable kernels; trained / untrained conv
# 0.064 to 0.204. Thresholds 0.8 and 0.3 on seeds 0 and 1 (at least 1.6 times their largest ratio; seed 2
# sits closer, at 0.64, and is not asserted).
def claim_metrics(seed: int) -> dict[str, float]:
    settings = TINY.but(d_model=32, heads=2, d_ff=64, batch_size=8, steps=60, eval_every=60, eval_windows=8)
    model = CompressiveTransformer(settings, seed, 30, 15, 15, 3, "conv")
    paper.train_compressive(model, settings, 3, 1e-2, seed)
    errors = paper.same_network_errors(model, settings, 4, seed)
    return {"trained": errors["trained conv"], "mean": errors["mean pool"], "untrained": errors["untrained conv"],
            "to_mean": errors["trained conv"] / errors["mean pool"],
            "to_untrained": errors["trained conv"] / errors["untrained conv"]}


@pytest.mark.claim
def test_trained_convolution_beats_pooling_on_the_same_network():
    for seed in (0, 1):
        metrics = claim_metrics(seed)
        assert metrics["to_mean"] < 0.8 and metrics["to_untrained"] < 0.3, metrics


# ## The recorded run
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for key in ("none_late_loss", "mean_late_loss", "conv_late_loss", "conv_gain", "mean_gain",
                "conv_late_loss_without", "mean_late_loss_without", "conv_contribution", "mean_contribution",
                "conv_segment1_gap", "conv_early_gap", "swap_trained_conv", "swap_mean_pool",
                "swap_untrained_conv", "conv_relative_error_start", "conv_relative_error_min",
                "conv_relative_error_last", "mean_relative_error_last"):
        assert quoted_on_page(paper.__file__, f"{metrics[key]['mean']:.3f}"), key
    for key in ("conv_gain", "mean_gain", "none_late_loss", "conv_contribution", "mean_contribution",
                "conv_segment1_gap", "swap_trained_conv", "swap_mean_pool", "swap_untrained_conv"):
        assert quoted_on_page(paper.__file__, f"({metrics[key]['min']:.3f} to {metrics[key]['max']:.3f})"), key
    for arm in ("none", "mean", "conv"):
        for lr, loss in metrics[f"{arm}_sweep"].items():
            assert quoted_on_page(paper.__file__, f"{loss:.3f}"), (arm, lr)


# The page's claims, read from the recorded run: the compressed slots contribute nothing measurable (within
# 0.01 nats either way on every seed, far below the convolution's gain), the gap is there at segment 1 where
# no memory exists, and on one trained network the trained convolution reconstructs better than mean pooling
# and an untrained convolution on every seed; the training curve falls from a random start and then rises.
def test_recorded_run_shows_the_claims():
    metrics = recorded_metrics(paper.__file__)
    for arm in ("conv", "mean"):
        assert max(abs(metrics[f"{arm}_contribution"]["min"]), abs(metrics[f"{arm}_contribution"]["max"])) < 0.01
    assert metrics["conv_gain"]["min"] > 0 and metrics["conv_segment1_gap"]["min"] > 0
    assert metrics["conv_contribution"]["mean"] < metrics["conv_gain"]["mean"] / 4
    trained, pooled, untrained = (metrics[f"swap_{name}"]["per_seed"] for name in
                                  ("trained_conv", "mean_pool", "untrained_conv"))
    assert all(trained[seed] < pooled[seed] < untrained[seed] for seed in trained)
    start, low, last = (metrics[f"conv_relative_error_{name}"] for name in ("start", "min", "last"))
    assert low["max"] < last["min"] < start["min"]
