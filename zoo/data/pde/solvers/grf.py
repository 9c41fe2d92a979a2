"""Gaussian random fields on the unit interval / square: the input distributions of FNO's data sets.

A field is a mean-zero Gaussian with covariance operator

    C = sigma^2 (-Delta + tau^2 I)^(-alpha)

on ``[0, 1]^d`` (``d`` = 1 or 2) with periodic or zero-Neumann boundary conditions. It is drawn from its
Karhunen-Loeve expansion over the Laplacian's eigenfunctions phi_k (orthonormal in L^2, eigenvalues
lambda_k),

    u(x) = sum_k sigma (lambda_k + tau^2)^(-alpha/2) xi_k phi_k(x),   xi_k ~ N(0, 1) i.i.d.,

truncated to the modes the grid resolves. The constant mode is dropped, as FNO's generators do, so fields
have mean zero. ``sigma=None`` means ``tau^(alpha - d/2)``, FNO's default, which makes the Darcy
covariance the notes' ``tau^(2 alpha - 2) (-Delta + tau^2)^(-alpha)`` (``d = 2``) and the Burgers one
``49^2 (-Delta + 49)^(-2.5)`` for ``tau = 7`` (``d = 1``).

Grids (``s`` points per axis, see :func:`grid`):

- ``periodic``: ``x_j = j / s``, ``j = 0..s-1``; eigenfunctions ``exp(2 pi i k.x)``, ``lambda_k = 4 pi^2 |k|^2``
  for ``k`` in the FFT box ``-s/2 <= k_i < s/2``. Drawn as the real part of an inverse FFT of complex
  white noise: ``Re(z e^{i theta_k(x)})`` with ``z = a + ib``, ``a, b ~ N(0, 1)``, has covariance
  ``cos(theta_k(x) - theta_k(y))``, so each ``k`` contributes ``mu_k cos(2 pi k.(x - y))`` to the kernel, which
  is exactly ``C``'s kernel ``sum_k mu_k exp(2 pi i k.(x - y))`` (``mu_k = mu_{-k}``).
- ``neumann``: ``x_j = j / (s - 1)`` (nodes including both ends); eigenfunctions products of
  ``sqrt(2) cos(pi k x)`` (``1`` for ``k = 0``), ``k = 0..s-1``, ``lambda_k = pi^2 |k|^2``: a type-I cosine
  transform, written as a product with the ``(s, s)`` basis matrix. FNO's ``GRF.m`` (Darcy) evaluates the
  same series at the cell centres ``(j + 1/2) / s`` through an orthonormal inverse DCT-II and then
  interpolates to the nodes; here the series is evaluated at the nodes directly.

Shapes: :func:`gaussian_random_field` returns ``(n_samples, s)`` or ``(n_samples, s, s)`` (axis 1 is x);
float64 by default. Seeding: ``seed`` is an int, a ``numpy.random.Generator`` or None (fresh entropy).

Amplitude note: FNO's 2-D torch sampler (``random_fields.py``, the Navier-Stokes data) multiplies complex
unit normals by ``sqrt(2) sigma (...)``, which is ``sqrt(2)`` times the field above; its 1-D MATLAB sampler
(Burgers) and ``GRF.m`` (Darcy) match the covariance above exactly. The Navier-Stokes datamodule passes
``sigma = sqrt(2) tau^(alpha - 1)`` to reproduce FNO's vorticity amplitude.
"""

from __future__ import annotations

import math

import numpy as np
import torch

BOUNDARIES = ("periodic", "neumann")


def as_generator(seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int, a Generator (returned as is) or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")


def default_sigma(alpha: float, tau: float, dim: int) -> float:
    """FNO's default amplitude ``tau^(alpha - dim/2)``."""
    return float(tau) ** (float(alpha) - dim / 2.0)


def grid(size: int, boundary: str = "periodic") -> np.ndarray:
    """The 1-D grid ``(size,)`` a field of this boundary type lives on (see the module docstring)."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if boundary == "periodic":
        return np.arange(size) / size
    return np.linspace(0.0, 1.0, size)


def _check(n_samples, size, dim, alpha, tau, sigma, boundary) -> None:
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    if not isinstance(size, (int, np.integer)) or size < 3:
        raise ValueError(f"size must be an int >= 3, got {size!r}")
    if not alpha > dim / 2.0:
        raise ValueError(f"alpha must exceed dim/2 = {dim / 2} for a field with finite variance, got {alpha!r}")
    if not tau >= 0:
        raise ValueError(f"tau must be >= 0, got {tau!r}")
    if sigma is not None and not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 or None, got {sigma!r}")


def mode_std(wavenumbers_sq: np.ndarray, alpha: float, tau: float, sigma: float, scale: float) -> np.ndarray:
    """``sigma (scale^2 |k|^2 + tau^2)^(-alpha/2)``, with the constant mode (``|k| = 0``) set to zero."""
    with np.errstate(divide="ignore"):
        std = sigma * (scale**2 * wavenumbers_sq + tau**2) ** (-alpha / 2.0)
    return np.where(wavenumbers_sq == 0, 0.0, std)


def gaussian_random_field(n_samples: int, size: int, dim: int = 2, alpha: float = 2.0, tau: float = 3.0,
                          sigma: float | None = None, boundary: str = "periodic", seed=None,
                          dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n_samples`` draws of the field: ``(n_samples, size)`` (``dim=1``) or ``(n_samples, size, size)``."""
    _check(n_samples, size, dim, alpha, tau, sigma, boundary)
    rng = as_generator(seed)
    sigma = default_sigma(alpha, tau, dim) if sigma is None else float(sigma)
    shape = (size,) * dim
    if boundary == "periodic":
        k = np.fft.fftfreq(size, d=1.0 / size)
        k_sq = sum(kk**2 for kk in np.meshgrid(*([k] * dim), indexing="ij"))
        std = mode_std(k_sq, alpha, tau, sigma, 2 * math.pi)
        noise = rng.standard_normal((n_samples, *shape)) + 1j * rng.standard_normal((n_samples, *shape))
        field = np.fft.ifftn(std * noise, axes=tuple(range(1, dim + 1))).real * size**dim
    else:
        k = np.arange(size)
        phi = np.sqrt(2.0) * np.cos(np.pi * np.outer(grid(size, "neumann"), k))  # (size, modes)
        phi[:, 0] = 1.0
        if dim == 1:
            std = mode_std(k.astype(float) ** 2, alpha, tau, sigma, math.pi)
            field = (rng.standard_normal((n_samples, size)) * std) @ phi.T
        else:
            std = mode_std(k[:, None].astype(float) ** 2 + k[None, :] ** 2, alpha, tau, sigma, math.pi)
            field = phi @ (rng.standard_normal((n_samples, size, size)) * std) @ phi.T
    return torch.as_tensor(np.ascontiguousarray(field), dtype=dtype)
