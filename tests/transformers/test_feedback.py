"""Tests for papers/transformers/feedback.py: the step-by-step Feedback Transformer against a loop written from
the paper's equations and against labml-nn's module, causality, the standard model's limited reach, the
state-tracking claim in miniature, the recorded run and bad input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from papers.kit.experiment import quoted_on_page, recorded_metrics, seed_everything
from papers.transformers import feedback as paper
from papers.transformers.feedback import (FeedbackTransformer, SpanBlock, StandardTransformer, build,
                                          cycle_walks)


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


def small(model_class: type, span: int = 3, **switches: bool) -> torch.nn.Module:
    model = model_class(3, 5, d_model=8, heads=2, d_ff=16, layers=2, span=span, **switches).double()
    with torch.no_grad():  # make the position tables and the layer mix matter
        for block in model.blocks:
            block.attention.key_table.normal_()
            block.attention.value_table.normal_()
        if isinstance(model, FeedbackTransformer):
            model.layer_weights.normal_()
    return model


# ## The equations, written out
#
# A loop over steps and layers from the page's equations, sharing only the parameters with the module:
# layer norms by `F.layer_norm`, Shaw's relative attention per head by hand (scores
# $q \cdot (k_\tau + w^K_{\tau - t}) / \sqrt{d_k}$, output $\sum_\tau \alpha_\tau (v_\tau + w^V_{\tau - t})$), the
# memory $m_t = \sum_l \mathrm{softmax}(a)_l x_t^l$ over the last `span` steps.
def norm(module: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], module.weight, module.bias, module.eps)


def attention_by_hand(block: SpanBlock, query: torch.Tensor, context: torch.Tensor,
                      offsets: list[int]) -> torch.Tensor:
    attention = block.attention
    heads, d_k, span = attention.heads, attention.d_k, attention.max_distance
    q = (query @ attention.w_q.weight.T + attention.w_q.bias).view(heads, d_k)
    outputs = []
    for head in range(heads):
        part = slice(head * d_k, (head + 1) * d_k)
        scores, values = [], []
        for key_input, offset in zip(context, offsets):
            k = key_input @ attention.w_k.weight[part].T + attention.w_k.bias[part]
            v = key_input @ attention.w_v.weight[part].T + attention.w_v.bias[part]
            scores.append(q[head] @ (k + attention.key_table[offset + span]) / math.sqrt(d_k))
            values.append(v + attention.value_table[offset + span])
        weights = torch.stack(scores).softmax(dim=0)
        outputs.append(sum(w * v for w, v in zip(weights, values)))
    return torch.cat(outputs) @ attention.w_o.weight.T + attention.w_o.bias


def feedback_by_equations(model: FeedbackTransformer, tokens: torch.Tensor) -> torch.Tensor:
    mix = model.layer_weights.softmax(dim=0)
    logits = torch.zeros(*tokens.shape, model.head.out_features, dtype=torch.float64)
    for b in range(tokens.shape[0]):
        memory: list[torch.Tensor] = []
        for t in range(tokens.shape[1]):
            x = model.embedding.weight[tokens[b, t]]
            states = [x]
            past = list(range(max(0, t - model.span), t))
            for block in model.blocks:
                query = norm(block.attention_norm, x)
                context = [norm(block.attention_norm, memory[tau]) if model.normalise_memory else memory[tau]
                           for tau in past]
                offsets = [tau - t for tau in past]
                if model.attend_current:
                    context, offsets = context + [query], offsets + [0]
                if context:
                    x = x + attention_by_hand(block, query, context, offsets)
                hidden = F.relu(norm(block.feed_forward_norm, x) @ block.feed_forward.layer1.weight.T
                                + block.feed_forward.layer1.bias)
                x = x + hidden @ block.feed_forward.layer2.weight.T + block.feed_forward.layer2.bias
                states.append(x)
            memory.append(sum(w * s for w, s in zip(mix, states)))
            logits[b, t] = model.head(norm(model.final_norm, x))
    return logits


@pytest.mark.parametrize("switches", [{}, {"attend_current": False}, {"normalise_memory": False}])
def test_feedback_equals_the_equations_in_float64(switches: dict[str, bool]) -> None:
    model = small(FeedbackTransformer, **switches)
    tokens = torch.randint(3, (2, 9))
    torch.testing.assert_close(model(tokens), feedback_by_equations(model, tokens), rtol=1e-10, atol=1e-10)


# ## Against labml-nn
#
# labml-nn's `FeedbackTransformer` (the first, unshared-keys version) attends to past memories only, skips
# attention at step 0, projects the raw memory (query and key without bias, value with bias), has no span
# limit, and adds its own relative-position terms, all started at zero. Ours with `attend_current=False`,
# `normalise_memory=False`, a span as long as the input, zeroed Shaw tables and zeroed query and key biases
# is the same function of the embeddings. labml-nn takes `[seq, batch, d_model]`, we take `[batch, seq, ...]`.
def test_matches_labml_feedback_transformer() -> None:
    labml = pytest.importorskip("labml_nn.transformers.feedback")
    feed_forward = pytest.importorskip("labml_nn.transformers.feed_forward")
    ours = small(FeedbackTransformer, span=12, attend_current=False, normalise_memory=False)
    layer = labml.FeedbackTransformerLayer(d_model=8, attn=labml.FeedbackAttention(2, 8, 0.0),
                                           feed_forward=feed_forward.FeedForward(8, 16, 0.0), dropout_prob=0.0)
    theirs = labml.FeedbackTransformer(layer, 2).double()
    with torch.no_grad():
        for mine, their in zip(ours.blocks, theirs.layers):
            attention = mine.attention
            attention.key_table.zero_()
            attention.value_table.zero_()
            attention.w_q.bias.zero_()
            attention.w_k.bias.zero_()
            their.attn.query.linear.weight.copy_(attention.w_q.weight)
            their.attn.key.linear.weight.copy_(attention.w_k.weight)
            their.attn.value.linear.load_state_dict(attention.w_v.state_dict())
            their.attn.output.load_state_dict(attention.w_o.state_dict())
            their.norm_self_attn.load_state_dict(mine.attention_norm.state_dict())
            their.norm_ff.load_state_dict(mine.feed_forward_norm.state_dict())
            their.feed_forward.layer1.load_state_dict(mine.feed_forward.layer1.state_dict())
            their.feed_forward.layer2.load_state_dict(mine.feed_forward.layer2.state_dict())
        theirs.weights.copy_(ours.layer_weights)
        theirs.norm.load_state_dict(ours.final_norm.state_dict())
    x = torch.randn(3, 12, 8, dtype=torch.float64)
    torch.testing.assert_close(ours.encode(x), theirs(x.transpose(0, 1)).transpose(0, 1), rtol=1e-10, atol=1e-10)


# ## Causality and reach
#
# Changing a later move never changes an earlier output, in either model.
@pytest.mark.parametrize("model_class", [FeedbackTransformer, StandardTransformer])
def test_causal(model_class: type) -> None:
    model = small(model_class)
    tokens = torch.randint(3, (2, 14))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 3
    torch.testing.assert_close(model(tokens)[:, :8], model(changed)[:, :8], rtol=0, atol=0)
    assert (model(tokens)[:, 8:] - model(changed)[:, 8:]).abs().max() > 1e-3


# The standard model's handicap, exactly: with $N$ layers of span $w$, the output at step $t$ cannot depend on
# a move more than $N w$ steps back. The feedback model's can, through its chain of memories.
def test_standard_reach_is_layers_times_span_feedback_unbounded() -> None:
    tokens = torch.randint(3, (2, 14))
    changed = tokens.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 3
    standard, feedback = small(StandardTransformer), small(FeedbackTransformer)
    reach = 2 * standard.span  # 2 layers
    difference = (standard(tokens) - standard(changed)).abs().amax(dim=(0, 2))  # [seq]
    assert difference[reach] > 1e-6 and difference[reach + 1:].max() == 0
    assert (feedback(tokens) - feedback(changed)).abs().amax(dim=(0, 2))[-1] > 1e-6


# The task's targets by brute force: walk the cycle one move at a time.
def test_cycle_walk_targets() -> None:
    moves, positions = cycle_walks(4, 20, 5, torch.Generator().manual_seed(0))
    for walk, targets in zip(moves.tolist(), positions.tolist()):
        position = 0
        for move, target in zip(walk, targets):
            position = (position + move - 1) % 5
            assert target == position


# ## The claim in miniature
#
# The page's task and feedback model (walks of 16 on the cycle of 3, span 4, batches of 128) at rate 0.003
# for CLAIM_STEPS Adam steps instead of 300; accuracy on 512 fresh walks of 16 at the steps beyond the standard
# model's reach (steps 9 to 15, counting from 0). There a span-4 standard model is at chance, 1/3, whatever its
# training: its outputs do not depend on the moves that decide the answer
# (`test_standard_reach_is_layers_times_span_feedback_unbounded`). The loss sits on a plateau before the model
# finds the recurrence; `escape_step` (the first step with training loss below 0.1) shows how much room the
# CLAIM_STEPS leave for a later escape on another machine.
# Calibrated with `scripts/calibrate.py` (seeds 0-2), accuracy beyond reach: 1 thread 1.000, 1.000, 0.981;
# portable kernels 1.000, 1.000, 1.000 (seeds 0-1 in an earlier calibration, seed 2 in this one, escape step
# 102 of 200); 2 threads not run (one 2-thread run of a cheaper model took 11 minutes on the loaded machine).
# The escape steps of the 1-thread runs at this rate were not recorded; the full run's feedback models, at rate
# 0.001, escaped at steps 182, 143 and 175 of 300. Threshold 0.7, far above chance (0.333) and below every
# measured value; the margin in steps before the escape is the fragile part, and it is only partly measured.
CLAIM_STEPS, CLAIM_RATE, THRESHOLD = 200, 0.003, 0.7


def claim_metrics(seed: int) -> dict[str, float]:
    reach = paper.SIZE["layers"] * paper.SPAN
    model, losses = paper.train("feedback", CLAIM_RATE, CLAIM_STEPS, seed)
    escape = paper.escape_step(losses)
    return {"feedback_beyond_reach": paper.accuracy_by_step(model, paper.TRAIN_LENGTH, seed)[reach + 1:].mean().item(),
            "escape_step": float("nan") if escape is None else float(escape)}


@pytest.mark.claim
def test_feedback_tracks_the_position_beyond_the_standard_reach() -> None:
    metrics = claim_metrics(0)
    assert metrics["feedback_beyond_reach"] > THRESHOLD, metrics


# The reference arm is not handicapped: a standard transformer whose span covers the whole walk, at rate
# 0.003 for FULL_SPAN_STEPS steps, gets well above chance at the steps a span-4 model cannot resolve (it
# learns the walk, if not perfectly). Calibrated with `scripts/calibrate.py` (seeds 0-2): 1 thread 0.621,
# 0.674, 0.836; portable kernels 0.522, 0.772, 0.883; 2 threads seed 0 only, 0.770 (seeds 1-2 were cut: one
# 2-thread run took 11 minutes on the loaded machine). Threshold 0.42: 0.09 above chance (0.333), 0.10 below
# the lowest measured value; the spread over seeds and kernels is wide, so a larger margin was not available.
FULL_SPAN_STEPS, FULL_SPAN_RATE, FULL_SPAN_THRESHOLD = 300, 0.003, 0.42


def full_span_claim_metrics(seed: int) -> dict[str, float]:
    reach = paper.SIZE["layers"] * paper.SPAN
    model, _ = paper.train("full_span", FULL_SPAN_RATE, FULL_SPAN_STEPS, seed)
    return {"full_span_beyond_reach":
            paper.accuracy_by_step(model, paper.TRAIN_LENGTH, seed)[reach + 1:].mean().item()}


@pytest.mark.claim
def test_full_span_standard_learns_the_walk_above_chance() -> None:
    metrics = full_span_claim_metrics(0)
    assert metrics["full_span_beyond_reach"] > FULL_SPAN_THRESHOLD, metrics


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="span must be a positive integer"):
        FeedbackTransformer(3, 3, d_model=8, heads=2, d_ff=16, layers=2, span=0)
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        StandardTransformer(3, 3, d_model=8, heads=2, d_ff=16, layers=0, span=2)
    with pytest.raises(ValueError, match="heads"):
        FeedbackTransformer(3, 3, d_model=8, heads=3, d_ff=16, layers=1, span=2)
    for model in (small(FeedbackTransformer), small(StandardTransformer)):
        with pytest.raises(ValueError, match=r"tokens must hold values in \[0, 3\)"):
            model(torch.tensor([[0, 1, 3]]))
        with pytest.raises(TypeError, match="tokens"):
            model(torch.zeros(1, 3))
        with pytest.raises(ValueError, match="tokens must have shape"):
            model(torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match="x must have shape"):
            model.encode(torch.zeros(1, 3, 5, dtype=torch.float64))
        with pytest.raises(TypeError, match="x"):
            model.encode(torch.zeros(1, 3, 8))
    with pytest.raises(ValueError, match="cycle must be a positive integer"):
        cycle_walks(2, 5, 0, torch.Generator())
    with pytest.raises(ValueError, match="arm must be one of"):
        build("recurrent", 0)


# ## The recorded run
#
# On the recorded full run, beyond the standard model's reach on walks of 32: the feedback model ahead of the
# span-4 standard one on every seed by a wide margin, the span-4 one near chance (1/3), and all arms got the
# same rate grid at the full number of steps.
def test_recorded_feedback_tracks_the_position() -> None:
    metrics = recorded_metrics(paper.__file__)
    feedback, standard = metrics["beyond_reach_feedback_32"], metrics["beyond_reach_standard_32"]
    for seed in feedback["per_seed"]:
        assert feedback["per_seed"][seed] > standard["per_seed"][seed] + 0.3, seed
    assert abs(standard["mean"] - 1 / 3) < 0.05
    assert all(set(metrics[f"sweep_{arm}"]) == {str(lr) for lr in paper.RATES} for arm in paper.ARMS)
    assert metrics["steps"] == 300


# The feedback step costs more at every length, in every timed round (the ratio's range, not one noisy median).
def test_recorded_slowdown_at_every_length() -> None:
    for length, timing in recorded_metrics(paper.__file__)["step_time"].items():
        assert timing["ratio_min"] > 1.5, (length, timing)


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in paper.ARMS:
        for length in (16, 32):
            for name in ("accuracy", "beyond_reach"):
                assert quoted_on_page(paper.__file__, f"{metrics[f'{name}_{arm}_{length}']['mean']:.1%}"), \
                    (name, arm, length)
    for timing in metrics["step_time"].values():
        for name in ("ratio_min", "ratio_max"):
            assert quoted_on_page(paper.__file__, f"{timing[name]:.1f}"), (timing, name)
