r"""
---
title: "Machine Super Intelligence: the universal intelligence measure"
summary: Legg and Hutter's universal intelligence, a complexity-weighted sum of an agent's value over
  environments, computed for a random agent, a Q-learner and an exact planner on twelve small environments
  built from their text descriptions, with compressed description length standing in for Kolmogorov
  complexity. Random < learner < planner on every seed under every proxy; the weights put all but
  1e-24 of the mass on the simplest environment (all but 4e-15 under bz2).
---

# Machine Super Intelligence: the universal intelligence measure

[Legg, 2008. *Machine Super Intelligence*. PhD thesis, University of Lugano][thesis];
[Legg and Hutter, 2007. *Universal Intelligence: A Definition of Machine Intelligence*. Minds and Machines
17(4): 391–444, arXiv:0712.3329](https://arxiv.org/abs/0712.3329)

[thesis]: https://www.vetta.org/documents/Machine_Super_Intelligence.pdf

Legg and Hutter survey the many informal definitions of intelligence and distil them into one: *intelligence
measures an agent's ability to achieve goals in a wide range of environments*. They then make every word of it
formal. An agent $\pi$ interacts with an environment $\mu$: it sends an action, receives an observation and a
reward, and so on. Its value $V^\pi_\mu$ is its expected total reward, and environments are restricted to
those whose total reward is at most 1, so $V^\pi_\mu \in [0, 1]$. "A wide range" is every computable
environment, $E$, and the ones that matter most are the simple ones, by Occam's razor in its algorithmic form:
environment $\mu$ gets weight $2^{-K(\mu)}$, where $K(\mu)$ is its Kolmogorov complexity, the length of the
shortest program for $\mu$ on a fixed universal reference machine. The *universal intelligence* of $\pi$ is

$$\Upsilon(\pi) = \sum_{\mu \in E} 2^{-K(\mu)}\, V^\pi_\mu.$$

A random agent scores low everywhere; an agent built for one environment scores high there and nowhere else;
an agent that learns scores in every environment it can learn; and the maximum is attained by Hutter's AIXI,
which acts optimally with respect to the same $2^{-K}$ mixture of environments. $\Upsilon$ is not computable
($K$ is not, and $E$ is infinite). This page computes a miniature of it, and the first thing to say is what
stands in for what.

## What is a proxy for what

Each line gives the definition's object, then what this page uses in its place.

* **Environments.** $E$, every computable environment with total reward at most 1 → twelve finite Markov
  decision processes with observed state (bandits, sequence-prediction games, grid worlds, chains), each
  *built* from a short text description.
* **Complexity.** $K(\mu)$, the length of the shortest program for $\mu$ on a reference machine → $C(d_\mu)$,
  the compressed length in bits of $\mu$'s description $d_\mu$ (raw LZMA2, the kit's `lzma`): an upper bound
  on $K(\mu)$ up to an additive constant (the decompressor and this file's interpreter). zlib, bz2 and the plain
  length (8 bits per character) serve as three other reference machines.
* **Weights.** $2^{-K(\mu)}$ → $2^{-C(d_\mu)}$, normalised to sum to 1 over the suite (the same factor for
  every agent, so the same ordering).
* **Value.** $V^\pi_\mu$, the expected total reward, at most 1 → the expected average reward per step over a
  life of $H = 2{,}000$ steps, each reward 0 or 1 (the total reward scaled by $1/H$), sampled once per seed.
* **The most intelligent agent.** AIXI → for each $\mu$ separately, the planner that knows $\mu$: exact
  expectimax over the horizon, the best any agent can do in $\mu$ (AIXI does at most this well there, since
  it does not know $\mu$). So "the planner" is twelve agents, one per environment, and its $\Upsilon$ is an
  upper bound on the $\Upsilon$ of any single agent over this suite, not the score of one agent.
* **A general learning agent** → tabular Q-learning with optimistic initial values and $\epsilon$-greedy
  exploration, one set of settings for all environments, tuned on three other environments.

The additive constant is where the definition is loose. $K$ is defined only up to the choice of reference
machine, and a change of machine changes every $K(\mu)$ by up to a constant, which Legg's definition leaves
open; a compressor and a description language are one such choice. A constant common to all environments
cancels in the normalised weights; what can differ between machines is the *order* of the environments by
complexity. The experiment measures that too.

## What the experiment shows

![Values per environment, weights and universal intelligence per proxy and horizon](results/universal_intelligence.png)

Five seeds (each seed drives the environment's and the agent's random numbers), one life of 2,000 steps per
agent, environment and seed. The environment's noise is common to the three agents: each life draws all of its
environment's uniform numbers (one per step for the next state, one for the reward) from the seed before the
agent's first action, so in a (seed, environment) cell the random agent, the learner and the planner are driven
by the same numbers at every step (common random numbers), and where they act alike they meet the same outcomes.
The table gives each environment's description (the whole of its definition), its complexity proxy, the base-2
logarithm of its weight relative to the largest ($-(K - K_{\min})$, in bits), and each agent's value, the mean
over the five seeds, with the planner's exact value beside its sampled one:

| | description | $K$ proxy (lzma bits) | $\log_2$ weight | random | learner | planner | planner, exact |
|---|---|---|---|---|---|---|---|
| E1 | `grid S.G` | 96 | 0 | 0.074 | 0.312 | 0.334 | 0.334 |
| E2 | `sequence symbols=2 next=1-x` | 248 | −152 | 0.498 | 1.000 | 1.000 | 1.000 |
| E3 | `bandit arms=[0.2,0.8]` | 200 | −104 | 0.505 | 0.794 | 0.799 | 0.800 |
| E4 | `chain n=3 left=0.2` | 176 | −80 | 0.225 | 0.996 | 0.999 | 0.999 |
| E5 | `sequence symbols=3 next=(x+1)%3` | 280 | −184 | 0.338 | 0.999 | 1.000 | 1.000 |
| E6 | `bandit arms=[0.1,0.3,0.5,0.7,0.6]` | 296 | −200 | 0.439 | 0.674 | 0.698 | 0.700 |
| E7 | `grid S..#/.#../...G slip=0.1` | 256 | −160 | 0.020 | 0.079 | 0.154 | 0.154 |
| E8 | `chain n=6 left=0.05 slip=0.1` | 256 | −160 | 0.034 | 0.716 | 0.801 | 0.798 |
| E9 | `sequence symbols=5 next=(x*x+1)%5 noise=0.2` | 376 | −280 | 0.199 | 0.754 | 0.839 | 0.840 |
| E10 | `bandit arms=[0.45,0.55,0.4,0.5,0.35,0.6,0.3,0.5]` | 376 | −280 | 0.457 | 0.553 | 0.601 | 0.600 |
| E11 | `sequence symbols=7 next=(3*x+2)%7 noise=0.1` | 376 | −280 | 0.143 | 0.767 | 0.917 | 0.914 |
| E12 | `grid S....#/.##.#./...#../.#...G slip=0.2` | 360 | −264 | 0.003 | 0.017 | 0.090 | 0.090 |

**The ordering holds.** With lzma weights, $\Upsilon$ is 0.074 for the random agent (0.068 to 0.080 over the
seeds), 0.312 for the Q-learner (0.312 on every seed) and 0.334 for the planner (0.334 on every seed). These
are, to within the weight left off below, the three agents' values in E1, and E1 is deterministic: with
$\epsilon = 0$ the learner lives the same life there on every seed, as the planner does, so only the random
agent's $\Upsilon$ varies across seeds. The ordering random < learner < planner holds on every seed, in the mean
of every one of the twelve environments, and in all 60 (seed, environment) pairs. Two parts of it are not
equally informative: the planner is optimal in every environment by construction, so learner ≤ planner can only
fail by sampling noise; the content is learner > random, and how far the learner falls short of the planner.
Relative to the planner it falls furthest in the slippery grids (E7: 0.079 against 0.154, about half; E12: 0.017
against 0.090, about a fifth); the largest absolute gap is in the noisy seven-symbol sequence (E11: 0.767
against 0.917, a gap of 0.15, twice E7's 0.075 and E12's 0.073). Why it falls short where it does is not
measured here; what is measured is that the shortfall shrinks with a longer life (below: the learner's mean
value over the suite rises from 0.586 at $H = 500$ to 0.669 at 8,000).

**The weights put everything on one environment.** Every extra character of description costs about 8 bits, a
factor of 256 in weight. The simplest environment, E1 (`grid S.G`, 96 bits), outweighs the next one, E4, by
$2^{80}$. The weight left off E1, $1 - w_{E1}$, is $8.3 \times 10^{-25}$ under lzma, zlib and the plain length
(E4 is 80 bits longer under each) and $3.6 \times 10^{-15}$ under bz2 (E4 only 48 bits longer), so, the values
lying in $[0, 1]$, $\Upsilon$ is the value in E1 to within $10^{-24}$ under lzma, zlib and the length and within
$4 \times 10^{-15}$ under bz2: the effective number of environments, $1 / \sum_\mu w_\mu^2$, is 1.0 under all
four. That is the definition computed faithfully on a finite suite, not a bug, and it is the main way this
miniature differs from the real thing. In Legg's sum there are up to $2^n$ environments with $n$-bit programs,
so long, complex environments, each with a vanishing weight, keep a share of the total together; a suite with
one environment per length has no such mass, and its shortest member takes all. As a control with no complexity
weighting at all, uniform weights give $\Upsilon$ = 0.244 (0.240 to 0.247) for random, 0.638 (0.629 to 0.643)
for the learner and 0.686 (0.684 to 0.687) for the planner: the same order.

**The ranking of the agents does not depend on the proxy; the ranking of the environments does, a little.**
lzma, zlib, bz2 and the plain length all give the same three $\Upsilon$ values, because E1 is the shortest
description under every one of them. And since every environment on its own orders the agents the same way,
*any* weighting of this suite does too: no choice of reference machine could reverse the ranking here. The order
of the environments by complexity shifts between proxies (zlib codes the long bandit E10 shorter than lzma does;
bz2 adds a header of about 40 bytes to every description, which cancels in the weights, and also codes the
differences between descriptions differently: E4 is 48 bits above E1 under bz2, 80 under lzma): Kendall's $\tau$
between the lzma complexities and the others is 0.91 for zlib, 0.91 for bz2 and 0.98 for the plain length.

**The learner's score depends on how long it lives.** $V$ includes the learner's exploration, as Legg's
definition does (there is no separate training phase). With lzma weights the learner's $\Upsilon$ is 0.252 at
$H = 500$, 0.312 at 2,000 and 0.328 at 8,000, against the planner's 0.334, 0.334 and 0.333; with uniform
weights 0.586, 0.638 and 0.669 against 0.687, 0.686 and 0.686. The random agent's and planner's values
barely move with $H$ (lower right panel). Legg's definition has no horizon; a measure on finite lives has to
choose one, and the gap between a learner and a planner is partly a choice of $H$.

**Tuning.** The random agent has nothing to tune and the planner is exact. The learner's settings were chosen
from 30 by its mean value on three environments outside the scored suite; the best, $\epsilon = 0$ (optimism
alone explores), $\alpha = 0.5$, $\gamma = 0.9$, scored 0.589 there, the worst 0.476. Every setting's score
is in the results file.

Where this differs from the papers: Legg's environments are arbitrary computable, history-dependent and
partially observable, and $\Upsilon$ sums over all of them; here twelve fully observed finite MDPs, summed
with weights that are upper bounds on $2^{-K}$ up to a constant. Legg's reward bound is on the total reward of
an unbounded life; here it is an average over a fixed $H$. The papers reason about where agents fall on
$\Upsilon$ and compute nothing; the numbers here are ours.
"""
from __future__ import annotations

import ast
import bisect
import json
from dataclasses import dataclass
from typing import Callable, Protocol

import matplotlib.pyplot as plt
import numpy as np
from labml import monit
from scipy.stats import kendalltau

from papers.kit.checks import check_in_range, check_positive
from papers.kit.compression import compressed_bits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper


# ## Environments
#
# Every environment here is a finite Markov decision process whose state the agent observes: $S$ states,
# $A$ actions, a start state, transition probabilities $P[s, a, s']$ and reward probabilities
# $R[s, a, s']$: on the step $s \xrightarrow{a} s'$ the reward is 1 with probability $R[s, a, s']$ and 0
# otherwise. Legg's environments are far more general (any computable distribution over observations and
# rewards given the whole history); this suite is the part of that space that a planner can solve exactly.
# `P` and `R` are `[S, A, S]` float64 arrays; each row `P[s, a]` sums to 1.
@dataclass(frozen=True)
class Environment:
    description: str
    transition: np.ndarray  # [S, A, S]
    reward: np.ndarray  # [S, A, S]
    start: int

    def __post_init__(self) -> None:
        shape = self.transition.shape
        if len(shape) != 3 or shape[0] != shape[2] or shape[0] == 0 or shape[1] == 0:
            raise ValueError(f"transition must have shape [S, A, S] with S, A > 0, got {shape}")
        if self.reward.shape != shape:
            raise ValueError(f"reward must have the transition's shape {shape}, got {self.reward.shape}")
        for name, array in (("transition", self.transition), ("reward", self.reward)):
            if not np.all((array >= 0) & (array <= 1)):
                raise ValueError(f"{name} probabilities must be in [0, 1], got values from {array.min()} to "
                                 f"{array.max()}")
        if not np.allclose(self.transition.sum(axis=-1), 1.0):
            raise ValueError("transition rows P[s, a] must each sum to 1")
        check_in_range("start", self.start, 0, shape[0] - 1)

    @property
    def states(self) -> int:
        return self.transition.shape[0]

    @property
    def actions(self) -> int:
        return self.transition.shape[1]


# ## Descriptions are the environments
#
# An environment is *defined* by a short text: a kind followed by `key=value` fields, for instance
# `bandit arms=[0.2,0.8]`. `build` parses the text and constructs $P$ and $R$ from it and from nothing else,
# so the text is a program for the environment (in a small language whose interpreter is this file), and its
# length is an honest, if loose, stand-in for the length of a shortest program. Four kinds:
#
# * `bandit arms=[p1,...]`: one state; action $a$ pays 1 with probability $p_a$.
# * `sequence symbols=n next=EXPR [noise=q]`: a sequence-prediction game. The state is the current symbol
#   $x \in \{0, \dots, n-1\}$; the next symbol is `EXPR` (arithmetic in `x`) mod $n$, replaced by a uniformly
#   random symbol with probability $q$. The action is a guess of the next symbol, paid 1 when right.
# * `grid ROW/ROW/... [slip=q]`: a grid world drawn with `S` (start), `G` (goal), `#` (wall), `.` (floor).
#   Actions move north, east, south, west; with probability $q$ the move goes in a random direction instead;
#   walls and edges block. Entering `G` pays 1; any action in `G` returns to `S`.
# * `chain n=k left=p [slip=q]`: states $0 \dots k-1$. *Left* returns to 0 and pays 1 with probability $p$;
#   *right* moves one state on (back one with probability $q$), and pays 1 when taken at the end of the chain.
#   A small sure reward nearby against a large one far away: the classic trap for a learner that explores
#   too little.
def parse(description: str) -> tuple[str, dict[str, str]]:
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"description must be a non-empty string, got {description!r}")
    kind, *fields = description.split()
    if kind not in BUILDERS:
        raise ValueError(f"description must start with one of {sorted(BUILDERS)}, got {kind!r}")
    parsed: dict[str, str] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        if kind == "grid" and not sep and "map" not in parsed:
            key, value = "map", field
        elif not sep or not value:
            raise ValueError(f"field {field!r} of {description!r} must be key=value")
        parsed[key] = value
    return kind, parsed


def build(description: str) -> Environment:
    kind, fields = parse(description)
    unknown = set(fields) - FIELDS[kind]
    if unknown:
        raise ValueError(f"{kind} takes the fields {sorted(FIELDS[kind])}, got unknown {sorted(unknown)}")
    transition, reward, start = BUILDERS[kind](fields)
    return Environment(description, transition, reward, start)


def _number(fields: dict[str, str], key: str, kind: type, default: str | None = None) -> float:
    if key not in fields and default is None:
        raise ValueError(f"field {key}= is required")
    text = fields.get(key, default)
    try:
        return kind(text)
    except ValueError as error:
        raise ValueError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from error


def _probability(fields: dict[str, str], key: str) -> float:
    value = _number(fields, key, float, default="0")
    check_in_range(key, value, 0, 1)
    return value


def _count(fields: dict[str, str], key: str) -> int:
    value = int(_number(fields, key, int))
    check_positive(key, value, integer=True)
    return value


# A bandit: `[1, A, 1]`, every action stays in the one state.
def _bandit(fields: dict[str, str]) -> tuple[np.ndarray, np.ndarray, int]:
    try:
        arms = json.loads(fields.get("arms", "[]"))
    except ValueError as error:
        raise ValueError(f"arms must be a list of probabilities, got {fields.get('arms')!r}") from error
    if not isinstance(arms, list) or not arms:
        raise ValueError(f"arms must be a non-empty list of probabilities, got {fields.get('arms')!r}")
    for p in arms:
        check_in_range("arm probability", p, 0, 1)
    transition = np.ones((1, len(arms), 1))
    reward = np.array(arms, dtype=float)[None, :, None]  # [1, A, 1]
    return transition, reward, 0


# The rule of a sequence game is an arithmetic expression in `x`, evaluated by walking its syntax tree: only
# integers, `x`, `+ - * // %` and unary minus are allowed, so a description can never run other code.
OPERATORS: dict[type, Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
}


def evaluate_rule(rule: str, x: int) -> int:
    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and node.id == "x":
            return x
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"rule {rule!r} may use only integers, x, + - * // % and unary minus")
    try:
        return walk(ast.parse(rule, mode="eval"))
    except SyntaxError as error:
        raise ValueError(f"rule {rule!r} is not an arithmetic expression") from error
    except ZeroDivisionError as error:
        raise ValueError(f"rule {rule!r} divides by zero at x = {x}") from error


# A sequence game: `[n, n, n]`; the transition does not depend on the action, the reward does
# ($R[x, a, x'] = 1$ when $a = x'$).
def _sequence(fields: dict[str, str]) -> tuple[np.ndarray, np.ndarray, int]:
    n = _count(fields, "symbols")
    noise = _probability(fields, "noise")
    rule = fields.get("next", "")
    transition = np.full((n, n, n), noise / n)
    for x in range(n):
        transition[x, :, evaluate_rule(rule, x) % n] += 1 - noise
    reward = np.broadcast_to(np.eye(n)[None], (n, n, n)).copy()  # reward[x, a, x'] = [a == x']
    return transition, reward, 0


MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # north, east, south, west


def _grid(fields: dict[str, str]) -> tuple[np.ndarray, np.ndarray, int]:
    rows = fields.get("map", "").split("/")
    if len({len(row) for row in rows}) != 1 or set("".join(rows)) - set("SG#."):
        raise ValueError(f"grid map must be rows of equal length over 'SG#.', got {fields.get('map')!r}")
    cells = [(i, j) for i, row in enumerate(rows) for j, c in enumerate(row) if c != "#"]
    index = {cell: k for k, cell in enumerate(cells)}
    marks = {c: [index[(i, j)] for i, row in enumerate(rows) for j, cc in enumerate(row) if cc == c] for c in "SG"}
    if len(marks["S"]) != 1 or len(marks["G"]) != 1:
        raise ValueError(f"grid map must have exactly one S and one G, got {fields.get('map')!r}")
    start, goal = marks["S"][0], marks["G"][0]
    slip = _probability(fields, "slip")
    transition = np.zeros((len(cells), 4, len(cells)))
    for (i, j), s in index.items():
        for a in range(4):
            if s == goal:
                transition[s, a, start] = 1.0
                continue
            for d, (di, dj) in enumerate(MOVES):
                target = index.get((i + di, j + dj), s)
                transition[s, a, target] += (1 - slip) * (d == a) + slip / 4
    reward = np.zeros_like(transition)
    reward[:, :, goal] = 1.0
    reward[goal] = 0.0
    return transition, reward, start


def _chain(fields: dict[str, str]) -> tuple[np.ndarray, np.ndarray, int]:
    n = _count(fields, "n")
    left, slip = _probability(fields, "left"), _probability(fields, "slip")
    transition = np.zeros((n, 2, n))
    reward = np.zeros((n, 2, n))
    for s in range(n):
        transition[s, 0, 0] = 1.0
        reward[s, 0, 0] = left
        transition[s, 1, min(s + 1, n - 1)] += 1 - slip
        transition[s, 1, max(s - 1, 0)] += slip
    reward[n - 1, 1, n - 1] = 1.0
    return transition, reward, 0


BUILDERS: dict[str, Callable[[dict[str, str]], tuple[np.ndarray, np.ndarray, int]]] = {
    "bandit": _bandit, "sequence": _sequence, "grid": _grid, "chain": _chain,
}
FIELDS = {"bandit": {"arms"}, "sequence": {"symbols", "next", "noise"}, "grid": {"map", "slip"},
          "chain": {"n", "left", "slip"}}


# ## The value of an agent in an environment
#
# Legg asks that the total reward an environment can hand out be at most 1, so that $V^\pi_\mu \in [0, 1]$ and
# the sum over environments converges. Our rewards are 0 or 1 on each step, and the value is the expected
# *average* reward over a horizon of $H$ steps, starting afresh in the start state:
#
# $$V^\pi_\mu = \frac{1}{H}\, \mathbb{E}^\pi_\mu\Big[\sum_{t=1}^{H} r_t\Big] \in [0, 1],$$
#
# which is Legg's total reward with each reward scaled by $1/H$. There is no separate training phase: a learning
# agent pays for its exploration inside $V$, as it does in Legg's definition.
#
# An agent sees the state, picks an action, and is told what happened.
class Agent(Protocol):
    def act(self, state: int, step: int) -> int: ...

    def learn(self, state: int, action: int, reward: float, next_state: int) -> None: ...


# One life of $H$ steps, sampled. Next states are drawn by inverting the cumulative row `P[s, a]` with one
# uniform number, and the reward by comparing another with $R[s, a, s']$. Returns the average reward.
def run_agent(env: Environment, agent: Agent, horizon: int, rng: np.random.Generator) -> float:
    check_positive("horizon", horizon, integer=True)
    cumulative = np.cumsum(env.transition, axis=-1).tolist()  # [S, A, S]
    reward = env.reward.tolist()
    uniforms = rng.random((horizon, 2)).tolist()
    state, total = env.start, 0.0
    for step, (u_next, u_reward) in enumerate(uniforms):
        action = agent.act(state, step)
        row = cumulative[state][action]
        next_state = min(bisect.bisect_right(row, u_next * row[-1]), env.states - 1)
        r = float(u_reward < reward[state][action][next_state])
        agent.learn(state, action, r, next_state)
        total += r
        state = next_state
    return total / horizon


# ## Three agents
#
# *Random* picks actions uniformly: the floor every intelligence measure should put at the bottom.
class RandomAgent:
    def __init__(self, actions: int, rng: np.random.Generator):
        check_positive("actions", actions, integer=True)
        self.actions, self.rng = actions, rng

    def act(self, state: int, step: int) -> int:
        del state, step
        return int(self.rng.integers(self.actions))

    def learn(self, state: int, action: int, reward: float, next_state: int) -> None:
        pass


# *Planner* knows the true $P$ and $R$ and the horizon. It is the finite-horizon expectimax agent: with
# $k$ steps to go,
#
# $$Q_k(s, a) = \sum_{s'} P[s, a, s']\,\big(R[s, a, s'] + V_{k-1}(s')\big), \qquad
#   V_k(s) = \max_a Q_k(s, a), \qquad V_0 = 0,$$
#
# and at step $t$ it takes $\arg\max_a Q_{H-t}(s, a)$. Because the environments are Markov with observed
# state, this backward induction over `[H, S]` is the same as expectimax over the whole tree of histories
# (the tests check that by enumerating the tree), and $V_H(s_0) / H$ is the best value any agent can have:
# the optimal agent of Legg's definition for this $\mu$ (AIXI with the true environment in place of its mixture).
def plan(env: Environment, horizon: int) -> tuple[np.ndarray, float]:
    """Backward induction: the policy `[H, S]` (action at each step and state) and the optimal value."""
    check_positive("horizon", horizon, integer=True)
    expected = (env.transition * env.reward).sum(axis=-1)  # [S, A]: expected reward of (s, a)
    value = np.zeros(env.states)  # V_0
    policy = np.zeros((horizon, env.states), dtype=int)
    for to_go in range(1, horizon + 1):
        q = expected + env.transition @ value  # [S, A]
        policy[horizon - to_go] = q.argmax(axis=1)
        value = q.max(axis=1)
    return policy, float(value[env.start]) / horizon


class Planner:
    def __init__(self, env: Environment, horizon: int):
        self.policy, self.value = plan(env, horizon)

    def act(self, state: int, step: int) -> int:
        return int(self.policy[step, state])

    def learn(self, state: int, action: int, reward: float, next_state: int) -> None:
        pass


# The random agent's value can be computed exactly too, by the same recursion with the mean over actions
# in place of the max; the experiment records it next to the sampled values as a check.
def random_value(env: Environment, horizon: int) -> float:
    check_positive("horizon", horizon, integer=True)
    expected = (env.transition * env.reward).sum(axis=-1)  # [S, A]
    value = np.zeros(env.states)
    for _ in range(horizon):
        value = (expected + env.transition @ value).mean(axis=1)
    return float(value[env.start]) / horizon


# *Learner* is one general reinforcement learner, the same on every environment with the same settings:
# tabular Q-learning (Watkins, 1989) with $\epsilon$-greedy exploration,
#
# $$Q(s, a) \leftarrow Q(s, a) + \alpha\,\big(r + \gamma \max_{a'} Q(s', a') - Q(s, a)\big),$$
#
# started *optimistically* at $Q = 1 / (1 - \gamma)$, the largest discounted return there is, so that every
# untried action looks best until tried. It knows nothing of $P$, $R$ or $H$: only the number of states
# and actions. Ties go to the lowest action.
@dataclass(frozen=True)
class LearnerSettings:
    epsilon: float = 0.05
    alpha: float = 0.1
    gamma: float = 0.9

    def __post_init__(self) -> None:
        check_in_range("epsilon", self.epsilon, 0, 1)
        check_in_range("alpha", self.alpha, 0, 1, low_open=True)
        check_in_range("gamma", self.gamma, 0, 1, high_open=True)


class QLearner:
    def __init__(self, states: int, actions: int, settings: LearnerSettings, rng: np.random.Generator):
        check_positive("states", states, integer=True)
        check_positive("actions", actions, integer=True)
        self.q = [[1.0 / (1.0 - settings.gamma)] * actions for _ in range(states)]  # [S, A]
        self.settings, self.rng, self.actions = settings, rng, actions

    def act(self, state: int, step: int) -> int:
        del step
        if self.rng.random() < self.settings.epsilon:
            return int(self.rng.integers(self.actions))
        row = self.q[state]
        return row.index(max(row))

    def learn(self, state: int, action: int, reward: float, next_state: int) -> None:
        target = reward + self.settings.gamma * max(self.q[next_state])
        self.q[state][action] += self.settings.alpha * (target - self.q[state][action])


AGENTS = ["random", "learner", "planner"]


def make_agent(name: str, env: Environment, horizon: int, settings: LearnerSettings,
               rng: np.random.Generator) -> Agent:
    if name == "random":
        return RandomAgent(env.actions, rng)
    if name == "learner":
        return QLearner(env.states, env.actions, settings, rng)
    if name == "planner":
        return Planner(env, horizon)
    raise ValueError(f"agent must be one of {AGENTS}, got {name!r}")


# ## The complexity proxy
#
# Legg's weight of an environment is $2^{-K(\mu)}$, with $K$ the Kolmogorov complexity of $\mu$ on a fixed
# universal reference machine. $K$ is not computable. We replace it by $C(d_\mu)$, the compressed length in bits
# of the environment's description $d_\mu$ (the [kit's compressors](../kit/compression.py)). This is a proxy
# twice over: the compressed description plus the decompressor plus this file's interpreter is a program for
# $\mu$, so $K(\mu) \le C(d_\mu) + c$, an *upper bound* with an additive constant $c$; and the constant of the
# reference machine is exactly what Legg's definition leaves open. A constant shared by every environment
# cancels when the weights are normalised; what it cannot fix is that a different reference machine (here: a
# different codec or description language) can reorder the environments. `codec="length"` is the plainest
# proxy, 8 bits per character of the description, no compression.
PROXIES = ["lzma", "zlib", "bz2", "length"]


def complexity_bits(description: str, codec: str = "lzma") -> int:
    if codec == "length":
        return 8 * len(description.encode())
    return compressed_bits(description.encode(), codec)


# ## The universal intelligence measure
#
# $$\Upsilon(\pi) = \sum_{\mu \in E} 2^{-K(\mu)}\, V^\pi_\mu.$$
#
# With $K$ in the hundreds of bits, $2^{-K}$ is around $10^{-60}$: representable in float64, but every agent's
# $\Upsilon$ is then a tiny number. We report the weights normalised to sum to 1 over the suite,
# $w_\mu = 2^{-K(\mu)} / \sum_\nu 2^{-K(\nu)}$, computed in log space from $K - \min K$. The normalised
# $\Upsilon$ is the raw one divided by the same constant for every agent, so it orders agents identically,
# and it lies in $[0, 1]$ like the values.
def normalised_weights(bits: list[float]) -> np.ndarray:
    if len(bits) == 0:
        raise ValueError("the suite must hold at least one environment, got none")
    k = np.asarray(bits, dtype=float)
    if not np.all(np.isfinite(k)) or np.any(k < 0):
        raise ValueError(f"complexities must be finite and non-negative bits, got {bits}")
    w = np.exp2(-(k - k.min()))  # [E], the largest weight is 1
    return w / w.sum()


def upsilon(values: list[float], bits: list[float]) -> float:
    """The normalised universal intelligence of an agent with `values[i]` in environment `i`."""
    weights = normalised_weights(bits)
    v = np.asarray(values, dtype=float)
    if v.shape != weights.shape:
        raise ValueError(f"values and bits must have one entry per environment, got {len(v)} and {len(weights)}")
    if not np.all((v >= 0) & (v <= 1)):
        raise ValueError(f"values must be in [0, 1] (rewards bounded by 1), got {values}")
    return float(weights @ v)


# With these weights most of the mass can sit on one or two environments. The *effective number* of
# environments, $1 / \sum_\mu w_\mu^2$, says how many: 1 when one environment takes it all, $|E|$ when the
# weights are uniform.
def effective_environments(bits: list[float]) -> float:
    weights = normalised_weights(bits)
    return float(1.0 / (weights ** 2).sum())


# ## The suite
#
# Twelve environments, from a two-armed bandit to a slippery maze, each given by its description alone. Their
# complexities span a couple of hundred bits, so the weights span about $2^{-200}$.
SUITE = [
    "grid S.G",
    "sequence symbols=2 next=1-x",
    "bandit arms=[0.2,0.8]",
    "chain n=3 left=0.2",
    "sequence symbols=3 next=(x+1)%3",
    "bandit arms=[0.1,0.3,0.5,0.7,0.6]",
    "grid S..#/.#../...G slip=0.1",
    "chain n=6 left=0.05 slip=0.1",
    "sequence symbols=5 next=(x*x+1)%5 noise=0.2",
    "bandit arms=[0.45,0.55,0.4,0.5,0.35,0.6,0.3,0.5]",
    "sequence symbols=7 next=(3*x+2)%7 noise=0.1",
    "grid S....#/.##.#./...#../.#...G slip=0.2",
]

# The learner's settings are tuned on environments that are *not* in the scored suite: a bandit, a grid and a
# sequence game of the same kinds. The sweep covers $\epsilon \in \{0, 0.01, 0.05, 0.1, 0.2\}$,
# $\alpha \in \{0.1, 0.3, 0.5\}$ and $\gamma \in \{0.9, 0.99\}$ (a constant step $\alpha = 1$ is left out:
# with random rewards it never averages them), scored by the mean value over the tuning environments and seeds;
# every setting's score is recorded in the results.
TUNING_SUITE = [
    "bandit arms=[0.3,0.6,0.4]",
    "grid S.#/..G slip=0.1",
    "sequence symbols=4 next=(x+3)%4",
]
SWEEP = [LearnerSettings(epsilon, alpha, gamma) for gamma in (0.9, 0.99) for epsilon in (0.0, 0.01, 0.05, 0.1, 0.2)
         for alpha in (0.1, 0.3, 0.5)]


def agent_value(name: str, env: Environment, horizon: int, settings: LearnerSettings, seed: int) -> float:
    rng = np.random.default_rng(seed)  # one stream: the environment's and the agent's randomness
    return run_agent(env, make_agent(name, env, horizon, settings, rng), horizon, rng)


def tune_learner(sweep: list[LearnerSettings], horizon: int,
                 seeds: list[int]) -> tuple[LearnerSettings, dict[str, float]]:
    envs = [build(d) for d in TUNING_SUITE]
    scores = [float(np.mean([agent_value("learner", env, horizon, settings, seed) for env in envs for seed in seeds]))
              for settings in monit.iterate("Tuning the learner", sweep)]
    names = [f"epsilon={s.epsilon} alpha={s.alpha} gamma={s.gamma}" for s in sweep]
    return sweep[int(np.argmax(scores))], dict(zip(names, scores))


# ## The experiment
#
# For each seed, every agent lives once in every environment of the suite; the seed drives both the
# environment's and the agent's random numbers (the seed of environment $i$ is `1000 * seed + i`). Then
# $\Upsilon$ is computed for each agent under each complexity proxy, and, as a control, with uniform weights
# (no complexity weighting at all). The same is repeated at several horizons $H$: the longer the life, the
# smaller the share of it a learner spends exploring.
def evaluate_suite(suite: list[str], horizon: int, settings: LearnerSettings,
                   seeds: list[int]) -> dict[str, np.ndarray]:
    if not suite:
        raise ValueError("the suite must hold at least one environment, got none")
    envs = [build(d) for d in suite]
    values = {name: np.zeros((len(seeds), len(envs))) for name in AGENTS}  # [seeds, E]
    for k, seed in enumerate(seeds):
        for i, env in enumerate(envs):
            for name in AGENTS:
                values[name][k, i] = agent_value(name, env, horizon, settings, 1000 * seed + i)
    return values


def experiment(config: RunConfig) -> Outcome:
    horizon = config.choose(2000, 400)
    horizons = config.choose([500, 2000, 8000], [100, 400])
    seeds = list(range(config.seed, config.seed + config.choose(5, 3)))
    sweep = config.choose(SWEEP, [s for s in SWEEP if s.gamma == 0.9 and s.alpha == 0.5])
    settings, scores = tune_learner(sweep, horizon, [100 + s for s in seeds])
    by_horizon = {h: evaluate_suite(SUITE, h, settings, seeds) for h in monit.iterate("Horizons", horizons)}
    envs = [build(d) for d in SUITE]
    exact = {"planner": [plan(env, horizon)[1] for env in envs], "random": [random_value(env, horizon) for env in envs]}
    bits = {codec: [complexity_bits(d, codec) for d in SUITE] for codec in PROXIES}
    metrics = _metrics(by_horizon, horizon, exact, bits, seeds, settings, scores)
    return Outcome(_headline(metrics), metrics, {"": _figure(by_horizon[horizon], bits, metrics, seeds)})


WEIGHTINGS = PROXIES + ["uniform"]


def _weighting_bits(bits: dict[str, list[int]], weighting: str) -> list[float]:
    return [0.0] * len(SUITE) if weighting == "uniform" else [float(b) for b in bits[weighting]]


def _upsilon_over_seeds(values: np.ndarray, bits: list[float], seeds: list[int]) -> dict:
    return over_seeds({seed: upsilon(list(values[j]), bits) for j, seed in enumerate(seeds)})


def _metrics(by_horizon: dict[int, dict[str, np.ndarray]], horizon: int, exact: dict[str, list[float]],
             bits: dict[str, list[int]], seeds: list[int], settings: LearnerSettings, scores: dict[str, float]) -> dict:
    values = by_horizon[horizon]
    metrics: dict = {"horizon": horizon, "seeds": seeds, "suite": SUITE,
                     "learner": {"epsilon": settings.epsilon, "alpha": settings.alpha, "gamma": settings.gamma},
                     "tuning_sweep": {k: round(v, 4) for k, v in scores.items()},
                     "complexity_bits": bits,
                     "weights_lzma": [float(f"{w:.3g}") for w in normalised_weights(bits["lzma"])],
                     "kendall_tau_vs_lzma": {codec: round(float(kendalltau(bits["lzma"], bits[codec])[0]), 3)
                                             for codec in PROXIES[1:]},
                     "effective_environments": {w: round(effective_environments(_weighting_bits(bits, w)), 3)
                                                for w in WEIGHTINGS}}
    for name in AGENTS:
        metrics[f"value_{name}"] = [over_seeds(dict(zip(seeds, values[name][:, i]))) for i in range(len(SUITE))]
        for weighting in WEIGHTINGS:
            metrics[f"upsilon_{weighting}_{name}"] = _upsilon_over_seeds(values[name], _weighting_bits(bits, weighting),
                                                                         seeds)
        for weighting in ("lzma", "uniform"):
            metrics[f"upsilon_{weighting}_{name}_by_horizon"] = {
                str(h): _upsilon_over_seeds(v[name], _weighting_bits(bits, weighting), seeds)
                for h, v in by_horizon.items()}
    for name, exact_values in exact.items():
        metrics[f"exact_value_{name}"] = [round(v, 4) for v in exact_values]
    means = {name: values[name].mean(axis=0) for name in AGENTS}  # [E]
    metrics["environments_ordered"] = int(np.sum((means["random"] < means["learner"])
                                                 & (means["learner"] < means["planner"])))
    ordered = (values["random"] < values["learner"]) & (values["learner"] < values["planner"])  # [seeds, E]
    metrics["seed_environment_pairs_ordered"] = int(ordered.sum())
    metrics["ordering_holds"] = {w: all(metrics[f"upsilon_{w}_random"]["per_seed"][str(s)]
                                        < metrics[f"upsilon_{w}_learner"]["per_seed"][str(s)]
                                        < metrics[f"upsilon_{w}_planner"]["per_seed"][str(s)] for s in seeds)
                                 for w in WEIGHTINGS}
    return metrics


def _headline(metrics: dict) -> str:
    def mean(weighting: str, name: str) -> float:
        return metrics[f"upsilon_{weighting}_{name}"]["mean"]

    return (f"Universal intelligence (lzma proxy, normalised weights, mean of {len(metrics['seeds'])} seeds): "
            f"random {mean('lzma', 'random'):.3f} < Q-learner {mean('lzma', 'learner'):.3f} < planner "
            f"{mean('lzma', 'planner'):.3f}; ordering on every seed under "
            f"{sum(metrics['ordering_holds'].values())} of {len(WEIGHTINGS)} weightings; "
            f"{metrics['environments_ordered']} of {len(SUITE)} environments ordered the same way.")


def _figure(values: dict[str, np.ndarray], bits: dict[str, list[int]], metrics: dict,
            seeds: list[int]) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(15, 9), gridspec_kw={"width_ratios": [1.7, 1]})
    _plot_values(axes[0, 0], values, bits, seeds)
    _plot_weights(axes[0, 1], bits)
    _plot_bars(axes[1, 0], WEIGHTINGS, lambda w, name: metrics[f"upsilon_{w}_{name}"])
    axes[1, 0].set(xlabel="weighting of the environments (complexity proxy)",
                   ylabel="$\\Upsilon(\\pi)$, normalised weights",
                   title=f"Universal intelligence, H = {metrics['horizon']} (bars: min to max over seeds)")
    horizons = list(metrics["upsilon_lzma_random_by_horizon"])
    _plot_bars(axes[1, 1], horizons, lambda h, name: metrics[f"upsilon_lzma_{name}_by_horizon"][h])
    axes[1, 1].set(xlabel="horizon H (steps)", ylabel="$\\Upsilon(\\pi)$, lzma weights",
                   title="Universal intelligence against the horizon")
    fig.tight_layout()
    return fig


def _plot_values(ax: plt.Axes, values: dict[str, np.ndarray], bits: dict[str, list[int]], seeds: list[int]) -> None:
    x = np.arange(len(SUITE))
    for k, name in enumerate(AGENTS):
        v = values[name]  # [seeds, E]
        mean = v.mean(axis=0)
        ax.bar(x + (k - 1) * 0.27, mean, 0.27, label=name, color=f"C{k}",
               yerr=np.clip([mean - v.min(axis=0), v.max(axis=0) - mean], 0, None), capsize=2)
    ax.set_xticks(x, [f"E{i + 1}\n{b}" for i, b in enumerate(bits["lzma"])], fontsize=8)
    ax.set(xlabel="environment, and the lzma bits of its description", ylabel="$V^\\pi_\\mu$ (average reward)",
           title=f"Value per environment ({len(seeds)} seeds, bars: min to max)")
    ax.legend()


def _plot_weights(ax: plt.Axes, bits: dict[str, list[int]]) -> None:
    x = np.arange(1, len(SUITE) + 1)
    for k, weighting in enumerate(WEIGHTINGS):
        ax.plot(x + (k - 2) * 0.08, np.log2(normalised_weights(_weighting_bits(bits, weighting))), marker="o",
                linestyle="none", label=weighting)
    ax.set(xticks=x, xlabel="environment", ylabel="$\\log_2 w_\\mu$ (bits)",
           title="Normalised weights $2^{-K}$, per proxy")
    ax.legend(fontsize=8)


def _plot_bars(ax: plt.Axes, groups: list[str], stats_of: Callable[[str, str], dict]) -> None:
    x = np.arange(len(groups))
    for k, name in enumerate(AGENTS):
        stats = [stats_of(group, name) for group in groups]
        mean = np.array([s["mean"] for s in stats])
        ax.bar(x + (k - 1) * 0.27, mean, 0.27, color=f"C{k}", label=name,
               yerr=np.clip([mean - [s["min"] for s in stats], [s["max"] for s in stats] - mean], 0, None), capsize=2)
    ax.set_xticks(x, groups)
    ax.legend()


if __name__ == "__main__":
    run_paper(__file__, experiment)
