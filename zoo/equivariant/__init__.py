"""Equivariant layers on spherical-harmonic features (e3nn's real basis)."""

from zoo.equivariant.gaunt import GauntTensorProduct, gaunt_coefficients

__all__ = ["GauntTensorProduct", "gaunt_coefficients"]
