"""The quantum-well references: the finite-difference solver against the box's closed forms (and its O(h²)
convergence), the finite well's transcendental roots against their conditions and the solver, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.functional.schrodinger import schrodinger_eigenpairs
from zoo.pinn.reference import finite_well_energies


def box(x):
    return torch.zeros_like(x)


def test_the_box_gives_the_discrete_closed_form_and_converges_to_n2_pi2_as_h2():
    errors = []
    for n in (500, 1000):
        energies, x, psi = schrodinger_eigenpairs(box, 0.0, 1.0, n=n, k=3)
        h = 1 / (n + 1)
        states = torch.arange(1, 4, dtype=torch.float64)
        assert torch.allclose(energies, 2 / h**2 * (1 - torch.cos(states * math.pi * h)), rtol=1e-10)
        errors.append((states * math.pi) ** 2 - energies)
        exact = math.sqrt(2) * torch.sin(states * math.pi * x[:, None])    # normalised, positive at first
        assert (psi[[0, -1]] == 0).all() and torch.allclose(psi, exact, atol=1e-5)
        assert torch.allclose(torch.trapezoid(psi.square(), x, dim=0), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(errors[0] / errors[1], torch.full((3,), 4.0, dtype=torch.float64), rtol=2e-2)


def test_the_finite_well_roots_satisfy_their_conditions_and_match_the_solver():
    v0, a = 10.0, 1.0
    energies = finite_well_energies(v0, a)
    k, kappa = np.sqrt(energies), np.sqrt(v0 - np.array(energies))
    assert len(energies) == 3
    assert k[0] * math.tan(k[0] * a) == pytest.approx(kappa[0], rel=1e-10)        # even ground state
    assert -k[1] / math.tan(k[1] * a) == pytest.approx(kappa[1], rel=1e-10)       # odd first excited state
    solved, _, _ = schrodinger_eigenpairs(lambda x: torch.where(x.abs() < a, 0.0, v0), -6.0, 6.0, n=4000, k=2)
    assert solved.tolist() == pytest.approx(energies[:2], rel=2e-5)               # truncation e^{-2κ·5} negligible


def test_a_deep_finite_well_tends_to_the_infinite_one():
    assert finite_well_energies(1e6, 1.0)[0] == pytest.approx((math.pi / 2) ** 2, rel=3e-3)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="the potential is inf at x = .*must be finite on the domain"):
        schrodinger_eigenpairs(lambda x: torch.where(x > 0.5, math.inf, 0.0), 0.0, 1.0, n=100)
    with pytest.raises(ValueError, match=r"the domain \[1.0, 0.0\] is empty"):
        schrodinger_eigenpairs(box, 1.0, 0.0)
    with pytest.raises(ValueError, match="v0=inf must be finite and > 0"):
        finite_well_energies(math.inf, 1.0)
