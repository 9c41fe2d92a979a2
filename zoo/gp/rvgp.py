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

:class:`VectorGP` holds what does not depend on the kernel (the likelihood, the fit, the posterior); the baselines
of :mod:`zoo.gp.rvgp_baselines` share it. The fitted state (the points, ``Λ``, ``Φ``, the training nodes and vectors)
is made of :class:`zoo.checkpoint.Fitted` buffers, so a fitted model round-trips through ``zoo.save_pretrained`` /
``zoo.load_model`` and a Lightning checkpoint.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from zoo.checkpoint import Fitted
from zoo.functional.connection import connection_laplacian
from zoo.registry import register_model

PAPER = ("Implicit Gaussian process representation of vector fields over arbitrary latent manifolds (Peach et al., "
         "ICLR 2024)")

KERNELS = ("matern", "se")


def spectral_density(eigenvalues: Tensor, kappa: Tensor, kernel: str = "matern", nu: float = 1.5) -> Tensor:
    """``S(λ)`` up to scale (module doc)."""
    if kernel == "matern":
        return (2 * nu / kappa**2 + eigenvalues) ** (-nu)
    return torch.exp(-kappa**2 * eigenvalues / 2)


def _example(model: "RVGP") -> tuple[Tensor, tuple[int, int]]:
    """Fit (``steps=0``) on rotation vectors ``e_z × x`` at 20 of 60 Fibonacci-sphere points; predict at 5 nodes."""
    i = torch.arange(60, dtype=torch.float64) + 0.5
    z, phi = 1 - 2 * i / 60, math.pi * (1 + 5**0.5) * i
    points = torch.stack([(1 - z**2).sqrt() * phi.cos(), (1 - z**2).sqrt() * phi.sin(), z], dim=1)
    train_idx = torch.arange(0, 60, 3)
    rotation = torch.stack([-points[:, 1], points[:, 0], 0 * z], dim=1)
    model.fit(points=points, train_idx=train_idx, vectors=rotation[train_idx], steps=0)
    return torch.arange(1, 60, 12), (5, 3)


class VectorGP(Fitted):
    """An exact GP over the vectors ``(n, D)`` of a point cloud's nodes, one output per (node, ambient component):
    the likelihood, the fit and the posterior, given a subclass's :meth:`build` (what the kernel needs of the points)
    and :meth:`kernel_matrix`. ``σ_f`` (``variance``) and ``σ_n²`` (``noise``, fitted too with ``learn_noise``) are
    shared; a subclass adds its own hyper-parameters as ``nn.Parameter``. A subclass whose components are
    independent with one kernel ``k`` (``K = k ⊗ I_D``) sets ``independent = True`` and gives ``k`` alone: the GP
    then factors ``n_train × n_train``, not ``n_train D × n_train D``.

    ``forward(idx (B,) long) -> mean (B, D)``: the posterior mean after :meth:`fit`, differentiable in the
    hyper-parameters (:meth:`predict` is the same without autograd, with variances).
    """

    independent: bool = False

    def __init__(self, variance: float, noise: float, learn_noise: bool):
        super().__init__()
        if min(variance, noise) <= 0:
            raise ValueError(f"variance and noise must be positive, got {variance}, {noise}")
        self.learn_noise = learn_noise
        self.log_variance = nn.Parameter(torch.tensor(math.log(variance), dtype=torch.float64))
        self.log_noise = nn.Parameter(torch.tensor(math.log(noise), dtype=torch.float64), requires_grad=learn_noise)
        for name in ("points", "train_vectors"):
            self.register_fitted(name)                       # X (n, D), y (n_train, D)
        self.register_fitted("train_idx", dtype=torch.long)  # (n_train,)

    def build(self, points: np.ndarray) -> None:
        """Set the kernel's fitted buffers from ``points (n, D)``."""
        raise NotImplementedError

    def kernel_matrix(self, idx1: Tensor, idx2: Tensor) -> Tensor:
        """``K ((len(idx1) D), (len(idx2) D))`` between the nodes' ambient components, node-major; with
        ``independent``, the per-component ``k (len(idx1), len(idx2))``."""
        raise NotImplementedError

    def covariance(self, idx1: Tensor, idx2: Tensor) -> Tensor:
        """``K ((len(idx1) D), (len(idx2) D))`` between the nodes' ambient components, node-major."""
        K = self.kernel_matrix(idx1, idx2)
        return torch.kron(K, torch.eye(self.points.shape[1], dtype=K.dtype)) if self.independent else K

    def _targets(self) -> Tensor:
        """The training vectors as the right-hand sides of :meth:`kernel_matrix`: ``(n_train D, 1)``, or
        ``(n_train, D)`` with ``independent``."""
        return self.train_vectors if self.independent else self.train_vectors.reshape(-1, 1)

    def _train_factor(self) -> Tensor:
        """Cholesky factor of ``K_XX + σ_n² I`` (plus a 1e-10 relative jitter: K may be rank-deficient)."""
        K = self.kernel_matrix(self.train_idx, self.train_idx)
        jitter = 1e-10 * torch.diagonal(K).mean().detach()
        eye = torch.eye(len(K), dtype=K.dtype)
        return torch.linalg.cholesky((K + K.T) / 2 + (self.log_noise.exp() + jitter) * eye)

    def negative_log_likelihood(self) -> Tensor:
        """``−log p(y)`` of the training vectors under the GP (per observation)."""
        y = self._targets()
        chol = self._train_factor()
        fit = (y * torch.cholesky_solve(y, chol)).sum()
        log_det = y.shape[1] * torch.log(torch.diagonal(chol)).sum()
        return (0.5 * fit + log_det) / y.numel() + 0.5 * math.log(2 * math.pi)

    def set_manifold(self, points) -> "VectorGP":
        """Take ``points (n, D)`` as the nodes (forgetting any training vectors) and :meth:`build` the kernel."""
        self.points = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
        self.build(self.points.numpy())
        self.train_idx, self.train_vectors = torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.float64)
        return self

    def fit(self, points: Tensor | None = None, *, train_idx: Tensor, vectors: Tensor, steps: int = 50) -> list[float]:
        """Condition on ``vectors (n_train, D)`` at nodes ``train_idx (n_train,)`` and fit the hyper-parameters by
        L-BFGS on the marginal likelihood; ``steps = 0`` keeps them. ``points (n, D)``, when given, are first passed
        to :meth:`set_manifold`. Returns the negative log-likelihood per evaluation."""
        if points is not None:
            self.set_manifold(points)
        train_idx = torch.as_tensor(train_idx, dtype=torch.long)
        vectors = torch.as_tensor(vectors, dtype=torch.float64)
        if not self.points.numel():
            raise RuntimeError("call set_manifold(points) before fit, or pass fit(points=...)")
        n, D = self.points.shape
        if vectors.shape != (len(train_idx), D):
            raise ValueError(f"vectors must be (len(train_idx), D) = ({len(train_idx)}, {D}), "
                             f"got {tuple(vectors.shape)}")
        if len(train_idx.unique()) != len(train_idx):
            raise ValueError("train_idx repeats a node (the reference's sampling with replacement does): pass "
                             "distinct nodes")
        if len(train_idx) and not 0 <= int(train_idx.min()) <= int(train_idx.max()) < n:
            raise ValueError(f"train_idx must index the {n} nodes (0 .. {n - 1})")
        self.train_idx, self.train_vectors = train_idx, vectors
        history = []
        if steps:
            optimizer = torch.optim.LBFGS([p for p in self.parameters() if p.requires_grad], max_iter=steps,
                                          line_search_fn="strong_wolfe")

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
        return self.posterior(idx, return_var)

    def posterior(self, idx: Tensor, return_var: bool = False):
        """:meth:`predict` with autograd through the hyper-parameters."""
        if not self.is_fitted:
            raise RuntimeError("call fit(train_idx=..., vectors=...) before predicting")
        idx = torch.as_tensor(idx, dtype=torch.long)
        chol = self._train_factor()
        cross = self.kernel_matrix(idx, self.train_idx)
        mean = (cross @ torch.cholesky_solve(self._targets(), chol)).reshape(len(idx), -1)
        if not return_var:
            return mean
        prior = torch.diagonal(self.kernel_matrix(idx, idx))
        explained = torch.linalg.solve_triangular(chol, cross.T, upper=False).square().sum(0)
        variance = (prior - explained).clamp_min(0).reshape(len(idx), -1)
        return mean, variance.expand_as(mean)

    def forward(self, idx: Tensor) -> Tensor:
        return self.posterior(idx)


@register_model("rvgp", family="gp", paper=PAPER, task="bayes_fit", example=_example)
class RVGP(VectorGP):
    """RVGP (module doc): a :class:`VectorGP` whose kernel is the lifted connection-Laplacian spectrum.

    Args:
        n_eigenpairs: k, the eigenpairs of ``L_c`` in the kernel. n_neighbors: of the kNN graph. dim: the manifold
        dimension d (``None``: from local PCA). kernel: ``"matern"`` or ``"se"``; nu: the Matérn smoothness.
        kappa, variance, noise: initial κ, σ_f and σ_n². learn_noise: fit σ_n² too.
    """

    def __init__(self, n_eigenpairs: int = 50, n_neighbors: int = 10, dim: int | None = None, kernel: str = "matern",
                 nu: float = 1.5, kappa: float = 5.0, variance: float = 1.0, noise: float = 1e-3,
                 learn_noise: bool = True):
        super().__init__(variance=variance, noise=noise, learn_noise=learn_noise)
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: expected one of {KERNELS}")
        if kappa <= 0:
            raise ValueError(f"kappa must be positive, got {kappa}")
        self.n_eigenpairs, self.n_neighbors, self.dim, self.kernel, self.nu = n_eigenpairs, n_neighbors, dim, kernel, nu
        self.log_kappa = nn.Parameter(torch.tensor(math.log(kappa), dtype=torch.float64))
        self.register_fitted("eigenvalues")   # Λ (k,)
        self.register_fitted("encoding")      # Φ (n, D, k)

    def build(self, points: np.ndarray) -> None:
        """The lifted encoding ``Φ (n, D, k)`` and the eigenvalues ``Λ (k,)`` of ``points (n, D)``."""
        from scipy.sparse.linalg import eigsh

        L_c, frames = connection_laplacian(points, n_neighbors=self.n_neighbors, dim=self.dim)
        n, d = frames.shape[0], frames.shape[2]
        if not 1 <= self.n_eigenpairs < n * d:
            raise ValueError(f"n_eigenpairs={self.n_eigenpairs} must be below n d = {n * d} for {n} points of "
                             f"dimension {d}")
        # the smallest eigenpairs, by shift-invert just below 0 (L_c is PSD, so the shifted matrix is definite)
        values, vectors = eigsh(L_c.tocsc(), k=self.n_eigenpairs, sigma=-1e-6, which="LM", v0=np.ones(n * d))
        order = np.argsort(values)
        U = torch.from_numpy(vectors[:, order]).reshape(n, d, -1)
        self.eigenvalues = torch.from_numpy(np.clip(values[order], 0.0, None))
        self.encoding = torch.einsum("nab,nbk->nak", frames, U)

    def kernel_matrix(self, idx1: Tensor, idx2: Tensor) -> Tensor:
        if not self.encoding.numel():
            raise RuntimeError("call set_manifold(points) (or fit(points=...)) before using the kernel")
        S = spectral_density(self.eigenvalues, self.log_kappa.exp(), self.kernel, self.nu)
        scale = self.log_variance.exp() / (self.encoding.square().sum(1) @ S).mean()   # mean tr K_ii = σ_f
        A, B = self.encoding[idx1].flatten(0, 1), self.encoding[idx2].flatten(0, 1)
        return scale * (A * S) @ B.T
