"""Pure math that more than one layer needs (data, models, metrics): Laplacian eigenpairs of graphs, spline fits of
irregular series, Gaussian-mixture moments, the variance-preserving diffusion schedule, forces of a potential by autograd. Nothing here imports a model family, Lightning or Hydra."""

from zoo.functional.diffusion import VPSchedule
from zoo.functional.forces import energy_and_forces
from zoo.functional.laplacian import LaplacianEigenpairs, eigvec_mask, laplacian_eigenpairs, normalized_laplacian
from zoo.functional.mixtures import mixture_moments
from zoo.functional.splines import spline_coeffs

__all__ = ["LaplacianEigenpairs", "VPSchedule", "eigvec_mask", "energy_and_forces", "laplacian_eigenpairs", "mixture_moments", "normalized_laplacian",
           "spline_coeffs"]
