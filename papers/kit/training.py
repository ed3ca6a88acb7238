"""
---
title: The training loop
summary: A small loop that shows progress and logs metrics with labml, and records their history.
---

# The training loop

Each paper writes its own training *step*, the part that teaches something: a forward pass, a loss, an
update. The loop around it is the same everywhere, so it lives here once: it runs the step for a number of
iterations, shows progress with labml's `monit`, logs the step's metrics with labml's `tracker`, and keeps
their history for the figures.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterator

import torch
from labml import monit, tracker
from torch import nn

from papers.kit.checks import check_positive, check_tensor


# ## The history of a run
#
# A step returns a dictionary of metrics, for instance `{"loss": 2.3}` on most steps and
# `{"loss": 2.3, "valid_loss": 2.5}` on evaluation steps; each metric keeps its own list of (step, value).
class History:
    def __init__(self) -> None:
        self._series: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def record(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self._series[name].append((step, float(value)))

    def steps(self, name: str) -> list[int]:
        return [step for step, _ in self._require(name)]

    def values(self, name: str) -> list[float]:
        return [value for _, value in self._require(name)]

    def last(self, name: str) -> float:
        return self._require(name)[-1][1]

    def _require(self, name: str) -> list[tuple[int, float]]:
        if name not in self._series:
            raise KeyError(f"no metric named {name!r} was recorded; have {sorted(self._series)}")
        return self._series[name]


# ## The loop
#
# `step(i)` does one iteration and returns its metrics. On the first iteration, then after every `log_every`
# iterations (`i + 1` a multiple of it, the same rhythm as evaluations) and on the last, the metrics go to
# labml's tracker, which prints them beside the progress bar. The tracker's metrics are cleared first, so the
# progress line shows this loop's metrics only, not those an earlier loop (another arm of the experiment,
# another test) left.
def train_loop(steps: int, step: Callable[[int], dict[str, float]], *, log_every: int = 50) -> History:
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    if log_every <= 0:
        raise ValueError(f"log_every must be positive, got {log_every}")
    _clear_tracked_metrics()
    history = History()
    for i in monit.loop(steps):
        metrics = step(i)
        history.record(i, metrics)
        if i == 0 or (i + 1) % log_every == 0 or i == steps - 1:
            tracker.save(i, metrics)
    return history


# labml's own `tracker.reset()` fails on its second call (labml 0.5.3 deletes a key from its shared default
# configuration the first time), so the metrics it tracks are cleared directly.
def _clear_tracked_metrics() -> None:
    tracker._internal().indicators.clear()  # pylint: disable=protected-access


# ## One optimiser update
#
# Clear the gradients, back-propagate the loss, optionally clip the global gradient norm, update. Returns the
# loss as a float for logging.
def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, *,
                   parameters: Iterator[nn.Parameter] | None = None, clip_norm: float | None = None) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm is not None:
        if parameters is None:
            raise ValueError("clip_norm needs the parameters to clip")
        check_positive("clip_norm", clip_norm)
        nn.utils.clip_grad_norm_(parameters, clip_norm)
    optimizer.step()
    return loss.item()


# ## Accuracy
#
# Fraction of positions where the arg-max of `logits` `[..., classes]` equals `targets` `[...]`;
# positions where `mask` is `False` are left out.
def accuracy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)}")
    check_tensor("logits", logits, [None] * logits.dim())
    check_tensor("targets", targets, [None] * targets.dim(), dtype=torch.long)
    correct = logits.argmax(dim=-1) == targets
    if mask is not None:
        check_tensor("mask", mask, list(targets.shape), dtype=torch.bool)
        if not mask.any():
            raise ValueError("mask selects no positions: the accuracy of nothing is undefined")
        correct = correct[mask]
    return correct.float().mean().item()
