r"""
---
title: The Unreasonable Effectiveness of Recurrent Neural Networks
summary: A vanilla RNN written from its equation (equal to torch.nn.RNN), character models of Shakespeare
  measured in bits per character against unigram and bigram baselines, temperature sampling, and a
  hidden unit's activation over the text.
---

# The Unreasonable Effectiveness of Recurrent Neural Networks

[Andrej Karpathy, 2015. *The Unreasonable Effectiveness of Recurrent Neural
Networks*](https://karpathy.github.io/2015/05/21/rnn-effectiveness/)

Feed a recurrent network a text one character at a time and train it to predict the next character. That
is all, and yet the network learns spelling, words, punctuation, the layout of a play (a name in capitals,
a colon, a speech, a blank line) and enough style to write pages that look like Shakespeare from far away.
Sampling from it one character at a time, feeding each sample back in as the next input, *generates* text;
a *temperature* trades the safe, repetitive choices for the surprising, error-prone ones.

The network's state is a vector it rewrites at every character. Some of its units become interpretable:
Karpathy found units that track whether the text is inside a quotation, or how far into a line it is.

This page builds:

1. [the vanilla RNN](#the-vanilla-rnn) from its one equation, checked against `torch.nn.RNN`;
2. [a character model](#the-character-model) around either it or the [LSTM](lstm.py);
3. [baselines](#baselines) that count characters and pairs of characters;
4. [temperature sampling](#sampling-with-a-temperature).

The training step and the bits-per-character measurement live in the kit's
[`language_model.py`](../kit/language_model.py), shared with
[RNN regularisation](rnn_regularization.py).

## What the experiment shows

[The experiment](#the-experiment) trains a one-layer LSTM and a vanilla RNN, both with 128 hidden units, for
the same number of steps (600 windows of 32 streams × 64 characters, truncated back-propagation through
time) on the first 500,000 characters of the kit's Shakespeare (the last 10% held out). It measures
validation bits per character against two baselines computed on the same split: a *unigram* model
(character frequencies) and a *bigram* model (the next character's frequency given the current one), both
from training-split counts with add-one (Laplace) smoothing. In the full run (seed 0) the LSTM reaches
2.35 bits per character and the vanilla RNN 2.43, both well below the bigram baseline (3.55) and the unigram
one (4.95); a uniform guess over the 76 characters would cost 6.25. The results hold one seed, so the
0.08-bit gap between LSTM and vanilla RNN is not shown to be more than seed-to-seed noise; the gap of more
than a bit to the bigram baseline is the claim this run supports. Karpathy trained far larger models (a
3-layer LSTM with 512 units per layer on the whole 4.4 MB of Shakespeare) for much longer on a GPU and
reports samples rather than bits per character; this run takes under two minutes on a CPU, so its samples
are Shakespeare-shaped rather than Shakespeare.

![Validation bits per character during training, with the baselines](results/char_rnn.png)

Samples from the LSTM at three temperatures are in the results below. At temperature 0 the model falls into
a loop of its most likely phrase ("the world the world …"); at 0.5 it writes plausible words with
misspellings; at 1 it produces the layout of a play (names in capitals, stage directions in brackets) with
more invented words.

The picture below colours each character of a validation passage by the activation of one hidden unit of
the LSTM (blue negative, red positive). We picked the unit whose activation correlates most with the
position in the line (-0.51). In this one passage it looks more like a speaker detector than a line
counter: it is strongly positive on the speaker's name, the line in capitals that opens each speech, and
negative inside the speech itself, somewhat like Karpathy's cells that know whether they are inside a
quotation. This is read off the picture, not measured (no metric records the unit's activation on name
lines against speech lines).

![A hidden unit's activation over a validation passage](results/char_rnn-unit.png)
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from torch import nn

from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor
from papers.kit.data import CharCorpus, shakespeare
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.language_model import train_char_model
from papers.rnn.lstm import LSTM


# ## The vanilla RNN
#
# One equation, as in Karpathy's `step` function: the new hidden state mixes the previous one with the
# input and squashes the sum,
#
# $$h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b).$$
#
# `input_weights` holds $W_{xh}$ `[hidden, input]` and $b$; `hidden_weights` holds $W_{hh}$
# `[hidden, hidden]`. As for the [LSTM cell](lstm.py), $W_{xh} x_t + b$ can be computed for all steps
# before the loop; only $W_{hh} h_{t-1}$ waits for the previous step.
class RNNCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive("input_size", input_size, integer=True)
        check_positive("hidden_size", hidden_size, integer=True)
        self.hidden_size = hidden_size
        self.input_weights = nn.Linear(input_size, hidden_size)
        self.hidden_weights = nn.Linear(hidden_size, hidden_size, bias=False)
        bound = 1.0 / math.sqrt(hidden_size)  # PyTorch's initialisation for recurrent layers
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        weight = self.input_weights.weight
        sizes = check_tensor("x", x, ["batch", weight.shape[1]], dtype=weight.dtype)
        check_tensor("h", h, ["batch", self.hidden_size], dtype=weight.dtype, sizes=sizes)
        return self.step(self.input_weights(x), h)

    def step(self, x_part: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x_part + self.hidden_weights(h))  # [batch, hidden]


# A stack of RNN layers, batch-first, with the same interface as `torch.nn.RNN`: the state is
# $h$ of every layer `[layers, batch, hidden]`, zero by default.
class RNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        check_positive("num_layers", num_layers, integer=True)
        self.input_size = input_size
        self.hidden_size = hidden_size
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(RNNCell(size, hidden_size) for size in sizes)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = self.cells[0].input_weights.weight.dtype
        sizes = check_tensor("x", x, ["batch", "seq", self.input_size], dtype=dtype)
        if h is None:
            h = x.new_zeros(len(self.cells), sizes["batch"], self.hidden_size)
        check_tensor("h", h, [len(self.cells), "batch", self.hidden_size], dtype=dtype, sizes=sizes)
        layer_input, finals = x, []
        for cell, h_layer in zip(self.cells, h.unbind(0)):
            x_parts = cell.input_weights(layer_input)  # [batch, seq, hidden]
            outputs = []
            for x_part in x_parts.unbind(1):  # [batch, hidden] per step, cut once as in lstm.py's run_layer
                h_layer = cell.step(x_part, h_layer)
                outputs.append(h_layer)
            layer_input = torch.stack(outputs, dim=1)  # [batch, seq, hidden]
            finals.append(h_layer)
        return layer_input, torch.stack(finals)


# ## The character model
#
# Characters in, a distribution over the next character out. Karpathy feeds one-hot vectors; an embedding
# table is the same thing (a one-hot vector times a matrix picks a row of it) without the multiplication.
# The recurrent core is the vanilla RNN above or the LSTM; a linear layer turns each hidden state into
# logits over the vocabulary. `tokens` `[batch, seq]` give logits `[batch, seq, vocab]`.
class CharModel(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int, kind: str = "lstm", num_layers: int = 1) -> None:
        super().__init__()
        cores = {"lstm": LSTM, "rnn": RNN}
        if kind not in cores:
            raise ValueError(f"kind must be one of {sorted(cores)}, got {kind!r}")
        check_positive("vocab_size", vocab_size, integer=True)
        check_positive("hidden_size", hidden_size, integer=True)
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.core = cores[kind](hidden_size, hidden_size, num_layers)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def hidden_states(self, tokens: torch.Tensor, state=None):
        check_ids("tokens", tokens, ["batch", "seq"], self.vocab_size)
        return self.core(self.embed(tokens), state)  # [batch, seq, hidden], state

    def forward(self, tokens: torch.Tensor, state=None):
        hidden, state = self.hidden_states(tokens, state)
        return self.readout(hidden), state  # [batch, seq, vocab], state


# ## Baselines
#
# Two models that only count. The *unigram* model predicts every character with its frequency in the
# training split; the *bigram* model predicts the next character from the frequency of the pair
# (current, next). With add-one smoothing, a count $n$ out of $N$ over a vocabulary of $V$ becomes
# $\frac{n + 1}{N + V}$, so a pair never seen in training still gets a little probability. Both return
# bits per character on `valid`; the bigram model predicts `valid[1:]` from `valid[:-1]`.
def unigram_bpc(train: torch.Tensor, valid: torch.Tensor, vocab_size: int) -> float:
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    log_p = torch.log2(counts / counts.sum())  # [vocab]
    return -log_p[valid].mean().item()


def bigram_bpc(train: torch.Tensor, valid: torch.Tensor, vocab_size: int) -> float:
    pairs = torch.bincount(train[:-1] * vocab_size + train[1:], minlength=vocab_size ** 2)
    counts = pairs.view(vocab_size, vocab_size).double() + 1.0  # [current, next]
    log_p = torch.log2(counts / counts.sum(dim=1, keepdim=True))
    return -log_p[valid[:-1], valid[1:]].mean().item()


# ## Sampling with a temperature
#
# Divide the logits by a temperature $T$ before the softmax, $p_i \propto \exp(z_i / T)$. At $T = 1$ this
# is the model's own distribution; below 1 it sharpens towards the most likely character (and at $T = 0$
# we take the arg-max); above 1 it flattens towards uniform. `logits` `[batch, vocab]` give one character
# per row `[batch]`. Subtracting each row's largest logit first changes no probability, and keeps $z_i / T$
# from overflowing when $T$ is tiny: then the sample is the arg-max, as at $T = 0$.
def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    check_in_range("temperature", temperature, 0, math.inf, high_open=True)
    check_tensor("logits", logits, ["batch", "vocab"])
    top = logits.max(dim=-1, keepdim=True).values  # [batch, 1]; NaN if the row has a NaN
    if not top.isfinite().all():
        raise ValueError(f"logits must have no NaN or +inf and a finite value in every row, got maxima "
                         f"{top.squeeze(-1).tolist()}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probabilities = F.softmax((logits - top) / temperature, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


# Generate `length` characters after a `prime` text: read the prime, then feed each sample back in.
@torch.no_grad()
def generate(model: CharModel, corpus: CharCorpus, prime: str, length: int, temperature: float,
             generator: torch.Generator) -> str:
    if not prime:
        raise ValueError("prime must be a non-empty text")
    check_positive("length", length, integer=True)
    model.eval()
    logits, state = model(corpus.encode(prime)[None], None)
    out = []
    for _ in range(length):
        token = sample_next(logits[:, -1], temperature, generator)  # [1]
        out.append(token)
        logits, state = model(token[None], state)
    return corpus.decode(torch.cat(out))


# ## A hidden unit's activation
#
# Run the model over a passage and keep the top layer's hidden state at every character, `[seq, hidden]`.
# To pick a unit without looking, take the one whose activation correlates most (in absolute value) with the
# number of characters since the last line break.
@torch.no_grad()
def line_position_unit(model: CharModel, tokens: torch.Tensor, corpus: CharCorpus) -> tuple[int, float,
                                                                                            torch.Tensor]:
    model.eval()
    hidden, _ = model.hidden_states(tokens[None])
    hidden = hidden[0]  # [seq, hidden]
    position, since_newline = [], 0
    for ch in corpus.decode(tokens):
        since_newline = 0 if ch == "\n" else since_newline + 1
        position.append(since_newline)
    centred = hidden - hidden.mean(dim=0)
    pos = torch.tensor(position, dtype=hidden.dtype)
    pos = pos - pos.mean()
    correlation = (centred * pos[:, None]).sum(0) / (centred.norm(dim=0) * pos.norm() + 1e-12)  # [hidden]
    unit = int(correlation.abs().argmax())
    return unit, correlation[unit].item(), hidden[:, unit]


# ## The experiment
def experiment(config: RunConfig) -> Outcome:
    corpus = shakespeare(max_chars=config.choose(500_000, 200_000))
    hidden = config.choose(128, 64)
    steps = config.train_steps(full=600, quick=150)
    baselines = {
        "unigram": unigram_bpc(corpus.train, corpus.valid, corpus.vocab_size),
        "bigram": bigram_bpc(corpus.train, corpus.valid, corpus.vocab_size),
    }
    models, histories = {}, {}
    for kind in ("lstm", "rnn"):
        torch.manual_seed(config.seed)
        models[kind] = CharModel(corpus.vocab_size, hidden, kind)
        histories[kind] = train_char_model(models[kind], corpus, steps=steps, batch_size=32, seq_len=64,
                                           lr=config.choose(3e-3, 1e-2),
                                           eval_every=config.choose(100, 50))
    bpc = {kind: histories[kind].last("valid_bpc") for kind in models}
    generator = torch.Generator().manual_seed(config.seed)
    samples = {f"temperature_{t}": generate(models["lstm"], corpus, "ROMEO:\n", config.choose(300, 60), t,
                                            generator) for t in (0.0, 0.5, 1.0)}
    passage = corpus.valid[:config.choose(480, 120)]
    unit, correlation, activation = line_position_unit(models["lstm"], passage, corpus)
    metrics = {
        "chars": len(corpus.train) + len(corpus.valid),
        "vocab_size": corpus.vocab_size,
        "hidden_size": hidden,
        "train_steps": steps,
        "valid_bpc_lstm": round(bpc["lstm"], 3),
        "valid_bpc_rnn": round(bpc["rnn"], 3),
        "valid_bpc_unigram": round(baselines["unigram"], 3),
        "valid_bpc_bigram": round(baselines["bigram"], 3),
        "uniform_bpc": round(math.log2(corpus.vocab_size), 3),
        "line_position_unit": unit,
        "line_position_correlation": round(correlation, 3),
        "samples": samples,
    }
    headline = (f"Validation bits per character: LSTM {bpc['lstm']:.2f}, vanilla RNN {bpc['rnn']:.2f}, "
                f"bigram {baselines['bigram']:.2f}, unigram {baselines['unigram']:.2f}.")
    figures = {"": _curves_figure(histories, baselines),
               "unit": _unit_figure(corpus.decode(passage), activation, unit, correlation)}
    return Outcome(headline, metrics, figures)


def _curves_figure(histories: dict, baselines: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for kind, label in (("lstm", "LSTM"), ("rnn", "vanilla RNN")):
        ax.plot(histories[kind].steps("valid_bpc"), histories[kind].values("valid_bpc"), marker="o",
                label=label)
    for name, style in (("bigram", "--"), ("unigram", ":")):
        ax.axhline(baselines[name], color="grey", linestyle=style, label=f"{name} (add-one)")
    ax.set(xlabel="training step", ylabel="validation bits per character",
           title="Character model of Shakespeare")
    ax.legend()
    fig.tight_layout()
    return fig


# Karpathy-style: each character on a coloured tile, red for positive activation, blue for negative.
def _unit_figure(text: str, activation: torch.Tensor, unit: int, correlation: float,
                 columns: int = 60) -> plt.Figure:
    rows, row, col = [], 0, 0
    for ch in text:
        rows.append((row, col))
        row, col = (row + 1, 0) if ch == "\n" or col == columns - 1 else (row, col + 1)
    fig, ax = plt.subplots(figsize=(columns * 0.16, (row + 1) * 0.3 + 0.6))
    cmap = colormaps["RdBu_r"]
    for ch, (r, c), a in zip(text, rows, activation.tolist()):
        ax.add_patch(plt.Rectangle((c, -r - 1), 1, 1, color=cmap((a + 1) / 2)))
        ax.text(c + 0.5, -r - 0.5, "⏎" if ch == "\n" else ch, ha="center", va="center",
                fontsize=8, family="monospace")
    ax.set(xlim=(0, columns), ylim=(-row - 1, 0),
           title=f"Hidden unit {unit} (correlation with position in line {correlation:+.2f})")
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
