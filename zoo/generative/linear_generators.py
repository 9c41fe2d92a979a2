"""Linear generators of random histories, the baselines the WGAN-GP paper (Boukraichi et al.) argues against.

- :class:`PCAGenerator`: the Gaussian Karhunen-Loève model ``x = μ + Σ_{k ≤ K} √λ_k ξ_k φ_k``, ``ξ_k ~ N(0, 1)``, with
  ``(λ_k, φ_k)`` the top ``K`` eigenpairs of the training covariance (SVD of the centred data, ``1/(n − 1)``
  normalisation). With every component its mean and covariance are the training ones.
- :class:`PCAMixtureGenerator`: the same ``K`` principal scores modelled by a Gaussian mixture (scikit-learn's
  ``GaussianMixture``, full covariances) instead of independent Gaussians, mapped back by ``μ + Σ_k s_k φ_k``.

Both are plain objects with ``fit(x)`` / ``sample(n)``; ``x`` is ``(n, ...)`` (flattened to ``(n, D)``), samples
come back in ``x``'s trailing shape. Being linear in the components, neither can translate a front in time: a
varying arrival time spreads over many components, and a Gaussian draw mixes them into several half fronts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class PCAGenerator:
    """The Gaussian PCA / Karhunen-Loève generator with ``n_components`` components (module doc); float64.

    Attributes after :meth:`fit`: ``mean`` ``(D,)``, ``components`` ``(K, D)`` (orthonormal rows), ``variances``
    ``(K,)``."""

    def __init__(self, n_components: int, seed: int = 0):
        if n_components < 1:
            raise ValueError(f"n_components={n_components} must be a positive integer")
        self.n_components, self.generator = n_components, torch.Generator().manual_seed(seed)
        self.shape: tuple[int, ...] = ()

    def fit(self, x: Tensor) -> "PCAGenerator":
        x = torch.as_tensor(x, dtype=torch.float64)
        if len(x) < 2 or self.n_components > min(len(x), x[0].numel()):
            raise ValueError(f"n_components={self.n_components} needs at least that many samples and features, "
                             f"and 2 samples; got x {tuple(x.shape)}")
        self.shape, flat = tuple(x.shape[1:]), x.reshape(len(x), -1)
        self.mean = flat.mean(0)
        _, singular, vh = torch.linalg.svd(flat - self.mean, full_matrices=False)
        self.components = vh[:self.n_components]
        self.variances = singular[:self.n_components] ** 2 / (len(x) - 1)
        return self

    def scores(self, x: Tensor) -> Tensor:
        """The principal scores ``(n, K)`` of ``x`` ``(n, ...)``."""
        return (torch.as_tensor(x, dtype=torch.float64).reshape(len(x), -1) - self.mean) @ self.components.T

    def reconstruct(self, scores: Tensor) -> Tensor:
        """``μ + scores Φ`` in the data's shape: ``(n, K)`` -> ``(n, ...)``."""
        return (self.mean + scores @ self.components).reshape(len(scores), *self.shape)

    def covariance(self) -> Tensor:
        """The model's covariance ``Φᵀ diag(λ) Φ`` ``(D, D)``."""
        return self.components.T @ (self.variances[:, None] * self.components)

    def sample(self, n: int) -> Tensor:
        """``n`` draws ``(n, ...)`` float64."""
        if not hasattr(self, "mean"):
            raise RuntimeError("call fit(x) before sample(n)")
        xi = torch.randn(n, self.n_components, generator=self.generator, dtype=torch.float64)
        return self.reconstruct(xi * self.variances.sqrt())


class PCAMixtureGenerator(PCAGenerator):
    """A Gaussian mixture of ``n_mixture`` full-covariance components on the ``n_components`` principal scores
    (module doc)."""

    def __init__(self, n_components: int, n_mixture: int = 10, seed: int = 0):
        super().__init__(n_components, seed)
        if n_mixture < 1:
            raise ValueError(f"n_mixture={n_mixture} must be a positive integer")
        self.n_mixture, self.seed = n_mixture, seed

    def fit(self, x: Tensor) -> "PCAMixtureGenerator":
        from sklearn.mixture import GaussianMixture

        super().fit(x)
        self.mixture = GaussianMixture(self.n_mixture, covariance_type="full", random_state=self.seed)
        self.mixture.fit(self.scores(x).numpy())
        self.rng = np.random.default_rng(self.seed)
        return self

    def sample(self, n: int) -> Tensor:
        if not hasattr(self, "mixture"):
            raise RuntimeError("call fit(x) before sample(n)")
        self.mixture.random_state = self.rng.integers(2**31)
        scores, _ = self.mixture.sample(n)
        return self.reconstruct(torch.from_numpy(scores[self.rng.permutation(n)]))
