"""Tests for papers/transformers/mlm.py: the 80/10/10 masking rule by its rates over many draws (binomial
bounds) and against labml-nn's `MLM`, the loss and gradient only at picked positions, the encoder's
bidirectionality (and the causal arm equal to the harness's model), the downstream plays outside the
pre-training text, the claim in miniature, the page's numbers against the recorded run, and bad input."""
from __future__ import annotations

import math

import pytest
import torch

from papers.kit.char_transformer import CharTransformer, LMSettings, corpus
from papers.kit.data import shakespeare_text
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import mlm as paper
from papers.transformers.mlm import (CHUNKS, FULL, IGNORE, KEPT, MASKED, NOT_PICKED, PLAYS, QUICK, RANDOMISED,
                                     SPECIALS, Encoder, Masking, MaskedEval, floor_accuracies, mask_tokens, mlm_loss,
                                     play_text, pooled, pretrain)

CHARS = 50  # a small character vocabulary; [MASK] is 50, [PAD] 51
MASK_ID, PAD_ID = CHARS, CHARS + 1


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_tokens(shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, CHARS, shape, generator=generator(seed))


# ## The masking rule: rates over many draws
#
# 400 × 500 = 200,000 positions, each an independent draw. The picked fraction is binomial with $p = 0.15$:
# standard deviation $\sqrt{p(1-p)/n} \approx 0.0008$; among the $m \approx 30{,}000$ picked positions the
# `[MASK]`, random and kept fractions are binomial with 0.8, 0.1, 0.1. Each measured rate must lie within 5
# standard deviations of its target (a false alarm about once in 3.5 million runs per rate). A randomised
# position shows its own character with probability $1/V$ (the random character is uniform over all $V$),
# so the input differs from the original at a picked position with probability $0.8 + 0.1 (1 - 1/V)$.
# This is a statistical check, not a calibrated training claim: with a seeded generator the draw is
# deterministic (the last test below pins that), so these numbers do not vary from run to run on one machine.
def within(measured: float, target: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(measured - target) <= sigmas * math.sqrt(target * (1 - target) / n)


@pytest.mark.parametrize("masking", [Masking(), Masking(probability=0.3, mask_rate=0.5, random_rate=0.2,
                                                         keep_rate=0.3)])
def test_masking_rates_match_the_rule_within_binomial_bounds(masking: Masking) -> None:
    tokens = random_tokens((400, 500))
    batch = mask_tokens(tokens, masking, CHARS, generator(1))
    picked = batch.kind != NOT_PICKED
    n, m = tokens.numel(), int(picked.sum())
    assert within(m / n, masking.probability, n)
    for kind, rate in ((MASKED, masking.mask_rate), (RANDOMISED, masking.random_rate), (KEPT, masking.keep_rate)):
        assert within(float((batch.kind == kind).sum()) / m, rate, m)
    changed = float((batch.inputs != tokens)[picked].float().mean())
    assert within(changed, masking.mask_rate + masking.random_rate * (1 - 1 / CHARS), m)
    randomised = batch.kind == RANDOMISED  # the random characters are uniform over the characters
    counts = torch.bincount(batch.inputs[randomised], minlength=CHARS)
    assert len(counts) == CHARS and within(float(counts.max()) / int(randomised.sum()), 1 / CHARS,
                                           int(randomised.sum()), sigmas=6)


# What each kind of position holds: `[MASK]`, the original, or a character; labels the original at picked
# positions and `IGNORE` elsewhere; unpicked inputs untouched. Exact.
def test_masked_batch_contents() -> None:
    tokens = random_tokens((64, 64))
    batch = mask_tokens(tokens, Masking(), CHARS, generator(2))
    picked = batch.kind != NOT_PICKED
    assert torch.equal(batch.labels[picked], tokens[picked])
    assert (batch.labels[~picked] == IGNORE).all()
    assert torch.equal(batch.inputs[~picked], tokens[~picked])
    assert (batch.inputs[batch.kind == MASKED] == MASK_ID).all()
    assert torch.equal(batch.inputs[batch.kind == KEPT], tokens[batch.kind == KEPT])
    assert (batch.inputs[batch.kind == RANDOMISED] < CHARS).all()


# Special tokens (`[MASK]`, `[PAD]`) are never picked, even when every position is a special token.
def test_special_tokens_are_never_picked() -> None:
    tokens = random_tokens((200, 100))
    tokens[:, 50:] = PAD_ID
    tokens[::2, :10] = MASK_ID
    batch = mask_tokens(tokens, Masking(probability=0.9, mask_rate=0.0, random_rate=0.5, keep_rate=0.5),
                        CHARS, generator(3))
    special = tokens >= CHARS
    assert (batch.kind[special] == NOT_PICKED).all() and torch.equal(batch.inputs[special], tokens[special])
    assert batch.kind[~special].ne(NOT_PICKED).float().mean() > 0.85
    assert SPECIALS == ("[MASK]", "[PAD]")


# A seeded generator gives the same masking every time (determinism, not calibration).
def test_masking_is_deterministic_for_a_seeded_generator() -> None:
    tokens = random_tokens((32, 64))
    first, second = (mask_tokens(tokens, Masking(), CHARS, generator(7)) for _ in range(2))
    assert torch.equal(first.inputs, second.inputs) and torch.equal(first.kind, second.kind)


# ## Against labml-nn's `MLM`
#
# labml-nn's masking draws the picking with `torch.rand(x.shape) < masking_prob` from PyTorch's default
# generator, as `mask_tokens` does first when given no generator: on the same generator state the picked
# positions and their labels are identical, exactly. The 80/10/10 split follows another convention: labml-nn
# draws "unchanged" (probability 0.1) and "random" (0.1) independently, and a position drawn for both gets a
# random character, so its picked positions become random with probability 0.1, stay unchanged with
# $0.1 \times 0.9 = 0.09$ and become `[MASK]` with $0.9 \times 0.9 = 0.81$, where ours are 0.8, 0.1, 0.1
# (one draw split three ways; BERT's code gets the same rates from two nested draws, 0.8 then 0.5). Pinned
# here by the rates: 800 × 800 positions give about 96,000 picked ones, a standard error of about 0.0013 on
# the `[MASK]` fraction, so 0.81 and 0.80 lie about 7.7 standard errors apart.
def test_picked_positions_equal_labml_nn_on_the_same_generator_state() -> None:
    from labml_nn.transformers.mlm import MLM

    tokens = random_tokens((800, 800))
    labml = MLM(padding_token=PAD_ID, mask_token=MASK_ID, no_mask_tokens=[], n_tokens=CHARS)
    torch.manual_seed(11)
    ours = mask_tokens(tokens, Masking(), CHARS)
    torch.manual_seed(11)
    inputs, labels = labml(tokens.clone())
    picked = labels != PAD_ID
    assert torch.equal(picked, ours.kind != NOT_PICKED)
    assert torch.equal(labels[picked], ours.labels[picked])
    m = int(picked.sum())
    masked = float((inputs[picked] == MASK_ID).float().mean())
    assert within(masked, 0.81, m) and not within(masked, 0.80, m, sigmas=2)
    assert within(float((ours.kind == MASKED).sum()) / m, 0.80, m)
    kept = float((inputs[picked] == tokens[picked]).float().mean())  # unchanged, or random but equal
    assert within(kept, 0.09 + 0.1 / CHARS, m)


# ## The loss: only picked positions count
#
# The loss equals the mean cross-entropy over the picked positions computed position by position in
# float64; positions not picked get exactly zero gradient, and changing their logits changes nothing.
def test_loss_and_gradient_only_at_picked_positions() -> None:
    tokens = random_tokens((8, 40))
    batch = mask_tokens(tokens, Masking(), CHARS, generator(4))
    logits = torch.randn(8, 40, CHARS + 2, dtype=torch.float64, generator=generator(5), requires_grad=True)
    loss = mlm_loss(logits, batch.labels)
    picked = batch.labels != IGNORE
    by_hand = torch.stack([-logits[b, t].log_softmax(-1)[batch.labels[b, t]] for b, t in picked.nonzero()]).mean()
    torch.testing.assert_close(loss, by_hand, rtol=1e-12, atol=1e-12)
    loss.backward()
    assert (logits.grad[~picked] == 0).all() and (logits.grad[picked].abs().sum(-1) > 0).all()
    changed = logits.detach().clone()
    changed[~picked] += torch.randn_like(changed[~picked]) * 10
    assert mlm_loss(changed, batch.labels).item() == loss.item()


def test_a_batch_with_nothing_picked_has_zero_loss_and_gradient() -> None:
    logits = torch.randn(2, 5, CHARS + 2, requires_grad=True)
    loss = mlm_loss(logits, torch.full((2, 5), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and (logits.grad == 0).all()


# ## The encoder
#
# Changing the last character changes the bidirectional encoder's output at every earlier position; the
# causal arm's earlier outputs stay the same, bit for bit (masked keys get zero weight).
def small_settings() -> LMSettings:
    return LMSettings(d_model=32, heads=2, d_ff=64, seq_len=16)


def test_bidirectional_sees_the_right_the_causal_does_not() -> None:
    tokens = random_tokens((3, 16))
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % CHARS
    for bidirectional in (True, False):
        torch.manual_seed(0)
        model = Encoder(CHARS, small_settings(), bidirectional).eval()
        with torch.no_grad():
            before, after = model(tokens)[:, :-1], model(changed)[:, :-1]
        if bidirectional:
            assert ((before - after).abs().amax(-1) > 1e-4).all()
        else:
            assert torch.equal(before, after)


# The causal arm is the harness's `CharTransformer` (with the two special tokens in its vocabulary): the
# same parameters, and, with the weights copied, the same logits.
def test_causal_arm_equals_the_harness_model() -> None:
    torch.manual_seed(0)
    ours = Encoder(CHARS, small_settings(), bidirectional=False).double().eval()
    harness = CharTransformer(CHARS + 2, small_settings()).double().eval()
    harness.load_state_dict(ours.state_dict())
    tokens = random_tokens((2, 16))
    torch.testing.assert_close(ours(tokens), harness(tokens), rtol=1e-12, atol=1e-12)


# ## The downstream task does not leak
#
# Each play of the downstream task starts, in the concatenated text, after the last character the
# pre-training corpus takes, so none of its windows (labelled, validation or test) was read in pre-training.
# Exact.
def test_downstream_plays_lie_beyond_the_pretraining_text() -> None:
    text = shakespeare_text()
    for play in PLAYS:
        start = text.find(play_text(play))
        assert start >= FULL.max_chars, play
        assert text.find(play_text(play)[:2000]) == start  # the play's opening is not elsewhere either


# ## The downstream classifier's pooling
#
# A passage of `CHUNKS` × `seq_len` characters is pooled as the mean, over its chunks, of the encoder's mean
# final state over each chunk's positions: the same as running the encoder chunk by chunk in a loop, in
# float64.
def test_passage_pooling_equals_chunk_by_chunk_mean() -> None:
    torch.manual_seed(0)
    model = Encoder(CHARS, small_settings()).double().eval()
    passages = random_tokens((3, CHUNKS * 16))
    by_hand = torch.stack([torch.stack([model.hidden(chunk[None]).mean(1)[0] for chunk in passage.split(16)]).mean(0)
                           for passage in passages])
    torch.testing.assert_close(pooled(model, passages), by_hand, rtol=1e-12, atol=1e-12)


# ## Floors
#
# The most-frequent-character guesser's accuracy equals the share of that character among the scored
# targets, counted directly. Exact.
def test_most_frequent_floor_counts() -> None:
    settings = QUICK.but(max_chars=200_000)
    evaluation = MaskedEval.build(settings, Masking(), 64)
    floors = floor_accuracies(evaluation, settings)
    text = corpus(settings.max_chars)
    top = int(torch.bincount(text.train).argmax())
    assert floors["most_frequent"] == pytest.approx(float((evaluation.clean[evaluation.scored] == top)
                                                          .float().mean()))
    assert floors["neighbours"] > floors["left_bigram"] > floors["most_frequent"]


# ## The claim in miniature
#
# A bidirectional encoder pre-trained with masking (the quick settings: windows of 16 characters, 200 steps at
# rate 0.003, 200,000 characters) predicts `[MASK]`ed held-out characters clearly better than always guessing
# the most frequent one: it has learned from its context. (The comparison with the causal model and the
# neighbour guesser, which the encoder loses at this scale, is checked on the recorded run below.)
# Calibrated with `scripts/calibrate.py ... --seeds 0 1 2`: gain over the most frequent character
# 0.063, 0.098, 0.035 at 1 thread; 0.061, 0.088, 0.035 at 2 threads; 0.063, 0.088, 0.033 under portable
# kernels. The test uses seed 0 (0.061 to 0.063); threshold 0.01, below the smallest gain of any seed by 0.02.
CLAIM_SETTINGS = QUICK.but(steps=200, eval_every=200, max_chars=200_000)


def claim_metrics(seed: int) -> dict[str, float]:
    masking = Masking()
    evaluation = MaskedEval.build(CLAIM_SETTINGS, masking, 256)
    _, history = pretrain("bidirectional", CLAIM_SETTINGS, seed, 0.003, masking, evaluation)
    floors = floor_accuracies(evaluation, CLAIM_SETTINGS)
    return {"accuracy": history.last("accuracy"), "gain_over_most_frequent":
            history.last("accuracy") - floors["most_frequent"]}


@pytest.fixture(name="claim", scope="module")
def claim_fixture() -> dict[str, float]:
    return claim_metrics(0)


@pytest.mark.claim
def test_claim_masked_accuracy_beats_the_most_frequent_floor(claim: dict[str, float]) -> None:
    assert claim["gain_over_most_frequent"] > CLAIM_THRESHOLD


CLAIM_THRESHOLD = 0.01


# ## The recorded full run
#
# The page quotes the recorded numbers, and the recorded run shows what the page says: the encoder above
# the most-frequent and bigram floors on every seed, behind the causal model on every seed (the claim not
# held at this scale), and the bidirectional rate bracketed by the recorded sweep.
def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in ("bidirectional_accuracy", "causal_accuracy", "fine_tuned_test", "probe_test", "scratch_test",
                 "probe_untrained_test"):
        for stat in ("mean", "min", "max"):
            assert quoted_on_page(paper.__file__, f"{metrics[name][stat]:.1%}"), (name, stat)
    for floor in metrics["floors"].values():
        assert quoted_on_page(paper.__file__, f"{floor:.1%}")
    assert quoted_on_page(paper.__file__, f"by {-metrics['bidirectional_gain']['mean'] * 100:.1f} points")
    assert quoted_on_page(paper.__file__, f"{metrics['scored_positions']:,} held-out positions")
    assert quoted_on_page(paper.__file__, f"{metrics['ngram_test']:.1%}")


def test_recorded_run_shows_what_the_page_says() -> None:
    metrics = recorded_metrics(paper.__file__)
    floors = metrics["floors"]
    accuracy = metrics["bidirectional_accuracy"]
    assert accuracy["min"] > floors["left_bigram"] > floors["most_frequent"]
    assert metrics["bidirectional_gain"]["max"] < 0 and metrics["bidirectional_over_neighbours"]["max"] < 0
    sweep = metrics["rate_sweep"]["bidirectional"]
    assert max(sweep, key=sweep.get) == f"{metrics['bidirectional_lr']:g}" and min(map(float, sweep)) < 0.01 < max(
        map(float, sweep))
    assert len(metrics["seeds"]) == 3


# ## Bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"probability": 0.0}, "probability must be in"),
    ({"probability": 1.0}, "probability must be in"),
    ({"probability": -0.1}, "probability must be in"),
    ({"mask_rate": 0.9}, "must sum to 1"),
    ({"mask_rate": 1.2, "random_rate": -0.1, "keep_rate": -0.1}, "mask_rate must be in"),
    ({"keep_rate": float("nan")}, "keep_rate must be in"),
])
def test_bad_masking(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Masking(**kwargs)


def test_bad_tokens() -> None:
    with pytest.raises(TypeError, match="tokens must have dtype torch.int64"):
        mask_tokens(torch.zeros(2, 3), Masking(), CHARS)
    with pytest.raises(ValueError, match="tokens must have shape"):
        mask_tokens(torch.zeros(6, dtype=torch.long), Masking(), CHARS)
    with pytest.raises(ValueError, match="tokens must hold values in"):
        mask_tokens(torch.full((2, 3), CHARS + 2), Masking(), CHARS)
    with pytest.raises(ValueError, match="chars must be a positive integer"):
        mask_tokens(torch.zeros(2, 3, dtype=torch.long), Masking(), 0)


def test_bad_loss_inputs() -> None:
    with pytest.raises(ValueError, match="labels must have shape"):
        mlm_loss(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="labels must have dtype torch.int64"):
        mlm_loss(torch.zeros(2, 3, 5), torch.zeros(2, 3))


def test_bad_encoder() -> None:
    with pytest.raises(ValueError, match="needs absolute positions"):
        Encoder(CHARS, small_settings().but(positions="none"))
    model = Encoder(CHARS, small_settings())
    with pytest.raises(ValueError, match="exceeds the model's max_len"):
        model(random_tokens((1, 17)))
    with pytest.raises(ValueError, match="tokens must hold values in"):
        model(torch.full((1, 4), CHARS + 2))
    with pytest.raises(ValueError, match="arm must be one of"):
        pretrain("left", small_settings(), 0, 1e-3, Masking(), None)  # type: ignore[arg-type]
