"""Gaussian processes: RVGP over tangent vector fields of point-cloud manifolds, GP-HM's spectral-mixture kernels
(the GP-HM solver and FunBaT to come)."""

from zoo.gp.kernels import spectral_mixture
from zoo.gp.rvgp import RVGP

__all__ = ["RVGP", "spectral_mixture"]
