"""Tests for the CS231n building blocks: hand-written backward passes, kNN, and the classifier comparison."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.neighbors import KNeighborsClassifier

from papers.kit.data import Split, digits
from papers.kit.experiment import RunConfig, quoted_on_page, recorded_metrics, seed_everything
from papers.vision import cs231n as paper
from papers.kit.vision import evaluate
from papers.vision.cs231n import (KNearestNeighbor, SmallCNN, TwoLayerNet, affine, affine_backward,
                                  affine_forward, col2im, conv, conv_backward, conv_forward, experiment,
                                  im2col, max_pool, max_pool_backward, max_pool_forward, numerical_gradient,
                                  overfit_tiny_batch, relative_error, relu, relu_backward, relu_forward,
                                  softmax_loss, split_for_seed, svm_loss)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def autograd_gradients(reference, inputs, d_out):
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    return torch.autograd.grad(reference(*leaves), leaves, d_out)


# Each case: our forward, our backward, PyTorch's equivalent, the inputs, the options.
CASES = {
    "affine": (affine_forward, affine_backward, lambda x, w, b: x.reshape(3, -1) @ w + b,
               (rand(3, 2, 4, 4), rand(32, 5, seed=1), rand(5, seed=2)), {}),
    "relu": (relu_forward, relu_backward, torch.relu, (rand(3, 2, 4, 4),), {}),
    "conv pad 1": (conv_forward, conv_backward, lambda x, w, b: F.conv2d(x, w, b, padding=1),
                   (rand(2, 3, 6, 6), rand(4, 3, 3, 3, seed=1), rand(4, seed=2)), {"pad": 1}),
    "conv stride 2": (conv_forward, conv_backward, lambda x, w, b: F.conv2d(x, w, b, stride=2),
                      (rand(2, 3, 7, 7), rand(4, 3, 3, 2, seed=1), rand(4, seed=2)), {"stride": 2}),
    "max-pool 2/2": (max_pool_forward, max_pool_backward, lambda x: F.max_pool2d(x, 2, 2),
                     (rand(2, 3, 6, 6),), {}),
    "max-pool 3/2 (overlapping)": (max_pool_forward, max_pool_backward, lambda x: F.max_pool2d(x, 3, 2),
                                   (rand(2, 3, 7, 7),), {"size": 3, "stride": 2}),
}


@pytest.mark.parametrize("name", CASES)
def test_forward_and_backward_match_autograd(name):
    forward, backward, reference, inputs, options = CASES[name]
    out, cache = forward(*inputs, **options)
    torch.testing.assert_close(out, reference(*inputs), rtol=0, atol=1e-12)
    d_out = rand(*out.shape, seed=7)
    for ours, expected in zip(backward(d_out, cache), autograd_gradients(reference, inputs, d_out)):
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_backward_matches_numerical_gradient(name):
    forward, backward, _, inputs, options = CASES[name]
    inputs = [t.clone() for t in inputs]
    d_out = rand(*forward(*inputs, **options)[0].shape, seed=7)
    grads = backward(d_out, forward(*inputs, **options)[1])
    for i, grad in enumerate(grads):
        # The scalar (out * d_out).sum() has gradient d_out^T d out / d input: what backward computes.
        numerical = numerical_gradient(lambda _: (forward(*inputs, **options)[0] * d_out).sum(), inputs[i])
        # Central differences with h = 1e-6 carry about 1e-10 of rounding error; measured worst case 1.0e-6.
        assert relative_error(grad, numerical) < 1e-5


def test_numerical_gradient_of_a_known_function():
    x = rand(5)
    torch.testing.assert_close(numerical_gradient(lambda t: t.sin().sum(), x), x.cos(), rtol=1e-8, atol=1e-9)


def test_im2col_matches_unfold_and_col2im_is_its_adjoint():
    x, cols = rand(2, 3, 6, 5), rand(2, 27, 9, seed=1)
    torch.testing.assert_close(im2col(x, 3, 3, stride=2, pad=1), F.unfold(x, 3, padding=1, stride=2))
    torch.testing.assert_close(col2im(cols, x.shape, 3, 3, stride=2, pad=1),
                               F.fold(cols, (6, 5), 3, padding=1, stride=2))


def test_softmax_loss_matches_cross_entropy():
    scores, labels = rand(6, 10), torch.tensor([0, 3, 9, 2, 2, 5])
    loss, d_scores = softmax_loss(scores, labels)
    torch.testing.assert_close(loss, F.cross_entropy(scores, labels))
    one = torch.tensor(1.0, dtype=torch.float64)
    expected = autograd_gradients(lambda s: F.cross_entropy(s, labels), [scores], one)
    torch.testing.assert_close(d_scores, expected[0])
    numerical = numerical_gradient(lambda s: softmax_loss(s, labels)[0], scores.clone())
    assert relative_error(d_scores, numerical) < 1e-6


def test_svm_loss_is_pytorch_multi_margin_loss_times_classes():
    scores, labels = rand(6, 10), torch.tensor([0, 3, 9, 2, 2, 5])
    loss, d_scores = svm_loss(scores, labels)
    reference = lambda s: 10 * F.multi_margin_loss(s, labels)  # pylint: disable=unnecessary-lambda-assignment
    torch.testing.assert_close(loss, reference(scores))
    expected = autograd_gradients(reference, [scores], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(d_scores, expected[0])
    numerical = numerical_gradient(lambda s: svm_loss(s, labels)[0], scores.clone())
    assert relative_error(d_scores, numerical) < 1e-6


def test_hand_written_layers_pass_torch_gradcheck():
    x, w, b = rand(2, 2, 5, 5).requires_grad_(), rand(3, 2, 3, 3, seed=1).requires_grad_(), rand(3, seed=2)
    w_fc = rand(12, 4, seed=3).requires_grad_()
    b.requires_grad_()

    def network(x_, w_, b_, w_fc_):
        h = max_pool(relu(conv(x_, w_, b_, pad=1)), size=3, stride=2)  # [2, 3, 2, 2]
        return affine(h, w_fc_, torch.zeros(4, dtype=torch.float64))

    assert torch.autograd.gradcheck(network, (x, w, b, w_fc))


def test_knn_distances_and_predictions_match_scikit_learn():
    gen = torch.Generator().manual_seed(0)
    train_x, train_y = torch.randn(60, 5, generator=gen), torch.randint(0, 4, (60,), generator=gen)
    queries = torch.randn(25, 5, generator=gen)
    knn = KNearestNeighbor(train_x, train_y)
    torch.testing.assert_close(knn.distances(queries), torch.cdist(queries.double(), train_x.double()) ** 2)
    for k in (1, 3, 5, 8):
        reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
        reference.fit(train_x.numpy(), train_y.numpy())
        assert knn.predict(queries, k).tolist() == reference.predict(queries.numpy()).tolist()


def test_knn_on_digits_matches_scikit_learn():
    data = digits()
    knn = KNearestNeighbor(data.train.x, data.train.y)
    flat = lambda x: x.reshape(len(x), -1).numpy()  # pylint: disable=unnecessary-lambda-assignment
    reference = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(flat(data.train.x), data.train.y)
    assert (knn.predict(data.test.x, 3).numpy() == reference.predict(flat(data.test.x))).all()


TINY_NETWORKS = {"two_layer": lambda g: TwoLayerNet(64, 64, 10, g), "cnn": lambda g: SmallCNN(1, 8, 64, 10, 8, g)}


def overfit_metrics(seed: int) -> dict[str, float]:
    """Accuracy on, and mean loss over, 25 training images after 200 steps on them alone."""
    train_split, metrics = digits().train, {}
    for name, make in TINY_NETWORKS.items():
        seed_everything(seed)
        gen = torch.Generator().manual_seed(seed)
        model = make(gen)
        metrics[f"{name}_accuracy"] = overfit_tiny_batch(model, train_split, size=25, steps=200, generator=gen)
        metrics[f"{name}_loss"] = evaluate(model, Split(train_split.x[:25], train_split.y[:25]))[0]
    return metrics


# The course's sanity check: both networks memorise 25 images (every one right, and a loss near zero).
# Measured over seeds 0-2 at 1 thread and portable kernels: accuracy 1.0 throughout; loss 0.0015-0.0019
# (two-layer net) and 0.0003-0.0005 (CNN), threshold 0.05.
@pytest.mark.claim
def test_overfits_a_tiny_batch():
    metrics = overfit_metrics(0)
    for name in TINY_NETWORKS:
        assert metrics[f"{name}_accuracy"] == 1.0
        assert metrics[f"{name}_loss"] < 0.05


def claim_metrics(seed: int) -> dict[str, float]:
    """The quick run's mean test cross-entropy ratios and accuracy gaps (means of its two seeds)."""
    metrics = experiment(RunConfig(seed=seed, quick=True)).metrics
    loss, gap = metrics["test_loss"], metrics["test_accuracy_gap"]
    return {"two_layer_over_softmax_loss": loss["two-layer net"]["mean"] / loss["softmax"]["mean"],
            "cnn_over_two_layer_loss": loss["CNN"]["mean"] / loss["two-layer net"]["mean"],
            "knn_minus_softmax": -gap["softmax - kNN"]["mean"],
            "two_layer_minus_softmax": gap["two-layer net - softmax"]["mean"],
            "cnn_minus_softmax": gap["CNN - softmax"]["mean"],
            "cnn_minus_two_layer": gap["CNN - two-layer net"]["mean"],
            "cnn_minus_knn": gap["CNN - kNN"]["mean"]}


# The quick run: 500 steps, two seeds (each with its own split), learning rate from the middle two rates of the
# grid, 449 test images per seed. Accuracy gaps of one or two points rest on a handful of images, so the claim is
# checked on the mean test cross-entropy, which averages over every test image, and on the widest accuracy gap.
# Measured (scripts/calibrate.py, seeds 0-2 at 1 thread and under portable kernels, the same values in both; the
# 2-thread runs were cut for time on a loaded machine): two-layer over softmax loss 0.52-0.58 (threshold 0.8),
# CNN over two-layer loss 0.45-0.53 (threshold 0.75), kNN minus softmax accuracy 0.030-0.038 (threshold 0.015).
# (CNN minus kNN, -0.003 to -0.002, is within noise and not asserted, as on the page.)
# The cross-entropy ratios hold in this quick run (mean of two seeds) only: in the recorded full run the two-layer
# net's test cross-entropy is above softmax's on 2 of 5 seeds (per-seed ratios 0.95, 1.13, 0.75, 0.72, 1.03), as
# the page says. The page's claim is the accuracy ordering on every seed, checked on the recorded run below.
@pytest.mark.claim
def test_quick_run_cross_entropy_order_and_knn_above_softmax():
    metrics = claim_metrics(0)
    assert metrics["two_layer_over_softmax_loss"] < 0.8
    assert metrics["cnn_over_two_layer_loss"] < 0.75
    assert metrics["knn_minus_softmax"] > 0.015


# The controls on the recorded full run. No baseline is under-trained: every learned model fits its training set
# in every seed, so the test differences are differences in generalisation. And the split is clean: the training,
# validation and test images of a seed are disjoint, and no image of the data set occurs twice.
# The page's claim on the recorded full run: the accuracy orderings softmax < two-layer net < CNN, and kNN above
# softmax and the two-layer net, hold on every seed (each paired gap's minimum over the seeds is above zero).
def test_recorded_accuracy_orderings_hold_on_every_seed():
    metrics = recorded_metrics(paper.__file__)
    gap = metrics["test_accuracy_gap"]
    assert len(metrics["seeds"]) >= 5
    assert gap["two-layer net - softmax"]["min"] > 0
    assert gap["CNN - two-layer net"]["min"] > 0
    assert gap["softmax - kNN"]["max"] < 0  # kNN minus softmax: min > 0
    assert gap["two-layer net - kNN"]["max"] < 0  # kNN minus two-layer net: min > 0
    # The test cross-entropy does not follow the same order on every seed (the page says so).
    loss = metrics["test_loss"]
    above = [s for s in loss["softmax"]["per_seed"]
             if loss["two-layer net"]["per_seed"][s] > loss["softmax"]["per_seed"][s]]
    assert len(above) == 2


def test_recorded_models_fit_their_training_sets():
    train_accuracy = recorded_metrics(paper.__file__)["train_accuracy"]
    for name in ("softmax", "two-layer net", "CNN"):
        assert train_accuracy[name]["min"] > 0.99, name


def test_splits_are_disjoint_and_the_data_has_no_duplicates():
    data = digits()
    pooled = torch.cat([data.train.x, data.valid.x, data.test.x]).reshape(-1, 64)
    assert len(torch.unique(pooled, dim=0)) == len(pooled)
    split = split_for_seed(data, 3)
    assert [len(part.y) for part in (split.train, split.valid, split.test)] == \
        [len(part.y) for part in (data.train, data.valid, data.test)]
    rows = {part: {tuple(x.flatten().tolist()) for x in getattr(split, part).x} for part in ("train", "valid", "test")}
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["valid"] and not rows["valid"] & rows["test"]


# The page quotes the recorded means: each model's test accuracy and each pair's difference, in points.
def test_page_quotes_the_recorded_accuracies():
    metrics = recorded_metrics(paper.__file__)
    for name, accuracy in metrics["test_accuracy"].items():
        assert quoted_on_page(paper.__file__, f"{accuracy['mean']:.1%}"), name
    for pair, gap in metrics["test_accuracy_gap"].items():
        assert quoted_on_page(paper.__file__, f"{100 * gap['mean']:+.1f} points | {100 * gap['min']:+.1f} to "
                                              f"{100 * gap['max']:+.1f}"), pair


def test_bad_inputs_are_refused():
    x = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="affine needs w"):
        affine_forward(x, torch.zeros(48), torch.zeros(5))
    with pytest.raises(ValueError, match="does not match w"):
        affine_forward(x, torch.zeros(40, 5), torch.zeros(5))
    with pytest.raises(ValueError, match="conv needs"):
        conv_forward(x, torch.zeros(4, 2, 3, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="does not fit"):
        conv_forward(x, torch.zeros(4, 3, 5, 5), torch.zeros(4))
    with pytest.raises(ValueError, match="stride > 0"):
        max_pool_forward(x, size=2, stride=0)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        im2col(torch.zeros(3, 4, 4), 2, 2)
    with pytest.raises(ValueError, match=r"y must have shape \[N=4\]"):
        softmax_loss(torch.zeros(4, 10), torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        svm_loss(torch.zeros(4, 10), torch.zeros(4))
    with pytest.raises(ValueError, match="margin"):
        svm_loss(torch.zeros(4, 10), torch.zeros(4, dtype=torch.long), margin=0.0)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda t: t.sum(), torch.zeros(3))
    knn = KNearestNeighbor(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="k must be"):
        knn.predict(torch.zeros(2, 4), 6)
    with pytest.raises(ValueError, match="features"):
        knn.predict(torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="labels"):
        KNearestNeighbor(torch.zeros(5, 4), torch.zeros(4, dtype=torch.long))
