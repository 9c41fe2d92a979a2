"""Burgers solver: ETDRK4 coefficients, the Cole-Hopf exact solution, and the energy identity."""

import math

import numpy as np
import pytest
import torch

from zoo.data.pde.solvers import burgers_initial_condition, solve_burgers
from zoo.data.pde.solvers.burgers import etdrk4_coefficients


def test_etdrk4_coefficients_match_the_closed_forms_and_their_limits():
    h = 0.01
    z = np.array([-0.5, -3.0, -40.0, -1000.0])  # far enough from 0 for the closed forms to be accurate
    E, E2, Q, f1, f2, f3 = etdrk4_coefficients(z, h)
    np.testing.assert_allclose(E, np.exp(z), rtol=1e-14)
    np.testing.assert_allclose(E2, np.exp(z / 2), rtol=1e-14)
    np.testing.assert_allclose(Q, h * (np.exp(z / 2) - 1) / z, rtol=1e-12)
    np.testing.assert_allclose(f1, h * (-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3, rtol=1e-10)
    np.testing.assert_allclose(f2, h * (2 + z + np.exp(z) * (z - 2)) / z**3, rtol=1e-10)
    np.testing.assert_allclose(f3, h * (-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3, rtol=1e-10)
    # at z = 0 the closed forms are 0/0; the limits are h/2 and h/6 (ETDRK4 reduces to classical RK4)
    _, _, Q0, f10, f20, f30 = etdrk4_coefficients(np.array([0.0, -1e-9]), h)
    np.testing.assert_allclose(Q0, h / 2, rtol=1e-9)
    for f in (f10, f20, f30):
        np.testing.assert_allclose(f, h / 6, rtol=1e-8)


def cole_hopf(x: np.ndarray, t: float, nu: float) -> np.ndarray:
    """u = -2 nu phi_x / phi with phi = 1 + sum_k eps_k e^{-4 pi^2 k^2 nu t} cos(2 pi k x + theta_k) > 0, which
    solves the heat equation phi_t = nu phi_xx, so u solves u_t + u u_x = nu u_xx (periodic)."""
    phi, phi_x = np.ones_like(x), np.zeros_like(x)
    for k, eps, theta in ((1, 0.5, 0.3), (2, 0.25, -1.1), (3, 0.1, 2.0)):
        decay = eps * math.exp(-4 * math.pi**2 * k**2 * nu * t)
        phi = phi + decay * np.cos(2 * math.pi * k * x + theta)
        phi_x = phi_x - decay * 2 * math.pi * k * np.sin(2 * math.pi * k * x + theta)
    return -2 * nu * phi_x / phi


@pytest.mark.parametrize("nu", [0.1, 0.02])
def test_cole_hopf_exact_solution(nu):
    s = 128
    x = np.arange(s) / s
    times = [0.25, 0.5, 1.0]
    u = solve_burgers(cole_hopf(x, 0.0, nu), times, viscosity=nu, dt=0.005)
    assert u.shape == (3, s) and u.dtype == torch.float64
    for row, t in zip(u.numpy(), times):
        exact = cole_hopf(x, t, nu)
        assert np.abs(row - exact).max() < 1e-6 * np.abs(exact).max()


def test_cole_hopf_fourth_order_in_time():
    s, nu = 64, 0.05
    x = np.arange(s) / s
    errors = [np.abs(solve_burgers(cole_hopf(x, 0, nu), 1.0, nu, dt).numpy() - cole_hopf(x, 1.0, nu)).max()
              for dt in (0.04, 0.02)]
    assert 12 < errors[0] / errors[1] < 20  # 2^4 = 16


def test_energy_decays_at_the_rate_nu_times_the_gradient_norm():
    """d/dt (1/2) ||u||^2 = -nu ||u_x||^2 (the advection term (u^2/2)_x does no work on a periodic domain)."""
    s, nu, dt = 256, 0.02, 2e-3
    u0 = burgers_initial_condition(3, s, seed=0)
    times = np.arange(1, 201) * dt
    u = solve_burgers(u0, times, viscosity=nu, dt=dt).numpy()  # (3, 200, s)
    energy = 0.5 * (u**2).mean(-1)  # the grid mean is the integral over [0, 1)
    assert np.all(np.diff(energy, axis=1) < 0)
    k = 2 * math.pi * np.fft.rfftfreq(s, d=1.0 / s)
    u_x = np.fft.irfft(1j * k * np.fft.rfft(u), n=s)
    dissipation = nu * (u_x**2).mean(-1)
    rate = (energy[:, 2:] - energy[:, :-2]) / (2 * dt)  # central differences at times[1:-1]
    # from t = 0.02 on: the GRF's highest modes decay on a 1e-4 time scale that steps of 2e-3 do not resolve
    np.testing.assert_allclose(rate[:, 9:], -dissipation[:, 10:-1], rtol=1e-3)


def test_initial_condition_amplitude_and_shape():
    u0 = burgers_initial_condition(2000, 64, seed=1)
    assert u0.shape == (2000, 64)
    # Var u(x) = sum_k sigma^2 (4 pi^2 k^2 + tau^2)^(-gamma) over the FFT box k = -32..31, k != 0
    k = np.concatenate([np.arange(-32, 0), np.arange(1, 32)])
    variance = (49.0**2 * (4 * math.pi**2 * k**2 + 49.0) ** -2.5).sum()
    np.testing.assert_allclose(u0.var(0).mean().item(), variance, rtol=0.05)


@pytest.mark.parametrize("kwargs,message", [
    (dict(u0=np.zeros(7)), "even s >= 4"),
    (dict(times=[0.5, 0.2]), "increasing sequence"),
    (dict(times=[0.3, 1.0], dt=0.2), "multiple of the step h = 0.2"),
    (dict(viscosity=0.0), "viscosity must be positive"),
    (dict(dt=-1.0), "dt must be positive"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    arguments = dict(u0=np.zeros(8), times=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        solve_burgers(**arguments)
