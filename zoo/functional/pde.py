"""The stationary PDEs of the collocation solvers (GP-HM, PINNs), each ``𝒟[u] = f`` written once::

    poisson      Δu = f
    allen_cahn   Δu + u(u² − 1) = f        (GP-HM's Allen–Cahn, Fang et al., ICLR 2024)

``operator(equation, u, laplacian)`` gives ``𝒟[u]`` from the values and Laplacians at the same points, so a GP
(kernel derivatives), a PINN (autograd) and a manufactured source (autograd of the exact solution) share it;
``cartesian(axes)`` lists a collocation grid's points in the order its fields are stored; ``derivatives(u, x)``
gives a function's values, gradient and Laplacian by autograd (the PINNs' residuals, the manufactured sources),
``hessian(gradient, x)`` its Hessian (XPINN's interface conditions).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

EQUATIONS = ("poisson", "allen_cahn")


def operator(equation: str, u: Tensor, laplacian: Tensor) -> Tensor:
    """``𝒟[u]`` of ``equation`` from ``u`` and ``Δu`` of one shape."""
    if equation == "poisson":
        return laplacian
    if equation == "allen_cahn":
        return laplacian + u * (u.square() - 1)
    raise ValueError(f"equation={equation!r}: expected one of {EQUATIONS}")


def cartesian(axes: list[Tensor]) -> Tensor:
    """The points ``(Π n_j, d)`` of the grid with coordinates ``axes`` (``(n_j,)`` each), row-major (the last axis
    fastest, as a field ``(n_1, ..., n_d)`` flattens)."""
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))


def derivatives(u: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(u(x) (M,), ∇u(x) (M, d), Δu(x) (M,))`` of a scalar function ``u`` of points ``x (M, d)`` by autograd,
    differentiable in ``u``'s parameters (``u(x)`` may be ``(M,)`` or ``(M, 1)``)."""
    x = x.detach().requires_grad_(True)
    value = u(x).reshape(-1)
    gradient = torch.autograd.grad(value.sum(), x, create_graph=True)[0]
    return value, gradient, hessian(gradient, x).diagonal(dim1=1, dim2=2).sum(-1)


def hessian(gradient: Tensor, x: Tensor) -> Tensor:
    """``∇²u (M, d, d)`` from ``gradient = ∇u(x) (M, d)`` taken with ``create_graph=True`` at ``x (M, d)`` (pointwise:
    row ``j`` of point ``m`` is ``∂_j ∇u(x_m)``), differentiable in ``u``'s parameters."""
    return torch.stack([torch.autograd.grad(gradient[:, j].sum(), x, create_graph=True)[0]
                        for j in range(x.shape[1])], dim=1)
