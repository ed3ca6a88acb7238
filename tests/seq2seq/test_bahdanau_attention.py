"""Tests for papers/seq2seq/bahdanau_attention.py: additive attention against a plain loop, the task, the
claim in miniature, the recorded run's control and quoted numbers, and bad input."""
import math

import pytest
import torch

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.kit.tasks import RESERVED
from papers.seq2seq import bahdanau_attention as paper
from papers.seq2seq.bahdanau_attention import (AdditiveAttention, Seq2Seq, experiment, source_position,
                                               translation_batch)


# e_ij = v^T tanh(W s + U h_j), alpha = softmax(e), c = sum_j alpha_j h_j, one position at a time in float64.
def test_additive_attention_equals_a_loop_over_positions():
    torch.manual_seed(0)
    attention = AdditiveAttention(5, 6, 7).double()
    query, keys = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 4, 6, dtype=torch.float64)
    mask = torch.tensor([[True] * 4, [True, False, True, True], [False, False, True, False]])
    context, weights = attention(query, keys, attention.project_keys(keys), mask)
    W, U, v = attention.W.weight.detach(), attention.U.weight.detach(), attention.v.weight[0].detach()
    for b in range(3):
        scores = [float(v @ torch.tanh(W @ query[b] + U @ keys[b, j])) if mask[b, j] else -math.inf
                  for j in range(4)]
        total = sum(math.exp(e) for e in scores)
        expected_weights = [math.exp(e) / total for e in scores]
        expected_context = sum(w * keys[b, j] for j, w in enumerate(expected_weights))
        torch.testing.assert_close(weights[b].detach(), torch.tensor(expected_weights, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(context[b].detach(), expected_context, rtol=1e-12, atol=1e-14)


def test_translation_task_maps_each_word_and_swaps_pairs():
    source, target = translation_batch(2, 5, 4, torch.Generator().manual_seed(0))
    symbol = source - RESERVED
    translated = RESERVED + 3 - symbol
    assert target.tolist() == translated[:, [1, 0, 3, 2, 4]].tolist()
    assert [source_position(i, 4) for i in range(4)] == [1, 0, 3, 2]


def test_decoder_outputs_and_alignment_shapes():
    model = Seq2Seq(RESERVED + 5, hidden=8, attention_dim=8)
    source, target = translation_batch(3, 7, 5, torch.Generator().manual_seed(0))
    assert model(source, target).shape == (3, 7, RESERVED + 5)
    words, alignment = model.translate(source)
    assert words.shape == (3, 7)
    torch.testing.assert_close(alignment.sum(-1), torch.ones(3, 7))
    assert Seq2Seq(RESERVED + 5, hidden=8, use_attention=False).translate(source)[1] is None


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics

    def mean_over_lengths(name: str) -> float:
        return sum(entry["mean"] for entry in metrics[name].values()) / len(metrics[name])

    attention, no_attention = mean_over_lengths("accuracy_attention"), mean_over_lengths("accuracy_no_attention")
    return {"attention": attention, "no_attention": no_attention, "gap": attention - no_attention}


# The claim in miniature: quick mode trains each model for 300 steps on sentences of 3 to 12 words, over
# seeds `seed` and `seed + 1`, and tests at 3, 6, 9 and 12 words. Averaged over those lengths and seeds,
# attention is far ahead.
# Measured (scripts/calibrate.py, seeds 0-2 at 1 thread, 2 threads and portable kernels, the same values in
# all three): mean word accuracy with attention 0.62-0.79, final state only 0.29-0.30, gap 0.34-0.49
# (seed 0: 0.34). Threshold 0.2, below the smallest gap with a margin of 0.14.
@pytest.mark.claim
def test_attention_beats_the_final_state_model():
    assert claim_metrics(0)["gap"] > 0.2


# The control that makes the long-sentence collapse mean something: in the recorded full run, the model
# without attention is trained well enough to translate short sentences almost perfectly (every seed), so its
# loss at 12 words is not a model that never learnt the task; whether much longer training would recover the
# long sentences is not measured (the page says so).
def test_recorded_baseline_translates_short_sentences():
    shortest = recorded_metrics(paper.__file__)["accuracy_no_attention"]["3"]
    assert shortest["min"] > 0.9


# The page quotes the recorded accuracies: both models at the shortest and the longest length, mean of seeds.
def test_page_quotes_the_recorded_accuracies():
    metrics = recorded_metrics(paper.__file__)
    for name in ("accuracy_attention", "accuracy_no_attention"):
        for length in ("3", "12"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][length]['mean']:.1%}"), (name, length)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="attention_dim must be a positive integer, got 0"):
        AdditiveAttention(4, 4, 0)
    attention = AdditiveAttention(4, 6, 5)
    keys = torch.randn(2, 3, 6)
    with pytest.raises(ValueError, match=r"keys must have shape \[batch, source_len, 6\], got \(2, 3, 5\)"):
        attention.project_keys(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"query must have shape \[batch, 4\], got \(2, 5\)"):
        attention.scores(torch.randn(2, 5), attention.project_keys(keys))
    with pytest.raises(ValueError, match=r"projected_keys must have shape .*dimension 0 \(batch\) should be 3"):
        attention.scores(torch.randn(3, 4), attention.project_keys(keys))
    with pytest.raises(TypeError, match="mask must have dtype torch.bool"):
        attention.scores(torch.randn(2, 4), attention.project_keys(keys), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \[batch=2, source_len=3\]"):
        attention.scores(torch.randn(2, 4), attention.project_keys(keys), torch.ones(2, 4, dtype=torch.bool))
    model = Seq2Seq(RESERVED + 3, hidden=4)
    with pytest.raises(TypeError, match="source must have dtype torch.int64"):
        model.translate(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="source must hold values in"):
        model.translate(torch.full((2, 3), RESERVED + 3))
    with pytest.raises(ValueError, match=r"target must have shape \[batch=2, \*\] \(2 dimensions\)"):
        model(torch.full((2, 3), RESERVED), torch.full((2,), RESERVED))
    with pytest.raises(ValueError, match=r"target must have shape .*dimension 0 \(batch\) should be 2"):
        model(torch.full((2, 3), RESERVED), torch.full((3, 3), RESERVED))
