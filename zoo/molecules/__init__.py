"""Molecules: DiffSpectra (Diffusion Molecule Transformer + SpecFormer) for structure elucidation from spectra."""

from zoo.molecules.specformer import SpecFormer  # registers "specformer"
from zoo.molecules.dmt import DMT, DiffSpectra  # registers "diffspectra"

__all__ = ["DMT", "DiffSpectra", "SpecFormer"]
