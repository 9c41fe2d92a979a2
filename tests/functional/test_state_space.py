"""Matérn state spaces and the Kalman/RTS smoother against closed-form covariances and the dense GP posterior."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.functional.state_space import kalman_smoother, matern_sde, natural, predict_states

D64 = torch.float64


def matern(r: torch.Tensor, nu: float, lengthscale: float, variance: float) -> torch.Tensor:
    """The textbook Matérn covariances (Rasmussen & Williams, eq. 4.17)."""
    r = r.abs()
    if nu == 0.5:
        return variance * torch.exp(-r / lengthscale)
    s = math.sqrt(3.0) * r / lengthscale
    return variance * (1 + s) * torch.exp(-s)


@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_transition_reproduces_the_matern_covariance(nu):
    sde = matern_sde(nu, lengthscale=0.3, variance=0.7)
    delta = torch.tensor([0.0, 1e-3, 0.05, 0.3, 1.0, 4.0], dtype=D64)
    A, Q = sde.transition(delta)
    k = (sde.H @ A @ sde.P_inf @ sde.H.T)[:, 0, 0]
    torch.testing.assert_close(k, matern(delta, nu, 0.3, 0.7), rtol=0, atol=1e-12)
    # P∞ is stationary: F P∞ + P∞ Fᵀ + q L Lᵀ = 0, and Q(0) = 0
    lyapunov = sde.F @ sde.P_inf + sde.P_inf @ sde.F.T + sde.q * sde.L @ sde.L.T
    torch.testing.assert_close(lyapunov, torch.zeros_like(lyapunov), rtol=0, atol=1e-10)
    torch.testing.assert_close(Q[0], torch.zeros_like(Q[0]), rtol=0, atol=1e-14)


def dense_posterior(x, y, noise, x_new, nu, lengthscale, variance, outputs=1):
    """Mean and variance of ``R`` independent GPs at ``x_new`` given ``y_j ~ N(u(x_j), noise_j)`` (``noise (n, R, R)``);
    the stacked vector is ordered (point, output)."""
    eye = torch.eye(outputs, dtype=D64)
    K = torch.kron(matern(x[:, None] - x[None], nu, lengthscale, variance), eye) + torch.block_diag(*noise)
    K_new = torch.kron(matern(x_new[:, None] - x[None], nu, lengthscale, variance), eye)
    mean = K_new @ torch.linalg.solve(K, y.reshape(-1))
    var = variance - (K_new * torch.linalg.solve(K, K_new.T).T).sum(1)
    return mean.reshape(-1, outputs), var.reshape(-1, outputs)


@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_smoother_equals_the_dense_gp_posterior(nu):
    generator = torch.Generator().manual_seed(0)
    x = torch.sort(torch.rand(40, generator=generator, dtype=D64)).values
    y = torch.sin(6 * x) + 0.1 * torch.randn(40, generator=generator, dtype=D64)
    noise = 0.01 + 0.05 * torch.rand(40, generator=generator, dtype=D64)
    sde = matern_sde(nu, lengthscale=0.2, variance=1.3)
    smoothed = kalman_smoother(sde, x, *natural(y[:, None], noise[:, None, None]))
    # the knots, new points between them, before the first and after the last, and a knot itself
    x_new = torch.cat([x, torch.tensor([-0.3, x[0] - 1e-3, 0.5, 0.501, x[-1] + 1e-3, 1.4, x[7]], dtype=D64)])
    mean, var = dense_posterior(x, y[:, None], noise[:, None, None], x_new, nu, 0.2, 1.3)
    torch.testing.assert_close((smoothed.mean @ sde.H.T)[:, 0], mean[:40, 0], rtol=0, atol=1e-8)
    torch.testing.assert_close((sde.H @ smoothed.cov @ sde.H.T)[:, 0, 0], var[:40, 0], rtol=0, atol=1e-8)
    state_mean, state_cov = predict_states(sde, smoothed, x_new)
    torch.testing.assert_close((state_mean @ sde.H.T)[:, 0], mean[:, 0], rtol=0, atol=1e-8)
    torch.testing.assert_close((sde.H @ state_cov @ sde.H.T)[:, 0, 0], var[:, 0], rtol=0, atol=1e-8)


@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_coupled_and_rank_one_pseudo_observations_of_stacked_gps(nu):
    """Two stacked GPs observed with a full 2×2 noise, then through one direction ``aᵀu`` only (a singular Λ)."""
    generator = torch.Generator().manual_seed(1)
    n = 25
    x = torch.sort(torch.rand(n, generator=generator, dtype=D64)).values
    y = torch.randn(n, 2, generator=generator, dtype=D64)
    B = torch.randn(n, 2, 2, generator=generator, dtype=D64)
    noise = 0.1 * B @ B.mT + 0.05 * torch.eye(2, dtype=D64)
    sde = matern_sde(nu, lengthscale=0.25, variance=0.8, copies=2)
    x_new = torch.tensor([-0.1, 0.33, 0.77, 1.2], dtype=D64)
    smoothed = kalman_smoother(sde, x, *natural(y, noise))
    mean, var = dense_posterior(x, y, noise, x_new, nu, 0.25, 0.8, outputs=2)
    state_mean, state_cov = predict_states(sde, smoothed, x_new)
    torch.testing.assert_close(state_mean @ sde.H.T, mean, rtol=0, atol=1e-8)
    torch.testing.assert_close(torch.diagonal(sde.H @ state_cov @ sde.H.T, dim1=1, dim2=2), var, rtol=0, atol=1e-8)

    a = torch.randn(n, 2, generator=generator, dtype=D64)
    s = 0.05 + torch.rand(n, generator=generator, dtype=D64)
    obs = torch.randn(n, generator=generator, dtype=D64)
    smoothed = kalman_smoother(sde, x, a[:, :, None] * a[:, None] / s[:, None, None], a * (obs / s)[:, None])
    # dense: observations aⱼᵀu(xⱼ) + N(0, sⱼ)
    Kx = torch.kron(matern(x[:, None] - x[None], nu, 0.25, 0.8), torch.eye(2, dtype=D64))
    Ob = torch.block_diag(*a[:, None, :])                               # (n, 2n)
    K_new = torch.kron(matern(x_new[:, None] - x[None], nu, 0.25, 0.8), torch.eye(2, dtype=D64))
    S = Ob @ Kx @ Ob.T + torch.diag(s)
    mean = (K_new @ Ob.T @ torch.linalg.solve(S, obs)).reshape(-1, 2)
    var = (0.8 - (K_new @ Ob.T * torch.linalg.solve(S, Ob @ K_new.T).T).sum(1)).reshape(-1, 2)
    state_mean, state_cov = predict_states(sde, smoothed, x_new)
    torch.testing.assert_close(state_mean @ sde.H.T, mean, rtol=0, atol=1e-8)
    torch.testing.assert_close(torch.diagonal(sde.H @ state_cov @ sde.H.T, dim1=1, dim2=2), var, rtol=0, atol=1e-8)


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match=r"nu=2.5.*one of \(0.5, 1.5\)"):
        matern_sde(2.5, 0.1, 1.0)
    sde = matern_sde(1.5, 0.1, 1.0)
    one = torch.ones(2, 1, 1, dtype=D64)
    with pytest.raises(ValueError, match="strictly increasing"):
        kalman_smoother(sde, torch.tensor([0.1, 0.1], dtype=D64), one, torch.ones(2, 1, dtype=D64))
    with pytest.raises(ValueError, match=r"precision must be \(n, R, R\)"):
        kalman_smoother(sde, torch.tensor([0.1, 0.2], dtype=D64), one, torch.ones(3, 1, dtype=D64))
