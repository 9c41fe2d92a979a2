import numpy as np
import pytest
import torch

from zoo.tasks.losses import class_balanced_focal_loss, class_balanced_weights


def test_focal_loss_matches_explicit_formula_and_is_finite_for_extreme_logits():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.7, 0.1]], dtype=torch.float64)
    target = torch.tensor([0, 1, 1])
    weights = torch.tensor([0.4, 1.6], dtype=torch.float64)
    gamma = 1.5
    expected = 0.0
    for b in range(3):
        for c in range(2):
            t = float(target[b] == c)
            p = 1 / (1 + np.exp(-logits[b, c].item()))
            p_t = p if t else 1 - p
            bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
            expected += weights[target[b]].item() * (1 - p_t) ** gamma * bce
    loss = class_balanced_focal_loss(logits, target, weights, gamma)
    assert loss.item() == pytest.approx(expected / 3, rel=1e-12)

    extreme = torch.tensor([[-1e4, 1e4], [1e4, -1e4]], requires_grad=True)
    loss = class_balanced_focal_loss(extreme, torch.tensor([0, 1]), torch.ones(2))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 1e3  # both examples confidently wrong
    assert torch.isfinite(extreme.grad).all()
    right = class_balanced_focal_loss(torch.tensor([[1e4, -1e4]]), torch.tensor([0]), torch.ones(2))
    assert right.item() == 0.0


def test_class_balanced_weights_closed_form():
    weights = class_balanced_weights(torch.tensor([2000, 100]), beta=0.999)
    raw = np.array([(1 - 0.999) / (1 - 0.999 ** 2000), (1 - 0.999) / (1 - 0.999 ** 100)])
    np.testing.assert_allclose(weights.numpy(), 2 * raw / raw.sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="at least one training example"):
        class_balanced_weights(torch.tensor([10, 0]))
