"""Equivariant layers on spherical-harmonic features (e3nn's real basis) and the MACE-style potentials built on them:
``gaunt_mace`` (Gaunt products) and ``cg_mace`` (e3nn's Clebsch-Gordan products)."""

from zoo.equivariant.gaunt import GauntTensorProduct, gaunt_coefficients
from zoo.equivariant.mace import MACE

__all__ = ["GauntTensorProduct", "MACE", "gaunt_coefficients"]
