"""Dictionaries ``Ψ = (ψ_1..ψ_N)`` for EDMD / ResDMD: each maps samples ``x`` (M, d) to evaluations ``Ψ`` (M, N),
the ``psi_x`` / ``psi_y`` of :mod:`zoo.analysis.koopman.resdmd` (evaluate the same dictionary at ``x_m`` and at
``y_m = F(x_m)``). Values are float64 (complex128 for :func:`fourier`).

Polynomial families in d dimensions are products ``ψ_α(x) = Π_k p_{α_k}(x_k)`` over the multi-indices of total
degree ``|α| ≤ degree``, in the order of :func:`exponents`. Combine families of different coordinates (Fourier in an
angle, Hermite in a momentum) with :func:`product`.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor


def _samples(x: Tensor) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.is_complex() or not x.is_floating_point():
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a real floating tensor of samples (M, d), got {got}")
    if not torch.isfinite(x).all():
        raise ValueError("x has non-finite values (NaN or inf)")
    return x.detach().to(torch.float64)


def _order(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def exponents(d: int, degree: int) -> Tensor:
    """Multi-indices ``α`` (N, d), long, with ``|α| ≤ degree``, ``N = C(d + degree, d)``: by total degree, then
    lexicographically with the first coordinate's power highest (d = 2: 1, x₁, x₂, x₁², x₁x₂, x₂², ...)."""
    _order(degree, "degree")
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int, got {d!r}")
    alphas = [a for a in itertools.product(range(degree + 1), repeat=d) if sum(a) <= degree]
    return torch.tensor(sorted(alphas, key=lambda a: (sum(a), tuple(-k for k in a))), dtype=torch.long)


def _tensor_product(p: Tensor, degree: int) -> Tensor:
    """``Π_k p[:, k, α_k]`` (M, N) over :func:`exponents` from 1-D values ``p`` (M, d, degree + 1)."""
    alphas = exponents(p.shape[1], degree).to(p.device)
    columns = torch.gather(p, 2, alphas.T.unsqueeze(0).expand(p.shape[0], -1, -1))  # (M, d, N)
    return columns.prod(dim=1)


def _three_term(x: Tensor, degree: int, first: tuple[Tensor, Tensor], a, b) -> Tensor:
    """1-D values (M, d, degree + 1) of ``p_{n+1} = a(n) x p_n − b(n) p_{n−1}`` from ``(p_0, p_1)``."""
    p = [first[0], first[1]]
    for n in range(1, degree):
        p.append(a(n) * x * p[n] - b(n) * p[n - 1])
    return torch.stack(p[:degree + 1], dim=-1)


def monomials(x: Tensor, degree: int) -> Tensor:
    """Monomials ``x^α = Π_k x_k^{α_k}``, ``|α| ≤ degree``: ``x`` (M, d) -> (M, C(d + degree, d)), constant first."""
    x = _samples(x)
    powers = x.unsqueeze(-1) ** torch.arange(_order(degree, "degree") + 1, dtype=x.dtype, device=x.device)
    return _tensor_product(powers, degree)


def hermite(x: Tensor, degree: int) -> Tensor:
    """Hermite functions ``h_n(x) = (2ⁿ n! √π)^{-1/2} H_n(x) e^{−x²/2}`` (orthonormal in L²(ℝ), for state spaces with
    Lebesgue measure), products over ``|α| ≤ degree``: ``x`` (M, d) -> (M, C(d + degree, d)).

    Recurrence ``h_{n+1} = √(2/(n+1)) x h_n − √(n/(n+1)) h_{n−1}``; scale ``x`` to put the samples where
    ``|x| ≲ √(2 degree + 1)``.
    """
    x = _samples(x)
    h0 = math.pi ** -0.25 * torch.exp(-x.square() / 2)
    h = _three_term(x, _order(degree, "degree"), (h0, math.sqrt(2) * x * h0),
                    lambda n: math.sqrt(2 / (n + 1)), lambda n: math.sqrt(n / (n + 1)))
    return _tensor_product(h, degree)


def legendre(x: Tensor, degree: int) -> Tensor:
    """Legendre polynomials ``√((2n+1)/2) P_n(x)`` (orthonormal in L²[−1, 1]), products over ``|α| ≤ degree``:
    ``x`` (M, d) in [−1, 1]^d -> (M, C(d + degree, d))."""
    x = _samples(x)
    P = _three_term(x, _order(degree, "degree"), (torch.ones_like(x), x),
                    lambda n: (2 * n + 1) / (n + 1), lambda n: n / (n + 1))
    norms = torch.sqrt(torch.arange(degree + 1, dtype=x.dtype, device=x.device) + 0.5)
    return _tensor_product(P * norms, degree)


def fourier(x: Tensor, modes: int) -> Tensor:
    """Fourier modes ``e^{i k·x}`` for angles ``x`` (M, d) (period 2π) and every ``k ∈ {−modes..modes}^d``:
    (M, (2 modes + 1)^d) complex128, ``k`` lexicographic with the last coordinate fastest (d = 1: k = −modes..modes).
    Orthonormal for the normalised Lebesgue measure on the torus."""
    x = _samples(x)
    ks = torch.arange(-_order(modes, "modes"), modes + 1, dtype=x.dtype, device=x.device)
    k = torch.cartesian_prod(*[ks] * x.shape[1]).reshape(-1, x.shape[1])
    return torch.exp(1j * (x @ k.T))


def rbf(x: Tensor, centers: Tensor, scale: float = 1.0) -> Tensor:
    """Gaussian radial basis functions ``exp(−‖x − c_j‖² / (2 scale²))``: ``x`` (M, d), ``centers`` (N, d) -> (M, N)."""
    x, c = _samples(x), _samples(centers)
    if c.shape[1] != x.shape[1]:
        raise ValueError(f"centers must be (N, d={x.shape[1]}) like x, got {tuple(c.shape)}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    return torch.exp(-torch.cdist(x, c.to(x.device)).square() / (2 * scale ** 2))


def product(psi_a: Tensor, psi_b: Tensor) -> Tensor:
    """Tensor-product dictionary ``ψ_{a,i} ψ_{b,j}``: evaluations (M, N_a) and (M, N_b) of the same M samples
    -> (M, N_a N_b), column ``i N_b + j``."""
    for name, psi in (("psi_a", psi_a), ("psi_b", psi_b)):
        if not isinstance(psi, Tensor) or psi.dim() != 2:
            raise ValueError(f"{name} must be dictionary evaluations (M, N), got {getattr(psi, 'shape', psi)}")
    if psi_a.shape[0] != psi_b.shape[0]:
        raise ValueError(f"psi_a and psi_b must evaluate the same M samples, got {psi_a.shape[0]} and {psi_b.shape[0]}")
    return (psi_a.unsqueeze(2) * psi_b.unsqueeze(1)).reshape(psi_a.shape[0], -1)
