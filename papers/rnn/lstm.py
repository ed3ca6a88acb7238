r"""
---
title: Understanding LSTM Networks
summary: The LSTM cell written gate by gate from its equations, equal to torch.nn.LSTM and labml-nn's LSTM,
  and a long-lag recall task that an LSTM learns and a vanilla RNN with as many parameters does not.
---

# Understanding LSTM Networks

[Christopher Olah, 2015. *Understanding LSTM
Networks*](https://colah.github.io/posts/2015-08-Understanding-LSTMs/), explaining [Hochreiter and
Schmidhuber, 1997. *Long Short-Term Memory*. Neural Computation 9(8)](https://doi.org/10.1162/neco.1997.9.8.1735)
(with the forget gate of Gers, Schmidhuber and Cummins, 2000, that every LSTM now has).

A vanilla recurrent network keeps one state vector and rewrites all of it at every step,
$h_t = \tanh(W_h h_{t-1} + W_x x_t + b)$. What it saw fifty steps ago survives only through fifty
multiplications by $W_h$ and fifty $\tanh$ derivatives, so its influence, and the gradient that could teach
the network to keep it, shrinks (or blows up) geometrically with the distance. Learning to remember something
for a long time is then nearly impossible.

The LSTM adds a second state, the *cell state* $C_t$, that runs along the sequence with only element-wise,
*gated* changes: at each step a *forget gate* decides how much of each cell unit to keep, an *input gate*
how much of a new *candidate* to add. Nothing multiplies the cell state by a matrix. When the forget gate is
near 1 and the input gate near 0, $C_t = C_{t-1}$ and the memory (and its gradient) passes through
unchanged, for as long as the gates say so. An *output gate* decides what of the cell to show as the
hidden state $h_t$.

[The tests](../../tests/rnn/test_lstm.py) check the cell and the multi-layer LSTM against PyTorch's
`torch.nn.LSTM` and labml-nn's `LSTM` with copied weights: outputs, final states and every gradient, in
`float64`.

## What the experiment shows

[The experiment](#the-experiment) is Hochreiter and Schmidhuber's long-time-lag task in miniature. A
sequence starts with one of 4 *target* symbols, continues with random *noise* symbols, and ends with a
*query* symbol; at the query the network must name the first symbol. As in their experiments, every
training sequence has a long lag: the number of noise steps is drawn between 20 and 40 for each batch.
An LSTM of 32 units and a vanilla `tanh` RNN (PyTorch's `nn.RNN`; the [char-RNN page](char_rnn.py) writes
one from its equation) of 68 units, so that both have about 5,500 parameters (an RNN of 32 units would
have about 1,500), get the same data, optimiser and number of updates (500 batches of 64), and the same
small learning-rate sweep: each is trained at 0.003 and at 0.01 and keeps the rate that recalls better on
validation sequences. Each is trained with 3 seeds.

![Recall accuracy by lag, and the gradient of the loss with respect to the first input](results/lstm.png)

Trained on long lags only, the LSTM learns to recall the first symbol, and still recalls it at lags of 100,
longer than any it was trained on. The vanilla RNN does not learn the task: its recall stays near the 25%
of guessing. The results below give each seed's recall, averaged over the test lags, for every arm.

That is not because a vanilla RNN cannot *hold* a symbol for 100 steps. The same RNN trained on lags of 1
to 10 only (orange) recalls the first symbol at every test lag, 100 included: what it learns on short
sequences keeps working on long ones. (The tests check this control.) That shortcut is why every
training lag here is long: an earlier version of this page drew them from 1 to 60, and on some seeds the
RNN then learnt the task as well as the LSTM, which said nothing about long lags. With every lag at 20 or
more, the only lesson comes from the far end of a long sequence, and that is what the RNN cannot *learn*
from.

The right panel shows why. It is the size of the gradient of the loss with respect to the first input,
$\lVert \partial \ell / \partial x_1 \rVert$, against the lag, for the networks before training (dashed)
and after (solid). Before training, the RNN's gradient shrinks geometrically with the lag, by a factor of
roughly 0.6 per step (`memory_decay_per_step_untrained` in the results measures it between lags 10 and
40), so across 20 steps it loses four to five orders of magnitude, and across 40 twice that: almost
nothing of the error at the query reaches the first symbol to teach the network to keep it.

The LSTM's gradient before training hardly shrinks at all (a factor close to 1 per step), because its forget
gates start open. That initialisation is what makes the difference here. The LSTM whose forget biases start at
exactly 0 (cyan; PyTorch's initialisation puts them near 0) loses its gradient before training about as fast
as the RNN, by a factor of roughly 0.6 to 0.7 per step, and in the recorded run it did not learn these lags in this
budget either: its recall stayed near chance, like the RNN's (the results give it for every seed). So the
LSTM's advantage is a path along which the memory and its gradient pass unchanged *when the gates are open*,
and an LSTM whose gates start half shut does not find it from long lags alone. The vanilla RNN was given no
comparable help: initialising its recurrent weights at the identity, as Le, Jaitly and Hinton (2015) do for
ReLU RNNs, would be the analogue, and is not tried here.
"""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.training import optimizer_step, train_loop

# The state of one LSTM layer: the hidden state $h$ and the cell state $C$, each `[batch, hidden]`.
LSTMState = tuple[torch.Tensor, torch.Tensor]


# ## The LSTM cell
#
# Olah writes each gate as a sigmoid layer that looks at the previous hidden state and the current input,
# $\sigma(W \cdot [h_{t-1}, x_t] + b)$. Splitting $W$ into the part that multiplies $x_t$ and the part that
# multiplies $h_{t-1}$, and stacking the four gates' weights into one matrix each, one step is:
#
# $$
# \begin{aligned}
# f_t &= \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f) && \text{forget gate: what of } C_{t-1} \text{ to keep} \\
# i_t &= \sigma(W_{xi} x_t + W_{hi} h_{t-1} + b_i) && \text{input gate: how much of the candidate to add} \\
# \tilde{C}_t &= \tanh(W_{xC} x_t + W_{hC} h_{t-1} + b_C) && \text{candidate values} \\
# o_t &= \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o) && \text{output gate: what of the cell to show} \\
# C_t &= f_t \odot C_{t-1} + i_t \odot \tilde{C}_t && \text{the new cell state} \\
# h_t &= o_t \odot \tanh(C_t) && \text{the new hidden state}
# \end{aligned}
# $$
#
# $\odot$ is the element-wise product. The only path from $C_{t-1}$ to $C_t$ is the multiplication by
# $f_t$: that is the "conveyor belt" of Olah's diagrams.
class LSTMCell(nn.Module):
    """One LSTM step. `input_weights` holds $[W_{xf}; W_{xi}; W_{xC}; W_{xo}]$ `[4 * hidden, input]` and the
    biases; `hidden_weights` holds $[W_{hf}; W_{hi}; W_{hC}; W_{ho}]$ `[4 * hidden, hidden]`."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive("input_size", input_size, integer=True)
        check_positive("hidden_size", hidden_size, integer=True)
        self.hidden_size = hidden_size
        self.input_weights = nn.Linear(input_size, 4 * hidden_size)
        self.hidden_weights = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        # PyTorch's initialisation for recurrent layers: every weight uniform in
        # $[-1/\sqrt{\text{hidden}}, 1/\sqrt{\text{hidden}}]$.
        bound = 1.0 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    # One step from the input $x_t$ `[batch, input]`.
    def forward(self, x: torch.Tensor, state: LSTMState) -> LSTMState:
        weight = self.input_weights.weight
        sizes = check_tensor("x", x, ["batch", weight.shape[1]], dtype=weight.dtype)
        check_tensor("state[0]", state[0], ["batch", self.hidden_size], dtype=weight.dtype, sizes=sizes)
        check_tensor("state[1]", state[1], ["batch", self.hidden_size], dtype=weight.dtype, sizes=sizes)
        return self.step(self.input_weights(x), state)

    # One step from the input's part of the pre-activations, $W_x x_t + b$ `[batch, 4 * hidden]`. The
    # [layer](#the-lstm-layer) computes that part for all steps at once: it does not depend on the state.
    def step(self, x_part: torch.Tensor, state: LSTMState) -> LSTMState:
        h, c = state  # [batch, hidden] each
        z = x_part + self.hidden_weights(h)  # [batch, 4 * hidden]
        z_f, z_i, z_c, z_o = z.chunk(4, dim=-1)
        forget = torch.sigmoid(z_f)
        input_gate = torch.sigmoid(z_i)
        candidate = torch.tanh(z_c)
        output_gate = torch.sigmoid(z_o)
        c = forget * c + input_gate * candidate
        h = output_gate * torch.tanh(c)
        return h, c

    def zero_state(self, batch_size: int, like: torch.Tensor) -> LSTMState:
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return zeros, zeros


# ## The LSTM layer
#
# A layer runs its cell along the sequence, `[batch, seq, input]` to `[batch, seq, hidden]`, carrying the
# state from step to step. The input's contribution to the gates, $W_x x_t + b$, is computed for every step
# in one matrix product before the loop; only $W_h h_{t-1}$ has to wait for the previous step.
#
# `unbind(1)` cuts that product into its steps once. Indexing `x_parts[:, t]` inside the loop would compute
# the same thing, but the backward pass of each index writes its step's gradient into a zero-filled tensor
# of the whole `[batch, seq, 4 * hidden]`: one such fill per step took more than half the time of a
# training step. The backward pass of `unbind` stacks the steps' gradients once. A forward and backward
# pass is then about 1.2 to 1.5 times as slow as `torch.nn.LSTM`'s, which runs the same loop in C++
# (`scripts/bench_modules.py` measures it).
def run_layer(cell: LSTMCell, inputs: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
    x_parts = cell.input_weights(inputs)  # [batch, seq, 4 * hidden]
    outputs = []
    for x_part in x_parts.unbind(1):  # [batch, 4 * hidden] for each step
        state = cell.step(x_part, state)
        outputs.append(state[0])
    return torch.stack(outputs, dim=1), state  # [batch, seq, hidden]


# ## The multi-layer LSTM
#
# Layers are stacked: the hidden states of layer $l$ are the inputs of layer $l + 1$, and the output is the
# top layer's hidden state at every step. The state is the pair $(h, C)$ of every layer, each
# `[layers, batch, hidden]`, as in `torch.nn.LSTM`; by default it starts at zero. Unlike `torch.nn.LSTM`'s
# default, tensors here are batch-first.
class LSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        check_positive("num_layers", num_layers, integer=True)
        self.input_size = input_size
        self.hidden_size = hidden_size
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(LSTMCell(size, hidden_size) for size in sizes)

    def forward(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        self._check(x, state)
        if state is None:
            states = [cell.zero_state(x.shape[0], x) for cell in self.cells]
        else:
            states = list(zip(state[0].unbind(0), state[1].unbind(0)))
        layer_input = x  # [batch, seq, input]
        final_states = []
        for cell, layer_state in zip(self.cells, states):
            layer_input, final_state = run_layer(cell, layer_input, layer_state)  # [batch, seq, hidden]
            final_states.append(final_state)
        h = torch.stack([s[0] for s in final_states])  # [layers, batch, hidden]
        c = torch.stack([s[1] for s in final_states])  # [layers, batch, hidden]
        return layer_input, (h, c)

    def _check(self, x: torch.Tensor, state: LSTMState | None) -> None:
        dtype = self.cells[0].input_weights.weight.dtype
        sizes = check_tensor("x", x, ["batch", "seq", self.input_size], dtype=dtype)
        if state is not None:
            for name, part in (("state[0]", state[0]), ("state[1]", state[1])):
                check_tensor(name, part, [len(self.cells), "batch", self.hidden_size], dtype=dtype, sizes=sizes)


# ## The long-lag recall task
#
# A sequence is one of `TARGETS` target symbols, then `lag` noise symbols drawn from `NOISE` others, then the
# query symbol; the answer is the first symbol. Inputs are one-hot vectors `[batch, lag + 2, vocab]`, so we
# can ask for the gradient of the loss with respect to an input; targets are `[batch]` in `0 … TARGETS-1`.
TARGETS, NOISE = 4, 4
VOCAB = TARGETS + NOISE + 1
QUERY = VOCAB - 1


def recall_batch(batch_size: int, lag: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if batch_size <= 0 or lag < 0:
        raise ValueError(f"need batch_size > 0 and lag >= 0, got {batch_size}, {lag}")
    first = torch.randint(0, TARGETS, (batch_size,), generator=generator)
    noise = torch.randint(TARGETS, TARGETS + NOISE, (batch_size, lag), generator=generator)
    query = torch.full((batch_size, 1), QUERY)
    tokens = torch.cat([first[:, None], noise, query], dim=1)  # [batch, lag + 2]
    return F.one_hot(tokens, VOCAB).float(), first


# ## The networks
#
# The same read-out on top of either our LSTM or PyTorch's vanilla `tanh` RNN,
# $h_t = \tanh(W_{x} x_t + b_{x} + W_{h} h_{t-1} + b_{h})$. The answer is read from the hidden state at the
# query step.
#
# Two choices keep the comparison fair. *Size*: an LSTM unit has four sets of weights where an RNN unit has
# one, so at the same width the RNN would have about a quarter of the LSTM's parameters. The LSTM has
# `HIDDEN` units and the RNN the [width](#matched_rnn_width) at which its parameter count first reaches the
# LSTM's. *Initialisation*: the forget gates' biases start at `forget_bias`. PyTorch's initialisation puts
# them near 0, so $f_t \approx \sigma(0) = 0.5$ and an untrained LSTM forgets half its cell at every step;
# the experiment starts them at 2 ($f_t \approx 0.88$), as Gers, Schmidhuber and Cummins (2000) advise
# positive forget biases and Jozefowicz, Zaremba and Sutskever (2015) found a bias of 1 to help. (The 1997
# LSTM had no forget gate: $f_t = 1$.) The experiment also trains the LSTM with biases at 0, to measure what
# this choice is worth. The RNN keeps PyTorch's initialisation.
HIDDEN = 32


class Recaller(nn.Module):
    def __init__(self, kind: str, hidden_size: int, forget_bias: float = 0.0) -> None:
        super().__init__()
        if kind not in ("lstm", "rnn"):
            raise ValueError(f"kind must be 'lstm' or 'rnn', got {kind!r}")
        if kind == "lstm":
            self.core = LSTM(VOCAB, hidden_size)
            with torch.no_grad():
                for cell in self.core.cells:  # the forget gate's rows come first: (f, i, C~, o)
                    cell.input_weights.bias[:hidden_size].fill_(forget_bias)
        else:
            self.core = nn.RNN(VOCAB, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, TARGETS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.core(x)  # [batch, seq, hidden]
        return self.readout(outputs[:, -1])  # [batch, TARGETS]


def parameter_count(kind: str, hidden_size: int) -> int:
    return sum(p.numel() for p in Recaller(kind, hidden_size).parameters())


# <a id="matched_rnn_width"></a>
# The narrowest RNN with at least as many parameters as the LSTM with `lstm_hidden` units.
def matched_rnn_width(lstm_hidden: int) -> int:
    target = parameter_count("lstm", lstm_hidden)
    return next(h for h in itertools.count(lstm_hidden) if parameter_count("rnn", h) >= target)


# ## The arms of the experiment
#
# An *arm* is a network and the range of lags it is trained on. Every training sequence of the main arms has a
# lag of at least 20 noise steps, as every sequence of Hochreiter and Schmidhuber's task had a long lag: a
# network that solves it must carry the first symbol across 20 or more steps, and the gradient that teaches it
# to must cross them too. With short lags in the training mix, a vanilla RNN can instead learn to hold the
# symbol from sequences where the gradient has only a few steps to cross, and then hold it for longer at test
# time: the `rnn_short_lags` arm, trained on lags of 1 to 10 only, measures that shortcut.
class Arm(NamedTuple):
    kind: str
    min_lag: int
    max_lag: int
    forget_bias: float = 0.0


ARMS = {
    "lstm": Arm("lstm", 20, 40, forget_bias=2.0),
    "rnn": Arm("rnn", 20, 40),
    "lstm_forget_bias_0": Arm("lstm", 20, 40),
    "rnn_short_lags": Arm("rnn", 1, 10),
}


def arm_width(arm: Arm) -> int:
    return HIDDEN if arm.kind == "lstm" else matched_rnn_width(HIDDEN)


# Training: Adam at learning rate `lr`, gradient clipping, batches of 64 and a lag drawn uniformly from
# `arm.min_lag` to `arm.max_lag` for each batch.
def train_recaller(arm: Arm, steps: int, lr: float, seed: int) -> Recaller:
    torch.manual_seed(seed)
    model = Recaller(arm.kind, arm_width(arm), arm.forget_bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    data = torch.Generator().manual_seed(seed)

    def step(_: int) -> dict[str, float]:
        lag = int(torch.randint(arm.min_lag, arm.max_lag + 1, (1,), generator=data))
        x, target = recall_batch(64, lag, data)
        loss = F.cross_entropy(model(x), target)
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}

    train_loop(steps, step, log_every=100)
    return model


# Recall accuracy on `n` fresh sequences of one lag. Test sequences and the validation sequences that choose
# the learning rate come from different generators (`split` 0 and 1), and neither from the training data's.
@torch.no_grad()
def recall_accuracy(model: Recaller, lag: int, seed: int, n: int = 1000, split: int = 0) -> float:
    x, target = recall_batch(n, lag, torch.Generator().manual_seed(10_000 + 1_000_000 * split + 1000 * seed + lag))
    return (model(x).argmax(dim=-1) == target).float().mean().item()


def validation_recall(model: Recaller, arm: Arm, seed: int) -> float:
    lags = (arm.min_lag, (arm.min_lag + arm.max_lag) // 2, arm.max_lag)
    return sum(recall_accuracy(model, lag, seed, split=1) for lag in lags) / len(lags)


# ## The gradient with respect to the first input
#
# How much can the loss at the query step teach the network about the first symbol? The mean over a batch of
# $\lVert \partial \ell / \partial x_1 \rVert$, where $\ell$ is the cross-entropy of one sequence.
def first_input_gradient(model: Recaller, lag: int, seed: int, n: int = 256) -> float:
    x, target = recall_batch(n, lag, torch.Generator().manual_seed(20_000 + seed + lag))
    x.requires_grad_(True)
    loss = F.cross_entropy(model(x), target, reduction="sum")  # sum: each sequence's own gradient
    (grad,) = torch.autograd.grad(loss, x)  # [n, lag + 2, VOCAB]
    return grad[:, 0].norm(dim=-1).mean().item()


# How fast an untrained network forgets: the factor by which that gradient shrinks per step of lag,
# $(g_{40} / g_{10})^{1/30}$ for the gradients $g$ at lags 10 and 40.
def memory_decay_per_step(model: Recaller, seed: int, short: int = 10, long: int = 40) -> float:
    ratio = first_input_gradient(model, long, seed) / first_input_gradient(model, short, seed)
    return ratio ** (1 / (long - short))


# ## One arm over seeds and learning rates
#
# Each arm is trained at every learning rate of a small sweep and every seed. The learning rate with the best
# mean validation recall (at the arm's own training lags) is the arm's; its test recall, at the test lags, is
# reported per seed. Every arm gets the same sweep, steps and data.
def run_arm(arm: Arm, rates: list[float], seeds: list[int], steps: int, test_lags: list[int]) -> dict:
    models = {(lr, seed): train_recaller(arm, steps, lr, seed) for lr in rates for seed in seeds}
    validation = {lr: sum(validation_recall(models[lr, s], arm, s) for s in seeds) / len(seeds) for lr in rates}
    best = max(rates, key=lambda lr: validation[lr])  # the first of equals
    by_seed_and_lag = [[recall_accuracy(models[best, s], lag, s) for lag in test_lags] for s in seeds]
    return {"validation": validation, "lr": best, "by_seed_and_lag": by_seed_and_lag,
            "model": models[best, seeds[0]]}


# ## The experiment
#
# The full run trains every arm at both learning rates with seeds `config.seed` to `config.seed + 2`. The
# quick run that the tests use trains one seed at one learning rate, and leaves out the LSTM with forget
# biases at 0. Gradients are measured on the first seed's models, and on untrained ones.
def experiment(config: RunConfig) -> Outcome:
    seeds = [config.seed + i for i in range(config.choose(3, 1))]
    rates = config.choose([3e-3, 1e-2], [3e-3])
    arms = config.choose(ARMS, {name: ARMS[name] for name in ("lstm", "rnn", "rnn_short_lags")})
    steps = config.train_steps(full=500, quick=300)
    test_lags = config.choose([20, 30, 40, 60, 80, 100], [30, 60, 100])
    gradient_lags = config.choose([1, 2, 5, 10, 20, 30, 40, 60, 80, 100], [10, 40])
    runs = {name: run_arm(arm, rates, seeds, steps, test_lags) for name, arm in arms.items()}
    recall = {name: [sum(row) / len(row) for row in run["by_seed_and_lag"]] for name, run in runs.items()}
    gradients, decay = {}, {}
    for name in ("lstm", "rnn"):
        gradients[name] = [first_input_gradient(runs[name]["model"], lag, config.seed) for lag in gradient_lags]
    for name in [name for name in arms if name != "rnn_short_lags"]:
        torch.manual_seed(config.seed)
        untrained = Recaller(arms[name].kind, arm_width(arms[name]), arms[name].forget_bias)
        gradients[f"{name}_untrained"] = [first_input_gradient(untrained, lag, config.seed) for lag in gradient_lags]
        decay[name] = memory_decay_per_step(untrained, config.seed)
    metrics = {
        "seeds": seeds,
        "train_steps": steps,
        "chance": 1 / TARGETS,
        "hidden_size": {"lstm": HIDDEN, "rnn": matched_rnn_width(HIDDEN)},
        "parameters": {kind: parameter_count(kind, width) for kind, width in
                       (("lstm", HIDDEN), ("rnn", matched_rnn_width(HIDDEN)))},
        "parameters_rnn_at_lstm_width": parameter_count("rnn", HIDDEN),
        "train_lags": {name: [arm.min_lag, arm.max_lag] for name, arm in arms.items()},
        "learning_rates": rates,
        "validation_recall": {name: {str(lr): round(v, 3) for lr, v in run["validation"].items()}
                              for name, run in runs.items()},
        "learning_rate": {name: run["lr"] for name, run in runs.items()},
        "test_lags": test_lags,
        "recall": {name: [round(r, 3) for r in values] for name, values in recall.items()},
        "recall_mean": {name: round(sum(values) / len(values), 3) for name, values in recall.items()},
        "recall_range": {name: [round(min(values), 3), round(max(values), 3)] for name, values in recall.items()},
        "recall_by_lag": {name: [round(sum(col) / len(col), 3) for col in zip(*run["by_seed_and_lag"])]
                          for name, run in runs.items()},
        "memory_decay_per_step_untrained": {name: round(d, 3) for name, d in decay.items()},
        "gradient_lags": gradient_lags,
        "first_input_gradient": {k: [float(f"{g:.3g}") for g in v] for k, v in gradients.items()},
    }
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


def _headline(metrics: dict) -> str:
    mean, spread = metrics["recall_mean"], metrics["recall_range"]
    lags, seeds = metrics["test_lags"], ", ".join(map(str, metrics["seeds"]))
    parts = [f"{_NAMES[name]} {mean[name]:.0%} ({spread[name][0]:.0%} to {spread[name][1]:.0%})"
             for name in ("lstm", "rnn")]
    return (f"Trained on lags of {metrics['train_lags']['lstm'][0]} to {metrics['train_lags']['lstm'][1]} "
            f"noise steps, mean recall at lags {lags[0]} to {lags[-1]}, seeds {seeds}: "
            + ", ".join(parts) + f" (chance {metrics['chance']:.0%}).")


_NAMES = {"lstm": "LSTM", "rnn": "vanilla RNN", "lstm_forget_bias_0": "LSTM, forget bias 0",
          "rnn_short_lags": "vanilla RNN, trained on lags 1-10"}
_COLORS = {"lstm": "tab:blue", "rnn": "tab:red", "lstm_forget_bias_0": "tab:cyan", "rnn_short_lags": "tab:orange"}


def _figure(metrics: dict) -> plt.Figure:
    fig, (ax_acc, ax_grad) = plt.subplots(1, 2, figsize=(11, 4))
    lags, recall_by_lag = metrics["test_lags"], metrics["recall_by_lag"]
    for name, values in recall_by_lag.items():
        control = name == "rnn_short_lags"  # dashed, so that it does not hide the LSTM's line at 1
        ax_acc.plot(lags, values, marker="s" if control else "o", linestyle="--" if control else "-",
                    fillstyle="none" if control else "full", color=_COLORS[name], label=_NAMES[name])
    ax_acc.axhline(metrics["chance"], color="grey", linestyle=":", label="chance")
    ax_acc.axvspan(*metrics["train_lags"]["lstm"], color="grey", alpha=0.15, label="training lags (main arms)")
    ax_acc.set(xlabel="lag (noise steps)", ylabel=f"recall, mean over {len(metrics['seeds'])} seeds",
               title="Recalling the first symbol", ylim=(0, 1.05))
    ax_acc.legend(fontsize=8)
    for key, values in metrics["first_input_gradient"].items():
        name = key.removesuffix("_untrained")
        style = "--" if key.endswith("_untrained") else "-"
        state = "untrained" if key.endswith("_untrained") else "trained"
        ax_grad.plot(metrics["gradient_lags"], values, linestyle=style, marker="o" if style == "-" else None,
                     color=_COLORS[name], label=f"{_NAMES[name]}, {state}")
    ax_grad.set(xlabel="lag (noise steps)", ylabel=r"mean $\|\partial \ell / \partial x_1\|$", yscale="log",
                title="Gradient reaching the first input (zeros not drawn)")
    ax_grad.legend(fontsize=8)
    fig.tight_layout()
    return fig

if __name__ == "__main__":
    run_paper(__file__, experiment)
