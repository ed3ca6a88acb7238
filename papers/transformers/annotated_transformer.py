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
has to copy the symbols and then stop. After 2,000 steps with label smoothing and the Noam schedule, greedy
decoding copies about 97% of 1,000 fresh sequences exactly (whole sequence right, end token included):

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

from papers.kit.experiment import Outcome, RunConfig, run_paper
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
# `tokens` counts the positions that enter the loss, the real (non-padding) targets; the loss is averaged
# over them, not over the padded rectangle.
@dataclass
class Batch:
    source: torch.Tensor  # [batch, src_len]
    source_mask: torch.Tensor  # [batch, 1, src_len]
    decoder_input: torch.Tensor  # [batch, tgt_len - 1]
    target_mask: torch.Tensor  # [batch, tgt_len - 1, tgt_len - 1]
    labels: torch.Tensor  # [batch, tgt_len - 1]
    tokens: int


def padding_mask(tokens: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    return (tokens != pad).unsqueeze(1)  # [batch, 1, len]


def make_batch(source: torch.Tensor, target: torch.Tensor, pad: int = PAD) -> Batch:
    for name, tokens in (("source", source), ("target", target)):
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"{name} must be int64 [batch, len], got {tokens.dtype} {tuple(tokens.shape)}")
    if source.shape[0] != target.shape[0]:
        raise ValueError(f"source and target batch sizes differ: {source.shape[0]} and {target.shape[0]}")
    if target.shape[1] < 2:
        raise ValueError(f"target needs a start symbol and at least one token, got length {target.shape[1]}")
    decoder_input, labels = target[:, :-1], target[:, 1:]
    # [batch, 1, len] & [1, len, len] -> [batch, len, len]
    target_mask = padding_mask(decoder_input, pad) & subsequent_mask(decoder_input.shape[1])
    return Batch(source=source, source_mask=padding_mask(source, pad), decoder_input=decoder_input,
                 target_mask=target_mask, labels=labels, tokens=int((labels != pad).sum()))


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
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    others = vocab - 1 if pad is None else vocab - 2
    if others <= 0:
        raise ValueError(f"vocabulary of {vocab} tokens is too small to smooth over")
    q = torch.full((labels.shape[0], vocab), smoothing / others, dtype=dtype)
    q.scatter_(1, labels.unsqueeze(1), 1.0 - smoothing)
    if pad is not None:
        q[:, pad] = 0.0
        q[labels == pad] = 0.0
    return q


# The loss is the KL divergence from $q$ to the model's distribution $p = \mathrm{softmax}(\text{logits})$,
# summed over the vocabulary and averaged over the real tokens:
#
# $$\mathcal{L} = \frac{1}{N} \sum_{n} \mathrm{KL}(q_n \,\|\, p_n)
# = \frac{1}{N} \sum_n \sum_k q_{nk} \left(\log q_{nk} - \log p_{nk}\right).$$
#
# It equals the cross-entropy $-\sum_k q_{nk} \log p_{nk}$ minus the entropy of $q_n$, a constant that does
# not depend on the model: the same gradients, but a loss whose minimum is 0. `F.kl_div` takes
# log-probabilities and treats $0 \log 0$ as 0. Shapes: `logits` `[..., V]`, `labels` `[...]`.
def label_smoothing_loss(logits: torch.Tensor, labels: torch.Tensor, smoothing: float,
                         pad: int | None = PAD) -> torch.Tensor:
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    vocab = logits.shape[-1]
    flat_labels = labels.reshape(-1)
    log_p = F.log_softmax(logits.reshape(-1, vocab), dim=-1)  # [N, V]
    q = smoothed_targets(flat_labels, vocab, smoothing, pad, log_p.dtype)
    real = flat_labels.numel() if pad is None else int((flat_labels != pad).sum())
    return F.kl_div(log_p, q, reduction="sum") / max(real, 1)


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
# $(d_\text{model} \cdot \text{warmup})^{-0.5}$. The warm-up matters for the post-norm Transformer:
# Adam's early updates, made with poor estimates of the gradient's variance, would otherwise be large.
#
# Like the Annotated Transformer we multiply by a `factor`, a knob the formula leaves implicit. Steps count
# from 1.
def noam_rate(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")
    if d_model <= 0 or warmup <= 0:
        raise ValueError(f"d_model and warmup must be positive, got d_model={d_model}, warmup={warmup}")
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


# The whole sequence must be right: every symbol, then `EOS` at the right place.
def exact_match(model: Transformer, source: torch.Tensor, target: torch.Tensor) -> float:
    decoded = decode_sequences(model, source, MAX_LEN + 1)
    expected = [[t for t in row[1:] if t != PAD] for row in target.tolist()]
    return sum(d == e for d, e in zip(decoded, expected)) / len(expected)


# ## Training
#
# The model is [attention.py's `Transformer`](attention.py#the-transformer), small: $d_\text{model} = 64$,
# 4 heads, $d_\text{ff} = 128$, 2 layers. The Annotated Transformer trains its copy model with dropout 0.1;
# we leave dropout out, since every batch is fresh data and there is nothing to over-fit.
#
# One step: a fresh padded batch, the masks, a forward pass, the label-smoothed loss over the real tokens,
# an Adam update (gradient norm clipped at 1), and a step of the schedule. Every `eval_every` steps, greedy
# decoding on 200 held-out sequences measures exact-match accuracy.
@dataclass
class CopyTraining:
    steps: int
    batch_size: int = 64
    warmup: int = 200
    factor: float = 1.0
    smoothing: float = 0.1
    eval_every: int = 200


def train_copy(settings: CopyTraining, seed: int) -> tuple[Transformer, History]:
    torch.manual_seed(seed)
    model = Transformer(VOCAB, VOCAB, d_model=64, heads=4, d_ff=128, layers=2)
    optimizer, scheduler = noam_optimizer(model, settings.warmup, settings.factor)
    data = torch.Generator().manual_seed(seed)
    held_out = padded_copy_batch(200, torch.Generator().manual_seed(10_000 + seed))

    def step(i: int) -> dict[str, float]:
        model.train()
        batch = make_batch(*padded_copy_batch(settings.batch_size, data))
        logits = model(batch.source, batch.decoder_input, batch.source_mask, batch.target_mask)
        loss = label_smoothing_loss(logits, batch.labels, settings.smoothing)
        metrics = {"lr": optimizer.param_groups[0]["lr"],
                   "loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}
        scheduler.step()
        if (i + 1) % settings.eval_every == 0 or i + 1 == settings.steps:
            metrics["exact_match"] = exact_match(model, *held_out)
        return metrics

    return model, train_loop(settings.steps, step, log_every=settings.eval_every)


def experiment(config: RunConfig) -> Outcome:
    settings = CopyTraining(steps=config.train_steps(full=2000, quick=300), warmup=config.choose(200, 100),
                            eval_every=config.choose(200, 100))
    model, history = train_copy(settings, config.seed)
    test = padded_copy_batch(1000, torch.Generator().manual_seed(20_000 + config.seed))
    accuracy = exact_match(model, *test)
    metrics = {
        "train_steps": settings.steps, "warmup": settings.warmup, "smoothing": settings.smoothing,
        "lengths": [MIN_LEN, MAX_LEN],
        "exact_match": round(accuracy, 4),
        "final_loss": round(history.last("loss"), 4),
        "peak_learning_rate": round(max(history.values("lr")), 6),
    }
    headline = (f"Copying sequences of {MIN_LEN}-{MAX_LEN} symbols with padding: greedy decoding gets "
                f"{accuracy:.1%} of 1,000 fresh sequences exactly right.")
    return Outcome(headline, metrics, {"": _figure(history, settings)})


def _figure(history: History, settings: CopyTraining) -> plt.Figure:
    fig, (ax_loss, ax_lr, ax_match) = plt.subplots(1, 3, figsize=(15, 4))
    ax_loss.plot(history.steps("loss"), history.values("loss"), linewidth=0.8)
    ax_loss.set(xlabel="training step", ylabel="KL(q || p) per token",
                title=f"Loss (label smoothing {settings.smoothing})", yscale="log")
    ax_lr.plot(history.steps("lr"), history.values("lr"))
    ax_lr.axvline(settings.warmup, color="grey", linestyle=":", label=f"warmup = {settings.warmup}")
    ax_lr.set(xlabel="training step", ylabel="learning rate", title="Noam schedule")
    ax_lr.legend()
    ax_match.plot(history.steps("exact_match"), history.values("exact_match"), marker="o")
    ax_match.set(xlabel="training step", ylabel="exact match", title="Greedy decoding, held-out sequences",
                 ylim=(0, 1.02))
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
