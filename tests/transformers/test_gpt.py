"""Tests for papers/transformers/gpt.py: GELU against PyTorch's, the model against PyTorch's encoder layers and
labml-nn's GPT with copied weights, causality, the initialisation, bad input, the claim in miniature and the
recorded run."""
from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from comparisons import torch_encoder_layer
from papers.kit.char_transformer import LMSettings, corpus
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import gpt as paper
from papers.transformers.gpt import (GPT, GELUFeedForward, WindowLSTM, build_arm, gelu, generate,
                                     gpt_schedule, matching_lstm_width, parameter_count, train_arm)

TINY = LMSettings(d_model=16, heads=4, layers=2, d_ff=64, seq_len=12, batch_size=8, steps=4, eval_every=2,
                  eval_windows=8, max_chars=20_000)
VOCAB = 30


def _model(pre_norm: bool = True, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(VOCAB, TINY.but(pre_norm=pre_norm)).double()
    with torch.no_grad():  # random norms and biases, so that a swapped or missing one would show
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.uniform_(-0.3, 0.3)
            elif "norm" in name:
                parameter.uniform_(0.5, 1.5)
    return model


# ## GELU against PyTorch's
#
# Both forms, over a range that covers the tails, in float64; and the two forms differ by less than $10^{-3}$,
# as the page says.
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_pytorch(approximate):
    x = torch.linspace(-8, 8, 2001, dtype=torch.float64)
    torch.testing.assert_close(gelu(x, approximate), F.gelu(x, approximate=approximate), rtol=1e-12, atol=1e-12)


def test_gelu_tanh_approximation_is_close_to_exact():
    x = torch.linspace(-8, 8, 20001, dtype=torch.float64)
    assert (gelu(x, "tanh") - gelu(x, "none")).abs().max() < 1e-3


def test_gelu_feed_forward_is_relu_feed_forward_with_gelu():
    torch.manual_seed(0)
    ff = GELUFeedForward(8, 32).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    expected = F.linear(F.gelu(F.linear(x, ff.layer1.weight, ff.layer1.bias), approximate="tanh"),
                        ff.layer2.weight, ff.layer2.bias)
    torch.testing.assert_close(ff(x), expected, rtol=1e-12, atol=1e-12)


# ## The model against references we did not write
#
# PyTorch's `TransformerEncoderLayer` (tanh GELU, `norm_first` for GPT-2's pre-norm and not for GPT-1's
# post-norm) with the block's weights copied in, a causal mask, then our embedding and tied output read by
# hand: the whole model's logits and their gradients agree in float64.
@pytest.mark.parametrize("pre_norm", [True, False])
def test_model_equals_pytorch_encoder_layers(pre_norm):
    model = _model(pre_norm)
    tanh_gelu = functools.partial(F.gelu, approximate="tanh")
    layers = [torch_encoder_layer(block, pre_norm, activation=tanh_gelu) for block in model.blocks]
    tokens = torch.randint(0, VOCAB, (3, TINY.seq_len), generator=torch.Generator().manual_seed(1))
    mask = nn.Transformer.generate_square_subsequent_mask(TINY.seq_len, dtype=torch.float64)
    h = model.embedding.weight[tokens] + model.positions[:TINY.seq_len]
    for layer in layers:
        h = layer(h, src_mask=mask, is_causal=True)
    if pre_norm:
        h = F.layer_norm(h, (TINY.d_model,), model.final_norm.weight, model.final_norm.bias)
    theirs = h @ model.embedding.weight.T
    ours = model(tokens)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    grad_ours = torch.autograd.grad(ours.square().sum(), model.embedding.weight, retain_graph=True)[0]
    grad_theirs = torch.autograd.grad(theirs.square().sum(), model.embedding.weight)[0]
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-10, atol=1e-10)


# labml-nn's GPT: its pre-norm `TransformerLayer`s, an `Encoder` with a final norm, learned positions and a
# separate output `Generator`, `[seq, batch]` first, with our weights copied in. Its embedding multiplies by
# $\sqrt{d}$ and its output layer is not tied, so it gets $W_e / \sqrt{d}$ as its embedding and $W_e$ (bias
# zero) as its output layer. `labml_nn.transformers.gpt` itself cannot be imported here (its training
# configuration needs torchvision), so the test runs its three-line `GPT.forward` on its modules: the
# subsequent mask, the embedding, the encoder, the generator.
def _labml_modules(model: GPT) -> tuple[nn.Module, nn.Module, nn.Module]:
    from labml_nn.transformers.feed_forward import FeedForward as LabmlFeedForward
    from labml_nn.transformers.mha import MultiHeadAttention as LabmlAttention
    from labml_nn.transformers.models import (Encoder, EmbeddingsWithLearnedPositionalEncoding, Generator,
                                              TransformerLayer)
    d = TINY.d_model
    layer = TransformerLayer(d_model=d, self_attn=LabmlAttention(TINY.heads, d, dropout_prob=0.0),
                             feed_forward=LabmlFeedForward(d, TINY.d_ff, 0.0, nn.GELU(approximate="tanh")),
                             dropout_prob=0.0)
    embed = EmbeddingsWithLearnedPositionalEncoding(d, VOCAB, TINY.seq_len).double()
    encoder, generator = Encoder(layer, TINY.layers).double(), Generator(VOCAB, d).double()
    with torch.no_grad():
        embed.linear.weight.copy_(model.embedding.weight / math.sqrt(d))
        embed.positional_encodings.copy_(model.positions[:, None])
        generator.projection.weight.copy_(model.embedding.weight)
        generator.projection.bias.zero_()
        encoder.norm.load_state_dict(model.final_norm.state_dict())
        for ours, their in zip(model.blocks, encoder.layers):
            for name, target in (("w_q", their.self_attn.query.linear), ("w_k", their.self_attn.key.linear),
                                 ("w_v", their.self_attn.value.linear), ("w_o", their.self_attn.output)):
                target.load_state_dict(getattr(ours.attention, name).state_dict())
            their.feed_forward.layer1.load_state_dict(ours.feed_forward.layer1.state_dict())
            their.feed_forward.layer2.load_state_dict(ours.feed_forward.layer2.state_dict())
            their.norm_self_attn.load_state_dict(ours.attention_norm.state_dict())
            their.norm_ff.load_state_dict(ours.feed_forward_norm.state_dict())
    return embed, encoder, generator


def test_model_equals_labml_gpt():
    from labml_nn.transformers.utils import subsequent_mask as labml_subsequent_mask
    model = _model()
    embed, encoder, generator = _labml_modules(model)
    tokens = torch.randint(0, VOCAB, (3, TINY.seq_len), generator=torch.Generator().manual_seed(2))
    theirs = generator(encoder(embed(tokens.T), labml_subsequent_mask(TINY.seq_len)))  # [seq, batch, vocab]
    torch.testing.assert_close(model(tokens), theirs.transpose(0, 1), rtol=1e-10, atol=1e-10)


# ## Causality
#
# Changing the tokens from position `t` on never changes any logit before `t` (float64, pre- and post-norm),
# while the logits at `t` do change (so the test could fail).
@pytest.mark.parametrize("pre_norm", [True, False])
def test_future_tokens_never_change_earlier_logits(pre_norm):
    model = _model(pre_norm)
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, VOCAB, (4, TINY.seq_len), generator=generator)
    logits = model(tokens)
    for t in range(1, TINY.seq_len):
        changed = tokens.clone()
        changed[:, t:] = (tokens[:, t:] + torch.randint(1, VOCAB, (4, TINY.seq_len - t), generator=generator)) % VOCAB
        changed_logits = model(changed)
        torch.testing.assert_close(changed_logits[:, :t], logits[:, :t], rtol=0, atol=1e-12)
        assert (changed_logits[:, t] - logits[:, t]).abs().max() > 1e-6


# ## Initialisation, tying and the parameter count
#
# Linear weights have standard deviation 0.02, except the branch outputs, $0.02 / \sqrt{2L}$; biases are zero.
# Measured on a wide model so that the sample standard deviation is within 5% of its expectation.
def test_initialisation_follows_gpt2():
    settings = LMSettings(d_model=256, heads=4, layers=4, d_ff=1024)
    torch.manual_seed(0)
    model = GPT(VOCAB, settings)
    block = model.blocks[0]
    assert block.attention.w_q.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.feed_forward.layer1.weight.std().item() == pytest.approx(0.02, rel=0.05)
    for branch_output in (block.attention.w_o, block.feed_forward.layer2):
        assert branch_output.weight.std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.05)
    assert all(m.bias.abs().max() == 0 for m in model.modules() if isinstance(m, nn.Linear))


def test_output_layer_is_the_embedding_and_parameters_match_the_lstm():
    model = GPT(VOCAB, TINY)
    assert not any(isinstance(m, nn.Linear) and m.out_features == VOCAB for m in model.modules())
    d, ff = TINY.d_model, TINY.d_ff
    per_block = 4 * (d * d + d) + 2 * d * ff + ff + d + 4 * d
    assert parameter_count(model) == VOCAB * d + TINY.seq_len * d + TINY.layers * per_block + 2 * d
    hidden = matching_lstm_width(VOCAB, parameter_count(model))
    assert parameter_count(WindowLSTM(VOCAB, hidden)) >= parameter_count(model) > \
        parameter_count(WindowLSTM(VOCAB, hidden - 1))


def test_schedule_warms_up_then_decays_to_zero():
    lr_at = gpt_schedule(1.0, 10, 110)
    assert lr_at(0) == pytest.approx(0.1) and lr_at(9) == pytest.approx(1.0)
    assert lr_at(60) == pytest.approx(0.5) and lr_at(110) == pytest.approx(0.0, abs=1e-12)


def test_generate_returns_the_asked_length_from_the_vocabulary():
    text = corpus(TINY.max_chars)
    model = GPT(text.vocab_size, TINY)
    sample = generate(model, text, "ROMEO:", 20, 0.8, torch.Generator().manual_seed(0))
    assert len(sample) == 20 and set(sample) <= set(text.vocab)


# ## Bad input
def test_bad_input_is_refused():
    model = GPT(VOCAB, TINY)
    text = corpus(TINY.max_chars)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        gelu(torch.zeros(3), "erf")
    with pytest.raises(ValueError, match="tokens"):
        model(torch.full((2, 5), VOCAB))
    with pytest.raises(TypeError, match="tokens"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="exceeds the model's max_len"):
        model(torch.zeros(1, TINY.seq_len + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="x"):
        model.blocks[0].feed_forward(torch.zeros(2, 3, TINY.d_model + 1))
    with pytest.raises(ValueError, match="prime must be a non-empty text"):
        generate(model, text, "", 5, 1.0, torch.Generator())
    with pytest.raises(ValueError, match="length"):
        generate(model, text, "A", 0, 1.0, torch.Generator())
    with pytest.raises(ValueError, match="warmup"):
        gpt_schedule(0.01, 100, 100)
    with pytest.raises(ValueError, match="peak"):
        gpt_schedule(0.0, 10, 100)


def test_model_builds_on_meta_tensors():
    model = GPT(VOCAB, TINY).to("meta")
    assert model(torch.zeros(2, 5, dtype=torch.long, device="meta")).shape == (2, 5, VOCAB)


# ## The claim in miniature
#
# Quick settings (32 wide, 2 layers, 28,896 parameters against an LSTM of 29,715), 300 steps, each arm at
# 0.01, the bottom of the full run's sweep (0.01, 0.03, 0.1), measured on the same held-out windows. At this
# scale the paper's claim does not hold, and the test checks what the page reports: the LSTM is lower.
def claim_metrics(seed: int) -> dict[str, float]:
    gpt = train_arm("gpt", paper.QUICK, seed, 0.01)["valid_bpc"]
    lstm = train_arm("lstm", paper.QUICK, seed, 0.01)["valid_bpc"]
    return {"gpt_bpc": gpt, "lstm_bpc": lstm, "gap": lstm - gpt}


# Calibrated with scripts/calibrate.py, seeds 0 1 2: at 1 thread the gap (LSTM minus GPT) was -0.44, -0.54,
# -0.44 bits (seed 0 re-measured after the sweep change: -0.437); at 2 threads, seeds 0 and 1, -0.44 and -0.54;
# under portable kernels, seeds 0 and 1, -0.44 and -0.54. Unmeasured: seed 2 at 2 threads and under portable
# kernels (the machine, load average about 9 on 2 cores, did not allow them before the deadline).
# Threshold -0.2: the LSTM lower by at least a fifth of a bit, under half the smallest measured gap.
@pytest.mark.claim
def test_lstm_below_gpt_in_miniature():
    metrics = claim_metrics(0)
    assert metrics["gap"] < -0.2, metrics


def test_build_arm_starts_both_arms_from_the_seed():
    first = build_arm("gpt", TINY, 0)
    second = build_arm("gpt", TINY, 0)
    assert torch.equal(first.embedding.weight, second.embedding.weight)


# ## The recorded run
#
# The LSTM is lower on every seed, with at least as many parameters, and GPT had more CPU time.
def test_recorded_lstm_below_gpt_on_every_seed():
    metrics = recorded_metrics(paper.__file__)
    assert metrics["bpc_gap_lstm_minus_gpt"]["max"] < -0.1
    assert metrics["lstm_parameters"] >= metrics["gpt_parameters"]
    assert metrics["gpt_cpu_s"]["mean"] > metrics["lstm_cpu_s"]["mean"]


def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for name in ("gpt_valid_bpc", "lstm_valid_bpc"):
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:.2f}"), (name, statistic)
    gap = metrics["bpc_gap_lstm_minus_gpt"]
    for value in (gap["mean"], gap["min"], gap["max"]):  # the page says "lower by", a positive number
        assert quoted_on_page(paper.__file__, f"{-value:.2f}"), value
    for name in ("gpt_cpu_s", "lstm_cpu_s"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:.1f} s"), name
    ratio = metrics["gpt_cpu_s"]["mean"] / metrics["lstm_cpu_s"]["mean"]
    assert quoted_on_page(paper.__file__, f"GPT took {ratio:.1f} times the LSTM's CPU time")
    for name in ("gpt_parameters", "lstm_parameters"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]:,}"), name
    assert quoted_on_page(paper.__file__, f"{metrics['lstm_hidden']} units")
    chosen = f"GPT chose {metrics['gpt_lr']:g} and the LSTM chose {metrics['lstm_lr']:g}"
    assert quoted_on_page(paper.__file__, chosen)
    for arm in ("gpt", "lstm"):  # the first 40 characters of each sample, as the page shows them
        assert quoted_on_page(paper.__file__, metrics["samples"][arm][:40]), arm
