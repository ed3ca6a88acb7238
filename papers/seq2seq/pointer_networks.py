r"""
---
title: Pointer Networks
summary: An LSTM encoder-decoder whose outputs are positions in its input, chosen by masked additive
  attention; trained on convex hulls and on small travelling-salesman tours with exact labels.
---

# Pointer Networks

[Vinyals, Fortunato, Jaitly, 2015. *Pointer Networks*](https://arxiv.org/abs/1506.03134)

Many problems answer with a selection of their own input: the points on the convex hull of a point set,
the order in which to visit cities, the numbers of a list in sorted order. A sequence-to-sequence model
with a fixed output vocabulary cannot say "the 7th point" when the next question has 50 points. A
*pointer network* keeps the [attention](bahdanau_attention.py) of Bahdanau et al. and drops everything
after it: the attention weights over the $n$ input positions *are* the output distribution,

$$u^i_j = v^\top \tanh\left(W_1 e_j + W_2 d_i\right), \qquad
p(C_i = j \mid C_1, \dots, C_{i-1}, \mathcal{P}) = \operatorname{softmax}_j\, u^i_j,$$

where $e_j$ are the encoder's states and $d_i$ the decoder's. The output "vocabulary" is the input, so one
network handles any number of points. Here the pointer is *masked*: a position already chosen gets
$u^i_j = -\infty$, so no point is picked twice, in training and in greedy decoding alike (for TSP, the paper
imposes the constraint only at inference, in its beam search).

## The experiments

**Convex hull** of 10 uniform points in the unit square. The labels come from Andrew's monotone chain,
written below and tested against brute force and SciPy: the hull's points, counter-clockwise from the
leftmost one, then an *end* position. We report the fraction of hulls output exactly, and the area of the
predicted polygon divided by the true hull's area (*area coverage*, as in the paper).

**Travelling salesman** on 6 cities: labels are optimal tours found by trying all $5! = 120$ orders
(starting at city 0, one of the two directions). We report the mean ratio of the predicted tour's length
to the optimum and the fraction of tours that are optimal, next to two baselines that learn nothing: the
nearest-neighbour heuristic (from city 0, always to the closest unvisited city) and a random order.

**Seeds, test sets and leaks.** Each task's network (64 units) is trained with three seeds, the seed
fixing its initial weights and its stream of training point sets: 900 steps of 128 fresh sets, Adam at a
learning rate of 0.003 (picked in a few short trials on fresh point sets, never on the test sets; those trials are
not recorded in the results file). All
networks are tested on the same 1,000 point sets per task, drawn once from a generator of their own, so
the optimum, nearest neighbour and the random order are single numbers on that test set, the same for
every seed. The point sets are continuous, so a test set could occur in training only if two random
streams coincided; rather than assume it, the experiment replays every network's training stream and
counts the test sets found in it: none.

![Predicted hulls and tours](results/pointer_networks.png)

At this scale (about 45 s of CPU per seed for both tasks) the pointer network outputs 66.6% of the
hulls of 10 points exactly (mean of three seeds; the seeds range from 65.5% to 67.5%) and covers 99.5% of
their area (99.5% to 99.6%). The wrong hull in the figure misses a point that lies almost on an edge; how
often that is the failure is not measured. Its 6-city tours are on average 1.025 times the optimum (1.022
to 1.029) and optimal outright 54.4% of the time (50.9% to 57.1%). On the same cities nearest neighbour's
tours are 1.058 times the optimum and optimal 31.7% of the time, and a random order's 1.341 times. So on
every seed the network's tours are shorter on average than nearest neighbour's, and optimal more often.

The paper's claims, at its own scale (a single-layer LSTM of 256 or 512 units, SGD, a million training
examples, beam search): 72.6% exact hulls and 99.9% area coverage on 50 points (Table 1), and tours
nearly as short as the optimum on 5 cities (2.12 against 2.12) and 10 cities (2.88 against 2.87) (Table 2).
The runs here are smaller in every way (64 units, Adam, about 115,000 examples per network, greedy
decoding, 10 points and 6 cities), so they check the claims only in miniature: the tours beat the
nearest-neighbour heuristic but are not as close to optimal as the paper's. The paper's 72.6% and 99.9%
are on 50 points, so they are no like-for-like comparison with our 10 points; Table 1 of the paper also
reports smaller numbers of points, and those rows, not the 50-point one, are what our hull result
should be set against (we quote no number from them here). Whether more training would close the gap
to the paper is not tested here.
"""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_ids, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import optimizer_step, train_loop
from papers.seq2seq.bahdanau_attention import AdditiveAttention


# ## The pointer decoder
#
# <a id="PointerDecoder"></a>
# An LSTM cell whose output at step $i$ is $u^i$ `[batch, positions]`: the
# [additive attention](bahdanau_attention.py#AdditiveAttention) scores of its state $d_i$ against the
# `keys` $e_j$ `[batch, positions, key_dim]`. Its input at step $i$ is the input vector of the position
# chosen at step $i-1$ (`inputs` `[batch, positions, input_dim]`), and a learned start vector at step 0.
#
# The choice fed back is the target during training (*teacher forcing*) and the arg-max when `targets` is
# `None`. A boolean `chosen` `[batch, positions]` records every position picked so far; with
# `mask_chosen`, their scores are $-\infty$, so a position can never be picked twice. Every step then
# needs one position left, so `steps` may not exceed the number of positions. The decoder is shared: the
# write block of [Order Matters](order_matters.py) is this same module.
class PointerDecoder(nn.Module):
    def __init__(self, input_dim: int, key_dim: int, hidden: int, attention_dim: int,
                 mask_chosen: bool = True) -> None:
        super().__init__()
        check_positive("input_dim", input_dim, integer=True)
        check_positive("hidden", hidden, integer=True)
        self.cell = nn.LSTMCell(input_dim, hidden)
        self.pointer = AdditiveAttention(hidden, key_dim, attention_dim)
        self.start = nn.Parameter(torch.zeros(input_dim))
        self.mask_chosen = mask_chosen

    def forward(self, keys: torch.Tensor, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                steps: int, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = self.start.dtype
        sizes = check_tensor("keys", keys, ["batch", "positions", self.pointer.U.in_features], dtype=dtype)
        check_tensor("inputs", inputs, ["batch", "positions", self.start.shape[0]], dtype=dtype, sizes=sizes)
        check_tensor("state[0]", state[0], ["batch", self.cell.hidden_size], dtype=dtype, sizes=sizes)
        check_tensor("state[1]", state[1], ["batch", self.cell.hidden_size], dtype=dtype, sizes=sizes)
        check_steps(steps, self.mask_chosen, targets, sizes)
        batch, positions = sizes["batch"], sizes["positions"]
        projected = self.pointer.project_keys(keys)  # W_1 e_j, [batch, positions, attention_dim]
        chosen = torch.zeros(batch, positions, dtype=torch.bool, device=keys.device)
        x = self.start.expand(batch, -1)  # [batch, input_dim]
        rows = torch.arange(batch, device=keys.device)
        logits, choices = [], []
        for i in range(steps):
            state = self.cell(x, state)
            u = self.pointer.scores(state[0], projected, ~chosen if self.mask_chosen else None)
            choice = u.argmax(dim=-1) if targets is None else targets[:, i]  # [batch]
            chosen = chosen.clone()
            chosen[rows, choice] = True
            x = inputs[rows, choice]
            logits.append(u)
            choices.append(choice)
        # [batch, steps, positions] and [batch, steps]
        return torch.stack(logits, dim=1), torch.stack(choices, dim=1)


# `targets` `[batch, steps]` are positions.
def check_steps(steps: int, mask_chosen: bool, targets: torch.Tensor | None, sizes: dict[str, int]) -> None:
    positions = sizes["positions"]
    check_positive("steps", steps, integer=True)
    if mask_chosen and steps > positions:
        raise ValueError(f"steps must be in [1, {positions}] for {positions} positions, got {steps}")
    if targets is not None:
        check_ids("targets", targets, ["batch", steps], positions, sizes=sizes)


# ## The pointer network
#
# Each point $P_j = (x_j, y_j)$ is embedded linearly and an LSTM encoder reads them in order; its states
# are the keys $e_j$, and its final state starts the decoder. With `with_end`, a learned *end* vector is
# read first, so position 0 means "stop": a hull has a variable number of points.
class PointerNet(nn.Module):
    def __init__(self, hidden: int = 128, with_end: bool = True) -> None:
        super().__init__()
        check_positive("hidden", hidden, integer=True)
        self.embed = nn.Linear(2, hidden)
        self.end = nn.Parameter(torch.randn(hidden) * 0.1) if with_end else None
        self.encoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.decoder = PointerDecoder(hidden, hidden, hidden, hidden)

    # `points` `[batch, n, 2]` → logits `[batch, steps, positions]` and choices `[batch, steps]`, where
    # positions is $n + 1$ with an end position and $n$ without.
    def forward(self, points: torch.Tensor, steps: int,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor("points", points, ["batch", "n", 2], dtype=self.embed.weight.dtype)
        if points.shape[1] < 3:
            raise ValueError(f"points must be [batch, n >= 3, 2], got {tuple(points.shape)}")
        embedded = self.embed(points)  # [batch, n, hidden]
        if self.end is not None:
            embedded = torch.cat([self.end.expand(len(points), 1, -1), embedded], dim=1)
        keys, (h, c) = self.encoder(embedded)  # [batch, positions, hidden]
        return self.decoder(keys, embedded, (h[0], c[0]), steps, targets)


# ## Convex hull labels: Andrew's monotone chain
#
# Sort the points by $x$ (then $y$). Walk left to right keeping the *lower* hull: before adding a point,
# pop the last one while the last two and the new one fail to make a counter-clockwise (left) turn,
# i.e. while the cross product $(b - a) \times (p - a) \le 0$. Walk right to left the same way for the
# *upper* hull. The two chains, joined, are the hull counter-clockwise from the leftmost point, in
# $O(n \log n)$.
def cross(a: tuple[float, float], b: tuple[float, float], p: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def convex_hull(points: list[tuple[float, float]]) -> list[int]:
    if len(points) < 3:
        raise ValueError(f"a hull needs at least 3 points, got {len(points)}")
    order = sorted(range(len(points)), key=lambda i: points[i])

    def chain(indices: list[int]) -> list[int]:
        kept: list[int] = []
        for i in indices:
            while len(kept) >= 2 and cross(points[kept[-2]], points[kept[-1]], points[i]) <= 0:
                kept.pop()
            kept.append(i)
        return kept

    lower, upper = chain(order), chain(order[::-1])
    return lower[:-1] + upper[:-1]  # each chain's last point starts the other


# The targets: hull positions shifted by one (position 0 is *end*), then end, padded with end to $n + 1$
# steps; and the mask of the steps that count in the loss (the hull and its first end).
def hull_targets(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    batch, n, _ = points.shape
    targets = torch.zeros(batch, n + 1, dtype=torch.long)
    counted = torch.zeros(batch, n + 1, dtype=torch.bool)
    for b, cloud in enumerate(points.tolist()):
        hull = convex_hull([tuple(p) for p in cloud])
        targets[b, :len(hull)] = torch.tensor(hull) + 1
        counted[b, :len(hull) + 1] = True
    return targets, counted


# The area of a polygon by the shoelace formula, $\frac{1}{2}\left|\sum_k x_k y_{k+1} - x_{k+1} y_k\right|$.
def polygon_area(vertices: torch.Tensor) -> float:
    if len(vertices) < 3:
        return 0.0
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(float((x * y.roll(-1) - x.roll(-1) * y).sum()))


# ## TSP labels: brute force
#
# The length of a closed tour `order` `[batch, n]` through `cities` `[batch, n, 2]`.
def tour_length(cities: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    visited = cities[torch.arange(len(cities), device=cities.device)[:, None], order]  # [batch, n, 2]
    return (visited - visited.roll(-1, dims=1)).norm(dim=-1).sum(dim=-1)  # [batch]


# Every tour starting at city 0, all $(n-1)!$ of them at once, and the shortest; reversed so that its
# second city has the smaller index of the two neighbours of city 0 (a tour and its reverse are the same).
def optimal_tours(cities: torch.Tensor) -> torch.Tensor:
    batch, n, _ = cities.shape
    rest = torch.tensor(list(itertools.permutations(range(1, n))), device=cities.device)  # [(n-1)!, n-1]
    tours = torch.cat([rest.new_zeros(len(rest), 1), rest], dim=1)  # [(n-1)!, n]
    lengths = tour_length(cities.repeat_interleave(len(tours), 0), tours.repeat(batch, 1))
    best = tours[lengths.view(batch, -1).argmin(dim=1)]  # [batch, n]
    flip = best[:, 1] > best[:, -1]
    best[flip, 1:] = best[flip, 1:].flip(dims=[1])
    return best


# The nearest-neighbour heuristic, for comparison: from city 0, always go to the closest unvisited city.
def nearest_neighbour_tours(cities: torch.Tensor) -> torch.Tensor:
    batch, n, _ = cities.shape
    distance = torch.cdist(cities, cities)  # [batch, n, n]
    rows = torch.arange(batch, device=cities.device)
    current = rows.new_zeros(batch)
    visited = torch.zeros(batch, n, dtype=torch.bool, device=cities.device)
    visited[:, 0] = True
    tour = [current]
    for _ in range(n - 1):
        current = distance[rows, current].masked_fill(visited, float("inf")).argmin(dim=1)
        visited[rows, current] = True
        tour.append(current)
    return torch.stack(tour, dim=1)


# ## Training
#
# Fresh uniform points for every batch; the loss is the cross-entropy of each pointer step against the
# label, over the steps that count.
def uniform_points(batch_size: int, n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(batch_size, n, 2, generator=generator)


def train(model: PointerNet, task: str, n: int, steps: int, batch_size: int, generator: torch.Generator,
          lr: float = 3e-3) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> dict[str, float]:
        points = uniform_points(batch_size, n, generator)
        targets, counted = labels(task, points)
        logits, _ = model(points, targets.shape[1], targets)
        loss = F.cross_entropy(logits[counted], targets[counted])
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=2.0)}

    return train_loop(steps, step, log_every=100).values("loss")


def labels(task: str, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if task == "hull":
        return hull_targets(points)
    if task == "tsp":
        tours = optimal_tours(points)
        return tours, torch.ones_like(tours, dtype=torch.bool)
    raise ValueError(f"task must be 'hull' or 'tsp', got {task!r}")


# ## Evaluation
#
# A predicted hull is the positions before the first end. Exact: the same points in the same order as the
# label. Coverage: the predicted polygon's area over the true hull's.
def predicted_hulls(model: PointerNet, points: torch.Tensor) -> list[list[int]]:
    with torch.no_grad():
        _, choices = model(points, points.shape[1] + 1)
    hulls = []
    for row in choices.tolist():
        stop = row.index(0) if 0 in row else len(row)
        hulls.append([j - 1 for j in row[:stop]])
    return hulls


def hull_scores(model: PointerNet, points: torch.Tensor) -> dict[str, float]:
    exact, coverage = [], []
    for cloud, hull in zip(points, predicted_hulls(model, points)):
        truth = convex_hull([tuple(p) for p in cloud.tolist()])
        exact.append(float(hull == truth))
        coverage.append(polygon_area(cloud[hull]) / polygon_area(cloud[truth]))
    return {"exact": sum(exact) / len(exact), "area_coverage": sum(coverage) / len(coverage)}


def tsp_scores(model: PointerNet, cities: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        _, predicted = model(cities, cities.shape[1])
    return tour_quality(cities, predicted, tour_length(cities, optimal_tours(cities)))


# The mean ratio of a set of tours `[batch, n]` to the optimal lengths `[batch]`, and the fraction of tours
# that are optimal (to rounding).
def tour_quality(cities: torch.Tensor, tours: torch.Tensor, optimum: torch.Tensor) -> dict[str, float]:
    ratio = tour_length(cities, tours) / optimum  # [batch]
    return {"ratio": ratio.mean().item(), "optimal_fraction": (ratio <= 1 + 1e-6).float().mean().item()}


# The baselines learn nothing: nearest neighbour and a random order (drawn once, from seed 0) are computed on
# the test cities, so on one test set they are the same whatever the network's seed.
def tsp_baselines(cities: torch.Tensor) -> dict[str, dict[str, float]]:
    optimum = tour_length(cities, optimal_tours(cities))
    random_order = torch.argsort(torch.rand(cities.shape[:2], generator=torch.Generator().manual_seed(0)), dim=1)
    return {"nearest_neighbour": tour_quality(cities, nearest_neighbour_tours(cities), optimum),
            "random": tour_quality(cities, random_order, optimum)}


# ## Test sets that were seen in training
#
# Training draws fresh uniform points from a generator seeded with the model's seed, and the test sets come
# from another generator (seeded with `config.seed + 1000`). Point sets are continuous, so a test set occurs in
# training only if the two streams happen to coincide; rather than assume it, we replay the model's training
# stream (its generator feeds `uniform_points` and nothing else) and count the test sets `[count, n, 2]` that
# occur in it exactly.
def seen_in_training(test_points: torch.Tensor, seed: int, steps: int, batch_size: int) -> int:
    generator = torch.Generator().manual_seed(seed)
    n = test_points.shape[1]
    seen = {cloud.tobytes() for _ in range(steps) for cloud in uniform_points(batch_size, n, generator).numpy()}
    return sum(cloud.tobytes() in seen for cloud in test_points.numpy())


# ## The experiment
#
# The full run's size: the network's width and its training steps (batches of 128 fresh point sets).
FULL_HIDDEN, FULL_STEPS = 64, 900


# Each seed trains one network per task; all are tested on the same test sets, drawn once per run. Every
# learned number in the results file is given per seed with its mean and spread (`over_seeds`); the baselines
# are single numbers.
def experiment(config: RunConfig) -> Outcome:
    hull_n, tsp_n = config.choose(10, 6), config.choose(6, 5)
    steps = config.train_steps(FULL_STEPS, 200)
    hidden = config.choose(FULL_HIDDEN, 64)
    batch_size, test_count = 128, config.choose(1000, 200)
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    test_generator = torch.Generator().manual_seed(config.seed + 1000)
    test = {"hull": uniform_points(test_count, hull_n, test_generator),
            "tsp": uniform_points(test_count, tsp_n, test_generator)}
    scores: dict[str, dict[int, float]] = {}
    models: dict[str, PointerNet] = {}
    seen = 0
    for seed in seeds:
        for task, points in test.items():
            model = train_model(task, seed, points.shape[1], hidden, steps, batch_size)
            found = hull_scores(model, points) if task == "hull" else tsp_scores(model, points)
            for name, value in found.items():
                scores.setdefault(f"{task}_{'pointer_' if task == 'tsp' else ''}{name}", {})[seed] = value
            seen += seen_in_training(points, seed, steps, batch_size)
            models.setdefault(task, model)  # the first seed's, for the figure
    metrics: dict[str, object] = {name: over_seeds(per_seed) for name, per_seed in scores.items()}
    for baseline, quality in tsp_baselines(test["tsp"]).items():
        metrics |= {f"tsp_{baseline}_{name}": round(value, 4) for name, value in quality.items()}
    metrics |= {"seeds": seeds, "hull_points": hull_n, "tsp_cities": tsp_n, "train_steps": steps,
                "hidden": hidden, "test_sets": test_count, "test_sets_seen_in_training": seen}
    headline = (f"mean of {len(seeds)} seeds: hull of {hull_n} points {metrics['hull_exact']['mean']:.1%} "
                f"exact, {metrics['hull_area_coverage']['mean']:.1%} area coverage; TSP on {tsp_n} cities: "
                f"tour {metrics['tsp_pointer_ratio']['mean']:.3f}x optimal "
                f"(nearest neighbour {metrics['tsp_nearest_neighbour_ratio']:.3f}x)")
    figure = plot_examples(models, hull_n, tsp_n, torch.Generator().manual_seed(config.seed + 2000))
    return Outcome(headline=headline, metrics=metrics, figures={"": figure})


# One trained network, in evaluation mode. Its seed fixes both the initial weights and the stream of training
# point sets.
def train_model(task: str, seed: int, n: int, hidden: int, steps: int, batch_size: int) -> PointerNet:
    torch.manual_seed(seed)
    model = PointerNet(hidden, with_end=task == "hull")
    train(model, task, n, steps, batch_size, torch.Generator().manual_seed(seed))
    return model.eval()


# ## Figure: three hulls and three tours, predicted (solid) over the label (dashed)
def plot_examples(models: dict[str, PointerNet], hull_n: int, tsp_n: int,
                  generator: torch.Generator) -> Figure:
    fig, axes = plt.subplots(2, 3, figsize=(9, 6))
    clouds = uniform_points(3, hull_n, generator)
    for ax, cloud, hull in zip(axes[0], clouds, predicted_hulls(models["hull"], clouds)):
        truth = convex_hull([tuple(p) for p in cloud.tolist()])
        draw_cycle(ax, cloud, truth, hull)
        ax.set_title(f"hull: {'exact' if hull == truth else 'wrong'}")
    cities = uniform_points(3, tsp_n, generator)
    with torch.no_grad():
        _, tours = models["tsp"](cities, tsp_n)
    ratios = tour_length(cities, tours) / tour_length(cities, optimal_tours(cities))
    for ax, city, tour, best, ratio in zip(axes[1], cities, tours, optimal_tours(cities), ratios):
        draw_cycle(ax, city, best.tolist(), tour.tolist())
        ax.set_title(f"tour: {ratio:.3f}x optimal")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def draw_cycle(ax: plt.Axes, points: torch.Tensor, label: list[int], predicted: list[int]) -> None:
    ax.scatter(points[:, 0], points[:, 1], s=12, color="black", zorder=3)
    for order, style in ((label, {"color": "tab:gray", "ls": "--", "lw": 3, "alpha": 0.5}),
                         (predicted, {"color": "tab:red", "lw": 1.3})):
        if order:
            cycle = points[order + order[:1]]
            ax.plot(cycle[:, 0], cycle[:, 1], **style)


if __name__ == "__main__":
    run_paper(__file__, experiment)
