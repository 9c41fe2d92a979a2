"""Datamodules, and the generators and solvers that make offline data."""

from zoo.data.anomaly import SpectralAnomalyDataModule
from zoo.data.graphs import CycleCountDataModule
from zoo.data.listops import ListOpsDataModule
from zoo.data.molecules import MoleculeDataModule
from zoo.data.pdes import BurgersDataModule, DarcyDataModule, NavierStokesDataModule
from zoo.data.sequences import SeqDigitsDataModule, SeqImageDataModule
from zoo.data.tu_screens import TUScreenDataModule
from zoo.data.zinc import ZincDataModule

__all__ = ["BurgersDataModule", "CycleCountDataModule", "DarcyDataModule", "ListOpsDataModule", "MoleculeDataModule",
           "NavierStokesDataModule", "SeqDigitsDataModule", "SeqImageDataModule", "SpectralAnomalyDataModule",
           "TUScreenDataModule", "ZincDataModule"]
