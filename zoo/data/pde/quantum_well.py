"""1-D quantum wells for the eigenvalue PINN (Sarkar, 2025): fresh collocation points every step, and the reference
bound state on a fine grid.

The dimensionless ``−ψ'' + V(x) ψ = E ψ`` between infinite walls at the ends of ``domain = [lower, upper]``, with
``V`` one of (``a`` = ``half_width``)::

    box       V = 0                               (the infinite well: E_n = (nπ/L)², ψ_n = √(2/L) sin(nπ(x − lower)/L))
    finite    V = 0 for |x| < a, v0 outside       (a finite well, truncated to the domain)
    barrier   V = v0 for |x| < a, 0 outside       (a central barrier inside the infinite well)

(``box`` ignores ``v0`` and ``half_width``). The training split is a stream of batches ``{"x" (N, 1), "potential"
(N,)}``, ``N = n_collocation`` stratified points (one uniform draw in each of N equal cells, so no two cluster and
none sits on a jump of ``V`` but with probability 0), fresh at every step, ``steps_per_epoch`` an epoch, drawn from
a generator seeded with ``(seed, pass)`` and resumable mid-epoch (:class:`~zoo.data.sampling.BatchStream`).
``val`` and ``test`` are one batch each, the reference state ``state`` (1: the ground state) on the uniform grid of
``n_reference`` interior nodes and the walls: ``{"x" (M, 1), "potential" (M,), "psi" (M,), "energy" ()}``, ``V``
averaged over each node's cell, ``ψ`` normalised (trapezoid rule) and positive where it starts; the box's in
closed form, the others by finite differences (:mod:`zoo.functional.schrodinger`, ``O(h²)``). There is no model
selection: ``val`` is the test grid.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.data.base import SplitDataModule
from zoo.data.sampling import BatchStream
from zoo.functional.schrodinger import cell_averages, schrodinger_eigenpairs

WELLS = ("box", "finite", "barrier")


class QuantumWellDataModule(SplitDataModule):
    """A quantum well (module doc).

    Args:
        well: one of :data:`WELLS`. v0: the finite well's walls or the barrier's height. half_width: a. domain:
        ``[lower, upper]``, the infinite walls. state: the reference state (1: ground). n_collocation: N points a
        step. steps_per_epoch: steps an epoch. n_reference: interior nodes of the reference grid. seed: the
        collocation stream's seed. num_workers: loader workers.
    """

    batched = True

    def __init__(self, well: str = "finite", v0: float = 10.0, half_width: float = 1.0,
                 domain: list[float] = [-3.0, 3.0], state: int = 1, n_collocation: int = 1024,
                 steps_per_epoch: int = 100, n_reference: int = 4000, seed: int = 0, num_workers: int = 0):
        for key, value in (("n_collocation", n_collocation), ("steps_per_epoch", steps_per_epoch),
                           ("n_reference", n_reference), ("state", state)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"data.{key}={value!r} must be a positive integer (the PINN's loss needs collocation "
                                 "points, an epoch steps, the reference a grid and a state)")
        super().__init__(batch_size=n_collocation, num_workers=num_workers)
        if well not in WELLS:
            raise ValueError(f"data.well={well!r}: expected one of {WELLS}")
        if len(domain) != 2 or not domain[0] < domain[1]:
            raise ValueError(f"data.domain={list(domain)} must be [lower, upper] with lower < upper")
        if not math.isfinite(v0):
            raise ValueError(f"data.v0={v0}: the potential must be finite on the domain (the infinite walls are the "
                             "domain's ends, data.domain)")
        if well != "box" and not domain[0] < -half_width < half_width < domain[1]:
            raise ValueError(f"data.domain={list(domain)} does not contain the {well} |x| < {half_width}: widen "
                             "data.domain or shrink data.half_width (which must be > 0)")
        self.well, self.v0, self.half_width = well, float(v0), float(half_width)
        self.lower, self.upper = float(domain[0]), float(domain[1])
        self.state, self.n_collocation, self.steps_per_epoch = state, n_collocation, steps_per_epoch
        self.n_reference, self.seed = n_reference, seed

    def potential(self, x: Tensor) -> Tensor:
        """``V(x)``, of ``x``'s shape and dtype."""
        if self.well == "box":
            return torch.zeros_like(x)
        inside = x.abs() < self.half_width
        return torch.where(~inside if self.well == "finite" else inside, self.v0, 0.0).to(x.dtype)

    def collocation(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """``{"x" (n, 1), "potential" (n,)}``: one uniform point in each of ``n`` equal cells of the domain."""
        cells = torch.arange(n, dtype=torch.float64) + torch.rand(n, generator=generator, dtype=torch.float64)
        x = self.lower + (self.upper - self.lower) / n * cells
        return {"x": x[:, None], "potential": self.potential(x)}

    def reference(self) -> dict[str, Tensor]:
        """The reference state on the grid (module doc)."""
        n, length = self.n_reference, self.upper - self.lower
        if self.well == "box":
            x = torch.linspace(self.lower, self.upper, n + 2, dtype=torch.float64)
            energy = torch.tensor((self.state * math.pi / length) ** 2, dtype=torch.float64)
            psi = math.sqrt(2 / length) * torch.sin(self.state * math.pi * (x - self.lower) / length)
        else:
            energies, x, psi = schrodinger_eigenpairs(self.potential, self.lower, self.upper, n=n, k=self.state)
            energy, psi = energies[-1], psi[:, -1]
        return {"x": x[:, None], "potential": cell_averages(self.potential, x, length / (n + 1)), "psi": psi,
                "energy": energy}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        reference = self.reference()
        self.splits = {"train": BatchStream(self.collocation, self.n_collocation * self.steps_per_epoch,
                                            self.n_collocation, self.seed),
                       "val": [reference], "test": [reference]}
