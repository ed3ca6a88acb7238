r"""
---
title: Checking inputs
summary: "One place for the checks at every module's boundary: shapes with named dimensions, dtypes and
  hyper-parameter ranges, with errors that name the argument, what was expected and what came."
---

# Checking inputs

A module given the wrong input should say so at its boundary, in the caller's words, rather than fail deep
inside PyTorch (or, worse, broadcast and return a wrong answer). Every paper checks its public inputs with the
few functions here, one line each, so the page still reads as the paper:

```python
sizes = check_tensor("x", x, ["batch", "time", self.input_size], dtype=self.weight.dtype)
check_tensor("h0", h0, [sizes["batch"], self.hidden_size], dtype=x.dtype)
check_ids("tokens", tokens, ["batch", "time"], self.vocab_size, sizes=sizes)
check_positive("hidden_size", hidden_size, integer=True)
```

A shape is a list with one entry per dimension: an `int` is an exact size, a name (`"batch"`) is any size but
must agree wherever the same name appears in one `sizes` dictionary, and `None` is any size. Errors say which
argument, the shape or value expected and the one received:

```text
ValueError: x must have shape [batch, time, 64], got (2, 5, 32): dimension 2 should be 64
ValueError: h0 must have shape [batch=3, 128], got (1, 128): dimension 0 (batch) should be 3
TypeError: x must have dtype torch.float32, got torch.float64
ValueError: tokens must hold values in [0, 65), got values from -1 to 12
ValueError: hidden_size must be a positive integer, got 0
```
"""
from __future__ import annotations

from typing import Sequence

import torch

# A dimension of an expected shape: an exact size, a name shared between arguments, or any size.
Dim = int | str | None


# ## Tensors
#
# `dtype` is an exact `torch.dtype` (a module's parameter dtype, `torch.long` for token ids, `torch.bool` for
# masks), `"float"` for any floating-point dtype, or `None` for any. `sizes` binds named dimensions across
# the arguments of one call; the function fills it in and returns it. An empty tensor (a dimension of size 0)
# is refused unless `allow_empty`: an empty batch makes a mean over it NaN.
def check_tensor(name: str, x: object, shape: Sequence[Dim], *, dtype: torch.dtype | str | None = "float",
                 sizes: dict[str, int] | None = None, allow_empty: bool = False) -> dict[str, int]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    sizes = {} if sizes is None else sizes
    expected = _describe(shape, sizes)
    if x.dim() != len(shape):
        raise ValueError(f"{name} must have shape [{expected}] ({len(shape)} dimensions), got {tuple(x.shape)}")
    for axis, (want, got) in enumerate(zip(shape, x.shape)):
        if isinstance(want, int) and got != want:
            raise ValueError(f"{name} must have shape [{expected}], got {tuple(x.shape)}: "
                             f"dimension {axis} should be {want}")
        if isinstance(want, str):
            if sizes.setdefault(want, got) != got:
                raise ValueError(f"{name} must have shape [{expected}], got {tuple(x.shape)}: "
                                 f"dimension {axis} ({want}) should be {sizes[want]}")
    if not allow_empty and x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    _check_dtype(name, x, dtype)
    return sizes


# Token ids, labels or positions: an `int64` tensor of the given shape whose values lie in `[0, count)`. An
# out-of-range id would otherwise fail deep inside `nn.Embedding`, or, as a negative index, silently pick the
# last row. (Values are not read on the `meta` device, which has none.)
def check_ids(name: str, ids: object, shape: Sequence[Dim], count: int, *,
              sizes: dict[str, int] | None = None, allow_empty: bool = False) -> dict[str, int]:
    sizes = check_tensor(name, ids, shape, dtype=torch.long, sizes=sizes, allow_empty=allow_empty)
    assert isinstance(ids, torch.Tensor)
    if ids.device.type != "meta" and ids.numel() > 0:
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= count:
            raise ValueError(f"{name} must hold values in [0, {count}), got values from {low} to {high}")
    return sizes


def _check_dtype(name: str, x: torch.Tensor, dtype: torch.dtype | str | None) -> None:
    if dtype is None:
        return
    if dtype == "float":
        if not x.is_floating_point():
            raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    elif isinstance(dtype, str):
        raise ValueError(f"dtype must be a torch.dtype, 'float' or None, got {dtype!r}")
    elif x.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {x.dtype}")


# `[batch, time, 64]`, with the sizes already bound written in: `[batch=3, time, 64]`.
def _describe(shape: Sequence[Dim], sizes: dict[str, int]) -> str:
    def one(dim: Dim) -> str:
        if dim is None:
            return "*"
        if isinstance(dim, str) and dim in sizes:
            return f"{dim}={sizes[dim]}"
        return str(dim)
    return ", ".join(one(dim) for dim in shape)


# ## Hyper-parameters
#
# A size, a count or a rate that must be positive; `integer=True` also refuses `2.5` and `True`.
def check_positive(name: str, value: object, *, integer: bool = False) -> None:
    if integer:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


# A value in an interval, closed at both ends unless told otherwise: `check_in_range("p", p, 0, 1,
# high_open=True)` accepts $0 \le p < 1$. NaN is never in range.
def check_in_range(name: str, value: object, low: float, high: float, *,
                   low_open: bool = False, high_open: bool = False) -> None:
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
