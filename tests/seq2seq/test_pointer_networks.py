"""Tests for papers/seq2seq/pointer_networks.py: the hull against brute force and SciPy, optimal tours
against a plain search, the pointer mask, the leak check, the claim in miniature, the recorded run's
controls and quoted numbers, and bad input."""
import itertools
import math

import pytest
import torch
from scipy.spatial import ConvexHull  # pylint: disable=no-name-in-module

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.seq2seq import pointer_networks as paper
from papers.seq2seq.pointer_networks import (PointerDecoder, PointerNet, convex_hull, experiment,
                                             hull_targets, labels, optimal_tours, polygon_area,
                                             seen_in_training, tour_length, uniform_points)


def rotate_to_start(cycle: list[int], start: int) -> list[int]:
    k = cycle.index(start)
    return cycle[k:] + cycle[:k]


# SciPy (Qhull) lists the vertices of a 2-D hull counter-clockwise: the same cycle as ours.
def test_convex_hull_matches_scipy():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        points = torch.rand(12, 2, generator=generator, dtype=torch.float64).tolist()
        ours = convex_hull([tuple(p) for p in points])
        theirs = [int(i) for i in ConvexHull(points).vertices]
        assert ours == rotate_to_start(theirs, ours[0])
        assert ours[0] == min(range(12), key=points.__getitem__)  # starts at the leftmost point


# Brute force: a point is a hull vertex exactly when no triangle of three other points contains it.
def test_convex_hull_vertices_match_brute_force():
    def inside(p, a, b, c):
        signs = [(b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
                 for a, b in ((a, b), (b, c), (c, a))]
        return all(s > 0 for s in signs) or all(s < 0 for s in signs)

    generator = torch.Generator().manual_seed(1)
    for _ in range(10):
        points = [tuple(p) for p in torch.rand(8, 2, generator=generator, dtype=torch.float64).tolist()]
        vertices = {i for i, p in enumerate(points)
                    if not any(inside(p, *(points[j] for j in t))
                               for t in itertools.combinations([j for j in range(8) if j != i], 3))}
        assert set(convex_hull(points)) == vertices


def test_hull_targets_and_polygon_area():
    square = torch.tensor([[[0.0, 0.0], [0.5, 0.5], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    targets, counted = hull_targets(square)
    assert targets.tolist() == [[1, 3, 4, 5, 0, 0]]  # positions shifted by one, then end (0)
    assert counted.tolist() == [[True] * 5 + [False]]
    assert polygon_area(square[0, [0, 2, 3, 4]]) == pytest.approx(1.0)


# The vectorised search against a plain loop over every order of the cities.
def test_optimal_tours_match_exhaustive_search():
    cities = torch.rand(20, 6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    best = optimal_tours(cities)
    for b in range(20):
        points = cities[b].tolist()

        def length(order, points=points):
            return sum(math.dist(points[order[k]], points[order[(k + 1) % 6]]) for k in range(6))

        optimum = min(length(order) for order in itertools.permutations(range(6)))
        assert float(tour_length(cities[b:b + 1], best[b:b + 1])) == pytest.approx(optimum, rel=1e-12)
        assert best[b, 0] == 0 and best[b, 1] < best[b, -1] and sorted(best[b].tolist()) == list(range(6))


# The mask: greedy decoding with an untrained network never picks a position twice, and under teacher
# forcing every position already chosen scores minus infinity.
def test_pointer_never_chooses_a_position_twice():
    torch.manual_seed(0)
    decoder = PointerDecoder(4, 5, 6, 7)
    keys, inputs = torch.randn(8, 9, 5), torch.randn(8, 9, 4)
    state = (torch.randn(8, 6), torch.zeros(8, 6))
    _, choices = decoder(keys, inputs, state, 9)
    assert all(sorted(row) == list(range(9)) for row in choices.tolist())
    targets = torch.stack([torch.randperm(9) for _ in range(8)])
    logits, _ = decoder(keys, inputs, state, 9, targets)
    for i in range(9):
        chosen = torch.zeros(8, 9, dtype=torch.bool)
        chosen.scatter_(1, targets[:, :i], True)
        assert torch.isneginf(logits[:, i][chosen]).all() and torch.isfinite(logits[:, i][~chosen]).all()


# The leak check finds a training set when one is slipped into the test sets, and finds none in fresh ones.
def test_seen_in_training_replays_the_training_stream():
    first_batch = uniform_points(16, 7, torch.Generator().manual_seed(3))
    fresh = uniform_points(16, 7, torch.Generator().manual_seed(1003))
    assert seen_in_training(first_batch[:5], seed=3, steps=2, batch_size=16) == 5
    assert seen_in_training(fresh, seed=3, steps=2, batch_size=16) == 0


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    return {name: metrics[name]["mean"] for name in ("hull_area_coverage", "hull_exact", "tsp_pointer_ratio")}


# The claim in miniature (quick mode: hulls of 6 points, 200 steps, the mean of seeds `seed` and `seed + 1`).
# The hull is learned fast: most of its area is covered and more than half the hulls come out exactly.
# Measured (scripts/calibrate.py, seeds 0-2, at 1 thread and under portable kernels, the same values in both;
# the 2-thread runs did not finish on the shared, overloaded machine and are not included): area coverage
# 0.959-0.972 (threshold 0.9), exact 0.570-0.608 (threshold 0.45).
# Tours need far more training than a test can afford (at 200 steps they are 1.25 times the optimum, no
# better than a random order), so the TSP claim is checked on the recorded full run below.
@pytest.mark.claim
def test_pointer_network_learns_convex_hulls():
    metrics = claim_metrics(0)
    assert metrics["hull_area_coverage"] > 0.9
    assert metrics["hull_exact"] > 0.45


# The recorded full run's controls: on every seed the network's tours are shorter on average than nearest
# neighbour's on the same test cities (the baseline is one number: it learns nothing) and optimal more
# often, and its hulls cover nearly all of the area; no test point set occurs in any model's training stream.
def test_recorded_run_beats_nearest_neighbour_on_every_seed_without_leaks():
    metrics = recorded_metrics(paper.__file__)
    assert metrics["tsp_pointer_ratio"]["max"] < metrics["tsp_nearest_neighbour_ratio"]
    assert metrics["tsp_pointer_optimal_fraction"]["min"] > metrics["tsp_nearest_neighbour_optimal_fraction"]
    assert metrics["hull_area_coverage"]["min"] > 0.95
    assert len(metrics["seeds"]) >= 3
    assert metrics["test_sets_seen_in_training"] == 0


# The page quotes the recorded means and ranges over seeds, and the baselines.
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for name in ("hull_exact", "hull_area_coverage", "tsp_pointer_optimal_fraction"):
        for stat in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][stat]:.1%}"), (name, stat)
    for stat in ("mean", "min", "max"):
        assert quoted_on_page(paper.__file__, f"{metrics['tsp_pointer_ratio'][stat]:.3f}"), stat
    for name in ("tsp_nearest_neighbour_ratio", "tsp_random_ratio"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]:.3f}"), name
    assert quoted_on_page(paper.__file__, f"{metrics['tsp_nearest_neighbour_optimal_fraction']:.1%}")


def test_bad_input_is_refused():
    model = PointerNet(hidden=8)
    with pytest.raises(TypeError, match="points must have dtype torch.float32, got torch.int64"):
        model(torch.zeros(2, 5, 2, dtype=torch.long), 6)
    with pytest.raises(ValueError, match=r"points must have shape \[batch, n, 2\], got \(2, 5, 3\)"):
        model(torch.zeros(2, 5, 3), 6)
    with pytest.raises(ValueError, match="steps must be in"):
        model(torch.zeros(2, 5, 2), 7)
    with pytest.raises(TypeError, match="targets must have dtype torch.int64"):
        model(torch.zeros(2, 5, 2), 2, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="targets must hold values in"):
        model(torch.zeros(2, 5, 2), 2, torch.full((2, 2), 6))
    with pytest.raises(ValueError, match="a hull needs at least 3 points"):
        convex_hull([(0.0, 0.0), (1.0, 1.0)])
    with pytest.raises(ValueError, match="task must be"):
        labels("sorting", torch.zeros(2, 5, 2))
