"""Tools that take any ``nn.Module`` (registered or not): Hessian and Gauss–Newton spectra of the full-data loss
(``zoo.analysis.hessian``, Sagun et al.). The Koopman tools live in the subpackage ``zoo.analysis.koopman``."""

from zoo.analysis.hessian import (
    gauss_newton_matrix,
    gauss_newton_spectrum,
    gnvp,
    hessian_matrix,
    hessian_spectrum,
    hvp,
    interpolate_loss,
    outlier_count,
)
from zoo.analysis.lanczos import SpectralDensity

__all__ = ["SpectralDensity", "gauss_newton_matrix", "gauss_newton_spectrum", "gnvp", "hessian_matrix",
           "hessian_spectrum", "hvp", "interpolate_loss", "outlier_count"]
