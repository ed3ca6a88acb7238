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

The network's state is a vector it rewrites at every character. Some of its units become interpretable: the
post shows cells that track whether the text is inside a quotation, or how far into a line it is (figures it
takes from Karpathy, Johnson and Fei-Fei, 2015, whose LSTMs were trained on Tolstoy's *War and Peace* and on
the Linux kernel's source, not on Shakespeare).

This page builds:

1. [the vanilla RNN](#the-vanilla-rnn) from its one equation, checked against `torch.nn.RNN`;
2. [a character model](#the-character-model) around either it or the [LSTM](lstm.py);
3. [baselines](#baselines) that count characters and pairs of characters;
4. [temperature sampling](#sampling-with-a-temperature).

The training step and the bits-per-character measurement live in the kit's
[`language_model.py`](../kit/language_model.py), shared with
[RNN regularisation](rnn_regularization.py).

## What the experiment shows

[The experiment](#the-experiment) trains a one-layer LSTM of 128 units and a vanilla RNN of 240 units, the
narrowest with as many parameters (151,116 and 151,996; an RNN of 128 units would have 52,428), for the same
500 steps of 32 streams × 64 characters (truncated back-propagation through time, about 2.3 passes over the
training text), on the first 500,000 characters of the kit's Shakespeare. The last 10% is held out and cut in
two: a *tuning* half that chooses each model's learning rate (Adam at 0.003 or 0.01, both tried on the first
seed; the LSTM did better at 0.01, the RNN at 0.003) and a *test* half, used only for the numbers below. The
held-out text is the end of *The Comedy of Errors*, whose beginning is in the training text, followed in
the last 1,400 characters of the test half by the title and cast list of *Coriolanus*; whether passages recur
between training and test text is not checked. Two baselines only count, from the training split with add-one (Laplace)
smoothing: a *unigram* model (character frequencies) and a *bigram* model (the next character's frequency
given the current one).

Over three seeds, the LSTM reaches 2.43 bits per character on the test half (2.42 to 2.45) and the vanilla
RNN 2.44 (2.43 to 2.45), both far below the bigram baseline (3.58) and the unigram one (4.92); a uniform guess
over the 76 characters would cost 6.25. **At this scale the LSTM does not beat a vanilla RNN of as many
parameters**: the RNN's excess over the LSTM is 0.006 bits on average and changes sign between seeds (-0.017
to 0.019). What the run supports is the gap of more than a bit to the bigram baseline, that is, that the
networks use more than the last character. Two limits of the comparison: each model's chosen learning rate
is at an edge of the two-rate sweep (the LSTM's the higher, the RNN's the lower), so a wider sweep could move
either; and 500 steps is a short run, with both curves still falling (figure): whether the LSTM pulls ahead
with longer training is not measured here. Karpathy trained far larger models (a 3-layer LSTM with 512 units
per layer on the whole 4.4 MB of Shakespeare) for much longer on a GPU, compares no architectures there and
reports samples rather than bits per character; this run fits in about two and a half CPU minutes, so its
samples are Shakespeare-shaped rather than Shakespeare.

![Bits per character on the tuning half during training, each seed and their mean](results/char_rnn.png)

Samples from the first seed's LSTM at three temperatures are in the results below. At temperature 0 the model
falls into a loop of its most likely phrase ("the world the world …"); at 0.5 it writes plausible words
with misspellings; at 1 it produces the layout of a play (names in capitals, stage directions in brackets)
with more invented words.

**A hidden unit.** For each seed's LSTM, we pick, among its 128 units, the one whose activation correlates
most (in absolute value) with the position in the line on a 3,000-character passage of the tuning half, and
measure that unit's correlation on another 3,000 characters, from the test half, so that choosing the best
of 128 does not inflate it. The chosen unit's correlation there is 0.33 on average over three seeds (0.26
to 0.38), hardly more than the same choice made in the *untrained* network of the same seed, 0.26 (0.23 to
0.31): with this little training, no unit counts the position in the line much better than a random
recurrent network's best one. The chosen unit tracks something else better: the lines in capitals that name
the speaker (a line with letters and no lower-case letter), with a correlation of 0.50 (0.46 to 0.53),
against 0.34 in the untrained networks (0.22 to 0.40). The picture colours each character of the start of the
test passage by that unit's activation in the first seed's LSTM (blue negative, red positive): negative on
the speakers' names and on the stage direction in brackets, the text in capitals, and positive inside the
speeches, more so deeper into a long one; a little like Karpathy's cells that know whether they are inside a
quotation. That reading of the picture is one passage; the correlations above are the measurement.

![A hidden unit's activation over a test passage](results/char_rnn-unit.png)
"""
from __future__ import annotations

import copy
import itertools
import math
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from torch import nn

from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor
from papers.kit.data import CharCorpus, shakespeare
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import bits_per_char, train_char_model
from papers.kit.training import History
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
# `line_position` counts the characters since the last line break; `name_lines` marks the characters of a
# line that has letters and no lower-case letter, the line in capitals that names the speaker.
def line_position(text: str) -> torch.Tensor:
    position, since_newline = [], 0
    for ch in text:
        since_newline = 0 if ch == "\n" else since_newline + 1
        position.append(since_newline)
    return torch.tensor(position, dtype=torch.float32)  # [seq]


def name_lines(text: str) -> torch.Tensor:
    marks = []
    for line in text.split("\n"):
        is_name = any(ch.isalpha() for ch in line) and not any(ch.islower() for ch in line)
        marks.extend([float(is_name)] * (len(line) + 1))  # the line and its line break
    return torch.tensor(marks[:len(text)])  # [seq]


# Pearson's correlation of every unit's activation `[seq, hidden]` with one signal `[seq]`, `[hidden]`.
def correlations(hidden: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    centred = hidden - hidden.mean(dim=0)
    signal = (signal - signal.mean()).to(hidden.dtype)
    return (centred * signal[:, None]).sum(0) / (centred.norm(dim=0) * signal.norm() + 1e-12)


@torch.no_grad()
def hidden_activations(model: CharModel, tokens: torch.Tensor) -> torch.Tensor:
    model.eval()
    hidden, _ = model.hidden_states(tokens[None])
    return hidden[0]  # [seq, hidden]


# To pick a unit without looking, take the one whose activation correlates most (in absolute value) with the
# position in the line on one passage (`select`); its correlation is then *measured* on another passage
# (`measure`), so that picking the best of many units does not inflate it.
def line_position_unit(model: CharModel, corpus: CharCorpus, select: torch.Tensor,
                       measure: torch.Tensor) -> tuple[int, float]:
    on_select = correlations(hidden_activations(model, select), line_position(corpus.decode(select)))
    unit = int(on_select.abs().argmax())
    on_measure = correlations(hidden_activations(model, measure), line_position(corpus.decode(measure)))
    return unit, on_measure[unit].item()


# ## Parameters
#
# The LSTM has four gates where the vanilla RNN has one, so at the same width it has about three times the
# parameters. The RNN it is compared with is the narrowest one with at least as many parameters as the LSTM.
# (Counted on `meta` tensors: nothing is allocated or initialised.)
def parameter_count(vocab_size: int, hidden_size: int, kind: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in CharModel(vocab_size, hidden_size, kind).parameters())


def matched_rnn_width(vocab_size: int, lstm_hidden: int) -> int:
    target = parameter_count(vocab_size, lstm_hidden, "lstm")
    return next(h for h in itertools.count(lstm_hidden) if parameter_count(vocab_size, h, "rnn") >= target)


# ## The experiment
#
# The held-out text (the last 10%) is cut in two halves. The first, the *tuning* half, is measured during
# training and chooses each model's learning rate; the second, the *test* half, is touched only at the end,
# for the numbers the page reports. Each model is trained from the seed's initial weights with Adam,
# batches of 32 streams of 64 characters and gradients clipped to norm 5 (the kit's recipe); the first seed
# is trained at every rate of the sweep, and the rate with the lower tuning bits per character is used for
# the other seeds. The untrained network of each seed is kept as a control for the hidden-unit analysis.
class Run(NamedTuple):
    model: CharModel
    untrained: CharModel
    history: History


def train_run(corpus: CharCorpus, kind: str, hidden: int, lr: float, seed: int, steps: int,
              eval_every: int) -> Run:
    torch.manual_seed(seed)
    model = CharModel(corpus.vocab_size, hidden, kind)
    untrained = copy.deepcopy(model)
    history = train_char_model(model, corpus, steps=steps, batch_size=32, seq_len=64, lr=lr,
                               eval_every=eval_every)
    return Run(model, untrained, history)


def train_arm(corpus: CharCorpus, kind: str, hidden: int, rates: list[float], seeds: list[int], steps: int,
              eval_every: int) -> tuple[dict[float, float], float, dict[int, Run]]:
    sweep = {lr: train_run(corpus, kind, hidden, lr, seeds[0], steps, eval_every) for lr in rates}
    tuning_bpc = {lr: run.history.last("valid_bpc") for lr, run in sweep.items()}
    lr = min(rates, key=lambda rate: tuning_bpc[rate])
    runs = {seeds[0]: sweep[lr]}
    runs.update({seed: train_run(corpus, kind, hidden, lr, seed, steps, eval_every) for seed in seeds[1:]})
    return tuning_bpc, lr, runs


def experiment(config: RunConfig) -> Outcome:
    corpus = shakespeare(max_chars=config.choose(500_000, 200_000))
    half = len(corpus.valid) // 2
    tuning, test = CharCorpus(corpus.vocab, corpus.train, corpus.valid[:half]), corpus.valid[half:]
    lstm_hidden = config.choose(128, 64)
    widths = {"lstm": lstm_hidden, "rnn": matched_rnn_width(corpus.vocab_size, lstm_hidden)}
    steps = config.train_steps(full=500, quick=150)
    rates = config.choose([3e-3, 1e-2], [1e-2])
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    arms = {kind: train_arm(tuning, kind, width, rates, seeds, steps, config.choose(100, 50))
            for kind, width in widths.items()}
    runs = {kind: arm[2] for kind, arm in arms.items()}
    bpc = {kind: {seed: bits_per_char(run.model, test) for seed, run in arm_runs.items()}
           for kind, arm_runs in runs.items()}
    passage = config.choose(3_000, 1_000)
    select, measure = tuning.valid[:passage], test[:passage]
    units = {name: {seed: line_position_unit(getattr(run, name), corpus, select, measure)
                    for seed, run in runs["lstm"].items()} for name in ("model", "untrained")}
    names = name_lines(corpus.decode(measure))
    name_line = {name: {seed: correlations(hidden_activations(getattr(run, name), measure), names)[
        units[name][seed][0]].item() for seed, run in runs["lstm"].items()} for name in ("model", "untrained")}
    first = runs["lstm"][seeds[0]].model
    generator = torch.Generator().manual_seed(config.seed)
    samples = {f"temperature_{t}": generate(first, corpus, "ROMEO:\n", config.choose(300, 60), t, generator)
               for t in (0.0, 0.5, 1.0)}
    metrics = {
        "chars": len(corpus.train) + len(corpus.valid),
        "train_chars": len(corpus.train),
        "tuning_chars": len(tuning.valid),
        "test_chars": len(test),
        "vocab_size": corpus.vocab_size,
        "hidden_size": widths,
        "parameters": {kind: parameter_count(corpus.vocab_size, width, kind) for kind, width in widths.items()},
        "parameters_rnn_at_lstm_width": parameter_count(corpus.vocab_size, lstm_hidden, "rnn"),
        "train_steps": steps,
        "seeds": seeds,
        "learning_rates": rates,
        "tuning_bpc_first_seed": {kind: {str(lr): round(v, 3) for lr, v in arm[0].items()}
                                  for kind, arm in arms.items()},
        "learning_rate": {kind: arm[1] for kind, arm in arms.items()},
        "test_bpc_lstm": over_seeds(bpc["lstm"]),
        "test_bpc_rnn": over_seeds(bpc["rnn"]),
        "test_bpc_rnn_minus_lstm": over_seeds({seed: bpc["rnn"][seed] - bpc["lstm"][seed] for seed in seeds}),
        "test_bpc_unigram": round(unigram_bpc(corpus.train, test, corpus.vocab_size), 3),
        "test_bpc_bigram": round(bigram_bpc(corpus.train, test, corpus.vocab_size), 3),
        "uniform_bpc": round(math.log2(corpus.vocab_size), 3),
        "unit_passage_chars": passage,
        "line_position_unit": {str(seed): unit for seed, (unit, _) in units["model"].items()},
        "line_position_correlation_trained": over_seeds({s: abs(c) for s, (_, c) in units["model"].items()}),
        "line_position_correlation_untrained": over_seeds({s: abs(c) for s, (_, c) in units["untrained"].items()}),
        "name_line_correlation_trained": over_seeds({s: abs(c) for s, c in name_line["model"].items()}),
        "name_line_correlation_untrained": over_seeds({s: abs(c) for s, c in name_line["untrained"].items()}),
        "samples": samples,
    }
    figures = {"": _curves_figure(runs, tuning), "unit": _unit_figure(first, corpus, test[:config.choose(480, 120)],
                                                                     units["model"][seeds[0]])}
    return Outcome(_headline(metrics), metrics, figures)


def _headline(metrics: dict) -> str:
    lstm, rnn = metrics["test_bpc_lstm"], metrics["test_bpc_rnn"]
    return (f"Test bits per character, mean of {len(metrics['seeds'])} seeds: LSTM {lstm['mean']:.2f} "
            f"({lstm['min']:.2f}-{lstm['max']:.2f}), vanilla RNN of as many parameters {rnn['mean']:.2f} "
            f"({rnn['min']:.2f}-{rnn['max']:.2f}), bigram {metrics['test_bpc_bigram']:.2f}, "
            f"unigram {metrics['test_bpc_unigram']:.2f}.")


# Each seed's validation curve on the tuning half as a faint line, their mean as a bold one, with the
# counting baselines measured on the same half.
def _curves_figure(runs: dict[str, dict[int, Run]], tuning: CharCorpus) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (kind, label), color in zip((("lstm", "LSTM"), ("rnn", "vanilla RNN (as many parameters)")), ("C0", "C1")):
        histories = [run.history for run in runs[kind].values()]
        steps = histories[0].steps("valid_bpc")
        curves = torch.tensor([history.values("valid_bpc") for history in histories])  # [seeds, evaluations]
        for curve in curves:
            ax.plot(steps, curve.tolist(), color=color, alpha=0.3, linewidth=1)
        ax.plot(steps, curves.mean(dim=0).tolist(), marker="o", color=color, label=label)
    baselines = {"bigram": bigram_bpc(tuning.train, tuning.valid, tuning.vocab_size),
                 "unigram": unigram_bpc(tuning.train, tuning.valid, tuning.vocab_size)}
    for name, style in (("bigram", "--"), ("unigram", ":")):
        ax.axhline(baselines[name], color="grey", linestyle=style, label=f"{name} (add-one)")
    ax.set(xlabel="training step", ylabel="bits per character (tuning half)",
           title="Character model of Shakespeare")
    ax.legend()
    fig.tight_layout()
    return fig


# Karpathy-style: each character on a coloured tile, red for positive activation, blue for negative.
def _unit_figure(model: CharModel, corpus: CharCorpus, tokens: torch.Tensor, unit_and_correlation: tuple[int, float],
                 columns: int = 60) -> plt.Figure:
    unit, correlation = unit_and_correlation
    text, activation = corpus.decode(tokens), hidden_activations(model, tokens)[:, unit]
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
           title=f"Hidden unit {unit} (correlation with position in line {correlation:+.2f} on the test passage)")
    ax.axis("off")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
