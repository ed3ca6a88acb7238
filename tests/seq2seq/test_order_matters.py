"""Tests for papers/seq2seq/order_matters.py: order invariance of the process block (float64), of the
whole model's output, the process step against a loop, the claim in miniature, and bad input."""
import math

import pytest
import torch

from papers.kit.experiment import RunConfig
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


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    (exact_0, exact_5), (invariant_0, invariant_5) = metrics["exact"], metrics["order_invariant"]
    return {"exact_0": exact_0, "exact_5": exact_5, "gain": exact_5 - exact_0,
            "invariant_0": invariant_0, "invariant_5": invariant_5}


# The claim in miniature (quick mode: sets of 6, 400 training steps, 0 versus 5 process steps), and the
# invariance of the trained models' output to shuffling the test sets. At 200 steps the 5-step model had not
# always left the plateau of the 0-step one (gain 0.00 for seed 1 under portable kernels); by 400 it has.
# Measured over seeds 0-2 at 1 thread and under portable kernels: exact-sort rate with 0
# steps 0.35-0.40, with 5 steps 0.50-0.68, gain 0.10-0.31 (seed 0: 0.27-0.30; threshold 0.05); sets whose
# output is unchanged by shuffling: 1.0 everywhere (threshold 0.99).
# Invariance is asserted on 99% of the sets rather than on all: the shuffled set sums its softmax in another
# order, and float32 rounding may flip a near-tie (the trained models' smallest top-2 logit gaps are about
# 1e-5). The invariance itself is tested exactly, in float64, above.
@pytest.mark.claim
def test_process_steps_and_invariance_in_quick_mode():
    metrics = claim_metrics(0)
    assert min(metrics["invariant_0"], metrics["invariant_5"]) > 0.99
    assert metrics["gain"] > 0.05


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
