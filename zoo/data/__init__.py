"""Datamodules, and the generators and solvers that make offline data."""

from zoo.data.listops import ListOpsDataModule
from zoo.data.pdes import BurgersDataModule, DarcyDataModule, NavierStokesDataModule
from zoo.data.sequences import SeqDigitsDataModule, SeqImageDataModule

__all__ = ["BurgersDataModule", "DarcyDataModule", "ListOpsDataModule", "NavierStokesDataModule",
           "SeqDigitsDataModule", "SeqImageDataModule"]
