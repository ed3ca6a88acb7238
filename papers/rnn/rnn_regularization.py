r"""
---
title: Recurrent Neural Network Regularization
summary: Dropout on the non-recurrent connections of a multi-layer LSTM only, tested never to touch the
  recurrent path, against no dropout and against dropout on the recurrent state, on an over-fitting
  character model of Shakespeare.
---

# Recurrent Neural Network Regularization

[Zaremba, Sutskever, Vinyals, 2014. *Recurrent Neural Network Regularization*.
arXiv:1409.2329](https://arxiv.org/abs/1409.2329)

Dropout, zeroing each unit with probability $p$ during training, is the standard cure for a network that
over-fits. Applied naively to a recurrent network, the paper argues (Section 1, citing Bayer et al., 2013),
it hurts: a mask on the recurrent state $h_{t-1}$ at every step damages the memory again and again, and
information that has to survive many steps is corrupted many times over. (The paper does not itself run
recurrent dropout; [the experiment](#the-experiment) below does, and at its scale does not see it hurt.)
Zaremba et al.'s fix is one rule: **apply dropout only to the non-recurrent connections**, the
ones that go *up* the stack of layers (input to layer 1, layer $l-1$ to layer $l$, top layer to output),
and never to the ones that go *along* time ($h^l_{t-1} \to h^l_t$, $C^l_{t-1} \to C^l_t$). A piece of
information then crosses a dropout mask once per layer it passes on its way up, $L + 1$ times, however many
steps it is carried (the paper's Figure 3), and the network can still regularise its features.

With $\mathbf{D}$ the dropout operator and $T_{n,m}$ an affine map, layer $l$ at step $t$ computes the
[LSTM](lstm.py) gates from

$$
\begin{pmatrix} f \\ i \\ \tilde{C} \\ o \end{pmatrix} =
\begin{pmatrix} \sigma \\ \sigma \\ \tanh \\ \sigma \end{pmatrix}
T_{2n, 4n} \begin{pmatrix} \mathbf{D}(h^{l-1}_t) \\ h^l_{t-1} \end{pmatrix},
$$

with the dropout on the layer's input $h^{l-1}_t$ only. (The paper writes the gates in the order
$i, f, o, g$; the order does not matter.)

## What the experiment shows

[The experiment](#the-experiment) trains three copies of the same two-layer LSTM character model on a small
part of the kit's Shakespeare, small enough that the model over-fits it within the time budget:

* **no dropout**;
* **non-recurrent dropout**, the paper's method;
* **recurrent dropout**: the same, and also a fresh dropout mask on $h^l_{t-1}$ at every step, the naive
  way the paper argues against.

![Validation perplexity during training for the three models](results/rnn_regularization.png)

The models are two-layer LSTMs with 128 units, trained on 15,000 characters (the first 20,000 of the kit's
Shakespeare, the last quarter held out for validation) for 300 windows of 32 streams × 32 characters,
with dropout rate 0.3. The results hold one run, seed 0. Without dropout the model over-fits: its
validation perplexity reaches its minimum, 8.50, after about 200 steps (in the figure) and then climbs,
to 9.15 at step 300, while the training loss keeps falling. Non-recurrent dropout ends at 8.32 and
recurrent dropout at 8.31, each at its best value, so both were still improving when training stopped.
**At this scale the paper's claim holds only in part**: non-recurrent dropout beats no dropout by a small
margin in best perplexity (8.32 against 8.50, about 2%), by more at the end of training (8.32 against 9.15),
and it does *not* beat recurrent dropout, which ends at the same perplexity (8.31). With one seed, even the
2% gap is not shown to exceed seed-to-seed noise; a longer run could separate the two dropout models, but it
does not fit the two-minute budget. The perplexity here is per character, $2^{\text{bits per character}}$.

The paper's setting is far from this one: word-level language modelling on the Penn Treebank with two-layer
LSTMs of 650 or 1500 units per layer, dropout 0.5 or 0.65, trained for tens of epochs. There, non-recurrent
dropout brings the test perplexity from 114.5 (non-regularised) to 82.7 (medium) and 78.4 (large) (Table 1).
It compares against no dropout only, not against recurrent dropout.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor
from papers.kit.data import shakespeare
from papers.kit.experiment import Outcome, RunConfig, run_paper
from papers.kit.language_model import train_char_model
from papers.rnn.lstm import LSTMCell, LSTMState, run_layer

MODES = ("none", "non_recurrent", "recurrent")


# ## One layer with dropout on its recurrent state
#
# The variant the paper argues against: like the [LSTM layer](lstm.py#the-lstm-layer), but $h_{t-1}$ is
# dropped out before it enters the gates, with a fresh mask at every step. (The cell state is left alone,
# so the difference from the paper's method is exactly the mask on $h_{t-1} \to h_t$.)
def run_layer_recurrent_dropout(cell: LSTMCell, inputs: torch.Tensor, state: LSTMState,
                                dropout: nn.Dropout) -> tuple[torch.Tensor, LSTMState]:
    x_parts = cell.input_weights(inputs)  # [batch, seq, 4 * hidden]
    outputs = []
    h, c = state
    for t in range(inputs.shape[1]):
        h, c = cell.step(x_parts[:, t], (dropout(h), c))
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)  # [batch, seq, hidden]


# ## The regularised LSTM language model
#
# Embedding, `layers` LSTM layers, read-out, with $\mathbf{D}$ on every arrow that goes up: on the embedding
# (the input of layer 1), between layers, and on the top layer's output before the read-out. In `"none"`
# mode there is no dropout at all; in `"recurrent"` mode the layers also drop out $h_{t-1}$.
# The model follows the kit's [character-model interface](../kit/language_model.py): `tokens` `[batch, seq]`
# and a state (`None` or the $(h, C)$ of every layer, each `[layers, batch, hidden]`) give logits
# `[batch, seq, vocab]` and the new state. `model.eval()` switches every dropout off.
class RegularizedLSTM(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int, layers: int, dropout: float, mode: str) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        check_in_range("dropout", dropout, 0, 1, high_open=True)
        for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size), ("layers", layers)):
            check_positive(name, value, integer=True)
        self.mode = mode
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.cells = nn.ModuleList(LSTMCell(hidden_size, hidden_size) for _ in range(layers))
        self.dropout = nn.Dropout(0.0 if mode == "none" else dropout)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        sizes = check_ids("tokens", tokens, ["batch", "seq"], self.embed.num_embeddings)
        x = self.embed(tokens)  # [batch, seq, hidden]
        if state is None:
            states = [cell.zero_state(tokens.shape[0], x) for cell in self.cells]
        else:
            for name, part in (("state[0]", state[0]), ("state[1]", state[1])):
                check_tensor(name, part, [len(self.cells), "batch", x.shape[2]], dtype=x.dtype, sizes=sizes)
            states = list(zip(state[0].unbind(0), state[1].unbind(0)))
        finals = []
        for cell, layer_state in zip(self.cells, states):
            x = self.dropout(x)  # D on the arrow going up into this layer
            if self.mode == "recurrent":
                x, final = run_layer_recurrent_dropout(cell, x, layer_state, self.dropout)
            else:
                x, final = run_layer(cell, x, layer_state)  # h_{t-1} -> h_t untouched
            finals.append(final)
        logits = self.readout(self.dropout(x))  # [batch, seq, vocab]
        return logits, (torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals]))


# ## The experiment
#
# Three models, the same initial weights (the same seed) and the same batches; only the dropout differs.
def experiment(config: RunConfig) -> Outcome:
    corpus = shakespeare(max_chars=config.choose(20_000, 4_000), valid_fraction=0.25)
    hidden = config.choose(128, 64)
    steps = config.train_steps(full=300, quick=150)
    dropout = 0.3
    histories = {}
    for mode in MODES:
        torch.manual_seed(config.seed)
        model = RegularizedLSTM(corpus.vocab_size, hidden, layers=2, dropout=dropout, mode=mode)
        histories[mode] = train_char_model(model, corpus, steps=steps, batch_size=config.choose(32, 8),
                                           seq_len=32, lr=config.choose(3e-3, 1e-2),
                                           eval_every=config.choose(20, 10))
    best = {mode: 2 ** min(h.values("valid_bpc")) for mode, h in histories.items()}
    final = {mode: 2 ** h.last("valid_bpc") for mode, h in histories.items()}
    metrics = {
        "train_chars": len(corpus.train),
        "valid_chars": len(corpus.valid),
        "hidden_size": hidden,
        "layers": 2,
        "dropout": dropout,
        "train_steps": steps,
        **{f"best_valid_perplexity_{mode}": round(best[mode], 3) for mode in MODES},
        **{f"final_valid_perplexity_{mode}": round(final[mode], 3) for mode in MODES},
    }
    headline = ("Best validation perplexity per character: "
                + ", ".join(f"{mode.replace('_', '-')} dropout {best[mode]:.2f}" for mode in MODES) + ".")
    return Outcome(headline, metrics, {"": _figure(histories)})


def _figure(histories: dict) -> plt.Figure:
    fig, (ax_valid, ax_train) = plt.subplots(1, 2, figsize=(11, 4))
    labels = {"none": "no dropout", "non_recurrent": "non-recurrent dropout (paper)",
              "recurrent": "recurrent dropout too"}
    for mode, history in histories.items():
        ax_valid.plot(history.steps("valid_bpc"), [2 ** b for b in history.values("valid_bpc")], marker=".",
                      label=labels[mode])
        losses = torch.tensor(history.values("loss"))
        smooth = losses.unfold(0, 25, 25).mean(dim=1)  # mean of each 25 steps
        ax_train.plot([25 * (i + 1) for i in range(len(smooth))], torch.exp(smooth).tolist(),
                      label=labels[mode])
    ax_valid.set(xlabel="training step", ylabel="perplexity per character", title="Validation")
    ax_train.set(xlabel="training step", ylabel="perplexity per character",
                 title="Training batches (dropout on)")
    ax_valid.legend()
    ax_train.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
