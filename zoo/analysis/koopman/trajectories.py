"""Koopman eigenpairs of trajectory data verified on held-out trajectories (e.g. a sequence model's latents).

Trajectories ``z`` (B, T, k) give the snapshot pairs ``(z_t, z_{t+1})`` of every sequence. EDMD learns eigenpairs on
one set of trajectories; their residuals are evaluated on another, never the same (residuals on the training data
are biased towards 0). To check a given linear latent map ``z_{t+1} ≈ z_t A`` (row convention, as the KVAE's
``koopman_matrix()``): its Koopman eigenfunctions in the linear dictionary ``ψ(z) = z`` are ``g(z) = z w`` with
``A w = λ w``, so::

    eigvals, w = torch.linalg.eig(A)
    res = residual(*snapshot_pairs(z_test), eigvals=eigvals, eigvecs=w)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import Tensor

from zoo.analysis.koopman.resdmd import RCOND, edmd, residual


class LatentSpectrum(NamedTuple):
    """EDMD eigenvalues (N,), eigenvectors (N, N) (dictionary coefficients) learned on training trajectories, and
    their residuals (N,) on held-out trajectories."""

    eigvals: Tensor
    eigvecs: Tensor
    residuals: Tensor


def snapshot_pairs(trajectories: Tensor) -> tuple[Tensor, Tensor]:
    """``(X, Y)``, each (B (T − 1), k): ``X`` stacks ``z_t`` and ``Y`` stacks ``z_{t+1}`` of trajectories (B, T, k)."""
    if not isinstance(trajectories, Tensor) or trajectories.dim() != 3 or trajectories.shape[1] < 2:
        raise ValueError(f"trajectories must be a tensor (B, T, k) with T >= 2, got "
                         f"{getattr(trajectories, 'shape', type(trajectories).__name__)}")
    k = trajectories.shape[-1]
    return trajectories[:, :-1].reshape(-1, k), trajectories[:, 1:].reshape(-1, k)


def latent_koopman_residuals(z_train: Tensor, z_test: Tensor, dictionary: Callable[[Tensor], Tensor] | None = None,
                             *, rcond: float = RCOND) -> LatentSpectrum:
    """EDMD on the trajectories ``z_train`` (B, T, k) in ``dictionary`` ((M, k) -> (M, N); default the linear
    ``ψ(z) = z``), with residuals ``res(λ_j, g_j)`` on the held-out trajectories ``z_test`` (B', T', k)."""
    if isinstance(z_train, Tensor) and z_train is z_test:
        raise ValueError("z_test must be held-out trajectories, not z_train: residuals on the training data are "
                         "biased towards 0")
    psi = dictionary if dictionary is not None else (lambda z: z)
    train_x, train_y = snapshot_pairs(z_train)
    test_x, test_y = snapshot_pairs(z_test)
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"z_train and z_test must have the same latent size k, got {train_x.shape[1]} and "
                         f"{test_x.shape[1]}")
    eigvals, eigvecs = edmd(psi(train_x), psi(train_y), rcond=rcond)
    return LatentSpectrum(eigvals=eigvals, eigvecs=eigvecs,
                          residuals=residual(psi(test_x), psi(test_y), eigvals=eigvals, eigvecs=eigvecs, rcond=rcond))
