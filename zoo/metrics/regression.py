"""Relative L2 error, the operator-learning metric: mean over samples of ‖ŷ − y‖₂ / ‖y‖₂."""

from __future__ import annotations

import torch
from torchmetrics import Metric


def relative_l2(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over the batch of per-sample ‖ŷ − y‖₂ / ‖y‖₂; inputs ``(batch, *)``."""
    return per_sample_relative_l2(prediction, target, eps).mean()


def per_sample_relative_l2(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``(batch,)`` relative errors ‖ŷ_i − y_i‖₂ / ‖y_i‖₂ over all non-batch dimensions."""
    error = (prediction - target).flatten(1).norm(dim=1)
    return error / target.flatten(1).norm(dim=1).clamp_min(eps)


class RelativeL2Error(Metric):
    """Streaming (and DDP-synchronised) mean of the per-sample relative L2 error."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        errors = per_sample_relative_l2(prediction.detach(), target)
        self.total += errors.sum().double()
        self.count += errors.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).float()
