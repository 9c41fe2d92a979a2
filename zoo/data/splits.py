"""The datamodule shape most of ours share: three datasets in ``self.splits`` and a loader for each."""

from __future__ import annotations

from typing import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset


class SplitDataModule(L.LightningDataModule):
    """``train`` / ``val`` / ``test`` datasets in ``self.splits`` (a subclass's ``setup`` fills them) and their
    loaders: ``batch_size`` items a batch through :attr:`collate` (PyTorch's default when ``None``), the training
    split shuffled in an order that follows the run's global seed (``seed_everything``)."""

    collate: Callable | None = None

    def __init__(self, batch_size: int, num_workers: int = 0):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.batch_size, self.num_workers = batch_size, num_workers
        self.splits: dict[str, Dataset] = {}

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        if not self.splits:
            self.setup()
        return DataLoader(self.splits[split], batch_size=self.batch_size, shuffle=shuffle, collate_fn=self.collate,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
