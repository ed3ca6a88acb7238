"""Tests for papers/transformers/switch.py: the Switch layer against a loop over tokens in float64, token
dropping (zero output, first come first served, causal), the load-balancing loss against its formula and at
uniform and skewed routing, the gradient of the attached loss against the explicit sum, labml-nn's
SwitchFeedForward with copied weights, bad input, the claim in miniature and the recorded run."""
from __future__ import annotations

import math

import pytest
import torch

from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import switch as paper
from papers.transformers.building_blocks import PositionWiseFeedForward
from papers.transformers.switch import (ARMS, QUICK, SwitchFeedForward, build_arm, claim_slots, effective_experts,
                                        expert_capacity, load_balancing_loss, switch_block, train_arm)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# A float64 layer whose router is scaled up so that routing is uneven and some experts overflow.
def skewed_layer(seed: int, experts: int = 4, capacity_factor: float = 1.0, alpha: float = 0.01,
                 d_model: int = 8, d_ff: int = 16) -> SwitchFeedForward:
    torch.manual_seed(seed)
    layer = SwitchFeedForward(d_model, d_ff, experts, capacity_factor, alpha).double()
    with torch.no_grad():
        layer.router.weight.mul_(4.0)
    return layer


# ## The layer against a loop over tokens
#
# The page's equations, token by token, in float64: tokens claim slots position by position (all sequences'
# position 0, then position 1, ...); a token whose expert already holds $C$ tokens gives 0, any other
# $p_i(x) E_i(x)$.
def loop_switch(layer: SwitchFeedForward, x: torch.Tensor) -> torch.Tensor:
    batch, seq, _ = x.shape
    experts = len(layer.experts)
    capacity = math.floor(layer.capacity_factor * batch * seq / experts)
    taken = [0] * experts
    out = torch.zeros_like(x)
    for t in range(seq):
        for b in range(batch):
            probs = torch.softmax(x[b, t] @ layer.router.weight.T, dim=-1)
            i = int(probs.argmax())
            if taken[i] < capacity:
                taken[i] += 1
                out[b, t] = probs[i] * layer.experts[i](x[b, t][None, None])[0, 0]
    return out


@pytest.mark.parametrize("capacity_factor", [0.5, 1.0, 4.0])
def test_layer_equals_a_loop_over_tokens(capacity_factor: float) -> None:
    layer = skewed_layer(0, capacity_factor=capacity_factor)
    x = torch.randn(3, 7, 8, dtype=torch.float64, generator=generator(1))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), loop_switch(layer, x), rtol=0, atol=1e-12)
    assert (layer.last["dropped"] > 0) == (capacity_factor < 4.0)  # the test covers dropping and not


# Dropped tokens give exactly zero (they pass through the block's residual unchanged); kept ones do not; the
# statistics add up. The routing is set by hand: the router reads the first four coordinates and each token
# carries a large value at its expert's, so in the claiming order (position by position) the experts are
# $(1, 0, 0, 1, 2, 3)$ for (sequence, position) $(0,0), (1,0), (0,1), (1,1), (0,2), (1,2)$. With
# $C = \lfloor 0.7 \cdot 6 / 4 \rfloor = 1$ each expert keeps its first token only: counted by hand, both
# sequences keep positions 0 and 2 and drop position 1 (sequence by sequence instead, sequence 0 would keep
# all three and sequence 1 only position 2).
def test_dropped_tokens_give_exactly_zero() -> None:
    layer = SwitchFeedForward(8, 16, 4, capacity_factor=0.7).double()
    with torch.no_grad():
        layer.router.weight.copy_(5.0 * torch.eye(4, 8, dtype=torch.float64))
    chosen = torch.tensor([[1, 0, 2], [0, 1, 3]])  # [batch, seq], each token's expert
    x = 0.1 * torch.randn(2, 3, 8, dtype=torch.float64, generator=generator(2))
    x += 3.0 * torch.nn.functional.one_hot(chosen, 8).double()
    kept = torch.tensor([[True, False, True], [True, False, True]])  # [batch, seq], counted by hand
    with torch.no_grad():
        out = layer(x)
    assert torch.equal((out == 0).all(dim=-1), ~kept)
    last = layer.last
    assert math.isclose(last["dropped"].item(), 2 / 6)
    torch.testing.assert_close(last["dispatched"], torch.tensor([2, 2, 1, 1], dtype=torch.float64) / 6)
    torch.testing.assert_close(last["kept"], torch.tensor([1, 1, 1, 1], dtype=torch.float64) / 6)


def test_slots_are_first_come_first_served() -> None:
    expert = torch.tensor([0, 1, 0, 0, 1, 2, 0])
    assert claim_slots(expert, 3, 2).tolist() == [True, True, True, False, True, True, False]
    assert claim_slots(expert, 3, 0).sum() == 0
    assert expert_capacity(512, 4, 1.25) == 160 and expert_capacity(10, 4, 1.0) == 2


# Causality, exactly: changing the character at position 20 leaves every earlier output of a Switch model bit
# for bit the same, with a capacity small enough that tokens are dropped (slots are claimed position by
# position, so the tokens before 20 cannot lose theirs to it).
def test_switch_model_is_causal_while_dropping_tokens() -> None:
    torch.manual_seed(3)
    model = build_arm("switch", QUICK, 3).eval()
    for block in model.blocks:
        block.feed_forward.capacity_factor = 0.5
        with torch.no_grad():
            block.feed_forward.router.weight.mul_(20.0)
    tokens = torch.randint(0, 50, (4, QUICK.seq_len), generator=generator(3))
    changed = tokens.clone()
    changed[:, 20] = (changed[:, 20] + 1) % 50
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert all(block.feed_forward.last["dropped"] > 0 for block in model.blocks)
    assert torch.equal(before[:, :20], after[:, :20])
    assert (before[:, 20:] - after[:, 20:]).abs().max() > 1e-3


# ## The load-balancing loss
#
# Against the formula written out with loops, in float64.
def test_balancing_loss_equals_its_formula() -> None:
    probs = torch.softmax(torch.randn(30, 5, dtype=torch.float64, generator=generator(4)) * 2, dim=-1)
    expert = probs.argmax(dim=-1)
    by_hand = 0.0
    for i in range(5):
        f_i = sum(1 for t in range(30) if expert[t] == i) / 30
        p_i = sum(probs[t, i].item() for t in range(30)) / 30
        by_hand += f_i * p_i
    assert math.isclose(load_balancing_loss(probs, expert, 0.01).item(), 0.01 * 5 * by_hand, rel_tol=1e-12)


# Uniform routing ($f_i = P_i = 1/N$) gives exactly $\alpha$; a router skewed towards one expert more, up to
# $\alpha N$ when every token goes to one expert with probability 1.
@pytest.mark.parametrize("experts", [2, 4, 7])
def test_balancing_loss_is_alpha_at_uniform_routing_and_larger_when_skewed(experts: int) -> None:
    tokens = 6 * experts
    uniform = torch.full((tokens, experts), 1 / experts, dtype=torch.float64)
    even = torch.arange(tokens) % experts
    assert math.isclose(load_balancing_loss(uniform, even, 0.01).item(), 0.01, rel_tol=1e-12)
    collapsed = torch.zeros(tokens, experts, dtype=torch.float64)
    collapsed[:, 0] = 1.0
    zeros = torch.zeros(tokens, dtype=torch.long)
    assert math.isclose(load_balancing_loss(collapsed, zeros, 0.01).item(), 0.01 * experts, rel_tol=1e-12)
    for scale in (0.5, 2.0):  # a router leaning towards expert 0, by softmax logits
        logits = torch.randn(tokens, experts, dtype=torch.float64, generator=generator(experts)) * 0.1
        logits[:, 0] += scale
        probs = torch.softmax(logits, dim=-1)
        assert load_balancing_loss(probs, probs.argmax(dim=-1), 0.01) > 0.01 * 1.2


# "Minimal at uniform routing" holds where the paper's relaxation puts it: with the fractions equal to the
# probabilities ($f = P$) the loss is $\alpha N \sum_i P_i^2 \ge \alpha$ (Cauchy-Schwarz), equal at $P_i = 1/N$.
# The code has $f = P$ when every token's probabilities are one-hot at its expert: random assignments of 12 tokens
# to 4 experts give $N \sum_i f_i^2$, at least 1 and 1 only at 3 tokens each. With $f$ the arg-max counts it is
# not a minimum in general: three tokens with probabilities $(0.9, 0.1)$, $(0.4, 0.6)$, $(0.4, 0.6)$ give
# $f = (1/3, 2/3)$, $P = (0.567, 0.433)$ and $N \sum_i f_i P_i = 0.956 < 1$. Pinned, since the page says so.
def test_uniform_is_the_minimum_when_fractions_equal_probabilities_only() -> None:
    for seed in range(20):  # one-hot routing: the code's f and P are then the same counts
        expert = torch.randint(0, 4, (12,), generator=generator(seed))
        counts = torch.bincount(expert, minlength=4).double()
        loss = load_balancing_loss(torch.nn.functional.one_hot(expert, 4).double(), expert, 1.0).item()
        assert math.isclose(loss, 4 * ((counts / 12) ** 2).sum().item(), rel_tol=1e-12) and loss >= 1.0 - 1e-12
        assert (loss > 1.0 + 1e-12) == bool((counts != 3).any())  # equal to 1 at an even split only
    even = torch.arange(12) % 4
    assert math.isclose(load_balancing_loss(torch.nn.functional.one_hot(even, 4).double(), even, 1.0).item(), 1.0)
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.4, 0.6]], dtype=torch.float64)
    below = load_balancing_loss(probs, probs.argmax(dim=-1), 1.0).item()
    assert math.isclose(below, 2 * (0.9 + 0.8 + 2 * (0.1 + 1.2)) / 9, rel_tol=1e-12) and below < 0.96


# The loss attached to the output: in training mode the gradient of any function of the output equals the
# gradient of that function plus the loss, computed explicitly (float64); with $\alpha = 0$ nothing is added.
def test_attached_loss_gives_the_gradient_of_the_sum() -> None:
    layer = skewed_layer(5, capacity_factor=1.0, alpha=0.3)
    x = torch.randn(3, 5, 8, dtype=torch.float64, generator=generator(5))
    weights = torch.randn(3, 5, 8, dtype=torch.float64, generator=generator(6))
    grads = {}
    for name, training in (("attached", True), ("explicit", False)):
        layer.zero_grad()
        layer.train(training)
        objective = (layer(x) * weights).sum()
        if not training:
            probs = torch.softmax(layer.router(x.transpose(0, 1).reshape(-1, 8)), dim=-1)
            objective = objective + load_balancing_loss(probs, probs.argmax(dim=-1), 0.3)
        objective.backward()
        grads[name] = [p.grad.clone() for p in layer.parameters()]
    for attached, explicit in zip(grads["attached"], grads["explicit"]):
        torch.testing.assert_close(attached, explicit, rtol=0, atol=1e-12)
    layer.zero_grad()
    layer.alpha = 0.0
    layer.train()
    (layer(x) * weights).sum().backward()
    assert (layer.router.weight.grad - grads["attached"][0]).abs().max() > 1e-4


# ## Against labml-nn's `SwitchFeedForward`
#
# labml-nn's layer takes `[seq, batch, d_model]` and flattens it position by position, the order this page
# uses; its router `switch` has a bias (set to zero here, ours has none) and its experts are its
# `FeedForward` (the same names, `layer1` and `layer2`). It returns the output, the number of tokens routed
# to each expert (before dropping), the sum of the router probabilities per expert, the number dropped and
# the chosen probabilities. Without dropping the two layers agree in float64, and so do its counts and sums
# with our $f$ and $P$ and its experiment's balancing loss, `n_experts * (route_frac * route_prob).sum()`,
# with our `balance`.
def labml_copy(ours: SwitchFeedForward, drop_tokens: bool) -> torch.nn.Module:
    from labml_nn.transformers.feed_forward import FeedForward
    from labml_nn.transformers.switch import SwitchFeedForward as LabmlSwitch

    d_model, d_ff = ours.experts[0].layer1.in_features, ours.experts[0].layer1.out_features
    theirs = LabmlSwitch(capacity_factor=ours.capacity_factor, drop_tokens=drop_tokens, is_scale_prob=True,
                         n_experts=len(ours.experts), expert=FeedForward(d_model, d_ff, dropout=0.0),
                         d_model=d_model).double().eval()
    with torch.no_grad():
        theirs.switch.weight.copy_(ours.router.weight)
        theirs.switch.bias.zero_()
        for mine, their in zip(ours.experts, theirs.experts):
            their.load_state_dict(mine.state_dict())
    return theirs


def test_equals_labml_nn_without_dropping() -> None:
    ours = skewed_layer(7, experts=4, capacity_factor=4.0).eval()
    theirs = labml_copy(ours, drop_tokens=False)
    x = torch.randn(3, 9, 8, dtype=torch.float64, generator=generator(7))  # [batch, seq, d]
    with torch.no_grad():
        out = ours(x)
        their_out, counts, prob_sums, dropped, _ = theirs(x.transpose(0, 1).contiguous())
    torch.testing.assert_close(out, their_out.transpose(0, 1), rtol=0, atol=1e-12)
    tokens = 27
    torch.testing.assert_close(ours.last["dispatched"], counts / tokens, rtol=0, atol=1e-12)
    labml_balance = 4 * (counts / tokens * prob_sums / tokens).sum()
    assert dropped == 0 and math.isclose(ours.last["balance"].item(), labml_balance.item(), rel_tol=1e-12)


# With dropping, labml-nn keeps a *random* subset of each overflowing expert's tokens (`torch.randperm`) where
# this page keeps the first to arrive (the paper's code's rule, in this page's order), and it returns a dropped
# token's input scaled by its probability, $p_i(x)\,x$, where this page returns 0 (the paper: the token "is passed
# directly to the next layer through the residual connection"; labml-nn's block then adds $x + p_i(x)\,x$). The
# capacity and the number dropped agree; the tokens both keep agree in value; the tokens both drop differ by
# $p_i(x)\,x$.
def test_differs_from_labml_nn_in_which_tokens_drop_and_what_they_give() -> None:
    ours = skewed_layer(8, experts=4, capacity_factor=0.75).eval()
    theirs = labml_copy(ours, drop_tokens=True)
    x = torch.randn(4, 8, 8, dtype=torch.float64, generator=generator(8))
    torch.manual_seed(8)
    with torch.no_grad():
        out = ours(x).transpose(0, 1).reshape(-1, 8)  # [T, d], position by position
        their_out, _, _, dropped, gate = theirs(x.transpose(0, 1).contiguous())
    their_out = their_out.reshape(-1, 8)
    tokens = x.transpose(0, 1).reshape(-1, 8)
    assert dropped == round(ours.last["dropped"].item() * 32) > 0
    ours_dropped = (out == 0).all(dim=-1)
    theirs_dropped = torch.isclose(their_out, gate[:, None] * tokens, rtol=0, atol=1e-12).all(dim=-1)
    both_kept, both_dropped = ~ours_dropped & ~theirs_dropped, ours_dropped & theirs_dropped
    assert both_kept.sum() > 0
    torch.testing.assert_close(out[both_kept], their_out[both_kept], rtol=0, atol=1e-12)
    if both_dropped.any():
        torch.testing.assert_close(their_out[both_dropped] - out[both_dropped],
                                   gate[both_dropped, None] * tokens[both_dropped], rtol=0, atol=1e-12)


# ## The arms
#
# Each expert is the project's `PositionWiseFeedForward`, of the dense model's width; the Switch model has
# the dense model's parameters plus 3 experts and the router per layer, and the wide dense model the same
# up to the router and 3 output biases per layer.
def test_arms_and_parameter_counts() -> None:
    count = {arm: sum(p.numel() for p in build_arm(arm, QUICK, 0).parameters()) for arm in ARMS}
    d, d_ff, layers = QUICK.d_model, QUICK.d_ff, QUICK.layers
    expert = 2 * d * d_ff + d_ff + d
    assert count["switch"] - count["dense"] == layers * (3 * expert + 4 * d)
    assert count["switch"] - count["dense_wide"] == layers * (4 * d + 3 * d)
    assert count["switch"] == count["switch_no_balance"]
    layer = build_arm("switch", QUICK, 0).blocks[0].feed_forward
    assert all(isinstance(e, PositionWiseFeedForward) and e.layer1.out_features == d_ff for e in layer.experts)
    assert build_arm("switch_no_balance", QUICK, 0).blocks[1].feed_forward.alpha == 0.0


def test_effective_experts() -> None:
    assert math.isclose(effective_experts(torch.full((4,), 0.25)).item(), 4.0, rel_tol=1e-6)
    assert math.isclose(effective_experts(torch.tensor([1.0, 0.0, 0.0, 0.0])).item(), 1.0, rel_tol=1e-6)


# ## Bad input
def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError, match="capacity_factor must be a positive number"):
        SwitchFeedForward(8, 16, 4, capacity_factor=0.0)
    with pytest.raises(ValueError, match="capacity_factor must be a positive number"):
        SwitchFeedForward(8, 16, 4, capacity_factor=-1.0)
    with pytest.raises(ValueError, match="experts must be a positive integer"):
        SwitchFeedForward(8, 16, 0)
    with pytest.raises(ValueError, match="experts must be a positive integer"):
        SwitchFeedForward(8, 16, 2.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        SwitchFeedForward(8, 16, 4, alpha=-0.01)
    with pytest.raises(ValueError, match="d_ff must be a positive integer"):
        SwitchFeedForward(8, 0, 4)
    with pytest.raises(ValueError, match="experts must be a positive integer"):
        switch_block(0)
    with pytest.raises(ValueError, match="capacity_factor must be a positive number"):
        switch_block(4, capacity_factor=0)
    with pytest.raises(ValueError, match="alpha must be in"):
        switch_block(4, alpha=-1.0)
    layer = SwitchFeedForward(8, 16, 4)
    with pytest.raises(ValueError, match="x must have shape"):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="x must have shape"):
        layer(torch.randn(10, 8))
    with pytest.raises(TypeError, match="x must have dtype"):
        layer(torch.randn(2, 5, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="arm must be one of"):
        build_arm("moe", QUICK, 0)


# ## The claim in miniature
#
# Not the page's run: the quick settings (width 32, windows of 32) with batches of 8 windows (256 tokens per
# layer and step) for 80 steps at rate 0.01, the Switch model with and without the balancing loss, seeds 0-2:
# over the last 20 steps, the effective number of experts (the fewer of the two layers) and the fraction of
# tokens dropped.
CLAIM = QUICK.but(steps=80, batch_size=8, eval_every=80, eval_windows=8)
TAIL = 20


def claim_metrics(seed: int) -> dict[str, float]:
    metrics = {}
    for arm in ("switch", "switch_no_balance"):
        _, usage = train_arm(arm, CLAIM, seed, 0.01)
        metrics[f"{arm}_dropped"] = usage["dropped"][-TAIL:].mean().item()
        metrics[f"{arm}_effective"] = effective_experts(usage["dispatched"][-TAIL:].mean(dim=0)).min().item()
    return metrics



# The balancing loss keeps more experts in use and drops fewer tokens, paired by seed (the same batches and
# initial weights). Measured at 1 thread, seeds 0, 1, 2: effective experts with the loss 3.68, 3.85, 2.84,
# without 1.94, 1.71, 1.57 (paired gaps 1.73, 2.14, 1.27); tokens dropped with the loss 0.071, 0.207, 0.284,
# without 0.354, 0.478, 0.530 (gaps 0.28, 0.27, 0.25). Under portable kernels: seeds 0 and 2 the same to six
# digits, seed 1 3.79 and 1.71 experts, 0.198 and 0.478 dropped. At 2 threads: seed 0 3.68 and 1.95 experts,
# 0.071 and 0.353 dropped; seed 1 3.85 and 1.71, 0.207 and 0.478; seed 2 2.84 and 1.57, 0.284 and 0.530 (as
# at 1 thread to two digits). Thresholds, on every seed:
# an effective-experts gap above 0.6 (half the smallest measured), the unbalanced model below 2.5 experts
# (measured at most 1.95), and a dropped-fraction gap above 0.1 (measured 0.25 at least). At 80 steps the
# balanced router has not always settled (2.84 experts on seed 2, against 3.93 at the end of the page's 400-step
# run), so no level is asserted for it.
@pytest.fixture(name="claim", scope="module")
def fixture_claim() -> list[dict[str, float]]:
    return [claim_metrics(seed) for seed in (0, 1, 2)]


@pytest.mark.claim
def test_quick_balancing_loss_keeps_experts_in_use(claim: list[dict[str, float]]) -> None:
    for metrics in claim:
        assert metrics["switch_effective"] - metrics["switch_no_balance_effective"] > 0.6, metrics
        assert metrics["switch_no_balance_effective"] < 2.5, metrics


@pytest.mark.claim
def test_quick_balancing_loss_drops_fewer_tokens(claim: list[dict[str, float]]) -> None:
    for metrics in claim:
        assert metrics["switch_no_balance_dropped"] - metrics["switch_dropped"] > 0.1, metrics


# ## The recorded full run
#
# The dense, Switch and wide arms each took the best rate of the same grid; the arm without balancing took the
# Switch arm's.
def test_recorded_rates_are_each_arms_best() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in paper.TUNED:
        sweep = metrics[f"{arm}_sweep"]
        assert sweep[f"{metrics[f'{arm}_lr']:g}"] == min(sweep.values()), arm
        assert len(sweep) == len(metrics["rates"])
    assert metrics["switch_no_balance_lr"] == metrics["switch_lr"]
    assert metrics["runs"] == 21 and len(metrics["seeds"]) == 3


# The page's findings: the balancing loss keeps more experts in use and drops fewer tokens on every seed (the
# ranges do not overlap); the Switch model's gap to the dense model is within the dense model's own seed
# spread (no gain at this scale), ahead on 1 of 3 seeds.
def test_recorded_findings() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert metrics["switch_effective_experts"]["min"] > 3.5 > metrics["switch_no_balance_effective_experts"]["max"]
    assert metrics["switch_dropped_final"]["max"] < 0.05 < metrics["switch_no_balance_dropped_final"]["min"]
    assert metrics["switch_max_share"]["max"] < metrics["switch_no_balance_max_share"]["min"]
    assert abs(metrics["switch_gap"]["mean"]) < metrics["dense_valid"]["std"]
    assert metrics["switch_ahead_seeds"] == 1 and metrics["switch_no_balance_ahead_seeds"] == 2
    assert metrics["dense_wide_ahead_seeds"] == 0


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for name in [f"{arm}_valid" for arm in ARMS] + [f"{arm}_gap" for arm in ARMS if arm != "dense"] + [
            "balance_gap"]:
        value = metrics[name]
        assert quoted_on_page(paper.__file__, f"{value['mean']:.3f} ({value['min']:.3f} to {value['max']:.3f})"), name
    for arm in ("switch", "switch_no_balance"):
        effective, share = metrics[f"{arm}_effective_experts"], metrics[f"{arm}_max_share"]
        dropped = metrics[f"{arm}_dropped_final"]
        assert quoted_on_page(paper.__file__, f"{effective['mean']:.2f} ({effective['min']:.2f} to "
                                              f"{effective['max']:.2f})"), arm
        assert quoted_on_page(paper.__file__, f"{share['mean']:.2f} ({share['min']:.2f} to {share['max']:.2f})"), arm
        assert quoted_on_page(paper.__file__, f"{dropped['mean']:.1%} ({dropped['min']:.1%} to "
                                              f"{dropped['max']:.1%})"), arm
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_dropped_all']['mean']:.1%}"), arm
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_balance_final']['mean']:.3f}"), arm
    for arm in ("dense", "switch", "dense_wide"):
        assert quoted_on_page(paper.__file__, ", ".join(f"{v:.3f}" for v in metrics[f"{arm}_sweep"].values())), arm
        assert quoted_on_page(paper.__file__, f"{metrics[f'{arm}_parameters']:,}"), arm
    assert quoted_on_page(paper.__file__, f"standard deviation of {metrics['dense_valid']['std']:.3f}")
