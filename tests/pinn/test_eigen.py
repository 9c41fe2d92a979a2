"""The eigenvalue PINN: the exact ψ and E of the infinite well give a zero residual, unit norm and the Rayleigh
quotient π²; both trial functions vanish at the walls exactly; E trains in its own group; clear errors."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.tasks.optim import build_optimizer


class Network(torch.nn.Module):
    """``N(z)`` given as a function of ``x = (z + 1)/2`` on the domain [0, 1]."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, z):
        return self.function((z + 1) / 2)


#: N such that ψ = √2 sin(πx), the infinite well's ground state, for each trial function
EXACT = {"sin": lambda x: math.sqrt(2) * torch.ones_like(x),
         "poly": lambda x: math.sqrt(2) * torch.sin(math.pi * x) / (4 * x * (1 - x))}


def exact_model(trial: str, objective: str = "pinn"):
    model = zoo.create_model("pinn_eigen", domain=[0.0, 1.0], trial=trial, objective=objective, energy=math.pi**2)
    model.net = Network(EXACT[trial])
    return model


@pytest.mark.parametrize("trial", ["poly", "sin"])
def test_the_exact_state_has_zero_residual_and_unit_norm(trial):
    model = exact_model(trial)
    x = torch.rand(200, 1, dtype=torch.float64) * 0.98 + 0.01
    assert torch.allclose(model(x)[:, 0], math.sqrt(2) * torch.sin(math.pi * x[:, 0]), atol=1e-14)
    parts = model.loss({"x": x, "potential": torch.zeros(200, dtype=torch.float64)})
    assert parts["residual"] < 1e-20 and abs(parts["norm"] - 1) < 1e-12 and parts["loss"] < 1e-20
    assert parts["energy"] == math.pi**2


def test_deep_ritz_gives_the_rayleigh_quotient_pi2():
    model = exact_model("sin", objective="ritz")
    x = ((torch.arange(4000, dtype=torch.float64) + 0.5) / 4000)[:, None]     # midpoints: ∫ to O(h²)
    parts = model.loss({"x": x, "potential": torch.zeros(4000, dtype=torch.float64)})
    assert parts["energy"].item() == pytest.approx(math.pi**2, rel=1e-6) and "residual" not in parts
    grid = torch.linspace(0, 1, 4001, dtype=torch.float64)[:, None]
    h = 1 / 4000         # the grid quotient is the box's discrete (2/h²)(1 − cos πh)
    assert model.eigenvalue(grid, torch.zeros(4001, dtype=torch.float64)).item() == pytest.approx(
        2 / h**2 * (1 - math.cos(math.pi * h)), rel=1e-9)


@pytest.mark.parametrize("trial", ["poly", "sin"])
def test_the_trial_functions_vanish_at_the_walls_exactly(trial):
    torch.manual_seed(0)
    model = zoo.create_model("pinn_eigen", domain=[-3.0, 3.0], trial=trial)
    walls = torch.tensor([[-3.0], [3.0]], dtype=torch.float64)
    assert (model(walls) == 0).all()
    assert (model(torch.tensor([[-2.0], [0.5]], dtype=torch.float64)) != 0).all()


def test_the_energy_has_its_own_optimiser_group():
    model = zoo.create_model("pinn_eigen", energy=3.0, energy_lr=0.05)
    groups = build_optimizer(model, {"name": "Adam", "lr": 1e-3}).param_groups
    assert [(group["lr"], len(group["params"])) for group in groups] == [(1e-3, len(list(model.net.parameters()))),
                                                                        (0.05, 1)]
    assert groups[1]["params"][0] is model.energy and model.energy.item() == 3.0


def test_bad_input_is_named():
    model = zoo.create_model("pinn_eigen")
    with pytest.raises(ValueError, match=r"N >= 1 collocation points.*\(data.n_collocation\)"):
        model.loss({"x": torch.zeros(0, 1, dtype=torch.float64), "potential": torch.zeros(0, dtype=torch.float64)})
    with pytest.raises(ValueError, match=r"x must be \(B, 1\)"):
        model(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"model.domain=\[1.0, 0.0\] must be \[lower, upper\]"):
        zoo.create_model("pinn_eigen", domain=[1.0, 0.0])
    with pytest.raises(ValueError, match="model.trial='cos' must be one of"):
        zoo.create_model("pinn_eigen", trial="cos")
