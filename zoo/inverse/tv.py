"""The classical baseline: total-variation regularised least squares

    min_x  ½‖A x − y‖² + λ TV(x),    TV(x) = Σ_{c,i,j} ‖(∇x)_{c,i,j}‖₂   (isotropic, per channel),

with ∇ forward differences and a Neumann boundary (the difference leaving the image is 0), ‖∇‖² ≤ 8. Solved by
Chambolle–Pock's primal–dual algorithm on ``K = (A, ∇)`` with a dual variable per block: ``p`` for the data term,
``q`` (|q_{c,i,j}| ≤ λ) for TV, step sizes ``σ_A = 1/‖A‖``, ``σ_∇ = 1/√8``, ``τ = 0.99 / (‖A‖ + √8)`` (so that
``τ (σ_A ‖A‖² + σ_∇ ‖∇‖²) < 1``, the convergence condition of the preconditioned method), batched over samples:

    p ← (p + σ_A (A x̄ − y)) / (1 + σ_A)         q ← proj_{|·| ≤ λ}(q + σ_∇ ∇x̄)
    x⁺ = x − τ (Aᴴ p + ∇ᴴ q),   x̄ = 2 x⁺ − x.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.inverse.operators import LinearOperator


def gradient(x: Tensor) -> Tensor:
    """∇x (..., H, W, 2): forward differences along W (``[..., 0]``) and H (``[..., 1]``), 0 at the far edges."""
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1))
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return torch.stack([dx, dy], -1)


def gradient_adjoint(g: Tensor) -> Tensor:
    """∇ᴴg = −div g (..., H, W) for g (..., H, W, 2) (the entries ∇ sets to 0 are ignored)."""
    gx, gy = g[..., :, :-1, 0], g[..., :-1, :, 1]
    return F.pad(gx, (1, 0)) - F.pad(gx, (0, 1)) + F.pad(gy, (0, 0, 1, 0)) - F.pad(gy, (0, 0, 0, 1))


def total_variation(x: Tensor) -> Tensor:
    """Isotropic TV (B,) of images x (B, ..., H, W): ``Σ ‖(∇x)_{c,i,j}‖₂`` over channels and pixels."""
    return gradient(x).square().sum(-1).sqrt().flatten(1).sum(1)


def operator_norm(op: LinearOperator, shape: tuple[int, ...] | None = None, iters: int = 50, *, seed: int = 0,
                  dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> float:
    """‖A‖₂, the largest singular value, as √(Rayleigh quotient of AᴴA) after ``iters`` power iterations from a
    seeded random (1, *shape) start (``shape`` defaults to ``op.in_shape``). It approaches from below."""
    shape = op.in_shape if shape is None else tuple(shape)
    v = torch.randn(1, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)
    rayleigh = v.new_zeros(())
    for _ in range(iters):
        norm = torch.linalg.vector_norm(v)
        if norm == 0:
            break
        v = v / norm
        w = op.normal(v)
        rayleigh, v = (v * w).sum(), w
    return math.sqrt(max(float(rayleigh), 0.0))


def tv_reconstruction(op: LinearOperator, y: Tensor, lam: float, iters: int = 200, x0: Tensor | None = None, *,
                      op_norm: float | None = None) -> Tensor:
    """``argmin_x ½‖A x − y‖² + λ TV(x)`` (B, *in_shape) for measurements y (B, *out_shape), by ``iters``
    Chambolle–Pock steps from ``x0`` (default 0). ``op_norm``: ‖A‖ if known (else ``operator_norm(op)``)."""
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    op.check_measurement(y)
    real = y.dtype.to_real()
    L = operator_norm(op, dtype=real, device=y.device) if op_norm is None else op_norm
    sigma_A, sigma_grad = 1 / max(L, 1e-12), 1 / math.sqrt(8)
    tau = 0.99 / (L + math.sqrt(8))
    x = y.new_zeros((y.shape[0], *op.in_shape), dtype=real) if x0 is None else op.check_image(x0).to(real)
    x_bar, p = x, torch.zeros_like(y)
    q = gradient(x).zero_()
    for _ in range(iters):
        p = (p + sigma_A * (op.A(x_bar) - y)) / (1 + sigma_A)
        q = q + sigma_grad * gradient(x_bar)
        norm = q.square().sum(-1, keepdim=True).sqrt()
        q = q * torch.where(norm > lam, lam / norm, 1.0)
        x_next = x - tau * (op.AH(p) + gradient_adjoint(q))
        x_bar, x = 2 * x_next - x, x_next
    return x
