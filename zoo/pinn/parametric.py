"""METALIC's parametric PDE families on two subdomains, with manufactured solutions (closed-form errors).

Each ``<family>(beta)`` returns the problem dict :class:`zoo.pinn.xpinn.XPINN` trains on (its module doc), the PDE
parameter β being the bandit's context:

    poisson     −u'' = f_β = β²π² sin(βπx) on [0, 1], u_β = sin(βπx), Dirichlet data at both ends, interface
                x = ½; the residual R = u'' + f_β unscaled, as in METALIC's code (a residual relative to the
                source's scale leaves the networks near u = 0 at β = 4, whose data are all zeros)
    advection   u_t + β u_x = 0 on [0, 2π] × [0, 1], u_β = sin(x − βt), data at t = 0 and on the inflow x = 0,
                interface t = ½ (the later subdomain sees the initial condition only through it)

The test points are a uniform grid over both subdomains.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.functional.pde import cartesian

FAMILIES = ("poisson", "advection")


def _grid(*ranges: tuple[float, float, int]) -> Tensor:
    """The Cartesian grid ``(Π n, d)`` of ``(low, high, n)`` per axis, float64."""
    return cartesian([torch.linspace(low, high, n, dtype=torch.float64) for low, high, n in ranges])


def _test(x: Tensor, axis: int, interface: float) -> tuple[Tensor, Tensor]:
    return x, (x[:, axis] > interface).long()


def poisson(beta: float, points: int = 48) -> dict:
    """−u'' = β²π² sin(βπx) on [0, ½] ∪ [½, 1] with ``points`` collocation points in each."""
    source = (beta * math.pi) ** 2

    def solution(x: Tensor) -> Tensor:
        return torch.sin(beta * math.pi * x[:, 0])

    def residual(x: Tensor, u: Tensor, gradient: Tensor, hessian: Tensor | None) -> Tensor:
        return hessian[:, 0, 0] + source * torch.sin(beta * math.pi * x[:, 0])

    ends = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    return {"residual": residual, "needs_hessian": True, "solution": solution,
            "collocation": [_grid((0.0, 0.5, points)), _grid((0.5, 1.0, points))],
            "boundary": [(ends[:1], solution(ends[:1])), (ends[1:], solution(ends[1:]))],
            "interfaces": [(0, 1, torch.tensor([[0.5]], dtype=torch.float64),
                            torch.tensor([1.0], dtype=torch.float64))],
            "test": _test(_grid((0.0, 1.0, 257)), 0, 0.5)}


def advection(beta: float, points: tuple[int, int] = (24, 8)) -> dict:
    """u_t + β u_x = 0 on [0, 2π] × ([0, ½] ∪ [½, 1]), a ``points`` (x, t) collocation grid in each half."""

    def solution(x: Tensor) -> Tensor:
        return torch.sin(x[:, 0] - beta * x[:, 1])

    def residual(x: Tensor, u: Tensor, gradient: Tensor, hessian: Tensor | None) -> Tensor:
        return gradient[:, 1] + beta * gradient[:, 0]

    nx, nt = points
    space, inflow = (0.0, 2 * math.pi, nx), (0.0, 0.0, 1)
    first = torch.cat([_grid(space, (0.0, 0.0, 1)), _grid(inflow, (0.0, 0.5, nt))])
    late = _grid(inflow, (0.5, 1.0, nt))
    return {"residual": residual, "needs_hessian": False, "solution": solution,
            "collocation": [_grid(space, (0.0, 0.5, nt)), _grid(space, (0.5, 1.0, nt))],
            "boundary": [(first, solution(first)), (late, solution(late))],
            "interfaces": [(0, 1, _grid(space, (0.5, 0.5, 1)), torch.tensor([0.0, 1.0], dtype=torch.float64))],
            "test": _test(_grid((0.0, 2 * math.pi, 64), (0.0, 1.0, 33)), 1, 0.5)}


def make_problem(family: str, beta: float) -> dict:
    """The problem of ``family`` (one of :data:`FAMILIES`) at PDE parameter ``beta``."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r}: expected one of {FAMILIES}")
    return poisson(beta) if family == "poisson" else advection(beta)
