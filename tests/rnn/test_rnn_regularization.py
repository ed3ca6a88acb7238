"""Tests for papers/rnn/rnn_regularization.py: where dropout goes, determinism, the over-fitting claim."""
from __future__ import annotations

import pytest
import torch

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.rnn import rnn_regularization as paper
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


# The claim in miniature: quick mode (3,000 training characters, hidden 64, 200 steps of 16 streams, dropout
# 0.5, seeds `seed` and `seed + 1`), the test perplexity at the early-stopping checkpoint and at the end of
# training, averaged over the two seeds.
def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    values = {f"{kind}_{mode}": metrics[f"{kind}_perplexity_{mode}"]["mean"]
              for kind in ("test", "final_test") for mode in ("none", "non_recurrent", "recurrent")}
    return {**values, "final_gain": values["final_test_none"] - values["final_test_non_recurrent"],
            "over_fitting": values["final_test_none"] - values["test_none"]}


# Without dropout the model over-fits the small training text: its test perplexity climbs back from its
# checkpoint by the end of training, while with the paper's non-recurrent dropout it ends far lower.
# Measured over seeds 0-2 at 1 thread and seed 0 under portable kernels (the 2-thread setting was not run on
# the loaded machine), each value a mean of two seeds: final test perplexity with no dropout 13.40-14.32, with
# non-recurrent dropout 11.81-12.08, a gain of 1.34-2.24 (threshold 0.5); the no-dropout model's rise from its
# checkpoint 1.91-2.21 (threshold 0.5). The checkpoint perplexities are not compared: at this small budget the
# dropout models have not converged (no dropout wins there on two seeds of three, by 0.37-0.57), and recurrent
# dropout trails non-recurrent dropout by only 0.1-0.5.
@pytest.mark.claim
def test_non_recurrent_dropout_stops_the_over_fitting():
    metrics = claim_metrics(0)
    assert metrics["final_gain"] > 0.5
    assert metrics["over_fitting"] > 0.5


# Controls on the recorded full run (`results/rnn_regularization.json`). The regime is one of over-fitting:
# on every seed the model without dropout reaches its best tuning perplexity well before the end and ends
# far worse on the test half, with a training-text perplexity far below its held-out one. The dropout models
# were still improving at the end (their checkpoint is the last evaluation), which the page says.
def test_recorded_run_controls():
    metrics = recorded_metrics(paper.__file__)
    steps = metrics["train_steps"]
    assert metrics["checkpoint_step_none"]["max"] < steps / 2
    assert metrics["final_test_perplexity_none"]["min"] > metrics["test_perplexity_none"]["max"] + 1.0
    assert metrics["final_train_perplexity_none"]["max"] < metrics["final_test_perplexity_none"]["min"] / 2
    for mode in ("non_recurrent", "recurrent"):
        assert metrics[f"checkpoint_step_{mode}"]["min"] > steps * 0.8


# The page's bolded "ordering holds on every seed", on the recorded full run: at each run's checkpoint the
# paper's non-recurrent dropout beats the early-stopped model without dropout and beats recurrent dropout on
# every seed, and recurrent dropout is worse than no dropout on every seed. (At the quick budget of the claim
# test above this ordering does not hold: there no dropout wins at the checkpoint on two seeds of three.)
def test_recorded_ordering_holds_on_every_seed():
    metrics = recorded_metrics(paper.__file__)
    assert metrics["test_gain_over_none"]["min"] > 0
    assert metrics["test_gain_over_recurrent"]["min"] > 0
    none, recurrent = metrics["test_perplexity_none"], metrics["test_perplexity_recurrent"]
    assert all(recurrent["per_seed"][seed] > none["per_seed"][seed] for seed in none["per_seed"])


# The page quotes the recorded means and ranges over seeds.
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for key in ("test_perplexity_none", "test_perplexity_non_recurrent", "test_perplexity_recurrent",
                "final_test_perplexity_none", "test_gain_over_none", "test_gain_over_recurrent"):
        stats = metrics[key]
        assert quoted_on_page(paper.__file__, f"{stats['mean']:.2f}"), key
        assert quoted_on_page(paper.__file__, f"({stats['min']:.2f} to {stats['max']:.2f})"), key


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="mode"):
        RegularizedLSTM(VOCAB, HIDDEN, LAYERS, 0.5, "everywhere")
    with pytest.raises(ValueError, match="dropout"):
        RegularizedLSTM(VOCAB, HIDDEN, LAYERS, 1.0, "recurrent")
    with pytest.raises(ValueError, match="layers"):
        RegularizedLSTM(VOCAB, HIDDEN, 0, 0.5, "none")
    with pytest.raises(TypeError, match="tokens"):
        _model("none")(torch.zeros(BATCH, SEQ))
