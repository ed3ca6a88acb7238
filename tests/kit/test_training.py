"""Tests for the kit's training loop, optimiser step and accuracy."""
import pytest
import torch
from torch import nn

from papers.kit.training import History, accuracy, optimizer_step, train_loop


def test_train_loop_records_every_metric_at_its_steps():
    def step(i: int) -> dict[str, float]:
        return {"loss": 1.0 / (i + 1), **({"valid": float(i)} if i % 2 else {})}

    history = train_loop(5, step, log_every=2)
    assert history.steps("loss") == [0, 1, 2, 3, 4]
    assert history.steps("valid") == [1, 3]
    assert history.last("loss") == pytest.approx(0.2)


def test_history_names_a_missing_metric():
    with pytest.raises(KeyError, match="no metric named 'acc'"):
        History().values("acc")


@pytest.mark.parametrize("steps, log_every", [(0, 1), (3, 0)])
def test_train_loop_rejects_bad_settings(steps, log_every):
    with pytest.raises(ValueError, match="must be positive"):
        train_loop(steps, lambda i: {}, log_every=log_every)


def test_optimizer_step_descends_and_clips():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    first = optimizer_step(((model(x) - y) ** 2).mean(), optimizer)
    second = optimizer_step(((model(x) - y) ** 2).mean() * 1e6, optimizer, parameters=model.parameters(),
                            clip_norm=1e-3)
    assert second / 1e6 < first
    # Clipped from a norm of about 1e6 to clip_norm: compared at 1e-4, far above float32 rounding (1e-7).
    total = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert float(total) == pytest.approx(1e-3, rel=1e-4)
    with pytest.raises(ValueError, match="clip_norm needs the parameters"):
        optimizer_step(((model(x) - y) ** 2).mean(), optimizer, clip_norm=1.0)


def test_accuracy_with_and_without_mask():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]])
    targets = torch.tensor([[0, 0, 0]])
    assert accuracy(logits, targets) == pytest.approx(2 / 3)
    assert accuracy(logits, targets, torch.tensor([[True, False, True]])) == 1.0
    with pytest.raises(ValueError, match="do not match targets"):
        accuracy(logits, targets[:, :2])


# One loop's metrics must not linger on the next loop's progress line (another arm, another test).
def test_each_loop_starts_with_a_clean_tracker():
    from labml import tracker
    train_loop(2, lambda i: {"first_arm_loss": 1.0})
    train_loop(2, lambda i: {"second_arm_loss": 2.0})
    shown = set(tracker._internal().indicators)  # pylint: disable=protected-access
    assert "second_arm_loss" in shown and "first_arm_loss" not in shown
