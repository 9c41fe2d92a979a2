"""Bound states of the dimensionless 1-D Schrödinger equation ``−ψ'' + V(x) ψ = E ψ`` between infinite walls at
``lower`` and ``upper`` (``ψ(lower) = ψ(upper) = 0``), by second-order finite differences.

On the ``n`` interior nodes ``x_i = lower + i h`` (``h = (upper − lower) / (n + 1)``) the Hamiltonian is the
symmetric tridiagonal ``H = (1/h²) tridiag(−1, 2, −1) + diag(V̄_i)``, whose lowest ``k`` eigenpairs
(``scipy.linalg.eigh_tridiagonal``) converge as ``O(h²)``: the box's ``E_n^h = (2/h²)(1 − cos(nπh/L))``. ``V̄_i``
is ``V``'s mean over the node's cell (``cell_samples`` midpoints), so a jump of a piecewise-constant well counts with
the share of the cell on each side, never as the value at whichever node it happens to hit. The data's reference
ψ (:mod:`zoo.data.pde.quantum_well`) and the quantum-well baselines (:mod:`zoo.pinn.reference`) share it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import Tensor


def cell_averages(potential: Callable[[Tensor], Tensor], nodes: Tensor, h: float, samples: int = 256) -> Tensor:
    """``V̄_i`` (M,) float64: ``potential``'s mean over ``[x_i − h/2, x_i + h/2]`` for the nodes ``x_i`` ``(M,)``, by
    ``samples`` midpoints; a value that is not finite is an error naming where."""
    offsets = h * ((torch.arange(samples, dtype=torch.float64) + 0.5) / samples - 0.5)
    points = nodes[:, None] + offsets
    values = potential(points.reshape(-1)).reshape(points.shape).double()   # float32 would round 2/h² + V
    bad = ~torch.isfinite(values)
    if bad.any():
        raise ValueError(f"the potential is {values[bad][0].item()} at x = {points[bad][0].item():.6g}: it must be "
                         f"finite on the domain [{nodes[0].item():.6g}, {nodes[-1].item():.6g}] (the infinite walls "
                         "are the domain's ends; a well's v0 must be finite)")
    return values.mean(dim=1)


def schrodinger_eigenpairs(potential: Callable[[Tensor], Tensor], lower: float, upper: float, n: int = 4000,
                           k: int = 1, cell_samples: int = 256) -> tuple[Tensor, Tensor, Tensor]:
    """The lowest ``k`` bound states (module doc): ``(E (k,), x (n + 2,), ψ (n + 2, k))`` in float64, ``x`` the
    nodes with the walls, ``ψ`` zero at the walls, normalised by the trapezoid rule (``h Σ ψ_i² = 1``) and signed
    so that its first value above 10⁻³ of its largest is positive (the ground state is positive).

    ``potential`` maps ``(M,)`` float64 points to ``(M,)`` values; one that is not finite somewhere is an error.
    """
    if not lower < upper:
        raise ValueError(f"the domain [{lower}, {upper}] is empty: lower must be below upper")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} states need 1 <= k <= n={n} interior nodes")
    h = (upper - lower) / (n + 1)
    x = lower + h * torch.arange(n + 2, dtype=torch.float64)
    diagonal = 2 / h**2 + cell_averages(potential, x[1:-1], h, cell_samples).numpy()
    energies, vectors = eigh_tridiagonal(diagonal, np.full(n - 1, -1 / h**2), select="i", select_range=(0, k - 1))
    vectors = vectors / np.sqrt(h * (vectors**2).sum(axis=0))
    first = (np.abs(vectors) > 1e-3 * np.abs(vectors).max(axis=0)).argmax(axis=0)
    vectors = vectors * np.sign(vectors[first, np.arange(k)])
    psi = torch.zeros(n + 2, k, dtype=torch.float64)
    psi[1:-1] = torch.from_numpy(vectors)
    return torch.from_numpy(energies), x, psi
