"""Metrics that papers report."""

from zoo.metrics.bures import bures_wasserstein_squared, bw2_uvp, cbw2_uvp, cbw2_uvp_moments, sample_moments
from zoo.metrics.images import psnr, spectral_angle, ssim
from zoo.metrics.molecules import (atom_stability, molecule_metrics, spectrum_retrieval, structure_key, tanimoto,
                                   top_k_accuracy)
from zoo.metrics.operators import (RelativeH1Error, RelativeL2Error, RelativeLpError, relative_h1, relative_l2,
                                   relative_lp)
from zoo.metrics.timeseries import discriminative_score, discriminative_scores, predictive_score

__all__ = [
    "RelativeH1Error", "RelativeL2Error", "RelativeLpError", "atom_stability", "bures_wasserstein_squared", "bw2_uvp",
    "cbw2_uvp", "cbw2_uvp_moments", "discriminative_score", "discriminative_scores", "molecule_metrics",
    "predictive_score", "psnr", "relative_h1", "relative_l2", "relative_lp", "sample_moments", "spectral_angle",
    "spectrum_retrieval", "ssim", "structure_key", "tanimoto", "top_k_accuracy",
]
