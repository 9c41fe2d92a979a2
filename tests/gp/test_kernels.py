"""GP-HM's spectral-mixture kernels: derivatives against autograd, values at d = 0 against the closed forms, the
SE mixture's spectral density against its Fourier transform; float64."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.gp.kernels import spectral_mixture

D64 = torch.float64
PARAMETERS = dict(weights=torch.tensor([0.3, 1.2], dtype=D64), frequencies=torch.tensor([2.0, 15.9], dtype=D64),
                  inverse_lengthscales=torch.tensor([4.0, 0.7], dtype=D64))


@pytest.mark.parametrize("base", ["se", "matern52"])
def test_the_derivatives_equal_autograd(base):
    x1 = torch.tensor([0.13, -0.4, 0.9], dtype=D64)
    x2 = torch.tensor([0.5, 0.05], dtype=D64)        # no d = 0: |d| has no derivative there for autograd

    def k(x: torch.Tensor) -> torch.Tensor:
        return spectral_mixture(x, x2, base=base, **PARAMETERS)

    jac = torch.autograd.functional.jacobian(k, x1)                                    # (3, 2, 3)
    hess = torch.stack([torch.autograd.functional.hessian(lambda t, j=j: k(t)[:, j].sum(), x1).diagonal()
                        for j in range(len(x2))], dim=1)                              # (3, 2)
    torch.testing.assert_close(spectral_mixture(x1, x2, base=base, derivative=1, **PARAMETERS),
                               torch.einsum("iji->ij", jac), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(spectral_mixture(x1, x2, base=base, derivative=2, **PARAMETERS), hess,
                               rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("base", ["se", "matern52"])
def test_the_values_at_zero_lag(base):
    x = torch.zeros(1, dtype=D64)
    w, mu, a = PARAMETERS.values()
    torch.testing.assert_close(spectral_mixture(x, x, base=base, **PARAMETERS)[0, 0], w.sum())
    torch.testing.assert_close(spectral_mixture(x, x, base=base, derivative=1, **PARAMETERS)[0, 0],
                               torch.tensor(0.0, dtype=D64))
    kappa2 = -2 * a if base == "se" else -5 * a**2 / 3
    torch.testing.assert_close(spectral_mixture(x, x, base=base, derivative=2, **PARAMETERS)[0, 0],
                               (w * (kappa2 - (2 * math.pi * mu) ** 2)).sum())


def test_the_se_mixture_has_the_gaussian_mixture_spectral_density():
    """``∫ k(d) e^{−2πi s d} dd = Σ_q w_q √(π/a_q)/2 [e^{−π²(s−μ_q)²/a_q} + e^{−π²(s+μ_q)²/a_q}]``, by quadrature."""
    d = torch.linspace(-30, 30, 240001, dtype=D64)
    k = spectral_mixture(d, torch.zeros(1, dtype=D64), **PARAMETERS)[:, 0]
    w, mu, a = PARAMETERS.values()
    for s in (0.0, 2.0, 15.9, 7.0):
        numeric = torch.trapezoid(k * torch.cos(2 * math.pi * s * d), d)
        exact = (w * torch.sqrt(math.pi / a) / 2 * (torch.exp(-math.pi**2 * (s - mu) ** 2 / a)
                                                    + torch.exp(-math.pi**2 * (s + mu) ** 2 / a))).sum()
        torch.testing.assert_close(numeric, exact, rtol=1e-8, atol=1e-10)


def test_bad_options_are_clear_errors():
    x = torch.zeros(2, dtype=D64)
    with pytest.raises(ValueError, match="base='rbf'"):
        spectral_mixture(x, x, base="rbf", **PARAMETERS)
    with pytest.raises(ValueError, match="derivative=3"):
        spectral_mixture(x, x, derivative=3, **PARAMETERS)
