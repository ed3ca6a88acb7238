r"""
---
title: The First Law of Complexodynamics
summary: Two gases mixing in a box, as a deterministic, exactly reversible lattice gas; the compressed size of
  the fine state rises and stays up, the compressed size of the coarse-grained state rises and falls, and
  running the gas backwards undoes it all unless one particle is disturbed.
---

# The First Law of Complexodynamics

[Aaronson, 2011. *The First Law of Complexodynamics*. Shtetl-Optimized](https://scottaaronson.blog/?p=762)

Sean Carroll asked why the complexity of a closed system, unlike its entropy, seems to rise and then fall:
the cream-in-coffee picture is simple at the start, intricate in the middle and simple again at the end, while
entropy only grows. Aaronson's post proposes a definition under which that would be a theorem, and says
where the proof is missing.

**Entropy** is the easier half. For a deterministic system started in a simple state, the state at time $t$
has Kolmogorov complexity at most about $K(x_0) + \log_2 t$ (the rule, the initial state and $t$ print it), so
the entropy that keeps growing is not plain $K(x_t)$; it is the entropy an observer without the whole history
assigns: the logarithm of the number of microstates that look like $x_t$, or, in the post's terms, a
Kolmogorov complexity with bounded resources. That grows with $t$ and saturates at the size of the state
space: the second law.

**Complexity** is what that picture leaves out. *Sophistication* (Koppel's, which grew out of Kolmogorov's
structure function) splits a description of $x$ into a model and noise: the least $K(S)$ over the sets
$S \ni x$ with $K(S) + \log_2 |S| \le K(x) + c$, that is, the smallest model that, with the index of $x$
inside it, still gives a near-shortest description of $x$. $K(S)$ is the "interesting" structure,
$\log_2|S|$ the randomness. A uniform mixture and a perfectly separated cup both have
tiny models; the tendrils in between need a large one. Aaronson's observation is that plain sophistication
cannot do the job: for a system of time $t$ it is at most about $\log t$ too, since the set of states reachable
in $t$ steps is a short model. What can is a *resource-bounded* sophistication, which he calls
**complextropy**: the model must be sampled efficiently and $x$ must look random to an efficient observer
inside it. Then the early state (a short model) and the late state (a short model of a uniform mix) both have
low complextropy, and the middle may not. That it *does* rise is the conjecture, the "first law"; the post
does not prove it and neither does anything here. The post also suggests testing it numerically with the
compressed size of coarse-grained pictures, which the Coffee Automaton paper then did.

**What we measure instead, and why.** Resource-bounded sophistication is not computable, and neither is
$K$. So, as in the [Coffee Automaton](coffee_automaton.py) (whose estimators this page imports), the
entropy proxy is the compressed size of the fine state, $C(x)$, and the complexity proxy is the compressed size
of a coarse-grained, thresholded state, $C(f(x))$: $f$ is a fixed, cheap model class (smooth pictures), and
$C(f(x))$ is the size of the model it picks. Both are upper bounds from a compressor, not the quantities of the
post; they can only show the shape of the curve, not prove the law.

**A different closed system.** Where the coffee automaton is stochastic, this box is deterministic and
*reversible*: an HPP lattice gas (Hardy, de Pazzis, Pomeau, 1973). Each cell has four channels, one per
direction, each empty or holding one particle of gas A or gas B. A step is a *collision* in every cell (exactly
two particles meeting head on, with the other two channels empty, leave at right angles) and then *streaming*
(every particle moves one cell along its channel; at a wall it turns back). Both parts are bijections, so the
whole history can be undone exactly. Gas A starts in the left half, gas B in the right; the only randomness is
the initial microstate (each channel occupied with probability $1/2$).

## What the experiment shows

![Entropy and complexity proxies over time, and the reversal](results/complexodynamics.png)

A box of $64 \times 64$ cells, three initial microstates (seeds 0 to 2), 2,000 steps measured at 40
log-spaced times, grain $g = 9$; numbers are means over the seeds with their range.

* **The entropy proxy rises and stays up** (left): from 21,075 bits at the start to 25,136 at the end. The
  rise is modest because the occupation of the channels is random from the start; only the gas labels mix (a
  perfect coder would need 4 bits per cell at the start and 6 at the end, 16,384 and 24,576 bits; zlib sits
  above both). It is monotone up to the compressor's own noise: the largest fall between two measurements is
  112 bits, under 3% of the rise.
* **The complexity proxy rises and falls** (middle): the 3-level coarse-graining goes from 597 bits at the
  start to a peak of 2,555 (2,336 to 2,688) at step 234 on every seed and back to 232 at the end, below
  where it started; the adjusted one (7 levels, the column rule) from 368 to a peak of 3,435 (3,328 to
  3,520) and back to 216. The rise is not one hump: on every seed the 3-level curve climbs to a first hump,
  falls by 38% to 44% at steps 88 to 107, and climbs again to its peak, while the adjusted curve peaks
  around that dip (steps 73 to 107) and dips itself before a second, smaller hump. The peak at step 234 is the
  3-level curve's; the adjusted one peaks well before it.
* **What the pictures are** ([seed 0's gas-A field and its 3-level picture at the start, the peaks, the dip
  and the end](results/complexodynamics-states.png)). At the start, two flat halves; at the end, a uniform
  mixture. In between, not the ragged left-right front one might expect: at steps 88 to 107 the two gases
  lie *one above the other*, gas A on top, in three clean bands; by step 234 that layering has broken up into
  blobs. Our collision rule turns an east-moving particle north and a west-moving one south, so head-on
  pairs at the first front send gas A up and gas B down; we have not measured how much of the layering that
  explains. The horizontal front also defeats the adjusted proxy's column rule, which assumes a picture
  uniform down each column: that is when the adjusted proxy peaks.
* **Other grains** (the same recorded fields coarse-grained again, 3 levels). At $g = 9$ to $17$ the rise
  and fall holds on every seed: peaks of 2,555, 1,675 and 1,373 bits at $g = 9, 13, 17$, ends of 232, 216
  and 216, below the starts (597, 440, 475). At $g = 5$ it does not fall back: the peak is 4,024 and the
  end 1,957, far above the start (528): at that grain the mixed gas itself leaves a speckled picture.
* **Reversal** (right): running the gas backwards from step 2,000 returns every particle to its initial
  channel and gas on every seed (tested), so the entropy proxy returns to its start: nothing in the
  dynamics makes entropy grow, only the special initial state does. Remove one particle before reversing and
  the gas does not find its way back: after 2,000 steps back the entropy proxy is 25,155 bits, that of a
  mixed box, not 21,075. A macroscopically invisible change to the microstate is enough to lose the
  improbable path home, which is why reversals are not seen.

**How far this goes.** The curves have the shape the post predicts, for proxies of the post's quantities: the
compressed size of a thresholded picture is a *model size* for one hand-picked model class, not complextropy,
and the rise and fall it shows depends on choosing that class (grain and levels) at the scale of the
front. The page shows one closed system and one choice; it is an illustration of the conjecture, not evidence
that it holds in general, which is the open problem the post poses. The [Coffee
Automaton](coffee_automaton.py) page measures the same proxies on a stochastic system, where the contrast the
paper expected between interacting and non-interacting particles does not appear at our scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from labml import monit
from matplotlib.figure import Figure

from papers.complexity.coffee_automaton import (
    ADJUSTED_LEVELS, LEVELS, adjust_rows, compressed_size, measurement_times, threshold)
from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper

# The four channels of a cell, and the two gases (0 is an empty channel).
EAST, NORTH, WEST, SOUTH = 0, 1, 2, 3
GAS_A, GAS_B = 1, 2


# ## The initial microstate
#
# Channels `[4, height, width]`, each occupied with probability `density`; gas A in the left half, B in the
# right.
def initial_gas(height: int, width: int, density: float, generator: torch.Generator) -> torch.Tensor:
    check_positive("height", height, integer=True)
    check_positive("width", width, integer=True)
    check_in_range("density", density, 0, 1, low_open=True, high_open=True)
    occupied = torch.rand(4, height, width, generator=generator) < density
    gas = torch.full((4, height, width), GAS_B, dtype=torch.uint8)
    gas[:, :, : width // 2] = GAS_A
    return torch.where(occupied, gas, torch.zeros_like(gas))  # [4, height, width]


# ## Collision
#
# A cell with exactly the east and west channels filled sends the east particle north and the west one south;
# a cell with exactly north and south filled does the reverse (north to east, south to west). Each particle
# keeps its gas. Number and momentum of each cell are conserved ($+x$ and $-x$ become $+y$ and $-y$), and the
# map is its own inverse.
def collide(channels: torch.Tensor) -> torch.Tensor:
    check_tensor("channels", channels, [4, None, None], dtype=torch.uint8)
    full = channels > 0
    east_west = full[EAST] & full[WEST] & ~full[NORTH] & ~full[SOUTH]  # [height, width]
    north_south = full[NORTH] & full[SOUTH] & ~full[EAST] & ~full[WEST]
    rotated = channels[[NORTH, EAST, SOUTH, WEST]]  # east <- north, north <- east, west <- south, south <- west
    return torch.where(east_west | north_south, rotated, channels)


# ## Streaming
#
# Every particle moves one cell along its channel. A particle at a wall, heading into it, stays in its cell and
# turns back (bounce-back), so no two particles ever land in the same channel and the step is a bijection.
def stream(channels: torch.Tensor) -> torch.Tensor:
    check_tensor("channels", channels, [4, None, None], dtype=torch.uint8)
    east, north, west, south = channels
    out = torch.zeros_like(channels)
    out[EAST, :, 1:], out[WEST, :, -1] = east[:, :-1], east[:, -1]
    out[WEST, :, :-1], out[EAST, :, 0] = west[:, 1:], west[:, 0]
    out[SOUTH, 1:, :], out[NORTH, -1, :] = south[:-1, :], south[-1, :]
    out[NORTH, :-1, :], out[SOUTH, 0, :] = north[1:, :], north[0, :]
    return out


# Reversing every velocity, streaming, and reversing again undoes a streaming step: $F S F = S^{-1}$.
def reverse_velocities(channels: torch.Tensor) -> torch.Tensor:
    return channels[[WEST, SOUTH, EAST, NORTH]]


def unstream(channels: torch.Tensor) -> torch.Tensor:
    return reverse_velocities(stream(reverse_velocities(channels)))


# One step is $U = S \circ C$; its inverse is $U^{-1} = C \circ S^{-1}$, since $C$ is its own inverse.
def step(channels: torch.Tensor) -> torch.Tensor:
    return stream(collide(channels))


def step_back(channels: torch.Tensor) -> torch.Tensor:
    return collide(unstream(channels))


# ## The two proxies
#
# The fine state, one byte per cell: the four channels as a base-3 number ($0 \dots 80$). Its compressed size
# is the entropy proxy. The coarse-grained field is the count of gas-A particles per cell (0 to 4); its unit,
# density 1, is the count in the pure-A half at the start, $4 \times$ `density` $= 2$. The thresholded field's
# compressed size is the complexity proxy, plain (3 levels) or adjusted (7 levels, and the coffee automaton's
# row rule applied to *columns*: here the symmetry runs vertically, gas A being on the left).
def fine_state(channels: torch.Tensor) -> torch.Tensor:
    digits = torch.tensor([1, 3, 9, 27], dtype=torch.uint8)[:, None, None]
    return (channels * digits).sum(dim=0, dtype=torch.uint8)  # [height, width]


def gas_a_count(channels: torch.Tensor) -> torch.Tensor:
    return (channels == GAS_A).sum(dim=0, dtype=torch.uint8)  # [height, width]


UNIT = 2


def entropy_proxy(channels: torch.Tensor) -> int:
    return compressed_size(fine_state(channels))


def complexity_proxy(channels: torch.Tensor, grain: int, adjusted: bool = False) -> int:
    field = gas_a_count(channels)
    if adjusted:
        return compressed_size(adjust_rows(threshold(field, grain, ADJUSTED_LEVELS, UNIT).T).T)
    return compressed_size(threshold(field, grain, LEVELS, UNIT))


# ## A run
#
# The proxies at log-spaced steps, and the reversal: from the last state, step back as many steps and compare
# with the start; then again from the last state with one particle removed (the first occupied channel right
# of the centre of the middle row), and measure the entropy proxy where the start should be.
@dataclass
class Run:
    times: list[int]
    entropy: list[int]
    complexity: list[int]
    adjusted: list[int]
    returned_exactly: bool
    perturbed_return_entropy: int
    fields: list[torch.Tensor]  # the gas-A count per cell, [height, width], at each time


def remove_one_particle(channels: torch.Tensor) -> torch.Tensor:
    disturbed = channels.clone()
    _, height, width = channels.shape
    occupied = torch.nonzero(disturbed[:, height // 2, width // 2:] > 0)
    if len(occupied) == 0:
        raise ValueError("channels hold no particle right of the centre of the middle row to remove")
    disturbed[int(occupied[0, 0]), height // 2, width // 2 + int(occupied[0, 1])] = 0
    return disturbed


def run_gas(size: int, grain: int, times: list[int], seed: int, density: float = 0.5) -> Run:
    if list(times) != sorted(times) or times[0] < 0:
        raise ValueError(f"times must be non-negative and increasing, got {times}")
    start = initial_gas(size, size, density, torch.Generator().manual_seed(seed))
    channels, now = start, 0
    record = Run([], [], [], [], False, 0, [])
    for time in times:
        for _ in range(time - now):
            channels = step(channels)
        now = time
        record.times.append(time)
        record.entropy.append(entropy_proxy(channels))
        record.complexity.append(complexity_proxy(channels, grain))
        record.adjusted.append(complexity_proxy(channels, grain, adjusted=True))
        record.fields.append(gas_a_count(channels))
    back, disturbed = channels, remove_one_particle(channels)
    for _ in range(now):
        back, disturbed = step_back(back), step_back(disturbed)
    record.returned_exactly = bool(torch.equal(back, start))
    record.perturbed_return_entropy = entropy_proxy(disturbed)
    return record


# ## The experiment
#
# Three seeds at grain 9; then the recorded gas-A fields coarse-grained again at other grains (3 levels).
GRAIN = 9
GRAINS = (5, 9, 13, 17)


def experiment(config: RunConfig) -> Outcome:
    size = config.choose(64, 32)
    steps = config.train_steps(full=2000, quick=500)
    seeds = list(range(config.seed, config.seed + 3))
    times = measurement_times(steps, config.choose(40, 20))
    runs = {seed: run_gas(size, GRAIN, times, seed) for seed in monit.iterate("seeds", seeds)}
    metrics = _metrics(runs, size, steps)
    metrics.update(_grain_sweep(runs, config.choose(GRAINS, (5, 9))))
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, metrics), "states": _states_figure(runs)})


def field_complexity(field: torch.Tensor, grain: int) -> int:
    return compressed_size(threshold(field, grain, LEVELS, UNIT))


def _grain_sweep(runs: dict[int, Run], grains: tuple[int, ...]) -> dict:
    metrics: dict = {"grains": list(grains)}
    for grain in grains:
        curves = {seed: [field_complexity(f, grain) for f in run.fields] for seed, run in runs.items()}
        for where, pick in (("peak", max), ("start", lambda c: c[0]), ("end", lambda c: c[-1])):
            metrics[f"grain_{where}_complexity_g{grain}"] = over_seeds({s: pick(c) for s, c in curves.items()})
    return metrics


def _metrics(runs: dict[int, Run], size: int, steps: int) -> dict:
    def stat(value) -> dict:
        return over_seeds({seed: value(run) for seed, run in runs.items()})
    return {
        "size": size, "steps": steps, "grain": GRAIN,
        "start_entropy": stat(lambda r: r.entropy[0]), "end_entropy": stat(lambda r: r.entropy[-1]),
        "largest_entropy_drop": stat(lambda r: max(0, -min(np.diff(r.entropy)))),
        "start_complexity": stat(lambda r: r.complexity[0]), "peak_complexity": stat(lambda r: max(r.complexity)),
        "end_complexity": stat(lambda r: r.complexity[-1]),
        "peak_time": stat(lambda r: r.times[int(np.argmax(r.complexity))]),
        "start_adjusted": stat(lambda r: r.adjusted[0]), "peak_adjusted": stat(lambda r: max(r.adjusted)),
        "peak_time_adjusted": stat(lambda r: r.times[int(np.argmax(r.adjusted))]),
        "dip_time": stat(lambda r: r.times[deepest_dip(r.complexity)[0]]),
        "dip_depth": stat(lambda r: deepest_dip(r.complexity)[1]),
        "end_adjusted": stat(lambda r: r.adjusted[-1]),
        "returned_exactly": all(r.returned_exactly for r in runs.values()),
        "perturbed_return_entropy": stat(lambda r: r.perturbed_return_entropy),
    }


# The dip between two humps of a curve, before its highest point: the index where it lies furthest below the
# highest value seen so far, and how far, as a share of that value (0 for a curve that never falls before
# its peak).
def deepest_dip(curve: list[int]) -> tuple[int, float]:
    if not curve:
        raise ValueError("a dip needs a non-empty curve")
    values = np.array(curve[: int(np.argmax(curve)) + 1], dtype=float)
    drop = (np.maximum.accumulate(values) - values) / np.maximum(np.maximum.accumulate(values), 1)
    index = int(np.argmax(drop))
    return index, float(drop[index])


def _headline(metrics: dict) -> str:
    return (f"entropy proxy {metrics['start_entropy']['mean']:.0f} -> {metrics['end_entropy']['mean']:.0f} bits; "
            f"complexity proxy {metrics['start_complexity']['mean']:.0f} -> peak "
            f"{metrics['peak_complexity']['mean']:.0f} -> {metrics['end_complexity']['mean']:.0f} bits; "
            f"exact reversal: {metrics['returned_exactly']}")


def _figure(runs: dict[int, Run], metrics: dict) -> Figure:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (seed, run), colour in zip(runs.items(), ("tab:blue", "tab:orange", "tab:green")):
        times = np.array(run.times[1:])
        axes[0].plot(times, run.entropy[1:], color=colour, label=f"seed {seed}")
        axes[1].plot(times, run.complexity[1:], color=colour, label=f"seed {seed}, 3 levels")
        axes[1].plot(times, run.adjusted[1:], color=colour, linestyle="--", label=f"seed {seed}, adjusted")
    axes[0].set(xscale="log", xlabel="step", ylabel="C(fine state), bits", title="entropy proxy")
    axes[1].set(xscale="log", xlabel="step", ylabel="C(coarse-grained state), bits", title="complexity proxy")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    names = ["start", "end", "reversed\n(exact)", "reversed, one\nparticle removed"]
    values = [metrics["start_entropy"], metrics["end_entropy"], metrics["start_entropy"],
              metrics["perturbed_return_entropy"]]
    axes[2].bar(names, [v["mean"] for v in values], yerr=[[v["mean"] - v["min"] for v in values],
                                                         [v["max"] - v["mean"] for v in values]], capsize=4)
    low = min(v["min"] for v in values)
    axes[2].set(ylim=(0.95 * low, None), ylabel="C(fine state), bits",
                title=f"entropy proxy after {metrics['steps']} steps forward and back")
    fig.tight_layout()
    return fig


# The gas-A field of seed 0 and its 3-level coarse-graining at the start, at the peaks of the adjusted and the
# 3-level proxies, at the dip between them and at the end.
def _states_figure(runs: dict[int, Run]) -> Figure:
    run = runs[min(runs)]
    dip = deepest_dip(run.complexity)[0]
    moments = sorted({0, int(np.argmax(run.adjusted)), dip, int(np.argmax(run.complexity)), len(run.times) - 1})
    fig, axes = plt.subplots(2, len(moments), figsize=(3.2 * len(moments), 7.2), squeeze=False)
    for column, index in enumerate(moments):
        field = run.fields[index]
        images = [(field, 4, "gas-A count"), (threshold(field, GRAIN, LEVELS, UNIT), LEVELS - 1, "3 levels")]
        for ax, (image, top, title) in zip(axes[:, column], images):
            ax.imshow(image.numpy(), cmap="copper_r", vmin=0, vmax=top, interpolation="nearest")
            ax.set(xticks=[], yticks=[], title=f"{title}, step {run.times[index]}")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
