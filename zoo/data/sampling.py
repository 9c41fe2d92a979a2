"""A training order that survives a restart, so a resumed run goes on exactly as the interrupted one would.

Lightning saves a datamodule's ``state_dict`` in every checkpoint and hands it back to ``load_state_dict`` before
it builds the loaders. :class:`ResumableTraining` uses that for the training loader's *order*, an object with
``state(trained, epoch_done) -> dict`` (where the run stands, given the batches trained on in the epoch in progress)
and ``resume(**state)``:

- :class:`ResumableRandomSampler` shuffles as ``torch.utils.data.RandomSampler`` does (one permutation an epoch,
  from a seed drawn from torch's global generator: the order follows ``seed_everything`` and, after a resume, the
  random states the checkpoint restores). Inside an epoch its state is that epoch's seed and the samples already
  trained on, so the resumed run finishes the same permutation; at an epoch's end it is empty, and the next epoch
  draws its seed from the restored generator as the uninterrupted run does.
- a stream of generated batches (:class:`BatchStream`) keeps its own pass counter and batch position.

A mid-epoch state also holds torch's global generator state at the checkpoint, which the resumed pass puts back
when it starts: a loader's new iterator draws its workers' base seed from that generator, which the interrupted
run did at the epoch's start, not where it resumes (without this, dropout after a resume would be one draw off).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch
from torch import Tensor
from torch.utils.data import IterableDataset, RandomSampler


class ResumableRandomSampler(RandomSampler):
    """``RandomSampler(data_source)`` (the same orders for the same global random state) that can finish an epoch
    after a restart. ``seed``: the seed of the permutation in progress (``None`` before the first pass).

    The length stays ``len(data_source)`` on a resumed pass too: Lightning counts the batches of an epoch it
    resumes from those it had done.
    """

    def __init__(self, data_source: Sized, batch_size: int):
        super().__init__(data_source)
        self.batch_size = batch_size
        self.seed: int | None = None
        self._replay: tuple[int, int, torch.Tensor] | None = None

    def state(self, trained: int, epoch_done: bool) -> dict:
        """``{"seed", "skip"}`` (skip in samples) inside an epoch, ``{}`` at its end or before the first."""
        return {} if epoch_done or self.seed is None else {"seed": self.seed, "skip": trained * self.batch_size}

    def resume(self, seed: int, skip: int, rng: torch.Tensor) -> None:
        """Make the next pass the permutation of ``seed`` without its first ``skip`` samples, starting with torch's
        global generator in state ``rng`` (module doc)."""
        self._replay = (int(seed), int(skip), rng)

    def __iter__(self) -> Iterator[int]:
        if self._replay:
            seed, skip, rng = self._replay
            torch.set_rng_state(rng)
        else:
            seed, skip = int(torch.empty((), dtype=torch.int64).random_().item()), 0
        self._replay, self.seed = None, seed
        generator = torch.Generator()
        generator.manual_seed(seed)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()[skip:]


class ResumableTraining:
    """Mixin for a ``LightningDataModule``: its checkpointed state is where its training order stands (module doc).
    The training loader registers its order with :meth:`train_order` (or builds a sampler with :meth:`train_sampler`)."""

    batch_size: int
    _order = None
    _replay: dict | None = None

    def train_order(self, order):
        """Register the training loader's order; after a restore it is told where to resume. Returns ``order``."""
        if self._replay:
            order.resume(**self._replay)
            self._replay = None
        self._order = order
        return order

    def train_sampler(self, dataset: Sized) -> ResumableRandomSampler:
        """A :class:`ResumableRandomSampler` of ``dataset`` for the training loader (``batch_size`` a batch)."""
        return self.train_order(ResumableRandomSampler(dataset, self.batch_size))

    def state_dict(self) -> dict:
        """The training order's state, given the optimizer steps taken in the epoch in progress (and inside an
        epoch, torch's global generator state: module doc)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or self._order is None:
            return {}
        trained = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        epoch_done = trained >= trainer.num_training_batches
        state = self._order.state(trained, epoch_done)
        return {**state, "rng": torch.get_rng_state()} if state and not epoch_done else state

    def load_state_dict(self, state_dict: dict) -> None:
        self._replay = dict(state_dict) or None


class BatchStream(IterableDataset):
    """Fresh batches ``sample(n, generator)`` (EOT's unpaired ``{"x0", "x1"}``, a PINN's collocation points),
    ``ceil(n / batch_size)`` per pass; pass ``i`` uses the generator seeded with ``(seed, i)``. Resumable
    (:class:`ResumableTraining`): its state is the pass to draw and the batches of it already trained on."""

    def __init__(self, sample, n: int, batch_size: int, seed: int):
        self.sample, self.n, self.batch_size, self.seed = sample, n, batch_size, seed
        self.next_pass, self._skip, self._rng = 0, 0, None

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def state(self, trained: int, epoch_done: bool) -> dict:
        if self.next_pass == 0:
            return {}
        return {"next_pass": self.next_pass, "skip": 0} if epoch_done else {"next_pass": self.next_pass - 1,
                                                                            "skip": trained}

    def resume(self, next_pass: int, skip: int, rng: Tensor | None = None) -> None:
        self.next_pass, self._skip, self._rng = next_pass, skip, rng

    def __iter__(self):
        if self._rng is not None:  # a pass resumed mid-epoch (zoo.data.sampling)
            torch.set_rng_state(self._rng)
            self._rng = None
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.next_pass)
        self.next_pass, skip, self._skip = self.next_pass + 1, self._skip, 0
        for index, start in enumerate(range(0, self.n, self.batch_size)):
            batch = self.sample(min(self.batch_size, self.n - start), generator)  # skipped ones too: same draws
            if index >= skip:
                yield batch
