"""Baselines for hyperspectral restoration (the comparisons of HIR-Diff, ``zoo.inverse.hirdiff``), on measurements
``y`` ``(B, *op.out_shape)`` of an operator acting on ``(B, C, H, W)`` images in [0, 1]. Each first maps ``y`` to
image space by :func:`zoo.inverse.hirdiff.naive_estimate` (``y`` itself for denoising, bicubic upsampling for SR,
each band's mean in the missing pixels for inpainting); ``op=None`` means ``y`` is already the noisy image.

- :func:`svd_projection`: the rank-r truncated SVD of the band matrix, ``V_r V_rᵀ Ỹ``.
- :func:`guidance_only`: HIR-Diff without its prior (an LRTV-like solver): the same basis ``E``, the same guidance
  loss ``𝓛(E Z)`` with its TV term, minimised over ``Z`` by gradient descent from the SVD projection's bands.
- :func:`bm3d_bands`: BM3D (Dabov et al. 2007, the ``bm3d`` package) on each band.

All outputs are clipped to [0, 1], as HIR-Diff's are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from zoo.inverse.hirdiff import (GuidanceLoss, check_problem, expand, low_rank_projection, naive_estimate,
                                 subspace_basis, task_settings)
from zoo.inverse.operators import LinearOperator
from zoo.inverse.tv import operator_norm
from zoo.optional import require


def _image(y: Tensor, op: LinearOperator | None) -> Tensor:
    """``y`` in image space (``(B, C, H, W)``): :func:`naive_estimate`, or ``y`` itself when ``op`` is None."""
    if op is not None:
        return naive_estimate(y, op)
    if not isinstance(y, Tensor) or y.dim() != 4:
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"without op, y must be a (B, C, H, W) noisy image, got {got}")
    return y


def svd_projection(y: Tensor, rank: int = 3, op: LinearOperator | None = None) -> Tensor:
    """``(B, C, H, W)``: the rank-``rank`` SVD projection of the band matrix of ``y`` in image space."""
    return low_rank_projection(_image(y, op), rank).clamp(0, 1)


def guidance_only(y: Tensor, op: LinearOperator, *, rank: int = 3, steps: int = 200, eta1: float | None = None,
                  eta2: float | None = None, band_selection: str = "rrqr", tv_weights: str | None = None,
                  step_size: float | None = None, z0: Tensor | None = None) -> Tensor:
    """``(B, C, H, W)``: ``clamp(E Z, 0, 1)`` after ``steps`` gradient steps ``Z ← Z − τ ∇_Z 𝓛(E Z)`` with HIR-Diff's
    basis ``E`` and loss (``eta1``, ``eta2``, ``tv_weights`` default to the task's, as in ``hirdiff``). ``Z``
    ``(B, rank, H, W)`` is in [0, 1] (no model space), from ``z0`` or the selected bands of :func:`svd_projection`.
    ``step_size`` τ: by default ``1/L`` with ``L = 2 η₁ (HW/4) ‖A‖² ‖E‖² / m``, the Lipschitz constant of the
    fidelity's gradient (``‖A‖`` by ``zoo.inverse.tv.operator_norm``; the TV term is followed by its subgradient)."""
    _, H, W = check_problem(y, op)
    settings = task_settings(op, eta1=eta1, eta2=eta2, tv_weights=tv_weights)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    E, bands = subspace_basis(y, rank, band_selection)
    loss = GuidanceLoss(y, op, eta1=settings["eta1"], eta2=settings["eta2"], tv_weights=settings["tv_weights"],
                        rank=rank)
    if z0 is None:
        z0 = svd_projection(y, rank, op)[torch.arange(len(y), device=y.device)[:, None], bands]
    elif tuple(z0.shape) != (len(y), rank, H, W):
        raise ValueError(f"z0 must be (B, rank, H, W) = {(len(y), rank, H, W)}, got {tuple(z0.shape)}")
    if step_size is None:
        if settings["eta1"] <= 0:
            raise ValueError(f"with eta1 = {settings['eta1']} the fidelity gives no step size: pass step_size")
        norm_A = operator_norm(op, dtype=y.dtype, device=y.device)
        lipschitz = 2 * loss.fidelity_scale * norm_A ** 2 * torch.linalg.matrix_norm(E, ord=2).square()
        step_size = (1 / lipschitz).view(-1, 1, 1, 1)
    z = z0
    with torch.enable_grad():
        for _ in range(steps):
            z = z.detach().requires_grad_()
            (gradient,) = torch.autograd.grad(loss(expand(E, z)).sum(), z)
            z = z - step_size * gradient
    return expand(E, z.detach()).clamp(0, 1)


def bm3d_bands(y: Tensor, sigma: float, op: LinearOperator | None = None) -> Tensor:
    """``(B, C, H, W)``: BM3D on each band of ``y`` in image space, for Gaussian noise of standard deviation
    ``sigma`` (in the images' [0, 1] units)."""
    bm3d = require("bm3d")
    x = _image(y, op)
    bands = x.detach().cpu().to(torch.float64).numpy()
    out = np.stack([[bm3d.bm3d(band, sigma_psd=sigma) for band in image] for image in bands])
    return torch.from_numpy(out).to(dtype=x.dtype, device=x.device).clamp(0, 1)
