"""Bad input at the boundary of the sequence papers: attention, the Annotated Transformer, Bahdanau attention,
pointer networks, Order Matters, the character RNN, the LSTM and RNN regularisation.

One table of bad calls, each with the error it must raise and a regex that names the argument; a test that
runs every public model on `meta` tensors (anything created inside without `device=` fails there); and one
test per input that used to give NaN or a silently wrong answer.
"""
from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
from torch import nn

from papers.kit.tasks import RESERVED
from papers.rnn import char_rnn, lstm, rnn_regularization
from papers.seq2seq import bahdanau_attention as bahdanau
from papers.seq2seq import order_matters, pointer_networks
from papers.transformers import annotated_transformer as annotated
from papers.transformers import attention

NAN = float("nan")


def floats(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def ids(*shape: int, value: int = RESERVED) -> torch.Tensor:
    return torch.full(shape, value, dtype=torch.long)


def mha() -> attention.MultiHeadAttention:
    return attention.MultiHeadAttention(16, 4)


def transformer() -> attention.Transformer:
    return attention.Transformer(10, 10, d_model=16, heads=4, d_ff=32, layers=1)


def additive() -> bahdanau.AdditiveAttention:
    return bahdanau.AdditiveAttention(4, 6, 5)  # query_dim 4, key_dim 6, attention_dim 5


def seq2seq() -> bahdanau.Seq2Seq:
    return bahdanau.Seq2Seq(RESERVED + 3, embed_dim=4, hidden=4, attention_dim=4)


def pointer_decoder() -> pointer_networks.PointerDecoder:
    return pointer_networks.PointerDecoder(input_dim=3, key_dim=4, hidden=5, attention_dim=6)


def pointer_state(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    return floats(batch, 5), floats(batch, 5)


def lstm_state(layers: int, batch: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    return floats(layers, batch, hidden), floats(layers, batch, hidden)


def regularized() -> rnn_regularization.RegularizedLSTM:
    return rnn_regularization.RegularizedLSTM(10, 8, 2, 0.3, "non_recurrent")


def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# (id, the bad call, the exception, a regex the message must match: it names the argument).
BAD_CALLS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # attention.py
    ("mha-d_model-zero", lambda: attention.MultiHeadAttention(0, 4), ValueError, r"d_model must be a positive"),
    ("mha-heads-negative", lambda: attention.MultiHeadAttention(16, -4), ValueError, r"heads must be a positive"),
    ("mha-heads-divide", lambda: attention.MultiHeadAttention(16, 3), ValueError, r"heads \(3\) must divide"),
    ("mha-dropout-1.5", lambda: attention.MultiHeadAttention(16, 4, 1.5), ValueError,
     r"dropout must be in \[0, 1\), got 1.5"),
    ("mha-dropout-nan", lambda: attention.MultiHeadAttention(16, 4, NAN), ValueError, r"dropout must be in"),
    ("mha-float64", lambda: mha()(*[floats(2, 5, 16, dtype=torch.float64)] * 3), TypeError,
     r"query must have dtype torch.float32, got torch.float64"),
    ("mha-integer-query", lambda: mha()(ids(2, 5, 16), floats(2, 5, 16), floats(2, 5, 16)), TypeError,
     r"query must have dtype torch.float32, got torch.int64"),
    ("mha-rank", lambda: mha()(floats(5, 16), floats(2, 5, 16), floats(2, 5, 16)), ValueError,
     r"query must have shape \[batch, q_len, 16\] \(3 dimensions\)"),
    ("mha-key-width", lambda: mha()(floats(2, 5, 16), floats(2, 5, 8), floats(2, 5, 16)), ValueError,
     r"key must have shape \[batch=2, k_len, 16\], got \(2, 5, 8\)"),
    ("mha-key-batch", lambda: mha()(floats(2, 5, 16), floats(3, 5, 16), floats(3, 5, 16)), ValueError,
     r"key must have shape .*dimension 0 \(batch\) should be 2"),
    ("mha-value-length", lambda: mha()(floats(2, 5, 16), floats(2, 5, 16), floats(2, 6, 16)), ValueError,
     r"value must have shape .*dimension 1 \(k_len\) should be 5"),
    ("mha-empty-batch", lambda: mha()(*[floats(0, 5, 16)] * 3), ValueError, r"query is empty"),
    ("mha-length-0", lambda: mha()(*[floats(2, 0, 16)] * 3), ValueError, r"query is empty"),
    ("mha-mask-dtype", lambda: mha()(*[floats(2, 5, 16)] * 3, floats(2, 5, 5)), TypeError, r"mask must be boolean"),
    ("mha-mask-shape", lambda: mha()(*[floats(2, 5, 16)] * 3, torch.ones(2, 5, 4, dtype=torch.bool)), ValueError,
     r"mask must be \[batch or 1, q_len or 1, k_len\]"),
    ("feed-forward-d_ff-negative", lambda: attention.FeedForward(16, d_ff=-1), ValueError,
     r"d_ff must be a positive integer, got -1"),
    ("feed-forward-dropout", lambda: attention.FeedForward(16, 32, dropout=1.5), ValueError, r"dropout must be in"),
    ("feed-forward-width", lambda: attention.FeedForward(16, 32)(floats(2, 5, 8)), ValueError,
     r"x must have shape \[batch, len, 16\]"),
    ("feed-forward-float64", lambda: attention.FeedForward(16, 32)(floats(2, 5, 16, dtype=torch.float64)),
     TypeError, r"x must have dtype torch.float32"),
    ("residual-shapes-differ", lambda: attention.Residual(16)(floats(2, 5, 16), floats(2, 4, 16)), ValueError,
     r"sublayer_output must have shape .*dimension 1 \(len\) should be 5"),
    ("positional-odd-d_model", lambda: attention.sinusoidal_positional_encoding(10, 7), ValueError,
     r"d_model must be a positive even number, got 7"),
    ("positional-length-0", lambda: attention.sinusoidal_positional_encoding(0, 8), ValueError,
     r"length must be a positive integer, got 0"),
    ("positional-max_len-0", lambda: attention.PositionalEncoding(16, max_len=0), ValueError,
     r"max_len must be a positive integer"),
    ("positional-too-long", lambda: attention.PositionalEncoding(16, max_len=4)(floats(2, 5, 16)), ValueError,
     r"sequence length 5 exceeds max_len 4"),
    ("positional-width", lambda: attention.PositionalEncoding(16)(floats(2, 5, 8)), ValueError,
     r"x must have shape \[batch, len, 16\]"),
    ("decoder-layer-memory-batch", lambda: attention.DecoderLayer(16, 4, 32)(floats(2, 5, 16), floats(3, 4, 16)),
     ValueError, r"memory must have shape .*dimension 0 \(batch\) should be 2"),
    ("encoder-layer-float64", lambda: attention.EncoderLayer(16, 4, 32)(floats(2, 5, 16, dtype=torch.float64)),
     TypeError, r"query must have dtype torch.float32"),
    ("subsequent-mask-length-0", lambda: attention.subsequent_mask(0), ValueError, r"length must be a positive"),
    ("transformer-layers-0", lambda: attention.Transformer(10, 10, layers=0), ValueError,
     r"layers must be a positive integer, got 0"),
    ("transformer-vocab-0", lambda: attention.Transformer(0, 10), ValueError, r"source_vocab must be a positive"),
    ("transformer-dropout", lambda: attention.Transformer(10, 10, dropout=-0.1, positional=False), ValueError,
     r"dropout must be in"),
    ("transformer-float-source", lambda: transformer().encode(floats(2, 5)), TypeError,
     r"source must have dtype torch.int64, got torch.float32"),
    ("transformer-source-rank", lambda: transformer().encode(ids(5)), ValueError,
     r"source must have shape \[batch, src_len\]"),
    ("transformer-target-batch", lambda: transformer()(ids(2, 5), ids(3, 4)), ValueError,
     r"target must have shape \[2, \*\], got \(3, 4\)"),
    ("transformer-memory-width", lambda: transformer().decode(floats(2, 5, 8), ids(2, 4)), ValueError,
     r"memory must have shape \[batch=2, src_len, 16\]"),
    ("transformer-empty-target", lambda: transformer().decode(floats(2, 5, 16), ids(2, 0)), ValueError,
     r"target is empty"),
    ("greedy-steps-0", lambda: attention.greedy_decode(transformer(), ids(2, 5), 0, 1), ValueError,
     r"steps must be a positive integer, got 0"),
    # annotated_transformer.py
    ("make-batch-float-source", lambda: annotated.make_batch(floats(2, 3), ids(2, 4)), TypeError,
     r"source must have dtype torch.int64"),
    ("make-batch-float-target", lambda: annotated.make_batch(ids(2, 3), floats(2, 4)), TypeError,
     r"target must have dtype torch.int64"),
    ("make-batch-source-rank", lambda: annotated.make_batch(ids(3), ids(2, 4)), ValueError,
     r"source must have shape \[batch, src_len\]"),
    ("make-batch-batch-differs", lambda: annotated.make_batch(ids(2, 3), ids(3, 4)), ValueError,
     r"target must have shape .*dimension 0 \(batch\) should be 2"),
    ("make-batch-short-target", lambda: annotated.make_batch(ids(2, 3), ids(2, 1)), ValueError, r"start symbol"),
    ("make-batch-empty", lambda: annotated.make_batch(ids(0, 3), ids(0, 4)), ValueError, r"source is empty"),
    ("smoothing-1", lambda: annotated.smoothed_targets(ids(2), 5, 1.0), ValueError,
     r"smoothing must be in \[0, 1\), got 1.0"),
    ("smoothing-nan", lambda: annotated.smoothed_targets(ids(2), 5, NAN), ValueError, r"smoothing must be in"),
    ("smoothing-negative", lambda: annotated.smoothed_targets(ids(2), 5, -0.1), ValueError,
     r"smoothing must be in"),
    ("smoothed-float-labels", lambda: annotated.smoothed_targets(floats(2), 5, 0.1), TypeError,
     r"labels must have dtype torch.int64"),
    ("smoothed-pad-outside-vocab", lambda: annotated.smoothed_targets(ids(2, value=1), 5, 0.1, pad=7), ValueError,
     r"pad must be in \[0, 5\), got 7"),
    ("smoothed-vocab-too-small", lambda: annotated.smoothed_targets(ids(2, value=1), 2, 0.1), ValueError,
     r"vocabulary of 2 tokens is too small"),
    ("loss-shapes-differ", lambda: annotated.label_smoothing_loss(floats(3, 5), ids(4, value=1), 0.1), ValueError,
     r"logits must have shape \[4, vocab\]"),
    ("loss-integer-logits", lambda: annotated.label_smoothing_loss(ids(4, 5), ids(4, value=1), 0.1), TypeError,
     r"logits must have a floating-point dtype"),
    ("loss-empty", lambda: annotated.label_smoothing_loss(floats(0, 5), ids(0), 0.1), ValueError,
     r"logits is empty"),
    ("loss-float-labels", lambda: annotated.label_smoothing_loss(floats(4, 5), floats(4), 0.1), TypeError,
     r"labels must have dtype torch.int64"),
    ("noam-step-0", lambda: annotated.noam_rate(0, 64, 10), ValueError, r"step counts from 1, got 0"),
    ("noam-warmup-0", lambda: annotated.noam_rate(1, 64, 0), ValueError, r"warmup must be a positive integer"),
    ("noam-d_model-negative", lambda: annotated.noam_rate(1, -64, 10), ValueError,
     r"d_model must be a positive integer, got -64"),
    ("noam-factor-nan", lambda: annotated.noam_rate(1, 64, 10, NAN), ValueError, r"factor must be a positive number"),
    ("decode-max_len-0", lambda: annotated.decode_sequences(transformer(), ids(2, 3), 0), ValueError,
     r"max_len must be a positive integer, got 0"),
    # bahdanau_attention.py
    ("additive-attention_dim-0", lambda: bahdanau.AdditiveAttention(4, 4, 0), ValueError,
     r"attention_dim must be a positive integer, got 0"),
    ("additive-key_dim-fraction", lambda: bahdanau.AdditiveAttention(4, 2.5, 4), ValueError,
     r"key_dim must be a positive integer, got 2.5"),
    ("additive-project-width", lambda: additive().project_keys(floats(2, 3, 5)), ValueError,
     r"keys must have shape \[batch, source_len, 6\], got \(2, 3, 5\)"),
    ("additive-project-float64", lambda: additive().project_keys(floats(2, 3, 6, dtype=torch.float64)), TypeError,
     r"keys must have dtype torch.float32, got torch.float64"),
    ("additive-query-width", lambda: additive().scores(floats(2, 5), floats(2, 3, 5)), ValueError,
     r"query must have shape \[batch, 4\], got \(2, 5\)"),
    ("additive-batch-differs", lambda: additive().scores(floats(3, 4), floats(2, 3, 5)), ValueError,
     r"projected_keys must have shape .*dimension 0 \(batch\) should be 3"),
    ("additive-mask-dtype", lambda: additive().scores(floats(2, 4), floats(2, 3, 5), floats(2, 3)), TypeError,
     r"mask must have dtype torch.bool"),
    ("additive-mask-shape", lambda: additive().scores(floats(2, 4), floats(2, 3, 5), torch.ones(2, 4).bool()),
     ValueError, r"mask must have shape \[batch=2, source_len=3\]"),
    ("issue-additive-keys-width", lambda: additive()(floats(2, 4), floats(2, 3, 7), floats(2, 3, 5)), ValueError,
     r"keys must have shape \[2, 3, 6\], got \(2, 3, 7\)"),
    ("additive-keys-length", lambda: additive()(floats(2, 4), floats(2, 4, 6), floats(2, 3, 5)), ValueError,
     r"keys must have shape \[2, 3, 6\], got \(2, 4, 6\)"),
    ("seq2seq-vocab-0", lambda: bahdanau.Seq2Seq(0), ValueError, r"vocab_size must be a positive integer"),
    ("seq2seq-float-source", lambda: seq2seq().translate(floats(2, 3)), TypeError,
     r"source must have dtype torch.int64"),
    ("seq2seq-id-too-large", lambda: seq2seq().translate(ids(2, 3, value=RESERVED + 3)), ValueError,
     r"source must hold values in \[0, 5\)"),
    ("seq2seq-empty-source", lambda: seq2seq().translate(ids(2, 0)), ValueError, r"source is empty"),
    ("seq2seq-target-rank", lambda: seq2seq()(ids(2, 3), ids(2)), ValueError, r"target must have shape"),
    ("seq2seq-batch-differs", lambda: seq2seq()(ids(2, 3), ids(3, 3)), ValueError,
     r"target must have shape .*dimension 0 \(batch\) should be 2"),
    ("encoder-float-source", lambda: bahdanau.Encoder(5, 4, 4)(floats(2, 3)), TypeError,
     r"source must have dtype torch.int64"),
    ("issue-source-position-beyond-length", lambda: bahdanau.source_position(5, 3), ValueError,
     r"i must be in \[0, 3\), got 5"),
    ("source-position-negative", lambda: bahdanau.source_position(-1, 3), ValueError, r"i must be in"),
    ("source-position-length-0", lambda: bahdanau.source_position(0, 0), ValueError, r"length must be a positive"),
    # pointer_networks.py
    ("pointer-hidden-0", lambda: pointer_networks.PointerNet(hidden=0), ValueError,
     r"hidden must be a positive integer"),
    ("pointer-integer-points", lambda: pointer_networks.PointerNet(8)(ids(2, 5, 2), 6), TypeError,
     r"points must have dtype torch.float32, got torch.int64"),
    ("pointer-float64-points", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2, dtype=torch.float64), 6),
     TypeError, r"points must have dtype torch.float32, got torch.float64"),
    ("pointer-points-width", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 3), 6), ValueError,
     r"points must have shape \[batch, n, 2\]"),
    ("pointer-too-few-points", lambda: pointer_networks.PointerNet(8)(floats(2, 2, 2), 2), ValueError,
     r"points must be \[batch, n >= 3, 2\]"),
    ("pointer-empty-batch", lambda: pointer_networks.PointerNet(8)(floats(0, 5, 2), 6), ValueError,
     r"points is empty"),
    ("pointer-steps-too-many", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2), 7), ValueError,
     r"steps must be in \[1, 6\]"),
    ("pointer-steps-0", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2), 0), ValueError,
     r"steps must be a positive integer, got 0"),
    ("pointer-float-targets", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2), 2, floats(2, 2)), TypeError,
     r"targets must have dtype torch.int64"),
    ("pointer-targets-out-of-range", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2), 2, ids(2, 2, value=6)),
     ValueError, r"targets must hold values in \[0, 6\)"),
    ("pointer-targets-steps", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2), 2, ids(2, 3, value=1)),
     ValueError, r"targets must have shape \[batch=2, 2\], got \(2, 3\)"),
    ("pointer-targets-batch", lambda: pointer_networks.PointerNet(8)(floats(2, 5, 2), 2, ids(3, 2, value=1)),
     ValueError, r"targets must have shape .*dimension 0 \(batch\) should be 2"),
    ("pointer-decoder-input_dim-0", lambda: pointer_networks.PointerDecoder(0, 4, 5, 6), ValueError,
     r"input_dim must be a positive integer"),
    ("pointer-decoder-inputs-width", lambda: pointer_decoder()(floats(2, 4, 4), floats(2, 4, 2), pointer_state(), 2),
     ValueError, r"inputs must have shape \[batch=2, positions=4, 3\]"),
    ("pointer-decoder-state-batch", lambda: pointer_decoder()(floats(2, 4, 4), floats(2, 4, 3), pointer_state(1), 2),
     ValueError, r"state\[0\] must have shape \[batch=2, 5\], got \(1, 5\)"),
    ("pointer-task", lambda: pointer_networks.labels("sorting", floats(2, 5, 2)), ValueError, r"task must be"),
    # order_matters.py
    ("process-steps-negative", lambda: order_matters.Process(4, steps=-1), ValueError,
     r"process steps must be non-negative, got -1"),
    ("process-d-0", lambda: order_matters.Process(0, steps=1), ValueError, r"d must be a positive integer"),
    ("process-memory-width", lambda: order_matters.Process(4, steps=1)(floats(2, 3, 5)), ValueError,
     r"memory must have shape \[batch, n, 4\], got \(2, 3, 5\)"),
    ("read-process-write-d-0", lambda: order_matters.ReadProcessWrite(1, d=0), ValueError, r"d must be a positive"),
    ("read-process-write-integer", lambda: order_matters.ReadProcessWrite(1, d=4)(ids(2, 3)), TypeError,
     r"numbers must have dtype torch.float32, got torch.int64"),
    ("read-process-write-float64", lambda: order_matters.ReadProcessWrite(1, d=4)(floats(2, 3, dtype=torch.float64)),
     TypeError, r"numbers must have dtype torch.float32, got torch.float64"),
    ("read-process-write-rank", lambda: order_matters.ReadProcessWrite(1, d=4)(floats(2, 3, 1)), ValueError,
     r"numbers must have shape \[batch, n\]"),
    ("read-process-write-one-number", lambda: order_matters.ReadProcessWrite(1, d=4)(floats(2, 1)), ValueError,
     r"numbers must be \[batch, n >= 2\]"),
    ("read-process-write-targets", lambda: order_matters.ReadProcessWrite(1, d=4)(floats(2, 3), floats(2, 3)),
     TypeError, r"targets must have dtype torch.int64"),
    # char_rnn.py
    ("rnn-cell-input_size-0", lambda: char_rnn.RNNCell(0, 7), ValueError, r"input_size must be a positive integer"),
    ("rnn-cell-state-batch", lambda: char_rnn.RNNCell(5, 7)(floats(3, 5), floats(1, 7)), ValueError,
     r"h must have shape \[batch=3, 7\], got \(1, 7\)"),
    ("rnn-num_layers-0", lambda: char_rnn.RNN(5, 7, 0), ValueError, r"num_layers must be a positive integer"),
    ("rnn-x-width", lambda: char_rnn.RNN(5, 7)(floats(3, 6, 4)), ValueError, r"x must have shape \[batch, seq, 5\]"),
    ("rnn-integer-x", lambda: char_rnn.RNN(5, 7)(ids(3, 6, 5)), TypeError, r"x must have dtype torch.float32"),
    ("rnn-h-layers", lambda: char_rnn.RNN(5, 7, 2)(floats(3, 6, 5), floats(1, 3, 7)), ValueError,
     r"h must have shape \[2, batch=3, 7\], got \(1, 3, 7\)"),
    ("rnn-length-0", lambda: char_rnn.RNN(5, 7)(floats(3, 0, 5)), ValueError, r"x is empty"),
    ("char-model-kind", lambda: char_rnn.CharModel(10, 8, "gru"), ValueError, r"kind must be one of"),
    ("char-model-vocab-0", lambda: char_rnn.CharModel(0, 8), ValueError, r"vocab_size must be a positive integer"),
    ("char-model-token-too-large", lambda: char_rnn.CharModel(10, 8)(ids(2, 3, value=10)), ValueError,
     r"tokens must hold values in \[0, 10\), got values from 10 to 10"),
    ("char-model-token-negative", lambda: char_rnn.CharModel(10, 8)(ids(2, 3, value=-1)), ValueError,
     r"tokens must hold values in \[0, 10\)"),
    ("regularized-token-too-large", lambda: regularized()(ids(2, 3, value=10)), ValueError,
     r"tokens must hold values in \[0, 10\)"),
    ("transformer-source-id-too-large", lambda: transformer().encode(ids(2, 3, value=10)), ValueError,
     r"source must hold values in \[0, 10\)"),
    ("transformer-target-id-negative", lambda: transformer()(ids(2, 3, value=1), ids(2, 3, value=-1)), ValueError,
     r"target must hold values in \[0, 10\)"),
    ("bahdanau-encoder-id-too-large", lambda: bahdanau.Encoder(5, 4, 4)(ids(2, 3, value=5)), ValueError,
     r"source must hold values in \[0, 5\)"),
    ("char-model-float-tokens", lambda: char_rnn.CharModel(10, 8)(floats(2, 3)), TypeError,
     r"tokens must have dtype torch.int64"),
    ("char-model-tokens-rank", lambda: char_rnn.CharModel(10, 8)(ids(2, 3, 1, value=1)), ValueError,
     r"tokens must have shape \[batch, seq\]"),
    ("sample-temperature-negative", lambda: char_rnn.sample_next(floats(1, 4), -1.0, generator()), ValueError,
     r"temperature must be in \[0, inf\), got -1.0"),
    ("sample-temperature-nan", lambda: char_rnn.sample_next(floats(1, 4), NAN, generator()), ValueError,
     r"temperature must be in"),
    ("sample-logits-rank", lambda: char_rnn.sample_next(floats(4), 1.0, generator()), ValueError,
     r"logits must have shape \[batch, vocab\]"),
    ("sample-integer-logits", lambda: char_rnn.sample_next(ids(1, 4), 1.0, generator()), TypeError,
     r"logits must have a floating-point dtype"),
    ("generate-length-0", lambda: char_rnn.generate(char_rnn.CharModel(10, 8), None, "a", 0, 1.0, generator()),
     ValueError, r"length must be a positive integer, got 0"),
    # lstm.py
    ("lstm-cell-hidden_size-0", lambda: lstm.LSTMCell(5, 0), ValueError, r"hidden_size must be a positive integer"),
    ("lstm-cell-input_size-fraction", lambda: lstm.LSTMCell(2.5, 4), ValueError,
     r"input_size must be a positive integer, got 2.5"),
    ("issue-lstm-cell-state-batch", lambda: lstm.LSTMCell(5, 7)(floats(3, 5), (floats(1, 7), floats(1, 7))),
     ValueError, r"state\[0\] must have shape \[batch=3, 7\], got \(1, 7\)"),
    ("lstm-cell-c-batch", lambda: lstm.LSTMCell(5, 7)(floats(3, 5), (floats(3, 7), floats(1, 7))),
     ValueError, r"state\[1\] must have shape \[batch=3, 7\], got \(1, 7\)"),
    ("lstm-cell-float64", lambda: lstm.LSTMCell(5, 7)(floats(3, 5, dtype=torch.float64), (floats(3, 7),) * 2),
     TypeError, r"x must have dtype torch.float32, got torch.float64"),
    ("lstm-num_layers-0", lambda: lstm.LSTM(5, 7, 0), ValueError, r"num_layers must be a positive integer"),
    ("lstm-x-width", lambda: lstm.LSTM(5, 7)(floats(3, 6, 4)), ValueError, r"x must have shape \[batch, seq, 5\]"),
    ("lstm-x-rank", lambda: lstm.LSTM(5, 7)(floats(6, 5)), ValueError, r"x must have shape .*\(3 dimensions\)"),
    ("lstm-integer-x", lambda: lstm.LSTM(5, 7)(ids(3, 6, 5)), TypeError, r"x must have dtype torch.float32"),
    ("lstm-empty-batch", lambda: lstm.LSTM(5, 7)(floats(0, 6, 5)), ValueError, r"x is empty"),
    ("lstm-state-layers", lambda: lstm.LSTM(5, 7, 2)(floats(3, 6, 5), lstm_state(1, 3, 7)), ValueError,
     r"state\[0\] must have shape \[2, batch=3, 7\], got \(1, 3, 7\)"),
    ("lstm-state-batch", lambda: lstm.LSTM(5, 7)(floats(3, 6, 5), lstm_state(1, 1, 7)), ValueError,
     r"state\[0\] must have shape .*dimension 1 \(batch\) should be 3"),
    # rnn_regularization.py
    ("regularized-mode", lambda: rnn_regularization.RegularizedLSTM(10, 8, 2, 0.3, "everywhere"), ValueError,
     r"mode must be one of"),
    ("regularized-dropout-1", lambda: rnn_regularization.RegularizedLSTM(10, 8, 2, 1.0, "none"), ValueError,
     r"dropout must be in \[0, 1\), got 1.0"),
    ("regularized-dropout-nan", lambda: rnn_regularization.RegularizedLSTM(10, 8, 2, NAN, "none"), ValueError,
     r"dropout must be in"),
    ("regularized-layers-0", lambda: rnn_regularization.RegularizedLSTM(10, 8, 0, 0.3, "none"), ValueError,
     r"layers must be a positive integer, got 0"),
    ("regularized-hidden-0", lambda: rnn_regularization.RegularizedLSTM(10, 0, 2, 0.3, "none"), ValueError,
     r"hidden_size must be a positive integer, got 0"),
    ("regularized-float-tokens", lambda: regularized()(floats(2, 3)), TypeError, r"tokens must have dtype torch.int64"),
    ("regularized-tokens-rank", lambda: regularized()(ids(3, value=1)), ValueError, r"tokens must have shape"),
    ("regularized-state-layers", lambda: regularized()(ids(2, 3, value=1), lstm_state(1, 2, 8)), ValueError,
     r"state\[0\] must have shape \[2, batch=2, 8\], got \(1, 2, 8\)"),
    ("regularized-state-batch", lambda: regularized()(ids(2, 3, value=1), lstm_state(2, 1, 8)), ValueError,
     r"state\[0\] must have shape .*dimension 1 \(batch\) should be 2"),
]


@pytest.mark.parametrize("call, error, message", [row[1:] for row in BAD_CALLS], ids=[row[0] for row in BAD_CALLS])
def test_bad_input_gets_a_clear_error(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


# ## Every model runs on its inputs' device
#
# Each case builds a model, moves it to `meta` and calls it with `meta` inputs; a tensor created inside
# without `device=` would be on the CPU and the call would fail. The outputs must be `meta` tensors.
META = torch.device("meta")


def meta_floats(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, device=META)


def meta_ids(*shape: int, value: int = RESERVED) -> torch.Tensor:
    return torch.full(shape, value, dtype=torch.long, device=META)


def on_meta(module: nn.Module) -> nn.Module:
    return module.to(META)


def meta_transformer() -> attention.Transformer:
    return on_meta(attention.Transformer(10, 10, d_model=16, heads=4, d_ff=32, layers=1))


META_CALLS: list[tuple[str, Callable[[], object]]] = [
    ("multi-head-attention", lambda: on_meta(attention.MultiHeadAttention(16, 4))(
        *[meta_floats(2, 5, 16)] * 3, torch.ones(2, 1, 5, dtype=torch.bool, device=META))),
    ("positional-encoding", lambda: on_meta(attention.PositionalEncoding(16))(meta_floats(2, 5, 16))),
    ("feed-forward", lambda: on_meta(attention.FeedForward(16, 32))(meta_floats(2, 5, 16))),
    ("encoder-layer", lambda: on_meta(attention.EncoderLayer(16, 4, 32))(meta_floats(2, 5, 16))),
    ("decoder-layer", lambda: on_meta(attention.DecoderLayer(16, 4, 32))(
        meta_floats(2, 4, 16), meta_floats(2, 5, 16), None, attention.subsequent_mask(4, device=META))),
    ("transformer", lambda: meta_transformer()(meta_ids(2, 5), meta_ids(2, 4))),
    ("greedy-decode", lambda: attention.greedy_decode(meta_transformer(), meta_ids(2, 5), 3, 1)),
    ("make-batch", lambda: annotated.make_batch(meta_ids(2, 5), meta_ids(2, 6)).target_mask),
    ("label-smoothing-loss", lambda: annotated.label_smoothing_loss(meta_floats(2, 4, 6), meta_ids(2, 4), 0.1)),
    ("additive-attention", lambda: on_meta(bahdanau.AdditiveAttention(4, 6, 5))(
        meta_floats(2, 4), meta_floats(2, 3, 6), meta_floats(2, 3, 5), meta_floats(2, 3) == 0)),
    ("seq2seq", lambda: on_meta(bahdanau.Seq2Seq(RESERVED + 3, 4, 4, 4))(meta_ids(2, 3), meta_ids(2, 3))),
    ("seq2seq-translate", lambda: on_meta(bahdanau.Seq2Seq(RESERVED + 3, 4, 4, 4)).translate(meta_ids(2, 3))[0]),
    ("pointer-decoder", lambda: on_meta(pointer_networks.PointerDecoder(3, 4, 5, 6))(
        meta_floats(2, 4, 4), meta_floats(2, 4, 3), (meta_floats(2, 5), meta_floats(2, 5)), 3)),
    ("pointer-net", lambda: on_meta(pointer_networks.PointerNet(8))(meta_floats(2, 5, 2), 6)),
    ("pointer-net-teacher-forced", lambda: on_meta(pointer_networks.PointerNet(8))(
        meta_floats(2, 5, 2), 3, meta_ids(2, 3, value=1))),
    ("read-process-write", lambda: on_meta(order_matters.ReadProcessWrite(2, d=4))(meta_floats(2, 5))),
    ("rnn-cell", lambda: on_meta(char_rnn.RNNCell(5, 7))(meta_floats(3, 5), meta_floats(3, 7))),
    ("rnn", lambda: on_meta(char_rnn.RNN(5, 7, 2))(meta_floats(3, 6, 5))),
    ("char-model", lambda: on_meta(char_rnn.CharModel(10, 8))(meta_ids(2, 3, value=1))),
    ("char-model-rnn", lambda: on_meta(char_rnn.CharModel(10, 8, "rnn"))(meta_ids(2, 3, value=1))),
    ("lstm-cell", lambda: on_meta(lstm.LSTMCell(5, 7))(meta_floats(3, 5), (meta_floats(3, 7), meta_floats(3, 7)))),
    ("lstm", lambda: on_meta(lstm.LSTM(5, 7, 2))(meta_floats(3, 6, 5))),
    ("regularized-lstm", lambda: on_meta(regularized())(meta_ids(2, 3, value=1))),
    ("regularized-lstm-recurrent", lambda: on_meta(rnn_regularization.RegularizedLSTM(10, 8, 2, 0.3, "recurrent"))(
        meta_ids(2, 3, value=1))),
]


def meta_tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for part in output for t in meta_tensors(part)]


@pytest.mark.parametrize("call", [row[1] for row in META_CALLS], ids=[row[0] for row in META_CALLS])
def test_model_runs_on_its_inputs_device(call: Callable[[], object]) -> None:
    outputs = meta_tensors(call())
    assert outputs and all(t.device == META for t in outputs)


# ## NaN and silently wrong answers, each with the input that showed it
#
# Label smoothing with a logit of $-\infty$ (the padding column, float64 logits `[4, 6]`, labels 1 to 4,
# smoothing 0.1, padding index 0) gave NaN from $0 \cdot (-\infty)$. It must equal the loss with $-10^{30}$
# instead, and the KL divergence computed over the five non-padding columns only, where nothing is infinite.
def test_label_smoothing_with_minus_infinity_logit_is_finite() -> None:
    logits = torch.randn(4, 6, dtype=torch.float64, generator=generator())
    labels = torch.tensor([1, 2, 3, 4])
    with_inf, with_large = logits.clone(), logits.clone()
    with_inf[:, 0], with_large[:, 0] = -math.inf, -1e30
    with_inf.requires_grad_(True)
    loss = annotated.label_smoothing_loss(with_inf, labels, 0.1, pad=0)
    loss.backward()
    q = annotated.smoothed_targets(labels, 6, 0.1, pad=0, dtype=torch.float64)[:, 1:]  # [4, 5], all > 0
    by_hand = (q * (q.log() - logits[:, 1:].log_softmax(-1))).sum() / 4
    assert torch.isfinite(loss) and torch.isfinite(with_inf.grad).all()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-12)
    assert loss.item() == pytest.approx(annotated.label_smoothing_loss(with_large, labels, 0.1, pad=0).item(),
                                        rel=1e-12)


# The page calls the smoothed target itself the optimum, loss 0; its logits, $\log q$, are $-\infty$ on
# padding.
def test_label_smoothing_loss_is_zero_at_the_target_distribution() -> None:
    labels = torch.tensor([1, 2, 3, 4])
    q = annotated.smoothed_targets(labels, 6, 0.1, pad=0, dtype=torch.float64)
    loss = annotated.label_smoothing_loss(q.log(), labels, 0.1, pad=0)
    assert abs(loss.item()) < 1e-12


# A tiny positive temperature overflowed $z / T$ to infinities (logits about 6, $T = 10^{-38}$: float32 ends
# at $3.4 \cdot 10^{38}$) and NaN deep inside `torch.multinomial`; it must give the arg-max, as temperature 0
# and $10^{-30}$ do.
@pytest.mark.parametrize("temperature", [0.0, 1e-30, 1e-38])
def test_tiny_temperature_samples_the_argmax(temperature: float) -> None:
    logits = 6.0 + torch.randn(8, 6, generator=generator())  # [8, 6]
    assert torch.equal(char_rnn.sample_next(logits, temperature, generator()), logits.argmax(dim=-1))


# At temperature 0 the arg-max of a row with a NaN was the NaN's index.
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_nan_logits_are_refused(temperature: float) -> None:
    logits = torch.tensor([[0.0, NAN, 1.0, 2.0, -1.0, 0.5]])
    with pytest.raises(ValueError, match=r"logits must have no NaN or \+inf"):
        char_rnn.sample_next(logits, temperature, generator())


# Masks built on the CPU whatever the input's device: the pointer decoder's mask of chosen positions and the
# subsequent mask combined in `make_batch`.
def test_pointer_decoder_builds_its_chosen_mask_on_the_inputs_device() -> None:
    decoder = on_meta(pointer_networks.PointerDecoder(3, 4, 5, 6))
    logits, choices = decoder(meta_floats(2, 4, 4), meta_floats(2, 4, 3), (meta_floats(2, 5), meta_floats(2, 5)), 4)
    assert logits.device == META and logits.shape == (2, 4, 4) and choices.shape == (2, 4)


def test_make_batch_builds_its_masks_on_the_inputs_device() -> None:
    batch = annotated.make_batch(meta_ids(2, 5), meta_ids(2, 6))
    assert batch.target_mask.device == META and batch.target_mask.shape == (2, 5, 5)
    assert attention.subsequent_mask(3, device=META).device == META


# The silently accepted inputs of the issue, now refused (their rows in the table are marked `issue-`), and the
# deep torch errors of the issue, now named: float64 into multi-head attention, dropout 1.5, a negative d_ff.
@pytest.mark.parametrize("call, message", [
    (lambda: lstm.LSTMCell(5, 7)(floats(3, 5), (floats(1, 7), floats(1, 7))), r"state\[0\] must have shape"),
    (lambda: additive()(floats(2, 4), floats(2, 3, 7), floats(2, 3, 5)), r"keys must have shape"),
    (lambda: bahdanau.source_position(i=5, length=3), r"i must be in \[0, 3\)"),
    (lambda: mha()(*[floats(2, 5, 16, dtype=torch.float64)] * 3), r"query must have dtype torch.float32"),
    (lambda: attention.MultiHeadAttention(16, 4, dropout=1.5), r"dropout must be in \[0, 1\)"),
    (lambda: attention.FeedForward(16, d_ff=-1), r"d_ff must be a positive integer"),
], ids=["lstm-cell-batch-3-state-1", "bahdanau-keys-width", "source-position-5-of-3", "mha-float64",
        "dropout-1.5", "feed-forward-d_ff-negative"])
def test_issue_inputs_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        call()
