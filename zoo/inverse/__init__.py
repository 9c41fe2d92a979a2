"""Linear inverse problems on images with a diffusion prior (a tool package: no registry entry, never imports a
model family; the samplers take any ε-model ``model(x_t, alpha_bar)`` that carries ``model.schedule``).

- forward operators ``A`` with adjoints ``Aᴴ`` (:mod:`zoo.inverse.operators`), batched conjugate gradients, the TV
  baseline;
- DDS and DPS (:mod:`zoo.inverse.dds`), the exact Gaussian prior for checking them (:mod:`zoo.inverse.gaussian`);
- HIR-Diff and its baselines (:mod:`zoo.inverse.hirdiff`, :mod:`zoo.inverse.baselines`).
"""

from zoo.inverse.baselines import bm3d_bands, guidance_only, svd_projection
from zoo.inverse.cg import cg
from zoo.inverse.dds import dds, dps
from zoo.inverse.diffusion import check_epsilon_model, tweedie
from zoo.inverse.gaussian import StationaryGaussianPrior, WienerEpsilon, grf_spectrum
from zoo.inverse.hirdiff import exp_schedule, hirdiff, linear_schedule, naive_estimate, subspace_basis
from zoo.inverse.operators import (BlurDownsample, Identity, Inpaint, LinearOperator, MRIMask, ParallelBeamCT,
                                   coil_maps, gaussian_kernel)
from zoo.inverse.tv import operator_norm, total_variation, tv_reconstruction

__all__ = ["BlurDownsample", "Identity", "Inpaint", "LinearOperator", "MRIMask", "ParallelBeamCT",
           "StationaryGaussianPrior", "WienerEpsilon", "bm3d_bands", "cg", "check_epsilon_model",
           "coil_maps", "dds", "dps", "exp_schedule", "gaussian_kernel", "grf_spectrum", "guidance_only", "hirdiff",
           "linear_schedule", "naive_estimate", "operator_norm", "subspace_basis", "svd_projection",
           "total_variation", "tv_reconstruction", "tweedie"]
