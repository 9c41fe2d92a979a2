"""LightSB: "Light Schrödinger Bridge" (Korotin, Gushchin, Burnaev; ICLR 2024).

The Schrödinger bridge with reference process ``dX_t = √ε dW_t`` between p0 and p1 (equivalently entropic OT
with cost ½‖x0 − x1‖² and weight ε) has the plan ``π*(x1|x0) = exp(⟨x0, x1⟩/ε) v*(x1) / c*(x0)``, where
``v*`` is the *adjusted* Schrödinger potential. LightSB models it as a Gaussian mixture::

    v_θ(x1)      = Σ_k α_k N(x1 | r_k, ε S_k)                                 k = 1 … K
    log c_θ(x0)  = logsumexp_k [log α_k + (x0ᵀ S_k x0 + 2 r_kᵀ x0) / 2ε]        (closed form)
    π_θ(x1|x0)   = Σ_k α̃_k(x0) N(x1 | r_k + S_k x0, ε S_k),   α̃_k(x0) ∝ α_k exp((x0ᵀS_k x0 + 2 r_kᵀx0) / 2ε)
    L(θ)         = E_{x0~p0} log c_θ(x0) − E_{x1~p1} log v_θ(x1)             (= KL(π*‖π_θ) + const)

``S_k = diag(e^{s_k})`` (``covariance="diagonal"``) or ``S_k = U_k diag(e^{s_k}) U_kᵀ`` (``"full"``) with ``U_k``
kept orthogonal by ``torch.nn.utils.parametrizations.orthogonal`` (the reference uses geotorch). ``log α_k`` is
``log_alpha_raw_k / ε`` (raw starts at ``ε log(1/K)``), ``s_k`` starts at ``log S_init``, and ``r_k`` is set to
the first K rows of the first training batch of x1 (the reference's ``INIT_BY_SAMPLES``).

**Bridge.** Given ``x1 ~ π_θ(·|x0)``, ``x_t = (1 − t) x0 + t x1 + √(ε t(1 − t)) ξ``: the standard deviation is
``√(ε t(1−t))``; the reference used ``ε t(1−t)`` as the std until its commit 5b43943 (a bug we do not copy).

**SDE drift** ``g_θ(x, t) = ε ∇_x log ∫ N(x' | x, (1−t)ε I) φ_θ(x') dx'``, ``φ_θ(x') = e^{‖x'‖²/2ε} v_θ(x')``,
in closed form (no autograd): with ``A_k = t/(ε(1−t)) I + (εS_k)^{-1}`` and ``c_k = x/(ε(1−t)) + (εS_k)^{-1} r_k``,
``ℓ_k = log α_k − ½ log|S_k| − ½ log|A_k| − ½ r_kᵀ(εS_k)^{-1} r_k + ½ c_kᵀ A_k^{-1} c_k`` and
``g = (Σ_k softmax(ℓ)_k A_k^{-1} c_k − x) / (1 − t)``. ``A_k`` shares ``S_k``'s eigenvectors ``U_k``, so every
inverse and determinant is elementwise in the rotated frame. Euler–Maruyama: ``x ← x + g dt + √(ε dt) ξ``.

Shapes: ``x0``, ``x1`` ``(batch, dim)``; ``forward(x0)`` is the conditional mean ``E_{π_θ}[x1 | x0]`` ``(batch, dim)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import orthogonal

from zoo.functional import mixture_moments
from zoo.registry import register_model

PAPER = "Light Schrödinger Bridge (Korotin, Gushchin, Burnaev; ICLR 2024)"
COVARIANCES = ("diagonal", "full")


class Rotations(nn.Module):
    """``K`` orthogonal ``(dim, dim)`` matrices ``U_k`` (``weight``, ``(K, dim, dim)``), starting at the identity."""

    def __init__(self, n_components: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.eye(dim).repeat(n_components, 1, 1))
        orthogonal(self, "weight")


class LightSB(nn.Module):
    """The Gaussian-mixture adjusted potential ``v_θ`` and everything that follows from it in closed form.

    Args:
        dim: D, the data dimension.
        n_components: K, the number of mixture components (the EOT benchmark uses 50, the Swiss roll 500).
        epsilon: ε, the entropic weight (the reference Wiener process has variance ε per unit time).
        covariance: ``"diagonal"`` (``S_k = diag(e^{s_k})``) or ``"full"`` (``S_k = U_k diag(e^{s_k}) U_kᵀ``).
        S_init: the initial diagonal of every ``S_k``.
    """

    def __init__(self, dim: int = 2, n_components: int = 10, epsilon: float = 1.0, covariance: str = "diagonal",
                 S_init: float = 1.0):
        super().__init__()
        if not (isinstance(dim, int) and dim >= 1 and isinstance(n_components, int) and n_components >= 1):
            raise ValueError(f"dim and n_components must be positive integers, got {dim!r}, {n_components!r}")
        if not epsilon > 0 or not S_init > 0:
            raise ValueError(f"epsilon and S_init must be positive, got epsilon={epsilon!r}, S_init={S_init!r}")
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        self.dim, self.n_components, self.epsilon, self.covariance = dim, n_components, float(epsilon), covariance
        self.log_alpha_raw = nn.Parameter(torch.full((n_components,), self.epsilon * math.log(1 / n_components)))
        self.r = nn.Parameter(torch.randn(n_components, dim))
        self.s = nn.Parameter(torch.full((n_components, dim), math.log(S_init)))
        self.U = Rotations(n_components, dim) if covariance == "full" else None
        self.register_buffer("r_initialised", torch.tensor(False))

    # ---- parameters -------------------------------------------------------------------------------------
    @property
    def log_alpha(self) -> Tensor:
        """``log α_k = log_alpha_raw_k / ε``, ``(K,)`` (unnormalised mixture weights of ``v_θ``)."""
        return self.log_alpha_raw / self.epsilon

    def S(self) -> Tensor:
        """The matrices ``S_k``, ``(K, dim, dim)``."""
        scale = self.s.exp()
        if self.U is None:
            return torch.diag_embed(scale)
        U = self.U.weight
        return (U * scale.unsqueeze(-2)) @ U.transpose(-1, -2)

    def rotate(self, x: Tensor) -> Tensor:
        """``U_kᵀ x_k`` for every component: ``(..., K, dim)`` -> ``(..., K, dim)``; a point shared by every
        component may come as ``(..., 1, dim)`` (it broadcasts)."""
        return x if self.U is None else torch.einsum("...kd,kde->...ke", x, self.U.weight)

    def unrotate(self, y: Tensor) -> Tensor:
        """``U_k y_k``: ``(..., K, dim)`` -> ``(..., K, dim)``."""
        return y if self.U is None else torch.einsum("kde,...ke->...kd", self.U.weight, y)

    def _check(self, x: Tensor, name: str) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (batch, {self.dim}) (dim={self.dim}), got {tuple(x.shape)}")

    # ---- densities and the objective ----------------------------------------------------------------------
    def component_logits(self, x0: Tensor) -> Tensor:
        """``log α_k + (x0ᵀS_k x0 + 2 r_kᵀx0) / 2ε``, ``(batch, K)``: logsumexp is log c_θ, softmax is α̃(x0)."""
        if self.U is None:
            quadratic = x0.square() @ self.s.exp().T                       # x0ᵀ S_k x0, (batch, K)
        else:
            quadratic = (self.rotate(x0.unsqueeze(-2)).square() * self.s.exp()).sum(-1)
        return self.log_alpha + (quadratic + 2 * x0 @ self.r.T) / (2 * self.epsilon)

    def log_c(self, x0: Tensor) -> Tensor:
        """``log c_θ(x0)``, ``(batch,)``."""
        return self.component_logits(x0).logsumexp(-1)

    def log_v(self, x1: Tensor) -> Tensor:
        """``log v_θ(x1) = log Σ_k α_k N(x1 | r_k, εS_k)``, ``(batch,)``."""
        diff = self.rotate(x1.unsqueeze(-2) - self.r)                      # U_kᵀ(x1 − r_k), (batch, K, dim)
        mahalanobis = (diff.square() * (-self.s).exp()).sum(-1) / self.epsilon
        log_normal = -0.5 * (mahalanobis + self.s.sum(-1) + self.dim * math.log(2 * math.pi * self.epsilon))
        return (self.log_alpha + log_normal).logsumexp(-1)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """``L(θ) = E log c_θ(x0) − E log v_θ(x1)`` on unpaired ``{"x0": (B0, dim), "x1": (B1, dim)}``."""
        if not isinstance(batch, dict) or not {"x0", "x1"} <= batch.keys():
            raise ValueError("LightSB.loss expects a dict {'x0': (batch, dim), 'x1': (batch, dim)} of unpaired "
                             f"samples from p0 and p1, got {type(batch).__name__}")
        x0, x1 = batch["x0"], batch["x1"]
        self._check(x0, "x0")
        self._check(x1, "x1")
        if self.training and not self.r_initialised:
            self.initialise_r(x1)
        log_c, log_v = self.log_c(x0).mean(), self.log_v(x1).mean()
        return {"loss": log_c - log_v, "log_c": log_c.detach(), "log_v": log_v.detach()}

    @torch.no_grad()
    def initialise_r(self, x1: Tensor) -> None:
        """``r_k`` <- K samples of p1 (rows of ``x1``, drawn with replacement if it has fewer than K)."""
        index = torch.arange(self.n_components, device=x1.device) % x1.shape[0]
        self.r.copy_(x1[index])
        self.r_initialised.fill_(True)

    @torch.no_grad()
    def set_potential(self, log_alpha: Tensor, r: Tensor, s: Tensor) -> "LightSB":
        """Set a known potential (diagonal ``S_k``; rotations, if any, to the identity): ``log α (K,)``,
        ``r (K, dim)``, ``s (K, dim)`` (the log of the diagonal of ``S_k``). Returns the model."""
        for name, value, shape in (("log_alpha", log_alpha, (self.n_components,)), ("r", r, tuple(self.r.shape)),
                                   ("s", s, tuple(self.s.shape))):
            if tuple(value.shape) != shape:
                raise ValueError(f"{name} must have shape {shape} (K={self.n_components}, dim={self.dim}), "
                                 f"got {tuple(value.shape)}")
        self.log_alpha_raw.copy_(log_alpha * self.epsilon)
        self.r.copy_(r)
        self.s.copy_(s)
        if self.U is not None:
            self.U.weight = torch.eye(self.dim).expand(self.n_components, self.dim, self.dim)
        self.r_initialised.fill_(True)
        return self

    # ---- the conditional plan -----------------------------------------------------------------------------
    def conditional_means(self, x0: Tensor) -> Tensor:
        """``r_k + S_k x0``, ``(batch, K, dim)``."""
        return self.r + self.unrotate(self.rotate(x0.unsqueeze(-2)) * self.s.exp())

    def forward(self, x0: Tensor) -> Tensor:
        """``E_{π_θ}[x1 | x0] = Σ_k α̃_k(x0) (r_k + S_k x0)``: ``(batch, dim)`` -> ``(batch, dim)``."""
        self._check(x0, "x0")
        weights = self.component_logits(x0).softmax(-1)
        return (weights.unsqueeze(-1) * self.conditional_means(x0)).sum(-2)

    def conditional_moments(self, x0: Tensor) -> tuple[Tensor, Tensor]:
        """The exact mean ``(batch, dim)`` and covariance ``(batch, dim, dim)`` of ``π_θ(·|x0)``:
        ``m = Σ_k α̃_k m_k`` with ``m_k = r_k + S_k x0``, ``Σ = Σ_k α̃_k (ε S_k + (m_k − m)(m_k − m)ᵀ)``."""
        self._check(x0, "x0")
        weights = self.component_logits(x0).softmax(-1)
        mean, between = mixture_moments(weights, self.conditional_means(x0))
        return mean, between + self.epsilon * torch.einsum("bk,kde->bde", weights, self.S())

    @torch.no_grad()
    def sample(self, x0: Tensor) -> Tensor:
        """One exact draw ``x1 ~ π_θ(·|x0)`` per row: ``(batch, dim)`` -> ``(batch, dim)``."""
        self._check(x0, "x0")
        k = torch.distributions.Categorical(logits=self.component_logits(x0)).sample()
        scale = self.s[k].exp()                                            # eigenvalues of S_k, (batch, dim)
        noise = torch.randn_like(x0) * (self.epsilon * scale).sqrt()       # √ε diag(e^{s/2}) ξ
        if self.U is None:
            return self.r[k] + scale * x0 + noise
        U = self.U.weight[k]                                               # (batch, dim, dim)
        return self.r[k] + torch.einsum("bde,be->bd", U, scale * torch.einsum("bde,bd->be", U, x0) + noise)

    def sample_bridge(self, x0: Tensor, t: float | Tensor) -> Tensor:
        """``x_t`` of the bridge: ``x1 ~ π_θ(·|x0)``, then :func:`brownian_bridge`; ``(batch, dim)``."""
        return brownian_bridge(x0, self.sample(x0), t, self.epsilon)

    # ---- the SDE ------------------------------------------------------------------------------------------
    def drift(self, x: Tensor, t: float | Tensor) -> Tensor:
        """The closed-form drift ``g_θ(x, t)`` for ``0 <= t < 1``: ``x (batch, dim)``, ``t`` scalar or ``(batch,)``."""
        self._check(x, "x")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0]).reshape(-1, 1, 1)
        if (t >= 1).any() or (t < 0).any():
            raise ValueError("the drift is defined for 0 <= t < 1 (it is singular at t = 1)")
        eps, inv_S = self.epsilon, (-self.s).exp()                         # eigenvalues of S_k^{-1}
        a = t / (eps * (1 - t)) + inv_S / eps                              # eigenvalues of A_k, (batch, K, dim)
        r_rot = self.rotate(self.r)                                        # U_kᵀ r_k, (K, dim)
        c = self.rotate(x.unsqueeze(-2)) / (eps * (1 - t)) + inv_S * r_rot / eps  # U_kᵀ c_k, (batch, K, dim)
        ell = (self.log_alpha - 0.5 * self.s.sum(-1) - 0.5 * a.log().sum(-1)
               - 0.5 * (inv_S * r_rot.square()).sum(-1) / eps + 0.5 * (c.square() / a).sum(-1))
        A_inv_c = self.unrotate(c / a)                                     # A_k^{-1} c_k, (batch, K, dim)
        mean = (ell.softmax(-1).unsqueeze(-1) * A_inv_c).sum(-2)
        return (mean - x) / (1 - t[:, :, 0])

    @torch.no_grad()
    def sample_trajectory(self, x0: Tensor, n_steps: int = 100) -> Tensor:
        """Euler–Maruyama on ``dx = g_θ(x, t) dt + √ε dW`` from ``t = 0`` to 1: ``(batch, n_steps + 1, dim)``."""
        self._check(x0, "x0")
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
        dt, path = 1.0 / n_steps, [x0]
        for step in range(n_steps):
            x = path[-1]
            path.append(x + self.drift(x, step * dt) * dt + math.sqrt(self.epsilon * dt) * torch.randn_like(x))
        return torch.stack(path, 1)


def brownian_bridge(x0: Tensor, x1: Tensor, t: float | Tensor, epsilon: float) -> Tensor:
    """``x_t = (1 − t) x0 + t x1 + √(ε t(1 − t)) ξ`` (the bridge of ``√ε W`` pinned at x0, x1): ``(batch, dim)``;
    ``t`` a scalar or ``(batch, 1)``."""
    t = torch.as_tensor(t, dtype=x0.dtype, device=x0.device)
    return (1 - t) * x0 + t * x1 + (epsilon * t * (1 - t)).sqrt() * torch.randn_like(x0)


def _example(model: LightSB) -> tuple[Tensor, tuple[int, ...]]:
    return torch.randn(4, model.dim), (4, model.dim)


register_model("lightsb", family="generative", task="generative", paper=PAPER, capabilities=("sample",),
               example=_example)(LightSB)
