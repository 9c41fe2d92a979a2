"""The neural-CDE encoder of KoVAE for irregularly sampled series (Kidger et al.'s neural controlled
differential equations, as used in "Generative Modeling of Regular and Irregular Time Series Data via
Koopman VAEs", Naiman et al., ICLR 2024).

The observed points of ``x`` (B, T, d), with a time channel ``t_i = i / (T - 1)`` in front, define a
natural cubic spline ``X(s)``, ``s ∈ [0, T - 1]`` (:func:`zoo.functional.spline_coeffs`; missing values are
interpolated by the spline, never read). The hidden state follows ``dh = f_θ(h) dX(s)``, ``h(0) = ζ(X(0))``,
with ``f_θ`` a 3-layer MLP ending in tanh (``FinalTanh``), integrated by RK4 with step ``min Δs = 1``; ``h``
at every grid time then goes through a 1-layer bi-GRU. torchcde does the integration.
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo.optional import require


class FinalTanh(nn.Module):
    """The CDE vector field ``f_θ(h)``: ``h`` (B, n) -> (B, n, c), a 3-layer MLP (width ``width``) ending in tanh."""

    def __init__(self, channels: int, hidden_dim: int, width: int):
        super().__init__()
        self.channels, self.hidden_dim = channels, hidden_dim
        self.net = nn.Sequential(nn.Linear(hidden_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, hidden_dim * channels), nn.Tanh())

    def forward(self, s: Tensor, h: Tensor) -> Tensor:
        return self.net(h).view(*h.shape[:-1], self.hidden_dim, self.channels)


class CDEEncoder(nn.Module):
    """Spline coefficients ``(B, T - 1, 4 (d + 1))`` -> features ``(B, T, 2 hidden_dim)`` (NCDE, then bi-GRU)."""

    def __init__(self, input_dim: int, hidden_dim: int, width: int | None = None):
        super().__init__()
        self.channels = input_dim + 1
        self.initial = nn.Linear(self.channels, hidden_dim)
        self.field = FinalTanh(self.channels, hidden_dim, width or hidden_dim)
        self.gru = nn.GRU(hidden_dim, hidden_dim, batch_first=True, bidirectional=True)

    def forward(self, coeffs: Tensor) -> Tensor:
        if coeffs.dim() != 3 or coeffs.shape[-1] != 4 * self.channels:
            raise ValueError(f"CDEEncoder expects spline coefficients (batch, T - 1, {4 * self.channels}) from "
                             f"zoo.functional.spline_coeffs, got {tuple(coeffs.shape)}")
        torchcde = require("torchcde")
        X = torchcde.CubicSpline(coeffs)
        h = torchcde.cdeint(X, self.field, self.initial(X.evaluate(X.interval[0])), X.grid_points, method="rk4",
                            options={"step_size": 1.0})
        return self.gru(h)[0]
