"""What an evaluator is: settings in, ``evaluator(model, datamodule) -> {name: value}`` out."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch import nn


class Evaluator:
    """Scores what ``model`` produces against the data of ``datamodule``, driving the model through its public
    methods (``sample``, ``conditional_moments``, ...) and reading the datamodule's public data (its test split, a
    benchmark's ground truth).

    A subclass is built from plain keyword arguments (its settings, an option of ``configs/evaluator/``);
    :class:`zoo.tasks.GenerativeTask` calls it after the test loop, logs each entry as ``test/<name>`` and asks it
    for ``samples.png`` (:meth:`plot`).
    """

    def __call__(self, model: nn.Module, datamodule: L.LightningDataModule) -> dict[str, float]:
        raise NotImplementedError

    def plot(self, model: nn.Module, datamodule: L.LightningDataModule, path: str | Path) -> None:
        """Draw the model's samples into ``path``; an evaluator without a figure draws nothing."""


def quick(datamodule: L.LightningDataModule) -> bool:
    """Whether ``datamodule`` serves a ``fast_dev_run`` trainer (a smoke test, where evaluators shrink their budget)."""
    return datamodule.trainer is not None and bool(datamodule.trainer.fast_dev_run)
