"""EDMD and Residual DMD: Koopman eigenpairs with verified residuals, and the Koopman pseudospectrum.

"Limits and Powers of Koopman Learning" (Colbrook, Mezić, Stepanenko): its verified ("optimal") algorithms are the
ResDMD family of Colbrook & Townsend. Snapshots ``x_m, y_m = F(x_m)`` (m = 1..M) with quadrature weights ``w_m``
(``W = diag(w)``; Monte Carlo or one ergodic trajectory: ``1/M``) and a dictionary ``Ψ = (ψ_1..ψ_N)`` evaluated
as ``Ψ_X, Ψ_Y`` (M, N)::

    G = Ψ_Xᴴ W Ψ_X,   A = Ψ_Xᴴ W Ψ_Y,   L = Ψ_Yᴴ W Ψ_Y,      EDMD:  K = G⁻¹A,  K g = λ g
    res(λ, g)² = gᴴ(L − λAᴴ − λ̄A + |λ|²G) g / gᴴGg = ‖Ψ_Y g − λ Ψ_X g‖²_W / ‖Ψ_X g‖²_W
    τ(z) = √λ_min(L − zAᴴ − z̄A + |z|²G, G)               ResDMD: keep the pairs with res(λ, g) ≤ ε

``res → ‖(𝒦 − λ)g‖ / ‖g‖`` as M → ∞, so a kept pair is an ε-pseudo-eigenpair of the Koopman operator 𝒦 and
``{z : τ(z) < ε}`` lies in its ε-pseudospectrum; EDMD eigenvalues with a large residual are spectral pollution.

QR form (numerically preferred): ``√W Ψ_X = QR``, ``C = √W Ψ_Y R⁻¹``; in the orthonormalised dictionary ``Ψ R⁻¹``
(coefficients ``v = R g``) ``G = I``, ``A = QᴴC``, ``L = CᴴC`` and ``K = R⁻¹AR``. Here all of it comes from one QR
of the pair::

    [√W Ψ_X, √W Ψ_Y] = [Q, Q₂] [[R, R₁₂], [0, R₂₂]]   ⇒   A = R₁₂R⁻¹,   L = AᴴA + SᴴS,   S = R₂₂R⁻¹,

so ``L − zAᴴ − z̄A + |z|²I = B(z)ᴴB(z)`` with ``B(z) = [A − zI; S]`` (2N, N), and the code evaluates
``res(λ, g) = ‖B(λ)v‖ / ‖v‖`` and ``τ(z) = σ_min(B(z))``: the same numbers as the quadratic forms without forming
them, so residuals near machine precision keep their digits (a quadratic form in float64 cannot resolve
``res`` below about 1e-8).

Deliberate differences from the reference code (``KoopPseudoSpecQR.m``): no ``reg_param`` on ``G``: a numerically
rank-deficient ``√W Ψ_X`` is an error (see ``rcond``); ``τ`` is a smallest singular value, not the square root of
a smallest eigenvalue. Everything runs in float64 (complex128 when a dictionary is complex).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

#: default threshold on σ_min(√W Ψ_X) / σ_max(√W Ψ_X) below which Ψ_X counts as rank deficient
RCOND = 1e-10


class QRForm(NamedTuple):
    """The data in the orthonormalised dictionary ``Ψ R⁻¹``: ``R`` (N, N) upper triangular, ``A`` (N, N) (``G = I``)
    and ``S`` (N', N) with ``L = AᴴA + SᴴS`` (N' = min(N, M − N))."""

    R: Tensor
    A: Tensor
    S: Tensor


def _dictionary(psi: Tensor, name: str) -> Tensor:
    if not isinstance(psi, Tensor) or psi.dim() != 2 or psi.numel() == 0:
        got = tuple(psi.shape) if isinstance(psi, Tensor) else type(psi).__name__
        raise ValueError(f"{name} must be a non-empty tensor of dictionary evaluations (M, N), got {got}")
    if not (psi.is_floating_point() or psi.is_complex()):
        raise TypeError(f"{name} must be a real or complex floating tensor, got {psi.dtype}")
    if not torch.isfinite(psi).all():
        raise ValueError(f"{name} has non-finite values (NaN or inf): evaluate the dictionary on finite samples")
    return psi.detach()


def _quadrature(weights: Tensor | None, M: int, device: torch.device) -> Tensor:
    """Quadrature weights ``w`` (M,) in float64: ``1/M`` each by default."""
    if weights is None:
        return torch.full((M,), 1.0 / M, dtype=torch.float64, device=device)
    if not isinstance(weights, Tensor) or weights.shape != (M,) or weights.is_complex():
        got = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"weights must be a real tensor of quadrature weights (M,) = ({M},), got {got}")
    w = weights.detach().to(device=device, dtype=torch.float64)
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite and non-negative with a positive sum (quadrature weights w_m)")
    return w


def qr_form(psi_x: Tensor, psi_y: Tensor, weights: Tensor | None = None, *, rcond: float = RCOND) -> QRForm:
    """:class:`QRForm` of the snapshot data ``Ψ_X, Ψ_Y`` (M, N) with quadrature weights (M,) (default ``1/M``).

    Raises a ``ValueError`` when ``σ_min(√W Ψ_X) ≤ rcond σ_max(√W Ψ_X)``: the dictionary functions are (numerically)
    linearly dependent on the samples with positive weight, so ``G`` is singular and EDMD is not defined.
    """
    psi_x, psi_y = _dictionary(psi_x, "psi_x"), _dictionary(psi_y, "psi_y")
    if psi_x.shape != psi_y.shape:
        raise ValueError(f"psi_x and psi_y must have the same shape (M, N), got {tuple(psi_x.shape)} and "
                         f"{tuple(psi_y.shape)}")
    M, N = psi_x.shape
    if M < N:
        raise ValueError(f"psi_x has M={M} samples for N={N} dictionary functions; EDMD needs M >= N: "
                         "add samples or drop functions")
    dtype = torch.complex128 if psi_x.is_complex() or psi_y.is_complex() else torch.float64
    sqrt_w = _quadrature(weights, M, psi_x.device).sqrt()[:, None]
    pair = torch.cat([sqrt_w * psi_x.to(dtype), sqrt_w * psi_y.to(dtype)], dim=1)
    R_pair = torch.linalg.qr(pair, mode="r").R
    R, R12, R22 = R_pair[:N, :N], R_pair[:N, N:], R_pair[N:, N:]
    sigma = torch.linalg.svdvals(R)
    if sigma[-1] <= rcond * sigma[0]:
        raise ValueError(
            f"psi_x is numerically rank deficient: σ_min/σ_max of √W Ψ_X is {(sigma[-1] / sigma[0]).item():.2e} "
            f"<= rcond={rcond:g}, so G = Ψ_Xᴴ W Ψ_X is singular. Its N={N} dictionary functions are linearly "
            "dependent on the samples with positive weight: drop dependent (or duplicate) functions, add samples, "
            "or pass a smaller rcond to accept an ill-conditioned dictionary")
    return QRForm(R=R, A=torch.linalg.solve_triangular(R, R12, upper=True, left=False),
                  S=torch.linalg.solve_triangular(R, R22, upper=True, left=False))


def _residuals(form: QRForm, eigvals: Tensor, V: Tensor) -> Tensor:
    """``res(λ_j, v_j) = ‖B(λ_j) v_j‖ / ‖v_j‖`` for eigvals (K,) and coefficients V (N, K) in the basis ``Ψ R⁻¹``."""
    AV, SV = form.A.to(V.dtype) @ V, form.S.to(V.dtype) @ V
    numerator = (AV - V * eigvals).norm(dim=0).square() + SV.norm(dim=0).square()
    return numerator.sqrt() / V.norm(dim=0)


def _eig(form: QRForm) -> tuple[Tensor, Tensor, Tensor]:
    """Eigenvalues λ (N,), coefficients V (N, N) with ``A v = λ v`` and ``‖v‖ = 1``, and ``g = R⁻¹v``."""
    eigvals, V = torch.linalg.eig(form.A)
    return eigvals, V, torch.linalg.solve_triangular(form.R.to(V.dtype), V, upper=True)


def koopman_matrix(psi_x: Tensor, psi_y: Tensor, weights: Tensor | None = None, *, rcond: float = RCOND) -> Tensor:
    """EDMD's ``K = G⁻¹A`` (N, N) acting on dictionary coefficients: ``Ψ_Y ≈ Ψ_X K`` in the weighted least-squares
    sense, so the Koopman operator maps ``ψ(x) g`` to about ``ψ(x) K g``. Inputs as for :func:`edmd`."""
    form = qr_form(psi_x, psi_y, weights, rcond=rcond)
    return torch.linalg.solve_triangular(form.R, form.A @ form.R, upper=True)


def edmd(psi_x: Tensor, psi_y: Tensor, weights: Tensor | None = None, *,
         rcond: float = RCOND) -> tuple[Tensor, Tensor]:
    """EDMD eigenpairs ``K g = λ g`` from ``Ψ_X, Ψ_Y`` (M, N), real or complex, with quadrature weights (M,)
    (default ``1/M``).

    Returns ``eigvals`` (N,) complex128 and ``eigvecs`` (N, N) complex128 whose columns ``g_j`` are dictionary
    coefficients (the eigenfunction is ``ψ(x) g_j``) normalised to ``‖Ψ_X g_j‖_W = 1``.
    """
    eigvals, _, g = _eig(qr_form(psi_x, psi_y, weights, rcond=rcond))
    return eigvals, g


def resdmd(psi_x: Tensor, psi_y: Tensor, weights: Tensor | None = None, *,
           rcond: float = RCOND) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`edmd`'s ``(eigvals (N,), eigvecs (N, N))`` and their residuals ``res(λ_j, g_j)`` (N,) float64 on the
    same data. ResDMD keeps the pairs with ``residuals <= ε``; the rest are spectral pollution. To verify pairs
    learned elsewhere, evaluate them on held-out snapshots with :func:`residual`."""
    form = qr_form(psi_x, psi_y, weights, rcond=rcond)
    eigvals, V, g = _eig(form)
    return eigvals, g, _residuals(form, eigvals, V)


def residual(psi_x: Tensor, psi_y: Tensor, eigvals: Tensor, eigvecs: Tensor, weights: Tensor | None = None, *,
             rcond: float = RCOND) -> Tensor:
    """Residuals ``res(λ_j, g_j) = ‖Ψ_Y g_j − λ_j Ψ_X g_j‖_W / ‖Ψ_X g_j‖_W`` (K,) of candidate pairs, ``eigvals`` (K,)
    and ``eigvecs`` (N, K) (dictionary coefficients, e.g. from :func:`edmd` on other snapshots), on the snapshots
    ``Ψ_X, Ψ_Y`` (M, N) with quadrature weights (M,)."""
    form = qr_form(psi_x, psi_y, weights, rcond=rcond)
    N = form.R.shape[0]
    if not isinstance(eigvals, Tensor) or eigvals.dim() != 1 or not isinstance(eigvecs, Tensor) or \
            eigvecs.shape != (N, eigvals.shape[0]):
        raise ValueError(f"residual expects eigvals (K,) and eigvecs (N={N}, K) with one column per eigenvalue, got "
                         f"{getattr(eigvals, 'shape', type(eigvals).__name__)} and "
                         f"{getattr(eigvecs, 'shape', type(eigvecs).__name__)}")
    V = form.R.to(torch.complex128) @ eigvecs.detach().to(torch.complex128)
    if (V.norm(dim=0) == 0).any():
        raise ValueError("eigvecs has a column g with Ψ_X g = 0: a residual needs a non-zero candidate function")
    return _residuals(form, eigvals.detach().to(torch.complex128), V)


def pseudospectrum(psi_x: Tensor, psi_y: Tensor, z: Tensor, weights: Tensor | None = None, *, rcond: float = RCOND,
                   chunk: int = 64) -> Tensor:
    """``τ(z) = σ_min([A − zI; S]) = √λ_min(L − zAᴴ − z̄A + |z|²G, G)`` (float64, shaped like ``z``) at the points
    ``z`` (any shape, real or complex), from ``Ψ_X, Ψ_Y`` (M, N) with quadrature weights (M,).

    ``τ(z) ≥ 0``, ``τ(λ) ≤ res(λ, g)`` for every candidate pair, and ``{z : τ(z) < ε}`` approximates the
    ε-pseudospectrum of the Koopman operator. Points are processed ``chunk`` at a time (memory ~ chunk · 2N² · 16 B).
    """
    if not isinstance(z, Tensor):
        raise ValueError(f"z must be a tensor of points in the complex plane, got {type(z).__name__}")
    if not torch.isfinite(z).all():
        raise ValueError("z has non-finite values (NaN or inf)")
    form = qr_form(psi_x, psi_y, weights, rcond=rcond)
    A, S = form.A.to(torch.complex128), form.S.to(torch.complex128)
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    points = z.detach().to(device=A.device, dtype=torch.complex128).reshape(-1)
    tau = [torch.linalg.svdvals(torch.cat([A - zs[:, None, None] * eye, S.expand(len(zs), *S.shape)], dim=1))[:, -1]
           for zs in points.split(chunk)]
    return torch.cat(tau).reshape(z.shape) if tau else points.real.reshape(z.shape)
