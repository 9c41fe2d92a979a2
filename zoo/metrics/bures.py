"""Bures–Wasserstein metrics of the entropic-OT benchmark (Gushchin et al., NeurIPS 2023), as LightSB reports them.

The squared 2-Wasserstein distance between Gaussians ``N(m1, Σ1)`` and ``N(m2, Σ2)`` is::

    BW²₂ = ‖m1 − m2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ2^{½} Σ1 Σ2^{½})^{½}

(matrix square roots by symmetric eigendecomposition; the last trace is the sum of the square roots of the
eigenvalues of ``Σ2^{½} Σ1 Σ2^{½}``). A distribution is compared by its first two moments ("BW-UVP",
unexplained variance percentage):

- **BW²₂-UVP** of a marginal: ``100 · BW²₂(moments of the samples, moments of p1) / tr Cov(p1)``.
- **cBW²₂-UVP** of a conditional plan: for test inputs ``x_i``, the BW²₂ between the moments of the model's
  samples of ``x1 | x_i`` and the true conditional moments, averaged over ``i``, ``· 100 / tr Cov(p1)``;
  :func:`cbw2_uvp_moments` takes the model's exact conditional moments instead of samples.

The benchmark writes ``½BW²₂ / (½ tr Cov(p1))``, the same number. Everything runs batched, in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_moments(mean: Tensor, cov: Tensor, name: str) -> None:
    if mean.dim() < 1 or cov.shape != (*mean.shape, mean.shape[-1]):
        raise ValueError(f"{name}: expected a mean (..., D) and a covariance (..., D, D), got {tuple(mean.shape)} "
                         f"and {tuple(cov.shape)}")


def psd_sqrt(matrix: Tensor) -> Tensor:
    """The symmetric square root of positive semi-definite matrices ``(..., D, D)`` (eigenvalues clamped at 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)


def bures_wasserstein_squared(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> Tensor:
    """``BW²₂(N(mean1, cov1), N(mean2, cov2))`` for means ``(..., D)`` and covariances ``(..., D, D)``
    (batch dimensions broadcast): ``(...)`` in float64."""
    _check_moments(mean1, cov1, "first Gaussian")
    _check_moments(mean2, cov2, "second Gaussian")
    mean1, cov1, mean2, cov2 = (tensor.double() for tensor in (mean1, cov1, mean2, cov2))
    root2 = psd_sqrt(cov2)
    cross = torch.linalg.eigvalsh(root2 @ cov1 @ root2).clamp_min(0).sqrt().sum(-1)
    trace = torch.diagonal(cov1, dim1=-2, dim2=-1).sum(-1) + torch.diagonal(cov2, dim1=-2, dim2=-1).sum(-1)
    return ((mean1 - mean2).square().sum(-1) + trace - 2 * cross).clamp_min(0)


def sample_moments(samples: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(..., D)`` and unbiased covariance ``(..., D, D)`` of ``samples (..., n, D)``, in float64."""
    if samples.dim() < 2 or samples.shape[-2] < 2:
        raise ValueError(f"need samples of shape (..., n, D) with n >= 2, got {tuple(samples.shape)}")
    samples = samples.double()
    mean = samples.mean(-2)
    centred = samples - mean.unsqueeze(-2)
    return mean, centred.transpose(-1, -2) @ centred / (samples.shape[-2] - 1)


def bw2_uvp(samples: Tensor, mean: Tensor, cov: Tensor, target_variance: float | None = None) -> float:
    """BW²₂-UVP (%) of ``samples (n, D)`` against a target with moments ``mean (D,)``, ``cov (D, D)``; the
    normaliser ``target_variance`` defaults to ``tr cov``."""
    estimate = sample_moments(samples)
    variance = float(torch.trace(cov.double())) if target_variance is None else float(target_variance)
    return 100 * float(bures_wasserstein_squared(*estimate, mean, cov)) / variance


def cbw2_uvp(samples: Tensor, means: Tensor, covs: Tensor, target_variance: float) -> float:
    """cBW²₂-UVP (%): ``samples (n_inputs, n_samples, D)`` of the model's ``x1 | x_i``, the true conditional
    ``means (n_inputs, D)`` and ``covs (n_inputs, D, D)``, and ``target_variance = tr Cov(p1)``."""
    if samples.dim() != 3 or samples.shape[0] != means.shape[0]:
        raise ValueError(f"samples must be (n_inputs, n_samples, D) with n_inputs = {means.shape[0]}, got "
                         f"{tuple(samples.shape)}")
    return cbw2_uvp_moments(*sample_moments(samples), means, covs, target_variance)


def cbw2_uvp_moments(model_means: Tensor, model_covs: Tensor, means: Tensor, covs: Tensor,
                     target_variance: float) -> float:
    """cBW²₂-UVP (%) from the model's own conditional moments ``(n_inputs, D)``, ``(n_inputs, D, D)`` (exact,
    where the model has them in closed form): the limit of :func:`cbw2_uvp` as ``n_samples`` grows. With ``n``
    exact samples of an isotropic conditional ``Σ``, :func:`cbw2_uvp` is biased up by about
    ``100 (1 + (D + 1)/4) tr Σ / (n tr Cov(p1))`` (mean error ``tr Σ/n``, covariance error ``D(D+1)σ²/4n``)."""
    return 100 * float(bures_wasserstein_squared(model_means, model_covs, means, covs).mean()) / float(target_variance)
