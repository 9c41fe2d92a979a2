"""The PINN: its autograd Laplacian against finite differences, random Fourier features in closed form, a loss that
vanishes for the exact solution, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.data.pde.manufactured import make_problem


@pytest.mark.parametrize("dims, features", [(1, 0), (2, 8)])
def test_the_autograd_laplacian_equals_central_differences(dims, features):
    torch.manual_seed(0)
    model = zoo.create_model("pinn", dims=dims, width=16, depth=2, fourier_features=features, sigma=1.0)
    x = torch.rand(5, dims, dtype=torch.float64)
    _, laplacian = model.laplacian(x)
    h = 1e-4
    with torch.no_grad():
        expected = sum((model(x + h * e) - 2 * model(x) + model(x - h * e)) / h**2
                       for e in torch.eye(dims, dtype=torch.float64))
    assert torch.allclose(laplacian, expected, rtol=1e-5, atol=1e-5)


def test_fourier_features_are_cos_and_sin_of_the_fixed_projection():
    model = zoo.create_model("pinn", dims=1, width=4, depth=1, fourier_features=3, sigma=5.0)
    x = torch.rand(4, 1, dtype=torch.float64)
    phase = 2 * math.pi * x @ model.B.T
    first = model.net[0]
    expected = torch.tanh(torch.cat([phase.cos(), phase.sin()], -1) @ first.weight.T + first.bias)
    assert torch.allclose(model.net[:2](torch.cat([phase.cos(), phase.sin()], -1)), expected)
    assert "B" in model.state_dict() and not any(p is model.B for p in model.parameters())   # fixed, saved


class Exact(torch.nn.Module):
    """A 'network' that is the exact solution sin(100x)."""

    def forward(self, x):
        return torch.sin(100 * x)


def test_the_loss_of_the_exact_solution_vanishes():
    model = zoo.create_model("pinn", dims=1)
    model.net = Exact()
    parts = model.loss(make_problem("allen_cahn_sin", grid=[300]))
    assert parts["relative_residual"] < 1e-24 and parts["boundary_mse"] < 1e-24


def test_bad_input_is_named():
    model = zoo.create_model("pinn", dims=1)
    with pytest.raises(ValueError, match="the problem is 2-D but the PINN takes dims=1: set model.dims"):
        model.loss(make_problem("poisson_2d_sin_sin", grid=[202, 202]))
    with pytest.raises(ValueError, match=r"x must be \(B, 1\)"):
        model(torch.zeros(3, 2, dtype=torch.float64))
