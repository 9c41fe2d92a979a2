"""The datamodule shape most of ours share: three datasets in ``self.splits`` and a loader for each.

Under DDP, Lightning gives a training loader a ``DistributedSampler``; it would give the validation and
test loaders one too, which pads the split with repeated samples so that every process gets as many. Every
evaluation loader of ``zoo.data`` (the split-based datamodules here, the PDE sets at each test resolution, the
PyG anomaly sets, the EOT benchmark's fixed batches) is made by :func:`split_loader`, whose
``UnrepeatedDistributedSampler`` Lightning keeps: each sample (or pre-made batch) is evaluated on exactly one
process, and the metrics (synced across processes) are those of the whole split. A split with fewer items than
processes is a clear error (the sampler itself only asserts): every process needs an item to take part in the
metrics' sync.
"""

from __future__ import annotations

from typing import Callable

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.data.sampling import ResumableTraining


def evaluation_sampler(dataset: Dataset) -> UnrepeatedDistributedSampler | None:
    """In a distributed run, a sampler giving each process a disjoint, in-order share of ``dataset`` (together
    every item once); ``None`` outside one. Fewer items than processes is an error (module doc)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return None
    processes = torch.distributed.get_world_size()
    if len(dataset) < processes:
        raise ValueError(f"an evaluation set of {len(dataset)} items (samples, or batches where the data comes "
                         f"batched) cannot give each of the {processes} processes one, and every process needs one "
                         f"to take part in the metrics' sync: use a larger split or fewer devices (trainer.devices)")
    return UnrepeatedDistributedSampler(dataset, shuffle=False)


def split_loader(dataset: Dataset, batch_size: int | None, sampler: Sampler | None = None, num_workers: int = 0,
                 collate: Callable | None = None) -> DataLoader:
    """A loader of ``dataset``: ``batch_size`` items a batch, or ``None`` when every item is already a batch. A
    training loader gets its ``sampler`` (a :class:`~zoo.data.sampling.ResumableRandomSampler`, whose order follows
    the global seed; Lightning swaps in a ``DistributedSampler`` under DDP); an evaluation loader (no ``sampler``)
    reads the items in order, in a distributed run each on exactly one process (:func:`evaluation_sampler`)."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler or evaluation_sampler(dataset),
                      collate_fn=collate, num_workers=num_workers, persistent_workers=num_workers > 0)


class SplitDataModule(ResumableTraining, L.LightningDataModule):
    """``train`` / ``val`` / ``test`` datasets in ``self.splits`` (a subclass's ``setup`` fills them) and their
    loaders: ``batch_size`` items a batch through :attr:`collate` (PyTorch's default when ``None``), the training
    split shuffled in an order that follows the run's global seed (``seed_everything``) and resumes mid-epoch
    (:class:`~zoo.data.sampling.ResumableTraining`)."""

    collate: Callable | None = None

    def __init__(self, batch_size: int, num_workers: int = 0):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.batch_size, self.num_workers = batch_size, num_workers
        self.splits: dict[str, Dataset] = {}

    def _loader(self, split: str) -> DataLoader:
        if not self.splits:
            self.setup()
        dataset = self.splits[split]
        sampler = self.train_sampler(dataset) if split == "train" else None
        return split_loader(dataset, self.batch_size, sampler, self.num_workers, self.collate)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
