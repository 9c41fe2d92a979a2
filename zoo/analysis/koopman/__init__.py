"""Koopman operators learned from snapshot data, with verification ("Limits and Powers of Koopman Learning",
Colbrook, Mezić, Stepanenko): EDMD eigenpairs, ResDMD residuals that reject spectral pollution, pseudospectra, the
dictionaries they are computed in, and a check of a sequence model's latent dynamics on held-out trajectories."""

from zoo.analysis.koopman import dictionaries
from zoo.analysis.koopman.resdmd import QRForm, edmd, koopman_matrix, pseudospectrum, qr_form, resdmd, residual
from zoo.analysis.koopman.trajectories import LatentSpectrum, latent_koopman_residuals, snapshot_pairs

__all__ = ["LatentSpectrum", "QRForm", "dictionaries", "edmd", "koopman_matrix", "latent_koopman_residuals",
           "pseudospectrum", "qr_form", "resdmd", "residual", "snapshot_pairs"]
