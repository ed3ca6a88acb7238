"""Tests for papers/rnn/rnn_regularization.py: where dropout goes, determinism, the over-fitting claim."""
from __future__ import annotations

import pytest
import torch

from papers.kit.experiment import RunConfig
from papers.rnn.lstm import run_layer
from papers.rnn.rnn_regularization import RegularizedLSTM, experiment

VOCAB, HIDDEN, LAYERS, BATCH, SEQ = 11, 16, 2, 4, 9


def _model(mode: str, dropout: float = 0.5) -> RegularizedLSTM:
    torch.manual_seed(0)
    return RegularizedLSTM(VOCAB, HIDDEN, LAYERS, dropout, mode).double()


def _tokens() -> torch.Tensor:
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(0))


# Run one training-mode forward pass and record, for every layer, what enters its input weights (the layer's
# input sequence `[batch, seq, hidden]`) and what enters its hidden weights at each step ($h_{t-1}$).
def _record(model: RegularizedLSTM) -> list[dict[str, list[torch.Tensor]]]:
    records = [{"inputs": [], "recurrent": []} for _ in model.cells]
    hooks = []
    for cell, record in zip(model.cells, records):
        hooks.append(cell.input_weights.register_forward_hook(
            lambda _m, args, _out, r=record: r["inputs"].append(args[0].detach().clone())))
        hooks.append(cell.hidden_weights.register_forward_hook(
            lambda _m, args, _out, r=record: r["recurrent"].append(args[0].detach().clone())))
    model.train()
    torch.manual_seed(1)
    model(_tokens())
    for hook in hooks:
        hook.remove()
    return records


# The paper's rule: with dropout on, each layer's recurrence $h_{t-1} \to h_t$ is exactly the plain LSTM
# recurrence run on the layer's (dropped-out) input. Re-running the layer without any dropout on the recorded
# input reproduces every $h_{t-1}$ the cell saw, bit for bit: nothing masked or rescaled the recurrent path.
def test_non_recurrent_dropout_never_touches_the_recurrent_path():
    model = _model("non_recurrent")
    for cell, record in zip(model.cells, _record(model)):
        (inputs,) = record["inputs"]
        zero = cell.zero_state(BATCH, inputs)
        outputs, _ = run_layer(cell, inputs, zero)  # [batch, seq, hidden]
        seen = torch.stack(record["recurrent"], dim=1)  # [batch, seq, hidden]: h_{t-1} at each step t
        assert torch.equal(seen[:, 0], zero[0])
        assert torch.equal(seen[:, 1:], outputs[:, :-1].detach())


# The same check has the power to see recurrent dropout: there the h_{t-1} the cell sees are masked, with a
# different mask at each step, and about a fraction p of them is zero.
def test_recurrent_dropout_masks_h_with_a_fresh_mask_each_step():
    model = _model("recurrent")
    record = _record(model)[0]
    seen = torch.stack(record["recurrent"][1:], dim=1)  # [batch, seq - 1, hidden], the h_{t-1} for t >= 2
    zeros = seen == 0
    assert 0.35 < zeros.float().mean().item() < 0.65
    masks = zeros.transpose(0, 1).reshape(SEQ - 1, -1)  # [steps, batch * hidden]
    assert all(not torch.equal(masks[t], masks[t + 1]) for t in range(SEQ - 2))


# Dropout does act on the non-recurrent arrows: about half the layer inputs are zero, the rest scaled by
# $1/(1-p) = 2$ (the first layer's input is the embedding).
def test_non_recurrent_dropout_masks_the_layer_inputs():
    model = _model("non_recurrent")
    (inputs,) = _record(model)[0]["inputs"]
    embedded = model.embed(_tokens()).detach()
    kept = inputs != 0
    assert 0.35 < 1 - kept.float().mean().item() < 0.65
    torch.testing.assert_close(inputs[kept], 2 * embedded[kept])


@pytest.mark.parametrize("mode", ["non_recurrent", "recurrent"])
def test_evaluation_mode_is_deterministic_and_has_no_dropout(mode):
    model, plain = _model(mode), _model("none")
    plain.load_state_dict(model.state_dict())
    model.eval()
    first, (h1, c1) = model(_tokens())
    second, (h2, c2) = model(_tokens())
    assert torch.equal(first, second) and torch.equal(h1, h2) and torch.equal(c1, c2)
    torch.testing.assert_close(first, plain(_tokens())[0])
    # In training mode dropout makes two passes differ.
    model.train()
    assert not torch.equal(model(_tokens())[0], model(_tokens())[0])


def test_state_is_carried_like_one_long_pass():
    model = _model("none")
    tokens = _tokens()
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    rest, _ = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)


# The claim in miniature: quick mode (3,000 training characters, hidden 64, 150 steps of 8 streams), the best
# and the final validation perplexity of each model.
def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    values = {f"{kind}_{mode}": metrics[f"{kind}_valid_perplexity_{mode}"]
              for kind in ("best", "final") for mode in ("none", "non_recurrent", "recurrent")}
    return {**values, "best_gain": values["best_none"] - values["best_non_recurrent"],
            "final_gain": values["final_none"] - values["final_non_recurrent"]}


# Without dropout the model over-fits the small training text: its validation perplexity climbs back from its
# minimum by the end of training, while with the paper's non-recurrent dropout it does not, and ends far lower.
# Measured over seeds 0-2 at 1 thread and portable kernels, and seed 0 at 2 threads (the same values to 0.001):
# final perplexity with no dropout 12.01-12.47, with non-recurrent dropout 10.50-10.66, a gain of 1.37-1.81
# (threshold 0.5); the no-dropout model's rise from its best 1.25-1.53 (threshold 0.5). The best perplexities
# are not compared: non-recurrent dropout wins there on all three seeds, but by 0.12-0.52 (1-5%), too little
# to hold on every machine; nor is recurrent dropout, which wins or loses against it by as little.
@pytest.mark.claim
def test_non_recurrent_dropout_stops_the_over_fitting():
    metrics = claim_metrics(0)
    assert metrics["final_gain"] > 0.5
    assert metrics["final_none"] - metrics["best_none"] > 0.5


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="mode"):
        RegularizedLSTM(VOCAB, HIDDEN, LAYERS, 0.5, "everywhere")
    with pytest.raises(ValueError, match="dropout"):
        RegularizedLSTM(VOCAB, HIDDEN, LAYERS, 1.0, "recurrent")
    with pytest.raises(ValueError, match="layers"):
        RegularizedLSTM(VOCAB, HIDDEN, 0, 0.5, "none")
    with pytest.raises(TypeError, match="tokens"):
        _model("none")(torch.zeros(BATCH, SEQ))
