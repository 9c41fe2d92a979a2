"""Gaussian processes: GP-HM's spectral-mixture PDE solver, RVGP over tangent vector fields of point-cloud manifolds
(with its baselines), FunBaT's functional Tucker decomposition."""

from zoo.gp.funbat import FunBaT
from zoo.gp.gp_hm import GPHM
from zoo.gp.kernels import spectral_mixture
from zoo.gp.rvgp import RVGP, VectorGP
from zoo.gp.rvgp_baselines import AmbientGP, EigenmapGP

__all__ = ["AmbientGP", "EigenmapGP", "FunBaT", "GPHM", "RVGP", "VectorGP", "spectral_mixture"]
