"""Darcy solver: second-order convergence to a manufactured solution with a variable coefficient."""

import numpy as np
import pytest
import sympy
import torch

from zoo.data.pde.solvers import darcy_coefficient, solve_darcy

X, Y = sympy.symbols("x y")
U_EXACT = sympy.sin(sympy.pi * X) * sympy.sin(2 * sympy.pi * Y) * sympy.exp(X)  # zero on the boundary
A_EXACT = 2 + sympy.sin(2 * sympy.pi * X + 1) * sympy.cos(sympy.pi * Y)          # between 1 and 3
F_EXACT = -(sympy.diff(A_EXACT * sympy.diff(U_EXACT, X), X) + sympy.diff(A_EXACT * sympy.diff(U_EXACT, Y), Y))


def on_nodes(expression, s: int) -> np.ndarray:
    """The expression on the s x s node grid (axis 0 is x)."""
    x = np.linspace(0, 1, s)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    return np.broadcast_to(sympy.lambdify((X, Y), expression, "numpy")(xx, yy), (s, s)).astype(np.float64)


@pytest.mark.parametrize("face_mean", ["arithmetic", "harmonic"])
def test_manufactured_solution_converges_at_second_order(face_mean):
    errors = []
    for s in (17, 33, 65):  # h = 1/16, 1/32, 1/64
        u = solve_darcy(on_nodes(A_EXACT, s), on_nodes(F_EXACT, s), face_mean=face_mean)
        assert u.shape == (s, s) and u.dtype == torch.float64
        errors.append(np.abs(u.numpy() - on_nodes(U_EXACT, s)).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[-1] < 2e-3
    assert np.all((ratios > 3.6) & (ratios < 4.4)), f"error ratios {ratios} for h halving (errors {errors})"


def test_constant_coefficient_batch_and_boundary():
    s = 33
    a = torch.stack([torch.full((s, s), 1.0), torch.full((s, s), 4.0)])
    u = solve_darcy(a, 1.0)
    assert u.shape == (2, s, s)
    torch.testing.assert_close(u[1], u[0] / 4)  # -div(c grad u) = 1 is linear in 1/c
    for edge in (u[:, 0], u[:, -1], u[:, :, 0], u[:, :, -1]):
        assert torch.all(edge == 0)
    # -Delta u = 1 on the unit square: max u = 0.07367 (series solution), to O(h^2)
    assert abs(u[0].max().item() - 0.0736713) < 2e-4


def test_thresholded_coefficient_and_its_solution():
    a = darcy_coefficient(8, 33, seed=0)
    assert a.shape == (8, 33, 33)
    assert set(a.unique().tolist()) == {3.0, 12.0}
    u = solve_darcy(a)
    assert torch.all(u[:, 1:-1, 1:-1] > 0)  # the 5-point operator is an M-matrix and f = 1 > 0


@pytest.mark.parametrize("a,f,message", [
    (np.ones((4, 5)), 1.0, "a must have shape \\(batch, s, s\\)"),
    (-np.ones((5, 5)), 1.0, "strictly positive"),
    (np.ones((5, 5)), np.ones((4, 4)), "f must be a scalar, \\(s, s\\) or \\(batch, s, s\\)"),
])
def test_bad_inputs_are_clear_errors(a, f, message):
    with pytest.raises(ValueError, match=message):
        solve_darcy(a, f)
    with pytest.raises(ValueError, match="face_mean must be one of"):
        solve_darcy(np.ones((5, 5)), face_mean="geometric")
