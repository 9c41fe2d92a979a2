"""Graph models: SPE positional encodings and RQGNN for graph-level anomaly detection; the connection Laplacian of a
point cloud (shared math of zoo.functional, for vector fields on manifolds); Bootstrap-AMG clustering of attributed
graphs (:mod:`~zoo.graph.cluster`, pyamg from the ``[graph]`` extra)."""

from zoo.functional import LaplacianEigenpairs  # the eigenpairs SPE reads, made by the graph datamodules
from zoo.functional.connection import connection_laplacian
from zoo.graph.pe import LapPE, SignNetPE
from zoo.graph.baselines import GINMean
from zoo.graph.cluster import augment_attributes, bamg_cluster, block_distance, smooth_vectors, super_nodes
from zoo.graph.rqgnn import RQGNN, RQLogistic, rayleigh_quotient
from zoo.graph.spe import SPE, SPEGINE

__all__ = ["GINMean", "RQGNN", "RQLogistic", "rayleigh_quotient", "LapPE", "SignNetPE", "SPE", "SPEGINE",
           "LaplacianEigenpairs", "connection_laplacian", "augment_attributes", "bamg_cluster", "block_distance",
           "smooth_vectors", "super_nodes"]
