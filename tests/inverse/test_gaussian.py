"""The stationary Gaussian oracle (zoo.inverse.gaussian) against dense Gaussian formulas on 8 × 8 fields, float64,
and its GRF spectrum against zoo/data/pde/solvers/grf.py's covariance."""

import math

import pytest
import torch

from zoo.data.pde.solvers.grf import gaussian_random_field, mode_std
from zoo.functional import VPSchedule
from zoo.inverse.diffusion import check_epsilon_model
from zoo.inverse.gaussian import StationaryGaussianPrior, grf_spectrum
from zoo.inverse.operators import MRIMask

S = 8
N = S * S


def dft(n):
    k = torch.arange(n, dtype=torch.float64)
    return torch.exp(-2j * math.pi * torch.outer(k, k) / n) / math.sqrt(n)


F = torch.kron(dft(S), dft(S))  # orthonormal 2-D DFT on row-major flattened (S, S) images


def dense_covariance(spectrum):
    C = F.conj().T @ torch.diag(spectrum.reshape(-1).to(torch.complex128)) @ F
    assert C.imag.abs().max() < 1e-12
    return C.real


def mirrored(s):
    return s.flip((0, 1)).roll((1, 1), (0, 1))


def random_spectrum(seed=0, zero_modes=True):
    """A positive spectrum symmetric under k → −k, with (optionally) two zero modes."""
    s = torch.rand(S, S, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.1
    s = (s + mirrored(s)) / 2
    if zero_modes:
        s[0, 0] = s[1, 2] = s[-1, -2] = 0.0
    return s


def flat(x):
    return x.reshape(len(x), -1)


class MatrixOperator:
    def __init__(self, matrix):
        self.matrix, self.in_shape, self.out_shape = matrix, (1, S, S), (matrix.shape[0],)

    def A(self, x):
        return flat(x) @ self.matrix.T

    def AH(self, y):
        return (y @ self.matrix).reshape(len(y), 1, S, S)

    def normal(self, x):
        return self.AH(self.A(x))


def test_wiener_denoiser_is_the_posterior_mean_of_x0_given_xt():
    spectrum = random_spectrum()
    prior, C = StationaryGaussianPrior(spectrum), dense_covariance(spectrum)
    x_t = torch.randn(3, 1, S, S, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    alpha_bar = torch.tensor([1e-3, 0.4, 0.999], dtype=torch.float64)
    denoised, eps = prior.denoise(x_t, alpha_bar), prior.epsilon_model(VPSchedule())(x_t, alpha_bar)
    for b, a in enumerate(alpha_bar.tolist()):
        # Cov(x₀, x_t) = √ᾱ C, Cov(x_t) = ᾱC + (1−ᾱ)I
        expected = math.sqrt(a) * C @ torch.linalg.solve(a * C + (1 - a) * torch.eye(N, dtype=torch.float64),
                                                         x_t[b].reshape(-1))
        torch.testing.assert_close(denoised[b].reshape(-1), expected, rtol=0, atol=1e-10)
        torch.testing.assert_close(eps[b].reshape(-1), (x_t[b].reshape(-1) - math.sqrt(a) * expected)
                                   / math.sqrt(1 - a), rtol=0, atol=1e-10)


def test_samples_have_covariance_c():
    """sample = C^{1/2} w with w white: the dense map S from the basis has S Sᵀ = C."""
    spectrum = random_spectrum(seed=2)
    prior = StationaryGaussianPrior(spectrum)
    root = flat(prior.sqrt_cov(torch.eye(N, dtype=torch.float64).reshape(N, 1, S, S))).T
    torch.testing.assert_close(root @ root.T, dense_covariance(spectrum), rtol=0, atol=1e-12)
    x = prior.sample(5, channels=2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 2, S, S) and x.dtype == torch.float64


def dense(op):
    """The real matrix (m, N) of ``op`` on (1, S, S) images: complex outputs as (Re, Im) pairs."""
    columns = op.A(torch.eye(N, dtype=torch.float64).reshape(N, 1, S, S))
    return flat(torch.view_as_real(columns) if columns.is_complex() else columns).T


def measure(op, x, sigma, g):
    """``A x + n``, n with variance σ² per real component of the measured entries (MRI: those in the mask)."""
    y = op.A(x)
    if not y.is_complex():
        return y + sigma * torch.randn(y.shape, generator=g, dtype=y.dtype)
    noise = torch.complex(*torch.randn(2, *y.shape, generator=g, dtype=torch.float64))
    return y + sigma * op.mask * noise


OPERATORS = {"matrix": lambda g: MatrixOperator(torch.randn(20, N, generator=g, dtype=torch.float64) / math.sqrt(N)),
             "mri": lambda g: MRIMask.cartesian(S, acceleration=2, center_fraction=0.25)}


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("zero_modes", [False, True])
def test_posterior_mean_is_the_dense_gaussian_posterior_mean(zero_modes, operator):
    spectrum, sigma, g = random_spectrum(seed=3, zero_modes=zero_modes), 0.05, torch.Generator().manual_seed(4)
    prior, C, op = StationaryGaussianPrior(spectrum), dense_covariance(spectrum), OPERATORS[operator](g)
    y = measure(op, prior.sample(2, generator=g), sigma, g)
    A, y_real = dense(op), flat(torch.view_as_real(y) if y.is_complex() else y)
    mean = flat(prior.posterior_mean(op, y, sigma, iters=200))
    if zero_modes:  # C singular: the covariance form C Aᵀ (A C Aᵀ + σ² I)⁻¹ y
        expected = (C @ A.T @ torch.linalg.solve(A @ C @ A.T + sigma ** 2 * torch.eye(len(A), dtype=torch.float64),
                                                 y_real.T)).T
    else:  # the information form (AᵀA/σ² + C⁻¹)⁻¹ Aᵀy/σ²
        expected = torch.linalg.solve(A.T @ A / sigma ** 2 + torch.linalg.inv(C), A.T @ y_real.T / sigma ** 2).T
    torch.testing.assert_close(mean, expected, rtol=0, atol=1e-8)


def test_grf_spectrum_is_grf_modules_covariance():
    """The dense C of grf_spectrum equals grf.py's kernel Σ_k μ_k cos(2πk·(x − x')), μ_k = mode_std², exactly, and
    the covariance of grf.py's periodic samples within Monte-Carlo error."""
    alpha, tau, sigma = 2.0, 3.0, 5.0
    C = dense_covariance(grf_spectrum(S, alpha, tau, sigma))
    k = torch.fft.fftfreq(S, d=1.0 / S, dtype=torch.float64)
    k1, k2 = torch.meshgrid(k, k, indexing="ij")
    mu = torch.as_tensor(mode_std((k1 ** 2 + k2 ** 2).numpy(), alpha, tau, sigma, 2 * math.pi)) ** 2
    points = torch.stack(torch.meshgrid(*[torch.arange(S, dtype=torch.float64) / S] * 2, indexing="ij"), -1)
    diff = points.reshape(-1, 1, 2) - points.reshape(1, -1, 2)  # (N, N, 2)
    kernel = (mu.reshape(-1) * torch.cos(2 * math.pi * diff @ torch.stack([k1, k2], -1).reshape(-1, 2).T)).sum(-1)
    torch.testing.assert_close(C, kernel, rtol=1e-12, atol=0)

    fields = flat(gaussian_random_field(20000, S, alpha=alpha, tau=tau, sigma=sigma, seed=0))
    empirical = fields.T @ fields / len(fields)
    assert (empirical - C).abs().max() < 0.05 * C.diagonal().mean()


def test_oracle_is_an_epsilon_model_and_bad_input_is_refused():
    prior = StationaryGaussianPrior(grf_spectrum(S, 2.0, 3.0, 1.0))
    check_epsilon_model(prior.epsilon_model(VPSchedule()))
    with pytest.raises(ValueError, match="symmetric under k -> -k"):
        StationaryGaussianPrior(torch.rand(S, S, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    with pytest.raises(ValueError, match=">= 0"):
        StationaryGaussianPrior(-random_spectrum())
    with pytest.raises(ValueError, match=r"do not fit the prior's \(H, W\) = \(8, 8\)"):
        prior.denoise(torch.zeros(1, 1, S, S + 1, dtype=torch.float64), 0.5)
    with pytest.raises(ValueError, match="alpha > 1"):
        grf_spectrum(S, 1.0, 3.0, 1.0)
