"""Moments of Gaussian mixtures ``Σ_k w_k N(m_k, Σ_k)``: LightSB's conditional plan and the EOT benchmark's
ground-truth plan are both such mixtures, and both are scored by their first two moments (cBW²₂-UVP)."""

from __future__ import annotations

import torch
from torch import Tensor


def mixture_moments(weights: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``Σ_k w_k m_k`` ``(..., D)`` and between-component covariance ``Σ_k w_k (m_k − m)(m_k − m)ᵀ``
    ``(..., D, D)`` of a mixture with weights ``(..., K)`` and component means ``(..., K, D)``; add the weighted
    component covariances for the mixture's covariance."""
    mean = (weights.unsqueeze(-1) * means).sum(-2)
    spread = means - mean.unsqueeze(-2)
    return mean, torch.einsum("...k,...kd,...ke->...de", weights, spread, spread)
