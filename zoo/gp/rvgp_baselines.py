"""RVGP's baselines: exact GPs that treat a vector field as ``D`` independent scalar fields, one per ambient component.

"Implicit Gaussian process representation of vector fields over arbitrary latent manifolds" (Peach et al., ICLR
2024) compares against both. Each is a :class:`~zoo.gp.rvgp.VectorGP` (the same ``fit`` / ``predict`` / marginal
likelihood) with a kernel ``K((i,a), (j,c)) = k(i, j) δ_ac`` (``independent``: the likelihood factors
``n_train × n_train``):

* :class:`EigenmapGP`, the reference's fallback: a graph Matérn (or squared-exponential) kernel on the scalar
  Laplacian eigenmaps, ``k(i, j) = Σ_m u_{i,m} S(λ_m) u_{j,m}`` with ``L u_m = λ_m u_m`` the ``k`` smallest
  eigenpairs of the combinatorial Laplacian ``L = Deg − W`` of the same kNN graph as RVGP's, ``S`` RVGP's spectral
  density, scaled so that the mean ``k(i, i)`` is ``σ_f``;
* :class:`AmbientGP`: a squared-exponential kernel on the ambient coordinates, ``k(i, j) = σ_f exp(−‖x_i − x_j‖² /
  2ℓ²)``.

Neither knows the tangent bundle: the components are independent a priori, so a prediction may leave the tangent
planes, and a hole in the data is filled by each component's own smooth interpolation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from zoo.functional.connection import knn_graph
from zoo.gp.rvgp import KERNELS, VectorGP, spectral_density


class EigenmapGP(VectorGP):
    """Independent GPs per ambient component on the scalar graph-Laplacian eigenmaps (module doc); ``kernel_matrix``
    is ``k (n1, n2)``.

    Args: n_eigenpairs (k), n_neighbors, kernel, nu, kappa (κ), variance (σ_f), noise (σ_n²), learn_noise: as
    :class:`~zoo.gp.rvgp.RVGP`'s.
    """

    independent = True

    def __init__(self, n_eigenpairs: int = 50, n_neighbors: int = 10, kernel: str = "matern", nu: float = 1.5,
                 kappa: float = 5.0, variance: float = 1.0, noise: float = 1e-3, learn_noise: bool = True):
        super().__init__(variance=variance, noise=noise, learn_noise=learn_noise)
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: expected one of {KERNELS}")
        if kappa <= 0:
            raise ValueError(f"kappa must be positive, got {kappa}")
        self.n_eigenpairs, self.n_neighbors, self.kernel, self.nu = n_eigenpairs, n_neighbors, kernel, nu
        self.log_kappa = nn.Parameter(torch.tensor(math.log(kappa), dtype=torch.float64))
        self.register_fitted("eigenvalues")    # λ (k,)
        self.register_fitted("eigenvectors")   # U (n, k)

    def build(self, points: np.ndarray) -> None:
        """The ``k`` smallest eigenpairs of ``L = Deg − W`` of the kNN graph of ``points (n, D)``."""
        from scipy.sparse.linalg import eigsh

        if not isinstance(self.n_neighbors, int) or not 1 <= self.n_neighbors < len(points):
            raise ValueError(f"n_neighbors={self.n_neighbors!r} needs 1 <= n_neighbors < the {len(points)} points: "
                             "pass fewer neighbours or more points")
        if not 1 <= self.n_eigenpairs < len(points):
            raise ValueError(f"n_eigenpairs={self.n_eigenpairs} must be below the {len(points)} points")
        W = knn_graph(points, self.n_neighbors)
        L = (-W).tolil()
        L.setdiag(np.asarray(W.sum(axis=1)).ravel())
        values, vectors = eigsh(L.tocsc(), k=self.n_eigenpairs, sigma=-1e-6, which="LM", v0=np.ones(len(points)))
        order = np.argsort(values)
        self.eigenvalues = torch.from_numpy(np.clip(values[order], 0.0, None))
        self.eigenvectors = torch.from_numpy(vectors[:, order])

    def kernel_matrix(self, idx1: Tensor, idx2: Tensor) -> Tensor:
        S = spectral_density(self.eigenvalues, self.log_kappa.exp(), self.kernel, self.nu)
        scale = self.log_variance.exp() / (self.eigenvectors.square() @ S).mean()   # mean k(i, i) = σ_f
        return scale * (self.eigenvectors[idx1] * S) @ self.eigenvectors[idx2].T


class AmbientGP(VectorGP):
    """Independent GPs per ambient component with a squared-exponential kernel on the coordinates (module doc);
    ``kernel_matrix`` is ``k (n1, n2)``.

    Args: lengthscale (initial ℓ), variance (σ_f), noise (σ_n²), learn_noise: fit σ_n² too.
    """

    independent = True

    def __init__(self, lengthscale: float = 0.5, variance: float = 1.0, noise: float = 1e-3,
                 learn_noise: bool = True):
        super().__init__(variance=variance, noise=noise, learn_noise=learn_noise)
        if lengthscale <= 0:
            raise ValueError(f"lengthscale must be positive, got {lengthscale}")
        self.log_lengthscale = nn.Parameter(torch.tensor(math.log(lengthscale), dtype=torch.float64))

    def build(self, points: np.ndarray) -> None:
        """Nothing beyond the points themselves."""

    def kernel_matrix(self, idx1: Tensor, idx2: Tensor) -> Tensor:
        distance2 = torch.cdist(self.points[idx1], self.points[idx2]).square()
        return self.log_variance.exp() * torch.exp(-distance2 / (2 * self.log_lengthscale.exp() ** 2))
