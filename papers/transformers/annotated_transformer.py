r"""
---
title: The Annotated Transformer
summary: The training pipeline around the Transformer (batches with padding and subsequent masks, label
  smoothing, the Noam learning-rate schedule, greedy decoding), each piece tested, trained to copy
  variable-length sequences.
---

# The Annotated Transformer

[Rush, 2018. *The Annotated Transformer*](https://nlp.seas.harvard.edu/annotated-transformer/)
(updated by Huang, Subramanian, Sum, Almubarak, Biderman and Rush in 2022), a line-by-line reading of
[Vaswani et al., 2017](https://arxiv.org/abs/1706.03762) in code.

A model is not a training run. [Attention Is All You Need](attention.py) builds the Transformer itself:
attention, positional encoding, encoder and decoder layers. The Annotated Transformer's second half is
everything *around* the model that the paper describes in a few sentences of its section 5, and that
a reproduction gets wrong more often than the model:

1. [**Batches and masks.**](#batches-and-masks) Real sequences have different lengths, so a batch is
   padded to its longest member. Two boolean masks keep the model honest: the *padding mask* stops
   attention from reading padding, and the *subsequent mask* stops the decoder from reading the answer it
   is asked to predict.
2. [**Label smoothing.**](#label-smoothing) The loss is not cross-entropy to a one-hot target, but the
   KL divergence to a target that puts $1 - \varepsilon$ on the right token and spreads $\varepsilon$ over
   the others.
3. [**The Noam schedule.**](#the-noam-learning-rate-schedule) Adam's learning rate rises linearly during
   a warm-up, then decays as the inverse square root of the step.
4. [**Greedy decoding.**](#greedy-decoding) At test time the decoder writes one token at a time and
   reads what it wrote.

The Annotated Transformer puts these in the same order: its "Training" part defines `Batch` and
`subsequent_mask` (batches and masking), the `rate` function with `LambdaLR` (optimiser and schedule), and
`LabelSmoothing`; its "A First Example" trains on a copy task with `greedy_decode`. This page writes each
piece anew, imports the model from [the first paper](attention.py) rather than writing it twice, and adds
what the original only shows with plots: a test for each piece.

## What the experiment shows

The copy task of the Annotated Transformer's "first example", made harder so that the masks matter: the
sequences have random lengths from 3 to 10, are padded, and must end with an end-of-sequence token. The model
has to copy the symbols and then stop. The test sequences come from a tenth of the sequence space that
training never draws from ([the checksum split](#test-sequences-the-model-never-trained-on)): in every run,
none of the 1,000 test sequences occurs among the sequences it trained on, checked against the run's own
training stream. Drawn without the split, 195 of 1,000 test sequences would have been training sequences
(mean over the three runs). Short sequences are the ones that repeat: a run of 83,200 draws, an eighth of
them of length 3, meets each of the 900 training sequences of that length about a dozen times, while there
are $10^{10}$ sequences of length 10.

Three seeds, 1,300 steps each, with label smoothing and the Noam schedule: greedy decoding copies 85.7% of
the held-out sequences exactly (whole sequence right, end token included), mean over the seeds (88.0%,
82.9% and 86.2%). That is short of the 95% this page aimed for, at this budget of 1,300 steps per seed
(chosen so that the three runs together stay near two minutes of CPU time). The runs had not converged:
the loss is still falling at the last step (left panel), and exact match on 200 held-out sequences,
measured every 100 steps, still rises and swings by several points from one measurement to the next, once
collapsing for a measurement before it recovers (right panel). How far longer training goes was not
measured here.

![Training loss, the Noam learning rate, and exact-match accuracy](results/annotated_transformer.png)

The loss is the KL divergence to the smoothed target, whose minimum is 0; a cross-entropy loss would level
off at the entropy of that target instead. The middle panel is the schedule the optimiser actually used,
read back from it at every step: a linear warm-up to its peak at step 200, then the $1/\sqrt{\text{step}}$
decay.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from papers.kit.checks import check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.tasks import BOS, PAD, RESERVED, copy_batch
from papers.kit.training import History, optimizer_step, train_loop
from papers.transformers.attention import Transformer, greedy_decode, subsequent_mask


# ## Batches and masks
#
# A batch of sources `[batch, src_len]` and targets `[batch, tgt_len]`, padded with `PAD`. The target
# starts with the start symbol `BOS`. For training it is cut in two, shifted by one: the decoder *reads*
# `target[:, :-1]` and must *predict* `target[:, 1:]`, so that position $t$ predicts token $t + 1$ from
# tokens $0 \dots t$ (teacher forcing).
#
# The masks follow the convention of [attention.py](attention.py#multi-head-attention): boolean, `True`
# where attention is allowed.
#
# * `source_mask` `[batch, 1, src_len]`: every query may look at every *real* source token, never at
#   padding. The middle dimension of 1 broadcasts over the queries.
# * `target_mask` `[batch, tgt_len - 1, tgt_len - 1]`: query $t$ may look at decoder input $s$ when
#   $s \le t$ (the subsequent mask) *and* $s$ is not padding.
#
# `tokens` counts the positions that enter the loss, the real (non-padding) targets (a 0-dimensional tensor,
# so that counting waits for no device); the loss is averaged over them, not over the padded rectangle.
@dataclass
class Batch:
    source: torch.Tensor  # [batch, src_len]
    source_mask: torch.Tensor  # [batch, 1, src_len]
    decoder_input: torch.Tensor  # [batch, tgt_len - 1]
    target_mask: torch.Tensor  # [batch, tgt_len - 1, tgt_len - 1]
    labels: torch.Tensor  # [batch, tgt_len - 1]
    tokens: torch.Tensor  # []


def padding_mask(tokens: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    return (tokens != pad).unsqueeze(1)  # [batch, 1, len]


def make_batch(source: torch.Tensor, target: torch.Tensor, pad: int = PAD) -> Batch:
    sizes = check_tensor("source", source, ["batch", "src_len"], dtype=torch.long)
    check_tensor("target", target, ["batch", "tgt_len"], dtype=torch.long, sizes=sizes)
    if target.shape[1] < 2:
        raise ValueError(f"target needs a start symbol and at least one token, got length {target.shape[1]}")
    decoder_input, labels = target[:, :-1], target[:, 1:]
    # [batch, 1, len] & [1, len, len] -> [batch, len, len]
    target_mask = padding_mask(decoder_input, pad) & subsequent_mask(decoder_input.shape[1], target.device)
    return Batch(source=source, source_mask=padding_mask(source, pad), decoder_input=decoder_input,
                 target_mask=target_mask, labels=labels, tokens=(labels != pad).sum())


# ## Label smoothing
#
# Cross-entropy to a one-hot target rewards ever larger logits for the right token: the loss only reaches
# zero at infinite confidence. Label smoothing (Szegedy et al., 2016; section 5.4 of the Transformer paper,
# $\varepsilon = 0.1$) replaces the one-hot target by
#
# $$q(k \mid y) = \begin{cases} 1 - \varepsilon & k = y, \\ \dfrac{\varepsilon}{V - 2} & k \ne y,
# k \ne \text{PAD}, \\ 0 & k = \text{PAD}, \end{cases}$$
#
# over a vocabulary of $V$ tokens: the padding token is never a right answer, so it gets no mass, and the
# $\varepsilon$ is shared by the $V - 2$ tokens that are neither the answer nor padding. (Without a padding
# token, $\varepsilon$ is shared by the $V - 1$ wrong tokens.) The model now does best by predicting
# exactly $q$, a distribution with finite logits. The paper notes that this hurts perplexity, "as the
# model learns to be more unsure", but improves accuracy and BLEU.
#
# `labels` `[N]` → `[N, V]`. Rows whose label is padding are all zero: they contribute nothing.
def smoothed_targets(labels: torch.Tensor, vocab: int, smoothing: float, pad: int | None = PAD,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    check_tensor("labels", labels, ["n"], dtype=torch.long)
    check_in_range("smoothing", smoothing, 0, 1, high_open=True)
    others = vocab - 1 if pad is None else vocab - 2
    if others <= 0:
        raise ValueError(f"vocabulary of {vocab} tokens is too small to smooth over")
    if pad is not None:
        check_in_range("pad", pad, 0, vocab, high_open=True)
    q = torch.full((labels.shape[0], vocab), smoothing / others, dtype=dtype, device=labels.device)
    q.scatter_(1, labels.unsqueeze(1), 1.0 - smoothing)
    if pad is not None:
        q[:, pad] = 0.0
        q.masked_fill_((labels == pad).unsqueeze(1), 0.0)
    return q


# The loss is the KL divergence from $q$ to the model's distribution $p = \mathrm{softmax}(\text{logits})$,
# summed over the vocabulary and averaged over the real tokens:
#
# $$\mathcal{L} = \frac{1}{N} \sum_{n} \mathrm{KL}(q_n \,\|\, p_n)
# = \frac{1}{N} \sum_n \sum_k q_{nk} \left(\log q_{nk} - \log p_{nk}\right).$$
#
# It equals the cross-entropy $-\sum_k q_{nk} \log p_{nk}$ minus the entropy of $q_n$, a constant that does
# not depend on the model: the same gradients, but a loss whose minimum is 0. A term with $q_{nk} = 0$ is 0,
# even where the model gives $p_{nk} = 0$ (a logit of $-\infty$, as a model may put on padding): written
# naively, it would be $0 \cdot \infty$, which is NaN. Shapes: `logits` `[..., V]`, `labels` `[...]`.
def label_smoothing_loss(logits: torch.Tensor, labels: torch.Tensor, smoothing: float,
                         pad: int | None = PAD) -> torch.Tensor:
    check_tensor("logits", logits, [*labels.shape, "vocab"])
    vocab = logits.shape[-1]
    flat_labels = labels.reshape(-1)
    log_p = F.log_softmax(logits.reshape(-1, vocab), dim=-1)  # [N, V]
    q = smoothed_targets(flat_labels, vocab, smoothing, pad, log_p.dtype)
    kl = torch.where(q > 0, torch.xlogy(q, q) - q * log_p, 0.0)  # [N, V]
    real = flat_labels.numel() if pad is None else (flat_labels != pad).sum().clamp(min=1)
    return kl.sum() / real


# ## The Noam learning-rate schedule
#
# Section 5.3 of the paper trains with Adam ($\beta_1 = 0.9$, $\beta_2 = 0.98$, $\epsilon = 10^{-9}$) and
#
# $$\text{lrate} = d_\text{model}^{-0.5} \cdot \min\left(\text{step}^{-0.5},\;
# \text{step} \cdot \text{warmup}^{-1.5}\right),$$
#
# named after Noam Shazeer. For $\text{step} < \text{warmup}$ the second term is smaller: the rate grows
# linearly from almost zero. After that the first term wins and the rate decays as $1/\sqrt{\text{step}}$.
# The two meet at $\text{step} = \text{warmup}$, where the rate peaks at
# $(d_\text{model} \cdot \text{warmup})^{-0.5}$. Why a warm-up helps is not measured on this page: Liu et
# al. (2020, RAdam) trace it to Adam's variance estimate, which rests on few gradients in the first steps,
# and Xiong et al. (2020) to the large gradients near the output of a post-norm Transformer at
# initialisation.
#
# Like the Annotated Transformer we multiply by a `factor`, a knob the formula leaves implicit. Steps count
# from 1.
def noam_rate(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")
    check_positive("d_model", d_model, integer=True)
    check_positive("warmup", warmup, integer=True)
    check_positive("factor", factor)
    return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


# PyTorch's `LambdaLR` multiplies the optimiser's base rate by a function of its own counter, which starts
# at 0 and grows by one per `scheduler.step()`. With a base rate of 1, the optimiser's learning rate for
# update $s + 1$ is `noam_rate(s + 1)`.
def noam_optimizer(model: Transformer, warmup: int,
                   factor: float) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    d_model = model.d_model
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: noam_rate(s + 1, d_model, warmup, factor))
    return optimizer, scheduler


# ## Greedy decoding
#
# [attention.py's `greedy_decode`](attention.py#greedy-decoding) writes a fixed number of tokens, always
# taking the most likely one. With variable lengths the model ends its output with an end-of-sequence
# token `EOS`; anything written after the first `EOS` is discarded. `decode_sequences` returns a list of
# token lists, one per source.
def decode_sequences(model: Transformer, source: torch.Tensor, max_len: int) -> list[list[int]]:
    check_positive("max_len", max_len, integer=True)
    model.eval()
    written = greedy_decode(model, source, max_len, BOS, padding_mask(source))  # [batch, max_len]
    sequences = []
    for row in written.tolist():
        sequences.append(row[:row.index(EOS) + 1] if EOS in row else row)
    return sequences


# ## The copy task with padding
#
# Symbols `RESERVED … RESERVED + SYMBOLS - 1` from [the kit's copy task](../kit/tasks.py); one more token,
# `EOS`, ends a target. Each sequence gets a random length between `MIN_LEN` and `MAX_LEN`; shorter ones are
# padded on the right. With a maximum length of 7, a source of length 4 and its target look like this
# (`_` is padding):
#
# ```
# source:  5 3 9 7 _ _ _
# target:  BOS 5 3 9 7 EOS _ _ _
# ```
SYMBOLS = 10
EOS = RESERVED + SYMBOLS
VOCAB = EOS + 1
MIN_LEN, MAX_LEN = 3, 10


def padded_copy_batch(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    symbols, _ = copy_batch(batch_size, MAX_LEN, SYMBOLS, generator)  # [batch, MAX_LEN]
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (batch_size, 1), generator=generator)  # [batch, 1]
    position = torch.arange(MAX_LEN + 2)  # room for BOS and EOS in the target
    source = symbols.masked_fill(position[:MAX_LEN] >= lengths, PAD)  # [batch, MAX_LEN]
    target = torch.full((batch_size, MAX_LEN + 2), PAD, dtype=torch.long)
    target[:, 0] = BOS
    target[:, 1:MAX_LEN + 1] = source
    target[position == lengths + 1] = EOS  # [batch, MAX_LEN + 2]: BOS, symbols, EOS, padding
    return source, target


# ## Test sequences the model never trained on
#
# Short sequences are few: there are only $10^3$ of length 3 and $10^4$ of length 4, and a run of 1,300
# batches of 64 draws about as many of each length. A test set drawn from the same distribution would be
# partly a memory test. So the sequence space is split in two by a checksum, like the check digit of an ISBN:
# with the symbols written as digits $d_i \in \{1, \dots, 10\}$ (0 on padding), a sequence is *held out*
# when
#
# $$\sum_{i} (i + 1)\, d_i \equiv 0 \pmod{10}.$$
#
# The first position has weight 1, so for every choice of the other symbols exactly one first symbol in ten
# makes the sum vanish: a tenth of the sequences of each length are held out. Training draws only the other
# nine tenths, and tests draw only this tenth. Every symbol still appears at every position in training; what
# the model never sees is any test sequence as a whole.
HOLD_OUT = 10


def held_out(source: torch.Tensor) -> torch.Tensor:
    check_tensor("source", source, ["batch", MAX_LEN], dtype=torch.long)
    digits = torch.where(source != PAD, source - RESERVED + 1, 0)  # [batch, MAX_LEN]
    weights = torch.arange(1, MAX_LEN + 1, device=source.device)  # [MAX_LEN]
    return (digits * weights).sum(dim=1) % HOLD_OUT == 0  # [batch]


# Padded copy pairs from one side of the split (`test=True`: the held-out tenth), drawn by rejection.
def split_copy_batch(batch_size: int, generator: torch.Generator,
                     test: bool) -> tuple[torch.Tensor, torch.Tensor]:
    check_positive("batch_size", batch_size, integer=True)
    sources, targets, count = [], [], 0
    while count < batch_size:
        source, target = padded_copy_batch(batch_size, generator)
        keep = held_out(source) == test  # [batch_size]
        sources.append(source[keep])
        targets.append(target[keep])
        count += int(keep.sum())
    return torch.cat(sources)[:batch_size], torch.cat(targets)[:batch_size]


# The control that settles it: how many rows of `source` occur, as whole sequences, among those `seen`.
def count_seen(source: torch.Tensor, seen: set[tuple[int, ...]]) -> int:
    return sum(tuple(row) in seen for row in source.tolist())


# The whole sequence must be right: every symbol, then `EOS` at the right place.
def exact_match(model: Transformer, source: torch.Tensor, target: torch.Tensor) -> float:
    decoded = decode_sequences(model, source, MAX_LEN + 1)
    expected = [[t for t in row[1:] if t != PAD] for row in target.tolist()]
    return sum(d == e for d, e in zip(decoded, expected)) / len(expected)


# ## Training
#
# The model is [attention.py's `Transformer`](attention.py#the-transformer), small: $d_\text{model} = 64$,
# 4 heads, $d_\text{ff} = 128$, 2 layers. It differs from the Annotated Transformer's model in three ways:
#
# * **Post-norm.** attention.py follows the Transformer paper, $\mathrm{LayerNorm}(x + \text{sublayer}(x))$.
#   The Annotated Transformer normalises first, $x + \text{sublayer}(\mathrm{LayerNorm}(x))$, with a final
#   LayerNorm after each stack (its `SublayerConnection`, "for code simplicity").
# * **PyTorch's default initialisation.** The Annotated Transformer re-initialises every weight matrix with
#   Glorot (Xavier) uniform; here each layer keeps PyTorch's default.
# * **No dropout.** The Annotated Transformer uses dropout 0.1.
#
# Its copy example (2022 version) also differs from this one: a model with $d_\text{model} = 512$, trained
# for 400 steps (20 epochs of 20 batches of 80) on sequences of a fixed length 10, with no padding, no end
# token and no label smoothing, and tested on a single sequence.
#
# One step: a fresh padded batch from the training side of the split, the masks, a forward pass, the
# label-smoothed loss over the real tokens, an Adam update (gradient norm clipped at 1), and a step of the
# schedule. Every `eval_every` steps, greedy decoding on 200 held-out sequences measures exact-match accuracy.
# The run keeps every training sequence it drew, for the control above.
@dataclass
class CopyTraining:
    steps: int
    batch_size: int = 64
    warmup: int = 200
    factor: float = 1.0
    smoothing: float = 0.1
    eval_every: int = 100


def train_copy(settings: CopyTraining, seed: int) -> tuple[Transformer, History, set[tuple[int, ...]]]:
    torch.manual_seed(seed)
    model = Transformer(VOCAB, VOCAB, d_model=64, heads=4, d_ff=128, layers=2)
    optimizer, scheduler = noam_optimizer(model, settings.warmup, settings.factor)
    data = torch.Generator().manual_seed(seed)
    monitor = split_copy_batch(200, torch.Generator().manual_seed(10_000 + seed), test=True)
    seen: set[tuple[int, ...]] = set()

    def step(i: int) -> dict[str, float]:
        model.train()
        source, target = split_copy_batch(settings.batch_size, data, test=False)
        seen.update(map(tuple, source.tolist()))
        batch = make_batch(source, target)
        logits = model(batch.source, batch.decoder_input, batch.source_mask, batch.target_mask)
        loss = label_smoothing_loss(logits, batch.labels, settings.smoothing)
        metrics = {"lr": optimizer.param_groups[0]["lr"],
                   "loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}
        scheduler.step()
        if (i + 1) % settings.eval_every == 0 or i + 1 == settings.steps:
            metrics["exact_match"] = exact_match(model, *monitor)
        return metrics

    return model, train_loop(settings.steps, step, log_every=settings.eval_every), seen


# One seed's run and its test: exact match on 1,000 held-out sequences; how many of them occur in the run's
# training stream (must be 0); and, for contrast, how many of 1,000 sequences drawn *without* the split do.
def run_seed(settings: CopyTraining, seed: int) -> tuple[dict[str, float], History]:
    model, history, seen = train_copy(settings, seed)
    test = split_copy_batch(1000, torch.Generator().manual_seed(20_000 + seed), test=True)
    unsplit, _ = padded_copy_batch(1000, torch.Generator().manual_seed(20_000 + seed))
    return {"exact_match": exact_match(model, *test), "test_seen_in_training": count_seen(test[0], seen),
            "unsplit_seen_in_training": count_seen(unsplit, seen), "final_loss": history.last("loss")}, history


# Three seeds, `config.seed` to `config.seed + 2`; each trains for 1,300 steps (500 in quick mode).
SEEDS = 3


def experiment(config: RunConfig) -> Outcome:
    settings = CopyTraining(steps=config.train_steps(full=1300, quick=500), warmup=config.choose(200, 100))
    runs = {config.seed + i: run_seed(settings, config.seed + i) for i in range(SEEDS)}
    results = {seed: result for seed, (result, _) in runs.items()}
    histories = {seed: history for seed, (_, history) in runs.items()}
    metrics = {
        "train_steps": settings.steps, "warmup": settings.warmup, "smoothing": settings.smoothing,
        "lengths": [MIN_LEN, MAX_LEN], "held_out_fraction": 1 / HOLD_OUT,
        **{name: over_seeds({seed: result[name] for seed, result in results.items()})
           for name in ("exact_match", "test_seen_in_training", "unsplit_seen_in_training", "final_loss")},
        "peak_learning_rate": round(max(histories[config.seed].values("lr")), 6),
    }
    match = metrics["exact_match"]
    headline = (f"Copying sequences of {MIN_LEN}-{MAX_LEN} symbols with padding: greedy decoding gets "
                f"{match['mean']:.1%} (seeds: {match['min']:.1%}-{match['max']:.1%}) of 1,000 held-out sequences, "
                f"none seen in training, exactly right.")
    return Outcome(headline, metrics, {"": _figure(histories, settings)})


def _figure(histories: dict[int, History], settings: CopyTraining) -> plt.Figure:
    fig, (ax_loss, ax_lr, ax_match) = plt.subplots(1, 3, figsize=(15, 4))
    for seed, history in histories.items():
        ax_loss.plot(history.steps("loss"), history.values("loss"), linewidth=0.6, label=f"seed {seed}")
        ax_match.plot(history.steps("exact_match"), history.values("exact_match"), marker="o", markersize=3,
                      label=f"seed {seed}")
    ax_loss.set(xlabel="training step", ylabel="KL(q || p) per token",
                title=f"Loss (label smoothing {settings.smoothing})", yscale="log")
    ax_loss.legend()
    first = histories[min(histories)]
    ax_lr.plot(first.steps("lr"), first.values("lr"))
    ax_lr.axvline(settings.warmup, color="grey", linestyle=":", label=f"warmup = {settings.warmup}")
    ax_lr.set(xlabel="training step", ylabel="learning rate", title="Noam schedule")
    ax_lr.legend()
    ax_match.set(xlabel="training step", ylabel="exact match", title="Greedy decoding, 200 held-out sequences",
                 ylim=(0, 1.02))
    ax_match.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
