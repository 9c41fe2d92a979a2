"""Manufactured high-frequency PDE problems (GP-HM, Fang et al., ICLR 2024): an exact solution, its source by
autograd, a uniform collocation grid.

Each problem is ``𝒟[u] = f`` on ``[lower, upper]^d`` (:mod:`zoo.functional.pde`) with Dirichlet values of the exact
``u`` on the boundary of the grid; the source ``f = 𝒟[u]`` is computed by autograd of ``u``, never by hand::

    poisson_sin         Δu = f,             u = sin(100x)
    poisson_x_sin       Δu = f,             u = x sin(200x)
    poisson_sin_cos     Δu = f,             u = sin(6x) cos(100x)
    allen_cahn_sin      Δu + u(u²−1) = f,   u = sin(100x)
    poisson_2d_sin_sin  Δu = f,             u = sin(100x) sin(100y)

on ``[0, 2π]`` (the reference's domain). A grid with fewer than two points per period of the solution's highest
frequency cannot represent it: an error says how many points it needs.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from zoo.data.base import SplitDataModule
from zoo.functional.pde import cartesian, derivatives, operator

#: name -> (dimension, equation, exact solution of x (M, d), highest angular frequency of the solution)
PROBLEMS: dict[str, tuple[int, str, Callable[[Tensor], Tensor], float]] = {
    "poisson_sin": (1, "poisson", lambda x: torch.sin(100 * x[:, 0]), 100.0),
    "poisson_x_sin": (1, "poisson", lambda x: x[:, 0] * torch.sin(200 * x[:, 0]), 200.0),
    "poisson_sin_cos": (1, "poisson", lambda x: torch.sin(6 * x[:, 0]) * torch.cos(100 * x[:, 0]), 106.0),
    "allen_cahn_sin": (1, "allen_cahn", lambda x: torch.sin(100 * x[:, 0]), 100.0),
    "poisson_2d_sin_sin": (2, "poisson", lambda x: torch.sin(100 * x[:, 0]) * torch.sin(100 * x[:, 1]), 100.0),
}


def check_not_aliased(values: Tensor, name: str, what: str) -> None:
    """An error where every point of ``what`` falls on a zero of problem ``name``'s solution (e.g. ``sin(100x)`` at
    ``2πk/100``): the problem seen there is ``u = 0``, so a solver's relative residual and a test's relative L2 are
    undefined."""
    if values.abs().max() < 1e-8:
        raise ValueError(f"every point of {what} falls on a zero of problem={name!r}'s solution, so it sees u = 0 and "
                         "the relative error is undefined: change the number of points by one")


def make_problem(name: str, grid: list[int], lower: float = 0.0, upper: float = 2 * math.pi) -> dict:
    """The collocation problem ``{"axes", "source", "boundary_mask", "boundary_values", "equation"}`` of ``name`` on
    a uniform grid of ``grid[j]`` points per axis (the fields are ``(n_1, ..., n_d)``)."""
    if name not in PROBLEMS:
        raise ValueError(f"problem={name!r}: expected one of {sorted(PROBLEMS)}")
    dims, equation, u, omega = PROBLEMS[name]
    if len(grid) != dims:
        raise ValueError(f"problem={name!r} is {dims}-D but grid={grid} has {len(grid)} axes: give one size per axis")
    needed = math.ceil(omega * (upper - lower) / math.pi) + 1
    if min(grid) < needed:
        raise ValueError(f"grid={grid} on [{lower:.4g}, {upper:.4g}] is too coarse for problem={name!r}: its highest "
                         f"frequency ({omega:g} rad per unit) needs at least two points per period, {needed} points per "
                         "axis (GP-HM uses about 4 per period)")
    axes = [torch.linspace(lower, upper, n, dtype=torch.float64) for n in grid]
    value, _, second = (part.detach() for part in derivatives(u, cartesian(axes)))
    check_not_aliased(value, name, f"grid={list(grid)}")
    shape = tuple(grid)
    boundary = torch.zeros(shape, dtype=torch.bool)
    for axis in range(dims):
        boundary.index_fill_(axis, torch.tensor([0, grid[axis] - 1]), True)
    value = value.reshape(shape)
    return {"axes": axes, "source": operator(equation, value, second.reshape(shape)), "boundary_mask": boundary,
            "boundary_values": torch.where(boundary, value, torch.zeros_like(value)), "equation": equation}


class ManufacturedPDEDataModule(SplitDataModule):
    """One manufactured problem (module doc): the training split is the problem itself (a dict for the solver's
    ``loss``), repeated ``steps_per_epoch`` times, so that an epoch is that many optimiser steps (and a checkpoint,
    a validation and a log line come per epoch, not per step); ``val`` and ``test`` are ``(x (M, d), u (M,))`` on
    uniform grids of ``n_val`` and ``n_test`` points per axis (not the collocation grid).

    Args:
        problem: a key of :data:`PROBLEMS`. grid: collocation points per axis. lower, upper: the domain.
        n_val, n_test: evaluation points per axis. steps_per_epoch: training steps per epoch. batch_size: unused
        (every item is one batch), kept for the datamodule interface.
    """

    batched = True

    def __init__(self, problem: str = "poisson_sin", grid: list[int] = [400], lower: float = 0.0,
                 upper: float = 2 * math.pi, n_val: int = 501, n_test: int = 1000, steps_per_epoch: int = 100,
                 batch_size: int = 1, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch={steps_per_epoch} must be >= 1")
        self.collocation = make_problem(problem, grid, lower, upper)   # a bad name or grid fails at construction
        self.problem, self.grid, self.lower, self.upper = problem, list(grid), lower, upper
        self.n_val, self.n_test, self.steps_per_epoch = n_val, n_test, steps_per_epoch

    def points(self, key: str) -> tuple[Tensor, Tensor]:
        """The evaluation split of ``n_val`` or ``n_test`` (``key``) points per axis: ``(x (M, d), u (M,))``."""
        dims, _, u, _ = PROBLEMS[self.problem]
        n = getattr(self, key)
        x = cartesian([torch.linspace(self.lower, self.upper, n, dtype=torch.float64)] * dims)
        values = u(x)
        check_not_aliased(values, self.problem, f"{key}={n}")
        return x, values

    def setup(self, stage: str | None = None) -> None:
        self.splits = {"train": [self.collocation] * self.steps_per_epoch,
                       "val": [self.points("n_val")], "test": [self.points("n_test")]}
