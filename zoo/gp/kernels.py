"""GP-HM's spectral-mixture kernels in one dimension and their derivatives in the first argument.

"Solving High Frequency and Multi-Scale PDEs with Gaussian Processes" (Fang et al., ICLR 2024): a mixture of
spectral components, each a stationary base kernel times a cosine, with ``d = x − x'``::

    k(x, x') = Σ_q w_q κ(d; a_q) cos(ω_q d),   ω_q = 2π μ_q
    SE ("GP-HM-GM", a Gaussian mixture spectral density):  κ(d; a) = exp(−a d²)
    Matérn-5/2 ("GP-HM-StM", a Student-t mixture):         κ(d; a) = (1 + √5 a|d| + 5/3 a² d²) exp(−√5 a|d|)

with ``a`` the reference's ``exp(log ls)`` (an inverse length scale). The derivatives ``∂^k k / ∂x^k`` (k = 0, 1, 2)
are closed forms (``g = κ c`` with ``c = cos ωd``: ``g' = κ'c + κc'``, ``g'' = κ''c + 2κ'c' + κc''``), so that the
derivative of the GP's grid interpolant, ``u_xx = K^{xx} K⁻¹ u``, needs no autograd through a matrix inverse.
Matérn-5/2 is twice differentiable at ``d = 0`` (``κ'(0) = 0``, ``κ''(0) = −5a²/3``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BASES = ("se", "matern52")


def _base(d: Tensor, a: Tensor, base: str) -> tuple[Tensor, Tensor, Tensor]:
    """``κ, κ', κ''`` (in d) of the base kernel, ``d (..., Q)``, ``a (Q,)``."""
    if base == "se":
        kappa = torch.exp(-a * d**2)
        return kappa, -2 * a * d * kappa, (4 * a**2 * d**2 - 2 * a) * kappa
    r = d.abs()
    s = math.sqrt(5) * a * r
    e = torch.exp(-s)
    kappa = (1 + s + s**2 / 3) * e
    first = -(5 / 3) * a**2 * d * (1 + s) * e
    second = -(5 / 3) * a**2 * (1 + s - s**2) * e
    return kappa, first, second


def spectral_mixture(x1: Tensor, x2: Tensor, weights: Tensor, frequencies: Tensor, inverse_lengthscales: Tensor,
                     base: str = "se", derivative: int = 0) -> Tensor:
    """``∂^derivative k / ∂x1^derivative`` on ``x1 (n1,)`` × ``x2 (n2,)`` -> ``(n1, n2)``.

    ``weights`` ``w_q``, ``frequencies`` ``μ_q`` (cycles per unit) and ``inverse_lengthscales`` ``a_q``: ``(Q,)``.
    """
    if base not in BASES:
        raise ValueError(f"base={base!r}: expected one of {BASES}")
    if derivative not in (0, 1, 2):
        raise ValueError(f"derivative={derivative!r}: expected 0, 1 or 2")
    d = (x1[:, None] - x2[None, :])[..., None]                         # (n1, n2, 1)
    omega = 2 * math.pi * frequencies
    kappa, kappa1, kappa2 = _base(d, inverse_lengthscales, base)
    cos, sin = torch.cos(omega * d), torch.sin(omega * d)
    if derivative == 0:
        g = kappa * cos
    elif derivative == 1:
        g = kappa1 * cos - omega * kappa * sin
    else:
        g = kappa2 * cos - 2 * omega * kappa1 * sin - omega**2 * kappa * cos
    return g @ weights
