"""The datamodule shape most of ours share: three datasets in ``self.splits`` and a loader for each.

Under DDP, Lightning gives a training loader a ``DistributedSampler``; it would give the validation and
test loaders one too, which pads the split with repeated samples so that every process gets as many. Ours
take an ``UnrepeatedDistributedSampler`` instead: each sample is evaluated once, and the metrics (synced
across processes) are those of the whole split.
"""

from __future__ import annotations

from typing import Callable

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset


def split_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0,
                 collate: Callable | None = None) -> DataLoader:
    """A loader of ``dataset``; an evaluation loader (``shuffle=False``) in a distributed run reads each sample
    on exactly one process (module doc)."""
    sampler = None
    if not shuffle and torch.distributed.is_available() and torch.distributed.is_initialized():
        sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, collate_fn=collate,
                      num_workers=num_workers, persistent_workers=num_workers > 0)


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
        return split_loader(self.splits[split], self.batch_size, shuffle, self.num_workers, self.collate)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
