"""Datamodules of generated images for diffusion priors and the inverse-problem benchmarks.

Items are ``{"x": (C, H, W)}`` float32 in **[-1, 1]** (``2 · image − 1``, the diffusion model's range), so batches
are ``{"x": (B, C, H, W)}``; :meth:`ImageDataModule.test_images` gives the test split in **[0, 1]**, the ground truth
of the inverse benchmarks. Each split is generated with its own seed (``seed · 1_000_003 + k``, k = 0, 1, 2 for
train, val, test), so the test images do not change with ``n_train``. The splits are cached under
``data_dir/images/`` (``zoo.cache.cached``, atomic writes) in a file named by every generation parameter.

- :class:`PhantomDataModule`: random-ellipse phantoms (:mod:`zoo.data.images.phantoms`), 1 channel.
- :class:`RGBCropsDataModule`: crops of scikit-image's bundled photographs (:mod:`zoo.data.images.natural`),
  3 channels; the test crops come from the held-out :data:`~zoo.data.images.natural.TEST_IMAGE`.
- :class:`HSIDataModule`: synthetic hyperspectral images (:mod:`zoo.data.images.hyperspectral`), ``bands``
  channels; it exists for the HIR-Diff benchmark's ground truth (its test split), train and val are a few more.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from zoo.data.base import GeneratedData, SplitDataModule, check_positive
from zoo.data.images.hyperspectral import synthetic_hsi
from zoo.data.images.natural import TEST_IMAGE, TRAIN_IMAGES, rgb_crops
from zoo.data.images.phantoms import ellipse_phantoms

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


def as_float(images: Tensor) -> Tensor:
    """Images in [0, 1] as float32; uint8 ones (0 … 255, how photographs are cached) are divided by 255."""
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


class ImageDataset(Dataset):
    """``{"x": 2 · images[i] − 1}`` ``(C, H, W)`` float32 from ``images`` ``(N, C, H, W)`` in [0, 1] (or uint8)."""

    def __init__(self, images: Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"x": 2 * as_float(self.images[index]) - 1}


class ImageDataModule(GeneratedData, SplitDataModule):
    """Generated image splits (module doc). A subclass sets :attr:`kind` (the cache file's prefix) and defines
    :meth:`generate` and :meth:`tag` (its generation parameters, for the cache file's name)."""

    kind: str

    def __init__(self, data_dir: str, size: int, n_train: int, n_val: int, n_test: int, batch_size: int, seed: int,
                 num_workers: int):
        check_positive(size=size, n_train=n_train, n_val=n_val, n_test=n_test)
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.data_dir, self.size, self.seed = Path(data_dir), size, seed
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}

    def generate(self, split: str, n: int, seed: int) -> Tensor:
        """``n`` images of ``split`` drawn with ``seed``: ``(n, C, size, size)`` float32 in [0, 1] or uint8."""
        raise NotImplementedError

    def tag(self) -> str:
        raise NotImplementedError

    @property
    def cache_path(self) -> Path:
        sizes = "-".join(str(n) for n in self.sizes.values())
        return self.data_dir / "images" / f"{self.kind}-v{_CACHE_VERSION}-{self.tag()}-n{sizes}-seed{self.seed}.pt"

    def _generate(self) -> dict[str, Tensor]:
        log.info("%s: generating %d images into %s", self.kind, sum(self.sizes.values()), self.cache_path)
        return {split: self.generate(split, n, self.seed * 1_000_003 + k)
                for k, (split, n) in enumerate(self.sizes.items())}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.splits = {split: ImageDataset(images) for split, images in self.load().items()}

    def test_images(self) -> Tensor:
        """The test split in [0, 1]: ``(n_test, C, size, size)`` float32, the inverse benchmarks' ground truth."""
        return as_float(self.load()["test"])


class PhantomDataModule(ImageDataModule):
    """Random-ellipse phantoms ``(1, size, size)`` (:func:`~zoo.data.images.phantoms.ellipse_phantoms`); items
    ``{"x"}`` in [-1, 1], :meth:`test_images` in [0, 1]. Fact (a class attribute): ``in_channels`` (1)."""

    kind, in_channels = "phantoms", 1
    facts = ("in_channels",)

    def __init__(self, data_dir: str = "data", size: int = 32, n_train: int = 10000, n_val: int = 500,
                 n_test: int = 100, batch_size: int = 64, seed: int = 0, num_workers: int = 0):
        super().__init__(data_dir, size, n_train, n_val, n_test, batch_size, seed, num_workers)

    def tag(self) -> str:
        return f"size{self.size}"

    def generate(self, split: str, n: int, seed: int) -> Tensor:
        return ellipse_phantoms(n, self.size, seed)


class RGBCropsDataModule(ImageDataModule):
    """Random ``size × size`` crops (mirrored at random) of scikit-image's bundled photographs scaled to a shorter
    side of ``side`` (:func:`~zoo.data.images.natural.rgb_crops`): train and val from
    :data:`~zoo.data.images.natural.TRAIN_IMAGES`, test from the held-out ``chelsea``. Items ``{"x"}``
    ``(3, size, size)`` in [-1, 1], :meth:`test_images` in [0, 1]; cached as uint8 (the photographs' own precision).
    Fact (a class attribute): ``in_channels`` (3). Needs scikit-image: ``pip install -e ".[inverse]"``."""

    kind, in_channels = "rgb_crops", 3
    facts = ("in_channels",)

    def __init__(self, data_dir: str = "data", size: int = 32, side: int = 128, n_train: int = 10000,
                 n_val: int = 500, n_test: int = 100, batch_size: int = 64, seed: int = 0, num_workers: int = 0):
        super().__init__(data_dir, size, n_train, n_val, n_test, batch_size, seed, num_workers)
        if not isinstance(side, int) or side < size:
            raise ValueError(f"data.side={side!r}: the scaled photographs' shorter side must be an integer >= "
                             f"data.size={size} (the crops must fit)")
        self.side = side

    def tag(self) -> str:
        return f"size{self.size}-side{self.side}"

    def generate(self, split: str, n: int, seed: int) -> Tensor:
        images = (TEST_IMAGE,) if split == "test" else TRAIN_IMAGES
        return (rgb_crops(n, self.size, self.side, images, seed) * 255).round().to(torch.uint8)


class HSIDataModule(ImageDataModule):
    """Synthetic hyperspectral images ``(bands, size, size)`` with ``endmembers`` materials
    (:func:`~zoo.data.images.hyperspectral.synthetic_hsi`), for the HIR-Diff benchmark: :meth:`test_images` (in
    [0, 1]) is its ground truth; items ``{"x"}`` in [-1, 1]. The channel count is the setting ``bands``. Needs
    scikit-image: ``pip install -e ".[inverse]"``."""

    kind = "hsi"

    def __init__(self, data_dir: str = "data", size: int = 64, bands: int = 31, endmembers: int = 6, side: int = 128,
                 n_train: int = 8, n_val: int = 4, n_test: int = 4, batch_size: int = 4, seed: int = 0,
                 num_workers: int = 0):
        super().__init__(data_dir, size, n_train, n_val, n_test, batch_size, seed, num_workers)
        for key, value, least in (("bands", bands, 1), ("endmembers", endmembers, 1), ("side", side, size)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"data.{key}={value!r}: expected an integer >= {least}")
        self.bands, self.endmembers, self.side = bands, endmembers, side

    def tag(self) -> str:
        return f"size{self.size}-bands{self.bands}-J{self.endmembers}-side{self.side}"

    def generate(self, split: str, n: int, seed: int) -> Tensor:
        return synthetic_hsi(n, self.size, self.bands, self.endmembers, self.side, seed)
