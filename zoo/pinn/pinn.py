"""A physics-informed neural network for stationary PDEs, with optional random Fourier features.

PINN (Raissi, Perdikaris, Karniadakis, 2019): a tanh MLP ``u_θ(x)`` trained on the mean squared equation residual
at collocation points plus the boundary misfit, the derivatives by autograd::

    L(θ) = Σ_i (𝒟[u_θ](x_i) − f_i)² / Σ_i f_i² + λ_b (1/N_b) Σ_b (u_θ(x_b) − g_b)²

(the residual relative to the source's size: a high-frequency source is ~10⁴, and an unscaled residual would leave
the boundary term, and L-BFGS's line search, nothing to work with).

With ``fourier_features = m > 0`` the input first goes through ``γ(x) = [cos 2πBx, sin 2πBx]`` with a fixed
``B ~ N(0, σ²)`` of shape ``(m, d)`` (Tancik et al., 2020; Wang, Wang & Perdikaris, 2021), which lets the network
represent frequencies near ``σ`` that a plain MLP's spectral bias leaves out. These are GP-HM's baselines (Fang et al.,
ICLR 2024); the problem comes as the same dict the GP solver takes (:mod:`zoo.data.pde.manufactured`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.functional.pde import cartesian, derivatives, operator
from zoo.registry import register_model


def tanh_mlp(features: int, width: int, depth: int) -> nn.Sequential:
    """The PINNs' float64 network ``(B, features) -> (B, 1)``: ``depth`` hidden tanh layers of ``width``."""
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(features, width, dtype=torch.float64), nn.Tanh()]
        features = width
    return nn.Sequential(*layers, nn.Linear(features, 1, dtype=torch.float64))


@register_model("pinn", family="pinn", paper="Physics-informed neural networks (Raissi et al., J. Comput. Phys. 2019); "
                "random Fourier features (Wang et al., CMAME 2021)", task="pde_solve",
                example=lambda model: (torch.rand(5, model.dims, dtype=torch.float64), (5,)))
class PINN(nn.Module):
    """``forward(x (B, d)) -> u (B,)``; ``loss(problem) -> {"loss", "relative_residual", "boundary_mse"}``.

    Args:
        dims: d. width, depth: the MLP's hidden width and number of hidden layers. fourier_features: m (0: none).
        sigma: the Fourier features' frequency scale σ (cycles per unit). boundary_weight: λ_b.
    """

    def __init__(self, dims: int = 1, width: int = 64, depth: int = 4, fourier_features: int = 0, sigma: float = 10.0,
                 boundary_weight: float = 1.0):
        super().__init__()
        if min(dims, width, depth) < 1 or fourier_features < 0:
            raise ValueError(f"dims={dims}, width={width}, depth={depth} must be >= 1 and fourier_features="
                             f"{fourier_features} >= 0")
        self.dims, self.boundary_weight = dims, boundary_weight
        self.register_buffer("B", torch.randn(fourier_features, dims, dtype=torch.float64) * sigma)
        self.net = tanh_mlp(2 * fourier_features or dims, width, depth)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dims:
            raise ValueError(f"x must be (B, {self.dims}) points of the domain, got {tuple(x.shape)}")
        if len(self.B):
            phase = 2 * math.pi * x @ self.B.T
            x = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)
        return self.net(x)[:, 0]

    def laplacian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(u(x), Δu(x))`` at ``x (M, d)`` by autograd, differentiable in the weights."""
        u, _, second = derivatives(self, x)
        return u, second

    def loss(self, problem: dict) -> dict[str, Tensor]:
        """The PINN loss (module doc) on the problem's whole collocation grid (``problem`` as for GP-HM)."""
        axes = problem["axes"]
        if len(axes) != self.dims:
            raise ValueError(f"the problem is {len(axes)}-D but the PINN takes dims={self.dims}: set model.dims")
        u, second = self.laplacian(cartesian(axes))
        source = problem["source"].reshape(-1)
        residual = (operator(problem["equation"], u, second) - source).square().sum() / source.square().sum()
        mask = problem["boundary_mask"].reshape(-1)
        boundary = (u[mask] - problem["boundary_values"].reshape(-1)[mask]).square().mean()
        return {"loss": residual + self.boundary_weight * boundary, "relative_residual": residual.detach(),
                "boundary_mse": boundary.detach()}
