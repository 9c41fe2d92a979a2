"""Synthetic hyperspectral images from a linear mixing model: ``X(x, λ) = Σ_j a_j(x) e_j(λ)``, ``j = 1 … J``.

- **Abundances** ``a_j(x)``: a random ``size × size`` crop of the held-out photograph :data:`~zoo.data.images.natural.
  HSI_IMAGE` (scaled to ``side``, as the prior's training crops) is cut into about ``4 J`` SLIC superpixels; each
  superpixel takes one of the ``J`` endmembers (every endmember at least one superpixel), the one-hot maps are
  Gaussian-smoothed (``sigma`` pixels, so materials mix at the borders) and normalised to sum to one per pixel.
- **Endmembers** ``e_j(λ)`` over ``bands`` equally spaced wavelengths ``λ ∈ [0, 1]``: a sum of three Gaussian bumps
  (centres ``U(−0.2, 1.2)``, widths ``U(0.1, 0.4)``, heights ``U(0.2, 1)``) mapped affinely onto ``[lo, hi]`` with
  ``lo ~ U(0.05, 0.45)``, ``hi ~ U(lo + 0.3, 0.95)``: smooth curves in [0.05, 0.95].

Each pixel is a convex combination of the endmembers, so ``X`` lies in [0.05, 0.95] and, as a ``bands × size²``
matrix, has rank at most ``J``: the low-rank structure HIR-Diff's subspace model ``X = E Z`` relies on.
scikit-image is optional (SLIC and the photograph): ``pip install -e ".[inverse]"``.
"""

from __future__ import annotations

import torch
from scipy.ndimage import gaussian_filter
from torch import Tensor

from zoo.data.images.natural import HSI_IMAGE, bundled_image, downscale, random_crops
from zoo.optional import require


def endmember_spectra(count: int, bands: int, generator: torch.Generator) -> Tensor:
    """``count`` smooth random spectra (module doc): ``(count, bands)`` float64 in [0.05, 0.95]."""
    wavelength = torch.linspace(0, 1, bands, dtype=torch.float64)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator, dtype=torch.float64)

    centres, widths = uniform(-0.2, 1.2, count, 3, 1), uniform(0.1, 0.4, count, 3, 1)
    heights = uniform(0.2, 1, count, 3, 1)
    curves = (heights * (-(wavelength - centres).square() / (2 * widths.square())).exp()).sum(1)
    low = uniform(0.05, 0.45, count, 1)
    high = low + 0.3 + (0.65 - low) * uniform(0, 1, count, 1)  # U(lo + 0.3, 0.95)
    smallest, largest = curves.min(1, keepdim=True).values, curves.max(1, keepdim=True).values
    return low + (high - low) * (curves - smallest) / (largest - smallest)


def slic_abundances(image: Tensor, count: int, generator: torch.Generator, sigma: float = 1.5) -> Tensor:
    """Abundance maps of ``count`` endmembers from the SLIC superpixels of an RGB ``image (3, H, W)`` in [0, 1]
    (module doc): ``(count, H, W)`` float64, non-negative, summing to one at every pixel."""
    segmentation = require("skimage.segmentation")
    labels = torch.from_numpy(segmentation.slic(image.permute(1, 2, 0).double().numpy(), n_segments=4 * count,
                                                compactness=10.0, start_label=0, channel_axis=-1))
    segments = int(labels.max()) + 1
    every = torch.randperm(count, generator=generator)  # each endmember on at least one superpixel
    extra = torch.randint(count, (max(segments - count, 0),), generator=generator)
    material = torch.cat([every, extra])[torch.randperm(max(segments, count), generator=generator)][:segments]
    one_hot = (material[labels] == torch.arange(count)[:, None, None]).double()
    smooth = torch.from_numpy(gaussian_filter(one_hot.numpy(), sigma=(0, sigma, sigma), mode="nearest"))
    return smooth / smooth.sum(0, keepdim=True)


def hsi_components(n: int, size: int = 64, bands: int = 31, endmembers: int = 6, side: int = 128,
                   seed: int = 0) -> tuple[Tensor, Tensor]:
    """The abundances ``(n, J, size, size)`` and endmember spectra ``(n, J, bands)`` (float64) of
    :func:`synthetic_hsi`'s ``n`` images, ``J = endmembers``; every image has its own crop and spectra."""
    if min(n, endmembers, bands) < 1:
        raise ValueError(f"n, endmembers and bands must be positive, got n={n}, endmembers={endmembers}, bands={bands}")
    if not 1 <= size <= side:
        raise ValueError(f"the crops must fit the scaled image: need 1 <= size <= side, got size={size}, side={side}")
    generator = torch.Generator().manual_seed(seed)
    crops = random_crops([downscale(bundled_image(HSI_IMAGE), side)], n, size, generator)
    abundances = [slic_abundances(crop, endmembers, generator) for crop in crops]
    spectra = [endmember_spectra(endmembers, bands, generator) for _ in range(n)]
    return torch.stack(abundances), torch.stack(spectra)


def synthetic_hsi(n: int, size: int = 64, bands: int = 31, endmembers: int = 6, side: int = 128,
                  seed: int = 0) -> Tensor:
    """``n`` synthetic hyperspectral images ``X = Σ_j a_j e_j`` (module doc): ``(n, bands, size, size)`` float32 in
    [0, 1]."""
    abundances, spectra = hsi_components(n, size, bands, endmembers, side, seed)
    return torch.einsum("njhw,njb->nbhw", abundances, spectra).float()
