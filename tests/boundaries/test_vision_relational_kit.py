"""Bad input at the boundary of the vision, relational and regularisation papers and of the kit.

One table of bad calls, each with the error it must raise and a regex that names the argument; a test that
runs every public model on `meta` tensors (anything created inside without `device=` fails there); and one
test per input that used to give NaN or a silently wrong answer.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import pytest
import torch
from torch import nn

from papers.kit import data, language_model, sort_of_clevr, tasks, training, vision
from papers.regularization import dropout
from papers.relational import message_passing as mp
from papers.relational import relation_networks as rn
from papers.vision import alexnet, cs231n, dilated_convolutions, identity_mappings, resnet


def images(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def labels(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def graphs(**changes: object) -> mp.Graphs:
    batch = mp.collate([mp.random_molecule(generator()) for _ in range(2)])
    return mp.Graphs(**{**{f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}, **changes})


def objects_and_question(batch: int = 2, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.zeros(batch, 6, sort_of_clevr.OBJECT_DIM, dtype=dtype),
            torch.zeros(batch, sort_of_clevr.QUESTION_DIM, dtype=dtype))


def relation_network() -> rn.RelationNetwork:
    return rn.RelationNetwork(sort_of_clevr.OBJECT_DIM, sort_of_clevr.QUESTION_DIM, 10, hidden=8)


def object_mlp() -> rn.ObjectMLP:
    return rn.ObjectMLP(6, sort_of_clevr.OBJECT_DIM, sort_of_clevr.QUESTION_DIM, 10, hidden=8)


def small_cnn() -> cs231n.SmallCNN:
    return cs231n.SmallCNN(1, 4, 8, 10, 8, generator())


def split(n: int = 4) -> data.Split:
    return data.Split(images(n, 1, 8, 8), torch.zeros(n, dtype=torch.long))


# (id, the bad call, the exception, a regex the message must match: it names the argument)
BAD_INPUTS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # AlexNet
    ("lrn k negative", lambda: alexnet.local_response_norm(images(1, 4, 2, 2), k=-1.0), ValueError, r"^k must"),
    ("lrn alpha negative", lambda: alexnet.local_response_norm(images(1, 4, 2, 2), alpha=-1.0), ValueError,
     r"^alpha must be in \[0, inf\]"),
    ("lrn beta nan", lambda: alexnet.LocalResponseNorm(beta=math.nan), ValueError, r"^beta must be in"),
    ("lrn n even", lambda: alexnet.LocalResponseNorm(n=4), ValueError, r"window n"),
    ("lrn n float", lambda: alexnet.local_response_norm(images(1, 4, 2, 2), n=2.5), ValueError, r"^n must"),
    ("lrn wrong rank", lambda: alexnet.local_response_norm(images(4, 2, 2)), ValueError, r"^a must have shape"),
    ("lrn integer input", lambda: alexnet.local_response_norm(torch.zeros(1, 4, 2, 2, dtype=torch.long)),
     TypeError, r"^a must have a floating-point dtype"),
    ("alexnet image too small", lambda: alexnet.AlexNet(image_size=8), ValueError,
     r"image_size must be at least 15 .* got 8"),
    ("alexnet dropout nan", lambda: alexnet.AlexNet(dropout=math.nan), ValueError, r"^dropout must be in"),
    ("alexnet zero width", lambda: alexnet.AlexNet(widths=(8, 0, 8, 8, 8)), ValueError, r"^widths\[1\] must"),
    ("alexnet zero classes", lambda: alexnet.AlexNet(classes=0), ValueError, r"^classes must"),
    ("alexnet float64 input", lambda: alexnet.AlexNet()(images(2, 1, 24, 24, dtype=torch.float64)), TypeError,
     r"^x must have dtype torch.float32"),
    ("alexnet wrong size", lambda: alexnet.AlexNet()(images(2, 1, 32, 32)), ValueError,
     r"^x must have shape \[N, 1, 24, 24\]"),
    ("alexnet empty batch", lambda: alexnet.AlexNet()(images(0, 1, 24, 24)), ValueError, r"^x is empty"),
    ("standardised constant images", lambda: alexnet.standardised(split(), split()), ValueError,
     r"train.x must vary"),
    # CS231n
    ("softmax_loss empty batch", lambda: cs231n.softmax_loss(images(0, 10), labels()), ValueError,
     r"^scores is empty"),
    ("svm_loss empty batch", lambda: cs231n.svm_loss(images(0, 10), labels()), ValueError, r"^scores is empty"),
    ("softmax_loss label -1", lambda: cs231n.softmax_loss(images(2, 10), labels(0, -1)), ValueError,
     r"^y must hold labels in \[0, 10\)"),
    ("svm_loss label 10", lambda: cs231n.svm_loss(images(2, 10), labels(0, 10)), ValueError,
     r"^y must hold labels in \[0, 10\)"),
    ("softmax_loss float labels", lambda: cs231n.softmax_loss(images(2, 10), torch.zeros(2)), TypeError,
     r"^y must have dtype torch.int64"),
    ("softmax_loss batch mismatch", lambda: cs231n.softmax_loss(images(2, 10), labels(0, 1, 2)), ValueError,
     r"^y must have shape \[N=2\]"),
    ("svm_loss margin nan", lambda: cs231n.svm_loss(images(2, 10), labels(0, 1), margin=math.nan), ValueError,
     r"^margin must be a positive number"),
    ("affine float64 into float32", lambda: cs231n.affine_forward(images(2, 4, dtype=torch.float64),
                                                                  images(4, 3), images(3)),
     TypeError, r"^x must have dtype torch.float32"),
    ("affine empty batch", lambda: cs231n.affine_forward(images(0, 4), images(4, 3), images(3)), ValueError,
     r"^x is empty"),
    ("two-layer net zero hidden", lambda: cs231n.TwoLayerNet(64, 0, 10, generator()), ValueError,
     r"^hidden must be a positive integer"),
    ("small cnn image size 1", lambda: cs231n.SmallCNN(1, 4, 8, 10, 1, generator()), ValueError,
     r"^image_size must be at least 2"),
    ("small cnn wrong image size", lambda: small_cnn()(images(2, 1, 6, 6)), ValueError,
     r"^x must have shape \[N, 1, 8, 8\]"),
    ("small cnn float64 input", lambda: small_cnn()(images(2, 1, 8, 8, dtype=torch.float64)), TypeError,
     r"^x must have dtype torch.float32"),
    ("knn float labels", lambda: cs231n.KNearestNeighbor(images(3, 4), torch.zeros(3)), TypeError,
     r"^y must have dtype torch.int64"),
    ("knn negative label", lambda: cs231n.KNearestNeighbor(images(2, 4), labels(0, -1)), ValueError,
     r"^y must hold labels >= 0"),
    ("knn empty", lambda: cs231n.KNearestNeighbor(images(0, 4), labels()), ValueError, r"^y is empty"),
    # Dilated convolutions
    ("context module float dilation", lambda: dilated_convolutions.ContextModule(2, (1, 1.5)), ValueError,
     r"^dilations must be"),
    ("context module channels nan", lambda: dilated_convolutions.ContextModule(math.nan), ValueError,
     r"^channels must be a positive integer"),
    ("context module float64 input",
     lambda: dilated_convolutions.ContextModule(2)(images(1, 2, 5, 5, dtype=torch.float64)), TypeError,
     r"^x must have dtype torch.float32"),
    ("context module integer input",
     lambda: dilated_convolutions.ContextModule(2)(torch.zeros(1, 2, 5, 5, dtype=torch.long)), TypeError,
     r"^x must have dtype torch.float32"),
    ("context module empty", lambda: dilated_convolutions.ContextModule(2)(images(0, 2, 5, 5)), ValueError,
     r"^x is empty"),
    # ResNet and identity mappings
    ("smoothed window 0", lambda: resnet.smoothed([1.0, 2.0], window=0), ValueError,
     r"^window must be a positive integer"),
    ("basic block float64 input", lambda: resnet.BasicBlock(2, 2)(images(1, 2, 4, 4, dtype=torch.float64)),
     TypeError, r"^x must have dtype torch.float32"),
    ("projection wrong channels", lambda: resnet.ProjectionShortcut(2, 4, 2)(images(1, 3, 4, 4)), ValueError,
     r"^x must have shape \[batch, 2, height, width\]"),
    ("projection stride 3", lambda: resnet.ProjectionShortcut(2, 4, 3), ValueError, r"^stride must be 1 or 2"),
    ("resnet zero blocks", lambda: resnet.ResNet(0), ValueError, r"^blocks_per_stage must be a positive integer"),
    ("resnet empty batch", lambda: resnet.ResNet(1)(images(0, 1, 8, 8)), ValueError, r"^x is empty"),
    ("pre-act block zero channels", lambda: identity_mappings.PreActBlock(0, 4), ValueError,
     r"^in_channels must be a positive integer"),
    ("pre-act block float64 input",
     lambda: identity_mappings.PreActBlock(2, 2)(images(1, 2, 4, 4, dtype=torch.float64)), TypeError,
     r"^x must have dtype torch.float32"),
    ("pre-act resnet wrong rank", lambda: identity_mappings.PreActResNet(1)(images(1, 8, 8)), ValueError,
     r"^x must have shape \[batch, 1, height, width\]"),
    ("shortcut scale nan", lambda: identity_mappings.ShortcutBlock(2, "scaled", scale=math.nan), ValueError,
     r"^scale must be in \[0, 1\]"),
    ("shortcut stack float blocks", lambda: identity_mappings.shortcut_stack("identity", 1.5, 2), ValueError,
     r"^blocks must be a positive integer"),
    # Dropout
    ("dropout p nan", lambda: dropout.Dropout(math.nan), ValueError, r"dropout probability p must be in"),
    ("dropout integer input", lambda: dropout.Dropout(0.5)(torch.ones(3, dtype=torch.long)), TypeError,
     r"floating-point"),
    ("dropout mlp zero depth", lambda: dropout.DropoutMLP(64, 8, 10, depth=0), ValueError,
     r"^depth must be a positive integer"),
    ("dropout mlp wrong features", lambda: dropout.DropoutMLP(64, 8, 10)(images(2, 1, 7, 7)), ValueError,
     r"^x must have 64 features per example"),
    ("dropout mlp float64 input", lambda: dropout.DropoutMLP(64, 8, 10)(images(2, 64, dtype=torch.float64)),
     TypeError, r"^x must have dtype torch.float32"),
    ("dropout mlp empty batch", lambda: dropout.DropoutMLP(64, 8, 10)(images(0, 64)), ValueError, r"^x is empty"),
    ("mc samples float", lambda: dropout.mc_probabilities(dropout.DropoutMLP(64, 8, 10), images(2, 64), 2.5),
     ValueError, r"^samples must be a positive integer"),
    ("mc_errors k 0", lambda: dropout.mc_errors(dropout.DropoutMLP(64, 8, 10), split(), [0, 1, 5]), ValueError,
     r"^sample_counts must be a positive integer, got 0"),
    ("mc_errors no counts", lambda: dropout.mc_errors(dropout.DropoutMLP(64, 8, 10), split(), []), ValueError,
     r"^sample_counts must name"),
    ("mc_errors batch mismatch",
     lambda: dropout.mc_errors(dropout.DropoutMLP(64, 8, 10), data.Split(images(4, 64), labels(0, 1)), [1]),
     ValueError, r"^split.y must have shape \[batch=4\]"),
    # Relation networks
    ("rn float64 into float32", lambda: relation_network()(*objects_and_question(dtype=torch.float64)), TypeError,
     r"^objects must have dtype torch.float32"),
    ("rn question batch mismatch", lambda: relation_network()(objects_and_question()[0], objects_and_question(3)[1]),
     ValueError, r"^question must have shape \[batch=2, 12\]"),
    ("rn integer question",
     lambda: relation_network()(objects_and_question()[0], objects_and_question()[1].long()), TypeError,
     r"^question must have dtype torch.float32"),
    ("rn empty batch", lambda: relation_network()(*objects_and_question(0)), ValueError, r"^objects is empty"),
    ("rn zero object_dim", lambda: rn.RelationNetwork(0, 12, 10), ValueError, r"^object_dim must"),
    ("mlp zero size", lambda: rn.mlp([4, 0, 2]), ValueError, r"^sizes\[1\] must be a positive integer"),
    ("object mlp zero objects", lambda: rn.ObjectMLP(0, 10, 12, 10), ValueError, r"^objects must be a positive"),
    ("object mlp wrong count", lambda: object_mlp()(torch.zeros(2, 5, 10), torch.zeros(2, 12)), ValueError,
     r"^objects must have shape \[batch, 6, 10\]"),
    # Message passing
    ("graphs float edges", lambda: graphs(edges=graphs().edges.float()), TypeError,
     r"^edges must have dtype torch.int64"),
    ("graphs float graph ids", lambda: graphs(graph=graphs().graph.float()), TypeError,
     r"^graph must have dtype torch.int64"),
    ("graphs integer nodes", lambda: graphs(nodes=graphs().nodes.long()), TypeError,
     r"^nodes must have a floating-point dtype"),
    ("graphs zero num_graphs", lambda: graphs(num_graphs=0), ValueError, r"^num_graphs must be a positive"),
    ("graphs no nodes", lambda: graphs(nodes=images(0, 4), graph=labels()), ValueError, r"^nodes is empty"),
    ("mpnn float64 nodes", lambda: mp.MPNN(4, 3, d=8)(graphs(nodes=graphs().nodes.double(),
                                                             edge_features=graphs().edge_features.double())),
     TypeError, r"^graphs.nodes must have dtype torch.float32"),
    ("mpnn wrong node_dim", lambda: mp.MPNN(5, 3, d=8)(graphs()), ValueError,
     r"^graphs.nodes must have shape \[nodes, 5\]"),
    ("mpnn negative rounds", lambda: mp.MPNN(4, 3, rounds=-1), ValueError, r"^rounds must be a non-negative"),
    ("mpnn zero targets", lambda: mp.MPNN(4, 3, targets=0), ValueError, r"^targets must be a positive"),
    ("edge network zero d", lambda: mp.EdgeNetwork(3, 0), ValueError, r"^d must be a positive"),
    ("edge network edges mismatch",
     lambda: mp.EdgeNetwork(3, 4)(images(5, 4), torch.zeros(2, 6, dtype=torch.long), images(5, 3)), ValueError,
     r"^edge_features must have shape \[edges=6, 3\]"),
    ("edge network float edges",
     lambda: mp.EdgeNetwork(3, 4)(images(5, 4), torch.zeros(2, 6), images(6, 3)), TypeError,
     r"^edges must have dtype torch.int64"),
    ("set2set float graph", lambda: mp.Set2Set(4)(images(3, 4), torch.zeros(3), 1), TypeError,
     r"^graph must have dtype torch.int64"),
    ("set2set graph mismatch", lambda: mp.Set2Set(4)(images(3, 4), labels(0, 0), 1), ValueError,
     r"^graph must have shape \[3\]"),
    ("set2set zero graphs", lambda: mp.Set2Set(4)(images(3, 4), labels(0, 0, 0), 0), ValueError,
     r"^num_graphs must be a positive"),
    ("segment softmax float segment", lambda: mp.segment_softmax(images(3), torch.zeros(3), 1), TypeError,
     r"^segment must have dtype torch.int64"),
    # The kit
    ("tasks float length", lambda: tasks.copy_batch(2, 2.5, 4, generator()), ValueError,
     r"^length must be a positive integer"),
    ("tasks nan symbols", lambda: tasks.random_symbols(2, 3, math.nan, generator()), ValueError,
     r"^symbols must be a positive integer"),
    ("char batch zero", lambda: data.CharCorpus.from_text("abcd" * 10).batch("train", 0, 4), ValueError,
     r"^batch_size must be a positive integer"),
    ("char batch zero seq_len", lambda: data.CharCorpus.from_text("abcd" * 10).batch("train", 2, 0), ValueError,
     r"^seq_len must be a positive integer"),
    ("accuracy empty", lambda: training.accuracy(images(0, 5), labels()), ValueError, r"^logits is empty"),
    ("accuracy float targets", lambda: training.accuracy(images(3, 5), torch.zeros(3)), TypeError,
     r"^targets must have dtype torch.int64"),
    ("accuracy float mask", lambda: training.accuracy(images(3, 5), labels(0, 1, 2), torch.ones(3)), TypeError,
     r"^mask must have dtype torch.bool"),
    ("accuracy mask shape", lambda: training.accuracy(images(3, 5), labels(0, 1, 2), torch.ones(2, dtype=bool)),
     ValueError, r"^mask must have shape \[3\]"),
    ("accuracy empty mask",
     lambda: training.accuracy(images(3, 5), labels(0, 1, 2), torch.zeros(3, dtype=torch.bool)), ValueError,
     r"^mask selects no positions"),
    ("optimizer step clip 0", lambda: training.optimizer_step(
        nn.Linear(2, 1)(images(1, 2)).sum(), torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1),
        parameters=iter([]), clip_norm=0.0), ValueError, r"^clip_norm must be a positive number"),
    ("resize float size", lambda: vision.resize(split(), 2.5), ValueError, r"^size must be a positive integer"),
    ("random shift float", lambda: vision.random_shift(images(2, 1, 4, 4), 1.5, generator()), ValueError,
     r"^max_shift must be a non-negative integer"),
    ("random shift wrong rank", lambda: vision.random_shift(images(2, 4, 4), 1, generator()), ValueError,
     r"^x must have shape \[N, C, H, W\]"),
    ("classifier training eval_every 0", lambda: vision.ClassifierTraining(steps=10, eval_every=0), ValueError,
     r"^eval_every must be a positive integer"),
    ("classifier training steps nan", lambda: vision.ClassifierTraining(steps=math.nan), ValueError,
     r"^steps must be a positive integer"),
    ("evaluate empty split", lambda: vision.evaluate(nn.Flatten(), split(0)), ValueError, r"^split.x is empty"),
    ("evaluate float labels",
     lambda: vision.evaluate(nn.Flatten(), data.Split(images(2, 1, 8, 8), torch.zeros(2))), TypeError,
     r"^split.y must have dtype torch.int64"),
    ("next_char_loss float targets",
     lambda: language_model.next_char_loss(images(2, 3, 5), torch.zeros(2, 3)), TypeError,
     r"^targets must have dtype torch.int64"),
    ("next_char_loss empty", lambda: language_model.next_char_loss(images(0, 3, 5), torch.zeros(0, 3).long()),
     ValueError, r"^logits is empty"),
    ("text streams zero batch", lambda: language_model.TextStreams(torch.arange(20), 0, 4), ValueError,
     r"^batch_size must be a positive integer"),
    ("text streams float tokens", lambda: language_model.TextStreams(torch.zeros(20), 2, 4), TypeError,
     r"^tokens must have dtype torch.int64"),
    ("bits per char zero streams", lambda: language_model.bits_per_char(nn.Identity(), torch.arange(20), streams=0),
     ValueError, r"^streams must be a positive integer"),
    ("scenes float colours",
     lambda: sort_of_clevr.Scenes(torch.zeros(2, 3), torch.zeros(2, 3).long(), torch.zeros(2, 3, 2)), TypeError,
     r"^colours must have dtype torch.int64"),
    ("scenes shapes mismatch",
     lambda: sort_of_clevr.Scenes(torch.zeros(2, 3).long(), torch.zeros(2, 4).long(), torch.zeros(2, 3, 2)),
     ValueError, r"^shapes must have shape \[batch=2, objects=3\]"),
    ("encode questions colour out of range",
     lambda: sort_of_clevr.encode_questions(labels(0, 6), labels(0, 1)), ValueError,
     r"^colours must hold values in \[0, 6\)"),
    ("encode questions integer dtype",
     lambda: sort_of_clevr.encode_questions(labels(0, 1), labels(0, 1), dtype=torch.long), TypeError,
     r"^dtype must be a floating-point"),
    ("encode objects integer dtype",
     lambda: sort_of_clevr.encode_objects(sort_of_clevr.random_scenes(2, generator()), dtype=torch.long),
     TypeError, r"^dtype must be a floating-point"),
    ("question batch zero", lambda: sort_of_clevr.question_batch(0, generator()), ValueError,
     r"^batch_size must be a positive integer"),
]


@pytest.mark.parametrize("call, error, message", [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_is_refused_with_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ## Every public model runs on its inputs' device
#
# Each model is moved to `meta` and called with `meta` inputs: a tensor created inside without `device=` lands
# on the CPU and the call fails. The output must be on `meta` and have the expected shape.
def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def meta_graphs() -> mp.Graphs:
    return mp.Graphs(nodes=meta(5, 4), edges=meta(2, 6, dtype=torch.long), edge_features=meta(6, 3),
                     graph=meta(5, dtype=torch.long), num_graphs=2)


MODELS: list[tuple[str, Callable[[], nn.Module], Callable[[], tuple], tuple[int, ...]]] = [
    ("LocalResponseNorm", alexnet.LocalResponseNorm, lambda: (meta(2, 6, 4, 4),), (2, 6, 4, 4)),
    ("AlexNet", alexnet.AlexNet, lambda: (meta(2, 1, 24, 24),), (2, 10)),
    ("SoftmaxClassifier", lambda: cs231n.SoftmaxClassifier(64, 10, generator()), lambda: (meta(2, 1, 8, 8),),
     (2, 10)),
    ("TwoLayerNet", lambda: cs231n.TwoLayerNet(64, 8, 10, generator()), lambda: (meta(2, 1, 8, 8),), (2, 10)),
    ("SmallCNN", small_cnn, lambda: (meta(2, 1, 8, 8),), (2, 10)),
    ("ContextModule", lambda: dilated_convolutions.ContextModule(3), lambda: (meta(2, 3, 9, 9),), (2, 3, 9, 9)),
    ("ProjectionShortcut", lambda: resnet.ProjectionShortcut(2, 4, 2), lambda: (meta(2, 2, 8, 8),), (2, 4, 4, 4)),
    ("BasicBlock", lambda: resnet.BasicBlock(2, 4, 2), lambda: (meta(2, 2, 8, 8),), (2, 4, 4, 4)),
    ("ResNet", lambda: resnet.ResNet(1), lambda: (meta(2, 1, 8, 8),), (2, 10)),
    ("PreActBlock", lambda: identity_mappings.PreActBlock(2, 4, 2), lambda: (meta(2, 2, 8, 8),), (2, 4, 4, 4)),
    ("PreActResNet", lambda: identity_mappings.PreActResNet(1), lambda: (meta(2, 1, 8, 8),), (2, 10)),
    ("ShortcutBlock", lambda: identity_mappings.ShortcutBlock(2, "gated"), lambda: (meta(2, 2, 4, 4),),
     (2, 2, 4, 4)),
    ("Dropout", lambda: dropout.Dropout(0.5), lambda: (meta(2, 8),), (2, 8)),
    ("DropoutMLP", lambda: dropout.DropoutMLP(64, 8, 10, p_input=0.2, p_hidden=0.5), lambda: (meta(2, 1, 8, 8),),
     (2, 10)),
    ("EdgeNetwork", lambda: mp.EdgeNetwork(3, 4),
     lambda: (meta(5, 4), meta(2, 6, dtype=torch.long), meta(6, 3)), (5, 4)),
    ("Set2Set", lambda: mp.Set2Set(4), lambda: (meta(5, 4), meta(5, dtype=torch.long), 2), (2, 8)),
    ("MPNN", lambda: mp.MPNN(4, 3, d=8), lambda: (meta_graphs(),), (2, 1)),
    ("RelationNetwork", relation_network, lambda: (meta(2, 6, 10), meta(2, 12)), (2, 10)),
    ("ObjectMLP", object_mlp, lambda: (meta(2, 6, 10), meta(2, 12)), (2, 10)),
]


@pytest.mark.parametrize("make, inputs, shape", [row[1:] for row in MODELS], ids=[row[0] for row in MODELS])
def test_model_runs_on_the_meta_device(make, inputs, shape):
    model = make().to("meta")
    out = model(*inputs())
    assert out.device.type == "meta"
    assert tuple(out.shape) == shape


def test_random_shift_runs_on_its_inputs_device():
    out = vision.random_shift(meta(3, 1, 6, 6), 2, generator())
    assert out.device.type == "meta" and tuple(out.shape) == (3, 1, 6, 6)


def test_mc_probabilities_run_on_the_inputs_device():
    out = dropout.mc_probabilities(dropout.DropoutMLP(64, 8, 10, p_hidden=0.5).to("meta"), meta(2, 64), 3)
    assert out.device.type == "meta" and tuple(out.shape) == (3, 2, 10)


# ## The inputs that used to give NaN or a silently wrong answer
#
# Each of these was accepted before: the values in the comments are what came back.
def test_lrn_with_negative_k_or_alpha_is_refused_not_nan():
    a = torch.ones(1, 3, 2, 2)
    with pytest.raises(ValueError, match=r"^k must be a positive number, got -1"):
        alexnet.local_response_norm(a, k=-1.0)  # was NaN: (-1 + alpha sum)^0.75
    with pytest.raises(ValueError, match=r"^alpha must be in \[0, inf\], got -1"):
        alexnet.local_response_norm(a, alpha=-1.0)  # was NaN: (2 - 3)^0.75
    assert torch.isfinite(alexnet.local_response_norm(a)).all()


def test_smoothed_with_window_zero_is_refused_not_nan():
    with pytest.raises(ValueError, match=r"^window must be a positive integer, got 0"):
        resnet.smoothed([1.0, 2.0, 3.0], window=0)  # was [nan, nan, nan]: 0 / 0
    assert resnet.smoothed([1.0, 2.0, 3.0], window=2) == [1.0, 1.5, 2.5]


def test_standardised_constant_images_are_refused_not_nan():
    constant = data.Split(torch.full((4, 1, 8, 8), 0.5), labels(0, 1, 2, 3))
    with pytest.raises(ValueError, match=r"train.x must vary to be standardised, got standard deviation 0.0"):
        alexnet.standardised(constant, constant)  # was all NaN: 0 / 0


def test_losses_on_an_empty_batch_are_refused_not_nan():
    for loss in (cs231n.softmax_loss, cs231n.svm_loss):
        with pytest.raises(ValueError, match=r"^scores is empty: shape \(0, 10\)"):
            loss(torch.zeros(0, 10), labels())  # was NaN: a mean over no examples


def test_softmax_loss_refuses_label_minus_one_which_read_class_nine():
    scores = torch.randn(2, 10, generator=generator())
    with pytest.raises(ValueError, match=r"^y must hold labels in \[0, 10\), got values from -1 to 3"):
        cs231n.softmax_loss(scores, labels(3, -1))  # was the loss of labels (3, 9): -1 indexed the last class
    with pytest.raises(ValueError, match=r"^y must hold labels in \[0, 10\)"):
        cs231n.svm_loss(scores, labels(3, -1))


def test_alexnet_refuses_an_image_size_it_cannot_pool_and_names_the_smallest():
    with pytest.raises(ValueError, match=r"image_size must be at least 15 for three overlapping poolings, got 8"):
        alexnet.AlexNet(image_size=8)  # was accepted: a Linear of 0 inputs, then failure deep in max-pooling
    assert alexnet.AlexNet(image_size=15)(torch.zeros(2, 1, 15, 15)).shape == (2, 10)
    assert alexnet.pooled_side(14) == 0 and alexnet.pooled_side(15) == 1


def test_mc_errors_refuses_k_zero_which_read_the_last_count():
    model = dropout.DropoutMLP(64, 8, 10, p_hidden=0.5)
    with pytest.raises(ValueError, match=r"^sample_counts must be a positive integer, got 0"):
        dropout.mc_errors(model, split(), [0, 1, 5])  # was: k = 0 read row -1, the error after 5 samples
    with pytest.raises(ValueError, match=r"^sample_counts must be a positive integer, got -1"):
        dropout.mc_errors(model, split(), [-1, 2])


# Counts need not be sorted or distinct: each is read from its own row of the running average, so an unsorted
# list gives the same errors, in its own order.
def test_mc_errors_reads_each_count_in_any_order():
    model = dropout.DropoutMLP(64, 8, 10, p_hidden=0.5)
    x = torch.randn(6, 64, generator=generator())
    test = data.Split(x, labels(0, 1, 2, 3, 4, 5))
    torch.manual_seed(0)
    sorted_errors = dropout.mc_errors(model, test, [1, 3, 5])
    torch.manual_seed(0)
    assert dropout.mc_errors(model, test, [5, 1, 3, 3]) == [sorted_errors[2], sorted_errors[0], sorted_errors[1],
                                                             sorted_errors[1]]
