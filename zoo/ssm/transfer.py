"""Transfer functions G(iω) of diagonal SSMs and of the full HiPPO-LegS system, in float64 / complex128.

"Robustifying State-space Models for Long Sequences via Approximate Diagonalization" (Yu et al., 2023) compares
diagonal initialisations through their transfer functions on the imaginary axis. For ``x' = A x + B u``,
``y = C x`` (no D term), the transfer function is the Laplace transform of the impulse response
``h(t) = C e^{tA} B``:

    G(s) = ∫_0^∞ h(t) e^{-st} dt = C (sI − A)⁻¹ B,        s = iω.

Diagonal system ``A = diag(λ_n)``:  ``G(s) = Σ_n C_n B_n / (s − λ_n)``. With S4D's conjugate symmetry (N/2 modes
stand for N, ``y = 2 Re(C x)``, ``h(t) = 2 Re Σ_n C_n B_n e^{λ_n t}``) each mode brings its conjugate:

    G(s) = Σ_n [ C_n B_n / (s − λ_n) + conj(C_n B_n) / (s − conj(λ_n)) ].

A diagonalised real system ``(V Λ V⁻¹, B, C)`` has the same G as ``(Λ, B̃ = V⁻¹ B, C̃ = C V)`` with all modes
and ``conj_pairs=False`` (PTD: ``C V_E (sI − Λ)⁻¹ V_E⁻¹ B = C (sI − (A + E))⁻¹ B``), or as ``(Λ, V^* B, C V)`` with
one mode per conjugate pair and ``conj_pairs=True`` when V's columns and their conjugates are orthonormal
(S4D-LegS, with ½ V^* B as the S4D paper's B).

The full HiPPO-LegS system ``G_LegS(iω) = C (iωI − A_LegS)⁻¹ B_LegS`` is evaluated by linear solves, never
through A_LegS's eigenvectors (condition number ~1e19 at N = 32). The paper's comparison is the normalised
error ``sup_ω |G − G_LegS| / sup_ω |G_LegS|`` over a grid of ω.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from zoo.ssm.hippo import legs, legs_normal
from zoo.ssm.ptd import ptd_perturbation
from zoo.ssm.s4d import S4DKernel

_CHUNK = 2048  # frequencies evaluated at once: bounds memory at (..., n, chunk) or (chunk, N, N)
# Small products go through np.einsum, not BLAS: threaded BLAS on tiny matrices stalls on a shared CPU.


def _over_chunks(G: Callable[[np.ndarray], np.ndarray], omega: np.ndarray) -> np.ndarray:
    """``G(omega)`` evaluated on consecutive chunks of ``omega`` and joined on the last axis."""
    omega = np.asarray(omega, dtype=np.float64)
    if omega.ndim != 1 or omega.size == 0:
        raise ValueError(f"omega must be a non-empty 1-d array of frequencies, got shape {omega.shape}")
    return np.concatenate([G(omega[i : i + _CHUNK]) for i in range(0, omega.size, _CHUNK)], axis=-1)


def _kernel_modes(kernel: S4DKernel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Λ (H, N/2)``, ``B (H, N/2)`` and ``C (channels, H, N/2)`` of an S4D kernel, complex128."""
    with torch.no_grad():
        Lambda = torch.complex(-torch.exp(kernel.A_real_log), kernel.A_imag)
        B, C = torch.view_as_complex(kernel.B), torch.view_as_complex(kernel.C)
        return tuple(x.to(torch.complex128).cpu().numpy() for x in (Lambda, B, C))


def transfer_function(kernel_params: S4DKernel | tuple, omega: np.ndarray, *, conj_pairs: bool = True) -> np.ndarray:
    """G(iω) of a diagonal SSM (continuous time: Δ plays no part).

    ``kernel_params``: an :class:`S4DKernel` (its N/2 modes with their conjugates, ``conj_pairs`` must stay
    True) -> ``G (channels, H, len(omega))``; or ``(Lambda, B, C)`` arrays whose shapes ``(..., n)`` broadcast
    -> ``G (..., len(omega))``, with each mode's conjugate added when ``conj_pairs``. complex128.
    """
    if isinstance(kernel_params, S4DKernel):
        if not conj_pairs:
            raise ValueError("an S4DKernel's modes always come with their conjugates (2 Re); use conj_pairs=True")
        Lambda, B, C = _kernel_modes(kernel_params)
    elif isinstance(kernel_params, (tuple, list)) and len(kernel_params) == 3:
        Lambda, B, C = (np.asarray(x, dtype=np.complex128) for x in kernel_params)
    else:
        raise TypeError(f"expected an S4DKernel or a (Lambda, B, C) tuple, got {type(kernel_params).__name__}")
    W = C * B  # residues C_n B_n, (..., n)
    if conj_pairs:
        Lambda, W = np.concatenate([Lambda, Lambda.conj()], -1), np.concatenate([W, W.conj()], -1)
    return _over_chunks(lambda w: np.einsum("...n,...nw->...w", W, 1 / (1j * w - Lambda[..., None])), omega)


def dense_transfer_function(A: np.ndarray, B: np.ndarray, C: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """``G(iω) = C (iωI − A)⁻¹ B`` by one linear solve per ω.

    ``A (N, N)``, ``B (N,)``, ``C (..., N)`` -> ``G (..., len(omega))`` complex128.
    """
    A, B, C = (np.asarray(x, dtype=np.complex128) for x in (A, B, C))
    N = A.shape[-1]
    if A.shape != (N, N) or B.shape != (N,) or C.shape[-1] != N:
        raise ValueError(f"expected A (N, N), B (N,), C (..., N), got {A.shape}, {B.shape}, {C.shape}")

    def G(w: np.ndarray) -> np.ndarray:
        M = np.repeat(-A[None], w.size, axis=0)  # (chunk, N, N): iω_k I − A
        M[:, np.arange(N), np.arange(N)] += 1j * w[:, None]
        X = np.linalg.solve(M, np.broadcast_to(B[:, None], (w.size, N, 1)))[..., 0]  # (iω_k I − A)⁻¹ B
        return np.einsum("...n,wn->...w", C, X)

    return _over_chunks(G, omega)


def legs_transfer_function(C: np.ndarray, omega: np.ndarray, N: int) -> np.ndarray:
    """Full HiPPO-LegS(N): ``G_LegS(iω) = C (iωI − A)⁻¹ B``, ``C (..., N)`` -> ``(..., len(omega))``, complex128.

    ``A`` is lower triangular, so ``X = (iωI − A)⁻¹ B`` is a forward substitution, vectorised over ω:
    ``X_n = (B_n + Σ_{k<n} A_nk X_k) / (iω − A_nn)``. ``G_LegS(0) = C_0``, since ``−A⁻¹ B = e₀`` (a constant input
    is reconstructed exactly).
    """
    A, B = legs(N)
    C = np.asarray(C, dtype=np.complex128)
    if C.shape[-1] != N:
        raise ValueError(f"C must have last dimension N = {N}, got shape {C.shape}")

    def G(w: np.ndarray) -> np.ndarray:
        X = np.zeros((N, w.size), dtype=np.complex128)
        for n in range(N):
            X[n] = (B[n] + np.einsum("k,kw->w", A[n, :n], X[:n])) / (1j * w - A[n, n])
        return np.einsum("...n,nw->...w", C, X)

    return _over_chunks(G, omega)


def s4d_legs_modes(C: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S4D-LegS as a diagonal system for ``conj_pairs=True``: ``(Λ (N/2,), ½ V^* B_LegS (N/2,), C V (..., N/2))``.

    ``C (..., N)`` is the real output matrix of the full LegS system; V holds one eigenvector of each conjugate
    pair of the LegS normal part (:func:`zoo.ssm.hippo.legs_normal`). The ½ makes the DC gain exact: with
    ``A_N = A + ½ B Bᵀ`` and ``−A⁻¹ B = e₀``, ``(−A_N)⁻¹ B/2 = e₀`` (Sherman-Morrison), so ``G(0) = C_0 = G_LegS(0)``.
    """
    Lambda, V = legs_normal(N)
    return Lambda, V.conj().T @ legs(N)[1] / 2, np.asarray(C) @ V


def ptd_modes(C: np.ndarray, n: int, **ptd_options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PTD as a diagonal system for ``conj_pairs=False``: ``(Λ (n,), V_E⁻¹ B_LegS (n,), C V_E (..., n))``, all n
    eigenpairs of ``A_LegS(n) + E`` (:func:`zoo.ssm.ptd.ptd_perturbation`, options passed on)."""
    ptd = ptd_perturbation(n, **ptd_options)
    return ptd["Lambda"], ptd["V_inv"] @ legs(n)[1], np.asarray(C) @ ptd["V"]


def normalised_error(G: np.ndarray, G_ref: np.ndarray) -> np.ndarray:
    """``sup_ω |G − G_ref| / sup_ω |G_ref|`` over the last (frequency) axis: ``(..., n_ω)`` -> ``(...)``."""
    return np.abs(G - G_ref).max(-1) / np.abs(G_ref).max(-1)
