"""Gaussian random fields: sample statistics against the covariance sigma^2 (-Delta + tau^2)^(-alpha)."""

import math

import numpy as np
import pytest
import torch

from zoo.data.pde.solvers import gaussian_random_field


def periodic_eigenvalues(size: int, dim: int, alpha: float, tau: float, sigma: float) -> np.ndarray:
    """mu_k = sigma^2 (4 pi^2 |k|^2 + tau^2)^(-alpha) on the FFT box, with mu_0 = 0."""
    k = np.fft.fftfreq(size, d=1.0 / size)
    k_sq = sum(kk**2 for kk in np.meshgrid(*([k] * dim), indexing="ij"))
    mu = sigma**2 * (4 * math.pi**2 * k_sq + tau**2) ** (-alpha)
    mu[(0,) * dim] = 0.0
    return mu


@pytest.mark.parametrize("dim,alpha,tau,sigma,size", [
    (2, 2.5, 7.0, 7.0**1.5, 8),    # Navier-Stokes (without FNO's sqrt(2)); sigma = tau^(alpha - 1) is the default
    (1, 2.5, 7.0, 49.0, 16),       # Burgers
])
def test_periodic_spectrum_matches_the_covariance(dim, alpha, tau, sigma, size):
    n = 4000
    u = gaussian_random_field(n, size, dim=dim, alpha=alpha, tau=tau, sigma=sigma, boundary="periodic", seed=0)
    assert u.shape == (n,) + (size,) * dim and u.dtype == torch.float64
    # E |(1/N) sum_j u(x_j) e^{-2 pi i k.x_j}|^2 = mu_k for a real field with kernel sum_k mu_k e^{2 pi i k.(x - y)}
    coefficients = np.fft.fftn(u.numpy(), axes=tuple(range(1, dim + 1))) / size**dim
    power = (np.abs(coefficients) ** 2).mean(0)
    mu = periodic_eigenvalues(size, dim, alpha, tau, sigma)
    assert power[(0,) * dim] < 1e-25  # the constant mode is dropped: every sample has mean zero
    nonzero = mu > 0
    np.testing.assert_allclose(power[nonzero], mu[nonzero], rtol=0.1)  # 4000 samples: ~1.6 % per mode
    # the pointwise variance is the trace sum_k mu_k
    np.testing.assert_allclose(u.numpy().var(0).mean(), mu.sum(), rtol=0.03)


def test_periodic_default_sigma_is_fnos():
    one = gaussian_random_field(3, 8, dim=1, alpha=2.5, tau=7.0, seed=5)
    explicit = gaussian_random_field(3, 8, dim=1, alpha=2.5, tau=7.0, sigma=49.0, seed=5)  # tau^(alpha - 1/2)
    torch.testing.assert_close(one, explicit, rtol=0, atol=0)


def neumann_basis(size: int) -> tuple[np.ndarray, np.ndarray]:
    """phi_k(x_j) = sqrt(2) cos(pi k x_j) (1 for k = 0) on x_j = j / (size - 1), and k."""
    x = np.linspace(0, 1, size)
    k = np.arange(size)
    phi = np.sqrt(2) * np.cos(np.pi * x[:, None] * k[None, :])
    phi[:, 0] = 1
    return phi, k


def test_neumann_1d_covariance_matrix():
    size, alpha, tau, n = 9, 2.0, 3.0, 20000
    u = gaussian_random_field(n, size, dim=1, alpha=alpha, tau=tau, boundary="neumann", seed=1).numpy()
    phi, k = neumann_basis(size)
    mu = tau ** (2 * alpha - 1) * (math.pi**2 * k**2 + tau**2) ** (-alpha)  # sigma^2 = tau^(2 alpha - 1) for d = 1
    mu[0] = 0
    expected = (phi * mu) @ phi.T  # C(x_i, x_j) = sum_k mu_k phi_k(x_i) phi_k(x_j)
    empirical = u.T @ u / n
    assert np.abs(empirical - expected).max() < 0.06 * expected.max()  # 20000 samples: ~1 % std


def test_neumann_2d_variance_has_darcys_amplitude():
    size, alpha, tau, n = 9, 2.0, 3.0, 4000
    u = gaussian_random_field(n, size, dim=2, alpha=alpha, tau=tau, boundary="neumann", seed=2).numpy()
    phi, k = neumann_basis(size)
    # Darcy's covariance tau^(2 alpha - 2) (-Delta + tau^2)^(-alpha) with eigenvalues pi^2 |k|^2
    mu = tau ** (2 * alpha - 2) * (math.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2) ** (-alpha)
    mu[0, 0] = 0
    variance = np.einsum("ik,jl,kl->ij", phi**2, phi**2, mu)  # Var u(x_i, y_j)
    np.testing.assert_allclose(u.var(0), variance, rtol=0.15)  # 4000 samples: ~2 % std per node


def test_seeding_is_reproducible():
    a = gaussian_random_field(2, 8, seed=3)
    torch.testing.assert_close(a, gaussian_random_field(2, 8, seed=np.random.default_rng(3)), rtol=0, atol=0)
    assert not torch.equal(a, gaussian_random_field(2, 8, seed=4))


@pytest.mark.parametrize("kwargs,message", [
    (dict(alpha=1.0), "alpha must exceed dim/2 = 1.0"),
    (dict(boundary="dirichlet"), "boundary must be one of"),
    (dict(size=2), "size must be an int >= 3"),
    (dict(dim=3), "dim must be 1 or 2"),
    (dict(n_samples=0), "n_samples must be a positive int"),
    (dict(seed="a"), "seed must be an int"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    arguments = dict(n_samples=2, size=8) | kwargs
    with pytest.raises(ValueError, match=message):
        gaussian_random_field(**arguments)
