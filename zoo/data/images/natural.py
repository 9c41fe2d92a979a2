"""RGB crops of scikit-image's bundled photographs (none needs a download): the data of the 3-channel image prior.

Each image is scaled (antialiased bilinear) so that its shorter side is ``side`` pixels, then random ``size × size``
crops are cut from it, each mirrored left-right with probability ½; every crop draws its image uniformly. The prior
trains on :data:`TRAIN_IMAGES`; two images are held out: :data:`TEST_IMAGE` (chelsea, the cat) gives the test
crops and :data:`HSI_IMAGE` (coffee) the abundance maps of :mod:`zoo.data.images.hyperspectral`.

scikit-image is optional: ``pip install -e ".[inverse]"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.optional import require

#: the bundled photographs the prior trains on (``skimage.data.<name>()``; motorcycle: ``stereo_motorcycle()[0]``)
TRAIN_IMAGES = ("astronaut", "rocket", "motorcycle", "immunohistochemistry", "retina", "hubble_deep_field")
#: held out: the test split's crops
TEST_IMAGE = "chelsea"
#: held out: the SLIC segments of the synthetic hyperspectral images
HSI_IMAGE = "coffee"


def bundled_image(name: str) -> Tensor:
    """scikit-image's bundled RGB photograph ``name`` as ``(3, H, W)`` float32 in [0, 1]."""
    data = require("skimage.data")
    if name == "motorcycle":
        pixels = data.stereo_motorcycle()[0]
    elif name in (*TRAIN_IMAGES, TEST_IMAGE, HSI_IMAGE):
        pixels = getattr(data, name)()
    else:
        raise ValueError(f"unknown image {name!r}: expected one of {(*TRAIN_IMAGES, TEST_IMAGE, HSI_IMAGE)}")
    return torch.from_numpy(pixels[..., :3]).permute(2, 0, 1).float() / 255


def downscale(image: Tensor, side: int) -> Tensor:
    """``(C, H, W)`` scaled (antialiased bilinear, clipped to [0, 1]) so that ``min(H, W) = side``."""
    scale = side / min(image.shape[-2:])
    shape = [max(side, round(n * scale)) for n in image.shape[-2:]]
    return F.interpolate(image[None], size=shape, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def random_crops(images: Sequence[Tensor], n: int, size: int, generator: torch.Generator, flip: bool = True) -> Tensor:
    """``n >= 1`` crops ``(n, C, size, size)`` of ``images`` (``(C, H_k, W_k)`` each, at least ``size`` on a side): a
    uniform image, a uniform position, mirrored left-right with probability ½ when ``flip``."""
    which = torch.randint(len(images), (n,), generator=generator).tolist()
    crops = []
    for k in which:
        H, W = images[k].shape[-2:]
        i, j = (torch.randint(extent - size + 1, (1,), generator=generator).item() for extent in (H, W))
        crop = images[k][:, i:i + size, j:j + size]
        crops.append(crop.flip(-1) if flip and torch.rand(1, generator=generator).item() < 0.5 else crop)
    return torch.stack(crops)


def rgb_crops(n: int, size: int = 32, side: int = 128, images: Sequence[str] = TRAIN_IMAGES, seed: int = 0) -> Tensor:
    """``n`` flipped random crops of the bundled ``images`` scaled to ``side`` (module doc): ``(n, 3, size, size)``
    float32 in [0, 1]."""
    if n < 1 or not 1 <= size <= side:
        raise ValueError(f"need n >= 1 and 1 <= size <= side (the crops fit the scaled images), got n={n}, "
                         f"size={size}, side={side}")
    scaled = [downscale(bundled_image(name), side) for name in images]
    return random_crops(scaled, n, size, torch.Generator().manual_seed(seed))
