"""The one datamodule base: named splits in ``self.splits`` and one loader path for all of them.

Every datamodule of ``zoo.data`` is a :class:`SplitDataModule`: its ``setup`` fills ``self.splits`` with ``train``,
``val`` and the test splits named by ``test_names`` (``test`` first; e.g. a PDE set's ``test_65``, a molecule set's
``test_ood``), and :meth:`SplitDataModule.loader` makes every loader:

- a split's items are samples, ``batch_size`` a batch through ``collate``, or, in a datamodule that sets
  ``batched``, whole batches it made itself (the EOT pairs);
- the training split is shuffled by a :class:`~zoo.data.sampling.ResumableRandomSampler`, or, when it is an
  ``IterableDataset`` (a stream of generated batches), is its own order; either way the order is registered with
  :class:`~zoo.data.sampling.ResumableTraining`, so a resumed run goes on where the interrupted one stood;
- an evaluation split is read in order.

Under DDP, Lightning gives a training loader a ``DistributedSampler``; it would give the validation and test loaders
one too, which pads the split with repeated samples so that every process gets as many. Every evaluation loader
carries an ``UnrepeatedDistributedSampler`` instead (:func:`evaluation_sampler`), which Lightning keeps: each sample
(or pre-made batch) is evaluated on exactly one process, and the metrics (synced across processes) are those of the
whole split. A split with fewer items than processes is a clear error (the sampler itself only asserts): every
process needs an item to take part in the metrics' sync.

**Facts.** What the data fixes and a model must match (a PDE's ``in_channels``, ListOps' vocabulary ``d_input``) is
a class attribute named in ``facts``, never a constructor argument: model and task configs read it, like the data
config's own settings, as ``${zoo_data:<name>}`` (:func:`zoo.cli.data_value`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, IterableDataset

from zoo.arguments import accepts
from zoo.cache import cached
from zoo.data.sampling import ResumableTraining


def check_positive(**values) -> None:
    """A ``ValueError`` naming ``data.<key>`` for each value that is not a positive int (a bool is not one)."""
    for key, value in values.items():
        if not accepts(int, value) or value < 1:
            raise ValueError(f"data.{key}={value!r}: expected a positive integer")


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


class SplitDataModule(ResumableTraining, L.LightningDataModule):
    """``train``, ``val`` and the :attr:`test_names` splits in ``self.splits`` (a subclass's ``setup`` fills them) and
    their loaders (module doc). ``test_dataloader`` gives one loader per test split, a single one when there is one.

    Class attributes a subclass may set: ``collate`` (a batch's collate function; PyTorch's default when ``None``),
    ``batched`` (every split's items are whole batches), ``test_names`` and ``facts`` (module doc).
    """

    collate: Callable | None = None
    batched: bool = False
    test_names: tuple[str, ...] = ("test",)
    facts: tuple[str, ...] = ()

    def __init__(self, batch_size: int, num_workers: int = 0):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size, self.num_workers = batch_size, num_workers
        self.splits: dict[str, Dataset] = {}

    def loader(self, split: str) -> DataLoader:
        """The loader of ``split`` (module doc): the training one registers its order, an evaluation one reads each
        item once (:func:`evaluation_sampler`)."""
        if not self.splits:
            self.setup()
        dataset = self.splits[split]
        if split != "train":
            sampler = evaluation_sampler(dataset)
        elif isinstance(dataset, IterableDataset):
            sampler = None
            self.train_order(dataset)
        else:
            sampler = self.train_sampler(dataset)
        return DataLoader(dataset, batch_size=None if self.batched else self.batch_size, sampler=sampler,
                          collate_fn=self.collate, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train")

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        loaders = [self.loader(name) for name in self.test_names]
        return loaders[0] if len(loaders) == 1 else loaders


class GeneratedData:
    """Mixin for a datamodule whose data is generated once and cached: it defines ``cache_path`` and
    ``_generate()``; ``prepare_data`` builds the entry, :meth:`load` reads it (building it if missing), both through
    :func:`zoo.cache.cached` (atomic writes)."""

    cache_path: Path

    def _generate(self):
        raise NotImplementedError

    def prepare_data(self) -> None:
        cached(self.cache_path, self._generate)

    def load(self):
        return cached(self.cache_path, self._generate)
