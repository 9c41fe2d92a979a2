"""Forces of a potential by autograd: ``F = −∂E/∂r``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def energy_and_forces(model: nn.Module, batch, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """``(E (B,), F (N, 3))`` for ``model(batch) -> E`` and ``batch.pos (N, 3)``; ``F = −∂(Σ E)/∂pos``.

    ``batch.pos`` is replaced by a copy that requires grad (the caller's tensor is left alone). ``create_graph``
    keeps the graph of ``F`` so that a loss on the forces can train the model (double backward).
    """
    pos = batch.pos.clone().requires_grad_(True)
    batch.pos = pos
    energy = model(batch)
    (gradient,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
    return energy, -gradient
