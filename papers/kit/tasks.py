"""
---
title: Synthetic tasks
summary: Generators for algorithmic sequence tasks (copy, reversal) shared by several papers.
---

# Synthetic tasks

Algorithmic tasks are the cleanest test of a sequence model: the right answer is known exactly, data is
unlimited, and a small model can learn them on a CPU in a minute. Each generator takes a
`torch.Generator`, so a batch is a pure function of the seed.

Token ids below `RESERVED` are kept for special symbols (padding, start of sequence); data symbols are
`RESERVED ... RESERVED + symbols - 1`.
"""
from __future__ import annotations

import torch

from papers.kit.checks import check_positive

PAD = 0
BOS = 1
RESERVED = 2


def _check(batch_size: int, length: int, symbols: int) -> None:
    for name, value in (("batch_size", batch_size), ("length", length), ("symbols", symbols)):
        check_positive(name, value, integer=True)


# Random sequences of data symbols, `[batch, length]`.
def random_symbols(batch_size: int, length: int, symbols: int, generator: torch.Generator) -> torch.Tensor:
    _check(batch_size, length, symbols)
    return torch.randint(RESERVED, RESERVED + symbols, (batch_size, length), generator=generator)


# The copy task: the target is the source.
def copy_batch(batch_size: int, length: int, symbols: int,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    source = random_symbols(batch_size, length, symbols, generator)
    return source, source.clone()


# The reversal task: the target is the source read backwards.
def reversal_batch(batch_size: int, length: int, symbols: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    source = random_symbols(batch_size, length, symbols, generator)
    return source, source.flip(dims=[1])
