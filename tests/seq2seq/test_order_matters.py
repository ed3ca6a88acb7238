"""Tests for papers/seq2seq/order_matters.py: order invariance of the process block (float64), of the
whole model's output, the process step against a loop, the write mask, the claim in miniature, the recorded
run's controls and quoted numbers, and bad input."""
import math

import pytest
import torch

from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics
from papers.seq2seq import order_matters as paper
from papers.seq2seq.order_matters import Process, ReadProcessWrite, experiment


# q*_T is a function of the set: the same, to round-off, for every order of the memory.
def test_process_block_is_invariant_to_the_order_of_the_set():
    torch.manual_seed(0)
    process = Process(6, steps=4).double()
    memory = torch.randn(5, 9, 6, dtype=torch.float64)
    q_star = process(memory)
    for _ in range(10):
        permuted = memory[:, torch.randperm(9)]
        torch.testing.assert_close(process(permuted), q_star, rtol=0, atol=1e-13)


# An LSTM encoder is not: reading the same set in another order changes its final state.
def test_an_lstm_encoder_is_not_order_invariant():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 6, batch_first=True).double()
    memory = torch.randn(1, 9, 6, dtype=torch.float64)
    assert not torch.allclose(lstm(memory)[1][0], lstm(memory[:, torch.randperm(9)])[1][0], atol=1e-6)


# One process step written out with plain Python sums: q_1 = LSTM(0), e_i = m_i . q_1, r_1 = sum_i a_i m_i.
def test_one_process_step_equals_the_equations():
    torch.manual_seed(1)
    process = Process(3, steps=1).double()
    memory = torch.randn(1, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        q, _ = process.cell(torch.zeros(1, 6, dtype=torch.float64))
        m, q = memory[0].tolist(), q[0].tolist()
        e = [sum(mi * qi for mi, qi in zip(row, q)) for row in m]
        a = [math.exp(x) / sum(math.exp(y) for y in e) for x in e]
        r = [sum(a[i] * m[i][k] for i in range(4)) for k in range(3)]
        torch.testing.assert_close(process(memory)[0], torch.tensor(q + r, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14)


# The whole model: shuffling the input moves the pointers with the elements, so the numbers written are
# the same.
def test_written_numbers_do_not_depend_on_input_order():
    torch.manual_seed(0)
    model = ReadProcessWrite(3, d=8).double()
    numbers = torch.rand(6, 7, dtype=torch.float64)
    logits, choices = model(numbers)
    assert logits.shape == (6, 7, 7)
    for _ in range(5):
        shuffle = torch.randperm(7)
        _, shuffled_choices = model(numbers[:, shuffle])
        assert torch.equal(numbers[:, shuffle].gather(1, shuffled_choices), numbers.gather(1, choices))


# The masked writer never writes an element twice; the unmasked one may.
def test_masked_writer_writes_a_permutation():
    torch.manual_seed(0)
    numbers = torch.rand(20, 6)
    _, choices = ReadProcessWrite(2, d=8, mask_written=True)(numbers)
    assert all(sorted(row) == list(range(6)) for row in choices.tolist())


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    return {"exact_0": metrics["exact"]["0"]["mean"], "exact_5": metrics["exact"]["5"]["mean"],
            "gain": metrics["gain_5_over_0"]["mean"], "invariant_0": metrics["order_invariant_min"]["0"],
            "invariant_5": metrics["order_invariant_min"]["5"]}


# The claim in miniature (quick mode: sets of 6, 400 training steps at one rate, 0 versus 5 process steps,
# the mean of seeds `seed` and `seed + 1`), and the invariance of the trained models' output to shuffling the
# test sets.
# Measured (scripts/calibrate.py, seeds 0-2, at 1 thread and under portable kernels; the 2-thread runs did not
# finish on the shared, overloaded machine and are not included): exact-sort rate with 0 steps 0.433-0.467,
# with 5 steps 0.576-0.697, gain 0.129-0.230 (portable kernels lowest: 0.129-0.157); threshold 0.05, below the
# smallest gain by 0.08. Sets whose output is unchanged by shuffling: 1.0 everywhere (threshold 0.99).
# This test asserts "5 steps beat 0", which the recorded full run on sets of 10 does NOT support (there the
# per-seed difference is -7.4, +2.4 and +0.7 points: no consistent difference; the page says so). It checks
# only the miniature at sets of 6, as measured in the calibration above, not the paper's claim at n = 10.
# Invariance is asserted on 99% of the sets rather than on all: the shuffled set sums its softmax in another
# order, and float32 rounding may flip a near-tie (the trained models' smallest top-2 logit gaps are about
# 1e-5). The invariance itself is tested exactly, in float64, above.
@pytest.mark.claim
def test_process_steps_and_invariance_in_quick_mode():
    metrics = claim_metrics(0)
    assert min(metrics["invariant_0"], metrics["invariant_5"]) > 0.99
    assert metrics["gain"] > 0.05


# The controls on the recorded full run (sets of 10). The 1-step model that once collapsed, trained with the
# same sweep as the others, sorts more sets than the 0-step one on every seed; every arm chose its rate from
# the same sweep on validation sets; with the written elements masked both arms sort all but a few sets on
# every seed (the prediction on the page); and every arm's output is invariant to shuffling the set.
def test_recorded_controls():
    metrics = recorded_metrics(paper.__file__)
    assert len(metrics["seeds"]) >= 3
    assert metrics["gain_1_over_0"]["min"] > 0
    for name in metrics["arms"]:
        assert set(metrics["validation_exact"][name]) == {str(lr) for lr in metrics["learning_rates"]}
        assert metrics["order_invariant_min"][name] > 0.99
    for name in ("0_masked", "5_masked"):
        assert metrics["exact"][name]["min"] > 0.99


# The page quotes the recorded means and ranges of every arm, and the unmasked arms' final training losses.
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    for name in metrics["arms"]:
        for stat in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics['exact'][name][stat]:.1%}"), (name, stat)
    for name in ("0", "1", "5"):
        assert quoted_on_page(paper.__file__, f"{metrics['final_train_loss'][name]['mean']:.2f}"), name


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="process steps must be non-negative"):
        Process(4, steps=-1)
    with pytest.raises(ValueError, match=r"memory must have shape \[batch, n, 4\], got \(2, 3, 5\)"):
        Process(4, steps=1)(torch.zeros(2, 3, 5))
    model = ReadProcessWrite(1, d=4)
    with pytest.raises(TypeError, match="numbers must have dtype torch.float32, got torch.int64"):
        model(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="numbers must be"):
        model(torch.zeros(2, 1))
