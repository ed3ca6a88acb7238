r"""
---
title: "Order Matters: Sequence to Sequence for Sets"
summary: Read-Process-Write, an encoder for sets whose attention-based process block is invariant to the
  order of its input, sorting numbers with a pointer write block, with 0 versus several process steps.
---

# Order Matters: Sequence to Sequence for Sets

[Vinyals, Bengio, Kudlur, 2015. *Order Matters: Sequence to Sequence for
Sets*](https://arxiv.org/abs/1511.06391)

A sequence-to-sequence model reads its input in some order. When the input is a *set*, say numbers to
sort, any order is arbitrary, yet an LSTM encoder gives a different code for each of the $n!$ orders, and
the paper shows that the order chosen changes how well the model learns. Its answer for input sets is
*Read-Process-Write*:

* **Read**: embed every element on its own, $m_i = f(x_i)$: a *memory* of $n$ vectors, with no order;
* **Process**: an LSTM with *no input* runs for $T$ steps; at each it attends over the memory and reads it,

  $$q_t = \mathrm{LSTM}(q^*_{t-1}), \quad e_{i,t} = m_i \cdot q_t, \quad
  a_{i,t} = \frac{\exp e_{i,t}}{\sum_j \exp e_{j,t}}, \quad r_t = \sum_i a_{i,t} m_i, \quad
  q^*_t = [q_t; r_t].$$

  A softmax-weighted sum does not care in which order its terms come, so $q^*_T$ is the same for every
  order of the set: the block is *permutation invariant* by construction;
* **Write**: a [pointer network](pointer_networks.py) decoder, started from $q^*_T$, points at memory
  elements one at a time.

The process steps let the model look at the whole set several times before writing, each look informed
by the previous ones. The paper sorts sets of 5, 10 and 15 numbers and reports (Table 1) that
Read-Process-Write beats a pointer network whose LSTM encoder reads the numbers in sequence, and that
process steps help.

## The experiment

We sort sets of 10 numbers drawn uniformly from $[0, 1)$ and count a set as correct only when its whole
output order is right. The models differ only in the number of process steps: 0 (the writer starts from a
learned constant and sees the set only through its pointer) versus 1 and 5.

The write block here does *not* mask elements already written. With the mask, sorting becomes "point at
the smallest element not yet written" at every step, a score that depends on each element alone; it
needs no view of the set, so we would expect process steps to have little to add (a masked run is not
recorded here). Without it, the writer must find the next number after the one it just wrote. (The paper
does not say whether its write block masks elements already written.)

![Sorting accuracy versus process steps](results/order_matters.png)

Every model's output is the same for a shuffled copy of every test set: *order invariance* holds
exactly, as it must by construction.

**At this scale, "more process steps help" holds only in part.** After a short training (1,500 steps,
under a minute of CPU per model, one seed, seed 0), 5 process steps sort 29.6% of the sets exactly against
23.7% with none, the direction the paper reports; but the model with a single process step did far worse
than both, 2.2%. (A single step reads the memory with a query chosen before the set is seen,
$q_1 = \mathrm{LSTM}(0)$; why that hurt rather than helped, we have not established.) With one seed, none
of these differences is shown to exceed seed-to-seed noise, the 1-step result included. The baseline here
is also not the paper's: it is Read-Process-Write with 0 process steps, not a pointer network with a
sequential LSTM encoder, and the paper trained far longer. The three models are not in monotone order, and
we report them as measured.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.training import optimizer_step, train_loop
from papers.seq2seq.pointer_networks import PointerDecoder


# ## Read
#
# Each number on its own through a small network: `[batch, n]` → memory `[batch, n, d]`. No element
# sees another, so permuting the input permutes the memory and nothing else.
class Read(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        check_positive("d", d, integer=True)
        self.net = nn.Sequential(nn.Linear(1, d), nn.ReLU(), nn.Linear(d, d))

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        check_tensor("numbers", numbers, ["batch", "n"], dtype=self.net[0].weight.dtype)
        return self.net(numbers[..., None])


# ## Process
#
# <a id="Process"></a>
# $T$ steps of an LSTM cell whose input is its previous output $q^*_{t-1}$ `[batch, 2d]` ($q^*_0 = 0$),
# each followed by a dot-product attention read of the memory `[batch, n, d]`. The result $q^*_T$
# `[batch, 2d]` is zero when $T = 0$.
class Process(nn.Module):
    def __init__(self, d: int, steps: int) -> None:
        super().__init__()
        check_positive("d", d, integer=True)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"process steps must be non-negative, got {steps!r}")
        self.steps = steps
        self.cell = nn.LSTMCell(2 * d, d)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        check_tensor("memory", memory, ["batch", "n", self.cell.hidden_size], dtype=self.cell.weight_ih.dtype)
        batch, _, d = memory.shape
        q_star = memory.new_zeros(batch, 2 * d)
        state = (memory.new_zeros(batch, d), memory.new_zeros(batch, d))
        for _ in range(self.steps):
            state = self.cell(q_star, state)
            q = state[0]  # [batch, d]
            a = F.softmax(torch.einsum("bnd,bd->bn", memory, q), dim=-1)  # a_{i,t}, [batch, n]
            r = torch.einsum("bn,bnd->bd", a, memory)  # r_t, [batch, d]
            q_star = torch.cat([q, r], dim=-1)
        return q_star


# ## Read-Process-Write
#
# The writer is [the pointer networks' decoder](pointer_networks.py#PointerDecoder), with the memory as
# both its keys and its inputs, and a start state $h_0 = \tanh(W q^*_T)$, $c_0 = 0$. It runs $n$ steps,
# one per output position. `numbers` `[batch, n]` → logits `[batch, n, n]` and choices `[batch, n]`.
class ReadProcessWrite(nn.Module):
    def __init__(self, process_steps: int, d: int = 64, mask_written: bool = False) -> None:
        super().__init__()
        self.read = Read(d)
        self.process = Process(d, process_steps)
        self.start = nn.Linear(2 * d, d)
        self.write = PointerDecoder(d, d, d, d, mask_chosen=mask_written)

    def forward(self, numbers: torch.Tensor,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor("numbers", numbers, ["batch", "n"], dtype=self.start.weight.dtype)
        if numbers.shape[1] < 2:
            raise ValueError(f"numbers must be [batch, n >= 2], got {tuple(numbers.shape)}")
        memory = self.read(numbers)  # [batch, n, d]
        q_star = self.process(memory)  # [batch, 2d]
        h = torch.tanh(self.start(q_star))
        return self.write(memory, memory, (h, torch.zeros_like(h)), numbers.shape[1], targets)


# ## Training and evaluation
#
# The label is `argsort`: position $i$ of the output points at the $i$-th smallest number. Fresh sets for
# every batch.
def train(model: ReadProcessWrite, n: int, steps: int, batch_size: int, generator: torch.Generator,
          lr: float = 2e-3) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> dict[str, float]:
        numbers = torch.rand(batch_size, n, generator=generator)
        targets = numbers.argsort(dim=1)
        logits, _ = model(numbers, targets)
        loss = F.cross_entropy(logits.reshape(-1, n), targets.reshape(-1))
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}

    return train_loop(steps, step, log_every=100).values("loss")


# The fraction of sets sorted exactly, and the fraction whose output *values* stay the same when the set
# is shuffled (the writer's pointers move with the elements; the numbers they point at must not change).
@torch.no_grad()
def evaluate(model: ReadProcessWrite, numbers: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
    _, choices = model(numbers)
    exact = (choices == numbers.argsort(dim=1)).all(dim=1).float().mean().item()
    shuffle = torch.argsort(torch.rand(numbers.shape, generator=generator), dim=1)
    shuffled = numbers.gather(1, shuffle)
    _, shuffled_choices = model(shuffled)
    same = (numbers.gather(1, choices) == shuffled.gather(1, shuffled_choices)).all(dim=1)
    return {"exact": exact, "order_invariant": same.float().mean().item()}


# ## The experiment
#
# One model per number of process steps, each trained from the same seed on the same stream of sets.
def experiment(config: RunConfig) -> Outcome:
    n = config.choose(10, 6)
    process_steps = config.choose([0, 1, 5], [0, 5])
    steps = config.train_steps(1500, 400)
    test = torch.rand(config.choose(2000, 500), n,
                      generator=torch.Generator().manual_seed(config.seed + 1000))
    results = {}
    for p in process_steps:
        torch.manual_seed(config.seed)
        model = ReadProcessWrite(p, d=config.choose(64, 32))
        train(model, n, steps, 128, torch.Generator().manual_seed(config.seed))
        model.eval()
        results[p] = evaluate(model, test, torch.Generator().manual_seed(config.seed + 2000))
    headline = f"sorting {n} numbers, sets sorted exactly: " + ", ".join(
        f"{p} process steps {r['exact']:.1%}" for p, r in results.items())
    metrics = {
        "n": n,
        "process_steps": process_steps,
        "exact": [round(results[p]["exact"], 4) for p in process_steps],
        "order_invariant": [round(results[p]["order_invariant"], 4) for p in process_steps],
        "train_steps": steps,
    }
    return Outcome(headline=headline, metrics=metrics, figures={"": plot(process_steps, results, n)})


def plot(process_steps: list[int], results: dict[int, dict[str, float]], n: int) -> Figure:
    fig, ax = plt.subplots(figsize=(4.5, 3.3))
    labels = [str(p) for p in process_steps]
    bars = ax.bar(labels, [results[p]["exact"] for p in process_steps], color="tab:blue")
    ax.bar_label(bars, fmt="%.2f")
    ax.set_xlabel("process steps $T$")
    ax.set_ylabel(f"sets of {n} sorted exactly")
    ax.set_ylim(0, 1.05)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
