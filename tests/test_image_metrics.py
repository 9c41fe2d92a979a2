"""PSNR, SSIM and SAM in float64 against scikit-image and closed forms."""

import math

import numpy as np
import pytest
import torch
from skimage import metrics  # the [inverse] extra ([dev] holds it)

from zoo.metrics import psnr, spectral_angle, ssim


def _pair(channels: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    truth = torch.rand(2, channels, 24, 20, generator=generator, dtype=torch.float64)
    return (truth + 0.1 * torch.randn(truth.shape, generator=generator, dtype=torch.float64)).clamp(0, 1), truth


def test_psnr_is_scikit_images_per_channel_mean():
    x, truth = _pair()
    expected = [np.mean([metrics.peak_signal_noise_ratio(t.numpy(), e.numpy(), data_range=1.0)
                         for t, e in zip(truth[b], x[b])]) for b in range(2)]
    torch.testing.assert_close(psnr(x, truth), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_psnr_of_a_constant_error_is_the_closed_form():
    truth = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    assert psnr(truth + 0.1, truth).item() == pytest.approx(20.0, abs=1e-10)  # 10 log10(1 / 0.01)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_is_scikit_images_gaussian_ssim(channels):
    x, truth = _pair(channels)
    expected = [metrics.structural_similarity(truth[b].numpy(), x[b].numpy(), data_range=1.0, channel_axis=0,
                                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
                for b in range(2)]
    torch.testing.assert_close(ssim(x, truth), torch.tensor(expected, dtype=torch.float64), rtol=1e-10, atol=1e-10)
    assert ssim(truth, truth).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)


def test_spectral_angle_closed_form():
    truth = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    truth[:, 0] = 1.0
    rotated = torch.zeros_like(truth)
    rotated[:, 0], rotated[:, 1] = math.cos(0.3), math.sin(0.3)
    assert spectral_angle(rotated, truth).item() == pytest.approx(math.degrees(0.3), abs=1e-10)
    assert spectral_angle(3 * truth, truth).item() == pytest.approx(0.0, abs=1e-6)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        psnr(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
