"""Matérn Gaussian processes on a line as linear time-invariant SDEs, and Kalman filtering + RTS smoothing.

A GP ``u(t) ~ GP(0, k_ν)`` with the Matérn covariance (``r = |t − t'|``)::

    ν = 1/2:  k(r) = σ² exp(−r/ℓ)
    ν = 3/2:  k(r) = σ² (1 + λr) exp(−λr),   λ = √3/ℓ

is the output ``u = H z`` of the stationary SDE ``dz/dt = F z + L w`` (Hartikainen & Särkkä, 2010)::

    ν = 1/2:  F = −1/ℓ,                     L = 1,          P∞ = σ²,                H = 1
    ν = 3/2:  F = [[0, 1], [−λ², −2λ]],     L = [0, 1]ᵀ,    P∞ = diag(σ², λ²σ²),    H = [1, 0]

(``w`` white noise of spectral density ``q = 2σ²/ℓ``, resp. ``4λ³σ²``; ``F P∞ + P∞ Fᵀ + q L Lᵀ = 0``). Between sorted
times ``t_{j−1} < t_j`` (``Δ_j = t_j − t_{j−1}``) the state moves by ``z_j = A_j z_{j−1} + noise``,
``A_j = exp(F Δ_j)``, ``Q_j = P∞ − A_j P∞ A_jᵀ``, so ``k(Δ) = H A(Δ) P∞ Hᵀ``. ``R`` independent GPs stack into one
state ``z = (z¹, ..., z^R)`` (``F``, ``L``, ``P∞``, ``H`` block diagonal, ``u = H z ∈ ℝ^R``).

:func:`kalman_smoother` conditions the stacked state on one Gaussian pseudo-observation of ``u_j = H z_j`` per time,
given in natural form ``exp(η_jᵀ u_j − ½ u_jᵀ Λ_j u_j)``: a pseudo-observation ``N(m_j, V_j)`` is ``Λ_j = V_j⁻¹``,
``η_j = V_j⁻¹ m_j`` (:func:`natural`), and a singular ``Λ_j`` (a message that says nothing about some directions of
``u_j``, as FunBaT's rank-one messages do) is allowed. The filter runs forward from the stationary prior
``N(0, P∞)``; the Rauch–Tung–Striebel smoother runs back. :func:`predict_states` gives the exact posterior of the
state at new times: between two knots it filters from the left knot and smooths from the right one (so it conditions
on both), before the first it smooths back from the prior, after the last it propagates forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

NUS = (0.5, 1.5)


def _check_nu(nu: float) -> None:
    if nu not in NUS:
        raise ValueError(f"nu={nu}: the Matérn smoothness must be one of {NUS} (the state-space forms implemented)")


def matern_covariance(r: Tensor, nu: float, lengthscale: float, variance: float) -> Tensor:
    """``k_ν(r)`` of the module doc, elementwise on distances ``r`` (any shape)."""
    _check_nu(nu)
    r = r.abs()
    if nu == 0.5:
        return variance * torch.exp(-r / lengthscale)
    lam = math.sqrt(3.0) / lengthscale
    return variance * (1 + lam * r) * torch.exp(-lam * r)


@dataclass(frozen=True)
class StateSpace:
    """An LTI SDE ``dz/dt = F z + L w`` with output ``u = H z``: ``F (d, d)``, ``L (d, R)``, ``q`` the noise spectral
    density, ``P_inf (d, d)`` the stationary covariance, ``H (R, d)`` (``R`` outputs)."""

    F: Tensor
    L: Tensor
    q: float
    P_inf: Tensor
    H: Tensor

    @property
    def dim(self) -> int:
        return self.F.shape[0]

    def stack(self, copies: int) -> "StateSpace":
        """``copies`` independent copies of this SDE as one state (block-diagonal matrices)."""
        eye = torch.eye(copies, dtype=self.F.dtype)
        return StateSpace(*(torch.kron(eye, M) for M in (self.F, self.L)), self.q,
                          *(torch.kron(eye, M) for M in (self.P_inf, self.H)))

    def transition(self, delta: Tensor) -> tuple[Tensor, Tensor]:
        """``A = exp(F Δ)`` and ``Q = P∞ − A P∞ Aᵀ`` for steps ``delta (n,)`` (≥ 0): two ``(n, d, d)``."""
        A = torch.linalg.matrix_exp(self.F * delta[:, None, None])
        Q = self.P_inf - A @ self.P_inf @ A.mT
        return A, (Q + Q.mT) / 2


def matern_sde(nu: float, lengthscale: float, variance: float, copies: int = 1) -> StateSpace:
    """The state space of the Matérn-ν GP (module doc), ``copies`` independent ones stacked; float64."""
    _check_nu(nu)
    if lengthscale <= 0 or variance <= 0:
        raise ValueError(f"lengthscale and variance must be positive, got {lengthscale} and {variance}")
    f64 = dict(dtype=torch.float64)
    if nu == 0.5:
        one = StateSpace(torch.tensor([[-1.0 / lengthscale]], **f64), torch.ones(1, 1, **f64),
                         2 * variance / lengthscale, torch.tensor([[variance]], **f64), torch.ones(1, 1, **f64))
    else:
        lam = math.sqrt(3.0) / lengthscale
        one = StateSpace(torch.tensor([[0.0, 1.0], [-lam**2, -2 * lam]], **f64), torch.tensor([[0.0], [1.0]], **f64),
                         4 * lam**3 * variance, torch.diag(torch.tensor([variance, lam**2 * variance], **f64)),
                         torch.tensor([[1.0, 0.0]], **f64))
    return one.stack(copies) if copies > 1 else one


def natural(mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
    """Pseudo-observations ``N(m_j, V_j)`` (``mean (n, R)``, ``var (n, R, R)``) in natural form ``(Λ_j, η_j)``."""
    precision = torch.linalg.inv(var)
    return precision, (precision @ mean[..., None])[..., 0]


@dataclass
class Smoothed:
    """The posterior of the state at sorted knots ``times (n,)``: filtered ``filtered_mean (n, d)``,
    ``filtered_cov (n, d, d)`` (given the knots up to each one) and smoothed ``mean (n, d)``, ``cov (n, d, d)``
    (given all knots)."""

    times: Tensor
    filtered_mean: Tensor
    filtered_cov: Tensor
    mean: Tensor
    cov: Tensor


def _check_times(times: Tensor) -> None:
    if times.dim() != 1 or len(times) == 0 or not bool((times[1:] > times[:-1]).all()):
        raise ValueError(f"times must be a non-empty (n,) tensor of strictly increasing knots (merge the "
                         f"pseudo-observations of a repeated time first), got shape {tuple(times.shape)}")


def kalman_smoother(sde: StateSpace, times: Tensor, precision: Tensor, shift: Tensor) -> Smoothed:
    """Condition the state on pseudo-observations ``(Λ_j, η_j)`` of ``u_j = H z_j`` (module doc).

    Args:
        sde: the prior (``d`` states, ``R`` outputs). times: ``(n,)`` strictly increasing.
        precision: ``Λ (n, R, R)`` symmetric positive semi-definite. shift: ``η (n, R)``.
    """
    _check_times(times)
    R = sde.H.shape[0]
    if precision.shape != (len(times), R, R) or shift.shape != (len(times), R):
        raise ValueError(f"precision must be (n, R, R) = ({len(times)}, {R}, {R}) and shift (n, R), got "
                         f"{tuple(precision.shape)} and {tuple(shift.shape)}")
    A, Q = sde.transition(torch.diff(times, prepend=times[:1]))
    H, eye = sde.H, torch.eye(R, dtype=sde.F.dtype)
    # forward: the gain in the form G = P⁻Hᵀ(I + Λ H P⁻ Hᵀ)⁻¹, valid for a singular Λ
    mean, cov = torch.zeros(sde.dim, dtype=sde.F.dtype), sde.P_inf
    means, covs, predicted = [], [], []
    for j in range(len(times)):
        if j:
            mean, cov = A[j] @ mean, A[j] @ cov @ A[j].T + Q[j]
        predicted.append(cov)
        HP = H @ cov
        G = torch.linalg.solve((eye + precision[j] @ HP @ H.T).T, HP).T
        mean = mean + G @ (shift[j] - precision[j] @ (H @ mean))
        cov = cov - G @ precision[j] @ HP
        cov = (cov + cov.T) / 2
        means.append(mean)
        covs.append(cov)
    filtered_mean, filtered_cov, predicted = torch.stack(means), torch.stack(covs), torch.stack(predicted)
    # backward: the RTS gains J_j = P_j A_{j+1}ᵀ (P⁻_{j+1})⁻¹ depend on the filter only, so they are batched
    J = torch.linalg.solve(predicted[1:], A[1:] @ filtered_cov[:-1]).mT
    offset = filtered_mean[:-1] - (J @ (A[1:] @ filtered_mean[:-1, :, None]))[..., 0]
    base = filtered_cov[:-1] - J @ predicted[1:] @ J.mT
    mean, cov = filtered_mean[-1], filtered_cov[-1]
    means, covs = [mean], [cov]
    for j in range(len(times) - 2, -1, -1):
        mean = offset[j] + J[j] @ mean
        cov = base[j] + J[j] @ cov @ J[j].T
        means.append(mean)
        covs.append((cov + cov.T) / 2)
    return Smoothed(times, filtered_mean, filtered_cov, torch.stack(means[::-1]), torch.stack(covs[::-1]))


def predict_states(sde: StateSpace, smoothed: Smoothed, times: Tensor) -> tuple[Tensor, Tensor]:
    """The posterior ``mean (B, d)`` and ``cov (B, d, d)`` of the state at ``times (B,)`` (any order, inside or outside
    the knots; module doc)."""
    knots = smoothed.times
    right = torch.searchsorted(knots, times, right=True)       # first knot > t
    after = right == len(knots)                                 # t ≥ last knot: propagate forward
    left = (right - 1).clamp_min(0)
    before = right == 0                                         # t < first knot: the prior at t, smoothed back
    # the filtered state at t (from the left knot; the prior before the first knot)
    A, Q = sde.transition(torch.where(before, 0.0, times - knots[left]))
    source_mean = torch.where(after[:, None], smoothed.mean[left], smoothed.filtered_mean[left])
    source_cov = torch.where(after[:, None, None], smoothed.cov[left], smoothed.filtered_cov[left])
    mean = (A @ source_mean[..., None])[..., 0]
    cov = A @ source_cov @ A.mT + Q
    mean = torch.where(before[:, None], 0.0, mean)
    cov = torch.where(before[:, None, None], sde.P_inf, cov)
    # one RTS step back from the smoothed right knot, for every t below the last knot
    inner = ~after
    nxt = right[inner]
    A_next, Q_next = sde.transition(knots[nxt] - times[inner])
    f_mean, f_cov = mean[inner], cov[inner]
    predicted = A_next @ f_cov @ A_next.mT + Q_next
    J = torch.linalg.solve(predicted, A_next @ f_cov).mT
    mean[inner] = f_mean + (J @ (smoothed.mean[nxt] - (A_next @ f_mean[..., None])[..., 0])[..., None])[..., 0]
    cov[inner] = f_cov + J @ (smoothed.cov[nxt] - predicted) @ J.mT
    return mean, (cov + cov.mT) / 2
