"""Gaussian processes: RVGP over tangent vector fields of point-cloud manifolds (GP-HM and FunBaT to come)."""

from zoo.gp.rvgp import RVGP

__all__ = ["RVGP"]
