"""Tests for papers/transformers/annotated_transformer.py: masks, label smoothing, the Noam schedule, greedy
decoding and the padded copy task."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.kit.tasks import BOS, PAD, RESERVED
from papers.transformers import annotated_transformer as paper
from papers.transformers.annotated_transformer import (
    EOS, MAX_LEN, MIN_LEN, SYMBOLS, VOCAB, CopyTraining, count_seen, decode_sequences, held_out,
    label_smoothing_loss, make_batch, noam_optimizer, noam_rate, padded_copy_batch, padding_mask, run_seed,
    smoothed_targets, split_copy_batch)
from papers.transformers.attention import Transformer, subsequent_mask


def small_model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(VOCAB, VOCAB, d_model=16, heads=2, d_ff=32, layers=1).eval()


# ## Masks
def test_target_mask_is_subsequent_and_hides_padding() -> None:
    source = torch.tensor([[5, 6, PAD], [7, 8, 9]])
    target = torch.tensor([[BOS, 5, 6, EOS, PAD], [BOS, 7, 8, 9, EOS]])
    batch = make_batch(source, target)
    assert batch.source_mask.tolist() == [[[True, True, False]], [[True, True, True]]]
    assert torch.equal(batch.decoder_input, target[:, :-1])
    assert torch.equal(batch.labels, target[:, 1:])
    assert batch.tokens == 3 + 4
    # Brute force: query t may see key s iff s <= t and decoder input s is not padding.
    for b in range(2):
        for t in range(4):
            for s in range(4):
                expected = s <= t and int(batch.decoder_input[b, s]) != PAD
                assert bool(batch.target_mask[b, t, s]) == expected
    # Every query sees at least the start symbol, so no softmax row is all minus infinity.
    assert batch.target_mask[:, :, 0].all()


# With the masks, what stands in padded source positions and in later target positions cannot change the
# logits of the real positions: the masks really cut those paths.
def test_masks_make_model_blind_to_padding_and_future() -> None:
    model = small_model()
    source, target = padded_copy_batch(8, torch.Generator().manual_seed(0))
    batch = make_batch(source, target)
    logits = model(batch.source, batch.decoder_input, batch.source_mask, batch.target_mask)
    noisy_source = torch.where(source == PAD, torch.full_like(source, RESERVED + 3), source)
    noisy_input = torch.where(batch.decoder_input == PAD, torch.full_like(source[:, :1], RESERVED + 4),
                              batch.decoder_input)
    noisy = model(noisy_source, noisy_input, batch.source_mask, batch.target_mask)
    real = batch.labels != PAD
    torch.testing.assert_close(noisy[real], logits[real])
    # Without the source mask, what stands in the padding does leak in.
    clean_unmasked = model(source, batch.decoder_input, None, batch.target_mask)
    noisy_unmasked = model(noisy_source, batch.decoder_input, None, batch.target_mask)
    assert not torch.allclose(noisy_unmasked[real], clean_unmasked[real], atol=1e-4)
    # Changing decoder input t+1.. leaves the logits at 0..t alone.
    changed = batch.decoder_input.clone()
    changed[:, 3:] = RESERVED
    changed_mask = padding_mask(changed) & subsequent_mask(changed.shape[1])
    future = model(batch.source, changed, batch.source_mask, changed_mask)
    torch.testing.assert_close(future[:, :3], logits[:, :3])


def test_padded_copy_batch_layout() -> None:
    source, target = padded_copy_batch(200, torch.Generator().manual_seed(1))
    assert source.shape == (200, MAX_LEN) and target.shape == (200, MAX_LEN + 2)
    lengths = (source != PAD).sum(dim=1)
    assert lengths.min() >= MIN_LEN and lengths.max() <= MAX_LEN and len(set(lengths.tolist())) > 3
    for row_source, row_target, n in zip(source.tolist(), target.tolist(), lengths.tolist()):
        assert row_source[n:] == [PAD] * (MAX_LEN - n)
        assert row_target == [BOS] + row_source[:n] + [EOS] + [PAD] * (MAX_LEN - n)


# ## Label smoothing
#
# The target distribution against its definition, written out by hand.
def test_smoothed_targets_definition() -> None:
    q = smoothed_targets(torch.tensor([2, 3, PAD]), vocab=5, smoothing=0.3)
    eps = 0.3 / 3
    expected = torch.tensor([[0, eps, 0.7, eps, eps], [0, eps, eps, 0.7, eps], [0, 0, 0, 0, 0]])
    torch.testing.assert_close(q, expected)
    torch.testing.assert_close(q[:2].sum(dim=1), torch.ones(2))


# labml-nn's `LabelSmoothingLoss` (the Annotated Transformer's definition) sums the KL divergence over
# tokens; ours averages it over the real ones.
def test_loss_matches_labml_nn() -> None:
    from labml_nn.transformers.label_smoothing_loss import LabelSmoothingLoss
    torch.manual_seed(0)
    logits = torch.randn(12, 7, dtype=torch.float64)
    labels = torch.tensor([2, 3, 4, 5, 6, 1, 0, 2, 0, 3, 4, 5])
    theirs = LabelSmoothingLoss(7, PAD, 0.2)(F.log_softmax(logits, dim=-1), labels)
    ours = label_smoothing_loss(logits, labels, 0.2)
    torch.testing.assert_close(ours, theirs / int((labels != PAD).sum()))


# KL = cross-entropy − entropy of the target. PyTorch's `F.cross_entropy` with probability targets and with
# `label_smoothing` is the reference. Torch's smoothing puts $\varepsilon / V$ on *every* token, the right one
# included; ours without padding, at $\varepsilon' = \varepsilon (V - 1) / V$, is the same distribution.
def test_loss_is_cross_entropy_minus_entropy() -> None:
    torch.manual_seed(1)
    vocab, eps = 9, 0.1
    logits = torch.randn(20, vocab, dtype=torch.float64)
    labels = torch.randint(0, vocab, (20,))
    q = smoothed_targets(labels, vocab, eps, pad=None, dtype=torch.float64)
    entropy = -(q * q.log()).sum(dim=1).mean()
    kl = label_smoothing_loss(logits, labels, eps, pad=None)
    torch.testing.assert_close(kl, F.cross_entropy(logits, q) - entropy)
    torch_smoothed = F.cross_entropy(logits, labels, label_smoothing=eps)
    ours = label_smoothing_loss(logits, labels, eps * (vocab - 1) / vocab, pad=None)
    q_torch = torch.full((vocab,), eps / vocab, dtype=torch.float64)
    q_torch[0] += 1 - eps
    torch.testing.assert_close(ours, torch_smoothed + (q_torch * q_torch.log()).sum())


# The minimum of the loss is 0, at logits whose softmax is the smoothed target; with no smoothing it is the
# ordinary cross-entropy.
def test_loss_minimum_and_no_smoothing() -> None:
    labels = torch.tensor([2, 4, 3])
    q = smoothed_targets(labels, 6, 0.1, dtype=torch.float64)
    at_target = torch.where(q > 0, q.log(), torch.full_like(q, -1e9))
    assert label_smoothing_loss(at_target, labels, 0.1).item() == pytest.approx(0.0, abs=1e-9)
    logits = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(label_smoothing_loss(logits, labels, 0.0), F.cross_entropy(logits, labels))


# ## The Noam schedule
def test_noam_rate_formula_and_peak() -> None:
    d_model, warmup = 512, 4000
    assert noam_rate(1, d_model, warmup) == pytest.approx(d_model ** -0.5 * warmup ** -1.5)
    assert noam_rate(100, d_model, warmup) == pytest.approx(d_model ** -0.5 * 100 * warmup ** -1.5)
    assert noam_rate(10_000, d_model, warmup) == pytest.approx(d_model ** -0.5 * 10_000 ** -0.5)
    rates = [noam_rate(s, d_model, warmup) for s in range(1, 20_000)]
    assert rates.index(max(rates)) + 1 == warmup
    assert max(rates) == pytest.approx((d_model * warmup) ** -0.5)
    assert noam_rate(50, 64, 10, factor=2.0) == pytest.approx(2 * noam_rate(50, 64, 10))


def test_noam_rate_matches_labml_nn() -> None:
    from labml_nn.helpers.optimizer import NoamOpt
    reference = NoamOpt(model_size=64, learning_rate=0.5, warmup=300, step_factor=1, optimizer=None)
    for step in (1, 10, 299, 300, 301, 5000):
        assert noam_rate(step, 64, 300, factor=0.5) == pytest.approx(reference.rate(step))


# The optimiser's learning rate at update $s$ (counting from 1) is `noam_rate(s)`.
def test_scheduler_drives_optimizer() -> None:
    model = small_model()
    optimizer, scheduler = noam_optimizer(model, warmup=5, factor=0.5)
    seen = []
    for _ in range(8):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([noam_rate(s, 16, 5, 0.5) for s in range(1, 9)])


# ## Greedy decoding
#
# Greedy decoding against a brute-force loop that re-runs the whole model, with the source mask, for each
# new token; and the cut at the first `EOS`.
def test_greedy_decoding_matches_brute_force_and_cuts_at_eos() -> None:
    model = small_model(3)
    source, _ = padded_copy_batch(6, torch.Generator().manual_seed(2))
    decoded = decode_sequences(model, source, MAX_LEN + 1)
    with torch.no_grad():
        prefix = torch.full((6, 1), BOS)
        for _ in range(MAX_LEN + 1):
            logits = model(source, prefix, padding_mask(source))
            prefix = torch.cat([prefix, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    for row, full in zip(decoded, prefix[:, 1:].tolist()):
        expected = full[:full.index(EOS) + 1] if EOS in full else full
        assert row == expected


# ## Test data that never occurs in training
#
# The checksum holds out exactly one sequence in ten of each length: all $10^3$ sequences of length 3,
# enumerated, give exactly 100.
def test_checksum_holds_out_one_in_ten() -> None:
    digits = torch.cartesian_prod(*[torch.arange(SYMBOLS)] * 3)  # [1000, 3]
    source = torch.full((1000, MAX_LEN), PAD)
    source[:, :3] = digits + RESERVED
    assert int(held_out(source).sum()) == 100


# The control: 2,000 training batches of 64 (more than a full run draws) and 1,000 test sequences share no
# sequence, while the same number of draws without the split do share many (the short ones).
def test_no_test_sequence_occurs_in_training() -> None:
    train_stream = torch.Generator().manual_seed(0)
    train, unsplit_train = set(), set()
    for _ in range(2000):
        train.update(map(tuple, split_copy_batch(64, train_stream, test=False)[0].tolist()))
        unsplit_train.update(map(tuple, padded_copy_batch(64, train_stream)[0].tolist()))
    test, target = split_copy_batch(1000, torch.Generator().manual_seed(1), test=True)
    assert held_out(test).all() and target.shape == (1000, MAX_LEN + 2)
    assert count_seen(test, train) == 0
    assert count_seen(padded_copy_batch(1000, torch.Generator().manual_seed(1))[0], unsplit_train) > 100


# The same, end to end: the sequences a short run actually trained on, against its test set.
def test_run_reports_its_test_sequences_unseen() -> None:
    result, history = run_seed(CopyTraining(steps=20, warmup=10, eval_every=10), seed=0)
    assert result["test_seen_in_training"] == 0
    assert history.steps("exact_match") == [9, 19]


# ## The claim in miniature
def claim_metrics(seed: int) -> dict[str, float]:
    result, history = run_seed(CopyTraining(steps=500, warmup=100), seed)
    return {"exact_match": result["exact_match"], "peak_learning_rate": max(history.values("lr"))}


#
# A short run (quick mode: 500 steps, warm-up 100) already copies a good part of the held-out sequences
# exactly, where guessing would get almost none (about $10^{-4}$). At 500 steps exact match still swings from
# one measurement to the next, so the margin is wide. Measured (scripts/calibrate.py and the same function
# under portable kernels): 1 thread, seeds 0, 1, 2: 0.569, 0.323, 0.645; 2 threads, seed 0: 0.668 (seeds 1
# and 2 not measured: a 2-thread run took ten minutes on the loaded machine); portable kernels, seeds 0, 1,
# 2: 0.554, 0.512, 0.625. Range 0.323-0.668 (seed 0, the one asserted: 0.554-0.668); threshold 0.25.
@pytest.mark.claim
def test_copy_task_learns() -> None:
    metrics = claim_metrics(0)
    assert metrics["exact_match"] > 0.25
    assert metrics["peak_learning_rate"] == pytest.approx(noam_rate(100, 64, 100))


# ## The recorded run
#
# The page quotes the recorded exact match, and the recorded test sets share no sequence with their runs'
# training streams, while an unsplit draw would have.
def test_page_quotes_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    match = metrics["exact_match"]
    for value in (match["mean"], *match["per_seed"].values()):
        assert quoted_on_page(paper.__file__, f"{value:.1%}")
    assert metrics["test_seen_in_training"]["max"] == 0
    assert metrics["unsplit_seen_in_training"]["min"] > 100
    assert quoted_on_page(paper.__file__, f"{metrics['unsplit_seen_in_training']['mean']:.0f}")
    assert quoted_on_page(paper.__file__, f"{metrics['train_steps']:,} steps")


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="smoothing must be in"):
        smoothed_targets(torch.tensor([2]), 5, 1.0)
    with pytest.raises(ValueError, match="too small"):
        smoothed_targets(torch.tensor([1]), 2, 0.1)
    with pytest.raises(ValueError, match=r"logits must have shape \[4, vocab\]"):
        label_smoothing_loss(torch.zeros(3, 5), torch.zeros(4, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="step counts from 1"):
        noam_rate(0, 64, 10)
    with pytest.raises(ValueError, match="warmup must be a positive integer, got 0"):
        noam_rate(1, 64, 0)
    with pytest.raises(TypeError, match="source must have dtype torch.int64"):
        make_batch(torch.zeros(2, 3), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"target must have shape .* dimension 0 \(batch\) should be 2"):
        make_batch(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="start symbol"):
        make_batch(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long))
