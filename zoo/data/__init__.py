"""Datamodules, and the generators and solvers that make offline data."""

from zoo.data.sequences import SeqDigitsDataModule, SeqImageDataModule

__all__ = ["SeqDigitsDataModule", "SeqImageDataModule"]
