"""HiPPO transition matrices in float64 numpy (HiPPO, Gu et al. 2020; "How to Train Your HiPPO", Gu et al. 2022).

Convention: the continuous-time system is ``x'(t) = A x(t) + B u(t)`` with state size ``N``.

HiPPO-LegS::

    A_nk = -sqrt(2n+1) sqrt(2k+1)   if n > k
         = -(n+1)                   if n = k
         = 0                        if n < k
    B_n  =  sqrt(2n+1)

Normal-plus-low-rank split: ``A = A_N - P P^T`` with ``P_n = sqrt(n + 1/2)`` and the normal part
``A_N = -I/2 + S``, ``S_nk = -sgn(n-k) sqrt(n+1/2) sqrt(k+1/2)`` skew-symmetric. ``A_N`` is diagonalised through
the Hermitian matrix ``-iS`` (``numpy.linalg.eigh``), so ``A_N = V Lambda V^*`` with ``V`` unitary and
``Lambda = -1/2 + i omega`` exactly. ``A`` itself is not diagonalised: its eigenvector matrix is hopelessly
ill-conditioned (condition number ~1e19 at N = 32).
"""

from __future__ import annotations

import numpy as np


def _check_size(N: int, even: bool = False) -> None:
    if not isinstance(N, (int, np.integer)) or N < 1 or (even and N % 2):
        kind = "a positive even integer" if even else "a positive integer"
        raise ValueError(f"state size N must be {kind}, got {N!r}")


def legs(N: int) -> tuple[np.ndarray, np.ndarray]:
    """HiPPO-LegS ``(A (N, N), B (N,))`` in float64; the eigenvalues of ``A`` are exactly ``-1, ..., -N``."""
    _check_size(N)
    q = np.sqrt(2.0 * np.arange(N) + 1.0)
    A = -(np.tril(np.outer(q, q), k=-1) + np.diag(np.arange(N) + 1.0))
    return A, q.copy()


def legs_normal(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Diagonalised normal part of LegS, one mode of each conjugate pair.

    Returns ``Lambda (N/2,)`` complex128 with ``Re = -1/2`` exactly and ``Im < 0`` (most negative first), and
    ``V (N, N/2)`` complex128 with orthonormal columns, such that ``A_N = 2 Re(V diag(Lambda) V^*)`` (the discarded
    half is the complex conjugate of the kept one). S4D-LegS uses ``(Lambda, V^* B / 2)``.
    """
    _check_size(N, even=True)
    p = np.sqrt(np.arange(N) + 0.5)
    S = -np.sign(np.subtract.outer(np.arange(N), np.arange(N))) * np.outer(p, p)
    omega, V = np.linalg.eigh(-1j * S)  # -iS v = omega v  <=>  S v = i omega v; omega ascending
    Lambda = -0.5 + 1j * omega[: N // 2]
    return Lambda, V[:, : N // 2]
