"""Kronecker-structured linear algebra for GPs on grids: ``K = K_1 ⊗ K_2 ⊗ ... ⊗ K_p`` (+ ``σ² I``).

A product kernel on a Cartesian grid ``x^1 × ... × x^p`` (``n_i`` points per axis, ``N = Π n_i``) has the covariance
``K = ⊗_i K_i`` in row-major order (the last axis fastest, as ``torch.kron`` and ``reshape`` order them). With the
eigendecompositions ``K_i = Q_i Λ_i Q_iᵀ``, ``K + σ² I = (⊗Q_i)(⊗Λ_i + σ² I)(⊗Q_i)ᵀ``, so

    (⊗K_i) x   = one n_i × n_i product along each axis of x reshaped to (n_1, ..., n_p)       O(N Σ n_i)
    (K + σ²I)⁻¹ b = (⊗Q_i) [((⊗Q_i)ᵀ b) / (⊗Λ_i + σ²)]
    log det(K + σ² I) = Σ log(⊗Λ_i + σ²)   (= Σ_i (N / n_i) log det K_i when σ = 0)

instead of O(N³) (Saatçi, 2012; used by GP-HM, Fang et al., ICLR 2024). Used by the GP family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def _check(factors: Sequence[Tensor], x: Tensor) -> tuple[int, ...]:
    sizes = tuple(factor.shape[0] for factor in factors)
    if any(factor.dim() != 2 or factor.shape[0] != factor.shape[1] for factor in factors):
        raise ValueError(f"every Kronecker factor must be square, got {[tuple(f.shape) for f in factors]}")
    expected = math.prod(sizes)
    if x.shape[0] != expected:
        raise ValueError(f"the vector has {x.shape[0]} rows but the factors {sizes} make N = {expected}")
    return sizes


def kron_matvec(factors: Sequence[Tensor], x: Tensor) -> Tensor:
    """``(⊗A_i) x`` for ``x (N,)`` or ``(N, m)``, without forming the product."""
    sizes = _check(factors, x)
    columns = x.shape[1:]
    y = x.reshape(*sizes, -1)
    for axis, factor in enumerate(factors):
        y = torch.movedim(torch.tensordot(factor, y, dims=([1], [axis])), 0, axis)
    return y.reshape(x.shape[0], *columns)


def kron_eigh(factors: Sequence[Tensor]) -> tuple[list[Tensor], Tensor]:
    """``(Q_i list, λ (N,))``: each factor's eigenvectors and the eigenvalues of ``⊗K_i`` in row-major order."""
    eigenvalues, vectors = zip(*(torch.linalg.eigh(factor) for factor in factors))
    product = eigenvalues[0]
    for values in eigenvalues[1:]:
        product = torch.outer(product, values).flatten()
    return list(vectors), product


def kron_solve(factors: Sequence[Tensor], b: Tensor, noise: float | Tensor = 0.0) -> Tensor:
    """``(⊗K_i + noise · I)⁻¹ b`` for symmetric positive (semi-)definite ``K_i`` (``noise > 0`` for semi-definite
    ones); ``b (N,)`` or ``(N, m)``."""
    _check(factors, b)
    Q, eigenvalues = kron_eigh(factors)
    rotated = kron_matvec([q.T for q in Q], b)
    scale = eigenvalues + noise
    return kron_matvec(Q, rotated / (scale if b.dim() == 1 else scale[:, None]))


def kron_logdet(factors: Sequence[Tensor], noise: float | Tensor = 0.0) -> Tensor:
    """``log det(⊗K_i + noise · I)``."""
    return torch.log(kron_eigh(factors)[1] + noise).sum()
