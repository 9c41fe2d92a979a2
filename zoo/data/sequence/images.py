"""Images read as sequences, one pixel per step: sequential digits, MNIST and CIFAR-10.

Every datamodule here yields batches ``(x, y)``: ``x`` of shape ``(batch, length, d_input)`` float32 and
``y`` of shape ``(batch,)`` int64 labels in ``[0, num_classes)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset, random_split

from zoo.arguments import accepts
from zoo.data.base import SplitDataModule


class SeqDigitsDataModule(SplitDataModule):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images) as 64-step sequences of 1 channel.

    Pixels (0..16) are scaled to [0, 1] and standardised with the training split's mean and std. The
    split is a fixed permutation (``seed``): ``test_size`` and ``val_size`` images, the rest for
    training. ``num_classes < 10`` keeps only the digits ``0 .. num_classes-1`` (a smaller task, e.g.
    for fine-tuning a 10-class model). ``x``: ``(batch, 64, 1)``. ``seed`` fixes the split; the shuffling order
    follows the run's global seed (``seed_everything``). Fact (a class attribute): ``d_input`` (1, gray pixels).
    """

    length, images = 64, 1797
    d_input = 1
    facts = ("d_input",)

    def __init__(self, num_classes: int = 10, batch_size: int = 64, val_size: int = 180, test_size: int = 360,
                 seed: int = 0, num_workers: int = 0):
        if not 2 <= num_classes <= 10:
            raise ValueError(f"seq_digits has the digits 0-9: num_classes must be in [2, 10], got {num_classes}")
        for key, size in (("val_size", val_size), ("test_size", test_size)):
            if not accepts(int, size) or size < 0:
                raise ValueError(f"data.{key}={size!r}: expected an int >= 0 (seq_digits has {self.images} images)")
        if val_size + test_size >= self.images:
            raise ValueError(f"data.val_size + data.test_size = {val_size + test_size} leaves none of seq_digits' "
                             f"{self.images} images for training")
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.num_classes, self.val_size, self.test_size, self.seed = num_classes, val_size, test_size, seed

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.default_rng(self.seed).permutation(len(digits.target))
        x = torch.tensor(digits.data[order] / 16.0, dtype=torch.float32).unsqueeze(-1)
        y = torch.tensor(digits.target[order], dtype=torch.long)
        bounds = {"test": (0, self.test_size), "val": (self.test_size, self.test_size + self.val_size),
                  "train": (self.test_size + self.val_size, len(y))}
        parts = {split: (x[a:b], y[a:b]) for split, (a, b) in bounds.items()}
        mean, std = parts["train"][0].mean(), parts["train"][0].std()
        for split, (xs, ys) in parts.items():
            keep = ys < self.num_classes
            self.splits[split] = TensorDataset((xs[keep] - mean) / std, ys[keep])


#: per dataset: torchvision class name, channels, side, per-channel mean and std of the training set
IMAGE_DATASETS = {
    "mnist": ("MNIST", 1, 28, (0.1307,), (0.3081,)),
    "cifar10": ("CIFAR10", 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "fake": ("FakeData", 3, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
}


def pixels_as_sequence(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` -> ``(H*W, C)``: row-major pixel order, one step per pixel."""
    return image.flatten(1).transpose(0, 1)


class SeqImageDataModule(SplitDataModule):
    """torchvision MNIST / CIFAR-10 (or ``FakeData``) flattened row by row into pixel sequences.

    ``x``: ``(batch, side*side, d_input)`` — MNIST ``(batch, 784, 1)``, CIFAR-10 ``(batch, 1024, 3)`` or
    ``(batch, 1024, 1)`` with ``d_input=1`` (grayscale). The official test set is the test split; the
    validation split is ``val_fraction`` of the training set (fixed by ``seed``). Fact (a class attribute):
    ``num_classes`` (10).

    The data are read from ``root``; ``download=True`` fetches them (needs internet; tests never do).
    ``dataset="fake"`` uses torchvision's ``FakeData`` (random images, ``fake_size`` of them), for smoke tests.
    """

    num_classes = 10
    facts = ("num_classes",)

    def __init__(self, dataset: str = "mnist", root: str = "data", download: bool = False, d_input: int | None = None,
                 batch_size: int = 64, val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0,
                 fake_size: int = 256):
        if dataset not in IMAGE_DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}: expected one of {sorted(IMAGE_DATASETS)}")
        channels = IMAGE_DATASETS[dataset][1]
        d_input = channels if d_input is None else d_input
        if d_input not in {1, channels}:
            raise ValueError(f"{dataset} has {channels} channel(s): d_input must be {channels}"
                             f"{' or 1 (grayscale)' if channels == 3 else ''}, got {d_input}")
        if not accepts(float, val_fraction) or not 0 <= val_fraction < 1:
            raise ValueError(f"data.val_fraction={val_fraction!r}: expected a fraction of the training set in [0, 1)")
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.dataset, self.root, self.download, self.seed = dataset, Path(root), download, seed
        self.d_input, self.val_fraction, self.fake_size = d_input, val_fraction, fake_size

    def _transform(self):
        import torchvision.transforms.v2 as T

        _, channels, _, mean, std = IMAGE_DATASETS[self.dataset]
        steps = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
        if self.d_input == 1 and channels == 3:
            steps.insert(1, T.Grayscale())
            steps[-1] = T.Normalize((sum(mean) / 3,), (sum(std) / 3,))
        steps.append(T.Lambda(pixels_as_sequence))
        return T.Compose(steps)

    def _read(self, train: bool) -> Dataset:
        import torchvision.datasets as D

        name, channels, side, _, _ = IMAGE_DATASETS[self.dataset]
        if self.dataset == "fake":
            return D.FakeData(size=self.fake_size, image_size=(channels, side, side), num_classes=10,
                              transform=self._transform(), random_offset=0 if train else self.fake_size)
        try:
            return getattr(D, name)(self.root, train=train, download=self.download, transform=self._transform())
        except RuntimeError as err:
            raise FileNotFoundError(
                f"{name} was not found under root={self.root}: point data.root at a folder that holds it, "
                f"or pass data.download=true on a machine with internet ({err})"
            ) from err

    def prepare_data(self) -> None:
        if self.download:
            self._read(train=True), self._read(train=False)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        full = self._read(train=True)
        n_val = int(round(self.val_fraction * len(full)))
        generator = torch.Generator().manual_seed(self.seed)
        self.splits["train"], self.splits["val"] = random_split(full, [len(full) - n_val, n_val], generator=generator)
        self.splits["test"] = self._read(train=False)
