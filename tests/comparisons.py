"""Shared pieces of the tests' comparisons against a reference (PyTorch, labml-nn), in float64.

Test modules import it as `from comparisons import ...`: this folder is on the path under pytest (it holds the
root `conftest.py`) and for pylint.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from papers.kit.char_transformer import Block


# ## Optimizers
#
# A small float64 model with two parameter groups (the second at learning rate 0.03, so per-group settings are
# exercised) and a fixed stream of batches. `optimizer_run` runs `steps` steps of the optimizer that `make`
# builds from the groups and returns the final parameters; two optimizers are equal if their runs are.
def optimizer_run(make: Callable[[list[dict]], torch.optim.Optimizer], steps: int = 25) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    optimizer = make([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.03}])
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 5, generator=generator, dtype=torch.float64)
        y = torch.randn(16, 3, generator=generator, dtype=torch.float64)
        optimizer.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        optimizer.step()
    return [p.detach() for p in model.parameters()]


def assert_same_parameters(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# ## Layers
#
# A normalisation layer's gain drawn from $[0.5, 1.5)$ and bias from $\mathcal{N}(0, 1)$, so that a swapped or
# ignored affine map shows; and a layer's output with the gradients of $\sum y \odot u$ for an upstream
# gradient $u$: with respect to the input, then to each parameter.
def with_random_affine(layer: nn.Module) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.rand_like(layer.weight) + 0.5)
        layer.bias.copy_(torch.randn_like(layer.bias))
    return layer


def value_and_gradients(layer: nn.Module, x: torch.Tensor, upstream: torch.Tensor) -> list[torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    y = layer(x)
    (y * upstream).sum().backward()
    return [y.detach(), x.grad] + [p.grad for p in layer.parameters()]


# ## Transformer blocks
#
# PyTorch's `TransformerEncoderLayer` with a block of the kit's shared transformer copied in (float64, no
# dropout; `activation` is the feed-forward's, ReLU for the kit's own block): the reference the kit's and the
# GPT page's tests compare against, pre-norm (`norm_first=True`) and post-norm.
def torch_encoder_layer(block: Block, pre_norm: bool,
                        activation: Callable[[torch.Tensor], torch.Tensor] = F.relu) -> nn.TransformerEncoderLayer:
    d_model, d_ff = block.feed_forward.layer1.in_features, block.feed_forward.layer1.out_features
    layer = nn.TransformerEncoderLayer(d_model, block.attention.heads, d_ff, dropout=0.0, batch_first=True,
                                       norm_first=pre_norm, activation=activation).double()
    attention = block.attention
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([attention.w_q.weight, attention.w_k.weight,
                                                        attention.w_v.weight]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([attention.w_q.bias, attention.w_k.bias,
                                                      attention.w_v.bias]))
        layer.self_attn.out_proj.load_state_dict(attention.w_o.state_dict())
        layer.linear1.load_state_dict(block.feed_forward.layer1.state_dict())
        layer.linear2.load_state_dict(block.feed_forward.layer2.state_dict())
        layer.norm1.load_state_dict(block.attention_norm.state_dict())
        layer.norm2.load_state_dict(block.feed_forward_norm.state_dict())
    return layer
