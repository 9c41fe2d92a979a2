"""Shared fixtures of the operator tests."""

import pytest
import torch
import torch.nn.functional as F


@pytest.fixture
def fit():
    """``fit(model, x, y, steps, lr=1e-2)``: a few Adam steps on the MSE of ``model(x)`` against ``y``."""

    def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 1e-2) -> None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            F.mse_loss(model(x), y).backward()
            optimizer.step()

    return train
