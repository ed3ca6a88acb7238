r"""
---
title: A Tutorial Introduction to the Minimum Description Length Principle
summary: Maximum likelihood, the crude two-part code and refined MDL codes (the multinomial NML code by
  Kontkanen and Myllymäki's linear-time recurrence, checked against brute-force enumeration, and a Bayes
  mixture) choose the order of random Markov chains and the degree of random polynomials. Maximum likelihood
  almost never recovers the true order (at most 0.2%); NML beats the two-part code on Markov chains, its
  penalty lying between the two crude ones (a control measures both), and the mixture ties it on polynomials.
---

# A Tutorial Introduction to the Minimum Description Length Principle

[Peter Grünwald, 2004. *A Tutorial Introduction to the Minimum Description Length Principle*.
arXiv:math/0406077](https://arxiv.org/abs/math/0406077) (the first two chapters of *Advances in Minimum
Description Length*, MIT Press, 2005)

The minimum description length (MDL) principle says: *any regularity in the data can be used to compress it,
so the model that compresses the data most has found the most regularity.* It turns model selection, the
choice between model classes of different complexity (a polynomial's degree, a Markov chain's order), into a
comparison of code lengths, measured in bits. Every probability distribution $P$ is a code, with lengths
$-\log_2 P(x)$ (rounding to whole bits costs less than one bit, and the tutorial, like this page, ignores it).

**Maximum likelihood cannot choose a complexity.** The classes are nested: a degree-8 polynomial can be any
polynomial of degree 5, an order-5 chain any order-3 chain. So the best-fitting member of the larger class
fits at least as well, and choosing by fit alone always picks the largest class. The fit's code length is not a
real code length either: $P(\cdot \mid \hat\theta(x))$ was chosen after seeing $x$, and the receiver, who does
not know $x$, cannot decode with it.

**Crude, two-part MDL** codes the hypothesis first, then the data with its help:
$L(H) + L(D \mid H)$. For a model with $k$ real parameters, the tutorial writes each one to a precision of
order $1/\sqrt{n}$ (finer is wasted, since the data cannot tell such values apart, coarser costs more bits in
$L(D \mid H)$), and the description of the parameters takes about $\frac{k}{2} \log_2 n$ bits:

$$L_\text{two-part}(x) \approx -\log_2 P(x \mid \hat\theta(x)) + \frac{k}{2} \log_2 n,$$

the BIC. Its $O(1)$ part depends on arbitrary choices (the grid, the code for $k$), which is the tutorial's
complaint about crude MDL.

**Refined MDL** codes the data with one *universal* code for the whole model class $\mathcal{M}$, one that
does almost as well as the best member of $\mathcal{M}$ for every data set, whatever it is. The best such code
in the worst case is the *normalised maximum likelihood* (NML) distribution (Shtarkov, 1987):

$$P_\text{NML}(x) = \frac{P(x \mid \hat\theta(x))}{\sum_{y \in \mathcal{X}^n} P(y \mid \hat\theta(y))},
\qquad -\log_2 P_\text{NML}(x) = -\log_2 P(x \mid \hat\theta(x)) + \mathrm{COMP}_n(\mathcal{M}).$$

Its excess over the fit, the *regret*, is the same for every $x$: the *parametric complexity*
$\mathrm{COMP}_n(\mathcal{M}) = \log_2 \sum_y P(y \mid \hat\theta(y))$, which measures how many different data
sets the class can fit well, not how many parameters it has. No other code has a smaller worst-case regret.
Asymptotically $\mathrm{COMP}_n = \frac{k}{2} \log_2 \frac{n}{2\pi} + \log_2 \int \sqrt{\det I(\theta)}\,
d\theta + o(1)$, the two-part code's leading term plus a constant the crude code gets wrong. Bayesian
*mixture* codes $\int P(x \mid \theta)\, w(\theta)\, d\theta$ are universal codes too, and with Jeffreys' prior
they approach NML asymptotically.

## What this page measures

The tutorial has no experiment of its own; its examples are polynomial fitting and Markov chains of unknown
order, and the claim it makes (with Rissanen's consistency results behind it) is that MDL selects the model
class that generated the data when it is in the running, where maximum likelihood over-fits. We test that in
miniature on many random problems whose true order is known, for each sample size $n$ and each of three
seeds (a fresh problem set per seed), and count how often each code's shortest length is the true order:

* **Markov chains** over 3 symbols of true order 0 to 3 (Dirichlet(1) transition rows), candidate orders 0 to
  5, 1,000 problems per size and seed. The refined code is the multinomial NML code applied to each context's
  symbols (the *factorised* NML used in practice, not the exact NML of the Markov family, which has no closed
  form: the tests compare the two by enumeration), with its normaliser $C(K, n)$ by Kontkanen and
  Myllymäki's linear-time recurrence, checked against the sum over all sequences for $n \le 12$. A fourth
  code, a two-part code with per-context precision, is a control for why NML wins.
* **Polynomials** of true degree 0 to 5 on $n$ points with noise as large as the signal, candidate degrees 0
  to 8, 600 problems per size and seed. The refined code here is not NML but a Bayesian mixture (Zellner's
  $g$-prior with $g = n$), checked against SciPy's multivariate $t$ density.

True order recovered, mean over three seeds (range over the seeds in brackets), Markov chains ($n$ coded
symbols after the first five):

| n | maximum likelihood | two-part | two-part, per context | NML |
|---|---|---|---|---|
| 30 | 0.2% (0.1%–0.2%) | 35.5% (34.7%–36.5%) | 0.8% (0.7%–0.9%) | 47.2% (46.4%–47.8%) |
| 100 | 0.0% (0.0%–0.1%) | 46.9% (46.3%–47.9%) | 3.0% (2.8%–3.3%) | 81.4% (79.9%–82.7%) |
| 300 | 0.0% (0.0%–0.0%) | 67.5% (66.3%–68.3%) | 8.2% (7.8%–8.4%) | 97.6% (97.3%–98.3%) |
| 1000 | 0.0% (0.0%–0.0%) | 97.8% (97.6%–97.9%) | 64.8% (63.6%–65.5%) | 99.8% (99.5%–100.0%) |
| 3000 | 0.0% (0.0%–0.0%) | 100.0% (99.9%–100.0%) | 99.9% (99.8%–100.0%) | 100.0% (99.9%–100.0%) |

(The per-context two-part code is a control, explained below.)

True degree recovered, polynomials ($n$ points):

| n | maximum likelihood | two-part | Bayes mixture |
|---|---|---|---|
| 20 | 0.0% (0.0%–0.0%) | 28.9% (27.8%–30.3%) | 29.5% (28.5%–30.5%) |
| 50 | 0.0% (0.0%–0.0%) | 47.6% (46.7%–48.0%) | 46.8% (45.8%–47.7%) |
| 100 | 0.0% (0.0%–0.0%) | 66.2% (65.5%–66.5%) | 65.3% (64.2%–66.3%) |
| 200 | 0.0% (0.0%–0.0%) | 85.1% (85.0%–85.2%) | 84.9% (84.8%–85.0%) |
| 500 | 0.0% (0.0%–0.0%) | 96.7% (96.3%–97.2%) | 96.7% (96.3%–97.2%) |
| 1000 | 0.0% (0.0%–0.0%) | 98.7% (98.0%–99.3%) | 98.7% (98.0%–99.3%) |

![True order recovered against sample size, and how the Markov codes err](results/mdl.png)

**Maximum likelihood almost never finds the true order** (at most 0.2% of the problems). It picks the largest
candidate on every polynomial and on all Markov chains from 300 symbols on (99.9% at 100 and 95.6% at 30
symbols; its code length never grows with the order, so a smaller choice is a tie, which `argmin` breaks
towards the smaller order).

**Both MDL codes find it, more often as $n$ grows**, towards all problems by a thousand points or symbols. On
the Markov chains the NML code is far ahead of the two-part code at moderate sizes: by 33.4% to 35.4% of the
problems at 100 symbols and 29.0% to 31.0% at 300 (the range of the per-seed differences), and the two catch
up only at 1,000. The right panel shows how they err. The two-part code almost only under-fits (it chooses too
small an order); the NML code errs in both directions, over-fitting more at the smallest sizes, where the
two-part code under-fits far more.

*Why NML wins: the penalties, measured.* At 100 symbols and true order 3, the two-part code charges the
order-3 model 179 bits, $\frac{27 \cdot 2}{2} \log_2 100$, and NML 66 bits on the same problems (mean of the
seeds). The two-part code charges every parameter $\frac12 \log_2 n$ with $n$ the length of the whole
sequence, while each context's parameters are estimated from the few symbols that follow that context (about
$100 / 27 \approx 4$). The obvious repair, a two-part code that charges each context $\frac{K - 1}{2}
\log_2 n_s$ for its own count $n_s$, is the control: it charges 41 bits and over-fits on 96.9% of the problems
at 100 symbols, recovering the order less often than the plain two-part code at every size. For $K = 3$
the asymptotic expansion of the multinomial complexity above is exactly $\log_2 n$, so this control *is*
asymptotic NML per context; what it lacks is the exact complexity at small counts, where the expansion is
wrong: a context seen once costs $\log_2 C(3, 1) = \log_2 3 = 1.58$ bits under NML and nothing under the
expansion, one seen 4 times 2.85 bits against 2 (the tests check the expansion converges). NML's penalty lies
between the two crude ones: the global $\log_2 n$ charges too much, the asymptotic per-context charge too
little, and NML, which keeps the exact finite-$n$ parametric complexity that crude codes and the BIC drop,
recovers the order most often here (the control does not isolate whether the exactness matters or only that
the penalty lies in between). That is the tutorial's argument for refined over crude MDL, seen in one family.

**On the polynomials the refined code brings nothing here.** The mixture code and the two-part code recover
the degree equally often (within 1.0 point in the mean at every size). That is what theory leads one to
expect of this prior: with $g = n$ the mixture pays $\frac{k}{2} \log_2(1 + n)$ for $k$ coefficients, the
two-part code's penalty up to $O(1)$ terms; a prior that learns $g$ from the data, or Rissanen's NML code for
linear regression, might differ, and neither is tried. So the claim as the catalogue states it, *MDL codes
pick the true order far more often than maximum likelihood*, holds in both families; *refined beats crude*
holds for the Markov chains and not for the polynomials.

**Where this differs from the tutorial and what is a proxy.** The two-part code is its leading term, the BIC,
not a code with an explicit parameter grid. The Markov NML is the factorised code, not the exact NML of the
Markov family; for 10 binary symbols its probabilities sum to 0.98 to 0.99 at orders 1 to 3 (a valid code
that wastes a few hundredths of a bit), and exactly 1 at order 0, where it is the multinomial NML (see the
tests). Every Markov candidate is given the first 5 symbols (the largest order's context) and codes the rest,
so all code the same symbols. The polynomial code lengths are densities, in bits relative to the precision at
which $y$ is written, the same for all candidates. And the problems are easy to state but not easy to solve:
with noise as large as the signal, or with a transition table whose dependence on the third symbol back is
weak, small samples do not contain the evidence, and no code can recover the order there.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from labml import monit
from numpy.polynomial import legendre
from scipy.special import gammaln, logsumexp, xlogy  # pylint: disable=no-name-in-module

from papers.kit.checks import check_positive
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper

LOG2 = math.log(2.0)


# ## Checking the inputs
#
# Counts and orders are non-negative integers (NumPy's integers included); an alphabet has at least two
# symbols, except where the one-symbol alphabet is the recurrence's starting point.
def check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def check_alphabet(alphabet: object, low: int = 2) -> None:
    if isinstance(alphabet, bool) or not isinstance(alphabet, (int, np.integer)) or alphabet < low:
        raise ValueError(f"alphabet must be an integer of at least {low}, got {alphabet!r}")


# ## The parametric complexity of the multinomial
#
# For $K$ symbols and $n$ observations, the normaliser of the NML distribution is the sum, over all $K^n$
# sequences, of their maximised likelihoods. Sequences with the same counts $h_1, \dots, h_K$ have the same
# maximum, $\prod_a (h_a / n)^{h_a}$, so the sum runs over count vectors instead:
#
# $$C(K, n) = \sum_{h_1 + \dots + h_K = n} \frac{n!}{h_1! \cdots h_K!} \prod_{a=1}^{K}
#   \left(\frac{h_a}{n}\right)^{h_a}, \qquad 0^0 = 1.$$
#
# For $K = 2$ that is one sum over $h = h_1$, done in log space with `logsumexp` so that no term overflows
# ($\binom{n}{h}$ does, long before $n = 3000$). `xlogy` gives $0 \log 0 = 0$.
def log_binary_complexity(n: int) -> float:
    check_count("n", n)
    h = np.arange(n + 1, dtype=np.float64)  # [n + 1]
    terms = gammaln(n + 1) - gammaln(h + 1) - gammaln(n - h + 1) \
        + xlogy(h, h / max(n, 1)) + xlogy(n - h, (n - h) / max(n, 1))
    return float(logsumexp(terms))


# Kontkanen and Myllymäki (*A linear-time algorithm for computing the multinomial stochastic complexity*,
# Information Processing Letters, 2007) found that the normalisers for successive alphabet sizes obey
#
# $$C(K + 2, n) = C(K + 1, n) + \frac{n}{K}\, C(K, n),$$
#
# starting from $C(1, n) = 1$ and $C(2, n)$ above. So $C(K, n)$ costs $O(n + K)$ instead of a sum over
# $\binom{n + K - 1}{K - 1}$ count vectors. The tests check it against brute-force enumeration of every
# sequence.
def multinomial_complexity(alphabet: int, n: int) -> float:
    check_alphabet(alphabet, low=1)
    check_count("n", n)
    if alphabet == 1:
        return 1.0
    previous, current = 1.0, math.exp(log_binary_complexity(n))  # C(1, n), C(2, n)
    for k in range(1, alphabet - 1):
        previous, current = current, current + n / k * previous  # C(k + 1, n), C(k + 2, n)
    return current


# The Markov codes below need $\log_2 C(K, m)$ for every count $m$ up to the sequence's length: one table.
def log2_complexity_table(alphabet: int, n_max: int) -> np.ndarray:
    check_count("n_max", n_max)
    return np.array([math.log2(multinomial_complexity(alphabet, n)) for n in range(n_max + 1)])  # [n_max + 1]


# ## Markov chains: the counts
#
# A sequence $x_1 \dots x_N$ over $\{0, \dots, K - 1\}$. Under a Markov chain of order $k$ the symbol at
# position $t$ depends on its *context*, the $k$ symbols before it, numbered $s_t = \sum_{j=1}^{k} x_{t-j}
# K^{j-1}$. Every candidate order codes the same symbols, those from position `start` on (the first
# `start` symbols are given to all of them, so their code lengths are comparable); the sufficient statistics
# are the counts $n_{s,a}$ of symbol $a$ after context $s$: `[K^k, K]`.
def check_sequence(sequence: object, alphabet: int) -> None:
    check_alphabet(alphabet)
    if not isinstance(sequence, np.ndarray) or sequence.ndim != 1 or not np.issubdtype(sequence.dtype, np.integer):
        raise ValueError(f"sequence must be a 1-D integer numpy array, got {type(sequence).__name__} "
                         f"{getattr(sequence, 'shape', '')}")
    if len(sequence) and (sequence.min() < 0 or sequence.max() >= alphabet):
        raise ValueError(f"sequence must hold symbols in [0, {alphabet}), got values from {sequence.min()} "
                         f"to {sequence.max()}")


def context_counts(sequence: np.ndarray, alphabet: int, order: int, start: int) -> np.ndarray:
    check_sequence(sequence, alphabet)
    check_count("order", order)
    if not order <= start <= len(sequence):
        raise ValueError(f"start must be in [order={order}, len(sequence)={len(sequence)}], got {start}")
    symbols = sequence[start:]  # [N - start]
    context = np.zeros(len(symbols), dtype=np.int64)
    for lag in range(1, order + 1):
        context += sequence[start - lag:len(sequence) - lag] * alphabet ** (lag - 1)
    flat = np.bincount(context * alphabet + symbols, minlength=alphabet ** (order + 1))
    return flat.reshape(alphabet ** order, alphabet)  # [contexts, alphabet]


# The maximum-likelihood code length, in bits: the ML transition probabilities are $n_{s,a} / n_s$, with
# $n_s = \sum_a n_{s,a}$, so
#
# $$-\log_2 P(x \mid \hat\theta(x)) = -\sum_{s, a} n_{s,a} \log_2 \frac{n_{s,a}}{n_s}.$$
def ml_code_length(counts: np.ndarray) -> float:
    totals = counts.sum(axis=-1, keepdims=True)  # [contexts, 1]
    return float(-xlogy(counts, counts / np.maximum(totals, 1)).sum() / LOG2)


# ## Three ways to score an order
#
# With $n = N - t_0$ coded symbols ($t_0$ = `start`) and $K^k (K - 1)$ free parameters at order $k$:
#
# * **maximum likelihood**: $L_\text{ML}(k) = -\log_2 P(x \mid \hat\theta_k(x))$. A larger order contains the
#   smaller ones (set the extra dependence to nothing), so this never increases with $k$.
# * **two-part** (crude MDL): $L_\text{ML}(k) + \frac{K^k (K - 1)}{2} \log_2 n$. The tutorial's crude code
#   first describes the parameters, each to a precision of order $1/\sqrt{n}$, which takes about
#   $\frac12 \log_2 n$ bits per parameter, then the data with them; this is the leading term of that code
#   (the BIC penalty), without its $O(1)$ part, which depends on how the grid is laid out.
# * **two-part, per context**: $L_\text{ML}(k) + \sum_{s: n_s > 0} \frac{K - 1}{2} \log_2 n_s$, the same crude
#   code, but each context's $K - 1$ parameters are written to the precision $1/\sqrt{n_s}$ that its own $n_s$
#   symbols can resolve (and those of unseen contexts not at all). It is not in the tutorial; it is here as
#   the control for the explanation offered below of why NML beats the two-part code.
# * **NML** (refined MDL, factorised): $L_\text{ML}(k) + \sum_s \log_2 C(K, n_s)$: the sequence of symbols that
#   follow context $s$ is coded with the multinomial NML code for its own length $n_s$. This is the
#   conditional, per-context NML used in practice (Silander et al.'s *factorised* NML for Bayesian networks),
#   **not** the exact NML of the order-$k$ Markov family, whose normaliser sums $P(x \mid \hat\theta(x))$ over
#   all sequences at once and has no such closed form. The tests compute the exact one by enumeration for tiny
#   $n$ and check that the factorised code is a valid code there (its probabilities sum to at most one).
MARKOV_CODES = ("maximum likelihood", "two-part", "two-part, per context", "NML")


def markov_code_lengths(sequence: np.ndarray, alphabet: int, max_order: int,
                        log2_complexity: np.ndarray | None = None) -> dict[str, np.ndarray]:
    check_count("max_order", max_order)
    check_sequence(sequence, alphabet)
    coded = len(sequence) - max_order
    if coded < 1:
        raise ValueError(f"sequence must be longer than max_order={max_order}, got length {len(sequence)}")
    if log2_complexity is None:
        log2_complexity = log2_complexity_table(alphabet, coded)
    if len(log2_complexity) <= coded:
        raise ValueError(f"log2_complexity must cover counts up to {coded}, got {len(log2_complexity)} entries")
    lengths = {name: np.zeros(max_order + 1) for name in MARKOV_CODES}  # each [max_order + 1], bits
    for order in range(max_order + 1):
        counts = context_counts(sequence, alphabet, order, max_order)  # [alphabet^order, alphabet]
        ml = ml_code_length(counts)
        lengths["maximum likelihood"][order] = ml
        lengths["two-part"][order] = ml + alphabet ** order * (alphabet - 1) / 2 * math.log2(coded)
        seen = counts.sum(axis=-1)[counts.sum(axis=-1) > 0]  # [contexts seen]
        lengths["two-part, per context"][order] = ml + (alphabet - 1) / 2 * np.log2(seen).sum()
        lengths["NML"][order] = ml + log2_complexity[counts.sum(axis=-1)].sum()
    return lengths


# ## Random Markov chains of a known order
#
# Each problem draws one transition table: for each of the $K^k$ contexts a row of probabilities from a
# symmetric Dirichlet with the given concentration (1: uniform on the simplex). The first $k$ symbols are
# uniform; each later one is drawn from its context's row by inverting the cumulative probabilities. All
# problems of one order and length are drawn together: `[problems, length]`.
def sample_markov_chains(rng: np.random.Generator, problems: int, length: int, alphabet: int, order: int,
                         concentration: float) -> np.ndarray:
    check_positive("problems", problems, integer=True)
    check_alphabet(alphabet)
    check_count("order", order)
    check_positive("concentration", concentration)
    check_positive("length", length, integer=True)
    if length <= order:
        raise ValueError(f"length must exceed order={order}, got {length}")
    tables = rng.dirichlet(np.full(alphabet, float(concentration)), size=(problems, alphabet ** order))
    cumulative = tables.cumsum(axis=-1)  # [problems, contexts, alphabet]
    sequences = np.zeros((problems, length), dtype=np.int64)
    sequences[:, :order] = rng.integers(alphabet, size=(problems, order))
    context = np.zeros(problems, dtype=np.int64)  # the context number of position t, as in `context_counts`
    for lag in range(1, order + 1):
        context += sequences[:, order - lag] * alphabet ** (lag - 1)
    uniforms = rng.random((problems, length))
    rows = np.arange(problems)
    for t in range(order, length):
        symbol = (uniforms[:, t, None] > cumulative[rows, context]).sum(axis=-1).clip(max=alphabet - 1)
        sequences[:, t] = symbol
        context = (context * alphabet + symbol) % alphabet ** order
    return sequences


# ## Polynomial regression
#
# $n$ points $x_i$ uniform on $[-1, 1]$ and $y_i = f(x_i) + \varepsilon_i$, $\varepsilon_i \sim
# \mathcal{N}(0, \sigma^2)$. A degree-$d$ candidate is fitted by least squares (`numpy.linalg.lstsq`) on the
# Legendre basis $P_0(x), \dots, P_d(x)$ (`numpy.polynomial.legendre.legvander`), which spans the same
# polynomials as $1, x, \dots, x^d$ but is far better conditioned. With $k = d + 1$ coefficients and the
# residual sum of squares $\mathrm{RSS}_d$, the Gaussian likelihood maximised over the coefficients and
# $\sigma$ gives
#
# $$L_\text{ML}(d) = \frac{n}{2} \log_2\left(2 \pi e\, \frac{\mathrm{RSS}_d}{n}\right),$$
#
# the two-part code adds $\frac{k + 1}{2} \log_2 n$ ($k$ coefficients and $\sigma$), and the refined code is a
# Bayesian *mixture*: the marginal density of $y$ when the coefficients and the noise are integrated out
# against a prior. These are densities, so their "bits" are relative to the precision the $y_i$ are written
# at: a constant $n \log_2(1/\delta)$ shared by every candidate, left out. For the discrete Markov chains
# above the code lengths are bits in the ordinary sense.
REGRESSION_CODES = ("maximum likelihood", "two-part", "Bayes mixture")


def check_regression_data(x: object, y: object, max_degree: int) -> None:
    check_count("max_degree", max_degree)
    for name, values in (("x", x), ("y", y)):
        if not isinstance(values, np.ndarray) or values.ndim != 1 or not np.issubdtype(values.dtype, np.floating):
            raise ValueError(f"{name} must be a 1-D floating-point numpy array, got {type(values).__name__} "
                             f"{getattr(values, 'shape', '')}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(y) <= max_degree + 2:
        raise ValueError(f"need more than max_degree + 2 = {max_degree + 2} points, got {len(y)}")


def regression_code_lengths(x: np.ndarray, y: np.ndarray, max_degree: int) -> dict[str, np.ndarray]:
    check_regression_data(x, y, max_degree)
    n = len(y)
    design = legendre.legvander(x, max_degree)  # [n, max_degree + 1]
    lengths = {name: np.zeros(max_degree + 1) for name in REGRESSION_CODES}  # each [max_degree + 1], bits
    for degree in range(max_degree + 1):
        k = degree + 1
        coefficients, *_ = np.linalg.lstsq(design[:, :k], y, rcond=None)  # [k]
        fitted = design[:, :k] @ coefficients  # [n]
        ml = n / 2 * math.log2(2 * math.pi * math.e * float(((y - fitted) ** 2).sum()) / n)
        lengths["maximum likelihood"][degree] = ml
        lengths["two-part"][degree] = ml + (k + 1) / 2 * math.log2(n)
        lengths["Bayes mixture"][degree] = -g_prior_log_density(y, fitted, k, GPrior(g=n)) / LOG2
    return lengths


# ### The mixture code: Zellner's $g$-prior
#
# The prior: $\sigma^2 \sim \text{Inverse-Gamma}(a, b)$ and, given $\sigma^2$, the coefficients
# $\beta \sim \mathcal{N}\big(0, g \sigma^2 (X^\top X)^{-1}\big)$, with $X$ the `[n, k]` design matrix. The
# prior's spread follows the design, so it does not depend on the basis, and $g = n$ (the *unit-information*
# prior) makes it worth about one observation. Integrating $\beta$ out, $y \mid \sigma^2 \sim
# \mathcal{N}\big(0, \sigma^2 (I + g H)\big)$, $H = X (X^\top X)^{-1} X^\top$ the hat matrix; integrating
# $\sigma^2$ out, $y$ has a multivariate Student $t$ density with $\nu = 2a$ degrees of freedom and scale
# matrix $\Sigma = \frac{b}{a}(I + g H)$. $H$ is a projection of rank $k$, so $\det(I + gH) = (1 + g)^k$ and
# $(I + gH)^{-1} = I - \frac{g}{1+g} H$, and the quadratic form needs only the fit $\hat y = H y$:
#
# $$y^\top (I + g H)^{-1} y = \mathrm{RSS} + \frac{\lVert \hat y \rVert^2}{1 + g},$$
#
# $$\ln p(y) = \ln\Gamma\!\left(\tfrac{\nu + n}{2}\right) - \ln\Gamma\!\left(\tfrac{\nu}{2}\right)
#   - \tfrac{n}{2} \ln(\nu \pi) - \tfrac12 \ln\det\Sigma
#   - \tfrac{\nu + n}{2} \ln\!\left(1 + \tfrac{y^\top \Sigma^{-1} y}{\nu}\right).$$
#
# The tests check this against `scipy.stats.multivariate_t` with the full `[n, n]` scale matrix. The
# noise prior is vague ($a = b = 0.01$) and the same for every degree; it was fixed before the experiment
# was run and not tuned. As $g$ grows the mixture pays $\frac{k}{2} \log_2(1 + g)$ bits for its coefficients,
# so with $g = n$ it is close to the two-part code: it is the refined code that BIC approximates.
class GPrior:
    def __init__(self, g: float, a: float = 0.01, b: float = 0.01):
        for name, value in (("g", g), ("a", a), ("b", b)):
            check_positive(name, value)
        self.g, self.a, self.b = float(g), float(a), float(b)


def g_prior_log_density(y: np.ndarray, fitted: np.ndarray, k: int, prior: GPrior) -> float:
    n, nu = len(y), 2 * prior.a
    quadratic = (float(((y - fitted) ** 2).sum()) + float(fitted @ fitted) / (1 + prior.g)) * prior.a / prior.b
    log_det = n * math.log(prior.b / prior.a) + k * math.log1p(prior.g)
    return float(gammaln((nu + n) / 2) - gammaln(nu / 2) - n / 2 * math.log(nu * math.pi) - log_det / 2
                 - (nu + n) / 2 * math.log1p(quadratic / nu))


# ### Random polynomials of a known degree
#
# The true degree $d$ is exact: the Legendre coefficients below the top one are standard normal, the top one
# is $\pm$ a uniform draw from $[0.5, 1]$, bounded away from zero so that the degree is detectable with enough
# data. The noise $\sigma = 1$ is as large as the signal, so small samples do not reveal the degree.
def sample_polynomial(rng: np.random.Generator, length: int, degree: int, noise: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    check_positive("length", length, integer=True)
    check_count("degree", degree)
    check_positive("noise", noise)
    x = rng.uniform(-1, 1, size=length)  # [length]
    coefficients = rng.normal(size=degree + 1)  # [degree + 1]
    coefficients[degree] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
    return x, legendre.legval(x, coefficients) + noise * rng.normal(size=length)


# ## The experiment
#
# Many random problems of each size, for each seed a fresh set. For every problem each code picks the
# candidate with the shortest code length, and we count how often that is the true order or degree, how often
# smaller (under-fitting) and how often larger (over-fitting).
#
# Markov chains: $K = 3$ symbols, true order 0 to 3 (the same number of problems each), Dirichlet(1) rows,
# candidate orders 0 to 5, the first 5 symbols given to every candidate. Polynomials: true degree 0 to 5,
# candidates 0 to 8, $\sigma = 1$.
ALPHABET, MAX_ORDER, TRUE_ORDERS, CONCENTRATION = 3, 5, range(4), 1.0
MAX_DEGREE, TRUE_DEGREES, NOISE = 8, range(6), 1.0
HEADLINE_SIZE = 100


def selection_rates(truth: np.ndarray, chosen: np.ndarray) -> dict[str, float]:
    return {"recovery": float((chosen == truth).mean()), "underfit": float((chosen < truth).mean()),
            "overfit": float((chosen > truth).mean())}


# The orders each code picks on `per_order` chains of each true order: `{code: rates}` plus how often maximum
# likelihood picks the largest candidate.
def markov_selection(rng: np.random.Generator, coded: int, per_order: int) -> dict[str, dict[str, float]]:
    table = log2_complexity_table(ALPHABET, coded)
    truth, chosen = [], {code: [] for code in MARKOV_CODES}
    penalties = {code: {order: [] for order in TRUE_ORDERS} for code in MARKOV_CODES[1:]}
    for order in TRUE_ORDERS:
        for sequence in sample_markov_chains(rng, per_order, coded + MAX_ORDER, ALPHABET, order, CONCENTRATION):
            lengths = markov_code_lengths(sequence, ALPHABET, MAX_ORDER, table)
            truth.append(order)
            for code in MARKOV_CODES:
                chosen[code].append(int(np.argmin(lengths[code])))
            for code, by_order in penalties.items():
                by_order[order].append(lengths[code][order] - lengths["maximum likelihood"][order])
    rates = _rates(np.array(truth), chosen, MAX_ORDER)
    for code, by_order in penalties.items():
        rates[code].update({f"penalty_order_{order}": float(np.mean(values)) for order, values in by_order.items()})
    return rates


def regression_selection(rng: np.random.Generator, n: int, per_degree: int) -> dict[str, dict[str, float]]:
    truth, chosen = [], {code: [] for code in REGRESSION_CODES}
    for degree in TRUE_DEGREES:
        for _ in range(per_degree):
            lengths = regression_code_lengths(*sample_polynomial(rng, n, degree, NOISE), MAX_DEGREE)
            truth.append(degree)
            for code in REGRESSION_CODES:
                chosen[code].append(int(np.argmin(lengths[code])))
    return _rates(np.array(truth), chosen, MAX_DEGREE)


def _rates(truth: np.ndarray, chosen: dict[str, list[int]], largest: int) -> dict[str, dict[str, float]]:
    rates = {code: selection_rates(truth, np.array(picks)) for code, picks in chosen.items()}
    rates["maximum likelihood"]["picks_largest"] = float((np.array(chosen["maximum likelihood"]) == largest).mean())
    return rates


def one_seed(seed: int, markov_sizes: list[int], regression_sizes: list[int], per_order: int,
             per_degree: int) -> dict[str, dict[int, dict]]:
    rng = np.random.default_rng(seed)
    markov = {n: markov_selection(rng, n, per_order) for n in monit.iterate(f"Markov chains, seed {seed}",
                                                                             markov_sizes)}
    regression = {n: regression_selection(rng, n, per_degree)
                  for n in monit.iterate(f"Polynomials, seed {seed}", regression_sizes)}
    return {"markov": markov, "regression": regression}


def experiment(config: RunConfig) -> Outcome:
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    markov_sizes = config.choose([30, 100, 300, 1000, 3000], [HEADLINE_SIZE, 1000])
    regression_sizes = config.choose([20, 50, 100, 200, 500, 1000], [HEADLINE_SIZE, 500])
    per_order, per_degree = config.choose(250, 25), config.choose(100, 10)
    runs = {seed: one_seed(seed, markov_sizes, regression_sizes, per_order, per_degree) for seed in seeds}
    metrics = {
        "seeds": seeds,
        "markov": _family_metrics(runs, "markov", MARKOV_CODES, markov_sizes, per_order * len(TRUE_ORDERS)),
        "regression": _family_metrics(runs, "regression", REGRESSION_CODES, regression_sizes,
                                      per_degree * len(TRUE_DEGREES)),
    }
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


# Every rate is recorded for each seed with its mean and spread, and so is the paired difference between the
# refined code and the two-part code.
def _family_metrics(runs: dict[int, dict], family: str, codes: tuple[str, ...], sizes: list[int],
                    problems: int) -> dict:
    def across(code: str, n: int, rate: str) -> dict:
        return over_seeds({seed: run[family][n][code][rate] for seed, run in runs.items()})

    refined = codes[-1]
    return {
        "problems_per_size_and_seed": problems, "sizes": sizes,
        **{rate: {code: {str(n): across(code, n, rate) for n in sizes} for code in codes}
           for rate in ("recovery", "underfit", "overfit")},
        "ml_picks_largest": {str(n): across("maximum likelihood", n, "picks_largest") for n in sizes},
        **(_penalties(runs, codes, sizes) if family == "markov" else {}),
        "refined_minus_two_part": {str(n): over_seeds({
            seed: run[family][n][refined]["recovery"] - run[family][n]["two-part"]["recovery"]
            for seed, run in runs.items()}) for n in sizes},
    }


# The Markov codes' penalties, $L(k) - L_\text{ML}(k)$ in bits, at the true order $k$, averaged over the problems.
def _penalties(runs: dict[int, dict], codes: tuple[str, ...], sizes: list[int]) -> dict:
    return {"penalty_bits_at_true_order": {code: {str(n): {str(order): over_seeds({
        seed: run["markov"][n][code][f"penalty_order_{order}"] for seed, run in runs.items()})
        for order in TRUE_ORDERS} for n in sizes} for code in codes[1:]}}


def _headline(metrics: dict) -> str:
    def rate(family: str, code: str, n: int) -> str:
        return f"{metrics[family]['recovery'][code][str(n)]['mean']:.0%}"

    n_markov, n_regression = HEADLINE_SIZE, HEADLINE_SIZE
    return (f"True order recovered (mean of {len(metrics['seeds'])} seeds): Markov chains of {n_markov} symbols, "
            f"NML {rate('markov', 'NML', n_markov)}, two-part {rate('markov', 'two-part', n_markov)}, maximum "
            f"likelihood {rate('markov', 'maximum likelihood', n_markov)}; polynomials from {n_regression} "
            f"points, Bayes mixture {rate('regression', 'Bayes mixture', n_regression)}, two-part "
            f"{rate('regression', 'two-part', n_regression)}, maximum likelihood "
            f"{rate('regression', 'maximum likelihood', n_regression)}.")


def _figure(metrics: dict) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    titles = {"markov": f"Markov chains ({ALPHABET} symbols, true order 0-3 of 0-{MAX_ORDER})",
              "regression": f"Polynomials (true degree 0-5 of 0-{MAX_DEGREE}, $\\sigma$ = {NOISE:g})"}
    for ax, (family, codes) in zip(axes, (("markov", MARKOV_CODES), ("regression", REGRESSION_CODES))):
        sizes = metrics[family]["sizes"]
        for i, code in enumerate(codes):
            control = code == "two-part, per context"  # the control, dashed and grey
            _plot_rate(ax, sizes, metrics[family]["recovery"][code], "C7" if control else f"C{i}",
                       "--" if control else "-", f"{code} (control)" if control else code)
        ax.set(xscale="log", ylim=(-0.03, 1.03), xlabel="coded symbols $n$" if family == "markov" else "points $n$",
               ylabel="true order recovered" if family == "markov" else "true degree recovered",
               title=titles[family])
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=9)
    sizes = metrics["markov"]["sizes"]
    for i, code in ((1, "two-part"), (3, "NML")):
        _plot_rate(axes[2], sizes, metrics["markov"]["underfit"][code], f"C{i}", "-", f"{code}: order too small")
        _plot_rate(axes[2], sizes, metrics["markov"]["overfit"][code], f"C{i}", ":", f"{code}: order too large")
    axes[2].set(xscale="log", ylim=(-0.03, 1.03), xlabel="coded symbols $n$", ylabel="share of problems",
                title="Markov chains: how the MDL codes err")
    axes[2].legend()
    fig.suptitle(f"Mean of {len(metrics['seeds'])} seeds, each a fresh problem set; shaded: the range of the seeds")
    fig.tight_layout()
    return fig


# Mean over seeds, with the range of the seeds shaded.
def _plot_rate(ax: plt.Axes, sizes: list[int], rates: dict[str, dict], color: str, style: str, label: str) -> None:
    means = [rates[str(n)]["mean"] for n in sizes]
    ax.plot(sizes, means, style, marker="o", color=color, label=label)
    ax.fill_between(sizes, [rates[str(n)]["min"] for n in sizes], [rates[str(n)]["max"] for n in sizes],
                    color=color, alpha=0.2)


if __name__ == "__main__":
    run_paper(__file__, experiment)
