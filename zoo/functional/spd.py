"""Covariance estimators and the affine-invariant geometry of symmetric positive-definite (SPD) matrices.

Covariances of multichannel signals ``X (..., n, T)`` (``n`` channels, ``T`` samples), centred per channel as in
scikit-learn and pyRiemann (``X̄ = X − mean_t X``, ``S = X̄X̄ᵀ / T``):

- ``scm``: ``S``; ``cov``: ``X̄X̄ᵀ / (T − 1)`` (numpy's ``cov``);
- ``oas`` (Chen et al., 2010): ``(1 − ρ) S + ρ μ I`` with ``μ = tr S / n``, ``α = mean(S²)`` and
  ``ρ = min((α + μ²) / ((T + 1)(α − μ² / n)), 1)``, the formula of ``sklearn.covariance.oas``;
- ``lwf`` (Ledoit & Wolf, 2004): the same shrinkage towards ``μ I`` with ``ρ = min(β, δ) / δ``, ``δ = ‖S − μI‖²_F / n``,
  ``β = (Σ_t ‖x̄_t‖⁴ / T − ‖S‖²_F) / (nT)``, the formula of ``sklearn.covariance.ledoit_wolf``.

The plain estimators are rank deficient when ``n`` approaches ``T``; the shrinkage ones are SPD for any ``T ≥ 2``.

Riemannian geometry (Pennec et al., 2006), for SPD ``C`` and a reference point ``C_ref``:

- distance ``δ(A, B) = ‖log(A^{−1/2} B A^{−1/2})‖_F``;
- tangent vector ``s = upper(log(C_ref^{−1/2} C C_ref^{−1/2}))``, ``upper`` the upper triangle row by row with weight 1
  on the diagonal and √2 off it, so that ``‖s‖₂ = δ(C_ref, C)`` (Tuzel et al., 2008; pyRiemann's ``tangent_space``);
- Riemannian (Karcher) mean ``argmin_M Σ_i δ²(M, C_i)`` by the gradient iteration
  ``M ← M^{1/2} exp(ν J) M^{1/2}``, ``J = mean_i log(M^{−1/2} C_i M^{−1/2})``, from the arithmetic mean, with pyRiemann's
  step rule (``ν`` shrinks by 0.95 while ``ν‖J‖`` decreases, halves when it does not; it stops at ``‖J‖_F ≤ 1e-8`` or after
  50 steps by default, as pyRiemann's ``mean_riemann``).

Every function works on any leading batch shape and in the input's dtype; callers pass float64 for these numerics.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

ESTIMATORS = ("scm", "cov", "oas", "lwf")


def covariance(x: torch.Tensor, estimator: str = "oas") -> torch.Tensor:
    """``x (..., n, T)`` -> covariance ``(..., n, n)`` by ``estimator`` (module doc)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown covariance estimator {estimator!r}: expected one of {ESTIMATORS}")
    n, T = x.shape[-2:]
    if T < 2:
        raise ValueError(f"a covariance needs at least 2 samples per signal, got T={T} (x of shape {tuple(x.shape)})")
    centred = x - x.mean(dim=-1, keepdim=True)
    S = centred @ centred.mT / T
    if estimator == "scm":
        return S
    if estimator == "cov":
        return S * (T / (T - 1))
    mu = S.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
    identity = torch.eye(n, dtype=x.dtype, device=x.device)
    if estimator == "oas":
        alpha = S.square().mean(dim=(-2, -1))[..., None, None]
        den = (T + 1) * (alpha - mu.square() / n)
        shrinkage = torch.where(den == 0, torch.ones_like(den), ((alpha + mu.square()) / den).clamp(max=1.0))
    else:
        beta = (centred.square().sum(-2).square().sum(-1) / T - S.square().sum(dim=(-2, -1))) / (n * T)
        delta = (S - mu * identity).square().sum(dim=(-2, -1)) / n
        beta = torch.minimum(beta, delta)
        shrinkage = torch.where(beta == 0, torch.zeros_like(beta), beta / delta)[..., None, None]
    return (1 - shrinkage) * S + shrinkage * mu * identity


def spd_function(C: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``U fn(Λ) Uᵀ`` for symmetric ``C (..., n, n) = U Λ Uᵀ``: the matrix function of ``fn`` on the eigenvalues."""
    eigenvalues, U = torch.linalg.eigh(C)
    return (U * fn(eigenvalues).unsqueeze(-2)) @ U.mT


def sqrtm(C: torch.Tensor) -> torch.Tensor:
    return spd_function(C, torch.sqrt)


def invsqrtm(C: torch.Tensor) -> torch.Tensor:
    return spd_function(C, torch.rsqrt)


def logm(C: torch.Tensor) -> torch.Tensor:
    return spd_function(C, torch.log)


def expm(C: torch.Tensor) -> torch.Tensor:
    return spd_function(C, torch.exp)


def upper(S: torch.Tensor) -> torch.Tensor:
    """Symmetric ``S (..., n, n)`` -> ``(..., n(n+1)/2)``: its upper triangle row by row, off-diagonal entries × √2."""
    n = S.shape[-1]
    rows, cols = torch.triu_indices(n, n, device=S.device)
    weights = torch.full(rows.shape, math.sqrt(2.0), dtype=S.dtype, device=S.device)
    weights[rows == cols] = 1.0
    return S[..., rows, cols] * weights


def tangent_space(C: torch.Tensor, ref_invsqrt: torch.Tensor) -> torch.Tensor:
    """SPD ``C (..., n, n)`` -> tangent vectors ``(..., n(n+1)/2)`` at the reference point ``C_ref``, given
    ``ref_invsqrt = C_ref^{−1/2} (n, n)``: ``upper(log(C_ref^{−1/2} C C_ref^{−1/2}))``."""
    return upper(logm(ref_invsqrt @ C @ ref_invsqrt))


def distance(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Affine-invariant distance ``‖log(A^{−1/2} B A^{−1/2})‖_F`` of SPD ``A, B (..., n, n)`` -> ``(...)``."""
    W = invsqrtm(A)
    return torch.linalg.matrix_norm(logm(W @ B @ W))


def riemannian_mean(C: torch.Tensor, tol: float = 1e-8, max_iter: int = 50) -> torch.Tensor:
    """The Riemannian mean ``(n, n)`` of SPD ``C (N, n, n)`` (module doc); stops when ``‖J‖_F ≤ tol`` or ``ν ≤ tol``."""
    if C.ndim != 3 or C.shape[-1] != C.shape[-2] or not len(C):
        raise ValueError(f"riemannian_mean expects a stack of square matrices (N >= 1, n, n), got {tuple(C.shape)}")
    M, nu, tau = C.mean(0), 1.0, math.inf
    for _ in range(max_iter):
        M_half, M_inv_half = sqrtm(M), invsqrtm(M)
        J = logm(M_inv_half @ C @ M_inv_half).mean(0)
        M = M_half @ expm(nu * J) @ M_half
        norm = float(torch.linalg.matrix_norm(J))
        if nu * norm < tau:
            nu, tau = 0.95 * nu, nu * norm
        else:
            nu *= 0.5
        if norm <= tol or nu <= tol:
            break
    return M


__all__ = ["ESTIMATORS", "covariance", "distance", "expm", "invsqrtm", "logm", "riemannian_mean", "spd_function",
           "sqrtm", "tangent_space", "upper"]
