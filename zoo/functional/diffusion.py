"""The variance-preserving diffusion schedule that an ε-model carries and the samplers read.

    ᾱ_t = Π_{s ≤ t} (1 − β_s),   t = 1 … T,   x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε

DDPM's is linear in β (``VPSchedule(T, beta_start, beta_end)``); any decreasing ᾱ in (0, 1) is one too
(:meth:`VPSchedule.from_alpha_bars`, e.g. HIR-Diff's exponential schedule). Samplers take DDIM's uniform skip of it
(:meth:`VPSchedule.subsequence`). Shared by the prior (``zoo.generative.ddpm``) and the samplers (``zoo.inverse``).
"""

from __future__ import annotations

import torch
from torch import Tensor


class VPSchedule:
    """``betas`` and ``alpha_bars``: ``(T,)`` float64 on the CPU (index ``t − 1`` holds step ``t``); plain tensors, not
    module buffers, so a model's ``.float()`` or ``.to(device)`` leaves them in float64. The constructor makes
    DDPM's linear betas ``beta_start … beta_end``."""

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        if not isinstance(timesteps, int) or timesteps < 1:
            raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"the betas must satisfy 0 < beta_start <= beta_end < 1, got beta_start={beta_start!r}, "
                             f"beta_end={beta_end!r}")
        self.betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
        self.alpha_bars = torch.cumprod(1 - self.betas, 0)

    @classmethod
    def from_alpha_bars(cls, alpha_bars: Tensor) -> VPSchedule:
        """The schedule of ``alpha_bars`` ``(T,)``, values in (0, 1) decreasing in t; ``β_t = 1 − ᾱ_t / ᾱ_{t−1}``."""
        alpha_bars = torch.as_tensor(alpha_bars, dtype=torch.float64)
        if alpha_bars.dim() != 1 or not ((alpha_bars > 0) & (alpha_bars < 1)).all() or (alpha_bars.diff() >= 0).any():
            raise ValueError("alpha_bars must be a (T,) tensor of values in (0, 1), decreasing in t")
        schedule = cls.__new__(cls)
        schedule.alpha_bars = alpha_bars
        schedule.betas = 1 - alpha_bars / torch.cat([alpha_bars.new_ones(1), alpha_bars[:-1]])
        return schedule

    @property
    def timesteps(self) -> int:
        """T."""
        return len(self.alpha_bars)

    def steps(self, steps: int) -> Tensor:
        """``steps`` evenly spaced timesteps ``t_i = 1 + ⌊i T / steps⌋``, ``i = 0 … steps − 1``, noisiest first:
        ``(steps,)`` int64. When ``steps`` divides ``T`` these are DDIM's uniform skip ``range(0, T, T // steps)``
        (0-based); ``steps = T`` is every step."""
        if not isinstance(steps, int) or not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be an integer in [1, T={self.timesteps}], got {steps!r}")
        return (1 + torch.arange(steps) * self.timesteps // steps).flip(0)

    def subsequence(self, steps: int) -> Tensor:
        """ᾱ at :meth:`steps`: ``(steps,)`` float64, increasing (noisiest first, ᾱ_1 last)."""
        return self.alpha_bars[self.steps(steps) - 1]
