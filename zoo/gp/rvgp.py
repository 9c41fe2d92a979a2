"""RVGP: an exact Gaussian process over tangent vector fields of a point-cloud manifold.

"Implicit Gaussian process representation of vector fields over arbitrary latent manifolds" (Peach et al., ICLR
2024). On points ``X (n, D)`` with frames ``T_i (D, d)`` and connection Laplacian ``L_c`` (``nd × nd``;
:func:`zoo.functional.connection.connection_laplacian`), take its ``k`` smallest eigenpairs ``L_c U = U Λ`` and lift
them to the ambient space, one row per (node, ambient component)::

    Φ_{(i,a), m} = Σ_b T_i[a, b] U_{(i,b), m}                                    Φ (n, D, k)
    K((i,a), (j,c)) = Σ_m Φ_{(i,a),m} S(λ_m) Φ_{(j,c),m}
    S(λ) ∝ (2ν/κ² + λ)^{−ν}   (Matérn, ν = 3/2 by default)   or   ∝ exp(−κ² λ / 2)   (squared exponential)

``S`` is scaled so that the mean prior variance of a node's vector is ``σ_f`` (``tr K_ii`` averaged over the nodes).
The kernel is built from the tangent bundle's own spectrum, so a sample is a smooth tangent field and may keep
singularities (the sphere has no parallel field). Observations are vectors at a subset of the nodes with Gaussian
noise of variance ``σ_n²``; the hyper-parameters ``κ, σ_f, σ_n`` are fitted by L-BFGS on the exact log marginal
likelihood, in float64.

Reference-code behaviour deliberately changed: the reference passes ``noise_variance=None`` to GPflow, so a user's
noise is ignored; here ``noise`` is the initial (and, with ``learn_noise=False``, the fixed) ``σ_n²``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from zoo.functional.connection import connection_laplacian

KERNELS = ("matern", "se")


def spectral_density(eigenvalues: Tensor, kappa: Tensor, kernel: str = "matern", nu: float = 1.5) -> Tensor:
    """``S(λ)`` up to scale (module doc)."""
    if kernel == "matern":
        return (2 * nu / kappa**2 + eigenvalues) ** (-nu)
    return torch.exp(-kappa**2 * eigenvalues / 2)


class RVGP(nn.Module):
    """``forward(idx (B,) long) -> mean (B, D)``: the posterior mean vectors at nodes ``idx`` after :meth:`fit`.

    Args:
        n_eigenpairs: k, the eigenpairs of ``L_c`` in the kernel. n_neighbors: of the kNN graph. dim: the manifold
        dimension d (``None``: from local PCA). kernel: ``"matern"`` or ``"se"``; nu: the Matérn smoothness.
        kappa, variance, noise: initial κ, σ_f and σ_n². learn_noise: fit σ_n² too.
    """

    def __init__(self, n_eigenpairs: int = 50, n_neighbors: int = 10, dim: int | None = None, kernel: str = "matern",
                 nu: float = 1.5, kappa: float = 5.0, variance: float = 1.0, noise: float = 1e-3,
                 learn_noise: bool = True):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: expected one of {KERNELS}")
        if min(kappa, variance, noise) <= 0:
            raise ValueError(f"kappa, variance and noise must be positive, got {kappa}, {variance}, {noise}")
        self.n_eigenpairs, self.n_neighbors, self.dim = n_eigenpairs, n_neighbors, dim
        self.kernel, self.nu, self.learn_noise = kernel, nu, learn_noise
        self.log_kappa = nn.Parameter(torch.tensor(math.log(kappa), dtype=torch.float64))
        self.log_variance = nn.Parameter(torch.tensor(math.log(variance), dtype=torch.float64))
        self.log_noise = nn.Parameter(torch.tensor(math.log(noise), dtype=torch.float64), requires_grad=learn_noise)
        for name in ("eigenvalues", "encoding", "train_idx", "train_vectors"):
            self.register_buffer(name, None)

    def set_manifold(self, points) -> "RVGP":
        """Build the lifted encoding ``Φ (n, D, k)`` and the eigenvalues ``Λ (k,)`` of ``points (n, D)``."""
        from scipy.sparse.linalg import eigsh

        L_c, frames = connection_laplacian(points, n_neighbors=self.n_neighbors, dim=self.dim)
        n, d = frames.shape[0], frames.shape[2]
        if not 1 <= self.n_eigenpairs < n * d:
            raise ValueError(f"n_eigenpairs={self.n_eigenpairs} must be below n d = {n * d} for {n} points of "
                             f"dimension {d}")
        # the smallest eigenpairs, by shift-invert just below 0 (L_c is PSD, so the shifted matrix is definite)
        values, vectors = eigsh(L_c.tocsc(), k=self.n_eigenpairs, sigma=-1e-6, which="LM",
                                v0=np.ones(n * d))
        order = np.argsort(values)
        U = torch.from_numpy(vectors[:, order]).reshape(n, d, -1)
        self.eigenvalues = torch.from_numpy(np.clip(values[order], 0.0, None))
        self.encoding = torch.einsum("nab,nbk->nak", frames, U)
        return self

    def covariance(self, idx1: Tensor, idx2: Tensor) -> Tensor:
        """``K ((len(idx1) D), (len(idx2) D))`` between the nodes' ambient components, node-major."""
        if self.encoding is None:
            raise RuntimeError("call set_manifold(points) before using the kernel")
        S = spectral_density(self.eigenvalues, self.log_kappa.exp(), self.kernel, self.nu)
        scale = self.log_variance.exp() / (self.encoding.square().sum(1) @ S).mean()   # mean tr K_ii = σ_f
        A, B = self.encoding[idx1].flatten(0, 1), self.encoding[idx2].flatten(0, 1)
        return scale * (A * S) @ B.T

    def _train_factor(self) -> Tensor:
        """Cholesky factor of ``K_XX + σ_n² I`` (plus a 1e-10 relative jitter: K has rank ≤ d per node, not D)."""
        K = self.covariance(self.train_idx, self.train_idx)
        jitter = 1e-10 * torch.diagonal(K).mean().detach()
        eye = torch.eye(len(K), dtype=K.dtype)
        return torch.linalg.cholesky((K + K.T) / 2 + (self.log_noise.exp() + jitter) * eye)

    def negative_log_likelihood(self) -> Tensor:
        """``−log p(y)`` of the training vectors under the GP (per observation)."""
        y = self.train_vectors.flatten()
        chol = self._train_factor()
        alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
        return (0.5 * y @ alpha + torch.log(torch.diagonal(chol)).sum() + 0.5 * len(y) * math.log(2 * math.pi)) / len(y)

    def fit(self, train_idx: Tensor, vectors: Tensor, steps: int = 50) -> list[float]:
        """Condition on ``vectors (n_train, D)`` at nodes ``train_idx (n_train,)`` and fit κ, σ_f (and σ_n²) by L-BFGS;
        ``steps = 0`` keeps the hyper-parameters. Returns the negative log-likelihood per iteration."""
        train_idx = torch.as_tensor(train_idx, dtype=torch.long)
        vectors = torch.as_tensor(vectors, dtype=torch.float64)
        if self.encoding is None:
            raise RuntimeError("call set_manifold(points) before fit")
        if vectors.shape != (len(train_idx), self.encoding.shape[1]):
            raise ValueError(f"vectors must be (len(train_idx), D) = ({len(train_idx)}, {self.encoding.shape[1]}), "
                             f"got {tuple(vectors.shape)}")
        if len(train_idx.unique()) != len(train_idx):
            raise ValueError("train_idx repeats a node (the reference's sampling with replacement does): pass "
                             "distinct nodes")
        self.train_idx, self.train_vectors = train_idx, vectors
        history = []
        if steps:
            parameters = [p for p in (self.log_kappa, self.log_variance, self.log_noise) if p.requires_grad]
            optimizer = torch.optim.LBFGS(parameters, max_iter=steps, line_search_fn="strong_wolfe")

            def closure():
                optimizer.zero_grad()
                loss = self.negative_log_likelihood()
                loss.backward()
                history.append(loss.item())
                return loss

            optimizer.step(closure)
        return history

    @torch.no_grad()
    def predict(self, idx: Tensor, return_var: bool = False):
        """Posterior mean ``(B, D)`` at nodes ``idx``, and with ``return_var`` the marginal variances ``(B, D)``."""
        if self.train_idx is None:
            raise RuntimeError("call fit(train_idx, vectors) before predicting")
        idx = torch.as_tensor(idx, dtype=torch.long)
        chol = self._train_factor()
        cross = self.covariance(idx, self.train_idx)
        mean = (cross @ torch.cholesky_solve(self.train_vectors.flatten()[:, None], chol))[:, 0]
        mean = mean.reshape(len(idx), -1)
        if not return_var:
            return mean
        prior = torch.diagonal(self.covariance(idx, idx))
        explained = torch.linalg.solve_triangular(chol, cross.T, upper=False).square().sum(0)
        return mean, (prior - explained).clamp_min(0).reshape(len(idx), -1)

    def forward(self, idx: Tensor) -> Tensor:
        return self.predict(idx)
