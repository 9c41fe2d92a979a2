"""Losses that tasks own and more than one model trains with.

RQGNN's (Dong et al., ICLR 2024) class-balanced focal loss for graph-level anomaly detection: the class weights
of Cui et al. (CVPR 2019), ``w_c = (1−β)/(1−β^{n_c})``, times the focal loss of Lin et al. (ICCV 2017) on
one-vs-rest sigmoids.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_balanced_weights(counts: torch.Tensor, beta: float = 0.999) -> torch.Tensor:
    """``w_c = (1−β)/(1−β^{n_c})`` from the training counts ``n_c`` ``(C,)``, rescaled so that ``Σ w_c = C``."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if (counts <= 0).any():
        raise ValueError(f"every class needs at least one training example for class-balanced weights, "
                         f"got counts {counts.tolist()}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    weights = (1 - beta) / (1 - beta ** counts)
    return weights / weights.sum() * len(counts)


def class_balanced_focal_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                              gamma: float = 1.5) -> torch.Tensor:
    """``(1/B) Σ_b w_{y_b} Σ_c (1−p^t_{bc})^γ BCE(z_bc, 1[y_b = c])`` over every logit (one-vs-rest sigmoids).

    With ``s = ±z`` (``+`` for the target class), ``BCE = softplus(−s)`` and ``(1−p^t)^γ = exp(−γ softplus(s))``,
    finite for any logit. ``logits`` ``(B, C)``, ``target`` ``(B,)`` int64, ``weights`` ``(C,)``.
    """
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (B, C) and target (B,), got {tuple(logits.shape)} and {tuple(target.shape)}")
    signs = 2 * F.one_hot(target, logits.shape[1]).to(logits.dtype) - 1
    s = signs * logits
    per_logit = torch.exp(-gamma * F.softplus(s)) * F.softplus(-s)
    return (weights.to(logits)[target] * per_logit.sum(-1)).mean()
