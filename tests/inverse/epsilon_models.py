"""ε-models for the sampler tests: the exact one of a known x₀, and a small nonlinear one (float64)."""

import torch
from torch import nn

from zoo.functional import VPSchedule


class KnownX0(nn.Module):
    """The exact ε for a known x₀: ``(x_t − √ᾱ x₀) / √(1−ᾱ)``, so Tweedie returns x₀ at every step."""

    def __init__(self, x0, schedule=None):
        super().__init__()
        self.x0, self.schedule = x0, schedule or VPSchedule(timesteps=100)

    def forward(self, x_t, alpha_bar):
        a = alpha_bar.view(-1, 1, 1, 1)
        return (x_t - a.sqrt() * self.x0) / (1 - a).sqrt()


class ConvEpsilon(nn.Module):
    """A small nonlinear, randomly initialised ε-model on ``channels`` channels, float64."""

    def __init__(self, channels=1, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, dtype=torch.float64)
        self.schedule = VPSchedule(timesteps=100)

    def forward(self, x_t, alpha_bar):
        return torch.tanh(self.conv(x_t)) + alpha_bar.view(-1, 1, 1, 1) * x_t
