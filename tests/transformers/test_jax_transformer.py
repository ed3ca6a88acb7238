"""Tests for papers/transformers/jax_transformer.py: the JAX functions against the project's PyTorch modules
(multi-head attention, the harness block, the whole character model) with copied weights, outputs and
gradients, in float32 and float64; vmap against a loop; causality; Adam against torch.optim.Adam; the claim in
miniature (JAX and PyTorch training in step); the page's numbers against the recorded run; and bad input.

XLA's CPU backend is asked for one thread before JAX is imported (the paper module sets the same flag)."""
from __future__ import annotations

import os
from contextlib import AbstractContextManager

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

# pylint: disable=wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from papers.kit.char_transformer import Block, CharTransformer, LMSettings, build_model
from papers.kit.experiment import quoted_on_page, recorded_metrics
from papers.transformers import jax_transformer as paper
from papers.transformers.attention import MultiHeadAttention, subsequent_mask
from papers.transformers.jax_transformer import (QUICK, adam_init, adam_update, attend, attention_from_torch,
                                                 block, block_from_torch, causal_mask, forward, grad_of,
                                                 multi_head_attention, params_from_torch, sequence_logits,
                                                 train_jax, train_torch)

SMALL = LMSettings(d_model=16, heads=2, layers=2, d_ff=32, seq_len=8, batch_size=3, max_chars=200_000)
ONE_LAYER = SMALL.but(layers=1)  # the whole-model comparison: one block suffices (the block test covers depth)
VOCAB = 11
# Tolerances, relative to the largest entry of the compared tensor: float32 outputs and gradients agree to a
# few units of float32 rounding (2^-23 ≈ 1.2e-7) times the depth of the sums; float64 to 1e-12.
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}
DTYPES = [torch.float32, torch.float64]


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_close(jax_value: object, expected: torch.Tensor | np.ndarray, dtype: torch.dtype,
                 scale: float | None = None) -> None:
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    got = np.asarray(jax_value)
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max()) if scale is None else scale
    assert float(np.abs(got - expected).max()) <= TOLERANCE[dtype] * scale


# Gradients of a whole pytree, each leaf against the largest gradient entry of the tree: some leaves are
# zero in exact arithmetic (the keys' bias: adding a constant to every key's score leaves the softmax unchanged).
def assert_trees_close(jax_tree: object, torch_tree: object, dtype: torch.dtype) -> None:
    flat_jax, tree_jax = jax.tree_util.tree_flatten(jax_tree)
    flat_torch, tree_torch = jax.tree_util.tree_flatten(torch_tree)
    assert tree_jax == tree_torch
    scale = max(float(np.abs(np.asarray(leaf)).max()) for leaf in flat_torch)
    for got, expected in zip(flat_jax, flat_torch):
        assert_close(got, np.asarray(expected), dtype, scale)


def x64(dtype: torch.dtype) -> AbstractContextManager:
    return jax.enable_x64(dtype == torch.float64)


def small_model(dtype: torch.dtype, seed: int = 0, settings: LMSettings = SMALL) -> CharTransformer:
    torch.manual_seed(seed)
    model = CharTransformer(VOCAB, settings).to(dtype)
    with torch.no_grad():  # norms away from (1, 0), so that their copies are tested
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=generator(1), dtype=dtype))
    return model


def tokens(batch: int = 3, length: int = 8, seed: int = 2) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=generator(seed))


# ## Multi-head attention, the block and the model against PyTorch
#
# Outputs, and the gradients of $\sum_i r_i \cdot y_i$ (a fixed random $r$) with respect to every parameter and
# the input, from `jax.grad` and from PyTorch's autograd.
@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_equals_project_module(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    module = MultiHeadAttention(16, 4).to(dtype)
    x = torch.randn(3, 7, 16, dtype=dtype, generator=generator(1), requires_grad=True)
    r = torch.randn(3, 7, 16, dtype=dtype, generator=generator(2))
    out = module(x, x, x, subsequent_mask(7))
    (out * r).sum().backward()
    with x64(dtype):
        params, xj, rj = attention_from_torch(module), jnp.asarray(x.detach().numpy()), jnp.asarray(r.numpy())

        def objective(p: dict, inputs: jax.Array) -> jax.Array:
            y = jax.vmap(multi_head_attention, in_axes=(None, 0, None, None))(p, inputs, causal_mask(7), 4)
            return (y * rj).sum(), y

        (_, y), (g_params, g_x) = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(params, xj)
        assert_close(y, out, dtype)
        assert_close(g_x, x.grad, dtype)
        assert_trees_close(g_params, attention_from_torch(module, grad_of), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_equals_harness_block(dtype: torch.dtype) -> None:
    module = small_model(dtype).blocks[1]
    assert isinstance(module, Block)
    x = torch.randn(2, 8, 16, dtype=dtype, generator=generator(3), requires_grad=True)
    r = torch.randn(2, 8, 16, dtype=dtype, generator=generator(4))
    out = module(x, subsequent_mask(8))
    (out * r).sum().backward()
    with x64(dtype):
        params, xj, rj = block_from_torch(module), jnp.asarray(x.detach().numpy()), jnp.asarray(r.numpy())

        def objective(p: dict, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
            y = jax.vmap(block, in_axes=(None, 0, None, None))(p, inputs, causal_mask(8), 2)
            return (y * rj).sum(), y

        (_, y), (g_params, g_x) = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(params, xj)
        assert_close(y, out, dtype)
        assert_close(g_x, x.grad, dtype)
        assert_trees_close(g_params, block_from_torch(module, grad_of), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_char_model_logits_and_loss_gradients_equal_pytorch(dtype: torch.dtype) -> None:
    model = small_model(dtype, settings=ONE_LAYER)
    inputs, targets = tokens(seed=5), tokens(seed=6)
    out = model(inputs)
    torch.nn.functional.cross_entropy(out.flatten(0, 1), targets.flatten()).backward()
    with x64(dtype):
        params = params_from_torch(model)
        ij, tj = jnp.asarray(inputs.numpy()), jnp.asarray(targets.numpy())
        paper.checked_inputs(params, ij, ONE_LAYER)  # the checks pass on these inputs

        def objective(p: dict) -> tuple[jax.Array, jax.Array]:
            return paper.loss(p, ij, tj, ONE_LAYER.heads), paper.logits(p, ij, ONE_LAYER.heads)

        (_, z), grads = jax.value_and_grad(objective, has_aux=True)(params)
        assert_close(z, out, dtype)
        assert_trees_close(grads, params_from_torch(model, grad_of), dtype)


# The weight layouts differ: PyTorch's `nn.Linear` keeps $W$ as `[out, in]` and computes $x W^\top$; the
# pytree keeps `[in, out]` and computes $x W$. Pinned here so that a copy without the transpose fails.
def test_linear_weights_are_stored_transposed() -> None:
    layer = torch.nn.Linear(3, 5)
    copied = paper.linear_from_torch(layer)
    assert copied["w"].shape == (3, 5)
    np.testing.assert_array_equal(np.asarray(copied["w"]), layer.weight.detach().numpy().T)


def test_linear_without_bias_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="needs nn.Linear layers with a bias"):
        attention_from_torch(MultiHeadAttention(16, 4, bias=False))


# ## vmap against the loop, and causality
#
# The batch of the model is `vmap` over examples of the one-sequence function, and the heads of attention
# are `vmap` over heads of the one-head function; each equals the Python loop (float32, to rounding).
#
# Causality: changing the characters after position $t$ leaves the logits at positions $\le t$ exactly
# unchanged (masked scores get weight exactly 0, and the same compiled program runs on both inputs, so this is
# exact, not a tolerance).
def test_vmap_equals_loops_and_the_model_is_causal() -> None:
    params = params_from_torch(small_model(torch.float32))
    batched = jax.jit(paper.logits, static_argnums=2)  # jitted: causality below compares one program's outputs
    original = tokens(seed=7)
    changed = original.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % VOCAB
    a = np.asarray(batched(params, jnp.asarray(original.numpy()), SMALL.heads))
    looped = np.stack([sequence_logits(params, jnp.asarray(row.numpy()), SMALL.heads) for row in original])
    np.testing.assert_allclose(a, looped, rtol=0, atol=1e-5 * np.abs(looped).max())
    b = np.asarray(batched(params, jnp.asarray(changed.numpy()), SMALL.heads))
    np.testing.assert_array_equal(a[:, :5], b[:, :5])
    assert np.abs(a[:, 5:] - b[:, 5:]).max() > 1e-3
    q, k, v = (jax.random.normal(jax.random.PRNGKey(i), (4, 6, 5)) for i in range(3))
    mask = causal_mask(6)
    per_head = np.stack([attend(q[h], k[h], v[h], mask) for h in range(4)])
    np.testing.assert_allclose(jax.vmap(attend, in_axes=(0, 0, 0, None))(q, k, v, mask), per_head, rtol=0,
                               atol=1e-5 * np.abs(per_head).max())


# ## Adam against torch.optim.Adam
#
# The same parameters and the same sequence of gradients (random, float64) through four steps of both; the
# pure-function Adam runs eagerly here (under `jit` in training; the arithmetic is the same).
def test_adam_equals_torch_adam() -> None:
    shapes = {"a": (3, 4), "b": (5,)}
    start = {name: torch.randn(shape, dtype=torch.float64, generator=generator(9)) for name, shape in shapes.items()}
    weights = {name: torch.nn.Parameter(t.clone()) for name, t in start.items()}
    optimizer = torch.optim.Adam(weights.values(), lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    with jax.enable_x64(True):
        params = {name: jnp.asarray(t.numpy()) for name, t in start.items()}
        state = adam_init(params)

        def update(p: dict, g: dict, s: dict) -> tuple[dict, dict]:
            return adam_update(p, g, s, 0.01, (0.8, 0.99), 1e-6)

        for step in range(4):
            grads = {name: torch.randn(shape, dtype=torch.float64, generator=generator(10 + step)) * (step + 1)
                     for name, shape in shapes.items()}
            for name, weight in weights.items():
                weight.grad = grads[name].clone()
            optimizer.step()
            params, state = update(params, {name: jnp.asarray(g.numpy()) for name, g in grads.items()}, state)
        for name, weight in weights.items():
            np.testing.assert_allclose(np.asarray(params[name]), weight.detach().numpy(), rtol=1e-12, atol=1e-14)
        assert int(state["step"]) == 4


# ## The claim in miniature
#
# The quick settings (width 32) for 40 steps, the same initial weights and batches and learning rate for
# PyTorch and JAX, each in float32 and float64. `gap64` is the largest per-step difference of the training
# loss between JAX and PyTorch in float64, the equality test proper (two implementations of the same
# arithmetic); `jax_drift` the largest between JAX's float32 and float64 runs, the divergence that float32
# rounding causes in JAX; `gap` the largest between JAX and PyTorch in float32. All over every step.
CLAIM_STEPS = 40


def claim_metrics(seed: int) -> dict[str, float]:
    settings = QUICK.but(steps=CLAIM_STEPS)
    torch32 = np.array(train_torch(settings, seed, paper.LR).values("loss"))
    torch64 = np.array(train_torch(settings, seed, paper.LR, torch.float64).values("loss"))
    in_jax = train_jax(params_from_torch(build_model(settings, seed)), settings, seed, paper.LR)
    jax64 = np.array(paper.train_jax64(settings, seed, paper.LR).values("loss"))
    jax32 = np.array(in_jax.values("loss"))
    assert len(jax32) == len(jax64) == CLAIM_STEPS
    return {"gap64": float(np.abs(jax64 - torch64).max()), "jax_drift": float(np.abs(jax32 - jax64).max()),
            "gap": float(np.abs(jax32 - torch32).max()), "learned": float(jax32[0] - in_jax.last("valid_loss"))}


@pytest.fixture(scope="module", name="claim")
def claim_fixture() -> dict[str, float]:
    return claim_metrics(0)


# Calibrated with `scripts/calibrate.py ... --seeds 0 1 2` (1 thread, 2 threads, portable kernels): gap64
# 1.8e-15 to 3.1e-15 everywhere; jax_drift and gap 7.6e-7 to 1.2e-6 (one or two units of float32 rounding
# of the loss, 4.8e-7) everywhere except seed 1 under portable kernels, where a rounding difference grew to
# 2.9e-4 within the 40 steps; learned 0.78 to 0.84. Float32 differences are rounding noise, which training
# can amplify on another CPU, so their thresholds (3e-3, ten times the largest measured) only guard against
# gross float32 errors; the precision comparison is the recorded run's table. gap64 is a float64 reference
# comparison: 1e-9 leaves a factor of 3e5.
@pytest.mark.claim
def test_jax_training_follows_pytorch(claim: dict[str, float]) -> None:
    assert claim["gap64"] < 1e-9
    assert claim["jax_drift"] < 3e-3
    assert claim["gap"] < 3e-3
    assert claim["learned"] > 0.5


# ## The recorded run
def sci(value: float) -> str:  # as the page writes small numbers: 7.6e-7
    return f"{value:.1e}".replace("e-0", "e-")


def test_page_quotes_the_recorded_numbers() -> None:
    metrics = recorded_metrics(paper.__file__)
    for arm in ("torch_valid", "jax_valid", "torch64_valid", "jax64_valid"):
        assert quoted_on_page(paper.__file__, f"{metrics[arm]['mean']:.4f}")
    for pair, by_step in metrics["step_gaps"].items():
        for step, gap in by_step.items():
            assert quoted_on_page(paper.__file__, f"| {step} |"), step
            assert quoted_on_page(paper.__file__, sci(gap["max"])), (pair, step)
    for pair in ("jax64_vs_torch64", "jax_vs_torch", "torch_drift"):
        assert quoted_on_page(paper.__file__, sci(metrics["max_step_gap"][pair]["max"]))
    assert quoted_on_page(paper.__file__, sci(metrics["valid_gap64"]["max"]))
    low, high = metrics["jit_speedup_range"]
    speedup = metrics["jit_speedup"]
    assert quoted_on_page(paper.__file__, f"median {speedup:.0f} and ranges from {low:.0f} to {high:.0f}")


def test_recorded_run_shows_the_claim() -> None:
    metrics = recorded_metrics(paper.__file__)
    assert len(metrics["seeds"]) >= 3
    gaps = metrics["step_gaps"]
    # Float64: the same arithmetic, over all 500 steps.
    assert metrics["max_step_gap"]["jax64_vs_torch64"]["max"] < 1e-9
    # Float32, at the early fixed steps (1 and 10), before training amplifies rounding to batch noise: JAX's
    # drift from its float64 twin, and its gap to PyTorch, no more than 10 times PyTorch's own drift (or a few
    # float32 units of the loss, 2e-6, where PyTorch's drift happens to be 0 on every seed).
    for step in ("1", "10"):
        allowed = max(10 * gaps["torch_drift"][step]["max"], 2e-6)
        assert gaps["jax_drift"][step]["max"] <= allowed
        assert gaps["jax_vs_torch"][step]["max"] <= allowed
    assert metrics["jit_speedup_range"][0] > 1


# ## Bad input
def test_bad_tokens_are_refused() -> None:
    params = params_from_torch(small_model(torch.float32))
    with pytest.raises(ValueError, match=r"tokens must have shape \[\*, \*\]"):
        forward(params, jnp.zeros(8, dtype=jnp.int32), SMALL)
    with pytest.raises(TypeError, match="tokens must be integer"):
        forward(params, jnp.zeros((2, 8)), SMALL)
    with pytest.raises(ValueError, match="exceeds the positions' max_len 8"):
        forward(params, jnp.zeros((2, 9), dtype=jnp.int32), SMALL)
    with pytest.raises(TypeError, match="tokens must be an array"):
        forward(params, [[1, 2]], SMALL)


def test_missing_or_misshapen_parameters_are_refused() -> None:
    params = params_from_torch(small_model(torch.float32))
    batch = jnp.zeros((2, 8), dtype=jnp.int32)
    broken = jax.tree_util.tree_map(lambda a: a, params)
    del broken["blocks"][1]["attention"]["w_q"]
    with pytest.raises(ValueError, match=r"params.blocks\[1\].attention is missing the parameter key\(s\) \['w_q'\]"):
        forward(broken, batch, SMALL)
    with pytest.raises(ValueError, match="params is missing the parameter key"):
        forward({k: v for k, v in params.items() if k != "final_norm"}, batch, SMALL)
    with pytest.raises(ValueError, match="params.blocks must be a list of 2 blocks"):
        forward({**params, "blocks": params["blocks"][:1]}, batch, SMALL)
    wrong = jax.tree_util.tree_map(lambda a: a, params)
    wrong["blocks"][0]["feed_forward"]["layer1"]["w"] = wrong["blocks"][0]["feed_forward"]["layer1"]["w"].T
    with pytest.raises(ValueError, match=r"params.blocks\[0\].feed_forward.layer1.w must have shape \[16, 32\], "
                                         r"got \(32, 16\)"):
        forward(wrong, batch, SMALL)


def test_unsupported_settings_and_arguments_are_refused() -> None:
    params = params_from_torch(small_model(torch.float32))
    batch = jnp.zeros((2, 8), dtype=jnp.int32)
    with pytest.raises(ValueError, match="pre-norm harness model with learned positions"):
        forward(params, batch, SMALL.but(pre_norm=False))
    with pytest.raises(ValueError, match="lr must be a positive number"):
        train_jax(params, SMALL, 0, 0.0)
    with pytest.raises(ValueError, match="params_from_torch needs the pre-norm harness model"):
        params_from_torch(CharTransformer(VOCAB, SMALL.but(positions="none")))
    with pytest.raises(ValueError, match="has no gradient"):
        params_from_torch(small_model(torch.float32), grad_of)
