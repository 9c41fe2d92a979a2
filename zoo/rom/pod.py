"""Proper orthogonal decomposition (POD), global and per cluster, and the projection error of a basis.

The snapshots of one cluster, the columns of ``S_kᵀ (n, n_k)``, have the thin SVD ``S_kᵀ = V Σ Wᵀ``; the POD basis of
``m`` modes is ``V_m``, the first ``m`` left singular vectors (no centring: a reduced-order basis spans the snapshots
themselves, which is what makes it blind to their scale and sign). By Eckart–Young it is the best rank-``m`` subspace
for the snapshots, with

    Σ_i ‖u_i − V_m V_mᵀ u_i‖² = Σ_{j > m} σ_j²,

and it holds them exactly once ``m = n_k``. A snapshot ``u`` is approximated in basis ``V`` by its orthogonal
projection; :func:`projection_error` is the relative error ``‖u − V Vᵀ u‖ / ‖u‖``. The number of modes is given
(``n_modes``) or chosen as the least ``m`` whose relative tail ``√(Σ_{j>m} σ_j² / Σ_j σ_j²)`` is at most ``tol``.
"""

from __future__ import annotations

import numpy as np


def pod(S, *, n_modes: int | None = None, tol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The POD basis of snapshots ``S (n_snap, n)``: ``(basis (n, m), σ (min(n_snap, n),))`` float64, with
    ``m = min(n_modes, n_snap, n)`` or the least ``m`` whose relative tail energy is at most ``tol`` (module doc);
    give exactly one of the two."""
    if (n_modes is None) == (tol is None):
        raise ValueError(f"pod: give exactly one of n_modes (a number of modes) and tol (a relative tail, e.g. 1e-3); "
                         f"got n_modes={n_modes!r}, tol={tol!r}")
    if n_modes is not None and (not isinstance(n_modes, (int, np.integer)) or n_modes < 1):
        raise ValueError(f"n_modes={n_modes!r}: expected a positive integer")
    if tol is not None and not 0 <= tol < 1:
        raise ValueError(f"tol={tol!r}: expected a relative tail in [0, 1)")
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or len(S) == 0:
        raise ValueError(f"pod: expected snapshots as rows, (n_snap, n) with n_snap >= 1; got shape {S.shape}")
    V, sigma, _ = np.linalg.svd(S.T, full_matrices=False)
    if n_modes is not None:
        m = min(int(n_modes), len(sigma))
    else:
        energy = sigma ** 2
        tail = np.sqrt(np.maximum(energy.sum() - np.cumsum(energy), 0.0) / energy.sum())  # tail[m - 1]: m modes
        m = int(np.argmax(tail <= tol)) + 1
    return V[:, :m], sigma


def local_pod(S, labels, *, n_modes: int | None = None, tol: float | None = None) -> list[np.ndarray]:
    """One POD basis per cluster: snapshots ``S (n_snap, n)``, ``labels (n_snap,)`` in ``0..K-1`` (every cluster
    non-empty) -> ``[basis_k (n, m_k)]`` for ``k = 0..K-1`` (``m_k <= n_k``, the cluster's size; see :func:`pod`)."""
    S, labels = np.asarray(S, dtype=np.float64), np.asarray(labels)
    if labels.shape != (len(S),) or labels.min() < 0:
        raise ValueError(f"labels: expected one label in 0..K-1 per snapshot, shape ({len(S)},); got shape "
                         f"{labels.shape}")
    counts = np.bincount(labels)
    if np.any(counts == 0):
        raise ValueError(f"local_pod: clusters {np.flatnonzero(counts == 0).tolist()} have no snapshot; relabel the "
                         f"clusters as 0..K-1 without gaps")
    return [pod(S[labels == k], n_modes=n_modes, tol=tol)[0] for k in range(len(counts))]


def projection_error(U, basis) -> np.ndarray | float:
    """The relative projection error ``‖u − V Vᵀ u‖ / ‖u‖`` of snapshots ``U (n_u, n)`` (or one, ``(n,)``) on an
    orthonormal ``basis`` ``V (n, m)`` -> ``(n_u,)`` (or a float)."""
    U, V = np.asarray(U, dtype=np.float64), np.asarray(basis, dtype=np.float64)
    single = U.ndim == 1
    U = U[None] if single else U
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[0]:
        raise ValueError(f"projection_error: expected snapshots (n_u, n) and a basis (n, m) on the same grid; got "
                         f"{U.shape} and {V.shape}")
    norms = np.linalg.norm(U, axis=1)
    if not np.all(norms > 0):
        raise ValueError("projection_error: a zero snapshot has no relative error; drop it")
    errors = np.linalg.norm(U - (U @ V) @ V.T, axis=1) / norms
    return float(errors[0]) if single else errors
