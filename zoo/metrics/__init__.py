"""Metrics that papers report."""

from zoo.metrics.bures import bures_wasserstein_squared, bw2_uvp, cbw2_uvp, cbw2_uvp_moments, sample_moments
from zoo.metrics.images import psnr, spectral_angle, ssim
from zoo.metrics.molecules import (atom_stability, molecule_metrics, spectrum_retrieval, structure_key, tanimoto,
                                   top_k_accuracy)
from zoo.metrics.samples import energy_distance, sliced_wasserstein, wasserstein_1d
from zoo.metrics.operators import (RelativeH1Error, RelativeL2Error, RelativeLpError, relative_h1, relative_l2,
                                   relative_lp)
from zoo.metrics.timeseries import discriminative_score, discriminative_scores, predictive_score
from zoo.metrics.vector_fields import (field_relative_l2, field_singularities, mean_angular_error, normal_fraction,
                                       singularity_error)

__all__ = [
    "RelativeH1Error", "RelativeL2Error", "RelativeLpError", "atom_stability", "bures_wasserstein_squared", "bw2_uvp",
    "cbw2_uvp", "cbw2_uvp_moments", "discriminative_score", "discriminative_scores", "energy_distance",
    "field_relative_l2",
    "field_singularities", "mean_angular_error", "molecule_metrics", "normal_fraction", "predictive_score", "psnr", "relative_h1", "relative_l2", "relative_lp", "sample_moments", "singularity_error", "sliced_wasserstein",
    "spectral_angle", "spectrum_retrieval", "ssim", "structure_key", "tanimoto", "top_k_accuracy", "wasserstein_1d",
]
