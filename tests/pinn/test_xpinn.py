"""XPINN: the interface terms vanish on the exact solution and take their closed forms on a shifted one, one subdomain
is a PINN, points go to their subdomain's network, training approaches the manufactured solution, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.pinn import CONDITIONS, XPINN, fit_xpinn
from zoo.pinn.parametric import make_problem


class Exact(torch.nn.Module):
    """A 'network' ``(B, d) -> (B, 1)``: the family's exact solution plus ``shift(x)``."""

    def __init__(self, problem, shift=lambda x: 0.0):
        super().__init__()
        self.problem, self.shift = problem, shift

    def forward(self, x):
        return (self.problem["solution"](x) + self.shift(x))[:, None]


def exact_model(family, beta, shift=lambda x: 0.0):
    problem = make_problem(family, beta)
    model = XPINN(dims=1 if family == "poisson" else 2)
    model.nets[0].net, model.nets[1].net = Exact(problem), Exact(problem, shift)
    return model, problem


@pytest.mark.parametrize("family, beta", [("poisson", 2.5), ("advection", 3.0)])
def test_every_interface_term_vanishes_on_the_exact_solution(family, beta):
    model, problem = exact_model(family, beta)
    terms = model.interface_terms(problem)
    assert set(terms) == set(model.conditions)
    assert all(term < 1e-20 for term in terms.values()), terms
    parts = model.loss(problem, [1] * len(model.conditions))
    assert parts["residual"] < 1e-20 and parts["boundary"] < 1e-20


def test_a_shifted_network_gives_the_closed_forms():
    delta, beta = 0.3, 3.0
    model, problem = exact_model("poisson", beta, lambda x: delta)
    terms = {name: float(term.detach()) for name, term in model.interface_terms(problem).items()}
    assert terms["solution"] == pytest.approx(delta**2, rel=1e-12)
    assert terms["average"] == pytest.approx(delta**2 / 2, rel=1e-12)
    assert max(terms["flux"], terms["residual_continuity"], terms["normal_second"]) < 1e-20
    # advection: u_b = u* + δx shifts the tangential derivative by δ and the residual by βδ
    model, problem = exact_model("advection", beta, lambda x: delta * x[:, 0])
    terms = {name: float(term.detach()) for name, term in model.interface_terms(problem).items()}
    assert terms["tangential"] == pytest.approx(delta**2, rel=1e-10)
    assert terms["residual_continuity"] == pytest.approx((beta * delta) ** 2, rel=1e-10)
    assert terms["residual"] == pytest.approx((beta * delta) ** 2, rel=1e-10)
    assert max(terms["flux"], terms["normal_second"], terms["tangential_second"], terms["residual_gradient"]) < 1e-20


def test_one_subdomain_is_a_pinn():
    """One network and no interface: the loss is mean R² + λ_b mean (u − g)², R from the PINN's own Laplacian."""
    torch.manual_seed(0)
    model = XPINN(dims=1, subdomains=1)
    halves = make_problem("poisson", 2.0)
    x = torch.cat(halves["collocation"])
    boundary = [torch.cat(parts) for parts in zip(*halves["boundary"])]
    problem = {**halves, "collocation": [x], "boundary": [boundary], "interfaces": []}
    pinn = model.nets[0]
    assert isinstance(pinn, zoo.pinn.PINN)
    _, laplacian = pinn.laplacian(x)
    residual = laplacian + (2 * math.pi) ** 2 * torch.sin(2 * math.pi * x[:, 0])
    expected = residual.square().mean() + 20.0 * (pinn(boundary[0]) - boundary[1]).square().mean()
    assert torch.allclose(model.loss(problem, [0] * len(model.conditions))["loss"], expected, rtol=1e-12)


def test_each_point_goes_through_its_subdomains_network():
    model = zoo.create_model("xpinn", dims=2, subdomains=3)
    x, subdomain = torch.rand(7, 2, dtype=torch.float64), torch.tensor([0, 2, 1, 1, 0, 2, 2])
    expected = torch.stack([model.nets[int(q)](x[i:i + 1])[0] for i, q in enumerate(subdomain)])
    assert torch.allclose(model(x, subdomain), expected)
    assert model.conditions == CONDITIONS and len(XPINN(dims=1).conditions) == 7


def test_training_with_continuity_and_flux_approaches_the_manufactured_solution():
    torch.manual_seed(0)
    model = XPINN(dims=1, conditions=["solution", "flux"])
    errors = fit_xpinn(model, make_problem("poisson", 1.0), [1, 1], adam_steps=200, lbfgs_steps=50)
    assert errors["final"] < 1e-2 and errors["final"] <= errors["adam"]


def test_bad_input_is_named():
    model = XPINN(dims=1)
    with pytest.raises(ValueError, match=r"the mask has 3 entries but the model has 7 conditions"):
        model.loss(make_problem("poisson", 1.0), [1, 0, 1])
    with pytest.raises(ValueError, match=r"conditions=\['tangential'\]: give distinct names among .* for dims=1"):
        XPINN(dims=1, conditions=["tangential"])
    with pytest.raises(ValueError, match=r"conditions=\[\]"):
        XPINN(dims=1, conditions=[])
    with pytest.raises(ValueError, match=r"subdomain indices must lie in \[0, 2\): set model.subdomains"):
        model(torch.zeros(2, 1, dtype=torch.float64), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"subdomain must be \(2,\) long indices"):
        model(torch.zeros(2, 1, dtype=torch.float64), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="the problem has 2 subdomains but the model has 3: set model.subdomains"):
        XPINN(dims=1, subdomains=3).loss(make_problem("poisson", 1.0), [1] * 7)
    with pytest.raises(ValueError, match="family='heat': expected one of"):
        make_problem("heat", 1.0)
