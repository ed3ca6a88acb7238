r"""
---
title: Vision helpers
summary: Digits at a larger size, shift augmentation, and a small trainer for image classifiers.
---

# Vision helpers

The vision papers train classifiers on scikit-learn's $8 \times 8$ digits. What they share lives here:
resizing the images when a network needs room for depth, a label-preserving augmentation, and a trainer
that records training loss and accuracy and, periodically, the evaluation accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Split
from papers.kit.training import History, accuracy, optimizer_step, train_loop


# ## Resizing
#
# Bilinear resizing of images `[N, C, H, W]` to `[N, C, size, size]`. Deep networks with pooling need more
# than $8 \times 8$ pixels; the information content is unchanged.
def resize(split: Split, size: int) -> Split:
    check_positive("size", size, integer=True)
    check_tensor("split.x", split.x, ["N", "C", "H", "W"])
    x = F.interpolate(split.x, size=(size, size), mode="bilinear", align_corners=False)
    return Split(x=x, y=split.y)


# ## Augmentation
#
# Random translations by up to `max_shift` pixels in each direction: pad with zeros (the background), then
# crop a window of the original size at a random offset per image. A digit moved by a pixel is the same digit.
def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    check_shift(max_shift)
    check_tensor("x", x, ["N", "C", "H", "W"], dtype=None)
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).to(x.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # [N, H]
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # [N, W]
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Gather the window of each image: padded[b, :, rows[b], cols[b]] -> [N, H, W, C] -> [N, C, H, W]
    window = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return window.permute(0, 3, 1, 2).contiguous()


def check_shift(max_shift: int) -> None:
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer, got {max_shift!r}")


# ## Evaluation
#
# Mean cross-entropy and accuracy of `model` on a whole split, in evaluation mode, without gradients.
@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int = 512) -> tuple[float, float]:
    check_positive("batch_size", batch_size, integer=True)
    sizes = check_tensor("split.x", split.x, ["N", *[None] * (split.x.dim() - 1)])
    check_tensor("split.y", split.y, ["N"], dtype=torch.long, sizes=sizes)
    was_training = model.training
    model.eval()
    losses, correct = [], []
    for start in range(0, len(split.y), batch_size):
        logits = model(split.x[start:start + batch_size])
        targets = split.y[start:start + batch_size]
        losses.append(F.cross_entropy(logits, targets, reduction="sum"))
        correct.append((logits.argmax(dim=-1) == targets).sum())
    model.train(was_training)
    n = len(split.y)
    return (torch.stack(losses).sum() / n).item(), (torch.stack(correct).sum() / n).item()


# ## Training a classifier
#
# Mini-batch training with cross-entropy. Each step draws a batch with the trainer's generator, applies the
# augmentation if any, and takes an optimiser step. Every `eval_every` steps (and at the end) it measures the
# evaluation split, recorded as `eval_loss` and `eval_accuracy`.
@dataclass
class ClassifierTraining:
    steps: int
    batch_size: int = 64
    max_shift: int = 0
    eval_every: int = 100
    clip_norm: float | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every"):
            check_positive(name, getattr(self, name), integer=True)
        check_shift(self.max_shift)
        if self.clip_norm is not None:
            check_positive("clip_norm", self.clip_norm)


def train_classifier(model: nn.Module, optimizer: torch.optim.Optimizer, train: Split, evaluation: Split,
                     settings: ClassifierTraining, generator: torch.Generator) -> History:
    if settings.batch_size <= 0 or settings.batch_size > len(train.y):
        raise ValueError(f"batch_size must be in [1, {len(train.y)}], got {settings.batch_size}")
    model.train()

    def step(i: int) -> dict[str, float]:
        index = torch.randint(0, len(train.y), (settings.batch_size,), generator=generator)
        x = random_shift(train.x[index], settings.max_shift, generator)
        logits = model(x)
        loss = F.cross_entropy(logits, train.y[index])
        metrics = {"loss": optimizer_step(loss, optimizer, parameters=model.parameters(),
                                          clip_norm=settings.clip_norm),
                   "train_accuracy": accuracy(logits.detach(), train.y[index])}
        if (i + 1) % settings.eval_every == 0 or i + 1 == settings.steps:
            metrics["eval_loss"], metrics["eval_accuracy"] = evaluate(model, evaluation)
        return metrics

    return train_loop(settings.steps, step, log_every=settings.eval_every)
