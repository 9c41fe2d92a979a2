"""Closed-form references for the quantum-well PINN (Sarkar, 2025): the finite square well's bound states.

For ``V = 0`` on ``|x| < a`` and ``V₀`` outside (on the whole line), a bound state of energy ``0 < E < V₀`` has
``k = √E`` inside and decays as ``e^{−κ|x|}``, ``κ = √(V₀ − E)``, outside; matching ``ψ'/ψ`` at ``x = a`` gives the
transcendental conditions::

    even   k tan(ka) = κ          odd   −k cot(ka) = κ

solved here as ``k sin(ka) − κ cos(ka) = 0`` and ``k cos(ka) + κ sin(ka) = 0`` (no poles) by bracketing every sign
change on a fine grid of ``k ∈ (0, √V₀)`` and ``scipy.optimize.brentq``. The finite-difference solver of any well
is :func:`zoo.functional.schrodinger.schrodinger_eigenpairs`; Deep Ritz is ``pinn_eigen``'s ``objective="ritz"``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq


def finite_well_energies(v0: float, half_width: float, grid: int = 100_000) -> list[float]:
    """The bound-state energies ``E₁ < E₂ < ...`` (below ``v0``) of the finite well (module doc), alternately even
    and odd; the first is the even ground state."""
    if not (math.isfinite(v0) and v0 > 0 and half_width > 0):
        raise ValueError(f"v0={v0} must be finite and > 0 and half_width={half_width} > 0 for a bound state")
    conditions = (lambda k: k * np.sin(k * half_width) - np.sqrt(v0 - k**2) * np.cos(k * half_width),
                  lambda k: k * np.cos(k * half_width) + np.sqrt(v0 - k**2) * np.sin(k * half_width))
    k = np.linspace(0, math.sqrt(v0), grid + 1)[1:-1]
    roots = []
    for condition in conditions:
        values = condition(k)
        for i in np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:])):
            roots.append(brentq(condition, k[i], k[i + 1], xtol=1e-15, rtol=1e-15) ** 2)
    return sorted(roots)
