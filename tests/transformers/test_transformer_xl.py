r"""Tests for papers/transformers/transformer_xl.py: segments read with the cached memory give exactly the
plain causal forward over the concatenated text, the four-term score against a loop over $(i, j)$, the
attention against labml-nn's Transformer-XL attention with copied weights, how far back two layers reach,
the stop-gradient, bad input, the claim in miniature and the recorded run."""
from __future__ import annotations

import math

import pytest
import torch
from labml_nn.transformers.xl.relative_mha import RelativeMultiHeadAttention

from papers.kit.char_transformer import LMSettings
from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.transformers import transformer_xl as paper
from papers.transformers.transformer_xl import RelativeXLAttention, TransformerXL, memory_causal_mask

D_MODEL, HEADS = 12, 3


def _model(layers: int = 3, pre_norm: bool = True, seed: int = 0) -> TransformerXL:
    torch.manual_seed(seed)
    settings = LMSettings(d_model=D_MODEL, heads=HEADS, layers=layers, d_ff=24, seq_len=6, pre_norm=pre_norm,
                          positions="none")
    model = TransformerXL(20, settings).double()
    with torch.no_grad():  # u, v start at zero: make them count
        for module in model.modules():
            if isinstance(module, RelativeXLAttention):
                module.u.normal_()
                module.v.normal_()
    return model.eval()


def _attention(seed: int = 0, bias: bool = True) -> RelativeXLAttention:
    torch.manual_seed(seed)
    attention = RelativeXLAttention(D_MODEL, HEADS, bias=bias).double()
    with torch.no_grad():
        attention.u.normal_()
        attention.v.normal_()
    return attention


# ## Memory equals the concatenated forward
#
# Why it holds at every layer, by induction on the layer: the inputs of layer 1 are the embeddings, the same
# either way. If layer $n - 1$'s states at the first segment's positions are the same in both computations,
# then layer $n$'s keys and values at those positions are too, because in a causal model the first segment's
# states never depend on the second segment: the cached memory *is* what the long forward computes there.
# Distances $i - j$ are the same in both (the queries are the last positions of the keys), so the scores,
# and layer $n$'s states at the second segment, agree. This needs the memory to hold the whole first
# segment ($M \ge L$); with $M \ge 2L$ it extends to three segments. Post-norm as well as pre-norm. The
# layers themselves are checked, not only the logits: the memory returned after the second segment must equal
# the last $\min(M, 2L)$ of each layer's inputs in the long forward (read with forward pre-hooks).
@pytest.mark.parametrize("pre_norm", [True, False])
@pytest.mark.parametrize("memory_length", [6, 7, 12])
def test_two_segments_with_memory_equal_the_concatenated_forward(pre_norm, memory_length):
    model = _model(pre_norm=pre_norm)
    tokens = torch.randint(0, 20, (2, 12), generator=torch.Generator().manual_seed(1))
    layer_inputs: list[torch.Tensor] = []
    hooks = [block.register_forward_pre_hook(lambda _, args: layer_inputs.append(args[0])) for block in model.blocks]
    full = model(tokens)  # [2, 12, vocab]; layer_inputs: one [2, 12, d_model] per layer
    for hook in hooks:
        hook.remove()
    first, memory = model.segment(tokens[:, :6], None, memory_length)
    second, memory = model.segment(tokens[:, 6:], memory, memory_length)
    torch.testing.assert_close(first, full[:, :6], rtol=0, atol=1e-10)
    torch.testing.assert_close(second, full[:, 6:], rtol=0, atol=1e-10)
    assert len(memory) == len(layer_inputs) == 3
    for remembered, inputs in zip(memory, layer_inputs):
        torch.testing.assert_close(remembered, inputs[:, 12 - min(memory_length, 12):], rtol=0, atol=1e-10)


def test_three_segments_with_a_memory_of_two_equal_the_concatenated_forward():
    model = _model()
    tokens = torch.randint(0, 20, (2, 18), generator=torch.Generator().manual_seed(2))
    full, memory, outputs = model(tokens), None, []
    for start in (0, 6, 12):
        logits, memory = model.segment(tokens[:, start:start + 6], memory, 12)
        outputs.append(logits)
    torch.testing.assert_close(torch.cat(outputs, dim=1), full, rtol=0, atol=1e-10)


# With $M$ shorter than what came before, the memory truncates the context, and the outputs differ from the
# long forward. But each layer's memory holds states that were themselves computed with a memory, so the
# context grows by up to $M$ per layer (the paper's $O(N \times L)$ dependency, Section 3.2): with $M = L$
# and two layers, the third segment's outputs depend on the first segment, which no layer's memory holds
# any more; with one layer they cannot.
@pytest.mark.parametrize("layers, depends", [(1, False), (2, True)])
def test_context_reaches_one_memory_further_per_layer(layers, depends):
    model = _model(layers=layers)
    tokens = torch.randint(0, 20, (1, 18), generator=torch.Generator().manual_seed(3))
    changed = tokens.clone()
    changed[:, :6] = (changed[:, :6] + 1) % 20  # a different first segment

    def third_segment(x: torch.Tensor) -> torch.Tensor:
        memory = None
        for start in (0, 6, 12):
            logits, memory = model.segment(x[:, start:start + 6], memory, 6)
        return logits

    difference = (third_segment(tokens) - third_segment(changed)).abs().max().item()
    assert (difference > 1e-6) == depends, difference
    assert not torch.allclose(third_segment(tokens), model(tokens)[:, 12:])  # truncated: not the long forward


# How far back, exactly, with two layers and a memory shorter than a segment ($M \le L$): position $i$ of a
# segment reads layer 2's memory, $M$ positions back; the earliest of them sat at position $L - M$ of its own
# segment and, at layer 1, read its segment from the start and layer 1's memory before it, $L$ positions in
# all. So position $i$ depends on characters up to $i + M + L$ back, not $i + 2M$ (what the page quotes for
# the experiment: 79 for the last position at $M = 16$, $L = 32$). Checked here by changing one character at
# a time, at $L = 6$: $M = 3$ gives 14 for the last position, $M = 6$ gives 17.
@pytest.mark.parametrize("memory_length", [3, 6])
def test_two_layers_reach_i_plus_m_plus_l_back(memory_length):
    model, length, segments = _model(layers=2), 6, 5
    tokens = torch.randint(0, 20, (1, length * segments), generator=torch.Generator().manual_seed(13))

    def last_logits(x: torch.Tensor) -> torch.Tensor:
        memory = None
        for start in range(0, x.shape[1], length):
            logits, memory = model.segment(x[:, start:start + length], memory, memory_length)
        return logits[0, -1]

    def depends_on(position: int) -> bool:
        changed = tokens.clone()
        changed[0, position] = (changed[0, position] + 1) % 20
        return (last_logits(changed) - last_logits(tokens)).abs().max().item() > 1e-9

    last = length * segments - 1
    reach = max(last - p for p in range(last + 1) if depends_on(p))
    assert reach == (length - 1) + memory_length + length


# The memory is the last `memory_length` of each layer's inputs (or all of them while there are fewer), and
# a memory length of 0 reads every segment on its own.
def test_memory_keeps_the_last_states_of_each_layer():
    model = _model(layers=2)
    tokens = torch.randint(0, 20, (2, 6), generator=torch.Generator().manual_seed(4))
    _, memory = model.segment(tokens, None, 4)
    assert [tuple(m.shape) for m in memory] == [(2, 4, D_MODEL)] * 2
    torch.testing.assert_close(memory[0], model.embedding(tokens)[:, 2:])
    _, memory = model.segment(tokens, None, 10)
    assert memory[0].shape[1] == 6
    alone = model.segment(tokens, model.segment(tokens, None, 0)[1], 0)[0]
    torch.testing.assert_close(alone, model(tokens), rtol=0, atol=0)


# ## The four terms, one pair at a time
#
# $A_{ij} = q_i^\top k_j + q_i^\top W_{k,R} R_{i-j} + u^\top k_j + v^\top W_{k,R} R_{i-j}$ per head, with
# the queries the last `q_len` of the `k_len` positions and $R_d$ built here from `math.sin` and `math.cos`
# at the distance $d$ (the paper's sinusoid, rounded to `float32` as the project's table of sinusoids is
# stored). Negative distances (no causal mask) included.
def loop_scores(attention: RelativeXLAttention, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    q_len, k_len, d, d_k = x.shape[1], context.shape[1], attention.d_model, attention.d_k
    q, k = attention.w_q(x)[0], attention.w_k(context)[0]  # [q_len, d_model], [k_len, d_model]
    scores = torch.empty(attention.heads, q_len, k_len, dtype=torch.float64)
    for h in range(attention.heads):
        part = slice(h * d_k, (h + 1) * d_k)
        for i in range(q_len):
            for j in range(k_len):
                distance = k_len - q_len + i - j
                r = torch.tensor([math.sin(distance / 10000 ** (2 * (m // 2) / d)) if m % 2 == 0 else
                                  math.cos(distance / 10000 ** (2 * (m // 2) / d)) for m in range(d)],
                                 dtype=torch.float32).double()  # the project's table is stored in float32
                wr = attention.w_kr(r)[part]
                terms = (q[i, part] @ k[j, part], q[i, part] @ wr, attention.u[h] @ k[j, part], attention.v[h] @ wr)
                scores[h, i, j] = sum(terms) / math.sqrt(d_k)
    return scores


@pytest.mark.parametrize("q_len, k_len", [(4, 4), (3, 7)])
def test_four_term_score_matches_a_loop(q_len, k_len):
    attention = _attention()
    generator = torch.Generator().manual_seed(5)
    context = torch.randn(1, k_len, D_MODEL, dtype=torch.float64, generator=generator)
    x = context[:, -q_len:]
    q = attention._split_heads(attention.w_q(x))  # pylint: disable=protected-access
    k = attention._split_heads(attention.w_k(context))  # pylint: disable=protected-access
    torch.testing.assert_close(attention.scores(q, k)[0], loop_scores(attention, x, context), rtol=0, atol=1e-10)


# The whole attention, masked softmax and values included, against the loop's scores.
def test_attention_output_matches_the_loop():
    attention = _attention()
    context = torch.randn(2, 7, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    x, mask = context[:, -3:], memory_causal_mask(3, 4)
    out = attention(x, context, context, mask)
    for b in range(2):
        scores = loop_scores(attention, x[b:b + 1], context[b:b + 1]).masked_fill(~mask, -math.inf)
        heads = scores.softmax(-1) @ attention.w_v(context[b]).view(7, HEADS, -1).transpose(0, 1)
        torch.testing.assert_close(out[b], attention.w_o(heads.transpose(0, 1).reshape(3, D_MODEL)),
                                   rtol=0, atol=1e-10)


# ## Against labml-nn
#
# labml-nn's `RelativeMultiHeadAttention` (`labml_nn/transformers/xl/relative_mha.py`) has the same four
# terms in another parametrisation: a *learned* vector per distance and head in place of $W_{k,R} R_{i-j}$
# (`key_pos_embeddings`, `[2P, heads, d_k]`, row $P - d$ for distance $d$), a learned scalar per distance
# and head in place of term (d) (`key_pos_bias`, `[2P, heads]`), and $u$ (`query_pos_bias`,
# `[heads, d_k]`); its relative shift pads a column and reshapes. Its query and key projections have no
# bias, its value and output projections do; it takes `[seq, batch, d_model]` and a mask `[q, k, batch]`.
# Copying our weights into it (zero biases on our $W_q, W_k$), with its tables filled from our
# $W_{k,R} R_d$ and $v^\top W_{k,R} R_d$, must give our output.
def test_matches_labml_relative_attention():
    attention = _attention()
    with torch.no_grad():
        attention.w_q.bias.zero_()
        attention.w_k.bias.zero_()
    q_len, k_len, d_k = 4, 9, D_MODEL // HEADS
    theirs = RelativeMultiHeadAttention(HEADS, D_MODEL, dropout_prob=0.0).double().eval()
    table = paper.relative_encodings(q_len, k_len, D_MODEL).double()  # distances -(q_len - 1) .. k_len - 1
    r = attention.w_kr(table).view(-1, HEADS, d_k)  # [q + k - 1, heads, d_k]
    rows = theirs.P - torch.arange(-(q_len - 1), k_len)  # row P - d for distance d
    with torch.no_grad():
        for mine, their in ((attention.w_q, theirs.query.linear), (attention.w_k, theirs.key.linear),
                            (attention.w_v, theirs.value.linear), (attention.w_o, theirs.output)):
            their.weight.copy_(mine.weight)
            if their.bias is not None:
                their.bias.copy_(mine.bias)
        theirs.key_pos_embeddings[rows] = r
        theirs.key_pos_bias[rows] = (r * attention.v).sum(-1)
        theirs.query_pos_bias.copy_(attention.u)
    context = torch.randn(2, k_len, D_MODEL, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    x, mask = context[:, -q_len:], memory_causal_mask(q_len, k_len - q_len)
    expected = theirs(query=x.transpose(0, 1), key=context.transpose(0, 1), value=context.transpose(0, 1),
                      mask=mask[0, :, :, None]).transpose(0, 1)
    torch.testing.assert_close(attention(x, context, context, mask), expected, rtol=0, atol=1e-10)


# ## The stop-gradient
#
# The memory gets no gradient, and the memory a segment returns is detached.
def test_no_gradient_flows_into_the_memory():
    model = _model(layers=2).train()
    tokens = torch.randint(0, 20, (2, 6), generator=torch.Generator().manual_seed(8))
    memory = [torch.randn(2, 6, D_MODEL, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    logits, new_memory = model.segment(tokens, memory, 6)
    logits.sum().backward()
    assert all(m.grad is None for m in memory)
    assert not any(m.requires_grad for m in new_memory)
    assert model.blocks[1].attention_norm.weight.grad is not None


# Stopping the gradient at the memory must not stop it at the weights applied to the memory (the layer norm
# and the key and value projections of the current segment): with the memory held fixed, autograd's
# gradients with respect to those weights match central finite differences.
def test_weight_gradients_with_a_fixed_memory_match_finite_differences():
    model = _model(layers=2)
    tokens = torch.randint(0, 20, (1, 3), generator=torch.Generator().manual_seed(9))
    memory = [torch.randn(1, 4, D_MODEL, dtype=torch.float64) for _ in range(2)]
    probe = torch.randn(1, 3, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(10))

    def loss() -> torch.Tensor:
        return (model.segment(tokens, memory, 4)[0] * probe).sum()

    block = model.blocks[1]
    weights = [block.attention_norm.weight, block.attention_norm.bias, block.attention.w_k.weight,
               block.attention.w_v.weight, block.attention.w_kr.weight, block.attention.v, block.attention.u]
    grads = torch.autograd.grad(loss(), weights)
    for weight, grad in zip(weights, grads):
        flat, flat_grad = weight.data.view(-1), grad.reshape(-1)
        for index in (0, flat.numel() // 2, flat.numel() - 1):
            saved = flat[index].item()
            flat[index] = saved + 1e-6
            up = loss().item()
            flat[index] = saved - 1e-6
            down = loss().item()
            flat[index] = saved
            assert flat_grad[index].item() == pytest.approx((up - down) / 2e-6, abs=1e-6)


# ## Bad input
def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="positions='none'"):
        TransformerXL(20, LMSettings(positions="learned"))
    with pytest.raises(ValueError, match="d_model must be even"):
        RelativeXLAttention(9, 3)
    with pytest.raises(ValueError, match="q_len"):
        paper.relative_encodings(0, 4, D_MODEL)
    model = _model(layers=2)
    tokens = torch.randint(0, 20, (2, 6))
    memory = [torch.zeros(2, 4, D_MODEL, dtype=torch.float64)] * 2
    with pytest.raises(ValueError, match="memory_length"):
        model.segment(tokens, None, -1)
    with pytest.raises(ValueError, match="memory_length"):
        model.segment(tokens, None, 2.0)
    with pytest.raises(ValueError, match="one tensor per layer"):
        model.segment(tokens, memory[:1], 4)
    with pytest.raises(ValueError, match=r"memory\[1\]"):
        model.segment(tokens, [memory[0], torch.zeros(3, 4, D_MODEL, dtype=torch.float64)], 4)
    with pytest.raises(ValueError, match=r"memory\[0\]"):
        model.segment(tokens, [torch.zeros(2, 4, D_MODEL + 1, dtype=torch.float64)] * 2, 4)
    with pytest.raises(TypeError, match=r"memory\[0\]"):
        model.segment(tokens, [torch.zeros(2, 4, D_MODEL)] * 2, 4)
    with pytest.raises(TypeError, match="tokens"):
        model.segment(tokens.double(), None, 4)


# ## What the experiment reads off a profile
def test_summary_and_effective_memory():
    profile = torch.arange(32.0)  # 4 segments of 8
    summary = paper.summarise(profile, 8)
    assert summary["late"] == pytest.approx(profile[16:].mean().item())
    assert summary["by_segment"] == pytest.approx([3.5, 11.5, 19.5, 27.5])
    assert summary["in_segment"] == pytest.approx([20.0 + i for i in range(8)])
    assert paper.effective_memory({0.0: 2.5, 0.5: 1.99, 1.0: 1.985, 2.0: 1.98}, 32) == 16
    assert paper.effective_memory({0.0: 2.5, 0.5: 2.2, 1.0: 1.985, 2.0: 1.98}, 32) == 32


# Segment-by-segment evaluation with a memory that holds everything equals the plain forward over the whole
# window (the same identity as above, through the experiment's own function).
def test_loss_by_position_with_full_memory_is_the_whole_window_loss():
    model = _model(layers=2)
    inputs = torch.randint(0, 20, (3, 18), generator=torch.Generator().manual_seed(11))
    targets = torch.randint(0, 20, (3, 18), generator=torch.Generator().manual_seed(12))
    whole = torch.nn.functional.cross_entropy(model(inputs).transpose(1, 2), targets, reduction="none").mean(0)
    torch.testing.assert_close(paper.loss_by_position(model, (inputs, targets), 6, 12), whole, rtol=0, atol=1e-10)


def test_experiment_runs_end_to_end(monkeypatch):
    monkeypatch.setattr(paper, "LEARNING_RATES", (1e-2,))
    outcome = paper.experiment(RunConfig(quick=True, steps=1))
    expected = {"xl_m0_late", "xl_m16_late", "xl_gain", "no_memory_m0_late", "xl_effective_memory"}
    assert expected <= set(outcome.metrics)
    assert "" in outcome.figures


# ## The claim in miniature
#
# The quick settings (32 wide, 2 layers, segments of $L = 16$, trained 150 steps on windows of 4 segments with
# a memory of $L$, Adam at 0.003): on held-out windows of 8 segments, the loss in segments 5 to 8 read
# without memory minus the loss read with a memory of $L$, same model. Trained, so calibrated with
# `scripts/calibrate.py tests/transformers/test_transformer_xl.py:claim_metrics --seeds 0 1 2`, all nine runs
# (seeds 0, 1, 2): `gain` (late loss without minus with memory) 1 thread 0.025, 0.071, 0.014; 2 threads 0.026,
# 0.071, 0.012; portable kernels 0.024, 0.067, 0.015. `start_gain` (the same at the first quarter of each
# segment's positions) 1 thread 0.079, 0.245, 0.068; 2 threads 0.083, 0.248, 0.062; portable kernels 0.081,
# 0.238, 0.065. Seed 2 is the weak seed under every setting. Thresholds at half the smallest measured value:
# `gain` > 0.006 (smallest 0.0122, margin 0.006 nats) and `start_gain` > 0.03 (smallest 0.062, margin 0.032).
def claim_metrics(seed: int) -> dict[str, float]:
    settings = paper.settings_for(RunConfig(seed=seed, quick=True))
    model = paper.train_arm("xl", settings, 3e-3, seed)
    profiles = paper.measure(model, settings, (0.0, 1.0))
    summary = {f: paper.summarise(p, settings.seq_len) for f, p in profiles.items()}
    start = {f: sum(s["in_segment"][:settings.seq_len // 4]) / (settings.seq_len // 4) for f, s in summary.items()}
    return {"without": summary[0.0]["late"], "with": summary[1.0]["late"],
            "gain": summary[0.0]["late"] - summary[1.0]["late"], "start_gain": start[0.0] - start[1.0]}


@pytest.mark.claim
def test_memory_lowers_the_loss_in_miniature():
    metrics = claim_metrics(0)
    assert metrics["gain"] > 0.006, metrics
    assert metrics["start_gain"] > 0.03, metrics


# ## The recorded run
def test_recorded_run_as_the_page_describes_it():
    metrics = recorded_metrics(paper.__file__)
    length = metrics["segment_length"]
    assert len(metrics["seeds"]) >= 3
    assert metrics["memory_lengths"] == [0, length // 2, length, 2 * length, 4 * length]
    # the same trained model reads the held-out text with a lower loss with a memory of L than without, on
    # every seed
    assert metrics["xl_gain"]["min"] > 0.02
    # without memory the first positions of a segment are context-starved; with a memory of L they are not
    starved = metrics["xl_m0_in_segment"]
    remembered = metrics[f"xl_m{length}_in_segment"]
    assert starved[0] - remembered[0] > 0.5
    # the first segment of a window has no memory whatever M is: the same loss for every M
    firsts = [metrics[f"xl_m{m}_by_segment"][0] for m in metrics["memory_lengths"]]
    assert max(firsts) - min(firsts) < 1e-6


def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for arm in ("xl", "no_memory"):
        for m in metrics["memory_lengths"]:
            assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_m{m}_late']['mean']:.3f}"), (arm, m)
        for rate, loss in metrics[f"{arm}_sweep"].items():
            assert quoted_on_page(paper.__file__, f"{loss:.3f}"), (arm, rate)
    for key in ("xl_gain", "xl_gain_4l", "xl_vs_no_memory", "no_memory_gain"):
        assert quoted_on_page(paper.__file__, f"{metrics[key]['mean']:.3f}"), key
        assert quoted_on_page(paper.__file__, f"{metrics[key]['min']:.3f} to {metrics[key]['max']:.3f}"), key


# Per-seed loss differences between memory lengths, from the recorded per-seed late losses (4 decimals):
# `later - earlier` for each seed, in seed order.
def _steps(metrics: dict, arm: str, earlier: int, later: int) -> list[float]:
    before, after = metrics[f"{arm}_m{earlier}_late"]["per_seed"], metrics[f"{arm}_m{later}_late"]["per_seed"]
    return [after[s] - before[s] for s in sorted(before, key=int)]


# The effective memory the page quotes: the smallest $M$ on the grid whose late loss is within `fraction` of
# the seed's gain (loss at $M = 0$ minus the best on the grid) of the best. Computed here from the recorded
# per-seed losses because the recorded `*_effective_memory` uses 1% of the loss, which the page explains is
# too loose.
def _effective_memory_by_gain(metrics: dict, arm: str, fraction: float) -> list[int]:
    seeds = sorted(metrics[f"{arm}_m0_late"]["per_seed"], key=int)
    result = []
    for seed in seeds:
        late = {m: metrics[f"{arm}_m{m}_late"]["per_seed"][seed] for m in metrics["memory_lengths"]}
        best = min(late.values())
        result.append(min(m for m, loss in late.items() if loss - best <= fraction * (late[0] - best)))
    return result


def test_recorded_run_effective_memory_with_a_tolerance_relative_to_the_gain():
    metrics = recorded_metrics(paper.__file__)
    length = metrics["segment_length"]
    # the model trained with M = L still gains from 16 to 32 on every seed, and nothing beyond
    assert all(d < -0.001 for d in _steps(metrics, "xl", length // 2, length))
    assert all(abs(d) < 0.0015 for d in _steps(metrics, "xl", length, 2 * length) + _steps(metrics, "xl", 2 * length,
                                                                                              4 * length))
    assert _effective_memory_by_gain(metrics, "xl", 0.03) == [length] * 3
    assert _effective_memory_by_gain(metrics, "no_memory", 0.03) == [length // 2] * 3
    assert _effective_memory_by_gain(metrics, "xl", 0.05)[1] == length // 2  # the page's caveat on the threshold
    # the recorded 1%-of-the-loss measure, which the page says is too loose
    assert metrics["xl_effective_memory"]["max"] == metrics["no_memory_effective_memory"]["max"] == length // 2


# Beyond the training memory M = L the model trained without memory gets worse on every seed; the one trained
# with memory does not move by more than 0.002.
def test_recorded_run_longer_memories_hurt_only_the_model_trained_without():
    metrics = recorded_metrics(paper.__file__)
    length = metrics["segment_length"]
    without, with_memory = _steps(metrics, "no_memory", length, 4 * length), _steps(metrics, "xl", length, 4 * length)
    assert all(d > 0.001 for d in without), without
    assert all(abs(d) < 0.002 for d in with_memory), with_memory
    assert all(a > b for a, b in zip(without, with_memory))


def test_page_quotes_the_per_seed_differences():
    metrics = recorded_metrics(paper.__file__)
    length = metrics["segment_length"]

    def quoted(values: list[float], form: str) -> bool:
        texts = [format(v, form) for v in values]
        return quoted_on_page(paper.__file__, f"{texts[0]}, {texts[1]} and {texts[2]}") or quoted_on_page(
            paper.__file__, f"${texts[0]}$, ${texts[1]}$, ${texts[2]}$")

    assert quoted([-d for d in _steps(metrics, "xl", length // 2, length)], ".4f")
    assert quoted(_steps(metrics, "xl", length, 2 * length), "+.4f")
    assert quoted(_steps(metrics, "xl", 2 * length, 4 * length), "+.4f")
    assert quoted(_steps(metrics, "no_memory", length, 4 * length), ".4f")
    assert quoted(_steps(metrics, "xl", length, 4 * length), "+.4f")
    tie = [metrics[f"xl_m{length}_late"]["per_seed"][s] - metrics[f"no_memory_m{length}_late"]["per_seed"][s]
           for s in sorted(metrics[f"xl_m{length}_late"]["per_seed"], key=int)]
    assert quoted(tie, "+.3f")
