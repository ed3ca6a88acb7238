"""Tests for papers/complexity/coffee_automaton.py: the coarse-graining against brute force, the estimators on
states of known structure, conservation, the mean density against the exact master equation, the claim in
miniature, the recorded run and bad input."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from papers.complexity import coffee_automaton as paper
from papers.complexity.coffee_automaton import (
    adjust_rows, band_noise, coarse_grain, complexity_estimate, entropy_estimate, experiment, growth_exponent,
    initial_grid, interacting_sweep, measurement_times, occupation, particles_of, run_model, sequential_swaps,
    synthetic_field, threshold, walk_sweep, window_noise, window_sums)
from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics


def random_state(height: int, width: int, seed: int, high: int = 2) -> torch.Tensor:
    return torch.randint(0, high, (height, width), generator=torch.Generator().manual_seed(seed)).to(torch.uint8)


# ## Coarse-graining against brute force
#
# The window average, written as the loop over each cell's clipped $g \times g$ window in float64, and the
# levels as $\min(\lfloor L \bar{x} \rfloor, L - 1)$ of that average.
def brute_force_average(state: np.ndarray, grain: int) -> np.ndarray:
    half, (height, width) = grain // 2, state.shape
    out = np.zeros(state.shape)
    for i in range(height):
        for j in range(width):
            out[i, j] = state[max(0, i - half): i + half + 1, max(0, j - half): j + half + 1].astype(float).mean()
    return out


@pytest.mark.parametrize("grain", [1, 3, 5, 9])
def test_coarse_grain_matches_brute_force(grain: int) -> None:
    state = random_state(7, 11, grain, high=4)
    expected = brute_force_average(state.numpy(), grain)
    np.testing.assert_allclose(coarse_grain(state, grain).numpy(), expected, rtol=1e-12)
    for levels in (3, 7):
        brute = np.minimum(np.floor(levels * np.minimum(expected, 1.0) + 1e-9), levels - 1)
        np.testing.assert_array_equal(threshold(state, grain, levels).numpy(), brute)


def test_window_sizes_are_clipped_at_walls() -> None:
    _, cells = window_sums(torch.zeros(6, 6, dtype=torch.uint8), 5)
    assert cells[0, 0] == 9 and cells[2, 2] == 25 and cells[0, 3] == 3 * 5


# The row rule, against a per-row Counter: the most common level (the smallest on a tie), and every cell within
# one level of it set to it.
def test_adjust_rows_matches_brute_force() -> None:
    levels = random_state(20, 13, 0, high=7)
    adjusted = adjust_rows(levels).numpy()
    for row, out in zip(levels.numpy(), adjusted):
        counts = Counter(row.tolist())
        majority = min(v for v in counts if counts[v] == max(counts.values()))
        expected = [majority if abs(int(v) - majority) <= 1 else v for v in row]
        assert out.tolist() == expected


# ## The noise measurements against brute force
#
# The window averages of the float64 loop above, the windows clear of the walls, each minus its row's mean;
# the root mean square over all of them, and over the rows whose mean lies in a band, pooled over two states.
def brute_force_band_noise(states: list[torch.Tensor], grain: int, low: float, high: float) -> float:
    half, pooled = grain // 2, []
    for state in states:
        inner = brute_force_average(state.numpy(), grain)[half: state.shape[0] - half, half: state.shape[1] - half]
        means = inner.mean(axis=1)
        pooled.extend(((inner - means[:, None]) ** 2)[(means >= low) & (means < high)].ravel())
    return math.sqrt(np.mean(pooled))


def test_band_noise_matches_brute_force() -> None:
    rows = torch.linspace(0, 3, 24)[:, None]  # a density gradient down the rows, counts 0 to 3
    states = [(torch.rand(24, 17, generator=torch.Generator().manual_seed(seed)) * rows).round().to(torch.uint8)
              for seed in (0, 1)]
    for low, high in ((0.0, 0.8), (0.8, 1.6), (0.0, math.inf)):
        assert band_noise(states, 5, low, high) == pytest.approx(brute_force_band_noise(states, 5, low, high),
                                                                 rel=1e-9)
    assert window_noise(states[0], 5) == pytest.approx(brute_force_band_noise(states[:1], 5, 0, math.inf), rel=1e-9)


# The synthetic field keeps each row's density: rows of all 0 or all 1 come back exactly; over a large grid,
# Bernoulli cells of density $p$ have mean $p$ and variance $p(1-p)$, Poisson counts mean and variance $p$
# (tolerances: a few standard errors for 64,000 cells).
def test_synthetic_field_keeps_row_densities_and_cell_laws() -> None:
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(synthetic_field(initial_grid(6, 5), "bernoulli", generator), initial_grid(6, 5))
    state = torch.zeros(2, 32_000, dtype=torch.uint8)
    state[0, :9600] = 1  # row density 0.3
    state[1, :22400] = 1  # row density 0.7
    for kind in ("bernoulli", "poisson"):
        field = synthetic_field(state, kind, generator).double().numpy()
        for row, p in zip(field, (0.3, 0.7)):
            assert abs(row.mean() - p) < 0.015
            assert abs(row.var() - (p * (1 - p) if kind == "bernoulli" else p)) < 0.02


# The growth exponent recovers the exponent of an exact power law.
def test_growth_exponent_of_a_power_law() -> None:
    sizes = [32, 64, 96]
    assert growth_exponent(sizes, [3.0 * n ** 1.5 for n in sizes]) == pytest.approx(1.5, abs=1e-9)


# ## The estimators on states of known structure
#
# Entropy: a uniform grid compresses to almost nothing, a checkerboard (perfectly regular) to little more, a
# random grid to about one bit per cell. Complexity: coarse-graining a random grid leaves a uniform
# half-density picture with some speckle (window averages scatter by $0.5/g$ about $1/2$), so its complexity
# is far below its entropy, and the adjusted one is close to that of the initial half-and-half grid; a
# checkerboard coarse-grains to uniform.
def test_estimators_order_on_known_structures() -> None:
    n = 64
    uniform = torch.zeros(n, n, dtype=torch.uint8)
    checker = ((torch.arange(n)[:, None] + torch.arange(n)[None, :]) % 2).to(torch.uint8)
    noise = random_state(n, n, 1)
    sizes = [entropy_estimate(x) for x in (uniform, checker, noise)]
    assert sizes[0] <= sizes[1] < sizes[2]
    assert sizes[2] > 0.8 * n * n  # one bit per cell, less very little
    assert sizes[1] < 0.1 * n * n
    assert complexity_estimate(noise, 7) < 0.25 * entropy_estimate(noise)  # measured 0.19
    assert complexity_estimate(noise, 7, adjusted=True) < 0.1 * entropy_estimate(noise)  # measured 0.07
    assert complexity_estimate(checker, 7) < 0.1 * n * n  # measured 216 bits, 0.05 per cell
    half = initial_grid(n, n)
    assert complexity_estimate(noise, 7, adjusted=True) < 2 * complexity_estimate(half, 7, adjusted=True)  # 408, 320


# ## Conservation
#
# Every sweep only exchanges cells, so the number of cream cells is fixed (on a grid of odd sides, to exercise
# both offsets at the edges); the walkers' number is fixed and they stay on the grid.
def test_interacting_sweep_conserves_cream() -> None:
    grid = initial_grid(15, 17)
    cream = int(grid.sum())
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        before = grid.clone()
        interacting_sweep(grid, generator)
        assert int(grid.sum()) == cream
        assert ((grid != before).sum() % 2) == 0  # cells change in swapped pairs
    assert not torch.equal(grid, initial_grid(15, 17))


# The paper's one-swap-at-a-time chain (the control): conserved too, and over single steps from many seeds its
# swaps cover every adjacent pair of a 3 x 4 grid, horizontal and vertical, and nothing else (cells labelled
# 0..11 so that every swap shows).
def test_sequential_swaps_conserve_cream_and_cover_every_pair() -> None:
    grid = initial_grid(15, 17)
    sequential_swaps(grid, 20_000, torch.Generator().manual_seed(0))
    assert int(grid.sum()) == int(initial_grid(15, 17).sum())
    assert not torch.equal(grid, initial_grid(15, 17))
    height, width = 3, 4
    labels = torch.arange(height * width, dtype=torch.uint8).reshape(height, width)
    pairs = set()
    for seed in range(300):
        swapped = labels.clone()
        sequential_swaps(swapped, 1, torch.Generator().manual_seed(seed))
        pairs.add(tuple(torch.nonzero((swapped != labels).flatten()).flatten().tolist()))
    horizontal = {(r * width + c, r * width + c + 1) for r in range(height) for c in range(width - 1)}
    vertical = {(r * width + c, (r + 1) * width + c) for r in range(height - 1) for c in range(width)}
    assert pairs == horizontal | vertical


def test_walkers_conserve_particles_and_stay_inside() -> None:
    grid = initial_grid(9, 12)
    positions = particles_of(grid)
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        walk_sweep(positions, (9, 12), generator)
    assert len(positions) == int(grid.sum())
    assert positions[:, 0].min() >= 0 and positions[:, 0].max() < 9
    assert positions[:, 1].min() >= 0 and positions[:, 1].max() < 12
    assert int(occupation(positions, (9, 12)).sum()) == int(grid.sum())


# ## The mean density against the master equation
#
# Both sweeps give a lone particle the same kernel: to each neighbour with probability $1/8$, a wall refusing.
# For the interacting model the expected occupation obeys that same linear equation exactly (each pair of a
# tiling swaps with probability $1/2$, so $\mathbb{E}[\eta'(x)] = \frac12 \eta(x) + \frac12 \eta(\text{partner})$,
# and each neighbour is the partner with probability $1/4$). The initial state is uniform along rows, so the
# expected row densities follow the 1-D chain $K$ with $1/8$ up, $1/8$ down: $\rho_t = K^t \rho_0$, computed
# in float64. The orientation of a sweep is shared by the whole grid, so the average runs over 200 independent
# grids of 10 x 32: the row means' noise is below $0.5/\sqrt{6400} = 0.006$ per cell draw, plus that of the
# orientations; the tolerance is 0.03, a tenth of how far the profile moves.
def exact_row_density(height: int, sweeps: int) -> np.ndarray:
    kernel = np.zeros((height, height))
    for i in range(height):
        for j in (i - 1, i + 1):
            if 0 <= j < height:
                kernel[i, j] = 1 / 8
        kernel[i, i] = 1 - kernel[i].sum()
    start = np.zeros(height)
    start[: height // 2] = 1.0
    return np.linalg.matrix_power(kernel, sweeps) @ start


def test_mean_density_follows_the_master_equation() -> None:
    height, width, sweeps, grids = 10, 32, 25, 200
    expected = exact_row_density(height, sweeps)
    assert np.abs(expected - np.repeat([1.0, 0.0], height // 2)).max() > 0.3  # the profile has moved a lot
    interacting, walkers = np.zeros(height), np.zeros(height)
    for seed in range(grids):
        generator = torch.Generator().manual_seed(seed)
        grid = initial_grid(height, width)
        positions = particles_of(grid)
        for _ in range(sweeps):
            interacting_sweep(grid, generator)
            walk_sweep(positions, (height, width), generator)
        interacting += grid.double().mean(dim=1).numpy() / grids
        walkers += occupation(positions, (height, width)).double().mean(dim=1).numpy() / grids
    np.testing.assert_allclose(interacting, expected, atol=0.03)
    np.testing.assert_allclose(walkers, expected, atol=0.03)


# ## The claim in miniature
#
# The quick experiment's setting: $n = 32$, three seeds, sweeps up to $3n^2$, 24 measurements. What is asserted
# comes from integer arithmetic and compression of states drawn from seeded generators (the noise ratio is a
# float, but far from its thresholds), so the values do not depend on threads or kernels: calibrate.py over
# seeds 0-2 at 1 and 2 threads and under portable kernels gave identical values. Measured per seed: entropy
# end/start 11.8-12.1 (interacting) and 14.7-14.9 (walkers), threshold 5; interacting 3-level peak /
# max(start, end) 1.68-2.27, threshold 1.3; walkers' adjusted peak / interacting's 1.43-2.04, threshold 1.2
# (the paper's contrast reversed); final noise ratio walkers / interacting 1.17-1.35 against
# $\sqrt{2} = 1.41$ for the variances $\rho$ and $\rho(1-\rho)$ at $\rho = 1/2$, band 1.05-1.7.
def claim_metrics(seed: int) -> dict[str, float]:
    times = measurement_times(3 * 32 * 32, 24)
    out: dict[str, float] = {}
    runs = {model: run_model(model, 32, paper.GRAIN, times, seed) for model in paper.MODELS}
    for model, run in runs.items():
        out[f"entropy_rise_{model}"] = run.entropy[-1] / run.entropy[0]
        out[f"rise_and_fall_{model}"] = max(run.complexity) / max(run.complexity[0], run.complexity[-1])
    out["adjusted_peak_ratio"] = max(runs["non_interacting"].adjusted) / max(runs["interacting"].adjusted)
    out["noise_ratio"] = runs["non_interacting"].final_noise / runs["interacting"].final_noise
    return out


@pytest.fixture(scope="module", name="seed_metrics")
def fixture_seed_metrics() -> list[dict[str, float]]:
    return [claim_metrics(seed) for seed in (0, 1, 2)]


@pytest.mark.claim
def test_entropy_rises_in_both_models(seed_metrics: list[dict[str, float]]) -> None:
    for metrics in seed_metrics:
        assert metrics["entropy_rise_interacting"] > 5 and metrics["entropy_rise_non_interacting"] > 5


@pytest.mark.claim
def test_interacting_complexity_rises_and_falls(seed_metrics: list[dict[str, float]]) -> None:
    for metrics in seed_metrics:
        assert metrics["rise_and_fall_interacting"] > 1.3


# The paper's contrast, measured: at this grain the walkers' adjusted complexity is *above* the interacting
# model's on every seed, and the noise of their mixed state is about $\sqrt{2}$ times larger (Poisson against
# Bernoulli at density 1/2).
@pytest.mark.claim
def test_non_interacting_is_not_simpler_and_is_noisier(seed_metrics: list[dict[str, float]]) -> None:
    for metrics in seed_metrics:
        assert metrics["adjusted_peak_ratio"] > 1.2
        assert 1.05 < metrics["noise_ratio"] < 1.7


def test_quick_experiment_runs() -> None:
    outcome = experiment(RunConfig(quick=True))
    assert outcome.metrics["sizes"] == [32]
    assert "peak_adjusted_ratio_n32" in outcome.metrics


# ## The recorded full run
#
# The interacting model's 3-level peak grows with $n$ (the paper's scaling), complexity falls back from its
# peak by the end (recorded: peak / end at least 1.5, at $n = 32$; 2.4 to 3.4 at the larger sizes), entropy
# ends far above its start in both models, and the walkers' adjusted peaks are above the interacting model's on
# every seed at every size (the page's finding against the paper).
def test_recorded_run_shows_the_measured_claims() -> None:
    metrics = recorded_metrics(paper.__file__)
    sizes = metrics["sizes"]
    peaks = [metrics[f"peak_complexity_interacting_n{n}"]["mean"] for n in sizes]
    assert peaks == sorted(peaks) and peaks[-1] > 2 * peaks[0]
    for n in sizes:
        interacting = f"interacting_n{n}"
        assert metrics[f"peak_complexity_{interacting}"]["min"] > 1.4 * metrics[f"end_complexity_{interacting}"]["max"]
        for model in paper.MODELS:
            assert metrics[f"end_entropy_{model}_n{n}"]["min"] > 5 * metrics[f"start_entropy_{model}_n{n}"]["max"]
        assert metrics[f"peak_adjusted_ratio_n{n}"]["min"] > 1.0


# The control: the paper's one-swap-at-a-time chain at $n = 32$ peaks within 15% of the sweeps (recorded 1,048
# against 984 bits, 3 levels; 443 against 483, adjusted), and the walkers peak above it too.
def test_recorded_sequential_control_agrees_with_sweeps() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("complexity", "adjusted"):
        sequential = metrics[f"peak_{name}_interacting_sequential_n32"]["mean"]
        sweeps = metrics[f"peak_{name}_interacting_n32"]["mean"]
        assert abs(sequential / sweeps - 1) < 0.15, name
        assert metrics[f"peak_{name}_non_interacting_n32"]["mean"] > sequential, name


# Other grains at $n = 64$: the walkers' 3-level peak is above the interacting model's on every seed at every
# grain (recorded lowest ratio 1.07, at $g = 21$); at $g = 21$ both adjusted peaks are within 20% of their
# start (recorded at most 376 and 336 bits from 320: flat); clipping the walkers to occupancy brings their
# 3-level peak within 5% of the interacting one at $g = 7$ (3,189 against 3,128) but its end stays far above the
# interacting model's (recorded: lowest 3,032 against highest 1,016).
def test_recorded_grain_sweep_and_occupancy() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["grains"] == list(paper.GRAINS)
    for grain in paper.GRAINS:
        assert metrics[f"grain_peak_complexity_ratio_g{grain}"]["min"] > 1.0, grain
    start = metrics["grain_start_adjusted_interacting_g21"]["min"]
    for model in ("interacting", "non_interacting"):
        assert metrics[f"grain_peak_adjusted_{model}_g21"]["max"] < 1.2 * start
    occupancy, interacting = "grain_{}_complexity_occupancy_g7", "grain_{}_complexity_interacting_g7"
    assert abs(metrics[occupancy.format("peak")]["mean"] / metrics[interacting.format("peak")]["mean"] - 1) < 0.05
    assert metrics[occupancy.format("end")]["min"] > 2.5 * metrics[interacting.format("end")]["max"]


# The noise by density band around the peak: the walkers' scatter over the interacting model's grows with the
# density (recorded means 1.11, 1.38, 1.93; every seed above 1) and stays within 20% of $1/\sqrt{1-\rho}$ at
# the band's centre; early on, the walkers' pure-cream rows scatter by more than ten times the interacting
# model's (0.120 against 0.007), and their adjusted complexity is already above twice the interacting one's.
def test_recorded_noise_by_density() -> None:
    metrics = recorded_metrics(paper.__file__)
    ratios = [metrics[f"band_noise_ratio_b{i}"]["mean"] for i in range(len(paper.DENSITY_BANDS))]
    assert ratios == sorted(ratios)
    for i, expected in enumerate(metrics["band_noise_expected_ratio"]):
        assert metrics[f"band_noise_ratio_b{i}"]["min"] > 1.0
        assert abs(ratios[i] / expected - 1) < 0.2, i
    assert metrics["cream_noise_non_interacting"]["min"] > 10 * metrics["cream_noise_interacting"]["max"]
    assert metrics["early_adjusted_non_interacting"]["min"] > 1.5 * metrics["early_adjusted_interacting"]["max"]


# The synthetic-field control at the interacting model's peak: the 3-level complexity of a field of independent
# cells with the state's row densities is within 15% of the real state's on every seed, for both models
# (recorded per-seed ratios 0.96-1.08 for Bernoulli against interacting, 0.91-1.08 for Poisson against walkers).
def test_recorded_synthetic_field_control() -> None:
    metrics = recorded_metrics(paper.__file__)
    for kind, model in (("bernoulli", "interacting"), ("poisson", "non_interacting")):
        synthetic = metrics[f"synthetic_complexity_{kind}"]["per_seed"]
        real = metrics[f"control_complexity_{model}"]["per_seed"]
        for seed, value in synthetic.items():
            assert abs(value / real[seed] - 1) < 0.15, (kind, seed)


# The growth with $n$ and the peak time: the 3-level peak grows faster than linearly on every seed (recorded
# exponents 1.64-1.70), the adjusted one about linearly (0.89-1.12); both models' 3-level peaks come between
# $0.5 n^2$ and $1.5 n^2$ sweeps.
def test_recorded_growth_and_peak_time() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["peak_complexity_interacting_exponent"]["min"] > 1.4
    assert 0.7 < metrics["peak_adjusted_interacting_exponent"]["min"]
    assert metrics["peak_adjusted_interacting_exponent"]["max"] < 1.3
    for n in metrics["sizes"]:
        for model in paper.MODELS:
            times = metrics[f"peak_time_complexity_{model}_n{n}"]
            assert 0.5 < times["min"] and times["max"] < 1.5, (model, n)


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("peak_complexity_interacting_sequential_n32", "peak_adjusted_interacting_sequential_n32"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:,.0f}"), name
    n = 64
    for name in (f"peak_complexity_interacting_n{n}", f"peak_complexity_non_interacting_n{n}",
                 f"peak_adjusted_interacting_n{n}", f"peak_adjusted_non_interacting_n{n}"):
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][statistic]:,.0f}"), (name, statistic)
    for name in ("final_noise_interacting_n64", "final_noise_non_interacting_n64"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]['mean']:.3f}"), name
    page = paper.__file__
    ratios = ", ".join(f"{metrics[f'grain_peak_complexity_ratio_g{g}']['mean']:.2f}" for g in paper.GRAINS[:-1])
    assert quoted_on_page(page, ratios)
    for name, unit in (("grain_peak_adjusted_non_interacting_g21", " bits"),
                       ("grain_peak_adjusted_interacting_g21", "")):
        stat = metrics[name]
        assert quoted_on_page(page, f"{stat['mean']:,.0f}{unit} ({stat['min']:,.0f} to {stat['max']:,.0f})"), name
    for name in ("grain_peak_complexity_occupancy_g7", "grain_end_complexity_occupancy_g7",
                 "grain_peak_adjusted_non_interacting_g15", "grain_peak_adjusted_interacting_g15",
                 "grain_start_adjusted_interacting_g15", "early_adjusted_non_interacting",
                 "synthetic_complexity_bernoulli", "synthetic_complexity_poisson", "control_complexity_non_interacting",
                 "synthetic_adjusted_bernoulli", "control_adjusted_interacting", "synthetic_adjusted_poisson",
                 "control_adjusted_non_interacting"):
        assert quoted_on_page(page, f"{metrics[name]['mean']:,.0f}"), name
    bands = ", ".join(f"{metrics[f'band_noise_ratio_b{i}']['mean']:.2f}" for i in range(2))
    assert quoted_on_page(page, bands + f" and {metrics['band_noise_ratio_b2']['mean']:.2f}")
    for name in ("cream_noise_non_interacting", "cream_noise_interacting"):
        assert quoted_on_page(page, f"{metrics[name]['mean']:.3f}"), name
    for name in ("complexity", "adjusted"):
        exponent = metrics[f"peak_{name}_interacting_exponent"]
        assert quoted_on_page(page, f"{exponent['mean']:.2f} ({exponent['min']:.2f} to {exponent['max']:.2f}"), name
    time = metrics["peak_time_complexity_interacting_n64"]
    assert quoted_on_page(page, f"${time['mean']:.2f} n^2$ sweeps ({time['min']:.2f} to {time['max']:.2f})")
    walkers = "adjusted_non_interacting_n64"
    fall = 1 - metrics[f"end_{walkers}"]["mean"] / metrics[f"peak_{walkers}"]["mean"]
    assert quoted_on_page(page, f"falls only {fall:.0%}")


# ## Bad input
def test_bad_input_rejected() -> None:
    state = initial_grid(8, 8)
    with pytest.raises(ValueError, match="grain must be odd"):
        coarse_grain(state, 4)
    with pytest.raises(ValueError, match="grain must be a positive integer"):
        threshold(state, 0, 3)
    with pytest.raises(ValueError, match="levels must be a positive integer"):
        threshold(state, 3, 0)
    with pytest.raises(TypeError, match="state must have dtype torch.uint8"):
        coarse_grain(state.float(), 3)
    with pytest.raises(ValueError, match="grid must have shape"):
        interacting_sweep(torch.zeros(2, 2, 2, dtype=torch.uint8), torch.Generator())
    with pytest.raises(ValueError, match="positions must have shape"):
        walk_sweep(torch.zeros(3, 3, dtype=torch.long), (4, 4), torch.Generator())
    with pytest.raises(ValueError, match="model must be one of"):
        run_model("swirling", 8, 3, [0, 1], 0)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        run_model("interacting", 0, 3, [0, 1], 0)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        initial_grid(0, 4)
    with pytest.raises(ValueError, match="total must be a positive integer"):
        measurement_times(0, 4)
