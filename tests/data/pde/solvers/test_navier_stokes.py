"""Navier-Stokes solver: exact decaying modes, the forced solution from rest, closed-form velocity and
advection, and the conservation identities of the advection term."""

import math

import numpy as np
import pytest
import torch

from zoo.data.pde.solvers import advection, fno_forcing, solve_navier_stokes, velocity, vorticity_initial_condition

TWO_PI = 2 * math.pi


def grid(s: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(s, dtype=torch.float64) / s
    return torch.meshgrid(x, x, indexing="ij")


@pytest.mark.parametrize("modes,k_sq", [
    (lambda x, y: torch.cos(TWO_PI * (x + y)) + 0.5 * torch.sin(TWO_PI * (x - y)), 2),   # |k|^2 = 2, two directions
    (lambda x, y: torch.cos(TWO_PI * (2 * x + y)) - 0.3 * torch.sin(TWO_PI * (x - 2 * y)), 5),
    (lambda x, y: torch.cos(TWO_PI * 3 * x) + torch.cos(TWO_PI * 3 * y), 9),              # Taylor-Green type
], ids=["k=(1,1)", "k=(2,1)", "k=(3,0)"])
def test_single_wavenumber_fields_decay_exactly(modes, k_sq):
    """psi = w / (4 pi^2 |k|^2) makes u . grad w = 0, so w(t) = w0 exp(-4 pi^2 |k|^2 nu t)."""
    s, nu = 32, 0.01
    w0 = modes(*grid(s))
    assert advection(w0).abs().max() < 1e-12  # the advection vanishes identically
    times = [0.5, 1.0]
    w = solve_navier_stokes(w0, times, viscosity=nu, dt=1e-3)
    assert w.shape == (2, s, s) and w.dtype == torch.float64
    for snapshot, t in zip(w, times):
        exact = w0 * math.exp(-4 * math.pi**2 * k_sq * nu * t)
        assert (snapshot - exact).abs().max() < 1e-5 * exact.abs().max()  # Crank-Nicolson: t (nu lambda)^3 dt^2 / 12


def test_forced_solution_from_rest():
    """FNO's forcing is a |k|^2 = 2 field, so w = f / (8 pi^2 nu) (1 - exp(-8 pi^2 nu t)) solves the problem."""
    s, nu = 16, 0.01
    f = fno_forcing(s)
    x, y = grid(s)
    torch.testing.assert_close(f, 0.1 * (torch.sin(TWO_PI * (x + y)) + torch.cos(TWO_PI * (x + y))))
    w = solve_navier_stokes(torch.zeros(3, s, s, dtype=torch.float64), [0.5, 2.0], viscosity=nu, forcing=f, dt=1e-2)
    assert w.shape == (3, 2, s, s)
    for index, t in enumerate([0.5, 2.0]):
        exact = f / (8 * math.pi**2 * nu) * (1 - math.exp(-8 * math.pi**2 * nu * t))
        assert (w[:, index] - exact).abs().max() < 1e-5 * exact.abs().max()


def two_mode_field(s: int):
    """w = cos 2 pi x + cos 4 pi y: psi = cos(2 pi x) / (4 pi^2) + cos(4 pi y) / (16 pi^2),
    u = psi_y = -sin(4 pi y) / (4 pi), v = -psi_x = sin(2 pi x) / (2 pi),
    u w_x + v w_y = (sin 4 pi y)(sin 2 pi x) / 2 - 2 (sin 2 pi x)(sin 4 pi y) = -1.5 sin(2 pi x) sin(4 pi y)."""
    x, y = grid(s)
    w = torch.cos(TWO_PI * x) + torch.cos(2 * TWO_PI * y)
    u, v = -torch.sin(2 * TWO_PI * y) / (4 * math.pi), torch.sin(TWO_PI * x) / (2 * math.pi)
    return w, torch.stack([u, v]), -1.5 * torch.sin(TWO_PI * x) * torch.sin(2 * TWO_PI * y)


def test_velocity_and_advection_in_closed_form():
    w, uv, transport = two_mode_field(16)
    torch.testing.assert_close(velocity(w), uv, rtol=0, atol=1e-14)
    torch.testing.assert_close(advection(w), transport, rtol=0, atol=1e-13)
    torch.testing.assert_close(velocity(w[None].repeat(2, 1, 1)), uv[None].repeat(2, 1, 1, 1), rtol=0, atol=1e-14)


def test_first_steps_follow_the_tendency():
    """(w(t) - w0) / t -> w_t(0) = -u . grad w + nu Delta w + f as t -> 0 (signs and scales of every term)."""
    s, nu, t = 16, 0.05, 1e-3
    w0, _, transport = two_mode_field(s)
    x, y = grid(s)
    f = torch.cos(TWO_PI * 2 * x) * torch.cos(TWO_PI * y)
    laplacian = -4 * math.pi**2 * torch.cos(TWO_PI * x) - 16 * math.pi**2 * torch.cos(2 * TWO_PI * y)
    tendency = -transport + nu * laplacian + f
    w = solve_navier_stokes(w0, t, viscosity=nu, forcing=f, dt=1e-5)
    assert ((w - w0) / t - tendency).abs().max() < 5e-3 * tendency.abs().max()


def test_advection_conserves_energy_and_enstrophy():
    """For w with |k_i| < s/3 the dealiased product is exact on the kept modes, so the grid sums equal the
    integrals: int w (u . grad w) = 0 and int psi (u . grad w) = 0."""
    s = 24
    rng = np.random.default_rng(0)
    coefficients = np.zeros((s, s), dtype=complex)
    keep = np.abs(np.fft.fftfreq(s, d=1.0 / s)) < s / 3
    coefficients[np.ix_(keep, keep)] = rng.standard_normal((keep.sum(), keep.sum())) * (1 + 1j)
    w = torch.as_tensor(np.fft.ifft2(coefficients).real)
    transport = advection(w)
    k = np.fft.fftfreq(s, d=1.0 / s)
    lam = 4 * math.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    lam[0, 0] = 1
    psi = torch.as_tensor(np.fft.ifft2(np.fft.fft2(w.numpy()) / lam).real)
    scale = (w.abs() * transport.abs()).sum()
    assert transport.abs().max() > 1e-3 * w.abs().max()  # the test field is advected
    assert abs((w * transport).sum()) < 1e-12 * scale
    assert abs((psi * transport).sum()) < 1e-12 * scale


def test_initial_condition_has_fnos_amplitude():
    w0 = vorticity_initial_condition(500, 16, seed=0)
    k = np.fft.fftfreq(16, d=1.0 / 16)
    k_sq = k[:, None] ** 2 + k[None, :] ** 2
    mu = 2 * 7.0**3 * (4 * math.pi**2 * k_sq + 49.0) ** -2.5  # (sqrt(2) tau^(alpha - 1))^2 (...)^(-alpha)
    mu[0, 0] = 0
    np.testing.assert_allclose(w0.var(0).mean().item(), mu.sum(), rtol=0.05)


def test_blow_up_and_bad_arguments_are_clear_errors():
    w0 = 200 * vorticity_initial_condition(1, 16, seed=0)
    with pytest.raises(RuntimeError, match="blew up .* lower dt"):
        solve_navier_stokes(w0, 50.0, viscosity=1e-4, dt=0.5)
    with pytest.raises(ValueError, match="even s >= 4"):
        solve_navier_stokes(torch.zeros(2, 7, 7), 1.0)
    with pytest.raises(ValueError, match="forcing must have shape \\(s, s\\) = \\(8, 8\\)"):
        solve_navier_stokes(torch.zeros(8, 8), 1.0, forcing=fno_forcing(16))
    with pytest.raises(ValueError, match="viscosity must be positive"):
        solve_navier_stokes(torch.zeros(8, 8), 1.0, viscosity=-1.0)
