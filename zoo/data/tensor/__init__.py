"""Tensors indexed by continuous coordinates (:mod:`~zoo.data.tensor.continuous`): FunBaT's synthetic data."""

from zoo.data.tensor.continuous import ContinuousTensorDataModule

__all__ = ["ContinuousTensorDataModule"]
