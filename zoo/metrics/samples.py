"""Distances between two sets of samples: how close a generator's draws are to held-out data.

- :func:`energy_distance`: ``D(X, Y) = (2 E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖)^(1/2)`` over the empirical measures (all
  pairs, V-statistics; ``scipy.stats.energy_distance`` in 1-D), zero iff the distributions agree.
- :func:`wasserstein_1d`: ``W_p`` between two empirical measures on the line, ``(∫_0^1 |F⁻¹(q) − G⁻¹(q)|^p dq)^(1/p)``
  with the quantile functions piecewise constant on the ``i/n`` and ``j/m`` (``p = 1``:
  ``scipy.stats.wasserstein_distance``).
- :func:`sliced_wasserstein`: ``(mean_θ W_p^p(θᵀX, θᵀY))^(1/p)`` over unit directions θ (POT's
  ``ot.sliced_wasserstein_distance`` with the same ``projections``).

Samples are ``(n, d)`` and ``(m, d)`` tensors (any trailing shape is flattened: a batch of ``(C, T)`` traces is
``d = C T``); results are 0-dim tensors in the inputs' dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _flat(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    if x.shape[1] != y.shape[1] or not len(x) or not len(y):
        raise ValueError(f"samples must be non-empty with equal trailing sizes, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    return x, torch.as_tensor(y, dtype=x.dtype, device=x.device)


def _mean_distance(a: Tensor, b: Tensor) -> Tensor:
    """``E‖A − B‖`` over all pairs, from differences (not the ``‖a‖² + ‖b‖² − 2aᵀb`` expansion, which cancels)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").mean()


def energy_distance(x: Tensor, y: Tensor) -> Tensor:
    """The energy distance between the samples ``x`` ``(n, ...)`` and ``y`` ``(m, ...)`` (module doc)."""
    x, y = _flat(x, y)
    squared = 2 * _mean_distance(x, y) - _mean_distance(x, x) - _mean_distance(y, y)
    return squared.clamp_min(0).sqrt()


def wasserstein_1d(u: Tensor, v: Tensor, p: float = 1.0) -> Tensor:
    """``W_p`` between the empirical measures of ``u`` ``(n, k)`` and ``v`` ``(m, k)``, column by column: ``(k,)``
    (1-D inputs give a 0-dim result)."""
    if p < 1:
        raise ValueError(f"p={p} must be >= 1")
    squeeze = u.dim() == 1
    u, v = (u[:, None], v[:, None]) if squeeze else (u, v)
    v = torch.as_tensor(v, dtype=u.dtype, device=u.device)
    n, m = len(u), len(v)
    levels = torch.cat([torch.arange(1, n + 1, dtype=u.dtype, device=u.device) / n,
                        torch.arange(1, m + 1, dtype=u.dtype, device=u.device) / m]).unique()   # breakpoints, sorted
    widths = torch.diff(levels, prepend=levels.new_zeros(1))
    middle = levels - widths / 2
    i = (middle * n).floor().long().clamp_max(n - 1)
    j = (middle * m).floor().long().clamp_max(m - 1)
    gap = (u.sort(0).values[i] - v.sort(0).values[j]).abs() ** p                 # (levels, k)
    distance = (widths[:, None] * gap).sum(0) ** (1 / p)
    return distance[0] if squeeze else distance


def sliced_wasserstein(x: Tensor, y: Tensor, n_projections: int = 256, p: float = 2.0,
                       projections: Tensor | None = None, seed: int = 0) -> Tensor:
    """The sliced ``W_p`` between ``x`` ``(n, ...)`` and ``y`` ``(m, ...)`` over ``projections`` ``(d, n_projections)``
    (unit columns), or ``n_projections`` directions drawn uniformly on the sphere from ``seed``."""
    x, y = _flat(x, y)
    if projections is None:
        generator = torch.Generator().manual_seed(seed)
        projections = torch.randn(x.shape[1], n_projections, generator=generator, dtype=torch.float64)
        projections = projections / projections.norm(dim=0, keepdim=True)
    projections = torch.as_tensor(projections, dtype=x.dtype, device=x.device)
    if projections.dim() != 2 or projections.shape[0] != x.shape[1]:
        raise ValueError(f"projections must be (d, n_projections) with d = {x.shape[1]}, got "
                         f"{tuple(projections.shape)}")
    return (wasserstein_1d(x @ projections, y @ projections, p) ** p).mean() ** (1 / p)
