"""Tests for the kit's input checks: every message names the argument, what was expected and what came."""
import pytest
import torch

from papers.kit.checks import check_ids, check_in_range, check_positive, check_tensor


def test_a_good_tensor_passes_and_binds_its_named_sizes():
    sizes = check_tensor("x", torch.zeros(3, 5, 64), ["batch", "time", 64])
    assert sizes == {"batch": 3, "time": 5}
    check_tensor("h0", torch.zeros(3, 128), ["batch", 128], sizes=sizes)
    check_tensor("mask", torch.ones(3, 5, dtype=torch.bool), ["batch", None], dtype=torch.bool, sizes=sizes)
    check_tensor("ids", torch.zeros(0, dtype=torch.long), [None], dtype=torch.long, allow_empty=True)
    assert check_ids("tokens", torch.tensor([[0, 4]]), ["batch", "time"], 5) == {"batch": 1, "time": 2}
    check_ids("tokens", torch.zeros(2, 3, dtype=torch.long, device="meta"), ["batch", "time"], 5)


@pytest.mark.parametrize("call, error, message", [
    (lambda: check_tensor("x", [1.0], [1]), TypeError, r"x must be a torch.Tensor, got list"),
    (lambda: check_tensor("x", torch.zeros(5), ["batch", 5]), ValueError,
     r"x must have shape \[batch, 5\] \(2 dimensions\), got \(5,\)"),
    (lambda: check_tensor("x", torch.zeros(2, 5, 32), ["batch", "time", 64]), ValueError,
     r"x must have shape \[batch, time, 64\], got \(2, 5, 32\): dimension 2 should be 64"),
    (lambda: check_tensor("h0", torch.zeros(1, 8), ["batch", 8], sizes={"batch": 3}), ValueError,
     r"h0 must have shape \[batch=3, 8\], got \(1, 8\): dimension 0 \(batch\) should be 3"),
    (lambda: check_tensor("pair", torch.zeros(2, 3), ["n", "n"]), ValueError,
     r"pair must have shape \[n, n\], got \(2, 3\): dimension 1 \(n\) should be 2"),
    (lambda: check_tensor("x", torch.zeros(0, 4), ["batch", 4]), ValueError, r"x is empty: shape \(0, 4\)"),
    (lambda: check_tensor("x", torch.zeros(2, dtype=torch.float64), [2], dtype=torch.float32), TypeError,
     r"x must have dtype torch.float32, got torch.float64"),
    (lambda: check_tensor("x", torch.zeros(2, dtype=torch.long), [2]), TypeError,
     r"x must have a floating-point dtype, got torch.int64"),
    (lambda: check_tensor("x", torch.zeros(2), [2], dtype="int"), ValueError, r"dtype must be a torch.dtype"),
    (lambda: check_ids("tokens", torch.tensor([[3, -1]]), ["batch", "time"], 5), ValueError,
     r"tokens must hold values in \[0, 5\), got values from -1 to 3"),
    (lambda: check_ids("tokens", torch.tensor([5]), ["batch"], 5), ValueError, r"values from 5 to 5"),
    (lambda: check_ids("tokens", torch.tensor([1.0]), ["batch"], 5), TypeError,
     r"tokens must have dtype torch.int64, got torch.float32"),
    (lambda: check_positive("hidden_size", 0, integer=True), ValueError,
     r"hidden_size must be a positive integer, got 0"),
    (lambda: check_positive("layers", 2.5, integer=True), ValueError, r"layers must be a positive integer"),
    (lambda: check_positive("layers", True, integer=True), ValueError, r"layers must be a positive integer"),
    (lambda: check_positive("lr", -0.1), ValueError, r"lr must be a positive number, got -0.1"),
    (lambda: check_positive("lr", float("nan")), ValueError, r"lr must be a positive number, got nan"),
    (lambda: check_in_range("p", 1.0, 0, 1, high_open=True), ValueError, r"p must be in \[0, 1\), got 1.0"),
    (lambda: check_in_range("p", 0, 0, 1, low_open=True), ValueError, r"p must be in \(0, 1\], got 0"),
    (lambda: check_in_range("p", float("nan"), 0, 1), ValueError, r"p must be in \[0, 1\], got nan"),
    (lambda: check_in_range("p", "0.5", 0, 1), ValueError, r"p must be a number in \[0, 1\], got '0.5'"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_values_inside_the_interval_pass():
    check_positive("lr", 1e-3)
    check_positive("size", 3, integer=True)
    check_in_range("p", 0.0, 0, 1, high_open=True)
    check_in_range("p", 1, 0, 1)
