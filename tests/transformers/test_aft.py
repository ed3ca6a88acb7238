"""Tests for papers/transformers/aft.py: each AFT variant against explicit loops of its formula in float64 and
against labml-nn's AFTLocal with copied weights, causality, the stabilisation, the claim in miniature, the
page's numbers against the recorded run, and bad input."""
from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch
from labml_nn.transformers.aft import AFTLocal

from papers.kit.char_transformer import LMSettings, build_model, corpus, validation_windows
from papers.kit.experiment import quoted_on_page, recorded_metrics, results_path
from papers.transformers import aft as paper
from papers.transformers.aft import VARIANTS, AttentionFreeTransformer, aft_block, arm_block
from papers.transformers.attention import MultiHeadAttention, subsequent_mask

D_MODEL, MAX_LEN, WINDOW = 6, 20, 3
# Inputs of 19 positions: two full chunks of `paper.CHUNK` = 8 keys and a padded one, for the causal path.
LENGTH = 19


# A module in float64 with random position biases (they start at zero, which would hide a wrong index).
def module(variant: str, seed: int = 0, max_len: int = MAX_LEN) -> AttentionFreeTransformer:
    torch.manual_seed(seed)
    aft = AttentionFreeTransformer(D_MODEL, variant, max_len, WINDOW if variant == "local" else None).double()
    if aft.position_bias is not None:
        with torch.no_grad():
            aft.position_bias.normal_(0.0, 1.0)
    return aft


def inputs(batch: int = 2, length: int = LENGTH, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, length, D_MODEL, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# The formula written out, one query $t$, one key $t'$ and one feature at a time:
# $Y_t = \sigma(Q_t) \odot \sum_{t'} \exp(K_{t'} + w'_{t,t'}) V_{t'} / \sum_{t'} \exp(K_{t'} + w'_{t,t'})$,
# the sums over the keys the mask allows: the causal mask, all keys (`causal` false) or `visible`, a boolean
# `[length, length]`.
def by_loops(aft: AttentionFreeTransformer, x: torch.Tensor, causal: bool,
             visible: torch.Tensor | None = None) -> torch.Tensor:
    q, k, v = aft.w_q(x), aft.w_k(x), aft.w_v(x)
    batch, length, d = x.shape
    y = torch.zeros_like(q)
    for b in range(batch):
        for t in range(length):
            for i in range(d):
                numerator = denominator = 0.0
                for t_prime in range(t + 1 if causal else length):
                    if visible is not None and not visible[t, t_prime]:
                        continue
                    weight = math.exp(k[b, t_prime, i].item() + bias_by_hand(aft, t, t_prime))
                    numerator += weight * v[b, t_prime, i].item()
                    denominator += weight
                y[b, t, i] = torch.sigmoid(q[b, t, i]) * numerator / denominator
    return aft.w_o(y)


def bias_by_hand(aft: AttentionFreeTransformer, t: int, t_prime: int) -> float:
    if aft.variant == "simple":
        return 0.0
    if aft.variant == "local" and abs(t - t_prime) >= aft.window:
        return 0.0
    return aft.position_bias[t, t_prime].item()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("causal", [True, False])
def test_each_variant_is_its_formula(variant: str, causal: bool) -> None:
    aft, x = module(variant), inputs()
    mask = subsequent_mask(x.shape[1]) if causal else None
    with torch.no_grad():
        torch.testing.assert_close(aft(x, x, x, mask), by_loops(aft, x, causal), rtol=1e-10, atol=1e-12)


# A mask that is neither none nor causal takes the every-pair path: a random mask (every row keeps at least
# its own key) against the loops. (Deterministic.)
@pytest.mark.parametrize("variant", VARIANTS)
def test_any_other_mask_is_its_formula(variant: str) -> None:
    aft, x = module(variant), inputs()
    visible = torch.rand(LENGTH, LENGTH, generator=torch.Generator().manual_seed(2)) < 0.4
    visible |= torch.eye(LENGTH, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(aft(x, x, x, visible[None]), by_loops(aft, x, False, visible),
                                   rtol=1e-10, atol=1e-12)


# AFT-local with a window as long as the sequence is AFT-full; with a window of 1 only the diagonal keeps its
# bias. The position biases start at zero, so every variant starts as AFT-simple. (Deterministic.)
def test_local_window_limits_and_zero_start() -> None:
    full, x, mask = module("full"), inputs(), subsequent_mask(LENGTH)
    wide = AttentionFreeTransformer(D_MODEL, "local", MAX_LEN, window=MAX_LEN).double()
    wide.load_state_dict(full.state_dict())
    torch.testing.assert_close(wide(x, x, x, mask), full(x, x, x, mask), rtol=1e-12, atol=1e-12)
    for variant in ("full", "local"):
        fresh = AttentionFreeTransformer(D_MODEL, variant, MAX_LEN, WINDOW if variant == "local" else None)
        simple = AttentionFreeTransformer(D_MODEL, "simple")
        simple.load_state_dict(fresh.state_dict(), strict=False)
        x32 = x.float()
        torch.testing.assert_close(fresh(x32, x32, x32, mask), simple(x32, x32, x32, mask))


# ## Against labml-nn
#
# labml-nn implements only AFT-local (`AFTLocal`), with the same definition: the bias is zero, not minus
# infinity, outside the window, so distant keys still count with weight $\exp(K_{t'})$. Its conventions
# differ: inputs are `[seq, batch, d_model]`, passed by keyword; its mask is `[q_len, k_len, batch]`; its
# layers are named `query`, `key`, `value`, `output`, the biases `pos_bias`; and it takes the biases' maximum
# over all keys of a row, masked ones included, and each feature's key maximum over the whole sequence,
# future keys included (the stabilisation this page had before; the same result in exact arithmetic, and
# here, with moderate keys, both are finite and agree to rounding). Its AFT-local with a
# window of the whole length is our AFT-full, and with zero biases our AFT-simple.
def labml_copy(aft: AttentionFreeTransformer) -> AFTLocal:
    window = {"local": WINDOW, "full": MAX_LEN, "simple": MAX_LEN}[aft.variant]
    theirs = AFTLocal(D_MODEL, MAX_LEN, window).double()
    with torch.no_grad():
        for ours, name in ((aft.w_q, "query"), (aft.w_k, "key"), (aft.w_v, "value"), (aft.w_o, "output")):
            getattr(theirs, name).weight.copy_(ours.weight)
            getattr(theirs, name).bias.copy_(ours.bias)
        theirs.pos_bias.copy_(aft.position_bias if aft.position_bias is not None else torch.zeros(MAX_LEN, MAX_LEN))
    return theirs


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_labml_aft_local(variant: str) -> None:
    aft, x = module(variant), inputs(length=MAX_LEN)
    theirs = labml_copy(aft)
    mask = subsequent_mask(MAX_LEN)  # [1, q_len, k_len]
    seq_first = x.transpose(0, 1)  # [seq, batch, d_model]
    with torch.no_grad():
        expected = theirs(query=seq_first, key=seq_first, value=seq_first, mask=mask.permute(1, 2, 0))
        torch.testing.assert_close(aft(x, x, x, mask), expected.transpose(0, 1), rtol=1e-10, atol=1e-12)


# ## Causality and the stabilisation
#
# Changing the last characters never changes the model's outputs at earlier positions. (Deterministic up to
# rounding: the earlier outputs are compared at float64 precision.)
@pytest.mark.parametrize("variant", VARIANTS)
def test_future_tokens_do_not_change_earlier_outputs(variant: str) -> None:
    settings = LMSettings(d_model=16, heads=2, d_ff=32, seq_len=12, max_chars=20_000)
    model = build_model(settings, 0, block=aft_block(variant, 12, 4 if variant == "local" else None)).double()
    for block in model.blocks:
        if block.attention.position_bias is not None:
            torch.nn.init.normal_(block.attention.position_bias)
    tokens = torch.randint(0, 20, (2, 12), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 20
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    torch.testing.assert_close(after[:, :8], before[:, :8], rtol=1e-12, atol=1e-12)
    assert (after[:, 8:] - before[:, 8:]).abs().max() > 1e-3


# Adding a constant to every key changes nothing (it cancels in the ratio); without the subtracted maximum
# an offset of 1000 would overflow $\exp$ in float32. A query that may see no key gets a zero average, so
# the output is the output layer's bias, not NaN. (Deterministic up to float32 rounding.)
def test_key_offset_cancels_and_empty_rows_are_defined() -> None:
    aft = module("full").float()
    x = inputs(length=5).float()
    mask = subsequent_mask(5)
    shifted = AttentionFreeTransformer(D_MODEL, "full", MAX_LEN)
    shifted.load_state_dict(aft.state_dict())
    with torch.no_grad():
        shifted.w_k.bias += 1000.0
        torch.testing.assert_close(shifted(x, x, x, mask), aft(x, x, x, mask), rtol=1e-5, atol=1e-5)
        empty = mask.clone()
        empty[:, 2] = False
        out = aft(x, x, x, empty)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 2], aft.w_o.bias.expand(2, D_MODEL))


# The stabiliser is causal: with a later key 100 above the visible ones (the old whole-sequence maximum
# made every visible weight of the earlier rows underflow in float32, so the average became 0), the earlier
# rows in float32 stay finite and equal to the rows without that key, on every path (causal chunks, the
# every-pair path with a mask that differs only in the last row). (Deterministic.)
@pytest.mark.parametrize("variant", VARIANTS)
def test_future_key_far_above_leaves_earlier_rows_alone_in_float32(variant: str) -> None:
    aft = module(variant).float()
    q, k, v = (torch.randn(2, 1, LENGTH, D_MODEL, generator=torch.Generator().manual_seed(seed))
               for seed in (3, 4, 5))  # [batch, 1, len, d_model]
    far = k.clone()
    far[:, :, -1] += 100.0
    causal = subsequent_mask(LENGTH).unsqueeze(1)  # [1, 1, len, len]
    per_sequence = causal.expand(2, 1, LENGTH, LENGTH).clone()
    per_sequence[:, :, -1, 0] = False  # not the causal mask (the every-pair path); the same earlier rows
    attend = aft._attend  # pylint: disable=protected-access
    with torch.no_grad():
        for mask in (causal, per_sequence):
            out, without = attend(q, far, v, mask), attend(q, k, v, mask)
            assert torch.isfinite(out).all()
            torch.testing.assert_close(out[:, :, :-1], without[:, :, :-1], rtol=1e-5, atol=1e-6)


# The stabilisers are detached (they cancel in the ratio): the gradients of every path, in float64, against
# finite differences (`torch.autograd.gradcheck`), with the causal mask, none, and another mask.
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_by_finite_differences(variant: str) -> None:
    aft, x = module(variant), inputs(batch=1, length=11).requires_grad_()
    other = subsequent_mask(11).clone()
    other[:, -1, 0] = False
    for mask in (subsequent_mask(11), None, other):
        assert torch.autograd.gradcheck(lambda x_, mask_=mask: aft(x_, x_, x_, mask_), (x,))


# The count references against counting by hand with `collections.Counter` on the quick run's text.
def test_count_references_by_hand() -> None:
    settings = paper.QUICK
    text = corpus(settings.max_chars)
    train, vocab = text.train.tolist(), text.vocab_size
    singles, pairs = Counter(train), Counter(zip(train, train[1:]))
    contexts, targets = validation_windows(text.valid, settings.seq_len, settings.eval_windows)
    unigram = bigram = 0.0
    for a, b in zip(contexts.flatten().tolist(), targets.flatten().tolist()):
        unigram -= math.log((singles[b] + 0.1) / (len(train) + 0.1 * vocab))
        bigram -= math.log((pairs[a, b] + 0.1) / (sum(pairs[a, c] for c in range(vocab)) + 0.1 * vocab))
    references = paper.count_references(settings)
    assert references["unigram"] == pytest.approx(unigram / targets.numel(), rel=1e-9)
    assert references["bigram"] == pytest.approx(bigram / targets.numel(), rel=1e-9)


# Every tensor the module makes is made on its inputs' device (PyTorch's `meta` device has no values).
@pytest.mark.parametrize("variant", VARIANTS)
def test_runs_on_the_inputs_device(variant: str) -> None:
    aft = AttentionFreeTransformer(D_MODEL, variant, MAX_LEN, WINDOW if variant == "local" else None).to("meta")
    x = torch.empty(2, 5, D_MODEL, device="meta")
    assert aft(x, x, x, subsequent_mask(5, device="meta")).shape == (2, 5, D_MODEL)


# AFT is [multi-head attention](../../papers/transformers/attention.py) with one head and its own `_attend`:
# its parameters are attention's four projections plus the $T \times T$ biases.
def test_extends_multi_head_attention_and_parameter_counts() -> None:
    attention = AttentionFreeTransformer(D_MODEL, "simple")
    assert isinstance(attention, MultiHeadAttention) and attention.heads == 1 and attention.d_k == D_MODEL
    assert sum(p.numel() for p in attention.parameters()) == 4 * (D_MODEL * D_MODEL + D_MODEL)
    full = AttentionFreeTransformer(D_MODEL, "full", MAX_LEN)
    assert sum(p.numel() for p in full.parameters()) == 4 * (D_MODEL * D_MODEL + D_MODEL) + MAX_LEN ** 2


# ## Bad input
@pytest.mark.parametrize("make, error, message", [
    (lambda: AttentionFreeTransformer(8, "conv", 4), ValueError, "variant must be one of"),
    (lambda: AttentionFreeTransformer(8, "local", 4, window=0), ValueError, "window"),
    (lambda: AttentionFreeTransformer(8, "local", 4), ValueError, "window"),
    (lambda: AttentionFreeTransformer(8, "local", 4, window=1.5), ValueError, "window"),
    (lambda: AttentionFreeTransformer(8, "full", 4, window=2), ValueError, "window is for variant 'local'"),
    (lambda: AttentionFreeTransformer(8, "full"), ValueError, "max_len"),
    (lambda: AttentionFreeTransformer(0, "simple"), ValueError, "d_model"),
    (lambda: aft_block("none", 4), ValueError, "variant must be one of"),
])
def test_bad_settings_rejected(make, error, message) -> None:
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs_rejected() -> None:
    aft = AttentionFreeTransformer(4, "full", max_len=5)
    x = torch.randn(2, 6, 4)
    with pytest.raises(ValueError, match="sequence length 6 exceeds max_len 5"):
        aft(x, x, x)
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="query"):
        aft(torch.randn(2, 3, 5), x, x)
    with pytest.raises(ValueError, match="value"):
        aft(x, x, torch.randn(2, 4, 4))
    with pytest.raises(TypeError, match="mask must be boolean"):
        aft(x, x, x, torch.ones(1, 3, 3))
    with pytest.raises(ValueError, match="mask must be"):
        aft(x, x, x, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="sequence length 6 exceeds"):
        build_model(LMSettings(d_model=8, heads=2, d_ff=16, seq_len=6, max_chars=20_000), 0,
                    block=arm_block("aft-full", LMSettings(seq_len=5)))(torch.zeros(1, 6, dtype=torch.long))


# ## The claim in miniature
#
# The quick run's small model (32 wide, windows of 32 characters, 150 steps), every arm at the grid's middle
# rate from the same seed: validation loss of each arm, and each AFT arm's gap to softmax attention.
def claim_metrics(seed: int) -> dict[str, float]:
    settings = paper.QUICK.but(eval_every=150)
    losses = {arm: paper.train_arm(arm, settings, seed, paper.LEARNING_RATES[1])["valid_loss"]
              for arm in paper.ARMS}
    metrics = {f"valid_loss_{arm}": loss for arm, loss in losses.items()}
    for arm in paper.ARMS[1:]:
        metrics[f"gap_{arm}"] = losses[arm] - losses["attention"]
    return metrics


# Calibrated on `claim_metrics`: `scripts/calibrate.py` over seeds 0, 1, 2 at 1 thread, and seed 0 only at 2
# threads and under the portable kernels (`ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE`), run by hand at
# load average about 19. Measured: the AFT arms' gaps to attention -0.24 to -0.06 nats (portable kernels,
# seed 0: -0.09 to -0.07; 2 threads agree with 1 thread to 3 decimals), attention 2.88 to 3.04, AFT 2.80 to
# 2.83. Threshold: no
# AFT arm more than 0.05 nats worse than attention, 0.11 above the largest measured gap; and every arm at
# least 1 nat below the uniform prediction ($\ln V$ = 4.32 for the quick run's 75 characters), a margin of 0.28
# over attention's worst 3.04.
@pytest.mark.claim
def test_claim_aft_is_competitive_with_attention() -> None:
    metrics = claim_metrics(0)
    for arm in paper.ARMS[1:]:
        assert metrics[f"gap_{arm}"] < 0.05, arm
    for arm in paper.ARMS:
        assert metrics[f"valid_loss_{arm}"] < math.log(corpus(paper.QUICK.max_chars).vocab_size) - 1.0, arm


# ## The recorded full run
#
# On every seed each AFT variant ends below softmax attention (recorded gaps -0.42 to -0.19 nats), and every
# run is finite (with the page's earlier, non-causal stabilisation AFT-simple diverged on seeds 1 and 2). On
# every seed the position biases help: AFT-full and AFT-local below AFT-simple by more than 0.1 (recorded
# 0.13 to 0.16).
def test_recorded_aft_against_attention_at_this_budget() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ("attention", "aft_full", "aft_local", "aft_simple"):
        assert all(math.isfinite(loss) for loss in metrics[f"{arm}_valid_loss"]["per_seed"].values()), arm
    for arm in ("aft_full", "aft_local", "aft_simple"):
        assert metrics[f"gap_{arm}_minus_attention"]["max"] < 0.0, arm
    simple = metrics["aft_simple_valid_loss"]["per_seed"]
    for arm in ("aft_full", "aft_local"):
        for seed, loss in metrics[f"{arm}_valid_loss"]["per_seed"].items():
            assert simple[seed] - loss > 0.1, (arm, seed)
    assert metrics["aft_full_parameters"] - metrics["attention_parameters"] == 2 * 64 * 64
    assert metrics["aft_simple_parameters"] == metrics["attention_parameters"]


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ("attention", "aft_full", "aft_local", "aft_simple"):
        loss = metrics[f"{arm}_valid_loss"]
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{loss[statistic]:.3f}"), (arm, statistic)
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_valid_bpc']['mean']:.2f}"), arm
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_cpu_s']['mean']:.1f}"), arm
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_parameters']:,}"), arm
        assert quoted_on_page(paper.__file__, f"| {metrics[f'{arm}_lr']:g} |"), arm
    for arm in ("aft_full", "aft_local", "aft_simple"):
        gap = metrics[f"gap_{arm}_minus_attention"]
        for statistic in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{-gap[statistic]:.2f}"), (arm, statistic)
    record = json.loads(results_path(paper.__file__).read_text(encoding="utf-8"))
    for phrase in (f"{metrics['unigram_loss']:.3f}", f"{metrics['bigram_loss']:.3f}",
                   f"{record['cpu_time_s']:.0f} CPU seconds", f"load average {record['load_average']:.0f}",
                   f"{metrics['sweep_steps']} steps"):
        assert quoted_on_page(paper.__file__, phrase), phrase
    for loss in metrics["attention_sweep"].values():
        assert quoted_on_page(paper.__file__, f"{loss['final_train_loss']:.4f}")
