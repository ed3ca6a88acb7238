r"""
---
title: Character language models
summary: Training a recurrent character model with truncated back-propagation through time, and
  measuring bits per character on a whole text split; shared by the char-RNN and RNN-regularisation papers.
---

# Character language models

A character language model reads text one character at a time and, at every position, gives a probability
distribution over the next character. Two papers train one
([char-RNN](../rnn/char_rnn.py), [RNN regularisation](../rnn/rnn_regularization.py)); the training step and
the measurement live here once.

A model for these helpers is any module called as `model(tokens, state)` with `tokens` `[batch, seq]` (int64)
and `state` either `None` (start from zeros) or what the previous call returned; it returns
`(logits, state)` with `logits` `[batch, seq, vocab]`.

The measure is **bits per character**: the average over a text of $-\log_2 p(x_t \mid x_{<t})$. A model
that knows nothing about the text but its alphabet of $V$ characters pays $\log_2 V$ bits; each bit less
halves the model's uncertainty. *Perplexity* is $2^{\text{bits}}$, the number of equally likely characters
the model is, on average, choosing between.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import CharCorpus
from papers.kit.training import History, optimizer_step, train_loop


# Mean cross-entropy, in nats, of the logits `[batch, seq, vocab]` against the next characters `[batch, seq]`.
def next_char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)}")
    check_tensor("logits", logits, ["batch", "seq", "vocab"])
    check_tensor("targets", targets, ["batch", "seq"], dtype=torch.long)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ## Bits per character on a whole split
#
# The text is cut into `streams` equal parts read side by side, in windows of `seq_len` characters. The state
# is carried from one window to the next, so every character (but the very first of each stream) is
# predicted with all the text before it in its stream as context, as when the model reads the text
# straight through. Returns the mean of $-\log_2 p$ over all predicted characters.
@torch.no_grad()
def bits_per_char(model: nn.Module, tokens: torch.Tensor, seq_len: int = 100, streams: int = 64) -> float:
    check_positive("seq_len", seq_len, integer=True)
    check_positive("streams", streams, integer=True)
    if tokens.dim() != 1 or len(tokens) < 2 * streams:
        raise ValueError(f"tokens must be a 1-d text of at least {2 * streams} characters, "
                         f"got shape {tuple(tokens.shape)}")
    was_training = model.training
    model.eval()
    length = (len(tokens) - 1) // streams
    inputs = tokens[: streams * length].view(streams, length)  # [streams, length]
    targets = tokens[1: streams * length + 1].view(streams, length)
    state: Any = None
    total_nats = 0.0
    for start in range(0, length, seq_len):
        logits, state = model(inputs[:, start:start + seq_len], state)  # [streams, window, vocab]
        window_targets = targets[:, start:start + seq_len]
        total_nats += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window_targets.reshape(-1),
                                      reduction="sum").item()
    model.train(was_training)
    return total_nats / (streams * length) / math.log(2)


# ## Training
#
# Both papers train with *truncated back-propagation through time*: the training text is cut into
# `batch_size` parallel streams, read `seq_len` characters at a time; the state is carried from one window
# to the next (so the model learns to use context longer than a window, and sees at training time the kind
# of state it will meet when it reads a long text), but the gradient is cut at the window's start. When a
# stream runs out, reading starts again at the top from a zero state.
class TextStreams:
    def __init__(self, tokens: torch.Tensor, batch_size: int, seq_len: int) -> None:
        check_positive("batch_size", batch_size, integer=True)
        check_positive("seq_len", seq_len, integer=True)
        check_tensor("tokens", tokens, [None], dtype=torch.long)
        length = (len(tokens) - 1) // batch_size
        if length < seq_len:
            raise ValueError(f"cannot read {len(tokens)} characters as {batch_size} streams of windows of "
                             f"{seq_len}")
        self.inputs = tokens[: batch_size * length].view(batch_size, length)  # [batch, length]
        self.targets = tokens[1: batch_size * length + 1].view(batch_size, length)
        self.seq_len = seq_len
        self.windows = length // seq_len

    # Window `i` (wrapping around): inputs and targets `[batch, seq_len]`, and whether it starts the streams.
    def window(self, i: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        w = i % self.windows
        span = slice(w * self.seq_len, (w + 1) * self.seq_len)
        return self.inputs[:, span], self.targets[:, span], w == 0


def detach_state(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(detach_state(s) for s in state)


# Each step reads the next window, runs the model from the carried state, and takes an Adam step on the mean
# next-character cross-entropy, with the gradient norm clipped. Every `eval_every` steps (and at the last)
# the validation split is measured with [`bits_per_char`](#bits-per-character-on-a-whole-split); the
# returned history holds `loss` (nats, training windows) and `valid_bpc`, and `<name>_bpc` for each further
# text in `also_measure` (`{name: [chars] token ids}`), measured at the same steps.
def train_char_model(model: nn.Module, corpus: CharCorpus, *, steps: int, batch_size: int, seq_len: int,
                     lr: float, eval_every: int, clip_norm: float = 5.0,
                     also_measure: dict[str, torch.Tensor] | None = None) -> History:
    if eval_every <= 0:
        raise ValueError(f"eval_every must be positive, got {eval_every}")
    streams = TextStreams(corpus.train, batch_size, seq_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state: Any = None

    def step(i: int) -> dict[str, float]:
        nonlocal state
        model.train()
        inputs, targets, starts = streams.window(i)
        logits, state = model(inputs, None if starts else state)
        state = detach_state(state)
        loss = next_char_loss(logits, targets)
        loss_value = optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=clip_norm)
        metrics = {"loss": loss_value}
        if (i + 1) % eval_every == 0 or i == steps - 1:
            metrics["valid_bpc"] = bits_per_char(model, corpus.valid)
            for name, text in (also_measure or {}).items():
                metrics[f"{name}_bpc"] = bits_per_char(model, text)
        return metrics

    return train_loop(steps, step, log_every=eval_every)
