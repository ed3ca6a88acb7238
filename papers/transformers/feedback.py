r"""
---
title: "Feedback Transformer: every layer reads the top of the past"
summary: The Feedback Transformer's step-by-step recurrence, checked against its equations and labml-nn; on a
  walk around a cycle it tracks the position that a standard transformer of the same size and span cannot
  see, at a training step about 3 to 9 times slower on one CPU thread.
---

# Feedback Transformer

[Fan, Lavril, Grave, Joulin, Sukhbaatar, 2020. *Addressing Some Limitations of Transformers with Feedback
Memory*](https://arxiv.org/abs/2002.09402)

In a standard transformer, layer $l$ at step $t$ attends to layer $l - 1$ of the earlier steps. The
representation a higher layer has already built for step $t - 1$ never reaches the lower layers of step
$t$: the depth of computation over time is bounded by the number of layers, and with an attention span of
$w$ the model's reach is $N w$ steps for $N$ layers. Fan et al. replace every layer's keys and values by
one *memory* vector per past step, the softmax-weighted sum of all of that step's layers,

$$m_t = \sum_{l=0}^{N} \mathrm{softmax}(a)_l\, x_t^l, \qquad
z_t^l = \mathrm{Attn}\big(x_t^l, [m_{t-w}, \dots, m_{t-1}]\big),$$

so the lowest layer of step $t$ reads the highest representations of the past. That is a recurrence: $m_t$
needs every layer of step $t$, and step $t + 1$ needs $m_t$, so training can no longer run the steps in
parallel. In exchange the model can carry a state forward indefinitely, as an RNN does, with a fixed span.

[The tests](../../tests/transformers/test_feedback.py) check the module against a loop written from these
equations (scalar by scalar, in float64, to $10^{-10}$) and against
[labml-nn's Feedback Transformer](https://nn.labml.ai/transformers/feedback/index.html) with copied weights;
that no output depends on a later input; and that the standard model's output at step $t$ is exactly
independent of moves more than $N w$ steps back while the feedback model's is not.

## What the experiment shows

![Accuracy by step of the walk, and the cost of a training step against length](results/feedback.png)

**The task.** A walker on a cycle of 3 positions makes one move per step, $-1$, $0$ or $+1$ at random; the
model reads the moves and must say at every step where the walker stands. Carrying the position and adding
each move solves it exactly; the sum of all the moves is what matters, not the recent ones. Three models of
the same size (2 layers, $d_\text{model} = 32$, 2 heads, $d_\text{ff} = 64$, the same relative attention, no
absolute positions): the Feedback Transformer and a standard transformer, both with span $w = 4$, and a
standard transformer whose span covers the whole walk, as a reference. Each is trained on walks of 16 steps
(300 Adam steps, 128 walks a batch, cross-entropy at every step). The rate is chosen for every arm alike, at
the full 300 steps: seed 0 is trained at each rate of one grid (0.001, 0.003, 0.01), the rate with the best
accuracy on 512 validation walks of 16 (drawn apart from the test walks) is kept, and that seed-0 run is seed
0's run; seeds 1 and 2 then train at the chosen rate. Chosen: 0.001 for the feedback model (0.001 and 0.003
both scored 100.0% on validation, and the tie goes to the first in the grid; 0.01 did not learn), 0.003 for
both standard models (the sweeps are in the results file). All are tested on 512 fresh walks of 16 and of 32
steps. The whole run took 240 s of CPU time at one thread.

**The result.** The Feedback Transformer tracks the position on every seed: 100.0% of the steps right on walks
of 16, and 99.8% on walks of 32, twice the training length (99.4% to 100% over seeds), with 99.7% on the steps
beyond the span-4 standard model's reach. Its training loss leaves the plateau late: the first step with a
loss below 0.1 is step 182, 143 and 175 of 300 on seeds 0, 1 and 2. The standard model of the same size and
span gets 54.9% on walks of 16 and 44.3% on walks of 32; on the steps beyond its reach it is at chance, 33.2%
and 33.1%, as it must be. Its curve (left panel) shows that it does not use all of its reach: it is right at
the first 3 steps and falls to 36% by step 8, though up to step 9 it sees every move of the walk.

**What a standard transformer can do: the full-span reference.** With every move of the walk in view, the
standard architecture does learn the walk, partly: 80.3% on walks of 16 (72.0% to 90.1% over seeds) and 71.0%
on the steps a span-4 model cannot resolve (62.1% to 83.6%), far above chance. It is slightly worse than the
span-4 model at steps 2 to 4 and ahead of it from step 5 to step 25 (left panel, walks of 32, mean of the
seeds). It is not exact: its accuracy falls with the step, from 96% at step 2 to 68% at step 15, its training
loss never gets below 0.1 in 300 steps (final losses 0.52, 0.92 and 0.28 on seeds 0 to 2: noisy, not
converged), and it does not carry over to longer walks: 60.9% on walks of 32 and 50.3% on the steps beyond the
span-4 reach, falling to chance (about 33%) from step 26 on. Part of that is by construction: at walks of 32
its relative attention meets offsets of 16 to 31 steps back, which training on walks of 16 never produced, so
their position vectors are still at their random initial values (Adam moves no entry whose gradient was always
zero). The feedback model never meets an offset larger than its span, at any length. A test checks in
miniature (300 steps, rate 0.003, seed 0) that the full-span model is well above chance beyond the span-4
reach. How far more steps, layers or another rate would take it was not measured here.

**The span-4 baseline's handicap, stated plainly.** With span 4 and 2 layers, the standard model's output at
step $t$ is a function of moves $t - 8 \dots t$ only (a test pins this): from step 10 on (the first move is
step 1) it cannot know the position, whatever its training, and chance is 1 in 3. That handicap is its span,
by construction, not an accident of tuning: the comparison is one of the same size and span, and what it shows
is that at that span feedback memory gives reach the standard model does not have. It is not a measure of
what a standard transformer can do; the full-span reference is. The paper motivates the architecture with
tasks of this kind, where a state must be carried along the sequence, on larger models; this is a miniature,
not a reproduction, and its numbers were not compared with the paper's.

The feedback model's memory leans on its top layer: the learned mixes $\mathrm{softmax}(a)$ of (embedding,
layer 1, layer 2) are (0.27 to 0.29, 0.29 to 0.32, 0.40 to 0.42) over the seeds (in the results file), from a
start at a third each. Whether the position is read out of $m_{t-1}$ and nowhere else was not measured.

**The cost.** CPU time of one training step (forward, backward and Adam on 32 walks, at one thread; right
panel): after one warm-up step of each, 15 feedback steps and 15 standard steps are timed alternately, so
that the machine's load hits both alike. The median feedback step takes 29 ms at 8 steps and 209 ms at 64,
7.1 times as much for 8 times the length, close to the linear growth of a loop over steps with a fixed window;
the standard one takes 8 and 30 ms. The ratio of the two, round by round, ranges over 2.9 to 4.1 at length 8,
4.4 to 6.6 at 16, 5.1 to 9.4 at 32 and 6.0 to 8.7 at 64 (medians 3.5, 5.1, 6.9 and 7.0): the feedback step is
about 3 to 9 times slower here, more so at longer lengths. These are CPU times on a machine shared with other
jobs (load average 11.3 at the end of the run): read the ratios, not the milliseconds.

What the ratio measures: not arithmetic. At $d = 32$ the two models do work of the same order per position
and layer: the feedback step re-projects its $w + 1$ keys and values, about $(w + 1) \cdot 2 d^2$
multiply-adds, where the standard layer projects each position once ($3 d^2$ for query, key and value) and
forms its masked $n \times n$ scores and weighted sums ($2 n d$ per position); the output projection and the
feed-forward layer are the same in both. Counting these, the feedback model does at most about twice the
arithmetic at these lengths. The rest of the measured ratio is the overhead of issuing many small operations:
the feedback model runs sequence length × layers small steps one after another (tensors of 32 walks × 1
position), the standard model a few large ones. So the ratio is a single-thread CPU proxy for the cost of the
lost parallelism, not a measurement on parallel hardware, where the standard model's steps run at once and
the gap would be set by other things. The paper reports that training is slower per step for this reason, and
shares the key and value projections across layers (its Sec. 3.2), so that each memory vector's keys and values
are computed once; that is not done here, so the slowdown measured is that of the plain recurrence. Decoding
one token at a time, which is sequential for both models, was not measured.

**Where this differs from the paper.** Keys and values are not shared across layers; the current step's own
input is one more key (the paper's equation lists only past memories; a switch turns this off, and the
labml-nn test uses it); the memory passes through each layer's attention layer norm; positions are Shaw et
al.'s relative attention, in both models (the paper uses relative position embeddings too, of another form).
"""
from __future__ import annotations

import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.char_transformer import Block
from papers.kit.checks import check_ids, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import optimizer_step, train_loop
from papers.transformers.relative_attention import RelativeAttention


# ## The block
#
# The harness's [pre-norm block](../kit/char_transformer.py), its attention replaced by
# [Shaw et al.'s relative attention](relative_attention.py) with clipping distance `span`: the only place
# where order enters, in both models on this page (neither adds position vectors to its inputs). A model with
# attention span $w$ lets position $t$ see keys $t - w, \dots, t$: $w + 1$ keys, each labelled by its offset.
class SpanBlock(Block):
    def __init__(self, d_model: int, heads: int, d_ff: int, span: int):
        super().__init__(d_model, heads, d_ff, pre_norm=True)
        self.attention = RelativeAttention(d_model, heads, span)


# ## The two models
#
# Both embed the moves (a token each), run $N$ blocks of span $w$, normalise and read out a class per
# position: `tokens` `[batch, seq]` (int64) → logits `[batch, seq, classes]`. They differ only in `encode`,
# which maps the embeddings $x^0$ `[batch, seq, d_model]` to the normalised top layer.
class SpanModel(nn.Module):
    def __init__(self, vocab: int, classes: int, d_model: int, heads: int, d_ff: int, layers: int, span: int):
        super().__init__()
        for name, value in (("vocab", vocab), ("classes", classes), ("layers", layers), ("span", span)):
            check_positive(name, value, integer=True)
        self.span = span
        self.embedding = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(SpanBlock(d_model, heads, d_ff, span) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        check_ids("tokens", tokens, ["batch", "seq"], self.embedding.num_embeddings)
        return self.head(self.encode(self.embedding(tokens)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


# ### The standard transformer
#
# All positions at once: each block attends from $t$ to $t - w \dots t$ of the layer below, through a band
# mask `[1, seq, seq]` (`True` where $0 \le t - \tau \le w$). Layer $l$ at step $t$ sees only layer $l - 1$ of
# the past, so information from more than $N w$ steps back cannot reach the output at all.
class StandardTransformer(SpanModel):
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["batch", "seq", self.embedding.embedding_dim], dtype=self.head.weight.dtype)
        seq = x.shape[1]
        offsets = torch.arange(seq, device=x.device)[:, None] - torch.arange(seq, device=x.device)[None, :]
        band = ((offsets >= 0) & (offsets <= self.span))[None]  # [1, seq, seq]
        for block in self.blocks:
            x = block(x, band)
        return self.final_norm(x)


# ### The Feedback Transformer
#
# Fan et al. (Sec. 3.2) replace the keys and values of every layer by *memory vectors*, one per past step,
# each the softmax-weighted sum of all $N + 1$ representations of that step (the embedding is $l = 0$):
#
# $$m_t = \sum_{l=0}^{N} \mathrm{softmax}(a)_l\, x_t^l, \qquad
# x_t^l = \mathrm{Block}_l\big(x_t^{l-1};\ [m_{t-w}, \dots, m_{t-1}, x_t^{l-1}]\big),$$
#
# with $a \in \mathbb{R}^{N+1}$ learned (started at zero: a plain average). In the pre-norm block,
# $\mathrm{Block}_l(x; C) = y + \mathrm{FF}_l(\mathrm{LN}'_l(y))$ with
# $y = x + \mathrm{Attn}_l(\mathrm{LN}_l(x);\ \mathrm{LN}_l(C))$: the query is the current step's
# normalised input, as in the standard block, and so are the keys and values, except that for the past
# steps they come from the memory instead of from layer $l - 1$. So layer 1 at step $t$ already reads
# the top of step $t - 1$: a recurrence whose state is $m_{t-1}$, which is why the steps must run one
# after another, within each layer stack and from step to step.
#
# Two choices the paper's equation does not fix, each with a switch so that a test can match
# [labml-nn's implementation](https://nn.labml.ai/transformers/feedback/index.html):
#
# * `attend_current` (default on): the paper writes $\mathrm{Attn}(x_t^l, [m_{t-\tau}, \dots, m_{t-1}])$,
#   past memories only; labml-nn does the same and skips attention at $t = 0$, where there is no memory.
#   Here the current step's own input is one more key, as in the standard transformer's self-attention,
#   so both models see $w + 1$ keys ($w$ past ones and the present) and step 0 attends to itself.
# * `normalise_memory` (default on): the memory passes through the layer's attention norm $\mathrm{LN}_l$,
#   like every key of the pre-norm standard block; labml-nn projects the raw memory.
#
# Each layer keeps its own $W_K, W_V$ (the paper's Sec. 3.2; its experiments share them across layers for
# speed, which lets the keys of each $m_t$ be computed once). Here each step re-projects its window of
# $w$ memories in every layer: $O(w\, d^2)$ extra work per step and layer, and no cache to keep.
class FeedbackTransformer(SpanModel):
    def __init__(self, vocab: int, classes: int, d_model: int, heads: int, d_ff: int, layers: int, span: int,
                 attend_current: bool = True, normalise_memory: bool = True):
        super().__init__(vocab, classes, d_model, heads, d_ff, layers, span)
        self.layer_weights = nn.Parameter(torch.zeros(layers + 1))  # a, one logit per layer and the embedding
        self.attend_current = attend_current
        self.normalise_memory = normalise_memory

    # `x` `[batch, seq, d_model]`: step by step, a memory of at most `span` vectors `[batch, d_model]`.
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["batch", "seq", self.embedding.embedding_dim], dtype=self.head.weight.dtype)
        memory: list[torch.Tensor] = []
        outputs = []
        mix = self.layer_weights.softmax(dim=0)  # [layers + 1]
        for t in range(x.shape[1]):
            window = memory[-self.span:]
            states = [x[:, t:t + 1]]  # x_t^0, [batch, 1, d_model]
            for block in self.blocks:
                states.append(self.step(block, states[-1], window, t))
            memory.append(torch.einsum("l,lbd->bd", mix, torch.cat(states, dim=1).transpose(0, 1)))
            outputs.append(states[-1])
        return self.final_norm(torch.cat(outputs, dim=1))

    # One block at step `t`: `x` `[batch, 1, d_model]` is $x_t^{l-1}$, `window` the memories
    # $m_{t-w'} \dots m_{t-1}$ ($w' = \min(w, t)$), each `[batch, d_model]`. The keys carry their true
    # positions, so the relative attention sees offsets $-w' \dots 0$, as in the standard model.
    def step(self, block: SpanBlock, x: torch.Tensor, window: list[torch.Tensor], t: int) -> torch.Tensor:
        query = block.attention_norm(x)  # [batch, 1, d_model]
        context = torch.stack(window, dim=1) if window else x.new_zeros(x.shape[0], 0, x.shape[2])
        if self.normalise_memory:
            context = block.attention_norm(context)  # [batch, w', d_model]
        if self.attend_current:
            context = torch.cat([context, query], dim=1)
        if context.shape[1] > 0:  # with attend_current off, step 0 has nothing to attend to: no attention
            positions = torch.arange(t - len(window), t - len(window) + context.shape[1], device=x.device)
            here = torch.full((1,), t, dtype=torch.long, device=x.device)
            x = x + block.attention(query, context, context, None, here, positions)
        return block.residual(x, block.feed_forward, block.feed_forward_norm)


# ## The task: a walk on a cycle
#
# A walker starts at 0 on a cycle of $k$ positions and makes one move per step, $-1$, $0$ or $+1$, drawn
# uniformly (tokens 0, 1, 2). The target at step $t$ is where it stands after that move,
# $p_t = \big(\sum_{\tau \le t} \delta_\tau\big) \bmod k$. Carrying $p_{t-1}$ and adding the move solves it
# exactly; the moves long ago decide $p_t$ just as much as the recent ones, so a model that sees only the
# last $r + 1$ moves cannot know where it is: once $t > r$ the position before its window is nearly
# uniform on the cycle, and its best guess is right about $1 / k$ of the time. For the standard model
# $r = N w$ (its reach); the feedback model's memory chain has no such limit.
# `batch_size` walks of `length` steps → moves `[batch, length]` and positions `[batch, length]`.
def cycle_walks(batch_size: int, length: int, cycle: int, generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                              torch.Tensor]:
    for name, value in (("batch_size", batch_size), ("length", length), ("cycle", cycle)):
        check_positive(name, value, integer=True)
    moves = torch.randint(3, (batch_size, length), generator=generator)
    return moves, (moves - 1).cumsum(dim=1).remainder(cycle)


# ## The experiment
#
# Three arms of the same size (2 layers, $d_\text{model} = 32$, 2 heads, $d_\text{ff} = 64$, Shaw relative
# attention): the Feedback Transformer and the standard transformer, both with span $w = 4$, and, as a
# reference, the standard transformer with a span that covers every step of the longest test walk. Walks on
# a cycle of 3, trained on 16 steps with cross-entropy at every step, tested on fresh walks of 16 and 32.
CYCLE, SPAN, TRAIN_LENGTH, BATCH = 3, 4, 16, 128
SIZE = {"d_model": 32, "heads": 2, "d_ff": 64, "layers": 2}
ARMS = {"feedback": (FeedbackTransformer, SPAN), "standard": (StandardTransformer, SPAN),
        "full_span": (StandardTransformer, 2 * TRAIN_LENGTH)}
RATES = (0.001, 0.003, 0.01)
TEST_WALKS = 512
ESCAPE_LOSS = 0.1


def build(arm: str, seed: int) -> SpanModel:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {sorted(ARMS)}, got {arm!r}")
    model_class, span = ARMS[arm]
    torch.manual_seed(seed)
    return model_class(3, CYCLE, span=span, **SIZE)


# Adam at a constant rate, a fresh batch of walks at every step (from a generator seeded by `seed`). Returns
# the model and the training loss at every step.
def train(arm: str, lr: float, steps: int, seed: int) -> tuple[SpanModel, list[float]]:
    model = build(arm, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []

    def step(_: int) -> dict[str, float]:
        moves, positions = cycle_walks(BATCH, TRAIN_LENGTH, CYCLE, generator)
        losses.append(optimizer_step(F.cross_entropy(model(moves).flatten(0, 1), positions.flatten()), optimizer))
        return {"loss": losses[-1]}

    train_loop(steps, step)
    return model, losses


# The loss sits on a plateau (near $\ln 3$ at the steps the model cannot resolve) until the model finds the
# recurrence, then drops: the escape step is the first step (counting from 0) with a training loss below
# `ESCAPE_LOSS`, `None` if it never gets there.
def escape_step(losses: list[float]) -> int | None:
    return next((i for i, loss in enumerate(losses) if loss < ESCAPE_LOSS), None)


# Accuracy at each step `[length]` on `TEST_WALKS` walks that training never drew (another generator; `stream`
# 10 000 for the test walks, 20 000 for the validation walks that choose the rate).
@torch.no_grad()
def accuracy_by_step(model: SpanModel, length: int, seed: int, stream: int = 10_000) -> torch.Tensor:
    moves, positions = cycle_walks(TEST_WALKS, length, CYCLE, torch.Generator().manual_seed(stream + seed))
    return (model(moves).argmax(dim=-1) == positions).double().mean(dim=0)


# ### The rate, chosen alike for every arm
#
# Each arm trains on seed 0 for the full number of steps at each rate of one grid; the rate with the best
# accuracy on validation walks of the training length (not the test walks) is kept for all seeds, and its
# seed-0 run is seed 0's run. Returns the chosen rate, the sweep and that run (model and losses).
def choose_rate(arm: str, steps: int) -> tuple[float, dict[str, float], tuple[SpanModel, list[float]]]:
    runs = {lr: train(arm, lr, steps, 0) for lr in RATES}
    sweep = {lr: float(accuracy_by_step(run[0], TRAIN_LENGTH, 0, stream=20_000).mean()) for lr, run in runs.items()}
    best = max(sweep, key=sweep.__getitem__)
    return best, {str(lr): round(value, 4) for lr, value in sweep.items()}, runs[best]


# ### The cost of the lost parallelism
#
# CPU time of one training step (forward, backward, Adam) for a batch of 32 walks at one length: one warm-up
# step of each model, then `repeats` rounds that time a feedback step and a standard step one after the other,
# so that a change in the machine's load hits both alike. Returns the median time of each and, per round, the
# ratio feedback / standard. The process time counts only this process, but on a shared machine caches and
# memory bandwidth are shared too, so only the ratios are read from it.
def step_times(length: int, repeats: int) -> dict[str, float | list[float]]:
    moves, positions = cycle_walks(32, length, CYCLE, torch.Generator().manual_seed(0))
    steps = {}
    for arm in ("feedback", "standard"):
        model = build(arm, 0)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def one_step(model: SpanModel = model, optimizer: torch.optim.Optimizer = optimizer) -> float:
            started = time.process_time()
            optimizer_step(F.cross_entropy(model(moves).flatten(0, 1), positions.flatten()), optimizer)
            return time.process_time() - started
        one_step()  # warm-up
        steps[arm] = one_step
    times: dict[str, list[float]] = {"feedback": [], "standard": []}
    for _ in range(repeats):
        for arm, one_step in steps.items():
            times[arm].append(one_step())
    ratios = [f / s for f, s in zip(times["feedback"], times["standard"])]
    return {"feedback": round(statistics.median(times["feedback"]), 4),
            "standard": round(statistics.median(times["standard"]), 4),
            "ratio_median": round(statistics.median(ratios), 2), "ratio_min": round(min(ratios), 2),
            "ratio_max": round(max(ratios), 2)}


def experiment(config: RunConfig) -> Outcome:
    seeds = config.choose((0, 1, 2), (0, 1))
    steps = config.train_steps(300, 60)
    metrics: dict = {"cycle": CYCLE, "span": SPAN, "train_length": TRAIN_LENGTH, "steps": steps,
                     "escape_loss": ESCAPE_LOSS}
    curves: dict[str, dict[int, list[list[float]]]] = {}
    for arm in ARMS:
        lr, metrics[f"sweep_{arm}"], seed_0_run = choose_rate(arm, steps)
        metrics[f"lr_{arm}"] = lr
        curves[arm] = {TRAIN_LENGTH: [], 2 * TRAIN_LENGTH: []}
        escapes, final_losses = {}, {}
        for seed in seeds:
            model, losses = seed_0_run if seed == 0 else train(arm, lr, steps, seed)
            escapes[str(seed)], final_losses[str(seed)] = escape_step(losses), round(losses[-1], 4)
            if isinstance(model, FeedbackTransformer):  # the learned mix of layers in the memory, per seed
                metrics.setdefault("memory_mix", []).append(
                    [round(w, 3) for w in model.layer_weights.softmax(0).tolist()])
            for length, runs in curves[arm].items():
                runs.append(accuracy_by_step(model, length, seed).tolist())
        metrics[f"escape_step_{arm}"], metrics[f"final_loss_{arm}"] = escapes, final_losses
        for length, runs in curves[arm].items():
            metrics[f"accuracy_{arm}_{length}"] = over_seeds({s: sum(r) / len(r) for s, r in zip(seeds, runs)})
            reach = SIZE["layers"] * SPAN  # the standard model's step t sees moves t - reach ... t
            beyond = {s: sum(r[reach + 1:]) / len(r[reach + 1:]) for s, r in zip(seeds, runs)}
            metrics[f"beyond_reach_{arm}_{length}"] = over_seeds(beyond)
        metrics[f"by_step_{arm}"] = [sum(col) / len(col) for col in zip(*curves[arm][2 * TRAIN_LENGTH])]
    lengths = config.choose((8, 16, 32, 64), (8, 16))
    metrics["step_time"] = {str(n): step_times(n, config.choose(15, 3)) for n in lengths}
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics, lengths)})


def _headline(metrics: dict) -> str:
    long = 2 * TRAIN_LENGTH
    ratios = [value for timing in metrics["step_time"].values() for value in (timing["ratio_min"],
                                                                             timing["ratio_max"])]
    return (f"walks of {long} on a cycle of {CYCLE}, beyond the span-{SPAN} reach: feedback "
            f"{metrics[f'beyond_reach_feedback_{long}']['mean']:.1%}, standard of the same size and span "
            f"{metrics[f'beyond_reach_standard_{long}']['mean']:.1%}, full-span standard "
            f"{metrics[f'beyond_reach_full_span_{long}']['mean']:.1%}; a training step "
            f"{min(ratios):.1f} to {max(ratios):.1f}x slower (CPU, 1 thread)")


def _figure(metrics: dict, lengths: tuple[int, ...]) -> plt.Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6))
    labels = {"feedback": f"feedback, span {SPAN}", "standard": f"standard, span {SPAN}",
              "full_span": f"standard, span {2 * TRAIN_LENGTH} (reference)"}
    for arm, label in labels.items():
        by_step = metrics[f"by_step_{arm}"]
        left.plot(range(1, len(by_step) + 1), by_step, marker=".", label=label)
    left.axhline(1 / CYCLE, color="grey", linestyle=":", label="chance")
    left.axvline(TRAIN_LENGTH + 0.5, color="black", linestyle="--", linewidth=0.8)
    left.text(TRAIN_LENGTH + 1, 0.5, "longer than\ntraining", fontsize=8)
    reach = SIZE["layers"] * SPAN
    left.axvline(reach + 1.5, color="tab:orange", linestyle="--", linewidth=0.8)
    left.text(reach + 2, 0.06, f"beyond the span-{SPAN}\nstandard model's reach", fontsize=8)
    left.set(xlabel="step of the walk (1 = after the first move)", ylabel="accuracy (mean of 3 seeds)",
             ylim=(0, 1.05), title=f"Position on a cycle of {CYCLE}")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)
    for arm in ("feedback", "standard"):
        right.plot(lengths, [1000 * metrics["step_time"][str(n)][arm] for n in lengths], marker="o",
                   label=labels[arm])
    right.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="CPU ms per training step",
              title="Cost of a training step (batch 32, 1 thread)")
    right.set_xticks(lengths, [str(n) for n in lengths])
    right.minorticks_off()
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
