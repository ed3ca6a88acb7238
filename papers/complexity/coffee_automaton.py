r"""
---
title: "Quantifying the Rise and Fall of Complexity in Closed Systems: The Coffee Automaton"
summary: Cream mixing into coffee on a grid, with and without interactions; entropy as the compressed size of
  the fine state, complexity as the compressed size of the coarse-grained state. Entropy rises in both models
  and complexity rises and falls in the interacting one, with a peak that grows with the grid, but at this
  scale, at every grain tried, it is higher, not lower, without interactions.
---

# Quantifying the Rise and Fall of Complexity in Closed Systems: The Coffee Automaton

[Aaronson, Carroll, Ouellette, 2014. *Quantifying the Rise and Fall of Complexity in Closed Systems: The Coffee
Automaton*. arXiv:1405.6903](https://arxiv.org/abs/1405.6903)

Pour cream into coffee. At first the cup is simple to describe: cream on top, coffee below. At the end it is
simple again: uniformly light brown. In between, tendrils of cream wind through the coffee and the picture
takes many words. Entropy, meanwhile, only ever goes up. The paper asks for a quantity that captures this
rise and fall of "interestingness" in a closed system, and measures one in a toy cup of coffee.

**Two quantities, both compressed sizes.** The state $x$ is an $n \times n$ grid. Its *entropy* is estimated
by the compressed size of the fine-grained state, $C(x)$, a computable upper bound on its Kolmogorov complexity
$K(x)$ ([the kit's compressors](../kit/compression.py); we use zlib, the DEFLATE of the paper's gzip). Its
*apparent complexity* is the compressed size of a coarse-grained, thresholded version $f(x)$,

$$\text{complexity}(x) = C\big(f(x)\big),$$

where $f$ averages each cell over its $g \times g$ neighbourhood and rounds the averages into a few levels,
discarding the microscopic detail that no observer of the cup would call structure. The paper's Section 2.5
reads this as a resource-bounded stand-in for *sophistication*: the set $\{y : f(y) = f(x)\}$ is a model of
$x$, and $K(f(x))$ is the size of that model. Both are proxies: $C$ only bounds $K$ from above, and $f$ is one
choice of smoothing among many.

**Two automata.** Cream is 1 and coffee 0; the top half starts as cream. In the *interacting* model a random
pair of adjacent cells is swapped (a swap of two equal cells changes nothing), so at most one particle sits
on a cell. In the *non-interacting* model each cream particle is an independent random walker and any number
may share a cell; the state is then the count per cell. The paper proves (its appendix) that the
non-interacting model's coarse-grained state is, with high probability, predictable from $n$ and $t$ alone
once the grain is large enough, so its apparent complexity stays $O(\log n + \log t)$, and reports from
simulation that the interacting model's complexity rises, peaks and falls, with a peak that grows with $n$.

## What the experiment shows

Both models on grids of $n = 32, 64, 96$, three seeds each, grain $g = 7$, measured at 40 log-spaced times up
to $3n^2$ sweeps (by then the slowest mode of the density profile has decayed to under 3% of its start). The
curves are seed 0 at the smallest and largest size; the fourth panel gives the peaks over all three seeds, the
fifth the peaks at $n = 64$ when the same recorded states are coarse-grained at other grains.

![Entropy and complexity over time, the peak complexity against n and against the grain](results/coffee_automaton.png)

* **Entropy rises in both models** (left). At $n = 64$ the compressed fine state grows from 216 bits to
  5,864 (interacting) and 7,773 (non-interacting), mean over seeds. The walkers' entropy jumps at once, since
  every cell of the top half immediately holds 0, 1 or 2 particles; the interacting model's rises only as the
  mixed layer spreads from the interface.
* **Complexity rises and falls in the interacting model** (second panel, the paper's 3-level
  coarse-graining). At $n = 64$ it starts at 248 bits, peaks at 3,128 (2,960 to 3,240 over seeds) and ends at
  925. The fall is not back to the start: the mixed state's thresholded noise leaves speckle, more of it the
  larger the grid. It peaks at $0.98 n^2$ sweeps (0.90 to 1.14) at $n = 64$ and $1.05 n^2$ at $n = 96$, when
  large parts of the box sit at densities near the thresholds $1/3$ and $2/3$; the walkers peak at about the
  same time ($0.83 n^2$, 0.70 to 0.90, at $n = 64$). The picture then is blobs, not tendrils
  ([the states at that time](results/coffee_automaton-states.png)).
* **The peak grows with $n$, but not as the paper's does.** The paper reports a peak that grows about
  linearly in $n$. Here the 3-level peak goes from 984 bits at $n = 32$ to 6,131 at $n = 96$: a power law
  fitted over the three sizes has exponent 1.67 (1.64 to 1.70 over seeds), closer to an area than a length,
  as speckle spread over the mixed region would be. The adjusted peak (below) goes from 483 to 1,544, exponent
  1.04 (0.89 to 1.12): that one matches the paper's linear growth.
* **But the non-interacting model is not simpler; it is more complex.** Its 3-level peak at $n = 64$ is
  3,723 bits (3,680 to 3,744), above the interacting model's on every seed at every size (by 13% to 35%).
  Under the paper's *adjusted* coarse-graining (below) the gap widens: 2,352 bits (2,080 to 2,672) against
  960 (904 to 1,032) for the interacting model, and the walkers' adjusted complexity falls only 19% by the
  end (to 1,904 bits, against the interacting model's 432). **The paper's headline contrast does not hold at
  this scale.** What does hold is that the adjustment removes most of the interacting model's complexity
  (its peak falls from 3,128 to 960 bits), as the paper's Section 6 found for its non-interacting model.
* **Other grains do not restore it** (right panel; $n = 64$, the recorded states coarse-grained again). The
  walkers' 3-level peak is above the interacting model's on every seed at every grain: by a factor of 1.19,
  1.28, 1.28 and 1.22 at $g = 7, 11, 15, 21$ (lowest single seed 1.07, at $g = 21$). The paper's theorem
  makes the walkers' adjusted complexity flat once the grain is large, and at $g = 21$ it is: a peak of 355
  bits (328 to 376) against 320 at the start. But there the interacting model's is flat as well, 331 (328 to
  336); at $g = 15$ the two peak at 469 and 360 bits from a start of 312. Where the theorem applies, the
  contrast disappears rather than reversing: the interacting model's adjusted complexity stops rising too.
  Clipping the walkers' counts to occupancy (a cell holds cream or not) does not restore it either: their
  3-level peak drops to the interacting model's (3,189 bits against 3,128 at $g = 7$) but no longer falls
  (3,152 at the end, against 925).

**Why, as measured.** Both dynamics move a lone particle with the same kernel, so the *mean* density profiles
of the two models are identical at every time ([a test](../../tests/complexity/test_coffee_automaton.py)
checks both against the exact master equation). What differs is the noise around the mean. A cell of the
interacting model holds 0 or 1, a Bernoulli variable of variance $\rho(1 - \rho)$; a cell of the walkers holds
a count of variance about $\rho$ (Poisson). At $\rho = 1/2$ the $g \times g$ window averages should then
scatter by $\sqrt{\rho(1-\rho)}/g = 0.071$ and $\sqrt{\rho}/g = 0.101$; the final states at $n = 64$ give
0.064 and 0.097 (each window's deviation from its row's mean, windows clear of the walls). The peak, though,
comes over a whole density profile, and the ratio of the two scatters, $1/\sqrt{1-\rho}$, grows with the
cream density. Measured on the states between $n^2/2$ and $3n^2/2$ sweeps at $n = 64$, by the row's
density: the walkers scatter 1.11, 1.38 and 1.93 times as much as the interacting model in rows of density
0.05-0.35, 0.35-0.65 and 0.65-0.95 (expected at the bands' centres: 1.118, 1.414 and 2.236). In the
pure-cream half the interacting model has no noise at all, while the walkers scatter from the first sweeps:
after 61 sweeps their windows in rows of density above 0.95 scatter by 0.120 (close to $1/g = 0.143$),
the interacting model's by 0.007, and the walkers' adjusted complexity is already 803 bits against the
interacting model's 328 (320 at the start). Thresholding turns that noise into speckle, speckle does not
compress, and the walkers have more of it.

**The synthetic-field control.** If the pictures at the peak are the mean profile plus independent per-cell
noise, a field built from exactly that should compress the same. At the interacting model's 3-level peak
($n = 64$, $g = 7$, per seed) we keep each state's row densities and refill every cell independently:
Bernoulli cells give a 3-level complexity of 3,160 bits (2,912 to 3,448) against the interacting state's
3,128; Poisson counts give 3,603 against the walkers' 3,557 at that time. Under the adjusted coarse-graining
the synthetic fields come out *higher* than the real ones (819 against 661; 1,989 against 1,672). At this
grain, then, both models' complexity is what the mean profile and the per-cell noise produce; the
interactions add no structure that the compressor sees. The paper's appendix bound for the walkers needs
grains of $L \gg G\sqrt{3 \ln(2n^2)}$ cells ($G$ the number of levels), about 36 cells at $n = 64$ with 7
levels: above every grain we tried. We have not run the paper's own code.

## Differences from the paper

* **Vectorised updates.** The paper swaps one random adjacent pair per step. We update a whole *sweep* at
  once: an orientation is drawn for the grid (pairs along rows or along columns) and an offset for each line
  (pairs starting at even or at odd positions), which tiles the grid with disjoint dominoes, and each domino
  swaps independently with probability $1/2$. Each swap is one of the paper's moves, the swaps of a sweep
  commute because their pairs are disjoint, and the number of cream cells is conserved exactly (tested). A
  given pair swaps with probability $\frac12 \cdot \frac12 \cdot \frac12 = \frac18$ per sweep, so one sweep
  is about $2n(n-1)/8 \approx n^2/4$ of the paper's steps. The chain stays symmetric, so it keeps the
  paper's uniform stationary distribution, and its mean density obeys the same discrete diffusion equation
  (tested against the exact master equation). What changes is the order: within a sweep no cell takes part in
  two swaps, and the orientation is shared by the whole grid, a correlation between distant pairs that the
  paper's chain does not have. As a control, the full run also runs the paper's chain itself, one random
  swap at a time, at $n = 32$ for the same three seeds and the same number of swaps on average: its 3-level
  peak is 1,048 bits (1,016 to 1,112) against the sweeps' 984 (968 to 1,000), its adjusted peak 443 (432 to
  456) against 483, and the walkers' peaks (1,189 and 912) are above it as well.
* **The walkers** move with probability $1/2$ per sweep to one of four neighbours, a move into a wall being
  refused. That is exactly the one-particle kernel of the interacting sweep, so the two models share a clock.
* **Coarse-graining.** We follow the paper's code in averaging each cell over the $g \times g$ window centred
  on it, cut off at the walls (not over disjoint blocks), so $f(x)$ is $n \times n$. Window averages above
  1 (possible for the walkers) are put in the top level. Levels are equal-width bins of $[0, 1]$: with 3
  levels the paper's thresholds $1/3$ and $2/3$.
* **Adjusted coarse-graining** (the paper's Section 6, as we read it): 7 levels instead of 3, then in each
  row every cell within one level of the row's most common level is set to that level. The initial state and
  the dynamics are symmetric under horizontal shifts, so the expected coarse-grained state is constant along
  rows, and the rule erases the border flicker of cells whose average sits near a threshold. It uses that
  symmetry on purpose; it is a correction for this geometry, not a general denoiser.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from labml import monit
from matplotlib.figure import Figure

from papers.kit.checks import check_positive, check_tensor
from papers.kit.compression import compressed_bits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper

CODEC = "zlib"
LEVELS = 3
ADJUSTED_LEVELS = 7


# ## The initial state
#
# Cream (1) fills the top half of an `[height, width]` grid, coffee (0) the rest.
def initial_grid(height: int, width: int) -> torch.Tensor:
    check_positive("height", height, integer=True)
    check_positive("width", width, integer=True)
    grid = torch.zeros(height, width, dtype=torch.uint8)
    grid[: height // 2] = 1
    return grid  # [height, width]


# ## The interacting automaton, one sweep
#
# Draw an orientation (pairs along rows, or along columns: a horizontal sweep of the transposed view), and for
# every line of that orientation its own offset (pairs start at even or at odd positions): a domino tiling of
# the grid. Position $i$ of a line with offset $o$ is paired with $i + 1$ when $i - o$ is even and with
# $i - 1$ when it is odd; cells before the offset or without a partner at the wall stay out. Each pair swaps
# with probability $1/2$, one coin per pair (the coin of its first cell). The grid is updated in place.
def interacting_sweep(grid: torch.Tensor, generator: torch.Generator) -> None:
    check_tensor("grid", grid, [None, None], dtype=torch.uint8)
    vertical = bool(torch.randint(0, 2, (1,), generator=generator))
    view = grid.T if vertical else grid  # [lines, length]
    lines, length = view.shape
    offsets = torch.randint(0, 2, (lines, 1), generator=generator)  # [lines, 1]
    position = torch.arange(length)
    relative = position - offsets  # [lines, length]
    partner = torch.where(relative % 2 == 0, position + 1, position - 1)
    paired = (relative >= 0) & (partner < length)
    partner = partner.clamp(0, length - 1)
    coins = torch.rand(lines, length, generator=generator) < 0.5
    swap = paired & coins.gather(1, torch.minimum(position, partner))
    view.copy_(torch.where(swap, view.gather(1, partner), view))


# ## The paper's own update, as a control
#
# One uniformly random adjacent pair per step, swapped (a swap of equal cells changes nothing), for `steps`
# steps: the paper's chain, one swap at a time, in plain Python on a flat list. The pair index runs over the
# $h(w-1)$ horizontal pairs, then the $(h-1)w$ vertical ones.
def sequential_swaps(grid: torch.Tensor, steps: int, generator: torch.Generator) -> None:
    check_tensor("grid", grid, [None, None], dtype=torch.uint8)
    height, width = grid.shape
    horizontal = height * (width - 1)
    cells = grid.flatten().tolist()
    for pair in torch.randint(0, horizontal + (height - 1) * width, (steps,), generator=generator).tolist():
        if pair < horizontal:
            first = pair // (width - 1) * width + pair % (width - 1)
            second = first + 1
        else:
            first = pair - horizontal
            second = first + width
        cells[first], cells[second] = cells[second], cells[first]
    grid.copy_(torch.tensor(cells, dtype=torch.uint8).reshape(height, width))


# ## The non-interacting automaton, one sweep
#
# Particles are positions `[particles, 2]` (row, column). Each moves with probability $1/2$, in one of four
# directions; a move that would leave the grid is refused. The state the estimators see is the count of
# particles per cell.
STEPS = torch.tensor([[0, 1], [0, -1], [1, 0], [-1, 0]])


def walk_sweep(positions: torch.Tensor, shape: tuple[int, int], generator: torch.Generator) -> None:
    check_tensor("positions", positions, [None, 2], dtype=torch.long)
    moves = torch.rand(len(positions), generator=generator) < 0.5
    step = STEPS[torch.randint(0, 4, (len(positions),), generator=generator)] * moves[:, None]
    moved = positions + step
    inside = (moved >= 0).all(dim=1) & (moved[:, 0] < shape[0]) & (moved[:, 1] < shape[1])
    positions[inside] = moved[inside]


def particles_of(grid: torch.Tensor) -> torch.Tensor:
    return torch.nonzero(grid).long()  # [particles, 2]


def occupation(positions: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    cells = positions[:, 0] * shape[1] + positions[:, 1]
    counts = torch.bincount(cells, minlength=shape[0] * shape[1]).clamp_max(255)
    return counts.to(torch.uint8).reshape(shape)  # [height, width]


# ## Coarse-graining
#
# The window of cell $(i, j)$ is the $g \times g$ square centred on it ($g$ odd), cut off at the walls. Its
# sum and its number of cells come from an integral image, in exact integer arithmetic, so the thresholds
# below never depend on the rounding of a floating-point sum:
#
# $$\bar{x}_{ij} = \frac{1}{|W_{ij}|} \sum_{(k, l) \in W_{ij}} x_{kl}, \qquad
# W_{ij} = \{(k, l) : |k - i| \le \lfloor g/2 \rfloor,\ |l - j| \le \lfloor g/2 \rfloor\}.$$
def _box_sum(values: torch.Tensor, grain: int) -> torch.Tensor:
    half = grain // 2
    padded = torch.nn.functional.pad(values, (half + 1, half, half + 1, half))  # [h + g, w + g]
    integral = padded.cumsum(0).cumsum(1)
    return (integral[grain:, grain:] - integral[:-grain, grain:]
            - integral[grain:, :-grain] + integral[:-grain, :-grain])  # [h, w]


def window_sums(state: torch.Tensor, grain: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("state", state, [None, None], dtype=torch.uint8)
    check_positive("grain", grain, integer=True)
    if grain % 2 == 0:
        raise ValueError(f"grain must be odd (a window centred on each cell), got {grain}")
    values = state.long()
    return _box_sum(values, grain), _box_sum(torch.ones_like(values), grain)  # [h, w] each


# `unit` is the cell value that counts as density 1 (here 1: one cream particle; another system may count
# several particles per cell).
def coarse_grain(state: torch.Tensor, grain: int, unit: int = 1) -> torch.Tensor:
    check_positive("unit", unit, integer=True)
    sums, cells = window_sums(state, grain)
    return sums.double() / (unit * cells)  # [h, w], the density averaged over each window


# Thresholding into `levels` equal-width bins of $[0, 1]$ (a window average above 1, possible for the walkers,
# goes to the top level): level $= \min(\lfloor L \bar{x} \rfloor, L - 1)$, computed as
# $\lfloor L \cdot \text{sum} / (\text{unit} \cdot |W|) \rfloor$ on integers.
def threshold(state: torch.Tensor, grain: int, levels: int, unit: int = 1) -> torch.Tensor:
    check_positive("levels", levels, integer=True)
    check_positive("unit", unit, integer=True)
    sums, cells = window_sums(state, grain)
    return torch.div(levels * sums, unit * cells, rounding_mode="floor").clamp_max(levels - 1).to(torch.uint8)


# The adjusted coarse-graining: in each row, the most common level $m$ (the smallest on a tie), and every cell
# whose level is within one of $m$ is set to $m$.
def adjust_rows(levels_grid: torch.Tensor) -> torch.Tensor:
    check_tensor("levels_grid", levels_grid, [None, None], dtype=torch.uint8)
    counts = torch.nn.functional.one_hot(levels_grid.long()).sum(dim=1)  # [rows, levels]
    majority = counts.argmax(dim=1, keepdim=True).to(torch.uint8)  # [rows, 1]
    near = (levels_grid.short() - majority.short()).abs() <= 1
    return torch.where(near, majority, levels_grid)


# ## The two estimators
#
# One byte per cell, compressed. Entropy: the fine state. Complexity: the thresholded coarse-grained state,
# plain (3 levels) or adjusted (7 levels and the row rule).
def compressed_size(grid: torch.Tensor) -> int:
    check_tensor("grid", grid, [None, None], dtype=torch.uint8)
    return compressed_bits(grid.contiguous().numpy().tobytes(), CODEC)


def entropy_estimate(state: torch.Tensor) -> int:
    return compressed_size(state)


def complexity_estimate(state: torch.Tensor, grain: int, adjusted: bool = False) -> int:
    if adjusted:
        return compressed_size(adjust_rows(threshold(state, grain, ADJUSTED_LEVELS)))
    return compressed_size(threshold(state, grain, LEVELS))


# ## Running a model
#
# A run records the three estimates and the state at the requested sweep counts, and the noise of the final
# state (below).
MODELS = ("interacting", "non_interacting")
SEQUENTIAL = "interacting_sequential"


@dataclass
class Trajectory:
    times: list[int]
    entropy: list[int]
    complexity: list[int]
    adjusted: list[int]
    states: list[torch.Tensor]
    final_noise: float = 0.0


def measurement_times(total: int, points: int) -> list[int]:
    check_positive("total", total, integer=True)
    check_positive("points", points, integer=True)
    return sorted({0, *(int(round(v)) for v in np.logspace(0, math.log10(total), points))})


def run_model(model: str, size: int, grain: int, times: list[int], seed: int) -> Trajectory:
    if model not in (*MODELS, SEQUENTIAL):
        raise ValueError(f"model must be one of {(*MODELS, SEQUENTIAL)}, got {model!r}")
    check_positive("size", size, integer=True)
    generator = torch.Generator().manual_seed(seed)
    grid = initial_grid(size, size)
    positions = particles_of(grid)
    record = Trajectory([], [], [], [], [])
    sweep = 0
    for time in times:
        _advance(model, grid, positions, time - sweep, generator)
        sweep = time
        state = occupation(positions, (size, size)) if model == "non_interacting" else grid
        record.times.append(time)
        record.entropy.append(entropy_estimate(state))
        record.complexity.append(complexity_estimate(state, grain))
        record.adjusted.append(complexity_estimate(state, grain, adjusted=True))
        record.states.append(state.clone())
    record.final_noise = window_noise(record.states[-1], grain)
    return record


# `sweeps` sweeps of a model; for the sequential control, the same number of the paper's steps as that many
# sweeps hold on average, $2n(n-1)/8$ per sweep.
def _advance(model: str, grid: torch.Tensor, positions: torch.Tensor, sweeps: int,
             generator: torch.Generator) -> None:
    if model == SEQUENTIAL:
        height, width = grid.shape
        sequential_swaps(grid, sweeps * (height * (width - 1) + (height - 1) * width) // 8, generator)
    for _ in range(sweeps if model != SEQUENTIAL else 0):
        if model == "interacting":
            interacting_sweep(grid, generator)
        else:
            walk_sweep(positions, grid.shape, generator)


# The noise of a state's window averages: their deviation from their row's mean (which removes what is left of
# the density profile), over the windows that the walls do not cut. `window_deviations` gives the squared
# deviations `[rows, columns]` of those windows and each row's mean density `[rows]`.
def window_deviations(state: torch.Tensor, grain: int) -> tuple[torch.Tensor, torch.Tensor]:
    half = grain // 2
    inner = coarse_grain(state, grain)[half: state.shape[0] - half, half: state.shape[1] - half]
    row_mean = inner.mean(dim=1, keepdim=True)  # [rows, 1]
    return (inner - row_mean).square(), row_mean[:, 0]


def window_noise(state: torch.Tensor, grain: int) -> float:
    squared, _ = window_deviations(state, grain)
    return float(squared.mean().sqrt())


# The same noise over the rows whose mean density lies in `[low, high)`, pooled over several states: the peak
# comes over a whole density profile, not at density 1/2 alone. A band that holds no row is an error, not a NaN.
def band_noise(states: list[torch.Tensor], grain: int, low: float, high: float) -> float:
    pooled = []
    for state in states:
        squared, density = window_deviations(state, grain)
        pooled.append(squared[(density >= low) & (density < high)].flatten())
    values = torch.cat(pooled)
    if len(values) == 0:
        raise ValueError(f"no row of the states has a mean density in [{low}, {high})")
    return float(values.mean().sqrt())


# ## The synthetic-field control
#
# Is the coarse-grained picture at the peak structure that the interactions create, or only the mean density
# profile plus independent noise per cell? Keep a state's row densities $\rho_i$ and refill every cell
# independently: `"bernoulli"` draws 0 or 1 with mean $\rho_i$ (the interacting model's one-particle cells),
# `"poisson"` draws a count with mean $\rho_i$ (the walkers' cells).
def synthetic_field(state: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    check_tensor("state", state, [None, None], dtype=torch.uint8)
    if kind not in ("bernoulli", "poisson"):
        raise ValueError(f"kind must be 'bernoulli' or 'poisson', got {kind!r}")
    density = state.double().mean(dim=1, keepdim=True).expand(state.shape).contiguous()  # [h, w]
    if kind == "bernoulli":
        if float(density.max()) > 1:
            raise ValueError("a Bernoulli field needs row densities of at most 1")
        cells = torch.bernoulli(density, generator=generator)
    else:
        cells = torch.poisson(density, generator=generator)
    return cells.clamp_max(255).to(torch.uint8)  # [h, w]


# ## The experiment
#
# Every (size, model, seed); sweeps up to $3n^2$. The metrics are, per size and model and over seeds: the peak
# of each complexity, its time (in units of $n^2$ sweeps), its value at the start and end, and the entropy at
# the start and end; the noise of the final state against the prediction $\sqrt{\rho(1-\rho)}/g$ or
# $\sqrt{\rho}/g$ at $\rho = 1/2$; and the exponent of a power law fitted to the peaks against $n$. At the
# middle size, from the states already recorded: the peaks at other grains, and the noise and synthetic-field
# controls at the time of the interacting model's peak.
GRAIN = 7
GRAINS = (7, 11, 15, 21)
DENSITY_BANDS = ((0.05, 0.35), (0.35, 0.65), (0.65, 0.95))


def experiment(config: RunConfig) -> Outcome:
    sizes = config.choose([32, 64, 96], [32])
    seeds = list(range(config.seed, config.seed + 3))
    points = config.choose(40, 24)
    runs: dict[tuple[int, str, int], Trajectory] = {}
    jobs = [(n, m, s) for n in sizes for m in MODELS for s in seeds] + [(sizes[0], SEQUENTIAL, s) for s in seeds]
    for size, model, seed in monit.iterate("runs", jobs):
        runs[(size, model, seed)] = run_model(model, size, GRAIN, measurement_times(3 * size * size, points), seed)
    probe = sizes[len(sizes) // 2]
    metrics = _metrics(runs, sizes, seeds)
    metrics.update(_grain_sweep(runs, probe, seeds, config.choose(GRAINS, (7, 15))))
    metrics.update(_controls(runs, probe, seeds, DENSITY_BANDS))
    return Outcome(_headline(metrics, probe), metrics,
                   {"": _figure(runs, sizes, seeds, metrics), "states": _states_figure(runs, sizes, seeds)})


def _metrics(runs: dict[tuple[int, str, int], Trajectory], sizes: list[int], seeds: list[int]) -> dict:
    metrics: dict = {"grain": GRAIN, "sizes": sizes,
                     "noise_prediction": {"interacting": round(0.5 / GRAIN, 4),
                                          "non_interacting": round(math.sqrt(0.5) / GRAIN, 4)}}
    for size in sizes:
        for model in MODELS:
            trajectories = {seed: runs[(size, model, seed)] for seed in seeds}
            key = f"{model}_n{size}"
            for name in ("complexity", "adjusted"):
                metrics[f"peak_{name}_{key}"] = over_seeds({s: max(getattr(r, name)) for s, r in trajectories.items()})
                metrics[f"peak_time_{name}_{key}"] = over_seeds(
                    {s: r.times[int(np.argmax(getattr(r, name)))] / size ** 2 for s, r in trajectories.items()})
                metrics[f"start_{name}_{key}"] = over_seeds({s: getattr(r, name)[0] for s, r in trajectories.items()})
                metrics[f"end_{name}_{key}"] = over_seeds({s: getattr(r, name)[-1] for s, r in trajectories.items()})
            metrics[f"start_entropy_{key}"] = over_seeds({s: r.entropy[0] for s, r in trajectories.items()})
            metrics[f"end_entropy_{key}"] = over_seeds({s: r.entropy[-1] for s, r in trajectories.items()})
            metrics[f"final_noise_{key}"] = over_seeds({s: r.final_noise for s, r in trajectories.items()})
        if (size, SEQUENTIAL, seeds[0]) in runs:
            for name in ("complexity", "adjusted"):
                metrics[f"peak_{name}_{SEQUENTIAL}_n{size}"] = over_seeds(
                    {s: max(getattr(runs[(size, SEQUENTIAL, s)], name)) for s in seeds})
            metrics[f"end_complexity_{SEQUENTIAL}_n{size}"] = over_seeds(
                {s: runs[(size, SEQUENTIAL, s)].complexity[-1] for s in seeds})
        for name in ("complexity", "adjusted"):
            metrics[f"peak_{name}_ratio_n{size}"] = over_seeds(
                {s: max(getattr(runs[(size, "non_interacting", s)], name))
                 / max(getattr(runs[(size, "interacting", s)], name)) for s in seeds})
    if len(sizes) > 1:
        metrics.update(_growth_exponents(metrics, sizes, seeds))
    return metrics


# How the peak grows with $n$: the slope $a$ of $\log(\text{peak}) = a \log n + b$, least squares over the
# sizes, one fit per seed.
def growth_exponent(sizes: list[int], peaks: list[float]) -> float:
    if len(sizes) != len(peaks) or len(sizes) < 2:
        raise ValueError(f"a growth exponent needs at least two sizes with one peak each, got {sizes}, {peaks}")
    return float(np.polyfit(np.log(sizes), np.log(peaks), 1)[0])


def _growth_exponents(metrics: dict, sizes: list[int], seeds: list[int]) -> dict:
    return {f"peak_{name}_{model}_exponent": over_seeds(
        {s: growth_exponent(sizes, [metrics[f"peak_{name}_{model}_n{n}"]["per_seed"][str(s)] for n in sizes])
         for s in seeds}) for model in MODELS for name in ("complexity", "adjusted")}


# ## Other grains, and the walkers clipped to occupancy
#
# The recorded states, coarse-grained again at each grain of `grains`: the peak, start and end of both
# complexities for the two models and for the walkers' counts clipped at 1 per cell (`"occupancy"`: a cell
# holds cream or not, as in the interacting model).
VARIANTS = {"interacting": "interacting", "non_interacting": "non_interacting", "occupancy": "non_interacting"}


def _curve(run: Trajectory, variant: str, grain: int, adjusted: bool) -> list[int]:
    states = [s.clamp_max(1) if variant == "occupancy" else s for s in run.states]
    return [complexity_estimate(state, grain, adjusted) for state in states]


def _grain_sweep(runs: dict[tuple[int, str, int], Trajectory], size: int, seeds: list[int],
                 grains: tuple[int, ...]) -> dict:
    metrics: dict = {"grains": list(grains), "grain_size": size}
    for grain in monit.iterate("grains", grains):
        for name in ("complexity", "adjusted"):
            curves = {(variant, s): _curve(runs[(size, model, s)], variant, grain, name == "adjusted")
                      for variant, model in VARIANTS.items() for s in seeds}
            for variant in VARIANTS:
                for where, pick in (("peak", max), ("start", lambda c: c[0]), ("end", lambda c: c[-1])):
                    metrics[f"grain_{where}_{name}_{variant}_g{grain}"] = over_seeds(
                        {s: pick(curves[(variant, s)]) for s in seeds})
            metrics[f"grain_peak_{name}_ratio_g{grain}"] = over_seeds(
                {s: max(curves[("non_interacting", s)]) / max(curves[("interacting", s)]) for s in seeds})
    return metrics


# ## The noise and the synthetic field at the peak
#
# Around the peak, over the states measured between $n^2/2$ and $3n^2/2$ sweeps (the peaks come at about
# $n^2$, when the profile alone may leave the outer bands empty): the window-average noise of both models in
# each band of row density. At the time of the interacting model's 3-level peak (per seed): the two
# complexities of the real states against those of synthetic fields with the same row densities (Bernoulli
# cells for the interacting state, Poisson counts for the walkers').
# Early on, at the first measurement after $g^2$ sweeps: the noise of the rows still pure cream (density at
# least 0.95) and the adjusted complexity of both models.
def _controls(runs: dict[tuple[int, str, int], Trajectory], size: int, seeds: list[int],
              bands: tuple[tuple[float, float], ...]) -> dict:
    metrics: dict = {"bands": [list(band) for band in bands],
                     "band_noise_expected_ratio": [round(1 / math.sqrt(1 - (low + high) / 2), 3)
                                                   for low, high in bands]}
    per_seed: dict[str, dict[int, float]] = {}
    for seed in seeds:
        peak = int(np.argmax(runs[(size, "interacting", seed)].complexity))
        times = runs[(size, "interacting", seed)].times
        early = next(i for i, t in enumerate(times) if t >= GRAIN ** 2)
        around = [i for i, t in enumerate(times) if size ** 2 / 2 <= t <= 3 * size ** 2 / 2]
        generator = torch.Generator().manual_seed(seed)
        for model, kind in zip(MODELS, ("bernoulli", "poisson")):
            run = runs[(size, model, seed)]
            values = {f"band_noise_{model}_b{i}": band_noise([run.states[i] for i in around], GRAIN, low, high)
                      for i, (low, high) in enumerate(bands)}
            values[f"cream_noise_{model}"] = band_noise([run.states[early]], GRAIN, 0.95, math.inf)
            values[f"early_adjusted_{model}"] = run.adjusted[early]
            synthetic = synthetic_field(run.states[peak], kind, generator)
            for name, adjusted in (("complexity", False), ("adjusted", True)):
                values[f"control_{name}_{model}"] = complexity_estimate(run.states[peak], GRAIN, adjusted)
                values[f"synthetic_{name}_{kind}"] = complexity_estimate(synthetic, GRAIN, adjusted)
            values["early_time"] = run.times[early]
            for key, value in values.items():
                per_seed.setdefault(key, {})[seed] = value
        for i in range(len(bands)):
            per_seed.setdefault(f"band_noise_ratio_b{i}", {})[seed] = (
                per_seed[f"band_noise_non_interacting_b{i}"][seed] / per_seed[f"band_noise_interacting_b{i}"][seed])
    metrics.update({key: over_seeds(values) for key, values in per_seed.items()})
    return metrics


def _headline(metrics: dict, size: int) -> str:
    def peak(name: str, model: str) -> float:
        return metrics[f"peak_{name}_{model}_n{size}"]["mean"]
    return (f"n={size}: entropy rises in both models; 3-level complexity peaks at "
            f"{peak('complexity', 'interacting'):.0f} bits (interacting) and "
            f"{peak('complexity', 'non_interacting'):.0f} (non-interacting), adjusted at "
            f"{peak('adjusted', 'interacting'):.0f} and {peak('adjusted', 'non_interacting'):.0f}: "
            f"not lower without interactions; walkers' 3-level peak / interacting at grains {metrics['grains']}: "
            + ", ".join(f"{metrics[f'grain_peak_complexity_ratio_g{g}']['mean']:.2f}" for g in metrics["grains"]))


COLOURS = {"interacting": "tab:blue", "non_interacting": "tab:orange"}


def _figure(runs: dict[tuple[int, str, int], Trajectory], sizes: list[int], seeds: list[int],
            metrics: dict) -> Figure:
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.2))
    panels = [("entropy", "entropy: C(fine state), bits"), ("complexity", "complexity, 3 levels, bits"),
              ("adjusted", "complexity, adjusted (7 levels + rows), bits")]
    shown = [sizes[0], sizes[-1]]
    for ax, (name, label) in zip(axes, panels):
        for size in shown:
            for model in MODELS:
                run = runs[(size, model, seeds[0])]
                times = np.array(run.times[1:]) / size ** 2
                ax.plot(times, getattr(run, name)[1:], color=COLOURS[model],
                        linestyle="-" if size == shown[-1] else ":", label=f"{model}, n={size}")
        ax.set(xscale="log", xlabel="sweeps / $n^2$", ylabel=label, title=label.split(",")[0] + f" (seed {seeds[0]})")
    axes[0].legend(fontsize=8)
    for model in MODELS:
        for name, marker in (("complexity", "o"), ("adjusted", "s")):
            stats = [metrics[f"peak_{name}_{model}_n{size}"] for size in sizes]
            means = np.array([s["mean"] for s in stats])
            errors = np.array([[m - s["min"], s["max"] - m] for m, s in zip(means, stats)]).T
            axes[3].errorbar(sizes, means, yerr=errors, color=COLOURS[model], marker=marker, capsize=3,
                             linestyle="-" if name == "complexity" else "--", label=f"{model}, {name}")
    axes[3].set(xlabel="grid size n", ylabel="peak complexity, bits", title="peak over time (3 seeds, range)")
    axes[3].legend(fontsize=8)
    _grain_panel(axes[4], metrics)
    fig.tight_layout()
    return fig


def _grain_panel(ax: plt.Axes, metrics: dict) -> None:
    grains = metrics["grains"]
    for variant, colour in (*COLOURS.items(), ("occupancy", "tab:green")):
        for name, marker in (("complexity", "o"), ("adjusted", "s")):
            stats = [metrics[f"grain_peak_{name}_{variant}_g{g}"] for g in grains]
            means = np.array([s["mean"] for s in stats])
            errors = np.array([[m - s["min"], s["max"] - m] for m, s in zip(means, stats)]).T
            ax.errorbar(grains, means, yerr=errors, color=colour, marker=marker, capsize=3,
                        linestyle="-" if name == "complexity" else "--", label=f"{variant}, {name}")
    ax.set(xlabel="grain g", ylabel="peak complexity, bits", yscale="log",
           title=f"peak against grain, n={metrics['grain_size']} (3 seeds)")
    ax.legend(fontsize=7)


# The states themselves at the largest size, seed 0, at the time of the interacting model's 3-level peak:
# the fine state, its 3-level and its adjusted coarse-graining.
def _states_figure(runs: dict[tuple[int, str, int], Trajectory], sizes: list[int], seeds: list[int]) -> Figure:
    size = sizes[-1]
    reference = runs[(size, "interacting", seeds[0])]
    index = int(np.argmax(reference.complexity))
    fig, axes = plt.subplots(2, 3, figsize=(12, 8.4))
    for row, model in enumerate(MODELS):
        state = runs[(size, model, seeds[0])].states[index]
        images = [(state, 2, "fine state"), (threshold(state, GRAIN, LEVELS), LEVELS - 1, "3 levels"),
                  (adjust_rows(threshold(state, GRAIN, ADJUSTED_LEVELS)), ADJUSTED_LEVELS - 1, "adjusted")]
        for ax, (image, top, title) in zip(axes[row], images):
            ax.imshow(image.numpy(), cmap="copper_r", vmin=0, vmax=top, interpolation="nearest")
            ax.set(xticks=[], yticks=[], title=f"{model}: {title}, sweep {reference.times[index]}")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
