"""HiPPO transition matrices in float64 numpy (HiPPO, Gu et al. 2020; "How to Train Your HiPPO", Gu et al. 2022).

Convention: the continuous-time system is ``x'(t) = A x(t) + B u(t)`` with state size ``N``; matrices follow
state-spaces/s4 ``src/models/hippo/hippo.py::transition`` (its ``legs``, ``legt`` and ``fout``).

HiPPO-LegS (measure uniform on [0, t])::

    A_nk = -sqrt(2n+1) sqrt(2k+1)   if n > k
         = -(n+1)                   if n = k
         = 0                        if n < k
    B_n  =  sqrt(2n+1)

HiPPO-LegT (repo scaling: measure uniform on the window [t - θ, t] with θ = 2)::

    A_nk = -½ sqrt(2n+1) sqrt(2k+1) · (1 if n >= k else (-1)^(n-k)),        B_n = ½ sqrt(2n+1)

HiPPO-FouT (repo ``fout``; window θ = 2, state order cos_0, sin_0, cos_1, sin_1, …)::

    A = S - b bᵀ,   B = b,   S = blockdiag_k [[0, -πk], [πk, 0]] on (cos_k, sin_k),   b = (1, 0, √2, 0, √2, 0, …)

sin_0 is a dead coordinate (its row and column of A and its entry of B are 0), so A has one eigenvalue 0.

Both translated measures hold the coefficients ``c(t) = ∫_0^1 u(t − θρ) φ(ρ) dρ`` of the last θ = 2 time units
(lag θρ), with ``φ_n(ρ) = sqrt(2n+1) P_n(1 − 2ρ)`` (LegT) or ``φ = (1, 0, √2 cos 2πkρ, √2 sin 2πkρ, …)`` (FouT);
``c' = A c + B u`` holds exactly for polynomial inputs of degree < N (LegT) and for θ-periodic trigonometric
inputs of degree < N/2 (FouT, whose ``-b bᵀ`` reconstructs u(t − θ) as 2 bᵀc − u(t)).

Normal plus low rank: ``A = A_N - P Pᵀ`` with ``A_N = r I + S`` normal, S skew-symmetric (``low_rank``):

    LegS   P_n = sqrt(n + ½)                                       (rank 1, r = -½)
    LegT   P = 2^(-½) sqrt(2n+1) on even n | on odd n, as 2 columns (rank 2, r = 0)
    FouT   P = b                                                   (rank 1, r = 0)

``A_N`` is diagonalised through the Hermitian matrix ``-iS`` (``numpy.linalg.eigh``), so ``A_N = V Λ V^*`` with V
unitary and ``Re Λ = r`` exactly; FouT's ``S`` is block-diagonal and is diagonalised in closed form instead
(``eigh`` would return an arbitrary basis of its two-dimensional null space). ``A`` itself is not diagonalised:
LegS's eigenvector matrix is hopelessly ill-conditioned (condition number ~1e19 at N = 32).
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


def legt(N: int) -> tuple[np.ndarray, np.ndarray]:
    """HiPPO-LegT ``(A (N, N), B (N,))`` in float64, repo scaling (window θ = 2)."""
    _check_size(N)
    q = np.sqrt(2.0 * np.arange(N) + 1.0)
    n_minus_k = np.subtract.outer(np.arange(N), np.arange(N))
    A = -0.5 * np.outer(q, q) * np.where(n_minus_k >= 0, 1.0, (-1.0) ** n_minus_k)
    return A, q / 2


def _fout_parts(N: int) -> tuple[np.ndarray, np.ndarray]:
    """FouT's skew part ``S (N, N)`` and ``b (N,)``, N even."""
    _check_size(N, even=True)
    k = np.arange(N // 2)
    S = np.kron(np.diag(np.pi * k), np.array([[0.0, -1.0], [1.0, 0.0]]))
    b = np.zeros(N)
    b[0::2] = np.sqrt(2.0)
    b[0] = 1.0
    return S, b


def fout(N: int) -> tuple[np.ndarray, np.ndarray]:
    """HiPPO-FouT ``(A (N, N), B (N,))`` in float64, ``A = S - b bᵀ``, ``B = b``; N even."""
    S, b = _fout_parts(N)
    return S - np.outer(b, b), b


TRANSITIONS = {"legs": legs, "legt": legt, "fout": fout}
_REAL_PART = {"legs": -0.5, "legt": 0.0, "fout": 0.0}  # r in A_N = r I + S


def low_rank(measure: str, N: int) -> np.ndarray:
    """``P (N, rank)`` such that ``A + P Pᵀ`` is normal (rank 1 for legs and fout, 2 for legt)."""
    if measure == "legs":
        _check_size(N)
        return np.sqrt(np.arange(N) + 0.5)[:, None]
    if measure == "legt":
        _check_size(N)
        q = np.sqrt((2.0 * np.arange(N) + 1.0) / 2)
        parity = np.arange(N) % 2
        return np.stack([q * (parity == 0), q * (parity == 1)], axis=1)
    if measure == "fout":
        return _fout_parts(N)[1][:, None]
    raise ValueError(f"unknown HiPPO measure {measure!r}; valid choices: {', '.join(TRANSITIONS)}")


def _normal_eigh(measure: str, N: int) -> tuple[np.ndarray, np.ndarray]:
    """All N eigenpairs of ``A_N = r I + S`` via ``eigh(-iS)``: ``Λ (N,)`` (Im ascending), ``V (N, N)`` unitary."""
    P = low_rank(measure, N)
    A_N = TRANSITIONS[measure](N)[0] + P @ P.T
    omega, V = np.linalg.eigh(-0.5j * (A_N - A_N.T))  # -iS v = ω v  <=>  S v = iω v
    return _REAL_PART[measure] + 1j * omega, V


def normal(measure: str, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Diagonalised normal part ``A_N = A + P Pᵀ`` of a HiPPO matrix, one mode of each conjugate pair.

    Returns ``Λ (N/2,)`` complex128 with ``Im Λ <= 0`` (most negative first) and ``V (N, N/2)`` complex128 with
    orthonormal columns, such that ``A_N = 2 Re(V diag(Λ) V^*)`` and ``2 Re(V V^* x) = x`` for real x (the
    discarded half is the complex conjugate of the kept one). ``Re Λ`` is exactly -½ for legs and 0 for legt and
    fout. FouT in closed form: ``Λ_j = -iπk``, ``V_j = (e_cos_k + i e_sin_k)/√2`` for ``k = N/2-1-j``; the k = 0
    mode (Λ = 0) carries the two-dimensional null space {cos_0, sin_0} of S as one complex mode.
    """
    _check_size(N, even=True)
    if measure == "fout":
        k = np.arange(N // 2)[::-1]
        V = np.zeros((N, N // 2), dtype=np.complex128)
        V[2 * k, np.arange(N // 2)] = 2**-0.5
        V[2 * k + 1, np.arange(N // 2)] = 1j * 2**-0.5
        return -1j * np.pi * k.astype(np.float64), V
    Lambda, V = _normal_eigh(measure, N)
    return Lambda[: N // 2], V[:, : N // 2]


def legs_normal(N: int) -> tuple[np.ndarray, np.ndarray]:
    """``normal("legs", N)``: ``Re Λ = -½`` exactly and ``Im Λ < 0``. S4D-LegS uses ``(Λ, V^* B / 2)``."""
    return normal("legs", N)


def legs_nplr(N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normal plus low-rank form of LegS with all N modes: ``A = V (diag(Λ) - P̃ P̃^*) V^*``.

    Returns ``Λ (N,)`` (``Re = -½`` exactly, Im ascending), ``P̃ = V^* P (N,)``, ``B̃ = V^* B (N,)`` and
    ``V (N, N)`` unitary, all complex128.
    """
    _check_size(N)
    Lambda, V = _normal_eigh("legs", N)
    P, B = low_rank("legs", N)[:, 0], legs(N)[1]
    return Lambda, V.conj().T @ P, V.conj().T @ B, V
