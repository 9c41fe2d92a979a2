"""Graph models: SPE positional encodings and RQGNN for graph-level anomaly detection."""

from zoo.graph.pe import LapPE, SignNetPE
from zoo.graph.baselines import GINMean
from zoo.graph.rqgnn import (RQGNN, RQLogistic, class_balanced_focal_loss, class_balanced_weights,
                             rayleigh_quotient)
from zoo.graph.spe import SPE, SPEGINE
from zoo.graph.spectrum import LaplacianEigenpairs, eigvec_mask, laplacian_eigenpairs, normalized_laplacian

__all__ = ["GINMean", "RQGNN", "RQLogistic", "class_balanced_focal_loss", "class_balanced_weights", "rayleigh_quotient",
           "LapPE", "SignNetPE", "SPE", "SPEGINE", "LaplacianEigenpairs", "eigvec_mask", "laplacian_eigenpairs",
           "normalized_laplacian"]
