"""Tests for papers/kit/length_generalisation.py: the held-out loss at each position of a window."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from papers.kit.char_transformer import CharTransformer, LMSettings, validation_loss
from papers.kit.length_generalisation import validation_loss_by_position

TINY = LMSettings(d_model=16, heads=2, layers=1, d_ff=32, seq_len=12, positions="none")


# Against a brute force: each position's loss is the mean over windows of that position's cross-entropy,
# computed one window and one position at a time; their mean is the harness's validation loss.
def test_loss_by_position_equals_a_loop_and_averages_to_the_validation_loss():
    torch.manual_seed(0)
    model = CharTransformer(20, TINY).double()
    inputs, targets = torch.randint(0, 20, (5, 30)), torch.randint(0, 20, (5, 30))
    by_position = validation_loss_by_position(model, (inputs, targets))  # [30]
    assert by_position.shape == (30,)
    for t in (0, 11, 29):
        losses = [F.cross_entropy(model(inputs[w:w + 1])[0, t], targets[w, t]) for w in range(5)]
        assert by_position[t].item() == pytest.approx(torch.stack(losses).mean().item(), abs=1e-12)
    assert by_position.mean().item() == pytest.approx(validation_loss(model, (inputs, targets)), abs=1e-12)
    assert model.training


def test_mismatched_windows_name_the_problem():
    model = CharTransformer(20, TINY)
    with pytest.raises(ValueError, match="targets"):
        validation_loss_by_position(model, (torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 6, dtype=torch.long)))
