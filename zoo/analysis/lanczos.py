"""Lanczos tridiagonalisation and stochastic Lanczos quadrature (SLQ) for a symmetric operator given only by its
matrix-vector product ``matvec: (M,) -> (M,)``.

Lanczos on a unit start vector ``v`` builds an orthonormal basis ``Q = [q_1 … q_m]`` of the Krylov space with
``Qᵀ H Q = T``, ``T`` tridiagonal (diagonal ``α``, off-diagonal ``β``). Each new vector is orthogonalised against
all previous ones, twice ("full reorthogonalisation"), so the Ritz values do not repeat as they do in plain
Lanczos in finite precision. The eigendecomposition ``T = U Θ Uᵀ`` gives the Gauss quadrature of the spectral
measure of ``H`` seen from ``v``: nodes ``θ_j``, weights ``τ_j = U_{1j}²`` (``Σ_j τ_j = 1``), and
``Σ_j τ_j θ_j^p = vᵀ H^p v`` exactly for ``p < 2m``.

SLQ averages these measures over random unit probes ``v = z / √M``, ``z`` Rademacher, so that
``E[vᵀ H v] = tr H / M``, and broadens each node into a Gaussian of width ``σ``::

    φ(t) = (1/n_probe) Σ_probes Σ_j τ_j N(t; θ_j, σ²),

a density that integrates to 1 and whose mean is the probes' average ``vᵀ H v`` (an unbiased estimate of
``tr H / M``; exact when ``H`` is diagonal, since then ``zᵀ H z = tr H`` for every Rademacher ``z``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SpectralDensity:
    """An SLQ estimate of the eigenvalue density of a symmetric ``M × M`` operator.

    ``grid`` (n_grid,) and ``density`` (n_grid,): the Gaussian-broadened density on an even grid (integrates to 1
    by the trapezoid rule); ``nodes`` and ``weights`` (n_probe, m): the Gauss quadrature of each probe (rows padded
    with weight 0 where Lanczos stopped early); ``sigma``: the broadening width.
    """

    grid: Tensor
    density: Tensor
    nodes: Tensor
    weights: Tensor
    sigma: float


def lanczos(matvec: Callable[[Tensor], Tensor], v: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """``m`` Lanczos steps from ``v`` (M,) with full reorthogonalisation: ``(alpha (m',), beta (m'-1,))``, the
    diagonal and off-diagonal of ``T``. ``m' < m`` when the Krylov space is invariant (``β`` below rounding)."""
    steps = min(m, v.numel())
    Q = [v / torch.linalg.vector_norm(v)]
    alpha, beta, scale = [], [], 0.0  # scale: a running bound on ‖T‖, for the breakdown test
    for step in range(steps):
        w = matvec(Q[-1])
        alpha.append(torch.dot(w, Q[-1]))
        basis = torch.stack(Q)
        for _ in range(2):  # "twice is enough" (Kahan–Parlett)
            w = w - basis.T @ (basis @ w)
        norm = torch.linalg.vector_norm(w)
        scale = max(scale, float(alpha[-1].abs() + norm))
        if step + 1 == steps or norm <= 1e3 * torch.finfo(w.dtype).eps * scale:
            break
        beta.append(norm)
        Q.append(w / norm)
    return torch.stack(alpha), torch.stack(beta) if beta else v.new_zeros(0)


def gauss_quadrature(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes ``θ`` (m,) and weights ``τ = U_{1j}²`` (m,) of the tridiagonal ``T`` with diagonal ``alpha`` (m,) and
    off-diagonal ``beta`` (m-1,)."""
    T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
    theta, U = torch.linalg.eigh(T)
    return theta, U[0] ** 2


def slq(matvec: Callable[[Tensor], Tensor], M: int, *, n_probe: int = 10, m: int = 80, sigma: float | None = None,
        n_grid: int = 1000, seed: int = 0, dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu") -> SpectralDensity:
    """Stochastic Lanczos quadrature: ``n_probe`` Rademacher probes × ``m`` Lanczos steps of ``matvec`` on
    ``R^M``. ``sigma`` defaults to 1 % of the span of the nodes (of their largest magnitude if the span is 0); the
    grid covers the nodes ± 8σ."""
    if n_probe < 1 or m < 1 or (sigma is not None and sigma <= 0):
        raise ValueError(f"n_probe and m must be ≥ 1 and sigma > 0, got n_probe={n_probe}, m={m}, sigma={sigma}")
    generator = torch.Generator().manual_seed(seed)
    nodes = torch.zeros(n_probe, min(m, M), dtype=dtype)
    weights = torch.zeros_like(nodes)
    for p in range(n_probe):
        z = torch.randint(0, 2, (M,), generator=generator).to(dtype) * 2 - 1
        theta, tau = gauss_quadrature(*lanczos(matvec, (z / math.sqrt(M)).to(device), m))
        nodes[p, : theta.numel()], weights[p, : tau.numel()] = theta.cpu(), tau.cpu()
    used = nodes[weights > 0]
    span = float(used.max() - used.min())
    sigma = sigma if sigma is not None else 0.01 * (span if span > 0 else max(float(used.abs().max()), 1.0))
    grid = torch.linspace(float(used.min()) - 8 * sigma, float(used.max()) + 8 * sigma, n_grid, dtype=dtype)
    gauss = torch.exp(-0.5 * ((grid[:, None] - nodes.reshape(1, -1)) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    density = gauss @ weights.reshape(-1) / n_probe
    return SpectralDensity(grid=grid, density=density, nodes=nodes, weights=weights, sigma=sigma)
