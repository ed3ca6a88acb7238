r"""
---
title: Neural Machine Translation by Jointly Learning to Align and Translate
summary: Additive (Bahdanau) attention over the annotations of a bidirectional GRU encoder, against an
  encoder-decoder that sees only the final encoder state, on a translation-like task of growing length.
---

# Neural Machine Translation by Jointly Learning to Align and Translate

[Bahdanau, Cho, Bengio, 2014. *Neural Machine Translation by Jointly Learning to Align and
Translate*](https://arxiv.org/abs/1409.0473)

The first neural translation systems were *encoder-decoders*: one recurrent network reads the source
sentence into a single vector $c$, a second one writes the translation from it. Every sentence, short or
long, must squeeze through that one fixed-size vector, and the paper shows what that costs: translation
quality falls steeply as sentences grow longer.

The fix is to keep *all* of the encoder's states, one *annotation* $h_j$ per source word, and let the
decoder look back at them. Before writing word $i$, the decoder scores every annotation against its own
state $s_{i-1}$,

$$e_{ij} = v_a^\top \tanh\left(W_a s_{i-1} + U_a h_j\right), \qquad
\alpha_{ij} = \frac{\exp e_{ij}}{\sum_k \exp e_{ik}}, \qquad c_i = \sum_j \alpha_{ij} h_j,$$

and reads a context $c_i$ of its own. The weights $\alpha_{ij}$ are a soft *alignment* between target word
$i$ and source words $j$, learned from the translation loss alone. Each annotation comes from a
*bidirectional* RNN, so $h_j$ summarises the words around $j$ on both sides.

## The experiment

A miniature translation task, with no corpus to download. The source is a random sentence of "words"
(12 symbols); the target translates every word through a fixed dictionary and swaps the words of each
adjacent pair, the way an adjective and its noun trade places between English and French. Target word $i$
therefore comes from one source word $\pi(i)$, close to position $i$ but not at it: to get it right, the
decoder has to find that word, which is exactly the alignment problem. A model with only a final state
must instead store the whole sentence in its vector and replay it in order.

We train two models that differ only in the context the decoder reads: *RNNsearch* (attention) and
*RNNencdec* (the final forward and backward encoder states, $c_i = c$ at every step), on sentences of
3 to 24 words, and measure the accuracy of greedily decoded words at each length.

![Word accuracy versus sentence length](results/bahdanau_attention.png)

Without attention, accuracy falls as sentences grow, as in the paper's Figure 2: from about 72% of the
words of 4-word sentences to about 26% at 24 words (chance is 1 in 12, about 8%). The final state keeps
some of a short sentence and little of a long one. With attention, accuracy stays at about 99% or more
at every length trained on. The alignment the attention model learned for one sentence is the
near-diagonal with crossed pairs that the task implies, found without ever being told:

![Alignment matrix](results/bahdanau_attention-alignment.png)
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.tasks import BOS, RESERVED, random_symbols
from papers.kit.training import optimizer_step, train_loop


# ## Additive attention
#
# <a id="AdditiveAttention"></a>
# The score $e_{ij} = v_a^\top \tanh(W_a s_{i-1} + U_a h_j)$ is a one-hidden-layer network that takes the
# decoder state (the *query*) and one annotation (a *key*). $U_a h_j$ does not depend on the step $i$, so
# it is computed once per sentence by `project_keys`, as the paper's appendix suggests; each step only adds
# $W_a s_{i-1}$. A boolean `mask` `[batch, source_len]` can rule positions out (`False` = not allowed):
# their score becomes $-\infty$ and their weight $0$. [Pointer networks](pointer_networks.py) reuse
# `scores` directly as their output distribution.
class AdditiveAttention(nn.Module):
    def __init__(self, query_dim: int, key_dim: int, attention_dim: int) -> None:
        super().__init__()
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("attention_dim", attention_dim)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.W = nn.Linear(query_dim, attention_dim, bias=False)  # W_a
        self.U = nn.Linear(key_dim, attention_dim, bias=False)  # U_a
        self.v = nn.Linear(attention_dim, 1, bias=False)  # v_a

    # $U_a h_j$ for every position: `[batch, source_len, key_dim]` → `[batch, source_len, attention_dim]`.
    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        if keys.dim() != 3 or keys.shape[-1] != self.U.in_features:
            raise ValueError(f"keys must be [batch, source_len, {self.U.in_features}], "
                             f"got {tuple(keys.shape)}")
        return self.U(keys)

    # The scores $e_{ij}$ for one decoder step: `query` `[batch, query_dim]` → `[batch, source_len]`.
    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        if query.dim() != 2 or query.shape[-1] != self.W.in_features:
            raise ValueError(f"query must be [batch, {self.W.in_features}], got {tuple(query.shape)}")
        if projected_keys.dim() != 3 or projected_keys.shape[0] != query.shape[0]:
            raise ValueError(f"projected keys {tuple(projected_keys.shape)} do not match "
                             f"query {tuple(query.shape)}")
        hidden = torch.tanh(self.W(query)[:, None, :] + projected_keys)  # [batch, source_len, attention_dim]
        e = self.v(hidden).squeeze(-1)  # [batch, source_len]
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
            if mask.shape != e.shape:
                raise ValueError(f"mask must be {tuple(e.shape)}, got {tuple(mask.shape)}")
            e = e.masked_fill(~mask, float("-inf"))
        return e

    # The weights $\alpha_{ij}$ `[batch, source_len]` and the context $c_i = \sum_j \alpha_{ij} h_j$
    # `[batch, key_dim]`.
    def forward(self, query: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        weights = F.softmax(self.scores(query, projected_keys, mask), dim=-1)
        context = torch.bmm(weights[:, None, :], keys).squeeze(1)
        return context, weights


# ## The encoder
#
# An embedding and a bidirectional GRU. The forward GRU reads $x_1 \dots x_T$, the backward one
# $x_T \dots x_1$; the annotation of word $j$ is both of their states there,
# $h_j = [\overrightarrow{h}_j; \overleftarrow{h}_j]$, `[batch, source_len, 2 * hidden]`. The *summary*
# $c = [\overrightarrow{h}_T; \overleftarrow{h}_1]$ holds the two states that have read the whole sentence:
# it is everything an encoder-decoder without attention gets.
class Encoder(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.GRU(embed_dim, hidden, batch_first=True, bidirectional=True)

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        annotations, last = self.rnn(self.embed(source))  # [batch, source_len, 2H], [2, batch, H]
        summary = torch.cat([last[0], last[1]], dim=-1)  # [batch, 2H]
        return annotations, summary


# ## The decoder
#
# One step of the paper's decoder, in its order: read a context $c_i$ with the previous state
# $s_{i-1}$, update the state $s_i = \mathrm{GRU}(s_{i-1}, [E y_{i-1}; c_i])$, and predict word $i$ from
# $s_i$, the previous word and the context (the paper's *deep output*, here one linear layer). With
# `use_attention=False` the context is the encoder's summary at every step: the RNNencdec baseline.
# The first state is $s_0 = \tanh(W_s c)$ for both models, so the only difference is $c_i$.
class Decoder(nn.Module):  # pylint: disable=abstract-method  # driven by `step`, no forward
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, context_dim: int, attention_dim: int,
                 use_attention: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.init_state = nn.Linear(context_dim, hidden)  # W_s
        self.attention = AdditiveAttention(hidden, context_dim, attention_dim) if use_attention else None
        self.cell = nn.GRUCell(embed_dim + context_dim, hidden)
        self.readout = nn.Linear(hidden + embed_dim + context_dim, vocab_size)

    def start(self, summary: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.init_state(summary))  # s_0, [batch, hidden]

    # One step: previous words `[batch]` → logits `[batch, vocab]`, the new state, and the attention
    # weights `[batch, source_len]` (`None` without attention).
    def step(self, previous: torch.Tensor, state: torch.Tensor, annotations: torch.Tensor,
             projected: torch.Tensor | None, summary: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        y = self.embed(previous)  # [batch, embed_dim]
        if self.attention is not None:
            context, weights = self.attention(state, annotations, projected)
        else:
            context, weights = summary, None
        state = self.cell(torch.cat([y, context], dim=-1), state)
        logits = self.readout(torch.cat([state, y, context], dim=-1))
        return logits, state, weights


# ## The encoder-decoder
#
# Training feeds the true previous word (*teacher forcing*): the decoder's inputs are the target shifted
# right behind a start symbol. Translation is greedy, feeding back the model's own words. In this task the
# target is as long as the source, so we decode exactly `source_len` words and need no end symbol.
class Seq2Seq(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden: int = 64, attention_dim: int = 64,
                 use_attention: bool = True) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.encoder = Encoder(vocab_size, embed_dim, hidden)
        self.decoder = Decoder(vocab_size, embed_dim, hidden, 2 * hidden, attention_dim, use_attention)

    def _check(self, tokens: torch.Tensor, name: str) -> None:
        if tokens.dtype != torch.long:
            raise TypeError(f"{name} must be int64 token ids, got {tokens.dtype}")
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(f"{name} must be [batch, length] with length > 0, got {tuple(tokens.shape)}")
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ValueError(f"{name} ids must be in [0, {self.vocab_size}), "
                             f"got [{tokens.min()}, {tokens.max()}]")

    def _encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        self._check(source, "source")
        annotations, summary = self.encoder(source)
        attention = self.decoder.attention
        projected = attention.project_keys(annotations) if attention is not None else None
        return annotations, projected, summary

    # Teacher-forced logits `[batch, target_len, vocab]`.
    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._check(target, "target")
        if target.shape[0] != source.shape[0]:
            raise ValueError(f"source batch {source.shape[0]} != target batch {target.shape[0]}")
        annotations, projected, summary = self._encode(source)
        state = self.decoder.start(summary)
        previous = torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], dim=1)
        logits = []
        for i in range(target.shape[1]):
            step_logits, state, _ = self.decoder.step(previous[:, i], state, annotations, projected, summary)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    # Greedy translation: words `[batch, source_len]` and, with attention, the alignment
    # `[batch, target_len, source_len]` (row $i$ holds $\alpha_{i1} \dots \alpha_{iT}$).
    @torch.no_grad()
    def translate(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        annotations, projected, summary = self._encode(source)
        state = self.decoder.start(summary)
        previous = torch.full_like(source[:, 0], BOS)
        words, alignment = [], []
        for _ in range(source.shape[1]):
            logits, state, weights = self.decoder.step(previous, state, annotations, projected, summary)
            previous = logits.argmax(dim=-1)
            words.append(previous)
            alignment.append(weights)
        rows = None if alignment[0] is None else torch.stack(alignment, dim=1)
        return torch.stack(words, dim=1), rows


# ## The task
#
# The dictionary sends word $w$ to word $S - 1 - w$ (among $S$ data symbols); then the words of each pair
# $(2k, 2k+1)$ swap places (in a sentence of odd length the last word stays). Target position $i$ reads
# source position $\pi(i) = i + 1$ for even $i$ and $i - 1$ for odd $i$ (counting from 0).
def source_position(i: int, length: int) -> int:
    if i % 2 == 0:
        return i + 1 if i + 1 < length else i
    return i - 1


def translation_batch(batch_size: int, length: int, symbols: int,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    source = random_symbols(batch_size, length, symbols, generator)  # [batch, length]
    translated = 2 * RESERVED + symbols - 1 - source  # RESERVED + (S - 1 - (x - RESERVED))
    order = torch.tensor([source_position(i, length) for i in range(length)])
    return source, translated[:, order]


# ## Training and evaluation
#
# Each batch draws one sentence length uniformly from the training range, so a batch needs no padding.
def train(model: Seq2Seq, steps: int, lengths: tuple[int, int], symbols: int, batch_size: int,
          generator: torch.Generator, lr: float = 3e-3) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> dict[str, float]:
        length = int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=generator))
        source, target = translation_batch(batch_size, length, symbols, generator)
        logits = model(source, target)
        loss = F.cross_entropy(logits.reshape(-1, model.vocab_size), target.reshape(-1))
        return {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(), clip_norm=1.0)}

    return train_loop(steps, step, log_every=100).values("loss")


# The fraction of words that greedy translation gets right, on fresh sentences of one length.
def word_accuracy(model: Seq2Seq, length: int, symbols: int, count: int, generator: torch.Generator) -> float:
    source, target = translation_batch(count, length, symbols, generator)
    words, _ = model.translate(source)
    return (words == target).float().mean().item()


# ## The experiment
#
# Both models are trained with the same data stream (the same seed) and tested on the same sentences.
def experiment(config: RunConfig) -> Outcome:
    symbols = 12
    lengths = config.choose((3, 24), (3, 12))
    test_lengths = list(range(4, lengths[1] + 1, 4))
    steps = config.train_steps(2500, 300)
    hidden = config.choose(64, 32)
    accuracy_by_model: dict[str, list[float]] = {}
    models: dict[str, Seq2Seq] = {}
    for name, use_attention in (("attention", True), ("no_attention", False)):
        torch.manual_seed(config.seed)
        model = Seq2Seq(RESERVED + symbols, hidden=hidden, use_attention=use_attention)
        train(model, steps, lengths, symbols, 64, torch.Generator().manual_seed(config.seed))
        model.eval()
        test_generator = torch.Generator().manual_seed(config.seed + 1000)
        accuracy_by_model[name] = [word_accuracy(model, n, symbols, config.choose(500, 200), test_generator)
                                   for n in test_lengths]
        models[name] = model
    figures = {"": plot_accuracy(test_lengths, accuracy_by_model)}
    if not config.quick:
        figures["alignment"] = plot_alignment(models["attention"], symbols, config.seed)
    longest = test_lengths[-1]
    headline = (f"word accuracy on {longest}-word sentences: with attention "
                f"{accuracy_by_model['attention'][-1]:.1%}, "
                f"without {accuracy_by_model['no_attention'][-1]:.1%}")
    return Outcome(headline=headline, figures=figures, metrics={
        "test_lengths": test_lengths,
        "accuracy_attention": [round(a, 4) for a in accuracy_by_model["attention"]],
        "accuracy_no_attention": [round(a, 4) for a in accuracy_by_model["no_attention"]],
        "train_lengths": list(lengths),
        "train_steps": steps,
    })


# ## Figures
def plot_accuracy(lengths: list[int], accuracy: dict[str, list[float]]) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(lengths, accuracy["attention"], "o-", label="with attention (RNNsearch)")
    ax.plot(lengths, accuracy["no_attention"], "s--", label="final state only (RNNencdec)")
    ax.set_xlabel("sentence length (words)")
    ax.set_ylabel("word accuracy (greedy)")
    ax.set_ylim(0, 1.02)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# The alignment $\alpha_{ij}$ of one 16-word test sentence, as in the paper's Figure 3.
def plot_alignment(model: Seq2Seq, symbols: int, seed: int) -> Figure:
    source, _ = translation_batch(1, 16, symbols, torch.Generator().manual_seed(seed + 2000))
    _, alignment = model.translate(source)
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.imshow(alignment[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xlabel("source position $j$")
    ax.set_ylabel("target position $i$")
    ax.set_title(r"attention weights $\alpha_{ij}$")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
