"""A PINN for the bound states of a 1-D quantum well, with its energy as a trainable parameter.

Sarkar (2025), "Physics-informed neural networks for one-dimensional quantum well problems": the dimensionless
time-independent Schrödinger equation ``−ψ'' + V(x) ψ = E ψ`` between infinite walls at ``a = lower`` and
``b = upper``, with a trial function that vanishes there exactly::

    poly   ψ(x) = 4(x − a)(b − x)/(b − a)² N_θ(z)          sin   ψ(x) = sin(π (x − a)/(b − a)) N_θ(z)

``N_θ`` a tanh MLP of ``z = (2x − a − b)/(b − a) ∈ [−1, 1]`` (both envelopes peak at 1, so ψ starts at N_θ's
scale on any domain). The PINN objective at collocation points ``x_i`` (``ψ''`` by autograd) is the mean squared
residual plus a quadrature normalisation, which removes ``ψ = 0`` and the scale ambiguity::

    L(θ, E) = mean_i (−ψ''(x_i) + V(x_i) ψ(x_i) − E ψ(x_i))² + λ_n (∫ ψ² dx − 1)²

``∫ψ²`` by ``quadrature``-point Gauss–Legendre in float64. ``λ_n`` must outweigh the residual per unit norm
(``ψ → cψ`` scales the residual by ``c²``), or the minimiser is ``ψ = 0``: with λ_n = 1 it collapses from a random
start. ``E`` trains in its own optimiser group at ``energy_lr`` (``param._optim``, :mod:`zoo.tasks.optim`), from
``energy``: it goes to an eigenvalue near where it starts, so an experiment starts it below the ground state.

``objective="ritz"`` is the Deep Ritz baseline (E & Yu, 2018) on the same trial function: the Rayleigh quotient
``R[ψ] = ∫(ψ'² + V ψ²) / ∫ψ²``, estimated by the means over the collocation points, is minimised (its minimum is
the ground state's energy) with the same normalisation term; ``E`` is then ``R`` and the parameter ``energy`` stays
unused. :meth:`eigenvalue` reports ``E`` either way.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from zoo.functional.pde import derivatives
from zoo.pinn.pinn import tanh_mlp
from zoo.registry import register_model

TRIALS = ("poly", "sin")
OBJECTIVES = ("pinn", "ritz")


@register_model("pinn_eigen", family="pinn", paper="Physics-informed neural networks for one-dimensional quantum "
                "well problems (Sarkar, 2025); Deep Ritz (E & Yu, 2018)", task="pinn",
                example=lambda model: (model.lower + (model.upper - model.lower)
                                       * torch.rand(5, 1, dtype=torch.float64), (5, 1)))
class PINNEigen(nn.Module):
    """``forward(x (B, 1)) -> ψ (B, 1)``; ``loss({"x" (N, 1), "potential" (N,)}) -> {"loss", "norm", "energy",
    "residual"}`` (no residual for Deep Ritz); ``eigenvalue(x (M, 1), potential (M,)) -> E ()``.

    Args:
        domain: ``[a, b]``, the infinite walls. width, depth: ``N_θ``'s hidden width and number of hidden layers.
        trial: ``"poly"`` or ``"sin"`` (module doc). objective: ``"pinn"`` or ``"ritz"`` (Deep Ritz).
        energy: E's initial value. energy_lr: E's learning rate. normalisation_weight: λ_n (0: no normalisation,
        the ablation in which ψ collapses to 0). quadrature: Gauss–Legendre points of ``∫ψ²``.
    """

    #: used by :meth:`loss` only, never by ``forward`` (the registry's gradient sweep leaves it out)
    objective_parameters = ("energy",)

    def __init__(self, domain: list[float] = [0.0, 1.0], width: int = 64, depth: int = 3, trial: str = "poly",
                 objective: str = "pinn", energy: float = 1.0, energy_lr: float = 0.01,
                 normalisation_weight: float = 100.0, quadrature: int = 256):
        super().__init__()
        if len(domain) != 2 or not domain[0] < domain[1]:
            raise ValueError(f"model.domain={list(domain)} must be [lower, upper] with lower < upper (the walls)")
        if trial not in TRIALS or objective not in OBJECTIVES:
            raise ValueError(f"model.trial={trial!r} must be one of {TRIALS} and model.objective={objective!r} one of "
                             f"{OBJECTIVES}")
        if min(width, depth, quadrature) < 1 or normalisation_weight < 0 or energy_lr <= 0:
            raise ValueError(f"model.width={width}, depth={depth} and quadrature={quadrature} must be >= 1, "
                             f"normalisation_weight={normalisation_weight} >= 0 and energy_lr={energy_lr} > 0")
        self.lower, self.upper = float(domain[0]), float(domain[1])
        self.trial, self.objective, self.normalisation_weight = trial, objective, normalisation_weight
        self.net = tanh_mlp(1, width, depth)
        self.energy = nn.Parameter(torch.tensor(float(energy), dtype=torch.float64))
        self.energy._optim = {"lr": energy_lr}
        nodes, weights = np.polynomial.legendre.leggauss(quadrature)
        half = (self.upper - self.lower) / 2
        self.register_buffer("nodes", torch.from_numpy(self.lower + half * (nodes + 1))[:, None], persistent=False)
        self.register_buffer("weights", torch.from_numpy(half * weights), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != 1:
            raise ValueError(f"x must be (B, 1) points of the domain, got {tuple(x.shape)}")
        length = self.upper - self.lower
        if self.trial == "poly":
            envelope = 4 * (x - self.lower) * (self.upper - x) / length**2
        else:   # sin(πt) = sin(π(1 − t)): the nearer wall's form is exactly 0 there in floating point
            t = (x - self.lower) / length
            envelope = torch.sin(math.pi * torch.minimum(t, 1 - t))
        return envelope * self.net((2 * x - self.lower - self.upper) / length)

    def norm(self) -> Tensor:
        """``∫ψ² dx`` over the domain by Gauss–Legendre quadrature, differentiable in θ."""
        return self.weights @ self(self.nodes)[:, 0].square()

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """The objective (module doc) at the batch's collocation points ``x (N, 1)`` with ``V`` there, ``(N,)``."""
        x, potential = batch["x"], batch["potential"]
        if x.dim() != 2 or x.shape[1] != 1 or x.shape[0] == 0 or potential.shape != x.shape[:1]:
            raise ValueError(f"a batch needs x of shape (N, 1) with N >= 1 collocation points and the potential at "
                             f"them (N,): got x {tuple(x.shape)}, potential {tuple(potential.shape)} "
                             "(data.n_collocation)")
        psi, gradient, second = derivatives(self, x)
        if self.objective == "pinn":
            objective = (-second + (potential - self.energy) * psi).square().mean()
            parts = {"residual": objective.detach(), "energy": self.energy.detach()}
        else:
            objective = (gradient[:, 0].square() + potential * psi.square()).mean() / psi.square().mean()
            parts = {"energy": objective.detach()}
        norm = self.norm()
        return {"loss": objective + self.normalisation_weight * (norm - 1).square(), "norm": norm.detach(), **parts}

    @torch.no_grad()
    def eigenvalue(self, x: Tensor, potential: Tensor) -> Tensor:
        """E: the trained ``energy`` (PINN), or (Deep Ritz) the Rayleigh quotient of ψ on the uniform grid ``x (M, 1)``
        from wall to wall, ``(Σ (Δψ)²/h + h Σ V ψ²) / (h Σ ψ²)`` (the finite-difference Hamiltonian's quadratic form,
        ``potential (M,)`` its cell averages)."""
        if self.objective == "pinn":
            return self.energy.detach()
        psi, h = self(x)[:, 0], x[1, 0] - x[0, 0]
        return (psi.diff().square().sum() / h + h * (potential * psi.square()).sum()) / (h * psi.square().sum())
