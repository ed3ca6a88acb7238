r"""
---
title: "kNN-LM: nearest-neighbour language models"
nav: kNN-LM
summary: A trained character transformer's final hidden states stored with the next character in a FAISS
  index, searched at test time and interpolated with the model's own distribution; held-out perplexity
  against the interpolation weight, the number of neighbours and the datastore's size, over seeds.
---

# kNN-LM

[Khandelwal et al., 2020. *Generalization through Memorization: Nearest Neighbor Language
Models*](https://arxiv.org/abs/1911.00172)

A trained language model maps each context $c$ to a vector $f(c)$ (the input of its output layer) and reads
the next-token distribution off that vector. Khandelwal et al. keep the model as it is and add a memory:
run the trained model once over its training text and store, for every position $i$, the pair

$$(\text{key}, \text{value}) = \big(f(c_i),\ w_i\big),$$

the context's vector and the token that actually came next. At test time the context's vector $f(c)$ is a
query; the $k$ stored keys nearest to it (squared Euclidean distance $d$) vote for their values with
weights $\exp(-d)$, giving a distribution $p_{\mathrm{kNN}}$ over the vocabulary, and the prediction is

$$p(y \mid c) = \lambda\, p_{\mathrm{kNN}}(y \mid c) + (1 - \lambda)\, p_{\mathrm{LM}}(y \mid c).$$

Nothing is trained: the datastore is built in one forward pass and searched with
[FAISS](https://github.com/facebookresearch/faiss). On WikiText-103 (Table 1 of the paper) this lowers a
strong Transformer's test perplexity from 18.65 to 16.12 with $\lambda = 0.25$ and $k = 1024$; the gain grows
with the size of the datastore (Figure 2), and it is largest on rare patterns such as factual knowledge and
names (in its analysis of examples).

This page asks the same questions of [the shared character transformer](../kit/char_transformer.py) on
Shakespeare: does the interpolation lower held-out perplexity, for which $\lambda$, $k$ and datastore size,
and where? The keys are the harness's final layer-normed hidden states, captured with a hook; the datastore
and both FAISS indexes are built in this file. [The tests](../../tests/transformers/test_knn_lm.py) check
FAISS's exact search against brute force (`torch.cdist` and `topk`, with tied keys), the inverted-file index
against it, $p_{\mathrm{kNN}}$ against a loop over neighbours, $\lambda = 0$ against the model's own loss, the
keys against the output layer's input, and our scoring against labml-nn's `knn` (run from its source: its
keys, weights and interpolation differ, see the tests).

## What the experiment shows

![Perplexity against lambda, datastore size and k, three seeds](results/knn_lm.png)

**The set-up** (details with the experiment's code below): the shared character transformer, trained for 600
steps on the first 225,000 characters of Shakespeare, is the model; its datastore holds one entry per
training position, 224,960 in all; the held-out 25,000 characters are split into a validation half, which
chooses $\lambda$, $k$ and $\tau$, and a test half, which reports. Three seeds (the model's weights and
batches). The whole run took 163 s of CPU at one thread (measured on a heavily loaded machine), over the
two-minute budget: each seed searches 4,096 queries exactly among 225,000 keys for 1,024 neighbours, and
again in two random subsets.

**The gain.** On the test half, the model alone has a perplexity of 9.280 (7.961 to 9.977) per character, or
3.206 (2.993 to 3.319) bits per character (mean of three seeds, range in brackets). With its datastore, at
the $\lambda$, $k$ and $\tau$ each seed chose on the validation half, the kNN-LM has 7.910 (6.578 to 8.622),
or 2.973 (2.718 to 3.108) bits. The gain is 0.162 (0.146 to 0.191) nats per character, standard deviation
0.025 over the seeds, lower on 3 of 3 seeds; the seeds differ more in how well the model trained than in
the gain. The choices: seed 0 $\lambda = 0.75$, $k = 256$, $\tau = 3$; seed 1 $\lambda = 0.75$, $k = 256$,
$\tau = 1$; seed 2 $\lambda = 0.7$, $k = 256$, $\tau = 1$.

**Against $\lambda$** (left panel; solid test, dotted validation): the loss falls from $\lambda = 0$ to a
broad minimum and rises again towards $\lambda = 1$, where it is infinite: 98.5% of the test positions have
their target among the $k$ neighbours, the rest get probability 0 from the neighbours alone. The test
curves' own minima are at $\lambda$ = 0.8, 0.7 and 0.7, next to the validation's choices.

**The paper's $\tau = 1$.** With the temperature fixed at 1 ($k$ and $\lambda$ chosen on validation; every
seed chose $k = 256$, $\lambda$ 0.65 to 0.75) the gain is 0.164 (0.149 to 0.191) nats: the temperature is an
option this page adds, and it made no difference here (two of three seeds chose $\tau = 1$ anyway).

**Against $k$** (right panel; test perplexity, $e$ to the mean of the seeds' losses, $\lambda$ re-chosen on
validation for each $k$): $k = 1$: 8.88, $k = 4$: 8.54, $k = 16$: 8.18, $k = 64$: 7.94, $k = 256$: 7.85,
$k = 1024$: 7.86. Even one neighbour helps; the gain saturates between 256 and 1,024.

**Against the datastore's size** (middle panel, filled markers; random subsets of the entries, drawn
afresh for each seed, $k$ and $\tau$ as chosen, $\lambda$ re-chosen on validation; perplexity here is $e$ to
the mean of the seeds' losses): 14,060 entries 8.81 ($\lambda$ 0.25 to 0.3), 56,240 entries 8.36 ($\lambda$
0.45 to 0.55), all 224,960 entries 7.85 ($\lambda$ 0.7 to 0.75); the model alone 9.23. In nats, a sixteenth
of the datastore gains 0.046, a quarter 0.099, the whole 0.162: each quadrupling adds a similar amount
(0.053, then 0.063), and the chosen $\lambda$ rises with the size. The paper's Figure 2 also grows the
datastore and sees perplexity fall steadily with its size; here the fall is measured over a range of 16
in size only.

**Nearness** (open markers). The held-out text continues the training text's last play, so a quarter of the
datastore can be chosen to be the text just before it. That *last quarter* (56,240 entries) gives a test
perplexity of 8.22, against 8.36 for a random quarter of the same size: 0.017 (0.013 to 0.020) nats better
on every seed. Everything *but* the last quarter (168,720 entries) gives 8.17, barely better than the last
quarter alone with three times its entries, and 0.040 nats worse than the whole. So the memory pays both
for size and for holding the text nearest the one it predicts (the same play, its speakers' names and
phrases): part of what it does here is what a cache of recent text does. Held-out text from plays outside
the datastore was not measured.

**Approximate search.** The inverted file (256 cells, 4 scanned per query) returns 98.6% of the exact $k$
nearest (0.9843 to 0.9878 over seeds) and changes the test loss by 0.0010 (-0.0003 to 0.0032) nats: at
this size the approximation costs nothing measurable.

**Where it helps.** The gain by how common the target character is in the training text: rare targets
(under 1% of the training characters; 15% of test positions) gain 0.329 (0.304 to 0.342) nats, middle ones
(1% to 5%; 51%) 0.155 (0.133 to 0.199), common ones (5% or more, such as the space and `e`; 34%) 0.097 (0.079
to 0.112). Rare targets gain about three to four and a half times as much as common ones (4.35, 3.06 and 2.99
on the three seeds). The rare bucket includes the capitals of the speakers' names that open each speech,
and the held-out text continues a play whose speakers are in the datastore, so part of this gain may be
the nearness effect above (the two were not separated).

**Against the paper.** The direction holds: the memory lowers held-out perplexity on every seed, at a
$\lambda$ chosen on separate text, and larger random datastores help more (and the text nearest the
held-out part helps most per entry). The proportions differ. The paper's best
$\lambda$ on WikiText-103 is 0.25 and its gain 18.65 → 16.12 perplexity (about 0.15 nats per token); here
the chosen weights are much larger, so the neighbours carry most of the prediction. This small model,
trained for 600 steps, does not fit even its training text: its loss on 2,048 training predictions is 2.280
(2.112 to 2.368) nats, no lower than on the test half (2.223). A hypothesis, not measured: the neighbours
retrieve what the model has not learned to predict, so they are worth more than its own guess; whether the
gain shrinks for a better-trained model (the paper's regime) was not measured. The rare-target buckets gain the
most, in the direction of the paper's observation that kNN-LM helps most on rare patterns, but at the
character level "rare" means capitals, punctuation and uncommon letters, not the facts and names of the
paper's analysis.

**Where this differs from the paper.** Khandelwal et al. use a 247M-parameter Transformer on 103M subword
tokens, keys of dimension 1024 taken at the input of the last layer's feed-forward network (after its layer
norm), $k = 1024$, and an inverted file with product quantisation (4,096 cells, 32 scanned, keys compressed
to 64 bytes; distances recomputed in full precision helped slightly). Here the model is a 0.1M-parameter
character transformer, the key is the input of the output layer (the final layer-normed state, as the
brief for this page asks), the datastore is 225,000 characters, search is exact (with an uncompressed
inverted file as the approximate comparison), contexts are windows of at most 64 characters (the paper's
model is trained on blocks of 3,072 tokens and, by its Section 4, evaluated with 2,560 tokens of prior
context for each scored token), and a temperature on the distances is chosen on validation along with
$\lambda$ and $k$. The held-out numbers come from 2,048 predictions per half, read in windows, not from the
whole held-out text read straight through.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from labml import monit
from matplotlib.figure import Figure
from torch import nn

from papers.kit.char_transformer import LMSettings, build_model, corpus, train_lm, validation_windows
from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.transformers.gpt import gpt_schedule


# ## The datastore
#
# One entry per training position $i$: the *key* $f(c_i) \in \mathbb{R}^d$, the model's representation of
# the context $c_i$ (everything before position $i + 1$ in its window), and the *value* $w_i$, the character
# that followed. `keys` `[entries, d]` float32 (FAISS works in float32), `values` `[entries]` int64.
@dataclass(frozen=True)
class Datastore:
    keys: torch.Tensor
    values: torch.Tensor

    def __post_init__(self) -> None:
        sizes = check_tensor("keys", self.keys, ["entries", "d"], dtype=torch.float32)
        check_tensor("values", self.values, ["entries"], dtype=torch.long, sizes=sizes)

    # The entries at `rows` `[entries']` (int64, each in $[0, \text{entries})$), in that order.
    def subset(self, rows: torch.Tensor) -> Datastore:
        check_tensor("rows", rows, [None], dtype=torch.long)
        if rows.numel() == 0 or rows.min() < 0 or rows.max() >= len(self.values):
            raise ValueError(f"rows must be a non-empty selection of the {len(self.values)} entries")
        return Datastore(self.keys[rows], self.values[rows])


# **The key** is the input of the output layer: the final layer-normed hidden state $\mathrm{LN}(h_L)$ of
# [the harness](../kit/char_transformer.py), which the model multiplies by $E^\top$ to get its logits. A
# forward hook on the final norm reads it during the ordinary forward pass, so the logits and the keys come
# from one call. `inputs` `[batch, seq]` → hidden `[batch, seq, d]`, logits `[batch, seq, vocab]`.
@torch.no_grad()
def hidden_and_logits(model: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    captured: list[torch.Tensor] = []
    handle = model.final_norm.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    was_training = model.training
    model.eval()
    try:
        logits = model(inputs)
    finally:
        handle.remove()
        model.train(was_training)
    return captured[0], logits


# The datastore of the first `fraction` of `tokens`, cut into consecutive windows of `seq_len` characters
# (the context of a position is the part of its window before it, as in training), read `batch` windows at a
# time. Row $i$ of the datastore is position $i$ of the text, so its last rows are the text nearest the
# held-out part.
def build_datastore(model: nn.Module, tokens: torch.Tensor, seq_len: int, fraction: float = 1.0,
                    batch: int = 256) -> Datastore:
    check_tensor("tokens", tokens, [None], dtype=torch.long)
    check_positive("seq_len", seq_len, integer=True)
    check_in_range("fraction", fraction, 0, 1, low_open=True)
    windows = (int(len(tokens) * fraction) - 1) // seq_len
    if windows < 1:
        raise ValueError(f"fraction {fraction} of {len(tokens)} tokens holds no window of {seq_len + 1}")
    text = tokens[:windows * seq_len + 1]
    inputs = text[:-1].view(windows, seq_len)  # [windows, seq_len]
    keys = [hidden_and_logits(model, chunk)[0] for chunk in monit.iterate("Datastore", inputs.split(batch))]
    return Datastore(torch.cat(keys).reshape(-1, keys[0].shape[-1]).contiguous(), text[1:].clone())


# ## Searching it with FAISS
#
# The main index is exact: `IndexFlatL2` compares a query with every key and returns the $k$ smallest
# *squared* Euclidean distances $d(q, f(c_i)) = \lVert q - f(c_i) \rVert^2$. The paper searches an
# approximate index instead, an inverted file with product quantisation over 103M keys; here the
# approximate index is an inverted file without quantisation (`IndexIVFFlat`): the keys are clustered by
# $k$-means into `lists` cells, and a query scans only the `probes` cells whose centroids are nearest, so it
# may miss true neighbours (its *recall* is measured in the experiment) but the distances it returns are
# exact.
def exact_index(store: Datastore) -> faiss.Index:
    index = faiss.IndexFlatL2(store.keys.shape[1])
    index.add(store.keys.numpy())  # pylint: disable=no-value-for-parameter
    return index


def approximate_index(store: Datastore, lists: int, probes: int) -> faiss.Index:
    check_positive("lists", lists, integer=True)
    check_positive("probes", probes, integer=True)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(store.keys.shape[1]), store.keys.shape[1], lists)
    index.train(store.keys.numpy())  # pylint: disable=no-value-for-parameter
    index.add(store.keys.numpy())  # pylint: disable=no-value-for-parameter
    index.nprobe = probes
    return index


# The $k$ nearest keys of each query, nearest first: squared distances `[queries, k]` and datastore rows
# `[queries, k]` (FAISS marks a missing neighbour, possible in an approximate index, with row $-1$).
def search(index: faiss.Index, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("queries", queries, [None, index.d], dtype=torch.float32)
    check_positive("k", k, integer=True)
    if k > index.ntotal:
        raise ValueError(f"k must be at most the datastore's {index.ntotal} entries, got {k}")
    distances, rows = index.search(queries.contiguous().numpy(), k)
    return torch.from_numpy(distances), torch.from_numpy(rows)


# The neighbours' distances and values from a search's distances and rows; a missing neighbour gets distance
# $+\infty$ (weight 0 below) and a placeholder value 0.
def lookup(store: Datastore, distances: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    missing = rows < 0
    values = store.values[rows.clamp(min=0)].masked_fill(missing, 0)  # [queries, k]
    return distances.masked_fill(missing, math.inf), values


def neighbours(index: faiss.Index, store: Datastore, queries: torch.Tensor,
               k: int) -> tuple[torch.Tensor, torch.Tensor]:
    return lookup(store, *search(index, queries, k))


# **One search, three datastores.** The whole datastore is searched as two exact searches, of its first
# `cut` rows (the *head*) and of the rest (the *tail*), merged: the $k$ nearest of the whole are the $k$
# nearest among the two parts' $k$ nearest. The experiment needs the head and the tail as datastores of
# their own (how much the text nearest the held-out part is worth), and this way they cost no extra search.
# Distances and rows `[queries, k]`, nearest first, rows numbered in the whole datastore:
# `{"whole": ..., "head": ..., "tail": ...}`.
def split_search(store: Datastore, cut: int, queries: torch.Tensor, k: int) -> dict:
    entries = len(store.values)
    check_in_range("cut", cut, 0, entries, low_open=True, high_open=True)
    head = search(exact_index(store.subset(torch.arange(cut))), queries, k)
    tail_distances, tail_rows = search(exact_index(store.subset(torch.arange(cut, entries))), queries, k)
    tail = (tail_distances, tail_rows + cut)
    distances = torch.cat([head[0], tail[0]], 1)  # [queries, 2k]
    order = distances.argsort(dim=-1, stable=True)[:, :k]
    whole = (distances.gather(1, order), torch.cat([head[1], tail[1]], 1).gather(1, order))
    return {"whole": whole, "head": head, "tail": tail}


# ## The neighbours' distribution
#
# Each neighbour votes for the character that followed it, with weight $\exp(-d)$, normalised over the $k$
# neighbours:
#
# $$p_{\mathrm{kNN}}(y \mid c) = \frac{\sum_{j=1}^{k} \mathbb{1}[w_j = y]\, \exp(-d_j / \tau)}
#   {\sum_{j=1}^{k} \exp(-d_j / \tau)}.$$
#
# The paper uses $\tau = 1$ on raw squared distances; the temperature $\tau$ is an option this page adds,
# chosen on the validation split along with $\lambda$ and $k$; the experiment finds it makes no difference
# that matters (the gain at $\tau = 1$ is 0.164 nats, at the chosen $\tau$ 0.162). The weights are a softmax over
# $-d / \tau$, so distances of hundreds do not underflow. `distances` `[queries, k]`, `values`
# `[queries, k]` → `[queries, vocab]`, rows summing to 1.
def knn_distribution(distances: torch.Tensor, values: torch.Tensor, vocab: int,
                     temperature: float = 1.0) -> torch.Tensor:
    sizes = check_tensor("distances", distances, ["queries", "k"])
    check_tensor("values", values, ["queries", "k"], dtype=torch.long, sizes=sizes)
    check_positive("vocab", vocab, integer=True)
    check_positive("temperature", temperature)
    if not torch.isfinite(distances).any(-1).all():
        raise ValueError("every query needs at least one neighbour with a finite distance")
    weights = torch.softmax(-distances.double() / temperature, dim=-1)  # [queries, k]
    return scatter_votes(values, weights, vocab)


# Sum each neighbour's weight into its value's column: `[queries, k]` twice → `[queries, vocab]`.
def scatter_votes(values: torch.Tensor, weights: torch.Tensor, vocab: int) -> torch.Tensor:
    if values.numel() and (values.min() < 0 or values.max() >= vocab):
        raise ValueError(f"values must lie in [0, {vocab})")
    return weights.new_zeros(values.shape[0], vocab).scatter_add_(1, values, weights)


# ## Interpolation
#
# $$p(y \mid c) = \lambda\, p_{\mathrm{kNN}}(y \mid c) + (1 - \lambda)\, p_{\mathrm{LM}}(y \mid c).$$
#
# The loss is computed in log space, $\log p = \mathrm{logaddexp}(\log\lambda + \log p_{\mathrm{kNN}},\
# \log(1 - \lambda) + \log p_{\mathrm{LM}})$, so that $\lambda = 0$ gives exactly the model's log-softmax
# and $\lambda = 1$ gives $-\infty$ (an infinite loss) where no neighbour carries the target.
def interpolated_log_probs(logits: torch.Tensor, p_knn: torch.Tensor, lam: float) -> torch.Tensor:
    sizes = check_tensor("logits", logits, ["queries", "vocab"])
    check_tensor("p_knn", p_knn, ["queries", "vocab"], sizes=sizes)
    check_in_range("lam", lam, 0, 1)
    log_lm = F.log_softmax(logits, dim=-1)
    if lam == 0:
        return log_lm
    log_knn = p_knn.to(logits.dtype).log()
    if lam == 1:
        return log_knn
    return torch.logaddexp(math.log(lam) + log_knn, math.log1p(-lam) + log_lm)  # [queries, vocab]


# Mean negative log-likelihood (nats) of `targets` `[queries]` under the interpolation.
def knn_lm_loss(logits: torch.Tensor, p_knn: torch.Tensor, targets: torch.Tensor, lam: float) -> float:
    log_p = interpolated_log_probs(logits, p_knn, lam)
    check_tensor("targets", targets, [log_p.shape[0]], dtype=torch.long)
    return -log_p.gather(1, targets[:, None]).mean().item()


# For sweeps, the same loss from the target's two probabilities only, `[queries]` each, for every $\lambda$
# in `lambdas` `[lambdas]` at once: per-position losses `[lambdas, queries]` (float64; `inf` where
# $\lambda = 1$ meets a target no neighbour carries).
def mixture_losses(p_lm: torch.Tensor, p_knn: torch.Tensor, lambdas: torch.Tensor) -> torch.Tensor:
    mixed = lambdas[:, None] * p_knn.double()[None] + (1 - lambdas[:, None]) * p_lm.double()[None]
    return -mixed.log()  # [lambdas, queries]


# ## The experiment
#
# **The model** is [the shared harness](../kit/char_transformer.py) at its default size (64 wide, 4 heads,
# 2 pre-norm layers, learned positions, windows of 64) trained for 600 steps of Adam with the
# [GPT schedule](gpt.py) (peak $10^{-2}$, the rate [the RoPE page](rope.py)'s sweep chose for the harness;
# 50 warm-up steps, cosine decay), gradients clipped at 1, on the first 250,000 characters of Shakespeare:
# the first 225,000 are the training text and the datastore, the last 25,000 are held out. The text is cut
# to that size so that exact search over the whole datastore fits the two-minute CPU budget. The model is
# not tuned further: the comparison is between one trained network with and without its memory, so both
# arms share every weight.
#
# **Choices and reports.** The held-out text is split in two halves: **validation** (the first half)
# chooses $\lambda$ (from `LAMBDAS`, steps of 0.05, $\lambda = 1$ excluded), $k$ (`KS`) and $\tau$
# (`TEMPERATURES`, $\tau = 1$ being the paper's); **test** (the second half) reports at that choice. Each
# half is read as 32 windows of 64 characters spread evenly over it (2,048 predictions, the first of each
# window with no context). Smaller datastores are random subsets of the entries (`FRACTIONS`, seeded by the
# seed, each size's subset inside the next one's); two more of the training text's parts ask about
# *nearness*: its last quarter (the text just before the held-out part) and everything but that quarter.
# Each gets its own $\lambda$ chosen on validation. The approximate index has 256 cells, 4 of them scanned per
# query. The model's loss on 2,048 predictions from the training text is recorded as well, to compare with
# its held-out loss.
FULL = LMSettings(max_chars=250_000)
QUICK = LMSettings(max_chars=60_000, steps=150, eval_every=50, eval_windows=16)
PEAK_LR = 1e-2
WARMUP = 50
CLIP_NORM = 1.0
LAMBDAS = tuple(i / 20 for i in range(21))
KS = (1, 4, 16, 64, 256, 1024)
TEMPERATURES = (0.1, 0.3, 1.0, 3.0, 10.0)
FRACTIONS = (1 / 16, 1 / 4, 1.0)
NEAR_FRACTION = 1 / 4
IVF_LISTS = 256
IVF_PROBES = 4


def train_model(settings: LMSettings, seed: int) -> nn.Module:
    model = build_model(settings, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=PEAK_LR)
    train_lm(model, optimizer, settings, seed, lr_at=gpt_schedule(PEAK_LR, WARMUP, settings.steps),
             clip_norm=CLIP_NORM)
    return model


# One held-out half read by the model: its queries (keys) `[queries, d]`, the model's logits
# `[queries, vocab]` and the targets `[queries]`.
@dataclass(frozen=True)
class Split:
    queries: torch.Tensor
    logits: torch.Tensor
    targets: torch.Tensor


def read_split(model: nn.Module, tokens: torch.Tensor, seq_len: int, windows: int) -> Split:
    inputs, targets = validation_windows(tokens, seq_len, windows)
    hidden, logits = hidden_and_logits(model, inputs)
    return Split(hidden.reshape(-1, hidden.shape[-1]), logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# The probability each position's target gets from the model and from its $k$ nearest neighbours at
# temperature $\tau$, for every $k$ in `KS` and $\tau$ in `TEMPERATURES`, from one search for the largest
# $k$ (exact search returns neighbours nearest first, so the $k$ nearest are a prefix):
# `{"lm": [queries], (k, tau): [queries]}`.
def target_probabilities(split: Split, distances: torch.Tensor, values: torch.Tensor, vocab: int) -> dict:
    probs: dict = {"lm": torch.softmax(split.logits.double(), -1).gather(1, split.targets[:, None])[:, 0]}
    for k in KS:
        for tau in TEMPERATURES:
            p_knn = knn_distribution(distances[:, :k], values[:, :k], vocab, tau)
            probs[k, tau] = p_knn.gather(1, split.targets[:, None])[:, 0]
    return probs


# Mean loss at every ($k$, $\tau$, $\lambda$): `{(k, tau): [lambdas]}`.
def loss_table(probs: dict) -> dict:
    lambdas = torch.tensor(LAMBDAS, dtype=torch.float64)
    return {key: mixture_losses(probs["lm"], p, lambdas).mean(-1) for key, p in probs.items() if key != "lm"}


# The ($k$, $\tau$, $\lambda$) of the lowest validation loss. $\lambda = 1$ (the neighbours alone) is left
# out of the choice: it gives an infinite loss wherever no neighbour carries the target, which a validation
# half with full coverage cannot rule out on the test half.
def best_lambda(losses: torch.Tensor) -> int:
    return int(losses[:-1].argmin())


def choose(table: dict) -> tuple[int, float, float]:
    (k, tau), losses = min(table.items(), key=lambda item: item[1][:-1].min().item())
    return k, tau, LAMBDAS[best_lambda(losses)]


# One seed: train, build the datastore, search both halves, choose on validation, report on test; then the
# smaller random datastores, the head and the tail, and the approximate index at the chosen setting.
def run_seed(settings: LMSettings, seed: int, windows: int, lists: int) -> dict:
    text = corpus(settings.max_chars)
    model = train_model(settings, seed)
    store = build_datastore(model, text.train, settings.seq_len)
    half = len(text.valid) // 2
    splits = {name: read_split(model, tokens, settings.seq_len, windows)
              for name, tokens in (("valid", text.valid[:half]), ("test", text.valid[half:]))}
    cut = len(store.values) - int(len(store.values) * NEAR_FRACTION)
    parts = {name: split_search(store, cut, split.queries, max(KS)) for name, split in splits.items()}
    found = {name: found_parts["whole"] for name, found_parts in parts.items()}
    probs = {name: target_probabilities(splits[name], *lookup(store, *found[name]), text.vocab_size)
             for name in splits}
    tables = {name: loss_table(probs[name]) for name in splits}
    k, tau, lam = choose(tables["valid"])
    targets = splits["test"].targets
    result = {"k": k, "tau": tau, "lam": lam, "tables": tables, "entries": len(store.values),
              "queries": len(targets), "lm_test": -probs["test"]["lm"].log().mean().item(),
              "lm_train": training_loss(model, text.train, settings.seq_len, windows),
              "paper_tau": choose({key: v for key, v in tables["valid"].items() if key[1] == 1.0}),
              "coverage": (store.values[found["test"][1][:, :k]] == targets[:, None]).any(-1).double().mean().item(),
              "gain_by_frequency": gain_by_frequency(probs["test"], (k, tau), lam, targets, text.train)}
    result["fractions"] = datastore_sizes(store, splits, (k, tau), text.vocab_size, seed)
    result["fractions"][1.0] = (lam, tables["test"][k, tau][LAMBDAS.index(lam)].item())
    result["nearness"] = {part: arm(store, splits, {name: tuple(t[:, :k] for t in parts[name][part])
                                                    for name in splits}, tau, text.vocab_size)
                          for part in ("head", "tail")}
    result["sizes"] = {"head": cut, "tail": len(store.values) - cut}
    result["approximate"] = approximate_search(store, splits["test"], found["test"], (k, tau, lam),
                                               lists, text.vocab_size)
    return result


# The model's mean loss (nats) on `windows` windows of its training text.
def training_loss(model: nn.Module, train: torch.Tensor, seq_len: int, windows: int) -> float:
    split = read_split(model, train, seq_len, windows)
    return F.cross_entropy(split.logits, split.targets).item()


# **One datastore arm**: the test loss of the kNN-LM whose neighbours on each half are `found[name]`
# (distances and rows of `store` `[queries, k]`), at temperature `tau`, with $\lambda$ chosen on validation.
# Returns `(lambda, test loss)`.
def arm(store: Datastore, splits: dict, found: dict, tau: float, vocab: int) -> tuple[float, float]:
    lambdas = torch.tensor(LAMBDAS, dtype=torch.float64)
    losses = {}
    for name, split in splits.items():
        p_knn = knn_distribution(*lookup(store, *found[name]), vocab, tau)
        p_lm = torch.softmax(split.logits.double(), -1)
        losses[name] = mixture_losses(p_lm.gather(1, split.targets[:, None])[:, 0],
                                      p_knn.gather(1, split.targets[:, None])[:, 0], lambdas).mean(-1)
    best = best_lambda(losses["valid"])
    return LAMBDAS[best], losses["test"][best].item()


# **Datastore size.** A random `fraction` of the entries, for each of the smaller `FRACTIONS` (the first
# rows of one random permutation drawn from `seed`, so the smaller subset lies inside the larger), searched
# exactly with $k$ and $\tau$ kept. Random rows rather than a stretch of the text, so that size is not
# confounded with *which* text is stored. Returns `{fraction: (lambda, test loss)}`.
def datastore_sizes(store: Datastore, splits: dict, setting: tuple[int, float], vocab: int, seed: int) -> dict:
    k, tau = setting
    order = torch.randperm(len(store.values), generator=torch.Generator().manual_seed(seed))
    out = {}
    for fraction in FRACTIONS[:-1]:
        rows = order[:max(k, int(len(store.values) * fraction))].sort().values
        index = exact_index(store.subset(rows))
        found = {}
        for name, split in splits.items():
            distances, local = search(index, split.queries, k)
            found[name] = (distances, rows[local])
        out[fraction] = arm(store, splits, found, tau, vocab)
    return out


# **The approximate index** against the exact one on the test half, at the chosen ($k$, $\tau$,
# $\lambda$): recall@$k$ (the share of the exact $k$ nearest, `exact` = distances and rows of the exact
# search, nearest first, that the inverted file also returns) and the test loss with its neighbours and with
# the exact ones.
def approximate_search(store: Datastore, split: Split, exact: tuple[torch.Tensor, torch.Tensor],
                       setting: tuple[int, float, float], lists: int, vocab: int) -> dict:
    k, tau, lam = setting
    index = approximate_index(store, lists, IVF_PROBES)
    distances, rows = search(index, split.queries, k)
    exact_distances, exact_rows = exact[0][:, :k], exact[1][:, :k]
    recall = (rows[:, :, None] == exact_rows[:, None, :]).any(-1).double().mean().item()
    logits = split.logits.double()
    return {"recall": recall,
            "test_loss": knn_lm_loss(logits, knn_distribution(*lookup(store, distances, rows), vocab, tau),
                                     split.targets, lam),
            "exact_loss": knn_lm_loss(logits, knn_distribution(*lookup(store, exact_distances, exact_rows), vocab,
                                                               tau), split.targets, lam)}


# **Where it helps.** The test positions grouped by how common their target character is in the training
# text (rare: under 1% of characters; middle: 1% to 5%; common: 5% or more), with the mean gain in nats
# (the model's loss minus the kNN-LM's) in each group and the group's share of positions.
FREQUENCY_EDGES = (0.01, 0.05)


def gain_by_frequency(probs: dict, key: tuple, lam: float, targets: torch.Tensor, train: torch.Tensor) -> dict:
    frequency = torch.bincount(train, minlength=int(targets.max()) + 1).double() / len(train)
    bucket = torch.bucketize(frequency[targets], torch.tensor(FREQUENCY_EDGES, dtype=torch.float64))
    gain = (mixture_losses(probs["lm"], probs[key], torch.tensor([0.0, lam], dtype=torch.float64))
            * torch.tensor([[1.0], [-1.0]], dtype=torch.float64)).sum(0)  # [queries]
    return {name: {"gain": gain[bucket == i].mean().item(), "share": (bucket == i).double().mean().item()}
            for i, name in enumerate(("rare", "middle", "common")) if (bucket == i).any()}


def experiment(config: RunConfig) -> Outcome:
    faiss.omp_set_num_threads(1)
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + 3))
    windows, lists = config.choose(32, 8), config.choose(IVF_LISTS, 32)
    runs = {seed: run_seed(settings, seed, windows, lists) for seed in seeds}
    metrics = _metrics(runs, settings, seeds)
    return Outcome(_headline(metrics), metrics, {"": _figure(metrics)})


def _bpc(nats: float) -> float:
    return nats / math.log(2)


def _metrics(runs: dict, settings: LMSettings, seeds: list[int]) -> dict:
    def at_choice(run: dict, name: str) -> float:
        return run["tables"][name][run["k"], run["tau"]][LAMBDAS.index(run["lam"])].item()

    lm = {s: runs[s]["lm_test"] for s in seeds}
    knn = {s: at_choice(runs[s], "test") for s in seeds}
    metrics: dict = {
        "seeds": seeds, "steps": settings.steps, "max_chars": settings.max_chars,
        "entries": runs[seeds[0]]["entries"], "queries_per_split": runs[seeds[0]]["queries"],
        "lambdas": list(LAMBDAS), "ks": list(KS), "temperatures": list(TEMPERATURES), "fractions": list(FRACTIONS),
        "lm_test_loss": over_seeds(lm), "knn_lm_test_loss": over_seeds(knn),
        "lm_train_loss": over_seeds({s: runs[s]["lm_train"] for s in seeds}),
        "gain_nats": over_seeds({s: lm[s] - knn[s] for s in seeds}),
        "lm_test_ppl": over_seeds({s: math.exp(v) for s, v in lm.items()}),
        "knn_lm_test_ppl": over_seeds({s: math.exp(v) for s, v in knn.items()}),
        "lm_test_bpc": over_seeds({s: _bpc(v) for s, v in lm.items()}),
        "knn_lm_test_bpc": over_seeds({s: _bpc(v) for s, v in knn.items()}),
        "seeds_improved": sum(knn[s] < lm[s] for s in seeds),
        "chosen": {str(s): {"k": runs[s]["k"], "tau": runs[s]["tau"], "lam": runs[s]["lam"]} for s in seeds},
        "coverage": over_seeds({s: runs[s]["coverage"] for s in seeds}),
    }
    metrics.update(_paper_tau_metrics(runs, seeds, lm))
    metrics["curves"] = {str(s): {name: [_finite(v) for v in runs[s]["tables"][name][runs[s]["k"], runs[s]["tau"]]]
                                  for name in ("valid", "test")} for s in seeds}
    metrics["by_k"] = _by_k(runs, seeds)
    metrics["by_fraction"] = {f"{f:g}": {"test_loss": over_seeds({s: runs[s]["fractions"][f][1] for s in seeds}),
                                         "lam": {str(s): runs[s]["fractions"][f][0] for s in seeds}}
                              for f in FRACTIONS}
    metrics["sizes"] = [max(runs[seeds[0]]["k"], int(metrics["entries"] * f)) for f in FRACTIONS]
    metrics["nearness"] = {part: {"entries": runs[seeds[0]]["sizes"][part],
                                  "test_loss": over_seeds({s: runs[s]["nearness"][part][1] for s in seeds}),
                                  "lam": {str(s): runs[s]["nearness"][part][0] for s in seeds}}
                           for part in ("head", "tail")}
    metrics["approximate"] = {"lists": IVF_LISTS, "probes": IVF_PROBES,
                              "recall": over_seeds({s: runs[s]["approximate"]["recall"] for s in seeds}),
                              "test_loss": over_seeds({s: runs[s]["approximate"]["test_loss"] for s in seeds}),
                              "loss_increase": over_seeds({s: runs[s]["approximate"]["test_loss"]
                                                           - runs[s]["approximate"]["exact_loss"] for s in seeds})}
    metrics["gain_by_frequency"] = {name: {"gain": over_seeds({s: runs[s]["gain_by_frequency"][name]["gain"]
                                                               for s in seeds}),
                                           "share": round(runs[seeds[0]]["gain_by_frequency"][name]["share"], 4)}
                                    for name in runs[seeds[0]]["gain_by_frequency"]}
    return metrics


# The setting of the paper, $\tau = 1$: $k$ and $\lambda$ chosen on validation among $\tau = 1$ only.
def _paper_tau_metrics(runs: dict, seeds: list[int], lm: dict) -> dict:
    test = {}
    for s in seeds:
        k, _, lam = runs[s]["paper_tau"]
        test[s] = runs[s]["tables"]["test"][k, 1.0][LAMBDAS.index(lam)].item()
    return {"tau1_test_loss": over_seeds(test), "tau1_gain_nats": over_seeds({s: lm[s] - test[s] for s in seeds}),
            "tau1_chosen": {str(s): {"k": runs[s]["paper_tau"][0], "lam": runs[s]["paper_tau"][2]} for s in seeds}}


# Test loss for each $k$ at the chosen $\tau$, $\lambda$ re-chosen on validation for each $k$.
def _by_k(runs: dict, seeds: list[int]) -> dict:
    out = {}
    for k in KS:
        test = {}
        for s in seeds:
            key = (k, runs[s]["tau"])
            test[s] = runs[s]["tables"]["test"][key][best_lambda(runs[s]["tables"]["valid"][key])].item()
        out[str(k)] = over_seeds(test)
    return out


def _finite(value: torch.Tensor) -> float | None:
    return round(value.item(), 4) if math.isfinite(value.item()) else None


def _headline(metrics: dict) -> str:
    lm, knn, gain = metrics["lm_test_ppl"], metrics["knn_lm_test_ppl"], metrics["gain_nats"]
    return (f"Test perplexity per character, {len(metrics['seeds'])} seeds: model {lm['mean']:.3f} "
            f"({lm['min']:.3f} to {lm['max']:.3f}), kNN-LM {knn['mean']:.3f} ({knn['min']:.3f} to {knn['max']:.3f}) "
            f"with lambda, k and tau chosen on validation; gain {gain['mean']:.4f} nats "
            f"({_bpc(gain['mean']):.4f} bits) per character, lower on {metrics['seeds_improved']} of "
            f"{len(metrics['seeds'])} seeds.")


def _figure(metrics: dict) -> Figure:
    fig, (ax_lam, ax_size, ax_k) = plt.subplots(1, 3, figsize=(15, 4.6))
    for i, s in enumerate(metrics["seeds"]):
        chosen = metrics["chosen"][str(s)]
        for name, style in (("test", "-"), ("valid", ":")):
            curve = [math.exp(v) if v is not None else np.nan for v in metrics["curves"][str(s)][name]]
            ax_lam.plot(LAMBDAS, curve, style, color=f"C{i}",
                        label=f"seed {s} {name} (k {chosen['k']}, tau {chosen['tau']:g})")
        ax_lam.axvline(chosen["lam"], color=f"C{i}", linewidth=0.6, alpha=0.6)
        ax_size.plot(metrics["sizes"], [math.exp(metrics["by_fraction"][f"{f:g}"]["test_loss"]["per_seed"][str(s)])
                                        for f in FRACTIONS], "o-", color=f"C{i}", label=f"seed {s} random subsets")
        for part, marker, name in (("tail", "^", "last quarter"), ("head", "s", "all but the last quarter")):
            near = metrics["nearness"][part]
            ax_size.plot([near["entries"]], [math.exp(near["test_loss"]["per_seed"][str(s)])], marker,
                         color=f"C{i}", markerfacecolor="none", markersize=9,
                         label=f"{name} of the text" if i == 0 else None)
        ax_size.axhline(math.exp(metrics["lm_test_loss"]["per_seed"][str(s)]), color=f"C{i}", linestyle="--",
                        linewidth=0.8, label=f"seed {s} model alone")
        ax_k.plot(KS, [math.exp(metrics["by_k"][str(k)]["per_seed"][str(s)]) for k in KS], "o-", color=f"C{i}",
                  label=f"seed {s}")
    ax_lam.set(xlabel="lambda (weight of the kNN distribution)", ylabel="perplexity per character",
               ylim=(metrics["knn_lm_test_ppl"]["min"] * 0.95, metrics["lm_test_ppl"]["max"] * 1.15),
               title="Perplexity against lambda (vertical: chosen on validation)")
    ax_lam.legend(fontsize=7)
    ax_size.set(xscale="log", xlabel="datastore entries (random subsets; open markers: parts of the text)",
                ylabel="test perplexity (lambda chosen on validation)", title="Against the datastore's size")
    ax_size.legend(fontsize=7)
    ax_k.set(xscale="log", xlabel="k (neighbours)", ylabel="test perplexity (lambda chosen on validation)",
             title="Against the number of neighbours")
    ax_k.legend(fontsize=7)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
