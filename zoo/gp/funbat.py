"""FunBaT: Bayesian Tucker decomposition of tensors indexed by continuous coordinates.

"Functional Bayesian Tucker Decomposition for Continuous-indexed Tensor Data" (Fang, Yu, Wang, Li, Kirby, Zhe; ICLR
2024). An entry at continuous indexes ``i = (i₁, ..., i_K)`` is::

    y_i = vec(W)ᵀ (u¹(i₁) ⊗ ... ⊗ u^K(i_K)) + ε,    ε ~ N(0, τ⁻¹)
    W ~ N(0, I)  (the Tucker core, R₁ × ... × R_K),    τ ~ Gamma(a₀, b₀),    u^k_r ~ GP(0, Matérn-ν; ℓ, σ²)

Each of the ``R_k`` latent functions of mode ``k`` is a Matérn SDE (:mod:`zoo.functional.state_space`), discretised
at the sorted unique values ``t^k_1 < ... < t^k_{n_k}`` of the mode's coordinates. The posterior is approximated by
``q(W) q(τ) Π_k q(U^k)`` with ``q(W) = N(μ_W, Σ_W)``, ``q(τ) = Gamma(a, b)`` and ``q(U^k)`` the Gauss–Markov chain of
the mode's state. Conditional EP (the paper's Alg. 1): with the other factors at their current ``q``, the Gaussian
likelihood of entry ``n`` gives each factor a Gaussian message built from the conditional moments of the Kronecker
product of the other modes, ``E[z] = ⊗_j E[u^j]`` and ``E[zzᵀ] = ⊗_j E[u^j u^jᵀ]`` (the factors are independent):

    to u^k(i^n_k):  Λ_n = E[τ] E[W_(k) z zᵀ W_(k)ᵀ],    η_n = E[τ] y_n E[W_(k)] E[z]          (z over modes j ≠ k)
    to W:           Λ = I + E[τ] Σ_n E[z_n z_nᵀ],          η = E[τ] Σ_n y_n E[z_n]                 (z over all modes)
    to τ:           a = a₀ + N/2,    b = b₀ + ½ Σ_n E[(y_n − vec(W)ᵀ z_n)²]

The messages of the entries that share a value ``t^k_j`` are summed into one pseudo-observation ``(Λ_j, η_j)`` of
``u^k(t^k_j)``, damped (``message ← ρ·new + (1 − ρ)·old``), and a Kalman filter + RTS smoother along the mode gives
``q(U^k)``. Prediction at an unseen index propagates the smoothed neighbouring states through the SDE
(:func:`~zoo.functional.state_space.predict_states`); the predictive mean is ``E[W]ᵀ(⊗_k E[u^k(i_k)])``.

The start matters, as the all-zero posterior mean is a fixed point of these updates that attracts a poor start:

- the unit priors (``W ~ N(0, I)``, ``σ² = 1``) fit data of unit scale: on entries of root mean square 0.08 (the paper's
  ``u₁(x)u₅(y)``) everything is explained as noise and the means shrink to zero. So by default the model is fitted
  to ``y / s``, ``s`` the root mean square of the training entries (the same Tucker model, its priors in units of
  ``s``), and predictions are scaled back;
- the means start uniform on [0, 1] (as the reference's; a zero-mean random start averages out over continuous
  indexes, each seen once) with zero covariances, so that the first sweep is an ALS sweep: a start at the prior
  covariances adds their variance to every message's precision and shrinks the means towards zero;
- the first sweep uses ``E[τ] = init_precision`` (10: noise at a tenth of the standardised data's mean square); with
  ``E[τ] = a₀/b₀ = 1`` the 3-mode Tucker tensor of ``zoo.data.tensor`` stalled at a rank-deficient fit for some seeds.

Reference-code behaviour deliberately changed (``xuangu-fang/Functional-Bayesian-Tucker-Decomposition``): the Tucker
core update adds the ``N(0, I)`` prior's precision (the reference inverts the summed messages alone, ill-posed with
few entries); the messages to ``u^k`` use the second moment of ``W`` (``Σ_W + μ_W μ_Wᵀ``), not ``E[W]`` alone; the
chains start from the stationary prior ``N(0, P∞)`` (the reference ignores its configured ``m_0``); the random start
of the latent means comes from the ``seed`` argument (the reference seeds torch at import); no ``np.product`` (removed
in NumPy 2); the messages are merged per index value before smoothing rather than kept per entry (``N × R^K × R^K``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from zoo.checkpoint import Fitted
from zoo.functional.state_space import Smoothed, kalman_smoother, matern_sde, predict_states
from zoo.registry import register_model

PAPER = "Functional Bayesian Tucker Decomposition for Continuous-indexed Tensor Data (Fang et al., ICLR 2024)"
#: the fitted state of each mode k: the knots t^k and the filtered and smoothed state posteriors there
MODE_BUFFERS = ("knots", "filtered_mean", "filtered_cov", "mean", "cov")


def kron_rows(factors: Sequence[Tensor]) -> Tensor:
    """Row-wise Kronecker products: vectors ``(N, R_j)`` -> ``(N, Π R_j)``, or matrices ``(N, R_j, R_j)`` ->
    ``(N, Π R_j, Π R_j)`` (the last factor fastest, as ``torch.kron``); no factor gives ones."""
    out = None
    for factor in factors:
        if out is None:
            out = factor
        elif factor.dim() == 2:
            out = (out[:, :, None] * factor[:, None, :]).flatten(1)
        else:
            out = (out[:, :, None, :, None] * factor[:, None, :, None, :]).flatten(3, 4).flatten(1, 2)
    return out


def _example(model: "FunBaT"):
    """Fit on 40 noiseless entries of ``Π_k sin(2π i_k)`` and predict 5 of them."""
    generator = torch.Generator().manual_seed(0)
    coords = torch.rand(40, model.modes, generator=generator, dtype=torch.float64)
    model.fit(coords, torch.sin(2 * math.pi * coords).prod(1))
    return coords[:5], (5,)


@register_model("funbat", family="gp", paper=PAPER, task="bayes_fit", example=_example)
class FunBaT(Fitted):
    """``forward(coords (B, K)) -> mean (B,)``: the posterior mean of the entries at continuous indexes ``coords``,
    after :meth:`fit`.

    Args:
        modes: K. rank: the Tucker ranks R_k, one for all modes or one per mode. nu: the Matérn smoothness (0.5 or
        1.5); lengthscale, variance: ℓ and σ² of every latent GP. a0, b0: the Gamma prior of the noise precision τ.
        iterations: conditional-EP sweeps (every mode, then W, then τ). damping: ρ, the weight of a new message.
        standardize: fit ``y / s``, ``s`` the root mean square of the training ``y`` (and scale predictions back), so
        that the unit priors of ``W`` and ``u`` fit the data's scale (module doc). init_precision: ``E[τ]`` of the
        first sweep (module doc). seed: of the random start of the latent and core means.
    """

    def __init__(self, modes: int = 2, rank: int | Sequence[int] = 2, nu: float = 1.5, lengthscale: float = 0.1,
                 variance: float = 1.0, a0: float = 1.0, b0: float = 1.0, iterations: int = 20, damping: float = 0.5,
                 standardize: bool = True, init_precision: float = 10.0, seed: int = 0):
        super().__init__()
        ranks = [rank] * modes if isinstance(rank, int) else list(rank)
        if len(ranks) != modes or min(ranks) < 1:
            raise ValueError(f"rank must be a positive int or {modes} of them (one per mode), got {rank}")
        if not 0 < damping <= 1:
            raise ValueError(f"damping={damping}: the weight of a new message must be in (0, 1] (1: undamped)")
        if min(a0, b0, init_precision) <= 0:
            raise ValueError(f"a0, b0 (the Gamma prior of τ) and init_precision must be positive, got {a0}, {b0} "
                             f"and {init_precision}")
        self.modes, self.ranks, self.nu = modes, tuple(ranks), nu
        self.iterations, self.damping, self.seed, self.a0, self.b0 = iterations, damping, seed, a0, b0
        self.standardize, self.init_precision = standardize, init_precision
        self.sdes = [matern_sde(nu, lengthscale, variance, copies=R) for R in self.ranks]
        for k in range(modes):
            for name in MODE_BUFFERS:
                self.register_fitted(f"{name}_{k}")
        for name in ("core_mean", "core_cov", "noise", "scale"):   # μ_W (P,), Σ_W (P, P), (a, b) of q(τ), s (1,)
            self.register_fitted(name)

    # ----------------------------------------------------------------------------------------------- the posterior
    def smoothed(self, k: int) -> Smoothed:
        return Smoothed(*(getattr(self, f"{name}_{k}") for name in MODE_BUFFERS))

    @property
    def noise_precision(self) -> Tensor:
        """``E[τ] = a / b``, of the standardised entries ``y / s``."""
        return self.noise[0] / self.noise[1]

    def factor_moments(self, k: int, index: Tensor | None = None, states: tuple[Tensor, Tensor] | None = None):
        """``E[u^k] (B, R_k)`` and ``E[u^k u^kᵀ] (B, R_k, R_k)`` of mode ``k`` at its knots ``index (B,)``, or from a
        state posterior ``states = (mean (B, d), cov (B, d, d))``."""
        H = self.sdes[k].H
        mean, cov = states if states is not None else (getattr(self, f"mean_{k}")[index],
                                                       getattr(self, f"cov_{k}")[index])
        u = mean @ H.T
        return u, H @ cov @ H.T + u[:, :, None] * u[:, None, :]

    def entry_moments(self, exclude: int | None = None) -> tuple[Tensor, Tensor]:
        """``E[z_n] (N, P)`` and ``E[z_n z_nᵀ] (N, P, P)`` of ``z_n = ⊗_k u^k(i^n_k)`` over the modes but ``exclude``,
        at the training entries (ones when no mode is left)."""
        moments = [self.factor_moments(k, self._index[k]) for k in range(self.modes) if k != exclude]
        if not moments:
            ones = torch.ones(len(self.y), 1, dtype=torch.float64)
            return ones, ones[:, :, None]
        return kron_rows([m for m, _ in moments]), kron_rows([s for _, s in moments])

    def core_second_moment(self) -> Tensor:
        """``E[vec(W) vec(W)ᵀ] = Σ_W + μ_W μ_Wᵀ (P, P)``."""
        return self.core_cov + torch.outer(self.core_mean, self.core_mean)

    # ------------------------------------------------------------------------------------------------- the updates
    def prepare(self, coords: Tensor, y: Tensor) -> None:
        """Check the data, find each mode's knots and start the posterior (module doc): the latent and core means
        uniform on [0, 1] (``seed``), their covariances zero, ``E[τ] = init_precision``."""
        coords, y = self._check(coords, "coords"), torch.as_tensor(y)
        if y.shape != (len(coords),) or not y.is_floating_point() or not bool(torch.isfinite(y).all()):
            raise ValueError(f"y must be a finite float (N,) = ({len(coords)},) tensor, one value per row of coords, "
                             f"got {tuple(y.shape)} {y.dtype}")
        generator = torch.Generator().manual_seed(self.seed)
        y = y.double()
        self.scale = y.square().mean().sqrt()[None] if self.standardize else torch.ones(1, dtype=torch.float64)
        if not self.scale > 0:
            raise ValueError("y is all zeros: nothing to standardize (pass standardize=False)")
        self.y, self._index, self._messages = y / self.scale, [], [None] * self.modes
        for k, sde in enumerate(self.sdes):
            knots, index = torch.unique(coords[:, k], return_inverse=True)
            self._index.append(index)
            u = torch.rand(len(knots), self.ranks[k], generator=generator, dtype=torch.float64)
            mean, cov = u @ sde.H, torch.zeros(len(knots), sde.dim, sde.dim, dtype=torch.float64)
            for name, value in zip(MODE_BUFFERS, (knots, mean, cov, mean, cov)):
                setattr(self, f"{name}_{k}", value)
        P = math.prod(self.ranks)
        self.core_mean = torch.rand(P, generator=generator, dtype=torch.float64)
        self.core_cov = torch.zeros(P, P, dtype=torch.float64)
        a = self.a0 + len(y) / 2
        self.noise = torch.tensor([a, a / self.init_precision], dtype=torch.float64)

    def update_factor(self, k: int) -> None:
        """The messages to ``u^k`` at every entry, merged per knot, damped, then Kalman + RTS along mode ``k``."""
        Ez, Ezz = self.entry_moments(exclude=k)
        R = self.ranks[k]
        shape = (*self.ranks, *self.ranks)
        order = [k, *(j for j in range(self.modes) if j != k)]          # W_(k): mode k first, the others in order
        S = self.core_second_moment().reshape(shape).permute(*order, *(self.modes + j for j in order))
        S = S.reshape(R, -1, R, Ezz.shape[1])
        W = self.core_mean.reshape(self.ranks).permute(*order).reshape(R, -1)
        tau = self.noise_precision
        n_knots = len(getattr(self, f"knots_{k}"))
        precision = torch.zeros(n_knots, R, R, dtype=torch.float64).index_add_(
            0, self._index[k], tau * torch.einsum("rasb,nab->nrs", S, Ezz))
        shift = torch.zeros(n_knots, R, dtype=torch.float64).index_add_(
            0, self._index[k], tau * self.y[:, None] * (Ez @ W.T))
        old = self._messages[k]
        if old is not None:
            precision = self.damping * precision + (1 - self.damping) * old[0]
            shift = self.damping * shift + (1 - self.damping) * old[1]
        self._messages[k] = (precision, shift)
        smoothed = kalman_smoother(self.sdes[k], getattr(self, f"knots_{k}"), precision, shift)
        for name in MODE_BUFFERS[1:]:
            setattr(self, f"{name}_{k}", getattr(smoothed, name))

    def update_core(self) -> None:
        """``q(W) = N(Λ⁻¹η, Λ⁻¹)`` with ``Λ = I + E[τ] Σ_n E[z_n z_nᵀ]``, ``η = E[τ] Σ_n y_n E[z_n]``."""
        Ez, Ezz = self.entry_moments()
        tau = self.noise_precision
        precision = torch.eye(Ez.shape[1], dtype=torch.float64) + tau * Ezz.sum(0)
        chol = torch.linalg.cholesky(precision)
        self.core_cov = torch.cholesky_inverse(chol)
        self.core_mean = torch.cholesky_solve((tau * self.y @ Ez)[:, None], chol)[:, 0]

    def update_noise(self) -> None:
        """``q(τ) = Gamma(a₀ + N/2, b₀ + ½ Σ_n (y_n² − 2 y_n μ_Wᵀ E[z_n] + tr(E[WWᵀ] E[z_n z_nᵀ])))``."""
        Ez, Ezz = self.entry_moments()
        residual = self.y.square().sum() - 2 * self.y @ (Ez @ self.core_mean) + \
            (self.core_second_moment() * Ezz.sum(0)).sum()
        self.noise = torch.stack([torch.tensor(self.a0 + len(self.y) / 2, dtype=torch.float64),
                                  self.b0 + residual / 2])

    @torch.no_grad()
    def fit(self, coords: Tensor, y: Tensor) -> "FunBaT":
        """Conditional EP on entries ``y (N,)`` at ``coords (N, K)``: :attr:`iterations` sweeps of every
        :meth:`update_factor`, :meth:`update_core` and :meth:`update_noise`."""
        self.prepare(coords, y)
        for _ in range(self.iterations):
            for k in range(self.modes):
                self.update_factor(k)
            self.update_core()
            self.update_noise()
        del self.y, self._index, self._messages
        return self

    # ------------------------------------------------------------------------------------------------- prediction
    def _check(self, coords: Tensor, name: str) -> Tensor:
        coords = torch.as_tensor(coords)
        if coords.dim() != 2 or coords.shape[1] != self.modes or not coords.is_floating_point():
            raise ValueError(f"{name} must be a float (N, K) = (N, {self.modes}) tensor of continuous indexes (modes="
                             f"{self.modes}), got {tuple(coords.shape)} {coords.dtype}")
        if not bool(torch.isfinite(coords).all()):
            raise ValueError(f"{name} holds NaN or infinite indexes")
        return coords.double()

    @torch.no_grad()
    def predict(self, coords: Tensor, return_var: bool = False):
        """The posterior mean ``(B,)`` of the entries at ``coords (B, K)`` and, with ``return_var``, the variance of
        the noiseless entry ``(B,)`` (add ``s² b / a``, i.e. ``s² / E[τ]``, for a new observation). An index outside a
        mode's fitted range by more than the mean knot spacing warns: there the posterior reverts to the prior (mean 0)
        away from the last knot."""
        if not self.is_fitted:
            raise RuntimeError("FunBaT is not fitted: call fit(coords, y) first (or load a fitted model)")
        coords = self._check(coords, "coords")
        means, seconds = [], []
        for k, sde in enumerate(self.sdes):
            knots = getattr(self, f"knots_{k}")
            values, index = torch.unique(coords[:, k], return_inverse=True)
            spacing = (knots[-1] - knots[0]) / max(len(knots) - 1, 1)
            if values[0] < knots[0] - spacing or values[-1] > knots[-1] + spacing:
                warnings.warn(f"FunBaT.predict: mode {k} has indexes in [{values[0]:.4g}, {values[-1]:.4g}], outside "
                              f"the fitted range [{knots[0]:.4g}, {knots[-1]:.4g}]: the prediction there is "
                              "extrapolated by the SDE and reverts to the prior mean 0", stacklevel=3)
            u, uu = self.factor_moments(k, states=predict_states(sde, self.smoothed(k), values))
            means.append(u[index])
            seconds.append(uu[index])
        mean = kron_rows(means) @ self.core_mean
        if not return_var:
            return self.scale * mean
        second = (kron_rows(seconds) * self.core_second_moment()).sum((1, 2))
        return self.scale * mean, self.scale**2 * (second - mean.square()).clamp_min(0)

    def forward(self, coords: Tensor) -> Tensor:
        return self.predict(coords)
