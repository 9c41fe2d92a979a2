"""Image-restoration metrics: PSNR, SSIM (Wang et al. 2004) and the spectral angle (SAM), on ``(B, C, H, W)`` images.

All are computed on the images as given: no per-image min-max normalisation (the DDS reference normalises both
images before its PSNR, which flatters it). ``data_range`` is the range of the true images (1 for images in
[0, 1]). For a multi-channel image the per-channel PSNR / SSIM values are averaged, which for a hyperspectral image
is the MPSNR / MSSIM that HSI papers report.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(x: torch.Tensor, reference: torch.Tensor) -> None:
    if x.shape != reference.shape or x.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W) and of one shape: got {tuple(x.shape)} and "
                         f"{tuple(reference.shape)}")


def psnr(x: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """``(B,)``: the mean over channels of ``10 log10(data_range² / MSE_c)``, ``MSE_c`` the mean squared error of
    channel ``c`` over its pixels."""
    _check(x, reference)
    mse = (x - reference).square().mean(dim=(2, 3))
    return (10 * torch.log10(data_range ** 2 / mse)).mean(1)


def _gaussian_window(sigma: float, truncate: float, dtype: torch.dtype, device) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    window = torch.exp(-offsets.square() / (2 * sigma ** 2))
    return window / window.sum()


def ssim(x: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """``(B,)``: the mean over channels of the mean SSIM map with Gaussian weights (σ = 1.5, an 11 × 11 window),
    population (co)variances and ``C_i = (k_i · data_range)²``, over the pixels whose window lies inside the image:
    the definition of scikit-image's ``structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False)``."""
    _check(x, reference)
    B, C, H, W = x.shape
    window = _gaussian_window(sigma, truncate=3.5, dtype=x.dtype, device=x.device)
    if min(H, W) < len(window):
        raise ValueError(f"ssim needs images of at least {len(window)} × {len(window)} pixels, got {H} × {W}")

    def blur(image: torch.Tensor) -> torch.Tensor:
        flat = image.reshape(B * C, 1, H, W)
        flat = F.conv2d(flat, window.view(1, 1, -1, 1))
        return F.conv2d(flat, window.view(1, 1, 1, -1)).view(B, C, H - len(window) + 1, W - len(window) + 1)

    mu_x, mu_y = blur(x), blur(reference)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(reference * reference) - mu_y.square()
    cov = blur(x * reference) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(2, 3)).mean(1)


def spectral_angle(x: torch.Tensor, reference: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``(B,)``: SAM, the mean over pixels of the angle in degrees between the spectra ``x[b, :, i, j]`` and
    ``reference[b, :, i, j]``."""
    _check(x, reference)
    cosine = (x * reference).sum(1) / (x.norm(dim=1) * reference.norm(dim=1)).clamp_min(eps)
    return torch.rad2deg(torch.arccos(cosine.clamp(-1, 1))).mean(dim=(1, 2))

