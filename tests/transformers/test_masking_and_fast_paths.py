"""A query whose mask hides every key, and the fast paths: papers/transformers/attention.py's attention, layers and
Transformer, papers/seq2seq/bahdanau_attention.py's additive attention, and the LSTM layer's backward pass."""
import pytest
import torch
import torch.nn.functional as F

from papers.kit.experiment import seed_everything
from papers.rnn.lstm import LSTMCell, run_layer
from papers.seq2seq.bahdanau_attention import AdditiveAttention
from papers.transformers.attention import (EncoderLayer, MultiHeadAttention, Transformer,
                                           scaled_dot_product_attention, use_fused_attention)

D_MODEL, HEADS, LEN, VOCAB, PAD = 16, 4, 6, 12, 0


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)


# A mask `[2, 3, 5, 6]` with every kind of row: all keys visible, some hidden, none visible (query 2 of
# every head of the first sequence, and every query of the second sequence's last head).
def mask_with_blind_queries() -> torch.Tensor:
    mask = torch.rand(2, 3, 5, 6) > 0.4
    mask[..., 0] = True
    mask[0, :, 2] = False
    mask[1, 2] = False
    return mask


# ## Scaled dot-product attention: zeros where PyTorch gives zeros, gradients equal to PyTorch's

def test_blind_queries_get_pytorchs_zeros_and_gradients():
    query, key, value = (torch.randn(2, 3, n, 8, dtype=torch.float64, requires_grad=True) for n in (5, 6, 6))
    mask = mask_with_blind_queries()
    ours, weights = scaled_dot_product_attention(query, key, value, mask)
    theirs = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    blind = ~mask.any(dim=-1)  # [2, 3, 5]
    assert (ours[blind] == 0).all() and (weights[blind] == 0).all()
    torch.testing.assert_close(weights.sum(dim=-1)[~blind], torch.ones((~blind).sum().item(), dtype=torch.float64))
    grad_output = torch.randn_like(ours)
    ours_grads = torch.autograd.grad(ours, (query, key, value), grad_output)
    theirs_grads = torch.autograd.grad(theirs, (query, key, value), grad_output)
    for mine, their in zip(ours_grads, theirs_grads):
        assert torch.isfinite(mine).all()
        torch.testing.assert_close(mine, their, rtol=1e-10, atol=1e-12)


# ## One all-padding sequence in a batch changes nothing for the others
#
# Each case builds a module in `float64` and returns a function of a batch of `[batch, LEN]` tokens (0 =
# padding) that gives outputs `[batch, ...]`; padding is hidden from attention by the source mask. The batch
# with an all-padding sequence inserted must give the same outputs and the same parameter gradients (of a
# loss over the valid sequences) as the batch without it, with no NaN anywhere.

def padding_mask(tokens: torch.Tensor) -> torch.Tensor:
    return (tokens != PAD).unsqueeze(1)  # [batch, 1, LEN]


def attention_case(fused: bool):
    embed = torch.randn(VOCAB, D_MODEL, dtype=torch.float64)
    module = MultiHeadAttention(D_MODEL, HEADS).double()
    module.fused = fused
    return module, lambda tokens: module(embed[tokens], embed[tokens], embed[tokens], padding_mask(tokens))


def encoder_layer_case(fused: bool):
    embed = torch.randn(VOCAB, D_MODEL, dtype=torch.float64)
    module = EncoderLayer(D_MODEL, HEADS, 32).double()
    use_fused_attention(module, fused)
    return module, lambda tokens: module(embed[tokens], padding_mask(tokens))


def transformer_case(fused: bool):
    module = Transformer(VOCAB, VOCAB, d_model=D_MODEL, heads=HEADS, d_ff=32, layers=2).double()
    use_fused_attention(module, fused)
    target = torch.randint(1, VOCAB, (1, LEN - 1))
    return module, lambda tokens: module(tokens, target.expand(tokens.shape[0], -1), padding_mask(tokens))


def outputs_and_gradients(module, run, tokens: torch.Tensor, valid: list[int], loss_weights: torch.Tensor):
    module.zero_grad()
    outputs = run(tokens)[valid]
    (outputs * loss_weights).sum().backward()
    return outputs.detach(), {name: p.grad.clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("fused", [False, True], ids=["readable", "fused"])
@pytest.mark.parametrize("case", [attention_case, encoder_layer_case, transformer_case],
                         ids=["MultiHeadAttention", "EncoderLayer", "Transformer"])
def test_an_all_padding_sequence_changes_nothing_for_the_others(case, fused):
    module, run = case(fused)
    tokens = torch.randint(1, VOCAB, (3, LEN))
    tokens[2, -2:] = PAD
    with_empty = torch.cat([tokens[:1], torch.full((1, LEN), PAD), tokens[1:]])  # the empty one second
    with torch.no_grad():
        loss_weights = torch.randn_like(run(tokens))
    alone, alone_grads = outputs_and_gradients(module, run, tokens, [0, 1, 2], loss_weights)
    together, together_grads = outputs_and_gradients(module, run, with_empty, [0, 2, 3], loss_weights)
    assert torch.isfinite(run(with_empty)).all()
    torch.testing.assert_close(together, alone, rtol=1e-10, atol=1e-12)
    for name, grad in alone_grads.items():
        assert torch.isfinite(together_grads[name]).all(), name
        torch.testing.assert_close(together_grads[name], grad, rtol=1e-9, atol=1e-12, msg=name)


# ## The fused path equals the readable one
#
# In `float64` PyTorch takes its reference path, to round-off; in `float32` its fused kernel, to the
# precision of `float32`.

@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_fused_multi_head_attention_equals_readable(dtype, tolerance):
    readable = MultiHeadAttention(D_MODEL, HEADS).to(dtype)
    fused = MultiHeadAttention(D_MODEL, HEADS).to(dtype)
    fused.load_state_dict(readable.state_dict())
    fused.fused = True
    query = torch.randn(2, 5, D_MODEL, dtype=dtype, requires_grad=True)
    key = torch.randn(2, 6, D_MODEL, dtype=dtype, requires_grad=True)
    mask = mask_with_blind_queries()[:, 0]  # [2, 5, 6], query 2 of the first sequence sees no key
    outputs = [module(query, key, key, mask) for module in (readable, fused)]
    torch.testing.assert_close(outputs[1], outputs[0], rtol=tolerance, atol=tolerance)
    grad_output = torch.randn_like(outputs[0])
    grads = [torch.autograd.grad(out, (query, key, *module.parameters()), grad_output)
             for out, module in zip(outputs, (readable, fused))]
    for mine, reference in zip(grads[1], grads[0]):
        torch.testing.assert_close(mine, reference, rtol=tolerance, atol=tolerance)


def test_fused_transformer_equals_readable():
    model = Transformer(VOCAB, VOCAB, d_model=D_MODEL, heads=HEADS, d_ff=32, layers=2).double()
    source, target = torch.randint(1, VOCAB, (3, LEN)), torch.randint(1, VOCAB, (3, LEN - 1))
    source[1, -3:] = PAD
    readable = model(source, target, padding_mask(source))
    use_fused_attention(model)
    assert all(m.fused for m in model.modules() if isinstance(m, MultiHeadAttention))
    torch.testing.assert_close(model(source, target, padding_mask(source)), readable, rtol=1e-10, atol=1e-12)


# ## Attention weights are kept only when asked

def test_weights_are_kept_only_when_asked():
    mha = MultiHeadAttention(D_MODEL, HEADS)
    x = torch.randn(2, 5, D_MODEL)
    mha(x, x, x)
    assert mha.weights is None
    mha.keep_weights = True
    mha(x, x, x)
    assert mha.weights.shape == (2, HEADS, 5, 5) and not mha.weights.requires_grad


def test_keeping_weights_takes_the_readable_path_of_a_fused_module():
    mha = MultiHeadAttention(D_MODEL, HEADS).double()
    mha.fused, mha.keep_weights = True, True
    x = torch.randn(2, 5, D_MODEL, dtype=torch.float64)
    mha(x, x, x)
    torch.testing.assert_close(mha.weights.sum(dim=-1), torch.ones(2, HEADS, 5, dtype=torch.float64))


# ## Bahdanau's additive attention with a row that may attend to nothing
#
# The second row's mask rules out every position: zero weights and context, and the batch gives the other
# rows the same context and the same parameter gradients as the batch without it.

def additive_context_and_gradients(attention, query, keys, mask, loss_weights):
    attention.zero_grad()
    context, weights = attention(query, keys, attention.project_keys(keys), mask)
    (context[[0, 2]] * loss_weights).sum().backward()
    return context.detach(), weights.detach(), [p.grad.clone() for p in attention.parameters()]


def test_additive_attention_row_with_nothing_to_attend():
    attention = AdditiveAttention(5, 4, 6).double()
    query = torch.randn(3, 5, dtype=torch.float64)
    keys = torch.randn(3, 7, 4, dtype=torch.float64)
    mask = torch.rand(3, 7) > 0.3
    mask[:, 0] = True
    loss_weights = torch.randn(2, 4, dtype=torch.float64)
    expected, _, expected_grads = additive_context_and_gradients(attention, query, keys, mask, loss_weights)
    mask[1] = False
    context, weights, grads = additive_context_and_gradients(attention, query, keys, mask, loss_weights)
    assert (context[1] == 0).all() and (weights[1] == 0).all()
    torch.testing.assert_close(context[[0, 2]], expected[[0, 2]], rtol=1e-12, atol=1e-14)
    for grad, reference in zip(grads, expected_grads):
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(grad, reference, rtol=1e-10, atol=1e-14)


# ## The LSTM layer's backward pass fills no zero tensor per step
#
# The profiler counts the calls that zero-fill or fill a tensor in one backward pass over 30 steps. Indexing
# one step out of the precomputed input projection zero-filled the whole gradient once per step (measured: 33
# in all); `unbind` fills none per step (measured: 3).

def test_lstm_layer_backward_does_not_fill_once_per_step():
    cell = LSTMCell(8, 8)
    steps = 30
    inputs = torch.randn(4, steps, 8)
    outputs, _ = run_layer(cell, inputs, cell.zero_state(4, inputs))
    with torch.profiler.profile() as profile:
        outputs.sum().backward()
    fills = sum(event.count for event in profile.key_averages() if event.key in ("aten::zero_", "aten::fill_"))
    assert fills < steps // 2
