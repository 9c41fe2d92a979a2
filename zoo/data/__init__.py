"""Datamodules by domain, with the generators and solvers that make their data offline.

Every datamodule derives from :class:`zoo.data.base.SplitDataModule` (named splits, one loader path, a resumable
training order: :mod:`zoo.data.sampling`) and is exported here, so that a config names it ``zoo.data.<Class>``.
The domains (``pde``, ``graph``, ``sequence``, ``transport``, ``spectra``, ``images``, ``md``, ``manifold``,
``tensor``, ``eeg``) import the base, never each other.
"""

from zoo.data.eeg import EEGSyntheticDataModule, MOABBDataModule
from zoo.data.graph.anomaly import SpectralAnomalyDataModule
from zoo.data.graph.cycles import CycleCountDataModule
from zoo.data.graph.rdkit_molecules import MoleculeDataModule
from zoo.data.graph.tu_screens import TUScreenDataModule
from zoo.data.graph.zinc import ZincDataModule
from zoo.data.images.datamodules import HSIDataModule, PhantomDataModule, RGBCropsDataModule
from zoo.data.manifold import ManifoldVectorsDataModule
from zoo.data.md.datamodule import MDDataModule
from zoo.data.pde.datamodules import BurgersDataModule, DarcyDataModule, NavierStokesDataModule
from zoo.data.pde.elastic_bar import ElasticBarDataModule
from zoo.data.pde.manufactured import ManufacturedPDEDataModule
from zoo.data.pde.quantum_well import QuantumWellDataModule
from zoo.data.pde.rom_snapshots import BurgersSnapshotsDataModule, DarcySnapshotsDataModule
from zoo.data.sequence.images import SeqDigitsDataModule, SeqImageDataModule
from zoo.data.sequence.listops import ListOpsDataModule
from zoo.data.sequence.timeseries import TimeSeriesDataModule
from zoo.data.spectra.datamodule import SpectraDataModule
from zoo.data.tensor import ContinuousTensorDataModule
from zoo.data.transport.eot_benchmark import EOTBenchmarkDataModule
from zoo.data.transport.toy2d import Toy2DDataModule

__all__ = ["BurgersDataModule", "BurgersSnapshotsDataModule", "DarcySnapshotsDataModule", "ElasticBarDataModule", "ContinuousTensorDataModule", "CycleCountDataModule", "DarcyDataModule",
           "EEGSyntheticDataModule", "EOTBenchmarkDataModule", "HSIDataModule", "ListOpsDataModule", "MDDataModule",
           "MOABBDataModule", "ManifoldVectorsDataModule", "ManufacturedPDEDataModule", "MoleculeDataModule",
           "NavierStokesDataModule", "PhantomDataModule", "QuantumWellDataModule", "RGBCropsDataModule",
           "SeqDigitsDataModule", "SeqImageDataModule", "SpectraDataModule", "SpectralAnomalyDataModule",
           "TUScreenDataModule", "TimeSeriesDataModule", "Toy2DDataModule", "ZincDataModule"]
