"""Manufactured PDE problems: the autograd sources equal the hand-derived ones, the boundary, the splits, and the
too-coarse-grid error."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.data import ManufacturedPDEDataModule
from zoo.data.pde.manufactured import make_problem

X = torch.linspace(0, 2 * math.pi, 451, dtype=torch.float64)
SOURCES = {   # f = 𝒟[u] by hand
    "poisson_sin": -1e4 * torch.sin(100 * X),
    "poisson_x_sin": 400 * torch.cos(200 * X) - 4e4 * X * torch.sin(200 * X),
    "poisson_sin_cos": (-(36 + 1e4) * torch.sin(6 * X) * torch.cos(100 * X)
                        - 1200 * torch.cos(6 * X) * torch.sin(100 * X)),
    "allen_cahn_sin": -1e4 * torch.sin(100 * X) + torch.sin(100 * X) * (torch.sin(100 * X) ** 2 - 1),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_sources_by_autograd_equal_the_closed_forms(name):
    problem = make_problem(name, grid=[451])
    assert torch.allclose(problem["source"], SOURCES[name], rtol=1e-10, atol=1e-8)
    assert problem["boundary_mask"].sum() == 2 and problem["boundary_mask"][[0, -1]].all()


def test_the_2d_problem_and_its_boundary():
    problem = make_problem("poisson_2d_sin_sin", grid=[202, 211])
    x, y = torch.meshgrid(*problem["axes"], indexing="ij")
    assert torch.allclose(problem["source"], -2e4 * torch.sin(100 * x) * torch.sin(100 * y), atol=1e-8)
    mask = problem["boundary_mask"]
    assert mask.sum() == 2 * 202 + 2 * 211 - 4 and mask[0].all() and mask[:, -1].all() and not mask[1:-1, 1:-1].any()
    assert torch.allclose(problem["boundary_values"][mask], (torch.sin(100 * x) * torch.sin(100 * y))[mask])


def test_splits_and_errors():
    data = ManufacturedPDEDataModule(problem="poisson_2d_sin_sin", grid=[202, 202], n_val=12, n_test=13)
    data.setup()
    x, u = data.splits["test"][0]
    assert x.shape == (169, 2) and torch.allclose(u, torch.sin(100 * x[:, 0]) * torch.sin(100 * x[:, 1]))
    with pytest.raises(ValueError, match="too coarse for problem='poisson_x_sin'.*needs at least two points per "
                                         "period, 401 points per axis"):
        ManufacturedPDEDataModule(problem="poisson_x_sin", grid=[400])
    with pytest.raises(ValueError, match="every point of n_val=101 falls on a zero of problem='poisson_2d_sin_sin'"):
        ManufacturedPDEDataModule(problem="poisson_2d_sin_sin", grid=[202, 202], n_val=101).setup()
    with pytest.raises(ValueError, match=r"every point of grid=\[201, 202\] falls on a zero of problem='poisson_2d_sin_sin"):
        make_problem("poisson_2d_sin_sin", grid=[201, 202])      # x = πk/100: sin(100x) = 0 on the whole grid
    with pytest.raises(ValueError, match="problem='heat'"):
        make_problem("heat", grid=[400])
