"""Tests for papers/transformers/fast_weights.py: the parallel, recurrent and chunked forms of linear attention
against each other and a brute-force sum, the delta rule against labml-nn's fast weights module and on
orthonormal keys, the memory growth exponents, the recall claim, the recorded run and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from papers.kit.char_transformer import Block, LMSettings, build_model
from papers.kit.experiment import quoted_on_page, recorded_metrics, seed_everything
from papers.transformers import fast_weights as paper
from papers.transformers.fast_weights import (
    KEY_COUNTS, DeltaRuleAttention, GatedSumAttention, LinearAttention, delta_rule, dpfp_feature_map,
    elu_feature_map, gated_sum, growth_exponent, linear_attention_chunked, linear_attention_parallel,
    linear_attention_recurrent, linear_chunked, memory_only_recall, recall_accuracy, recall_batch, recall_model,
    saved_bytes, softmax_attention, fused_softmax_attention, train_recall)


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


def features(*shape: int) -> torch.Tensor:
    return elu_feature_map(torch.randn(*shape, dtype=torch.float64))


# ## Linear attention: three forms, one function
#
# A brute-force sum over $j \le t$, written from the definition, position by position.
def brute_force(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(*phi_q.shape[:-1], v.shape[-1], dtype=v.dtype)
    for t in range(phi_q.shape[-2]):
        weights = (phi_q[..., t:t + 1, :] * phi_k[..., :t + 1, :]).sum(-1)  # [batch, heads, t + 1]
        out[..., t, :] = (weights[..., None] * v[..., :t + 1, :]).sum(-2) / weights.sum(-1, keepdim=True)
    return out


@pytest.mark.parametrize("chunk", [1, 4, 8, 64])
def test_parallel_recurrent_chunked_and_brute_force_agree_in_float64(chunk: int) -> None:
    phi_q, phi_k = features(2, 3, 37, 5), features(2, 3, 37, 5)
    v = torch.randn(2, 3, 37, 4, dtype=torch.float64)  # d_v differs from d_phi on purpose
    reference = brute_force(phi_q, phi_k, v)
    for result in (linear_attention_parallel(phi_q, phi_k, v), linear_attention_recurrent(phi_q, phi_k, v),
                   linear_attention_chunked(phi_q, phi_k, v, chunk)):
        torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


# The module in every form gives the same outputs and the same gradients of its weights.
def test_module_forms_agree_with_gradients() -> None:
    x = torch.randn(2, 19, 16, dtype=torch.float64)
    results = []
    for form in ("parallel", "recurrent", "chunked"):
        torch.manual_seed(1)
        module = LinearAttention(16, 4, form=form, chunk=5).double()
        out = module(x, x, x, None)
        out.square().sum().backward()
        results.append((out, module.w_q.weight.grad))
    for out, grad in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-10, atol=1e-12)


# Causality: changing the future does not change the past.
@pytest.mark.parametrize("module", [LinearAttention(16, 4, chunk=4), DeltaRuleAttention(16, 4)])
def test_causal(module: torch.nn.Module) -> None:
    module = module.double()
    x = torch.randn(1, 12, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 7:] = torch.randn(1, 5, 16, dtype=torch.float64)
    torch.testing.assert_close(module(x, x, x, None)[:, :7], module(changed, changed, changed, None)[:, :7])


# The modules plug into the shared harness's block in place of softmax attention.
def test_plugs_into_the_harness_block() -> None:
    for attention in (LinearAttention, DeltaRuleAttention):
        class FastBlock(Block):
            def __init__(self, d_model: int, heads: int, d_ff: int, pre_norm: bool = True):
                super().__init__(d_model, heads, d_ff, pre_norm)
                self.attention = attention(d_model, heads)  # pylint: disable=cell-var-from-loop

        settings = LMSettings(d_model=16, heads=2, layers=1, d_ff=32, seq_len=10, max_chars=20_000)
        model = build_model(settings, 0, block=FastBlock)
        logits = model(torch.randint(model.embedding.num_embeddings, (3, 10)))
        assert logits.shape == (3, 10, model.embedding.num_embeddings)
        assert torch.isfinite(logits).all()


# ## The delta rule
#
# With $\beta = 1$ and orthonormal keys that also sum to 1 (one-hot features), each key reads back exactly the
# last value written to it, even a key written three times; the plain sum returns the sum of its values.
def test_delta_rule_with_beta_one_overwrites_on_orthonormal_keys() -> None:
    d, n = 6, 15
    slots = torch.tensor([0, 1, 2, 1, 3, 4, 1, 5, 0, 2, 3, 3, 4, 5, 0])
    keys = F.one_hot(slots, d).double()[None, None]  # [1, 1, n, d]
    values = torch.randn(1, 1, n, 3, dtype=torch.float64)
    reads = torch.eye(d, dtype=torch.float64)[None, None]  # after the writes, query each slot
    sequence = torch.cat([keys, reads], dim=-2)
    beta = torch.cat([torch.ones(1, 1, n), torch.zeros(1, 1, d)], dim=-1).double()
    out = delta_rule(sequence, sequence, torch.cat([values, torch.zeros(1, 1, d, 3).double()], dim=-2), beta)
    last_written = torch.stack([values[0, 0, int(torch.nonzero(slots == s).max())] for s in range(d)])
    torch.testing.assert_close(out[0, 0, n:], last_written, rtol=1e-12, atol=1e-12)
    summed = torch.stack([values[0, 0, slots == s].sum(0) for s in range(d)])
    torch.testing.assert_close(keys[0, 0].T @ values[0, 0], summed)
    assert (summed - last_written).abs().max() > 0.1  # the two rules differ on repeated keys


# Against labml-nn's `FastWeightsAttention`, which implements the delta rule with sum-normalised DPFP
# features, $\beta = \sigma(W_\beta x)$ per head, projections without bias and no normaliser $z$: our module
# with `feature_map="dpfp"` and `bias=False`, weights copied (labml's output projection has a bias; it is
# zeroed). labml-nn takes `[seq, batch, d_model]`, we take `[batch, seq, d_model]`.
@pytest.mark.parametrize("nu", [1, 3])
def test_matches_labml_fast_weights(nu: int) -> None:
    fast_weights = pytest.importorskip("labml_nn.transformers.fast_weights")
    ours = DeltaRuleAttention(16, 2, feature_map="dpfp", nu=nu, bias=False).double()
    theirs = fast_weights.FastWeightsAttention(2, 16, 0.0, fast_weights.DPFP(nu)).double()
    with torch.no_grad():
        theirs.query.linear.weight.copy_(ours.w_q.weight)
        theirs.key.linear.weight.copy_(ours.w_k.weight)
        theirs.value.linear.weight.copy_(ours.w_v.weight)
        theirs.interpolation_weight[0].linear.weight.copy_(ours.w_beta.weight)
        theirs.output.weight.copy_(ours.w_o.weight)
        theirs.output.bias.zero_()
    x = torch.randn(3, 11, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(x, x, x, None), theirs(x.transpose(0, 1)).transpose(0, 1),
                               rtol=1e-12, atol=1e-12)


# The control, the gated sum, in its parallel form against its recurrence written from the definition,
# $S_t = S_{t-1} + \beta_t \phi'(k_t) v_t^\top$, $y_t = S_t^\top \phi'(q_t)$, in float64.
def test_gated_sum_matches_its_recurrence() -> None:
    phi_q, phi_k = features(2, 3, 13, 5), features(2, 3, 13, 5)
    v, beta = torch.randn(2, 3, 13, 4, dtype=torch.float64), torch.rand(2, 3, 13, dtype=torch.float64)
    state, outputs = torch.zeros(2, 3, 5, 4, dtype=torch.float64), []
    for t in range(13):
        state = state + beta[..., t, None, None] * phi_k[..., t, :, None] * v[..., t, None, :]
        outputs.append(torch.einsum("bhk,bhkv->bhv", phi_q[..., t, :], state))
    torch.testing.assert_close(gated_sum(phi_q, phi_k, v, beta), torch.stack(outputs, dim=-2),
                               rtol=1e-12, atol=1e-12)


# The gated sum differs from the delta rule only by the correction term: on one-hot keys each written once the
# memory holds nothing under a new key, the correction is zero and the two agree; the gated-sum module has
# exactly the delta-rule module's parameters, so with the same seed the same weights.
def test_gated_sum_is_the_delta_rule_without_correction() -> None:
    keys = torch.eye(6, dtype=torch.float64)[None, None]  # [1, 1, 6, 6]
    v, beta = torch.randn(1, 1, 6, 3, dtype=torch.float64), torch.rand(1, 1, 6, dtype=torch.float64)
    torch.testing.assert_close(gated_sum(keys, keys, v, beta), delta_rule(keys, keys, v, beta))
    torch.manual_seed(3)
    delta = DeltaRuleAttention(16, 2).double()
    torch.manual_seed(3)
    gated = GatedSumAttention(16, 2).double()
    for (name, ours), (_, theirs) in zip(gated.named_parameters(), delta.named_parameters()):
        torch.testing.assert_close(ours, theirs, msg=name)
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    assert (gated(x, x, x, None) - delta(x, x, x, None)).abs().max() > 1e-3  # random keys overlap


# DPFP by its definition, for $\nu = 2$: features $r_j r_{j+i}$ of $r = \mathrm{ReLU}([k, -k])$.
def test_dpfp_by_definition() -> None:
    k = torch.randn(4, dtype=torch.float64)
    r = torch.relu(torch.cat([k, -k]))
    expected = torch.tensor([r[j] * r[(j - i) % 8] for i in (1, 2) for j in range(8)], dtype=torch.float64)
    torch.testing.assert_close(dpfp_feature_map(k, 2), expected)


# The growth exponent is the least-squares slope of log value on log length over lengths from 512 on, as
# numpy's polynomial fit computes it.
def test_growth_exponent_is_the_least_squares_slope() -> None:
    lengths, values = [64, 512, 1024, 2048, 4096], [1.0, 3.0, 13.0, 40.0, 170.0]
    expected = np.polyfit(np.log(lengths[1:]), np.log(values[1:]), 1)[0]
    assert growth_exponent(lengths, values) == pytest.approx(expected, rel=1e-12)


# ## Memory against length
#
# The bytes saved for backward are deterministic (no calibration needed): when the length doubles from 512
# to 1,024 they grow by about 4 for softmax attention as the equation (its $n \times n$ weights), by 2 for the
# fused kernel and for chunked linear attention.
def test_memory_growth_exponents() -> None:
    for attention, low, high in ((softmax_attention, 1.8, 2.1), (fused_softmax_attention, 0.95, 1.05),
                                 (linear_chunked, 0.95, 1.05)):
        exponent = math.log2(saved_bytes(attention, 1024) / saved_bytes(attention, 512))
        assert low < exponent < high, (attention.__name__, exponent)


# ## The claim in miniature: trained recall
#
# The page's claim: trained on associative recall, the delta rule recalls better than the sum, at low load
# and at high. Both one-layer models with the rates the full run's grid chose (sum 0.01, delta rule 0.03),
# seed 0, 400 steps instead of 800 (about 15 s CPU for the pair), tested at 4 and 16 keys.
# Calibrated with `scripts/calibrate.py` (seeds 0-2; 1 thread and portable kernels, identical values): gap at
# 4 keys 0.033-0.045 (delta 0.965-0.968, sum 0.923-0.935), threshold 0.015; gap at 16 keys 0.073-0.094 (delta
# 0.757-0.779, sum 0.684-0.694), threshold 0.04. At 2 threads, seeds 0-2: gaps 0.033-0.045 at 4 keys and
# 0.073-0.094 at 16, inside the 1-thread ranges.
CLAIM_STEPS = 400


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = {}
    for rule, lr in (("sum", 0.01), ("delta", 0.03)):
        model = recall_model(rule, seed)
        train_recall(model, lr, CLAIM_STEPS, seed)
        for keys in (4, 16):
            metrics[f"{rule}_{keys}"] = recall_accuracy(model, keys)
    for keys in (4, 16):
        metrics[f"gap_{keys}"] = metrics[f"delta_{keys}"] - metrics[f"sum_{keys}"]
    return metrics


@pytest.mark.claim
def test_trained_delta_rule_recalls_better_than_sum() -> None:
    metrics = claim_metrics(0)
    assert metrics["gap_4"] > 0.015, metrics
    assert metrics["gap_16"] > 0.04, metrics


# ## The mechanism demonstration (not the claim)
#
# Random unit keys written straight into a $16 \times 16$ memory, no training; float64 and arg-max over values
# whose gaps are far above rounding, so deterministic (no calibration needed; the values are those of seeds
# 0-2, identical at 1 and 2 threads and with portable kernels). At 4 keys both rules recall nearly all (sum
# 0.998-1.000, threshold 0.97; delta 0.989-0.991, threshold 0.95); at 40 keys both fall, and the delta rule
# with $\beta = 1$, which erases older keys' values as it overwrites, falls further (sum 0.741-0.754,
# threshold below 0.85; delta 0.432-0.438, at least 0.15 below the sum). The opposite order to the trained
# models: the page says why it does not explain them.
def memory_only_metrics(seed: int) -> dict[str, float]:
    small, large = memory_only_recall(4, seed), memory_only_recall(40, seed)
    return {"sum_4": small["sum"], "delta_4": small["delta"], "sum_40": large["sum"], "delta_40": large["delta"]}


def test_memory_only_recall_falls_with_load() -> None:
    for seed in (0, 1, 2):
        metrics = memory_only_metrics(seed)
        assert metrics["sum_4"] > 0.97 and metrics["delta_4"] > 0.95
        assert metrics["sum_40"] < 0.85 and metrics["delta_40"] < metrics["sum_40"] - 0.15


# ## The recorded run
def test_recorded_memory_exponents() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert 1.8 < metrics["memory_exponent_softmax"] < 2.1
    assert 0.95 < metrics["memory_exponent_linear_chunked"] < 1.05
    assert 0.95 < metrics["memory_exponent_softmax_fused"] < 1.05


# The trained comparison, on the recorded full run: the delta rule ahead of the sum and of the gated sum at
# every number of keys on each of the three seeds (recorded smallest gaps 2.1 points over the sum, at 40 keys,
# and 4.5 over the gated sum, at 4 keys), all arms with the rate their shared grid chose; the gated sum within
# 2 points of the sum in the mean at every load (recorded: at most 0.9), so the gap is the correction term's.
def test_recorded_delta_rule_ahead_of_sum_and_gated_sum() -> None:
    metrics = recorded_metrics(paper.__file__)
    for keys in KEY_COUNTS:
        assert metrics[f"recall_gap_{keys}"]["min"] > 0.01, keys
        assert metrics[f"recall_gap_gated_{keys}"]["min"] > 0.02, keys
        assert abs(metrics[f"recall_gated_{keys}"]["mean"] - metrics[f"recall_sum_{keys}"]["mean"]) < 0.02, keys
    assert set(metrics["sweep_sum"]) == set(metrics["sweep_delta"]) == set(metrics["sweep_gated"])  # one grid


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("memory_exponent_softmax", "memory_exponent_linear_chunked", "time_exponent_softmax",
                 "time_exponent_softmax_fused", "time_exponent_linear_parallel", "time_exponent_linear_chunked"):
        assert quoted_on_page(paper.__file__, f"{metrics[name]:.2f}"), name
    for keys in (4, 16, 40):
        for rule in ("sum", "gated", "delta"):
            assert quoted_on_page(paper.__file__, f"{metrics[f'recall_{rule}_{keys}']['mean']:.1%}"), (rule, keys)
        assert quoted_on_page(paper.__file__, f"{100 * metrics[f'recall_gap_{keys}']['mean']:.1f} points"), keys
    for keys in (16, 40):
        for rule in ("sum", "delta"):
            stats = metrics[f"recall_{rule}_{keys}"]
            for statistic in ("min", "max"):
                assert quoted_on_page(paper.__file__, f"{stats[statistic]:.1%}"), (rule, keys, statistic)


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="form must be one of"):
        LinearAttention(16, 4, form="fast")
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        LinearAttention(16, 4, chunk=0)
    with pytest.raises(ValueError, match="feature_map must be one of"):
        DeltaRuleAttention(16, 4, feature_map="relu")
    with pytest.raises(ValueError, match="nu must be below"):
        DeltaRuleAttention(16, 4, feature_map="dpfp", nu=8)
    with pytest.raises(ValueError, match="nu must be a positive integer"):
        dpfp_feature_map(torch.randn(3), 0)
    with pytest.raises(ValueError, match="heads"):
        LinearAttention(16, 3)
    x = torch.randn(2, 5, 16)
    for module in (LinearAttention(16, 4), DeltaRuleAttention(16, 4)):
        with pytest.raises(ValueError, match="mask must be the causal mask"):
            module(x, x, x, torch.ones(1, 5, 5, dtype=torch.bool))
        with pytest.raises(ValueError, match="query length 3 must equal key length 5"):
            module(x[:, :3], x, x, None)
        with pytest.raises(ValueError, match="key must have shape"):
            module(x, x[..., :8], x, None)
        with pytest.raises(TypeError, match="dtype"):
            module(x.double(), x.double(), x.double(), None)
    with pytest.raises(ValueError, match="keys must be in"):
        recall_batch(4, 65, torch.Generator())
    with pytest.raises(ValueError, match="rule must be one of"):
        recall_model("hebbian", 0)
    with pytest.raises(ValueError, match="need at least two lengths"):
        growth_exponent([64, 128, 1024], [1.0, 2.0, 3.0])
    assert len(KEY_COUNTS) == len(set(KEY_COUNTS))
