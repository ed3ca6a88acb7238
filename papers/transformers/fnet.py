r"""
---
title: "FNet: Mixing Tokens with Fourier Transforms"
summary: FNet's parameter-free token mixing, the real part of a two-dimensional discrete Fourier transform,
  checked against the DFT written as matrices and labml-nn's module; on digits read as 16 patches it is not
  behind a softmax-attention encoder of the same width and depth, but an encoder with no mixing at all beats
  both, so this task does not test mixing; the mixing layer is 4 to 49 times faster than the attention
  layer from length 16 to 4096 on one CPU thread (a whole encoder block 1.45 to 13.14 times).
---

# FNet: Mixing Tokens with Fourier Transforms

[Lee-Thorp, Ainslie, Eckstein and Ontañón, 2021. *FNet: Mixing Tokens with Fourier
Transforms*](https://arxiv.org/abs/2105.03824)

A Transformer encoder block does two things: self-attention mixes information *across* positions, and the
feed-forward network transforms each position on its own. FNet asks how much of the first needs to be
learned at all. It replaces the self-attention sub-layer with a fixed, parameter-free mixing: a discrete
Fourier transform (DFT) along the hidden dimension, another along the sequence, and the real part,

$$y = \mathrm{Re}\big(\mathcal{F}_\text{seq}(\mathcal{F}_\text{hidden}(x))\big), \qquad x, y \in
\mathbb{R}^{n \times d}.$$

Every output position is a sum over every input position, with weights $e^{-2\pi i\, t s / n}$ that depend
only on the positions, not on the content. What attention would compute from the tokens (which positions to
read) is left to the feed-forward layers and the embeddings on either side of the mixing. The fast Fourier
transform computes the mixing in $O(n d \log(n d))$ operations, against attention's $O(n^2 d)$ for the
scores plus $O(n d^2)$ for its four projections, and it has no weights at all.

The paper's claims (its abstract): after pre-training on C4, FNet reaches 92% to 97% of BERT's
accuracy on GLUE (Base and Large), while training 80% faster on GPUs and 70% faster on TPUs at length 512;
on the Long Range Arena it matches the most accurate efficient Transformers and is faster than all of them
at every length on GPUs, and at the shorter lengths on TPUs. (Separately, on TPUs the paper computes the DFT
as a matrix product for lengths up to 4096, rather than with an FFT.) It also finds that a hybrid with
attention in the last two layers recovers
most of the gap; that hybrid is not built here.

## What the experiment shows

The task is a proxy, offline and small: scikit-learn's 8×8 handwritten digits, each image read as a
sequence of 16 tokens (2×2 patches in raster order), classified by an encoder of two blocks, 64 wide. The
arms differ only in the mixing sub-layer: FNet's Fourier transform; the project's
[multi-head attention](attention.py) (4 heads) in the same post-norm [encoder layer](attention.py); and, as
a control, no mixing at all (the sub-layer returns zeros, so positions meet only in the final mean). Each
arm chose its learning rate for Adam from the same grid (0.001, 0.003, 0.01) by validation accuracy on
seed 0 after the full 800 steps (Fourier mixing chose 0.003, attention chose 0.001,
no mixing chose 0.01; validation accuracies by rate are in the results), then trained two more seeds at that rate; the
seed-0 run of the chosen rate is the sweep's own run.

**Accuracy.** Test accuracy (449 test digits, one digit is 0.2 points) is 97.5% with Fourier mixing
(97.1% to 98.0%) and 96.2% with attention (95.8% to 96.7%): the difference (attention minus FNet) is
-1.3 points on average (-2.2 to -0.9 points by seed). FNet is not
behind attention here, as the paper's claim of close accuracy needs. Attention's validation accuracy was
tied at 0.001 and 0.003 on seed 0 and the tie went to the smaller rate, so the size of the gap (1.3 points)
depends partly on that choice; its sign is what the comparison supports. The control shows how little that
says about mixing: with no mixing at all the encoder reaches 98.4% (98.2% to 98.7%), ahead of
both. The gain from Fourier mixing over the control is -0.8 points on average (-1.6 to
-0.2 by seed), from attention -2.1 (-2.5 to -1.6): on this task mixing adds
nothing. Each patch says enough about the digit that averaging what the feed-forward layers make of each
position suffices (the control's rate, 0.01, is the top of the grid, so it might do better still). So the
task checks only that a fixed mixing is no worse than attention here, not what attention's
content-dependent reading is worth. All arms fit their training set exactly (100% training
accuracy on every seed); FNet's encoder (and the control's) has about half the parameters (35,786 against
69,066). Attention's validation curves (left panel) flatten late, and one seed's is still rising at step
800, so a longer run might narrow the gap; the task is also far from the paper's (one fixed length, no pre-training).

**Speed.** The right panel times one mixing layer ($d = 64$, a batch of one sequence) at one CPU thread,
as the median of five repeats of the thread's CPU time. The attention layer is the project's
`MultiHeadAttention` on PyTorch's fused kernel, its projections included (they are part of what FNet
removes). Fourier mixing is faster at every length measured, from 16 to 4096: the forward pass is 3.86
times faster at $n = 16$ and 48.7 times at $n = 4096$; forward and backward together, 4.15 and 48.32
times. **So there is no crossover on this CPU between 16 and 4096.** These are the mixing sub-layer's
times. A whole encoder block (forward, $d_\text{ff} = 256$, median of seven) gains less, since the
feed-forward layer and the norms are the same in both: 1.45 times faster at $n = 16$, 2.4 times at 512
and 13.14 times at 4096. The machine was loaded while timing (load average 14.7 on its two cores): the ratios at
the short lengths, where each call takes a fraction of a millisecond, vary by about ±50% from run to run,
while the trend with length does not (the whole-block ratio at 4096 also varies: about 7 in a separate
check). At the short lengths the attention layer's time is not yet
quadratic (it grows by a factor 1.3 from 16 to 64); what it then consists of, its four $d \times d$
projections (about $4 n d^2$ multiply-adds), its scores or the fixed cost of its calls, is not measured
separately, and neither are lengths below 16. The paper's speed comparisons are of whole models (against
BERT on GLUE, and against *efficient* Transformers on the Long Range Arena), not of one layer against full
attention, so these timings do not test them. The time slopes on the log-log plot, fitted over the longest
five lengths, are 0.95 for Fourier mixing (forward) against 1.58 for attention: attention's
grows faster, but below the $n^2$ of its score count, as a linear term (projections, fixed costs) still
visible at 256 to 1024 would make it; that split is not measured.

The full run (3 arms × 5 runs of 800 steps, and the timings) took 150 s of CPU at one thread.

![Validation accuracy of the three encoders, and time of one mixing layer against length](results/fnet.png)

**Where this differs from the paper.** No pre-training and no GLUE: one small supervised task, a proxy for
"the encoder can still classify without attention". Mean pooling over positions instead of a `[CLS]` token,
a linear embedding of pixel patches instead of word pieces, ReLU instead of GELU in the feed-forward network,
and no dropout, in all arms alike. The Fourier transform is `torch.fft.fft2` on every length; the paper
uses a DFT matrix product on TPUs for lengths up to 4096.
"""
from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import torch
from labml import monit
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Digits, Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier
from papers.transformers.attention import EncoderLayer, MultiHeadAttention, use_fused_attention


# ## Fourier mixing
#
# $x$ is `[batch, seq, d_model]`. The discrete Fourier transform along the hidden dimension, then along the
# sequence, keeping the real part:
#
# $$y = \mathrm{Re}\big(\mathcal{F}_\text{seq}(\mathcal{F}_\text{hidden}(x))\big), \qquad
# y_{t, k} = \mathrm{Re} \sum_{s=0}^{n-1} \sum_{j=0}^{d-1} x_{s, j}\, e^{-2\pi i\, t s / n}\, e^{-2\pi i\, k j / d}.$$
#
# The two transforms commute, so this is one two-dimensional DFT of each example, `torch.fft.fft2` over the
# last two dimensions; the fast Fourier transform computes it in $O(n d \log(n d))$ operations.
def fourier_mix(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fft2(x, dim=(-2, -1)).real  # [batch, seq, d_model]


# As a module, Fourier mixing takes the call of the project's attention, `mixing(query, key, value, mask)`,
# so it can replace `MultiHeadAttention` in a block. It has no parameters.
#
# **No mask.** Each output position is a sum over *every* input position, with weights
# $e^{-2\pi i\, t s / n}$ that are fixed, not computed from the input, so there is nothing to set to zero
# for a position that must not be seen. FNet is an encoder (BERT's place, not GPT's): a causal mask, which
# a decoder-only language model like [the character transformer](../kit/char_transformer.py) passes to
# every block, cannot be honoured, and neither can a padding mask (padding tokens are mixed in like any
# other). A mask is refused, rather than silently ignored: ignoring a
# causal mask would let every position read the character it is asked to predict. For the same reason
# query, key and value must be one tensor: there is no attention from one sequence to another.
class FourierMixing(nn.Module):
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("query", query, ["batch", "seq", "d_model"])
        if key is not query or value is not query:
            raise ValueError("FourierMixing mixes one sequence with itself: query, key and value must be the "
                             "same tensor (self-attention's call, mixing(h, h, h, mask))")
        if mask is not None:
            raise ValueError(f"FourierMixing cannot take a mask (got one of shape {tuple(mask.shape)}): every "
                             "output is a fixed sum over all positions, so a causal or padding mask cannot "
                             "be honoured; FNet is an encoder, call it with mask=None")
        return fourier_mix(query)


# ## A control: no mixing at all
#
# To see how much the mixing contributes on the task below, the control arm replaces the sub-layer with
# one that returns zeros: the block becomes $\mathrm{LN}(x)$ followed by the feed-forward sub-layer, so each
# position is transformed on its own and the only thing that combines positions is the mean pooling at the
# end.
class NoMixing(nn.Module):
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,  # pylint: disable=unused-argument
                mask: torch.Tensor | None = None) -> torch.Tensor:  # pylint: disable=unused-argument
        return torch.zeros_like(query)  # [batch, seq, d_model]


# ## The encoder block
#
# The paper keeps BERT's encoder block and replaces only its self-attention sub-layer: Fourier mixing, add
# and normalise, feed-forward, add and normalise (its Figure 1), the *post-norm* layout of the original
# Transformer:
#
# $$h = \mathrm{LN}\big(x + \mathrm{Re}(\mathcal{F}(x))\big), \qquad
# \mathrm{out} = \mathrm{LN}\big(h + \mathrm{FFN}(h)\big).$$
#
# So the FNet block is the project's [encoder layer](attention.py) (its `FeedForward`, `Residual` and
# layer norms) with the attention swapped for `FourierMixing`; the baseline below is that encoder layer
# unchanged, with the same sizes. FNet's block has $4 d^2 + 4 d$ fewer parameters (the four projections
# $W^Q, W^K, W^V, W^O$ and their biases). The paper's FFN uses GELU; the project's uses ReLU, in every arm.
class FNetEncoderLayer(EncoderLayer):
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, mixing: type[nn.Module] = FourierMixing):
        super().__init__(d_model, 1, d_ff, dropout)
        self.self_attention = mixing()


# ## A classifier over a sequence of tokens
#
# The task is scikit-learn's 8×8 digits, each image cut into 16 patches of 2×2 pixels read in raster order:
# a sequence of $n = 16$ tokens of 4 numbers, classified into 10 digits. It is offline and small enough for
# three seeds of every arm in about two minutes. Whether the patches must be combined across the sequence
# is measured, not assumed: the control arm without mixing shows that on this task they mostly need not.
# (The paper's tasks are GLUE's, after
# pre-training on C4, and the Long Range Arena; see below for what this proxy leaves out.)
#
# `[batch, 1, 8, 8]` images → `[batch, 16, 4]` tokens → linear embedding to $d$ plus learned positions, layer
# norm (as BERT's and FNet's embedding layers) → `layers` encoder blocks → mean over positions → logits
# `[batch, 10]`. The paper reads a `[CLS]` token instead of the mean; mean pooling needs no extra token.
PATCH = 2


def image_patches(images: torch.Tensor, patch: int = PATCH) -> torch.Tensor:
    batch, _, height, width = images.shape
    tokens = images.reshape(batch, height // patch, patch, width // patch, patch)
    return tokens.permute(0, 1, 3, 2, 4).reshape(batch, (height // patch) * (width // patch), patch * patch)


MIXINGS = ("fourier", "attention", "none")
COMPARED = ("fourier", "attention")


class DigitEncoder(nn.Module):
    def __init__(self, mixing: str, d_model: int = 64, d_ff: int = 128, layers: int = 2, heads: int = 4,
                 classes: int = 10):
        super().__init__()
        if mixing not in MIXINGS:
            raise ValueError(f"mixing must be one of {MIXINGS}, got {mixing!r}")
        for name, size in (("d_model", d_model), ("d_ff", d_ff), ("layers", layers), ("classes", classes)):
            check_positive(name, size, integer=True)
        self.mixing = mixing
        self.embedding = nn.Linear(PATCH * PATCH, d_model)
        self.positions = nn.Parameter(torch.randn(64 // PATCH ** 2, d_model) * 0.02)
        self.embedding_norm = nn.LayerNorm(d_model)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, heads, d_ff) if mixing == "attention"
            else FNetEncoderLayer(d_model, d_ff, mixing=FourierMixing if mixing == "fourier" else NoMixing)
            for _ in range(layers))
        self.readout = nn.Linear(d_model, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_tensor("images", images, ["batch", 1, 8, 8], dtype=self.readout.weight.dtype)
        h = self.embedding_norm(self.embedding(image_patches(images)) + self.positions)  # [batch, 16, d_model]
        for layer in self.layers:
            h = layer(h)
        return self.readout(h.mean(dim=1))  # [batch, classes]


# ## Training, with the same care for every arm
#
# Adam with a constant rate, batches of 64, the same initial weights seed by seed (within an arm) and the
# same batches for every arm. Each arm picks its learning rate from the same grid by validation accuracy on
# seed 0 after the full number of steps, then runs two more seeds at that rate; the test split is used only
# for the final numbers.
LEARNING_RATES = (1e-3, 3e-3, 1e-2)


def train_encoder(mixing: str, learning_rate: float, steps: int, seed: int, train: Split,
                  valid: Split) -> tuple[DigitEncoder, History]:
    torch.manual_seed(seed)
    model = DigitEncoder(mixing)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    settings = ClassifierTraining(steps=steps, batch_size=64, eval_every=max(steps // 10, 1))
    history = train_classifier(model, optimizer, train, valid, settings, torch.Generator().manual_seed(seed))
    return model, history


def train_and_score(mixing: str, learning_rate: float, steps: int, seed: int, data: Digits) -> dict:
    model, history = train_encoder(mixing, learning_rate, steps, seed, data.train, data.valid)
    return {"valid_accuracy": history.last("eval_accuracy"), "test_accuracy": evaluate(model, data.test)[1],
            "train_accuracy": evaluate(model, data.train)[1], "history": history}


# The sweep runs every rate of the grid on the first seed for the full number of steps; the rate with the best
# final validation accuracy is kept, and its sweep run is that seed's run (the test split is not looked at).
def pick_rate(mixing: str, steps: int, seed: int, data: Digits) -> tuple[float, dict[str, float], dict]:
    sweep = {rate: train_and_score(mixing, rate, steps, seed, data) for rate in LEARNING_RATES}
    best = max(LEARNING_RATES, key=lambda rate: sweep[rate]["valid_accuracy"])  # ties go to the smaller rate
    return best, {f"{rate:g}": run["valid_accuracy"] for rate, run in sweep.items()}, sweep[best]


# ## Speed against length
#
# One mixing layer at $d = 64$ (4 heads for attention), a batch of one sequence of length $n$, at one
# thread. Attention is the project's `MultiHeadAttention` on PyTorch's fused kernel (its fastest path here),
# projections included, since they are what FNet removes; its cost is $O(n d^2)$ for the projections plus
# $O(n^2 d)$ for the scores. Fourier mixing is $O(n d \log(n d))$. We time the forward pass, and a training
# step's forward and backward (to the input: the mixing has no weights to update), as the median of several
# repeats after one warm-up call. The clock is the thread's CPU time, not the wall clock: with one thread
# the work runs on the calling thread, and CPU time is less inflated than wall time when other processes
# share the machine.
TIMED_LENGTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
TIMED_WIDTH = 64


def median_seconds(run: callable, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.thread_time()
        run()
        times.append(time.thread_time() - started)
    return sorted(times)[len(times) // 2]


def mixing_layer(mixing: str) -> nn.Module:
    if mixing == "fourier":
        return FourierMixing()
    attention = MultiHeadAttention(TIMED_WIDTH, 4)
    attention.fused = True
    return attention


def time_layer(layer: nn.Module, length: int, repeats: int) -> tuple[float, float]:
    x = torch.randn(1, length, TIMED_WIDTH, requires_grad=True)

    def forward() -> None:
        with torch.no_grad():
            layer(x, x, x, None)

    def train_step() -> None:
        layer(x, x, x, None).sum().backward()

    return median_seconds(forward, repeats), median_seconds(train_step, repeats)


def time_mixings(lengths: tuple[int, ...], repeats: int) -> dict[str, dict[str, list[float]]]:
    timings: dict[str, dict[str, list[float]]] = {m: {"forward": [], "train": []} for m in COMPARED}
    for length in monit.iterate("timing", lengths):
        for mixing in COMPARED:
            forward, train = time_layer(mixing_layer(mixing), length, repeats)
            timings[mixing]["forward"].append(forward)
            timings[mixing]["train"].append(train)
    return timings


# The mixing layer alone leaves out what FNet does not change: the feed-forward sub-layer and the norms. So
# we also time the whole encoder block (forward, no gradients) at a few lengths, at $d = 64$ and the usual
# $d_\text{ff} = 4d = 256$.
BLOCK_LENGTHS = (16, 512, 4096)


def time_blocks(lengths: tuple[int, ...], repeats: int) -> dict[str, list[float]]:
    blocks = {"fourier": FNetEncoderLayer(TIMED_WIDTH, 4 * TIMED_WIDTH),
              "attention": EncoderLayer(TIMED_WIDTH, 4, 4 * TIMED_WIDTH)}
    use_fused_attention(blocks["attention"])
    timings: dict[str, list[float]] = {m: [] for m in COMPARED}
    # pylint: disable=cell-var-from-loop  # the lambda is called inside its own iteration
    for length in monit.iterate("timing blocks", lengths):
        x = torch.randn(1, length, TIMED_WIDTH)
        for mixing, block in blocks.items():
            timings[mixing].append(median_seconds(lambda b=block: _forward(b, x), repeats))
    return timings


def _forward(block: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        block(x)


# ## The experiment
def experiment(config: RunConfig) -> Outcome:
    data = digits()
    steps = config.train_steps(full=800, quick=40)
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    rates, sweeps, runs = {}, {}, {}
    for mixing in MIXINGS:
        rates[mixing], sweeps[mixing], first = pick_rate(mixing, steps, config.seed, data)
        runs[mixing] = {config.seed: first}
        for seed in seeds[1:]:
            runs[mixing][seed] = train_and_score(mixing, rates[mixing], steps, seed, data)
    lengths = config.choose(TIMED_LENGTHS, TIMED_LENGTHS[:5])
    timings = time_mixings(lengths, config.choose(5, 3))
    block_lengths = config.choose(BLOCK_LENGTHS, BLOCK_LENGTHS[:2])
    blocks = time_blocks(block_lengths, config.choose(7, 3))
    metrics = _metrics(runs, rates, sweeps, timings, lengths, steps)
    metrics.update(_block_metrics(blocks, block_lengths))
    return Outcome(_headline(metrics), metrics, {"": _figure(runs, timings, lengths)})


def _block_metrics(blocks: dict[str, list[float]], lengths: tuple[int, ...]) -> dict:
    metrics: dict = {"block_lengths": list(lengths)}
    for mixing in COMPARED:
        metrics[f"block_forward_ms_{mixing}"] = [round(1000 * t, 4) for t in blocks[mixing]]
    metrics["block_forward_speedup"] = [round(a / f, 2) for a, f in zip(blocks["attention"], blocks["fourier"])]
    return metrics


def _metrics(runs: dict, rates: dict, sweeps: dict, timings: dict, lengths: tuple[int, ...], steps: int) -> dict:
    metrics: dict = {"train_steps": steps, "sweep_steps": steps, "learning_rates": {m: rates[m] for m in MIXINGS},
                     "validation_accuracy_by_rate_seed0": sweeps,
                     "parameters": {m: sum(p.numel() for p in DigitEncoder(m).parameters()) for m in MIXINGS}}
    for mixing in MIXINGS:
        for key in ("test_accuracy", "train_accuracy"):
            metrics[f"{key}_{mixing}"] = over_seeds({seed: run[key] for seed, run in runs[mixing].items()})
    seeds = runs["fourier"].keys()
    metrics["accuracy_gap"] = over_seeds({seed: runs["attention"][seed]["test_accuracy"]
                                          - runs["fourier"][seed]["test_accuracy"] for seed in seeds})
    for mixing in COMPARED:
        metrics[f"{mixing}_gain_over_none"] = over_seeds({seed: runs[mixing][seed]["test_accuracy"]
                                                          - runs["none"][seed]["test_accuracy"] for seed in seeds})
    metrics["timed_lengths"] = list(lengths)
    for kind in ("forward", "train"):
        for mixing in COMPARED:
            metrics[f"{kind}_ms_{mixing}"] = [round(1000 * t, 4) for t in timings[mixing][kind]]
        metrics[f"{kind}_speedup"] = [round(a / f, 2) for a, f in zip(timings["attention"][kind],
                                                                      timings["fourier"][kind])]
        metrics[f"{kind}_slope_{'fourier'}"] = _slope(lengths, timings["fourier"][kind])
        metrics[f"{kind}_slope_attention"] = _slope(lengths, timings["attention"][kind])
    return metrics


# The log-log slope of time against length over the longest half of the lengths: 1 for linear, 2 for
# quadratic growth.
def _slope(lengths: tuple[int, ...], seconds: list[float]) -> float:
    half = len(lengths) // 2
    x = torch.tensor([math.log(n) for n in lengths[half:]], dtype=torch.float64)
    y = torch.tensor([math.log(t) for t in seconds[half:]], dtype=torch.float64)
    x = x - x.mean()
    return round(float((x * (y - y.mean())).sum() / (x * x).sum()), 2)


def _headline(metrics: dict) -> str:
    fourier, attention = metrics["test_accuracy_fourier"], metrics["test_accuracy_attention"]
    return (f"Digits as 16 patches, mean of {len(fourier['per_seed'])} seeds: test accuracy "
            f"{fourier['mean']:.1%} with Fourier mixing, {attention['mean']:.1%} with attention, "
            f"{metrics['test_accuracy_none']['mean']:.1%} with no mixing; at length "
            f"{metrics['timed_lengths'][-1]} Fourier mixing is {metrics['forward_speedup'][-1]:.0f}× faster "
            f"forward and {metrics['train_speedup'][-1]:.0f}× for forward and backward.")


def _figure(runs: dict, timings: dict, lengths: tuple[int, ...]) -> plt.Figure:
    fig, (ax_curve, ax_time) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = {"fourier": "Fourier mixing (FNet)", "attention": "softmax attention", "none": "no mixing (control)"}
    for i, mixing in enumerate(MIXINGS):
        for j, (seed, run) in enumerate(runs[mixing].items()):  # pylint: disable=unused-variable
            history = run["history"]
            ax_curve.plot(history.steps("eval_accuracy"), history.values("eval_accuracy"), color=f"C{i}",
                          alpha=0.9, label=labels[mixing] if j == 0 else None, marker=".",
                          linestyle=("-", "--", ":")[j % 3])
    ax_curve.set(xlabel="training step", ylabel="validation accuracy", ylim=(0.8, 1.0),
                 title="Digits as 16 patches (line style: seed)")
    ax_curve.legend()
    for i, mixing in enumerate(COMPARED):
        for kind, style in (("forward", "-"), ("train", "--")):
            ax_time.plot(lengths, [1000 * t for t in timings[mixing][kind]], color=f"C{i}", linestyle=style,
                         marker="o", label=f"{labels[mixing]}, {'forward' if kind == 'forward' else 'fwd + bwd'}")
    ax_time.set(xscale="log", yscale="log", xlabel="sequence length $n$", ylabel="median time (ms), 1 thread",
                title=f"One mixing layer, $d$ = {TIMED_WIDTH}, batch 1")
    ax_time.set_xscale("log", base=2)
    ax_time.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
