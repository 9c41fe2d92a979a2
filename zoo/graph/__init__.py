"""Graph models: SPE positional encodings and RQGNN for graph-level anomaly detection; the connection Laplacian of a
point cloud (shared math of zoo.functional, for vector fields on manifolds)."""

from zoo.functional import LaplacianEigenpairs  # the eigenpairs SPE reads, made by the graph datamodules
from zoo.functional.connection import connection_laplacian
from zoo.graph.pe import LapPE, SignNetPE
from zoo.graph.baselines import GINMean
from zoo.graph.rqgnn import RQGNN, RQLogistic, rayleigh_quotient
from zoo.graph.spe import SPE, SPEGINE

__all__ = ["GINMean", "RQGNN", "RQLogistic", "rayleigh_quotient", "LapPE", "SignNetPE", "SPE", "SPEGINE",
           "LaplacianEigenpairs", "connection_laplacian"]
