"""Datamodules, and the generators and solvers that make offline data."""

from zoo.data.listops import ListOpsDataModule
from zoo.data.sequences import SeqDigitsDataModule, SeqImageDataModule

__all__ = ["ListOpsDataModule", "SeqDigitsDataModule", "SeqImageDataModule"]
