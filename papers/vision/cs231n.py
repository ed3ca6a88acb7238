r"""
---
title: CS231n Convolutional Neural Networks for Visual Recognition
summary: Hand-written forward and backward passes (affine, ReLU, softmax and SVM losses, im2col convolution,
  max-pooling) checked against autograd in float64, a vectorised kNN checked against scikit-learn, and
  kNN, softmax, a two-layer net and a small CNN compared on digits over five seeds.
---

# CS231n: Convolutional Neural Networks for Visual Recognition

[Stanford CS231n course notes and assignments (cs231n.github.io)](https://cs231n.github.io/)

CS231n teaches image classification from the bottom up. First a classifier with no learning at all, the
*k-nearest-neighbour* rule; then *linear* classifiers scored by a loss (the softmax cross-entropy or the
multiclass SVM hinge); then a *two-layer network*; then *convolutional* networks. Along the way every student
writes each layer's forward pass **and its backward pass** by hand, as a pair of functions:

* `forward(inputs) -> (output, cache)` computes the output and keeps what the backward pass will need;
* `backward(d_output, cache) -> d_inputs` applies the chain rule: given $\partial L / \partial \text{out}$
  it returns $\partial L / \partial \text{input}$ for every input.

A backward pass written by hand is easy to get subtly wrong, so the course insists on a *gradient check*:
compare it with a numerical derivative. We check every one of ours twice in `float64`, against PyTorch's
autograd on the equivalent built-in operation and against central differences.

To train networks with our own backward passes we wrap each pair in a `torch.autograd.Function`: the forward
runs our forward, and when `loss.backward()` reaches the layer, PyTorch calls *our* backward. The
networks below therefore learn through the hand-written gradients (only the cross-entropy at the very top,
inside the shared trainer, is PyTorch's; its gradient is the formula of our `softmax_loss`, tested equal).

## What the experiment shows

On scikit-learn's $8 \times 8$ digits we compare the four classifiers of the course, over five seeds and with
the same care for each:

* **Splits.** Each seed draws its own split of the 1,797 digits into 1,079 training, 269 validation and 449
  test images, so the spread over seeds includes which images are tested. No image occurs twice in the data
  set, so no test image is also a training image.
* **One recipe.** The three learned models train with Adam, batches of 64 and 1,500 steps, with no data
  augmentation and no weight decay (an earlier version of this page gave the CNN one-pixel shifts and the
  others nothing). Each gets its learning rate from the same grid, $10^{-3}$, $3 \cdot 10^{-3}$, $10^{-2}$,
  $3 \cdot 10^{-2}$, chosen by accuracy on the first seed's validation split (ties broken by validation
  loss) and kept for the other seeds: $3 \cdot 10^{-2}$ for softmax (tied with $10^{-2}$ on accuracy), the
  top of the grid; $10^{-2}$ for the two-layer net (tied on accuracy with $10^{-3}$ and $3 \cdot 10^{-2}$);
  and $10^{-3}$ for the CNN (tied with $3 \cdot 10^{-3}$), the bottom of the grid. So all three choices were
  decided by validation loss, and two lie at an edge of the grid, where a rate beyond it was not tried. The
  test images of seed 0 are used only for the final numbers; because every seed draws a fresh split, about a
  quarter of seed 0's validation images, on which the learning rates were chosen, fall in each other seed's
  test set. kNN chooses $k$ from 1, 3, 5 and 7 on each seed's validation split (ties going to the smaller $k$)
  and takes $k = 1$ in every seed.
* **Trained, not under-trained.** Every learned model fits its training set: at least 99.8% training accuracy
  for softmax and 100.0% for both networks, in every seed. What separates them on the test set is
  generalisation.

![Test accuracy of kNN, softmax, two-layer net and CNN over seeds](results/cs231n.png)

Test accuracy, mean of five seeds, and the range over seeds (the bar labels in the figure round the mean of
the unrounded accuracies, so the two-layer net's 97.55% shows there as 97.6%):

| model | test accuracy | over seeds |
|---|---|---|
| kNN ($k = 1$) | 98.7% | 98.0% to 99.3% |
| softmax | 95.6% | 93.3% to 96.7% |
| two-layer net | 97.5% | 96.4% to 98.4% |
| CNN | 98.6% | 97.5% to 99.3% |

The spread between seeds (3.3 points between softmax's best and worst seed) is as large as the differences
between models, so the comparison that matters is the *paired* one: within a seed every model is tested on the
same 449 images (one image is 0.22 points). The difference in test accuracy, per pair:

| pair | mean | over seeds | seeds in which the first is ahead |
|---|---|---|---|
| softmax minus kNN | -3.1 points | -5.1 to -1.8 | none of 5 |
| two-layer net minus kNN | -1.1 points | -2.0 to -0.7 | none of 5 |
| CNN minus kNN | -0.0 points | -0.9 to +1.1 | 2 of 5 (2 behind, 1 tie) |
| two-layer net minus softmax | +2.0 points | +1.1 to +3.1 | 5 of 5 |
| CNN minus softmax | +3.0 points | +2.0 to +4.2 | 5 of 5 |
| CNN minus two-layer net | +1.1 points | +0.7 to +1.8 | 5 of 5 |

Five of the six orderings hold in every one of the five seeds: **softmax < two-layer net < CNN**, and kNN
above both softmax and the two-layer net (a test checks the signs on the recorded run). The sixth, CNN against
kNN, is within noise: their means differ by less than a twentieth of a point and the sign changes between seeds.
The smallest of the five consistent gaps, CNN over the two-layer net and the two-layer net under kNN, are 0.7
points (three images) in their worst seed; five seeds out of five is a consistent sign, not a precise size.
These are orderings of test *accuracy*. The test cross-entropy does not follow the same order on every seed:
the two-layer net's is below softmax's on three seeds but above it on two (ratios 0.95, 1.13, 0.75, 0.72 and
1.03 over seeds 0 to 4), while the CNN's is the lowest of the three on every seed.

This is not the course's order. In its CIFAR-10 assignments kNN with the L2 distance is the weakest of these
classifiers, below the linear ones, with the two-layer net above them and the CNN on top. On these small,
centred, clean digits the single nearest training image is almost always the right digit, and kNN ties the CNN.
The CNN here is the course's three-layer convnet with $3 \times 3$ filters (not the assignment's $7 \times 7$ on
CIFAR-10), and no model is regularised or augmented, so these are the plain classifiers, not the best each could
do.

The course's first sanity check for a new network is that it can *overfit a tiny batch*: with a few dozen
examples and no regularisation, training accuracy must reach 100%, or something is broken. Smaller versions
of both our hand-written networks (a hidden layer of 64 units instead of 128; a CNN of 8 filters and 64 hidden
units instead of 32 and 128) do, on 25 training images, and a test checks it.

![Validation accuracy during training](results/cs231n-curves.png)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from papers.kit.checks import check_positive, check_tensor
from papers.kit.data import Digits, Split, digits
from papers.kit.experiment import Outcome, RunConfig, over_seeds, run_paper
from papers.kit.training import History
from papers.kit.vision import ClassifierTraining, evaluate, train_classifier

Cache = Any


# ## Affine layer
#
# $$\text{out} = x W + b, \qquad x \in \mathbb{R}^{N \times D},\; W \in \mathbb{R}^{D \times M},\;
# b \in \mathbb{R}^{M}.$$
#
# Inputs with more dimensions (images `[N, C, H, W]`) are flattened to `[N, D]` first. The backward pass is
# the chain rule for a matrix product:
#
# $$\frac{\partial L}{\partial x} = \frac{\partial L}{\partial \text{out}} W^\top, \qquad
# \frac{\partial L}{\partial W} = x^\top \frac{\partial L}{\partial \text{out}}, \qquad
# \frac{\partial L}{\partial b} = \sum_n \frac{\partial L}{\partial \text{out}_n}.$$
def affine_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    if w.dim() != 2 or b.shape != (w.shape[1],):
        raise ValueError(f"affine needs w [D, M] and b [M], got w {tuple(w.shape)} and b {tuple(b.shape)}")
    check_tensor("x", x, ["N"] + [None] * max(x.dim() - 1, 1), dtype=w.dtype)
    flat = x.reshape(x.shape[0], -1)  # [N, D]
    if flat.shape[1] != w.shape[0]:
        raise ValueError(f"input of {flat.shape[1]} features does not match w {tuple(w.shape)}")
    return flat @ w + b, (x.shape, flat, w)  # [N, M]


def affine_backward(d_out: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, ...]:
    x_shape, flat, w = cache
    d_x = (d_out @ w.T).reshape(x_shape)
    return d_x, flat.T @ d_out, d_out.sum(dim=0)


# ## ReLU
#
# $\text{out} = \max(0, x)$, element-wise. The gradient flows through where the input was positive and is
# stopped elsewhere: $\partial L / \partial x = \mathbb{1}[x > 0] \cdot \partial L / \partial \text{out}$.
def relu_forward(x: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    positive = x > 0
    return x * positive, positive


def relu_backward(d_out: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, ...]:
    return (d_out * cache,)


# ## Softmax loss
#
# The scores `[N, C]` become probabilities $p_{nj} = e^{s_{nj}} / \sum_k e^{s_{nk}}$ (computed after
# subtracting each row's maximum, which changes nothing mathematically and keeps $e^{s}$ from overflowing).
# The loss is the mean negative log-probability of the correct class, and its gradient is famously simple:
#
# $$L = -\frac{1}{N} \sum_n \log p_{n y_n}, \qquad
# \frac{\partial L}{\partial s_{nj}} = \frac{1}{N}\left(p_{nj} - \mathbb{1}[j = y_n]\right).$$
def _check_scores(scores: torch.Tensor, y: torch.Tensor) -> None:
    sizes = check_tensor("scores", scores, ["N", "C"])
    check_tensor("y", y, ["N"], dtype=torch.long, sizes=sizes)
    if ((y < 0) | (y >= sizes["C"])).any():
        raise ValueError(f"y must hold labels in [0, {sizes['C']}), got values from {y.min()} to {y.max()}")


def softmax_loss(scores: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    _check_scores(scores, y)
    n, rows = scores.shape[0], torch.arange(scores.shape[0], device=scores.device)
    shifted = scores - scores.max(dim=1, keepdim=True).values
    log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # [N, C]
    loss = -log_p[rows, y].mean()
    d_scores = log_p.exp()
    d_scores[rows, y] -= 1
    return loss, d_scores / n


# ## SVM (multiclass hinge) loss
#
# The multiclass SVM wants the correct class to score at least a margin $\Delta$ above every other class:
#
# $$L = \frac{1}{N} \sum_n \sum_{j \ne y_n} \max\left(0,\; s_{nj} - s_{n y_n} + \Delta\right).$$
#
# Each violated margin adds $+1$ to the gradient of the wrong class's score and $-1$ to the correct class's
# (scaled by $1/N$).
def svm_loss(scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    _check_scores(scores, y)
    check_positive("margin", margin)
    n = scores.shape[0]
    rows = torch.arange(n, device=scores.device)
    margins = (scores - scores[rows, y][:, None] + margin).clamp(min=0)  # [N, C]
    margins[rows, y] = 0
    violated = (margins > 0).to(scores.dtype)
    d_scores = violated.clone()
    d_scores[rows, y] = -violated.sum(dim=1)
    return margins.sum() / n, d_scores / n


# ## Convolution by im2col
#
# A convolution is a matrix product in disguise. `im2col` copies every $k_h \times k_w$ receptive field of the
# (zero-padded) input into a column: `[N, C, H, W]` becomes `[N, C k_h k_w, L]`, where $L = H' W'$ is the
# number of output positions, with
#
# $$H' = \left\lfloor \frac{H + 2p - k_h}{s} \right\rfloor + 1 \quad \text{(and likewise } W'\text{)}.$$
#
# `Tensor.unfold` gives the windows as a strided view: `[N, C, H', W', k_h, k_w]`.
def _windows(x: torch.Tensor, kh: int, kw: int, stride: int) -> torch.Tensor:
    windows = x.unfold(2, kh, stride).unfold(3, kw, stride)  # [N, C, H', W', kh, kw]
    n, c, out_h, out_w = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, out_h * out_w)


def _check_window(x_shape: torch.Size, kh: int, kw: int, stride: int, pad: int) -> tuple[int, int]:
    if len(x_shape) != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(x_shape)}")
    if stride <= 0 or pad < 0:
        raise ValueError(f"need stride > 0 and pad >= 0, got stride {stride} and pad {pad}")
    out_h = (x_shape[2] + 2 * pad - kh) // stride + 1
    out_w = (x_shape[3] + 2 * pad - kw) // stride + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"a {kh}x{kw} window does not fit an input of shape {tuple(x_shape)} with pad {pad}")
    return out_h, out_w


def im2col(x: torch.Tensor, kh: int, kw: int, stride: int = 1, pad: int = 0) -> torch.Tensor:
    _check_window(x.shape, kh, kw, stride, pad)
    return _windows(F.pad(x, (pad,) * 4), kh, kw, stride)  # [N, C*kh*kw, L]


# `col2im` is the *adjoint* of `im2col`, which is what the backward pass needs: every column entry is added
# back to the pixel it was copied from, so a pixel shared by overlapping windows collects the sum of their
# gradients.
# To know where each entry came from, we run `im2col` on an image whose pixels hold their own flat index, then
# scatter-add with `index_add_`; padding is cropped at the end.
def col2im(cols: torch.Tensor, x_shape: torch.Size, kh: int, kw: int, stride: int = 1,
           pad: int = 0) -> torch.Tensor:
    n, c, h, w = x_shape
    hp, wp = h + 2 * pad, w + 2 * pad
    source = torch.arange(c * hp * wp, device=cols.device).reshape(1, c, hp, wp)
    index = _windows(source, kh, kw, stride).flatten()  # [C*kh*kw*L]: the padded pixel of every entry
    padded = cols.new_zeros(n, c * hp * wp).index_add_(1, index, cols.reshape(n, -1))
    return padded.reshape(n, c, hp, wp)[:, :, pad:pad + h, pad:pad + w]


# The convolution itself: filters `w` `[F, C, k_h, k_w]` flattened to rows `[F, C k_h k_w]` multiply the
# columns, giving `[N, F, L]`, reshaped to `[N, F, H', W']`. Backward, with $X$ the columns and $G$ the output
# gradient `[N, F, L]`:
#
# $$\frac{\partial L}{\partial W} = \sum_n G_n X_n^\top, \qquad
# \frac{\partial L}{\partial b} = \sum_{n,l} G_{n,:,l}, \qquad
# \frac{\partial L}{\partial x} = \text{col2im}\left(W^\top G_n\right).$$
def conv_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1,
                 pad: int = 0) -> tuple[torch.Tensor, Cache]:
    if w.dim() != 4 or x.dim() != 4 or w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
        raise ValueError(f"conv needs x [N, C, H, W], w [F, C, kh, kw], b [F]; got x {tuple(x.shape)}, "
                         f"w {tuple(w.shape)}, b {tuple(b.shape)}")
    kh, kw = w.shape[2:]
    out_h, out_w = _check_window(x.shape, kh, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)  # [N, C*kh*kw, L]
    rows = w.reshape(w.shape[0], -1)  # [F, C*kh*kw]
    out = rows @ cols + b[:, None]  # [N, F, L]
    return out.reshape(x.shape[0], w.shape[0], out_h, out_w), (x.shape, cols, w, stride, pad)


def conv_backward(d_out: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, ...]:
    x_shape, cols, w, stride, pad = cache
    g = d_out.reshape(d_out.shape[0], d_out.shape[1], -1)  # [N, F, L]
    rows = w.reshape(w.shape[0], -1)  # [F, C*kh*kw]
    d_w = torch.einsum("nfl,nkl->fk", g, cols).reshape(w.shape)
    d_cols = rows.T @ g  # [N, C*kh*kw, L]
    d_x = col2im(d_cols, x_shape, w.shape[2], w.shape[3], stride, pad)
    return d_x, d_w, g.sum(dim=(0, 2))


# ## Max-pooling
#
# Max-pooling reuses im2col: treat every channel as its own one-channel image, take the columns of its
# $k \times k$ windows and keep each column's maximum. Backward, the gradient of an output goes to the one
# input that was the maximum (the *switch*) and nowhere else; `col2im` adds the contributions where windows
# overlap (pooling with stride $< k$, as in AlexNet).
def max_pool_forward(x: torch.Tensor, size: int = 2, stride: int = 2) -> tuple[torch.Tensor, Cache]:
    out_h, out_w = _check_window(x.shape, size, size, stride, 0)
    n, c, h, w = x.shape
    cols = im2col(x.reshape(n * c, 1, h, w), size, size, stride)  # [N*C, size*size, L]
    out, switch = cols.max(dim=1)  # [N*C, L]
    return out.reshape(n, c, out_h, out_w), (x.shape, switch, size, stride)


def max_pool_backward(d_out: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, ...]:
    (n, c, h, w), switch, size, stride = cache
    g = d_out.reshape(n * c, 1, -1)  # [N*C, 1, L]
    d_cols = g.new_zeros(n * c, size * size, g.shape[2]).scatter_(1, switch[:, None], g)
    return (col2im(d_cols, (n * c, 1, h, w), size, size, stride).reshape(n, c, h, w),)


# ## Numerical gradient checking
#
# The course's tool for trusting a backward pass: the central difference
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},$$
#
# whose error is $O(h^2)$. It costs two evaluations of $f$ per input element, so it is for checking, not
# training. `f` maps the tensor to a scalar; `x` is modified in place and restored.
def numerical_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       h: float = 1e-6) -> torch.Tensor:
    if x.dtype != torch.float64:
        raise TypeError(f"gradient checks need float64, got {x.dtype}")
    grad = torch.zeros_like(x)
    flat, grad_flat = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + h
        above = f(x).item()
        flat[i] = saved - h
        below = f(x).item()
        flat[i] = saved
        grad_flat[i] = (above - below) / (2 * h)
    return grad


# The relative error the course reports, $\max_i |a_i - b_i| / \max(|a_i| + |b_i|, \epsilon)$: about
# $10^{-7}$ or less means the gradient is right.
def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs() / (a.abs() + b.abs()).clamp(min=1e-12)).max().item()


# ## Hand-written layers inside autograd
#
# One `autograd.Function` runs any of the pairs above: `forward` calls our forward and keeps its cache, and
# `backward` hands the incoming gradient to our backward. Non-tensor settings (stride, padding) ride along as
# keyword options and get no gradient.
class HandWritten(torch.autograd.Function):
    # pylint: disable=abstract-method,arguments-differ
    @staticmethod
    def forward(ctx: Any, forward: Callable, backward: Callable, options: dict, *inputs: torch.Tensor):
        out, ctx.cache = forward(*inputs, **options)
        ctx.backward_pass = backward
        return out

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor):
        return (None, None, None, *ctx.backward_pass(d_out, ctx.cache))


def affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return HandWritten.apply(affine_forward, affine_backward, {}, x, w, b)


def relu(x: torch.Tensor) -> torch.Tensor:
    return HandWritten.apply(relu_forward, relu_backward, {}, x)


def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, pad: int) -> torch.Tensor:
    return HandWritten.apply(conv_forward, conv_backward, {"pad": pad}, x, w, b)


def max_pool(x: torch.Tensor, size: int = 2, stride: int = 2) -> torch.Tensor:
    return HandWritten.apply(max_pool_forward, max_pool_backward, {"size": size, "stride": stride}, x)


# ## The three learned classifiers
#
# Weights start Gaussian with the He scale $\sigma = \sqrt{2 / \text{fan-in}}$ (the course's advice for ReLU
# networks; $10^{-2}$ for the linear classifier), biases at zero, all drawn from the given generator.
def _weight(shape: tuple[int, ...], std: float, generator: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=generator) * std)


def _he(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> nn.Parameter:
    return _weight(shape, (2.0 / fan_in) ** 0.5, generator)


def check_sizes(**sizes: int) -> None:
    for name, size in sizes.items():
        check_positive(name, size, integer=True)


# The softmax classifier is one affine layer: scores `[N, 10]` from the 64 pixels.
class SoftmaxClassifier(nn.Module):
    def __init__(self, in_features: int, classes: int, generator: torch.Generator) -> None:
        super().__init__()
        check_sizes(in_features=in_features, classes=classes)
        self.w = _weight((in_features, classes), 1e-2, generator)
        self.b = nn.Parameter(torch.zeros(classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine(x, self.w, self.b)  # [N, classes]


# The two-layer net: affine, ReLU, affine.
class TwoLayerNet(nn.Module):
    def __init__(self, in_features: int, hidden: int, classes: int, generator: torch.Generator) -> None:
        super().__init__()
        check_sizes(in_features=in_features, hidden=hidden, classes=classes)
        self.w1 = _he((in_features, hidden), in_features, generator)
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = _he((hidden, classes), hidden, generator)
        self.b2 = nn.Parameter(torch.zeros(classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return affine(relu(affine(x, self.w1, self.b1)), self.w2, self.b2)  # [N, classes]


# The course's *three-layer convnet*: conv ($3 \times 3$, padding 1, so `[N, F, 8, 8]`), ReLU,
# $2 \times 2$ max-pool (`[N, F, 4, 4]`), affine, ReLU, affine.
class SmallCNN(nn.Module):
    def __init__(self, channels: int, filters: int, hidden: int, classes: int, image_size: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        check_sizes(channels=channels, filters=filters, hidden=hidden, classes=classes, image_size=image_size)
        if image_size < 2:
            raise ValueError(f"image_size must be at least 2 for the 2x2 pooling, got {image_size}")
        self.image_size = image_size
        flat = filters * (image_size // 2) ** 2
        self.w_conv = _he((filters, channels, 3, 3), channels * 9, generator)
        self.b_conv = nn.Parameter(torch.zeros(filters))
        self.w1 = _he((flat, hidden), flat, generator)
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = _he((hidden, classes), hidden, generator)
        self.b2 = nn.Parameter(torch.zeros(classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ["N", self.w_conv.shape[1], self.image_size, self.image_size], dtype=self.w_conv.dtype)
        h = max_pool(relu(conv(x, self.w_conv, self.b_conv, pad=1)))  # [N, F, H/2, W/2]
        return affine(relu(affine(h, self.w1, self.b1)), self.w2, self.b2)  # [N, classes]


# ## k-nearest neighbours
#
# kNN learns nothing: `fit` stores the training set, and a test image takes the majority label of its $k$
# nearest training images. The course's exercise is to compute all squared L2 distances without a Python
# loop, by expanding the square:
#
# $$\|a - b\|^2 = \|a\|^2 + \|b\|^2 - 2\, a \cdot b,$$
#
# a matrix product plus two broadcast vectors, `[M, N]` for $M$ queries and $N$ stored points (in `float64`,
# as the cancellation in the difference loses digits). Ties in the vote go to the smallest label.
class KNearestNeighbor:
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.dim() < 1 or x.shape[0] != y.shape[0] or y.dim() != 1:
            raise ValueError(f"need x [N, ...] and labels [N], got {tuple(x.shape)} and {tuple(y.shape)}")
        check_tensor("y", y, ["N"], dtype=torch.long)
        if y.min() < 0:
            raise ValueError(f"y must hold labels >= 0, got {y.min()}")
        self.x = x.reshape(x.shape[0], -1).double()  # [N, D]
        self.y = y
        self.classes = int(y.max()) + 1

    def distances(self, queries: torch.Tensor) -> torch.Tensor:
        q = queries.reshape(queries.shape[0], -1).double()  # [M, D]
        if q.shape[1] != self.x.shape[1]:
            raise ValueError(f"queries have {q.shape[1]} features, the stored points {self.x.shape[1]}")
        squared = (q * q).sum(1)[:, None] + (self.x * self.x).sum(1)[None, :] - 2 * q @ self.x.T
        return squared.clamp(min=0)  # [M, N]

    def predict(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        if not 1 <= k <= len(self.y):
            raise ValueError(f"k must be in [1, {len(self.y)}], got {k}")
        nearest = self.distances(queries).topk(k, dim=1, largest=False).indices  # [M, k]
        votes = F.one_hot(self.y[nearest], self.classes).sum(dim=1)  # [M, classes]
        return votes.argmax(dim=1)  # argmax returns the first maximum: the smallest label


# ## Gradient checks inside the experiment
#
# The experiment also records, for each layer, the largest relative error between our backward pass and
# autograd's gradient of the equivalent PyTorch operation (`reference`), on random `float64` inputs and a
# random output gradient. (The tests check the same and, in addition, compare with numerical gradients.)
def autograd_error(forward: Callable, backward: Callable, reference: Callable, *inputs: torch.Tensor,
                   **options: Any) -> float:
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out, cache = forward(*inputs, **options)
    d_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    expected = torch.autograd.grad(reference(*leaves), leaves, d_out)
    return max(relative_error(e, g) for e, g in zip(expected, backward(d_out, cache)))


def gradient_check_errors(generator: torch.Generator) -> dict[str, float]:
    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    x = rand(4, 3, 7, 7)
    errors = {
        "affine": autograd_error(affine_forward, affine_backward,
                                 lambda x_, w_, b_: x_.reshape(4, -1) @ w_ + b_, x, rand(147, 6), rand(6)),
        "relu": autograd_error(relu_forward, relu_backward, torch.relu, x),
        "conv": autograd_error(conv_forward, conv_backward,
                               lambda x_, w_, b_: F.conv2d(x_, w_, b_, padding=1),
                               x, rand(5, 3, 3, 3), rand(5), pad=1),
        "max_pool": autograd_error(max_pool_forward, max_pool_backward,
                                   lambda x_: F.max_pool2d(x_, 3, 2), x, size=3, stride=2),
    }
    scores, labels = rand(8, 10).requires_grad_(True), torch.randint(0, 10, (8,), generator=generator)
    expected = torch.autograd.grad(F.cross_entropy(scores, labels), scores)[0]
    errors["softmax_loss"] = relative_error(expected, softmax_loss(scores.detach(), labels)[1])
    # PyTorch's multi-margin loss divides by the number of classes; the course's SVM loss does not.
    expected = torch.autograd.grad(10 * F.multi_margin_loss(scores, labels), scores)[0]
    errors["svm_loss"] = relative_error(expected, svm_loss(scores.detach(), labels)[1])
    return errors


# ## Training and comparing
#
# **Splits.** The 1,797 digits are split afresh for every seed, with the kit's sizes (1,079 training, 269
# validation and 449 test images): each seed draws its own split, initial weights and batch order, so the
# spread over seeds includes which 449 images happen to be the test set. No image occurs twice in the data
# set, so no test image is also a training image.
def split_for_seed(data: Digits, seed: int) -> Digits:
    x = torch.cat([data.train.x, data.valid.x, data.test.x])
    y = torch.cat([data.train.y, data.valid.y, data.test.y])
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_train, n_valid = len(data.train.y), len(data.valid.y)
    parts = order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:]
    return Digits(*(Split(x[part], y[part]) for part in parts))


# **The same recipe for every learned model**: Adam, mini-batches of 64, the same number of steps, no data
# augmentation and no weight decay. The learning rate is each model's own, chosen from the same grid by
# validation accuracy (ties broken by validation loss) on the first seed's split and then kept for the other
# seeds. kNN picks its $k$ on each seed's validation split. The test images of seed 0 are used only for the final
# numbers; because every seed draws a fresh split, about a quarter of seed 0's validation images, on which the
# learning rates were chosen, fall in each other seed's test set.
# (The quick run of the tests sweeps only the middle two rates.)
LEARNING_RATES = (1e-3, 3e-3, 1e-2, 3e-2)
MODELS: dict[str, Callable[[torch.Generator], nn.Module]] = {
    "softmax": lambda g: SoftmaxClassifier(64, 10, g),
    "two-layer net": lambda g: TwoLayerNet(64, 128, 10, g),
    "CNN": lambda g: SmallCNN(1, 32, 128, 10, 8, g),
}


def choose_k(knn: KNearestNeighbor, valid: Split,
             candidates: tuple[int, ...] = (1, 3, 5, 7)) -> dict[int, float]:
    return {k: (knn.predict(valid.x, k) == valid.y).double().mean().item() for k in candidates}


def train(model: nn.Module, data_train: Split, data_valid: Split, steps: int, lr: float,
          generator: torch.Generator) -> History:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    settings = ClassifierTraining(steps=steps, batch_size=64, eval_every=max(steps // 20, 1))
    return train_classifier(model, optimizer, data_train, data_valid, settings, generator)


# One trained model; its seed fixes the initial weights and the batches.
def trained(name: str, data: Digits, steps: int, lr: float, seed: int) -> tuple[nn.Module, History]:
    generator = torch.Generator().manual_seed(seed)
    model = MODELS[name](generator)
    return model, train(model, data.train, data.valid, steps, lr, generator)


def best_rate(runs: dict[float, tuple[nn.Module, History]]) -> float:
    return max(runs, key=lambda lr: (runs[lr][1].last("eval_accuracy"), -runs[lr][1].last("eval_loss")))


# The sanity check: `size` training examples, no regularisation, a few hundred full-batch steps; returns the
# training accuracy reached (it should be 1.0).
def overfit_tiny_batch(model: nn.Module, data: Split, size: int, steps: int,
                       generator: torch.Generator) -> float:
    tiny = Split(x=data.x[:size], y=data.y[:size])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    settings = ClassifierTraining(steps=steps, batch_size=size, eval_every=steps)
    train_classifier(model, optimizer, tiny, tiny, settings, generator)
    return evaluate(model, tiny)[1]


# ### One seed
#
# kNN with the $k$ its validation split prefers, and the three learned models at their chosen rates (the first
# seed reuses the models of the sweep). Returns test accuracy, test cross-entropy and validation accuracy per
# model, training accuracy of the learned ones, the chosen $k$, and the training histories.
@dataclass
class SeedRun:
    test_accuracy: dict[str, float]
    test_loss: dict[str, float]
    train_accuracy: dict[str, float]
    valid_accuracy: dict[str, float]
    knn_valid: dict[int, float]
    histories: dict[str, History]


def run_seed(data: Digits, seed: int, steps: int, rates: dict[str, float],
             reuse: dict[str, tuple[nn.Module, History]] | None = None) -> SeedRun:
    knn = KNearestNeighbor(data.train.x, data.train.y)
    knn_valid = choose_k(knn, data.valid)
    k = max(knn_valid, key=knn_valid.get)
    run = SeedRun({"kNN": (knn.predict(data.test.x, k) == data.test.y).double().mean().item()}, {}, {},
                  {"kNN": knn_valid[k]}, knn_valid, {})
    for name in MODELS:
        model, history = reuse[name] if reuse else trained(name, data, steps, rates[name], seed)
        run.test_loss[name], run.test_accuracy[name] = evaluate(model, data.test)
        run.train_accuracy[name] = evaluate(model, data.train)[1]
        run.valid_accuracy[name], run.histories[name] = history.last("eval_accuracy"), history
    return run


# ### Every seed
#
# The comparison the page is about: each model's test accuracy over seeds, and for every pair the per-seed
# difference in accuracy (the models of one seed share its test images, so the difference is paired).
def experiment(config: RunConfig) -> Outcome:
    generator = torch.Generator().manual_seed(config.seed)
    steps = config.train_steps(1500, 500)
    seeds = [config.seed + i for i in range(config.choose(5, 2))]
    grid = config.choose(LEARNING_RATES, LEARNING_RATES[1:3])
    splits = {seed: split_for_seed(digits(), seed) for seed in seeds}

    sweep = {name: {lr: trained(name, splits[seeds[0]], steps, lr, seeds[0]) for lr in grid}
             for name in MODELS}
    rates = {name: best_rate(runs) for name, runs in sweep.items()}
    runs = {seeds[0]: run_seed(splits[seeds[0]], seeds[0], steps, rates,
                               reuse={name: sweep[name][rates[name]] for name in MODELS})}
    for seed in seeds[1:]:
        runs[seed] = run_seed(splits[seed], seed, steps, rates)

    names = ["kNN", *MODELS]
    test = {name: over_seeds({s: r.test_accuracy[name] for s, r in runs.items()}) for name in names}
    gaps = {f"{b} - {a}": over_seeds({s: r.test_accuracy[b] - r.test_accuracy[a] for s, r in runs.items()})
            for i, a in enumerate(names) for b in names[i + 1:]}
    order = " < ".join(sorted(names, key=lambda name: test[name]["mean"]))
    overfit = {name: overfit_tiny_batch(model, splits[seeds[0]].train, 25, 200, generator)
               for name, model in (("two-layer net", TwoLayerNet(64, 64, 10, generator)),
                                   ("CNN", SmallCNN(1, 8, 64, 10, 8, generator)))}
    gradient_errors = gradient_check_errors(generator)
    headline = (f"test accuracy, mean of {len(seeds)} seeds: " +
                ", ".join(f"{name} {test[name]['mean']:.3f}" for name in names) +
                f" (order of the means: {order}); largest gradient-check error "
                f"{max(gradient_errors.values()):.1e}")
    metrics = {
        "seeds": seeds,
        "test_images": len(splits[seeds[0]].test.y),
        "train_steps": steps,
        "test_accuracy": test,
        "test_accuracy_gap": gaps,
        "test_loss": {name: over_seeds({s: r.test_loss[name] for s, r in runs.items()}) for name in MODELS},
        "train_accuracy": {name: over_seeds({s: r.train_accuracy[name] for s, r in runs.items()}) for name in MODELS},
        "valid_accuracy": {name: over_seeds({s: r.valid_accuracy[name] for s, r in runs.items()})
                           for name in names},
        "order_of_means": order,
        "learning_rate_sweep_valid_accuracy": {
            name: {str(lr): history.last("eval_accuracy") for lr, (_, history) in by_rate.items()}
            for name, by_rate in sweep.items()},
        "learning_rate": rates,
        "knn_k": {str(s): max(r.knn_valid, key=r.knn_valid.get) for s, r in runs.items()},
        "knn_valid_accuracy_by_k": {str(key): value for key, value in runs[seeds[0]].knn_valid.items()},
        "overfit_25_examples_train_accuracy": overfit,
        "gradient_check_relative_error": gradient_errors,
    }
    first = runs[seeds[0]]
    return Outcome(headline=headline, metrics=metrics,
                   figures={"": accuracy_figure(runs),
                            "curves": curves_figure(first.histories, first.valid_accuracy["kNN"])})


# ## Figures
#
# Test accuracy per model: the mean over seeds as a bar, each seed as a dot.
def accuracy_figure(runs: dict[int, SeedRun]) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    names = list(next(iter(runs.values())).test_accuracy)
    per_seed = [[100 * run.test_accuracy[name] for run in runs.values()] for name in names]
    means = [sum(values) / len(values) for values in per_seed]
    bars = ax.bar(names, means, color=["#999999", "#4c72b0", "#55a868", "#c44e52"], alpha=0.8)
    ax.bar_label(bars, fmt="%.1f%%", padding=6)
    for i, values in enumerate(per_seed):
        ax.plot([i] * len(values), values, "o", color="black", markersize=3)
    ax.set_ylim(min(min(v) for v in per_seed) - 3, 100.5)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Digits, 8x8: the CS231n classifiers ({len(runs)} seeds)")
    fig.tight_layout()
    return fig


def curves_figure(histories: dict[str, History], knn_valid: float) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, history in histories.items():
        percent = [100 * v for v in history.values("eval_accuracy")]
        ax.plot(history.steps("eval_accuracy"), percent, label=name)
    ax.axhline(100 * knn_valid, color="#999999", linestyle="--", label="kNN (no training)")
    ax.set_ylim(80, 100.5)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("First seed, chosen learning rates")
    ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_paper(__file__, experiment)
