"""Tests for the relation network and its Sort-of-CLEVR data (Santoro et al., 2017)."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from papers.kit.sort_of_clevr import (ANSWERS, COLOURS, KINDS, OBJECT_DIM, QUESTION_DIM, SHAPES, Scenes,
                                      answers, encode_objects, encode_questions, question_batch,
                                      random_scenes)
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.relational import relation_networks as paper
from papers.relational.relation_networks import (MODELS, ObjectMLP, RelationNetwork, accuracy_by_kind, build_models,
                                                 choose_rate, held_out_batch, mlp, parameter_count, train)


# ## The data: answers against a plain-Python reading of the scene

def answer_by_hand(colours: list[int], shapes: list[int], positions: list[list[float]], colour: int,
                   kind: str) -> str:
    me = colours.index(colour)
    x, y = positions[me]
    others = [i for i in range(len(colours)) if i != me]
    distance = {i: math.dist(positions[i], positions[me]) for i in others}
    answer = {
        "shape": SHAPES[shapes[me]],
        "left": "yes" if x < 0.5 else "no",
        "top": "yes" if y < 0.5 else "no",
        "closest": SHAPES[shapes[min(others, key=distance.get)]],
        "farthest": SHAPES[shapes[max(others, key=distance.get)]],
        "count": str(sum(s == shapes[me] for s in shapes)),
    }
    return answer[kind]


def test_answers_match_a_plain_python_reading_of_each_scene():
    generator = torch.Generator().manual_seed(0)
    scenes = random_scenes(200, generator)
    colours = scenes.colours[torch.arange(200), torch.randint(0, 6, (200,), generator=generator)]
    for k, kind in enumerate(KINDS):
        got = answers(scenes, colours, torch.full((200,), k))
        for b in range(200):
            expected = answer_by_hand(scenes.colours[b].tolist(), scenes.shapes[b].tolist(),
                                      scenes.positions[b].tolist(), int(colours[b]), kind)
            assert ANSWERS[got[b]] == expected


def test_a_hand_made_scene():
    # red square at the top left, green circle next to it, blue circle far away at the bottom right.
    scenes = Scenes(colours=torch.tensor([[0, 1, 2]]), shapes=torch.tensor([[0, 1, 1]]),
                    positions=torch.tensor([[[0.1, 0.1], [0.2, 0.1], [0.9, 0.9]]]))
    red = torch.tensor([0])
    got = [ANSWERS[int(answers(scenes, red, torch.tensor([k])))] for k in range(len(KINDS))]
    assert got == ["square", "yes", "yes", "circle", "circle", "1"]
    blue = torch.tensor([2])
    got = [ANSWERS[int(answers(scenes, blue, torch.tensor([k])))] for k in range(len(KINDS))]
    assert got == ["circle", "no", "no", "circle", "square", "2"]


def test_scenes_have_distinct_colours_and_questions_are_balanced():
    batch = question_batch(6000, torch.Generator().manual_seed(1))
    colours = batch.objects[..., :len(COLOURS)].argmax(-1)
    assert all(len(set(row.tolist())) == len(COLOURS) for row in colours)
    counts = torch.bincount(batch.kinds, minlength=len(KINDS)).float() / 6000
    assert torch.allclose(counts, torch.full((len(KINDS),), 1 / len(KINDS)), atol=0.02)
    assert batch.objects.shape == (6000, 6, OBJECT_DIM) and batch.questions.shape == (6000, QUESTION_DIM)


def test_unshuffled_scenes_list_colours_in_order_and_positions_are_centred():
    scenes = random_scenes(50, torch.Generator().manual_seed(6), objects=4, shuffled=False)
    assert bool((scenes.colours.diff(dim=1) > 0).all())
    objects = encode_objects(scenes, torch.float64)
    torch.testing.assert_close(objects[..., -2:], 4 * (scenes.positions.double() - 0.5))


# The page's reference level for the closest and farthest questions: guessing the shape most common among the
# five other objects is right with probability $\sum_k \binom5k 2^{-5} \max(k, 5 - k) / 5 = 22/32$.
def test_the_majority_shape_guess_is_right_22_times_in_32():
    generator = torch.Generator().manual_seed(7)
    scenes = random_scenes(20_000, generator)
    colours = scenes.colours[:, 0]
    squares_among_others = (scenes.shapes[:, 1:] == 0).sum(dim=1)
    guess = torch.where(squares_among_others >= 3, 2, 3)                 # "square" or "circle"
    hits = (guess == answers(scenes, colours, torch.full((20_000,), KINDS.index("closest")))).float().mean()
    assert float(hits) == pytest.approx(22 / 32, abs=0.01)


# ## The relation network

def small_rn() -> RelationNetwork:
    torch.manual_seed(0)
    return RelationNetwork(OBJECT_DIM, QUESTION_DIM, len(ANSWERS), hidden=16).double()


# RN(O, q) written as the paper's double sum, one pair at a time.
def test_rn_equals_the_double_sum_over_pairs():
    rn = small_rn()
    batch = question_batch(2, torch.Generator().manual_seed(2), dtype=torch.float64)
    for b in range(2):
        o, q = batch.objects[b], batch.questions[b]
        total = sum(rn.g(torch.cat([o[i], o[j], q])) for i, j in itertools.product(range(6), repeat=2))
        expected = rn.f(total)
        torch.testing.assert_close(rn(batch.objects[b:b + 1], batch.questions[b:b + 1])[0], expected)


def test_rn_is_invariant_to_the_order_of_the_objects():
    rn = small_rn()
    batch = question_batch(32, torch.Generator().manual_seed(3), dtype=torch.float64)
    out = rn(batch.objects, batch.questions)
    generator = torch.Generator().manual_seed(4)
    for _ in range(5):
        permuted = batch.objects[:, torch.randperm(6, generator=generator)]
        torch.testing.assert_close(rn(permuted, batch.questions), out, rtol=1e-12, atol=1e-12)


def test_the_mlp_baseline_is_not_invariant():
    torch.manual_seed(0)
    baseline = ObjectMLP(6, OBJECT_DIM, QUESTION_DIM, len(ANSWERS), hidden=16).double()
    batch = question_batch(8, torch.Generator().manual_seed(5), dtype=torch.float64)
    permuted = batch.objects[:, torch.tensor([1, 0, 2, 3, 4, 5])]
    assert not torch.allclose(baseline(permuted, batch.questions), baseline(batch.objects, batch.questions))


# ## Training side by side
#
# Models trained in one call all step on the same batches: two copies of one network, at one rate, stay equal,
# and equal a copy trained alone on the same seed's stream.
def test_models_trained_side_by_side_see_the_same_batches():
    test = held_out_batch(60, 0, "test")
    copies = [build_models(3)["MLP"] for _ in range(3)]
    train({"a": copies[0], "b": copies[1]}, {"a": 1e-3, "b": 1e-3}, 20, test, seed=5, eval_every=20)
    curves = train({"c": copies[2]}, {"c": 1e-3}, 20, test, seed=5, eval_every=10)
    for other in copies[1:]:
        for p, q in zip(copies[0].parameters(), other.parameters()):
            torch.testing.assert_close(p, q)
    assert [step for step, _ in curves["c"]] == [10, 20]
    assert set(curves["c"][0][1]) == set(KINDS) | {"non_relational", "relational", "all"}


def test_each_model_keeps_the_rate_with_the_best_validation_accuracy():
    assert choose_rate({3e-4: 0.7, 1e-3: 0.9, 3e-3: 0.8}) == 1e-3
    assert choose_rate({3e-4: 0.9, 1e-3: 0.9}) == 3e-4  # the first of equals
    with pytest.raises(ValueError, match="at least one learning rate"):
        choose_rate({})


# No test or validation scene is in the training stream: the full run's 6,000 batches of seed 0 against the
# 3,000 test and 3,000 validation scenes of seed 0. Only seed 0 is checked (seeds 1 and 2 are not replayed
# here, to keep the test short); positions are continuous, so a shared scene would be a
# shared generator state, not chance).
def test_held_out_scenes_are_not_in_the_training_stream():
    generator = torch.Generator().manual_seed(0)
    training = {bytes(scene.numpy()) for _ in range(6000)
                for scene in question_batch(64, generator, shuffled=False).objects}
    test, validation = held_out_batch(3000, 0, "test"), held_out_batch(3000, 0, "validation")
    held_out = [bytes(scene.numpy()) for scene in torch.cat([test.objects, validation.objects])]
    assert len(training) == 6000 * 64 and len(set(held_out)) == 6000
    assert not training & set(held_out)


# ## The claim in miniature: the RN learns counting and single-object questions sooner than the MLP
#
# This is not the page's distance claim: at this length closest and farthest are at the guess level for both
# models, so the relational lead asserted here is driven by counting (which the page does not count as part of
# its claim), and the non-relational assertion checks that the RN learns the single-object questions sooner.
# The page says so; the distance questions are checked only on the recorded full run, below.
#
# The experiment's own pieces, shorter: 3,000 steps of 32 scenes, the RN at learning rate 2e-3, and the MLP at the
# better of 2e-3 and 4e-3 on validation scenes (a sweep the RN does not get, so the comparison leans towards the
# baseline). This early, the RN's relational lead is the count: closest and farthest are still near the
# position-blind guess for both models (in the full run the RN leaves it on farthest after about 2,000 to 3,500
# steps of 64, on closest later, and on one seed not at all). Measured on seeds 0/1/2 at 1 thread: count lead
# 0.185/0.176/0.195, relational lead 0.062/0.059/0.082, non-relational RN 0.995/0.980/0.983 and MLP
# 0.767/0.723/0.725; under portable kernels: count lead 0.174/0.172/0.199, relational lead 0.058/0.080/0.071,
# non-relational RN 0.993/0.980/0.987 and MLP 0.722/0.728/0.734. The MLP kept 2e-3 every time. Thresholds: count
# lead 0.1, relational lead 0.03, non-relational 0.9 between the two. (The 2-thread setting was not measured in this
# pass: the shared machine was overloaded and two-thread runs stalled; the RN and the MLP at 2e-3 are the arms of
# the earlier claim test, unchanged, whose calibration included it.)
def claim_metrics(seed: int) -> dict[str, float]:
    """Test accuracy by kind of the RN and of the MLP after 3,000 steps, and the RN's leads."""
    test, validation = held_out_batch(1500, seed, "test"), held_out_batch(1500, seed, "validation")
    models = build_models(seed)
    mlp_at = {"MLP@2e-3": models["MLP"], "MLP@4e-3": build_models(seed)["MLP"]}
    rates = {"RN": 2e-3, "MLP@2e-3": 2e-3, "MLP@4e-3": 4e-3}
    train({"RN": models["RN"], **mlp_at}, rates, 3000, validation, seed=seed, batch_size=32, eval_every=3000)
    best_mlp = max(mlp_at, key=lambda name: accuracy_by_kind(mlp_at[name], validation)["all"])
    rn, base = accuracy_by_kind(models["RN"], test), accuracy_by_kind(mlp_at[best_mlp], test)
    kinds = ("count", "relational", "non_relational")
    return {**{f"rn_{k}": rn[k] for k in kinds}, **{f"mlp_{k}": base[k] for k in kinds},
            **{f"lead_{k}": rn[k] - base[k] for k in kinds}, "mlp_rate": rates[best_mlp]}


@pytest.mark.claim
def test_rn_learns_counting_and_single_object_questions_sooner():
    accuracy = claim_metrics(0)
    assert accuracy["lead_count"] > 0.1
    assert accuracy["lead_relational"] > 0.03
    assert accuracy["rn_non_relational"] > 0.9 > accuracy["mlp_non_relational"]


# ## The recorded run
#
# The controls a referee asks for, on the full run's results. The baseline learns the questions about one
# object by step 6,000 on every seed, and to count on two seeds of three (82.0% on the third, as the page
# says), but late: it is far from converged. Its shape accuracy stays below 80% up to step 4,500 on every seed
# and passes 99% only at step 5,500 or later (the page quotes this).
def test_recorded_baseline_learns_the_questions_about_one_object():
    metrics = recorded_metrics(paper.__file__)
    accuracy = metrics["accuracy"]["MLP"]
    assert accuracy["non_relational"]["min"] > 0.9
    assert sum(v > 0.95 for v in accuracy["count"]["per_seed"].values()) >= 2
    steps, shape = metrics["curves"]["steps"], metrics["curves"]["MLP"]["shape"]
    for run in shape.values():
        assert max(v for step, v in zip(steps, run) if step <= 4500) < 0.8
        assert min(step for step, v in zip(steps, run) if v > 0.99) >= 5500


# ... and it never beats the position-blind guess (22/32) on closest and farthest, at any evaluation on any
# seed, while the RN leads on farthest and on the relational questions as a group on every seed. The RN ends
# above that guess on farthest on every seed and on closest on two seeds of three (the front matter's claim).
def test_recorded_mlp_stays_at_the_guess_level_on_distances():
    metrics = recorded_metrics(paper.__file__)
    rn = metrics["accuracy"]["RN"]
    assert rn["farthest"]["min"] > 22 / 32
    assert sum(v > 22 / 32 for v in rn["closest"]["per_seed"].values()) == 2
    curves = metrics["curves"]["MLP"]
    assert max(v for kind in ("closest", "farthest") for run in curves[kind].values() for v in run) <= 22 / 32
    assert metrics["majority_shape_guess"] == 22 / 32
    assert metrics["lead"]["farthest"]["min"] > 0.05
    assert metrics["lead"]["relational"]["min"] > 0


# Both models had the same sweep, and each kept the rate with the best validation accuracy; three seeds.
def test_recorded_rates_were_chosen_on_validation_scenes():
    metrics = recorded_metrics(paper.__file__)
    assert len(metrics["seeds"]) >= 3 and len(metrics["learning_rates"]) >= 3
    for name in MODELS:
        validation = {float(lr): v for lr, v in metrics["validation_accuracy"][name].items()}
        assert sorted(validation) == sorted(metrics["learning_rates"])
        assert metrics["learning_rate"][name] == choose_rate(validation)


def test_recorded_parameter_counts_are_the_models():
    counts = recorded_metrics(paper.__file__)["parameters"]
    assert counts == {name: parameter_count(model) for name, model in build_models(0).items()}


# The page quotes the recorded numbers: the means over seeds for both models, the leads' ranges, the sweep's
# validation accuracies and the seeds the prose singles out.
def test_page_quotes_the_recorded_numbers():
    metrics = recorded_metrics(paper.__file__)
    accuracy = metrics["accuracy"]
    quoted = [f"{metrics['parameters'][name]:,}" for name in MODELS]
    quoted += [f"{accuracy[name][score]['mean']:.1%}" for name in MODELS
               for score in ("relational", "non_relational", "closest", "farthest", "count")]
    quoted += [f"{metrics['lead'][score]['min']:.1%} to {metrics['lead'][score]['max']:.1%}"
               for score in ("relational", "closest", "farthest", "count")]
    quoted += [f"{metrics['validation_accuracy'][name][lr]:.1%}" for name, lr in
               (("RN", "0.01"), ("RN", "0.003"), ("MLP", "0.003"), ("MLP", "0.01"), ("MLP", "0.001"))]
    quoted += [f"{accuracy['RN']['farthest']['min']:.1%}", f"{accuracy['MLP']['count']['min']:.1%}"]
    for text in quoted:
        assert quoted_on_page(paper.__file__, text), text


# ## Bad input

def test_bad_input_is_rejected():
    rn = small_rn()
    objects, question = torch.zeros(2, 6, OBJECT_DIM, dtype=torch.float64), torch.zeros(2, QUESTION_DIM,
                                                                                         dtype=torch.float64)
    with pytest.raises(ValueError, match=r"objects must have shape \[batch, n, 10\]"):
        rn(objects[0], question)
    with pytest.raises(ValueError, match=r"question must have shape \[batch=2, 12\]"):
        rn(objects, question[:1])
    with pytest.raises(TypeError, match="question must have dtype torch.float64"):
        rn(objects, question.float())
    with pytest.raises(ValueError, match=r"objects must have shape \[batch, 6, 10\]"):
        ObjectMLP(6, OBJECT_DIM, QUESTION_DIM, len(ANSWERS))(objects[:, :5].float(), question.float())
    with pytest.raises(ValueError, match="at least 1"):
        RelationNetwork(OBJECT_DIM, QUESTION_DIM, len(ANSWERS), g_layers=0)
    with pytest.raises(ValueError, match="two positive sizes"):
        mlp([4])
    with pytest.raises(ValueError, match="objects must be between"):
        random_scenes(4, torch.Generator(), objects=7)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        random_scenes(0, torch.Generator())
    scenes = random_scenes(2, torch.Generator().manual_seed(0), objects=3)
    with pytest.raises(ValueError, match="exactly one object"):
        answers(scenes, torch.tensor([5, 5]) if 5 not in scenes.colours else torch.tensor([-1, -1]),
                torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="kinds must be in"):
        answers(scenes, scenes.colours[:, 0], torch.tensor([0, 6]))
    with pytest.raises(ValueError, match=r"positions must have shape \[batch=2, objects=3, 2\]"):
        Scenes(scenes.colours, scenes.shapes, scenes.positions[..., :1])
    with pytest.raises(ValueError, match=r"kinds must have shape \[batch=2\]"):
        encode_questions(torch.tensor([0, 1]), torch.tensor([0]))
