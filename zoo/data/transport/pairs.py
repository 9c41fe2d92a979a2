"""Unpaired samples of two distributions, p0 and p1, for entropic OT and Schrödinger bridges.

Batches are ``{"x0": (B, D), "x1": (B, D)}`` float32, x1 drawn from p1 independently of x0. Training draws fresh
batches forever (:class:`~zoo.data.sampling.BatchStream`); an "epoch" is ``ceil(n_train / batch_size)``
batches. Validation is a fixed set of ``n_val`` pairs and the test set the ``n_test`` test inputs (with as many p1
samples), both as fixed batches. Every split's items are whole batches (``batched``), read through the base's one loader path
(:mod:`zoo.data.base`): the stream is the training split, whose resumable order is itself; under DDP each process
evaluates its share of the validation and test batches, each batch once. Every draw comes from a generator seeded
with ``seed``: the data never depend on torch's global random state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.data.base import SplitDataModule
from zoo.data.sampling import BatchStream


class PairsDataModule(SplitDataModule):
    """Unpaired ``{"x0": (B, D), "x1": (B, D)}`` float32 batches from samplers of p0 and p1 (module doc; subclasses
    define :meth:`sample_p0` and :meth:`sample_p1`, float64)."""

    batched = True
    dim: int

    def __init__(self, n_train: int, n_val: int, n_test: int, batch_size: int, seed: int):
        super().__init__(batch_size=batch_size)
        for key, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        self.n_train, self.n_val, self.n_test, self.seed = n_train, n_val, n_test, seed

    def sample_p0(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def sample_p1(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def pairs(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """``n`` independent samples of p0 and of p1, float32."""
        return {"x0": self.sample_p0(n, generator).float(), "x1": self.sample_p1(n, generator).float()}

    def test_inputs(self) -> Tensor:
        """The ``n_test`` test inputs, ``(n_test, D)`` float64."""
        return self.sample_p0(self.n_test, torch.Generator().manual_seed(self.seed * 1_000_003 + 999_999))

    def _fixed(self, x0: Tensor, offset: int) -> list[dict[str, Tensor]]:
        """``x0`` beside as many samples of p1 (drawn with ``(seed, offset)``) in batches of ``batch_size``."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + offset)
        x1 = self.sample_p1(x0.shape[0], generator).float()
        return [{"x0": x0[i:i + self.batch_size].float(), "x1": x1[i:i + self.batch_size]}
                for i in range(0, x0.shape[0], self.batch_size)]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        val_inputs = self.sample_p0(self.n_val, torch.Generator().manual_seed(self.seed * 1_000_003 + 999_998))
        self.splits = {"train": BatchStream(self.pairs, self.n_train, self.batch_size, self.seed),
                       "val": self._fixed(val_inputs, 999_997), "test": self._fixed(self.test_inputs(), 999_996)}
