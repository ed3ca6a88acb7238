r"""
---
title: Loss by position
summary: The held-out loss at each position of a window, for pages that train on short windows and test on
  long ones (relative positions, rotary embeddings, linear biases).
---

# Loss by position

A model trained on windows of $L$ characters and evaluated on windows of $4L$ mixes two things in its mean
loss: the first $L$ positions, which look like training, and the positions from $L$ on, which no training
window had. Pages about position schemes ("train short, test long") need the two apart, so they measure the
loss at each position $t$ of the window, averaged over the held-out windows:

$$\ell_t = \frac{1}{W}\sum_{w=1}^{W} -\ln p_\theta\left(x^{(w)}_{t+1} \mid x^{(w)}_{1..t}\right)
\quad \text{(nats)},$$

and average $\ell_t$ over whichever range of $t$ they report. The windows are the
[shared harness's](char_transformer.py) fixed validation windows, so the mean of $\ell_t$ over all positions
is exactly the harness's `validation_loss` on the same windows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_tensor


# `windows` is `(inputs, targets)`, each `[count, length]` (from `validation_windows`); returns the mean
# next-character cross-entropy at each position, `[length]`, in nats, computed in evaluation mode without
# gradients (the model's mode is restored afterwards).
@torch.no_grad()
def validation_loss_by_position(model: nn.Module, windows: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    inputs, targets = windows
    sizes = check_tensor("inputs", inputs, ["count", "length"], dtype=torch.long)
    check_tensor("targets", targets, ["count", "length"], dtype=torch.long, sizes=sizes)
    was_training = model.training
    model.eval()
    logits = model(inputs)  # [count, length, vocab]
    model.train(was_training)
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # [count, length]
    return losses.mean(dim=0)
