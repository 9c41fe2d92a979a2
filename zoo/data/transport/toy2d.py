"""2-D toy pairs for entropic OT / Schrödinger bridges: a standard Gaussian p0 → a Swiss roll or two moons p1.

Neither target is a finite Gaussian mixture, so unlike :mod:`zoo.data.transport.eot_benchmark` LightSB is *not* well
specified here and no closed-form plan exists: models are scored against POT's Sinkhorn plan on samples
(:class:`zoo.evaluation.transport.SinkhornEvaluator`, which documents the metric).

Targets (``(n, 2)``, float64):

- ``swiss_roll``: ``τ = 1.5π(1 + 2u)``, ``u ~ U(0, 1)``, point ``(τ cos τ, τ sin τ) / 7.5`` plus ``N(0, noise²)``
  (the 2-D slice of scikit-learn's roll, scaled as in the LightSB notebook);
- ``moons``: two interleaved half circles (radius 1, the second shifted by (1, −0.5)), centred, plus ``N(0, noise²)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.data.transport.pairs import PairsDataModule

TARGETS = ("swiss_roll", "moons")


def swiss_roll(n: int, generator: torch.Generator, noise: float) -> Tensor:
    """``n`` points of the 2-D Swiss roll, ``(n, 2)`` float64."""
    tau = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, dtype=torch.float64))
    points = torch.stack([tau * tau.cos(), tau * tau.sin()], 1) / 7.5
    return points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


def moons(n: int, generator: torch.Generator, noise: float) -> Tensor:
    """``n`` points of two interleaved half circles, centred, ``(n, 2)`` float64."""
    angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.rand(n, generator=generator) < 0.5
    x = torch.where(upper, angle.cos(), 1 - angle.cos()) - 0.5
    y = torch.where(upper, angle.sin(), 0.5 - angle.sin()) - 0.25
    return torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)


class Toy2DDataModule(PairsDataModule):
    """Gaussian → ``target`` (``"swiss_roll"`` or ``"moons"``) with unpaired batches ``{"x0", "x1"}`` ``(B, 2)``.
    Fact (a class attribute): ``dim`` (2)."""

    dim = 2
    facts = ("dim",)

    def __init__(self, target: str = "swiss_roll", epsilon: float = 0.1, noise: float = 0.1, n_train: int = 128_000,
                 n_val: int = 4096, n_test: int = 500, batch_size: int = 128, seed: int = 0):
        super().__init__(n_train=n_train, n_val=n_val, n_test=n_test, batch_size=batch_size, seed=seed)
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        self.target, self.epsilon, self.noise = target, float(epsilon), noise

    def sample_p0(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, 2, generator=generator, dtype=torch.float64)

    def sample_p1(self, n: int, generator: torch.Generator) -> Tensor:
        return (swiss_roll if self.target == "swiss_roll" else moons)(n, generator, self.noise)
