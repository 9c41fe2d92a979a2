"""An exact prior for diffusion solvers: a stationary Gaussian field, whose every posterior is in closed form.

``x ~ N(0, C)`` on an ``H × W`` periodic grid, ``C = Fᴴ diag(λ) F`` with ``F`` the orthonormal 2-D DFT and ``λ``
the ``(H, W)`` spectrum (real, ≥ 0, ``λ[k] = λ[−k]`` so that the field is real). Everything below is diagonal in
Fourier:

- the denoiser (Tweedie's optimum) ``E[x₀ | x_t] = √ᾱ C (ᾱC + (1−ᾱ)I)⁻¹ x_t``, a Wiener filter with gain
  ``√ᾱ λ / (ᾱλ + 1 − ᾱ)``, and the matching ε-model ``ε = (x_t − √ᾱ E[x₀|x_t]) / √(1−ᾱ)``, gain
  ``√(1−ᾱ) / (ᾱλ + 1 − ᾱ)`` (:class:`WienerEpsilon`), which makes any diffusion sampler run on the exact score;
- the posterior mean of ``y = A x + n``, ``n`` with variance σ_y² per real component:
  ``(AᴴA/σ_y² + C⁻¹)⁻¹ Aᴴy/σ_y²``, solved by CG in the whitened variable ``x = C^{1/2} u``:
  ``(C^{1/2} AᴴA C^{1/2}/σ_y² + I) u = C^{1/2} Aᴴy/σ_y²``, which needs no ``C⁻¹`` (zero modes are allowed) and has
  eigenvalues ≥ 1.

:func:`grf_spectrum` gives the periodic Gaussian random field of ``zoo/data/pde/solvers/grf.py``,
``C = σ²(−Δ + τ²)^(−α)`` on the unit square, as such a spectrum.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.inverse.cg import cg
from zoo.inverse.diffusion import per_sample


def grf_spectrum(size: int, alpha: float, tau: float, sigma: float) -> Tensor:
    """``(size, size)`` float64: the eigenvalues, in the orthonormal DFT basis, of the covariance matrix of a periodic
    GRF's grid values ``x_j = j/size``: ``N σ² (4π²|k|² + τ²)^(−α)``, ``N = size²``, for ``k`` in the FFT box, and 0
    for ``k = 0`` (the constant mode is dropped). ``σ²(4π²|k|² + τ²)^(−α)`` are the covariance operator's
    eigenvalues; the factor N appears because grid values are point evaluations of the Karhunen–Loève series in the
    unnormalised modes ``e^{2πik·x}``. The pixel variance is ``spectrum.mean()``."""
    if not alpha > 1 or not tau >= 0 or not sigma >= 0:
        raise ValueError(f"need alpha > 1 (finite variance in 2-D), tau >= 0, sigma >= 0; got {alpha}, {tau}, {sigma}")
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)
    k_sq = k[:, None] ** 2 + k[None, :] ** 2
    spectrum = size ** 2 * sigma ** 2 * (4 * math.pi ** 2 * k_sq + tau ** 2) ** (-alpha)
    spectrum[0, 0] = 0.0
    return spectrum


class StationaryGaussianPrior:
    """``N(0, C)`` with ``C = Fᴴ diag(spectrum) F``; images ``(B, C, H, W)`` (channels independent, one spectrum).

    Args:
        spectrum: ``(H, W)`` real, ≥ 0, with ``spectrum[k] = spectrum[−k mod (H, W)]``.
    """

    def __init__(self, spectrum: Tensor):
        spectrum = torch.as_tensor(spectrum)
        if spectrum.dim() != 2 or not spectrum.is_floating_point():
            raise ValueError(f"spectrum must be a real (H, W) tensor, got {spectrum.dtype} of shape "
                             f"{tuple(spectrum.shape)}")
        if not torch.isfinite(spectrum).all() or (spectrum < 0).any():
            raise ValueError("spectrum must be finite and >= 0 (the eigenvalues of a covariance)")
        mirrored = spectrum.flip((0, 1)).roll((1, 1), (0, 1))
        if not torch.allclose(spectrum, mirrored, rtol=1e-10, atol=1e-12 * float(spectrum.max())):
            raise ValueError("spectrum must be symmetric under k -> -k (spectrum[k] = spectrum[-k mod (H, W)]) for "
                             "the field to be real: symmetrise it, e.g. (s + s.flip((0, 1)).roll((1, 1), (0, 1))) / 2")
        self.spectrum = spectrum

    def fourier_multiply(self, x: Tensor, gain: Tensor) -> Tensor:
        """``Fᴴ diag(gain) F x`` for ``x`` ``(..., H, W)`` real and a gain broadcasting against ``(..., H, W)``."""
        if tuple(x.shape[-2:]) != tuple(self.spectrum.shape):
            raise ValueError(f"images of shape {tuple(x.shape)} do not fit the prior's (H, W) = "
                             f"{tuple(self.spectrum.shape)}")
        return torch.fft.ifft2(gain * torch.fft.fft2(x, norm="ortho"), norm="ortho").real

    def _spectrum(self, x: Tensor) -> Tensor:
        return self.spectrum.to(dtype=x.dtype, device=x.device)

    def sqrt_cov(self, x: Tensor) -> Tensor:
        """``C^{1/2} x``, ``(..., H, W)``."""
        return self.fourier_multiply(x, self._spectrum(x).sqrt())

    def sample(self, n: int, channels: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """``(n, channels, H, W)`` draws, in the spectrum's dtype."""
        white = torch.randn(n, channels, *self.spectrum.shape, generator=generator, dtype=self.spectrum.dtype,
                            device=self.spectrum.device)
        return self.sqrt_cov(white)

    def _gains(self, x_t: Tensor, alpha_bar) -> tuple[Tensor, Tensor]:
        """``(ᾱ, ᾱλ + 1 − ᾱ)``, shaped ``(B, 1, 1, 1)`` and ``(B, 1, H, W)``."""
        a = per_sample(alpha_bar, x_t).view(-1, 1, 1, 1)
        return a, a * self._spectrum(x_t) + 1 - a

    def denoise(self, x_t: Tensor, alpha_bar) -> Tensor:
        """``E[x₀ | x_t] = √ᾱ C (ᾱC + (1−ᾱ)I)⁻¹ x_t``, ``(B, C, H, W)``; ``alpha_bar`` a float or ``(B,)``."""
        a, denominator = self._gains(x_t, alpha_bar)
        return self.fourier_multiply(x_t, a.sqrt() * self._spectrum(x_t) / denominator)

    def epsilon(self, x_t: Tensor, alpha_bar) -> Tensor:
        """``E[ε | x_t] = (x_t − √ᾱ E[x₀|x_t]) / √(1−ᾱ) = √(1−ᾱ) (ᾱC + (1−ᾱ)I)⁻¹ x_t``, ``(B, C, H, W)``."""
        a, denominator = self._gains(x_t, alpha_bar)
        return self.fourier_multiply(x_t, (1 - a).sqrt() / denominator)

    def epsilon_model(self, schedule) -> WienerEpsilon:
        """The exact ε-model of this prior, carrying ``schedule`` (any object with ``subsequence``)."""
        return WienerEpsilon(self, schedule)

    def posterior_mean(self, op, y: Tensor, sigma_y: float, iters: int = 1000, tol: float | None = 1e-12) -> Tensor:
        """``(AᴴA/σ_y² + C⁻¹)⁻¹ Aᴴy/σ_y²``, ``(B, *op.in_shape)``, by ``iters`` CG steps (from 0) on the whitened
        system of the module docstring; ``tol`` is passed to :func:`zoo.inverse.cg`."""
        if not sigma_y > 0:
            raise ValueError(f"sigma_y must be > 0, got {sigma_y!r}")
        rhs = self.sqrt_cov(op.AH(y)) / sigma_y ** 2

        def whitened_normal(u: Tensor) -> Tensor:
            return u + self.sqrt_cov(op.normal(self.sqrt_cov(u))) / sigma_y ** 2

        return self.sqrt_cov(cg(whitened_normal, rhs, torch.zeros_like(rhs), iters, tol=tol))


class WienerEpsilon(nn.Module):
    """The ε-model of a :class:`StationaryGaussianPrior`: ``forward(x_t: (B, C, H, W), alpha_bar: (B,)) -> ε
    (B, C, H, W)`` = ``E[ε | x_t]``, with ``schedule`` for the samplers. No parameters."""

    def __init__(self, prior: StationaryGaussianPrior, schedule):
        super().__init__()
        self.prior, self.schedule = prior, schedule

    def forward(self, x_t: Tensor, alpha_bar: Tensor) -> Tensor:
        return self.prior.epsilon(x_t, alpha_bar)
