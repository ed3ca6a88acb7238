"""Tests for papers/rnn/char_rnn.py: the vanilla RNN against torch.nn.RNN, baselines, sampling, the claim."""
from __future__ import annotations

import functools
import math
from collections import Counter

import pytest
import torch
from scipy.stats import chisquare
from torch import nn

from papers.kit.data import CharCorpus
from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.rnn import char_rnn as paper
from papers.rnn.char_rnn import (RNN, CharModel, RNNCell, bigram_bpc, experiment, generate, line_position,
                                 line_position_unit, matched_rnn_width, name_lines, parameter_count, sample_next,
                                 unigram_bpc)

INPUT, HIDDEN, LAYERS, BATCH, SEQ = 5, 7, 2, 3, 6


def test_rnn_equals_torch_rnn_outputs_and_gradients():
    torch.manual_seed(0)
    reference = nn.RNN(INPUT, HIDDEN, LAYERS, batch_first=True).double()
    ours = RNN(INPUT, HIDDEN, LAYERS).double()
    with torch.no_grad():
        for layer, cell in enumerate(ours.cells):
            cell.input_weights.weight.copy_(getattr(reference, f"weight_ih_l{layer}"))
            cell.hidden_weights.weight.copy_(getattr(reference, f"weight_hh_l{layer}"))
            cell.input_weights.bias.copy_(getattr(reference, f"bias_ih_l{layer}")
                                          + getattr(reference, f"bias_hh_l{layer}"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, SEQ, INPUT, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(LAYERS, BATCH, HIDDEN, generator=g, dtype=torch.float64, requires_grad=True)
    weights_out = torch.randn(BATCH, SEQ, HIDDEN, generator=g, dtype=torch.float64)
    weights_h = torch.randn(LAYERS, BATCH, HIDDEN, generator=g, dtype=torch.float64)

    def loss(out: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return (out * weights_out).sum() + (h * weights_h).sum()

    out_ref, h_ref = reference(x, h0)
    grads_ref = torch.autograd.grad(loss(out_ref, h_ref), [x, h0, *reference.parameters()])
    out, h = ours(x, h0)
    grads = torch.autograd.grad(loss(out, h), [x, h0, *ours.parameters()])
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(grads[0], grads_ref[0])
    torch.testing.assert_close(grads[1], grads_ref[1])
    for layer in range(LAYERS):
        w_ih, w_hh, b_ih, b_hh = grads_ref[2 + 4 * layer: 6 + 4 * layer]
        w_x, b_x, w_h = grads[2 + 3 * layer: 5 + 3 * layer]
        torch.testing.assert_close(w_x, w_ih)
        torch.testing.assert_close(w_h, w_hh)
        torch.testing.assert_close(b_x, b_ih)
        torch.testing.assert_close(b_x, b_hh)
    # From a zero state, as torch.nn.RNN's default.
    torch.testing.assert_close(ours(x)[0], reference(x)[0])


def test_rnn_cell_is_its_equation():
    torch.manual_seed(0)
    cell = RNNCell(INPUT, HIDDEN).double()
    x, h = torch.randn(BATCH, INPUT, dtype=torch.float64), torch.randn(BATCH, HIDDEN, dtype=torch.float64)
    expected = torch.tanh(h @ cell.hidden_weights.weight.T + x @ cell.input_weights.weight.T
                          + cell.input_weights.bias)
    torch.testing.assert_close(cell(x, h), expected)


# Baselines against counts made with Python's Counter and math.log2.
TEXT = "abracadabra, abracadabra!\nbarbara\n"


def test_unigram_and_bigram_baselines_match_brute_force_counts():
    corpus = CharCorpus.from_text(TEXT * 3 + "cab bar", valid_fraction=0.2)
    train, valid = corpus.decode(corpus.train), corpus.decode(corpus.valid)
    vocab = corpus.vocab_size
    counts = Counter(train)
    unigram = -sum(math.log2((counts[ch] + 1) / (len(train) + vocab)) for ch in valid) / len(valid)
    pairs, firsts = Counter(zip(train, train[1:])), Counter(train[:-1])
    bigram = -sum(math.log2((pairs[(a, b)] + 1) / (firsts[a] + vocab))
                  for a, b in zip(valid, valid[1:])) / (len(valid) - 1)
    assert unigram_bpc(corpus.train, corpus.valid, vocab) == pytest.approx(unigram, rel=1e-12)
    assert bigram_bpc(corpus.train, corpus.valid, vocab) == pytest.approx(bigram, rel=1e-12)


def test_temperature_near_zero_gives_the_argmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=g)
    assert torch.equal(sample_next(logits, 0.0, g), logits.argmax(-1))
    assert torch.equal(sample_next(logits, 1e-4, g), logits.argmax(-1))


# At temperature T, sample frequencies must match softmax(logits / T): a chi-square goodness-of-fit test on
# 20,000 draws, failing below p = 0.001. The same draws must be *rejected* against the distribution of a
# different temperature, so the test has the power to tell temperatures apart.
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_samples_follow_the_tempered_softmax(temperature):
    logits = torch.tensor([[1.5, 0.2, -0.3, 0.9, -1.2, 0.0]]).expand(20_000, 6)
    samples = sample_next(logits, temperature, torch.Generator().manual_seed(1))
    observed = torch.bincount(samples, minlength=6).double().numpy()
    expected = torch.softmax(logits[0].double() / temperature, dim=0).numpy() * 20_000
    assert chisquare(observed, expected).pvalue > 1e-3
    other = torch.softmax(logits[0].double() / (2 * temperature), dim=0).numpy() * 20_000
    assert chisquare(observed, other).pvalue < 1e-6


def test_generate_on_a_small_model():
    corpus = CharCorpus.from_text(TEXT * 4)
    torch.manual_seed(0)
    model = CharModel(corpus.vocab_size, 8, "rnn")
    text = generate(model, corpus, "ab", 25, 1.0, torch.Generator().manual_seed(0))
    assert len(text) == 25 and set(text) <= set(corpus.vocab)
    greedy = [generate(model, corpus, "ab", 10, 0.0, torch.Generator().manual_seed(s)) for s in (0, 1)]
    assert greedy[0] == greedy[1]


# The unit is chosen on one passage and measured on another: against a brute-force Pearson correlation of
# every unit with the count of characters since the last line break.
def test_line_position_unit_is_chosen_on_one_passage_and_measured_on_another():
    corpus = CharCorpus.from_text(TEXT * 4)
    torch.manual_seed(0)
    model = CharModel(corpus.vocab_size, 8, "lstm")
    select, measure = corpus.encode(TEXT), corpus.encode(TEXT[7:] + TEXT[:7])
    unit, correlation = line_position_unit(model, corpus, select, measure)

    def unit_correlations(tokens: torch.Tensor) -> list[float]:
        hidden, _ = model.hidden_states(tokens[None])
        text = corpus.decode(tokens)
        position, since = [], 0
        for ch in text:
            since = 0 if ch == "\n" else since + 1
            position.append(since)
        return [_pearson(hidden[0, :, u].tolist(), position) for u in range(8)]

    on_select = unit_correlations(select)
    assert unit == max(range(8), key=lambda u: abs(on_select[u]))
    assert correlation == pytest.approx(unit_correlations(measure)[unit], abs=1e-5)
    assert line_position("ab\ncd").tolist() == [1, 2, 0, 1, 2]


def test_name_lines_mark_the_lines_in_capitals():
    text = "ROMEO.\nO, she doth teach.\n\n[Exit.]\nJULIET\nA"
    expected = [1.0] * 7 + [0.0] * 19 + [0.0] + [0.0] * 8 + [1.0] * 7 + [1.0]
    assert name_lines(text).tolist() == expected


# The RNN of the comparison is the narrowest one with at least as many parameters as the LSTM; the count is the
# number of elements of a real model's parameters.
def test_matched_rnn_has_as_many_parameters_as_the_lstm():
    vocab, width = 76, 128
    lstm = parameter_count(vocab, width, "lstm")
    assert lstm == sum(p.numel() for p in CharModel(vocab, width, "lstm").parameters())
    matched = matched_rnn_width(vocab, width)
    assert parameter_count(vocab, matched, "rnn") >= lstm > parameter_count(vocab, matched - 1, "rnn")


def _pearson(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


# The claim in miniature: quick mode (200,000 characters, an LSTM of 64 units and an RNN of as many parameters,
# 150 steps at one learning rate, two seeds), test bits per character averaged over the two seeds.
@functools.cache
def _quick_metrics(seed: int) -> dict:
    return experiment(RunConfig(seed=seed, quick=True)).metrics


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = _quick_metrics(seed)
    lstm, rnn = metrics["test_bpc_lstm"]["mean"], metrics["test_bpc_rnn"]["mean"]
    bigram = metrics["test_bpc_bigram"]
    return {"bpc_lstm": lstm, "bpc_rnn": rnn, "bpc_bigram": bigram, "bpc_unigram": metrics["test_bpc_unigram"],
            "lstm_below_bigram": bigram - lstm, "rnn_below_bigram": bigram - rnn}


# Both trained networks beat the bigram baseline by a wide margin. Measured over seeds 0-2 at 1 thread and under
# portable kernels (the same values in both; the 2-thread run did not finish on the loaded machine): LSTM
# 2.966-2.974 bits per character, vanilla RNN 2.765-2.777, bigram 3.653, unigram 4.977; the LSTM ends
# 0.680-0.687 bits below the bigram and the RNN 0.876-0.888 (threshold 0.3 for both), so one seed (itself a
# mean of two) suffices. The LSTM against the RNN is not asserted: in the full run the LSTM does not beat the RNN.
@pytest.mark.claim
def test_trained_models_beat_the_bigram_baseline():
    metrics = claim_metrics(0)
    assert metrics["lstm_below_bigram"] > 0.3
    assert metrics["rnn_below_bigram"] > 0.3
    assert metrics["bpc_bigram"] < metrics["bpc_unigram"]
    assert set(_quick_metrics(0)["samples"]) == {"temperature_0.0", "temperature_0.5", "temperature_1.0"}


# Controls on the recorded full run (`results/char_rnn.json`). The baseline is trained: on every seed the
# vanilla RNN ends more than a bit below the bigram model, as the LSTM does, with as many parameters (within
# 1%). The page's "the LSTM does not beat a vanilla RNN" is what the seeds show: the RNN's excess over the
# LSTM changes sign, and is smaller than 0.05 bits on every seed. The hidden-unit control: the unit chosen for
# line position tracks the speaker's lines better than the line position, and better than the untrained
# networks' chosen units do.
def test_recorded_run_controls():
    metrics = recorded_metrics(paper.__file__)
    for kind in ("lstm", "rnn"):
        assert metrics[f"test_bpc_{kind}"]["max"] < metrics["test_bpc_bigram"] - 1.0
    assert abs(metrics["parameters"]["rnn"] / metrics["parameters"]["lstm"] - 1) < 0.01
    gap = metrics["test_bpc_rnn_minus_lstm"]
    assert gap["min"] < 0 < gap["max"] and max(-gap["min"], gap["max"]) < 0.05
    assert metrics["tuning_chars"] + metrics["test_chars"] == metrics["chars"] - metrics["train_chars"]
    trained, untrained = metrics["name_line_correlation_trained"], metrics["name_line_correlation_untrained"]
    assert trained["min"] > metrics["line_position_correlation_trained"]["max"]
    assert trained["min"] > untrained["max"]


# The page quotes the recorded numbers: every arm's mean and range over seeds, the baselines, the widths and the
# parameter counts.
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for key in ("test_bpc_lstm", "test_bpc_rnn", "line_position_correlation_trained",
                "line_position_correlation_untrained", "name_line_correlation_trained"):
        stats = metrics[key]
        assert quoted_on_page(paper.__file__, f"{stats['mean']:.2f}"), key
        assert quoted_on_page(paper.__file__, f"({stats['min']:.2f} to {stats['max']:.2f})"), key
    gap = metrics["test_bpc_rnn_minus_lstm"]
    assert quoted_on_page(paper.__file__, f"{gap['mean']:.3f} bits on average")
    assert quoted_on_page(paper.__file__, f"({gap['min']:.3f} to {gap['max']:.3f})")
    for key in ("test_bpc_bigram", "test_bpc_unigram", "uniform_bpc"):
        assert quoted_on_page(paper.__file__, f"{metrics[key]:.2f}"), key
    assert quoted_on_page(paper.__file__, f"{metrics['name_line_correlation_untrained']['mean']:.2f} in the untrained")
    widths, counts = metrics["hidden_size"], metrics["parameters"]
    assert quoted_on_page(paper.__file__, f"LSTM of {widths['lstm']} units and a vanilla RNN of {widths['rnn']} units")
    assert quoted_on_page(paper.__file__, f"({counts['lstm']:,} and {counts['rnn']:,}; an RNN of {widths['lstm']} "
                                          f"units would have {metrics['parameters_rnn_at_lstm_width']:,})")


def test_bad_input_is_refused():
    rnn = RNN(INPUT, HIDDEN, LAYERS)
    with pytest.raises(ValueError, match=r"x must have shape \[batch, seq, 5\]"):
        rnn(torch.randn(BATCH, SEQ, INPUT + 1))
    with pytest.raises(TypeError, match="x must have dtype torch.float32, got torch.int64"):
        rnn(torch.ones(BATCH, SEQ, INPUT, dtype=torch.long))
    with pytest.raises(ValueError, match=r"h must have shape \[2, batch=\d+, \d+\]"):
        rnn(torch.randn(BATCH, SEQ, INPUT), torch.zeros(1, BATCH, HIDDEN))
    with pytest.raises(ValueError, match="num_layers"):
        RNN(INPUT, HIDDEN, 0)
    with pytest.raises(ValueError, match="input_size must be a positive integer, got 0"):
        RNNCell(0, HIDDEN)
    with pytest.raises(ValueError, match="kind"):
        CharModel(10, 8, "gru")
    with pytest.raises(TypeError, match="tokens"):
        CharModel(10, 8)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.zeros(1, 4), -1.0, torch.Generator())
    with pytest.raises(ValueError, match="logits"):
        sample_next(torch.zeros(4), 1.0, torch.Generator())
    corpus = CharCorpus.from_text(TEXT)
    with pytest.raises(ValueError, match="prime"):
        generate(CharModel(corpus.vocab_size, 8), corpus, "", 5, 1.0, torch.Generator())
