"""Natural cubic splines through irregularly observed series, as Kidger et al.'s neural CDEs read them.

The observed points of ``x`` (B, T, d), with a time channel ``t_i = i / (T - 1)`` in front, define a natural cubic
spline ``X(s)``, ``s ∈ [0, T - 1]``; missing values are interpolated by the spline, never read. The series
datamodules precompute the coefficients once (missing values make torchcde slow) and the NCDE encoder of KoVAE
(:mod:`zoo.generative.ncde`) integrates along them. torchcde (the ``[generative]`` extra) fits the spline.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.optional import require


def spline_coeffs(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Natural cubic spline coefficients ``(B, T - 1, 4 (d + 1))`` of ``(t, x)`` through the observed entries.

    ``x``: (B, T, d); ``mask``: None (all observed), (B, T, 1) or (B, T, d), nonzero where observed.
    """
    B, T, _ = x.shape
    if T < 2:
        raise ValueError(f"spline_coeffs needs at least 2 time steps, got x of shape {tuple(x.shape)}")
    if mask is not None:
        x = torch.where(mask.expand_as(x) > 0, x, torch.full_like(x, float("nan")))
    t = torch.linspace(0, 1, T, dtype=x.dtype, device=x.device).expand(B, T).unsqueeze(-1)
    return require("torchcde").natural_cubic_coeffs(torch.cat([t, x], -1))
