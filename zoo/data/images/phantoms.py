"""Random-ellipse phantoms (Shepp–Logan-like), rasterised in closed form at any size.

The image covers ``[-1, 1]²`` (``x`` to the right, ``y`` down the rows); pixel ``(i, j)`` is the point at its centre,
``(-1 + (2j + 1)/size, -1 + (2i + 1)/size)``, and an ellipse with centre ``c``, semi-axes ``(a, b)`` and angle ``θ``
holds the points ``p`` with ``(u/a)² + (v/b)² ≤ 1``, ``(u, v) = R(−θ)(p − c)``. A phantom adds the intensities of

- a head: an outer ellipse (intensity 1, semi-axes ``a ~ U(0.7, 0.9)``, ``b ~ U(0.8, 0.95)``, angle ``U(−0.2, 0.2)``,
  centred) minus an inner one 0.9 times as large (intensity ``−U(0.5, 0.8)``), so a bright skull rim surrounds a
  darker interior;
- 3 to 10 features inside: semi-axes ``U(0.05, 0.35)``, angles ``U(0, π)``, centres uniform in the inner ellipse
  scaled by 0.6, intensities ``U(−0.3, 0.5)``;

then clips to [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: the most features inside the head (each phantom has 3 to MAX_FEATURES)
MAX_FEATURES = 10
#: phantoms rasterised at a time
CHUNK = 256


def pixel_grid(size: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """The pixel centres of a ``size × size`` image of ``[-1, 1]²``: ``x`` and ``y``, ``(size, size)`` each."""
    axis = -1 + (2 * torch.arange(size, dtype=dtype) + 1) / size
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return x, y


def ellipse_indicator(size: int, centre: Tensor, axes: Tensor, angle: Tensor) -> Tensor:
    """Whether each pixel centre lies in each ellipse: ``centre (..., 2)`` as ``(x, y)``, semi-axes ``axes (..., 2)``,
    ``angle (...)`` in radians -> ``(..., size, size)`` bool (float64 geometry)."""
    x, y = pixel_grid(size)
    dx, dy = x - centre[..., 0, None, None], y - centre[..., 1, None, None]
    cos, sin = angle.cos()[..., None, None], angle.sin()[..., None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    return (u / axes[..., 0, None, None]).square() + (v / axes[..., 1, None, None]).square() <= 1


def ellipse_phantoms(n: int, size: int = 32, seed: int = 0) -> Tensor:
    """``n`` random-ellipse phantoms (module doc), ``(n, 1, size, size)`` float32 in [0, 1]; the same ``seed`` gives
    the same phantoms at every ``size``."""
    if not isinstance(n, int) or n < 0 or not isinstance(size, int) or size < 1:
        raise ValueError(f"n must be an integer >= 0 and size a positive integer, got n={n!r}, size={size!r}")
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)

    head_axes = torch.stack([uniform(0.7, 0.9, n), uniform(0.8, 0.95, n)], -1)
    head_angle = uniform(-0.2, 0.2, n)
    count = torch.randint(3, MAX_FEATURES + 1, (n,), generator=g)
    features = MAX_FEATURES
    radius, phi = uniform(0, 1, n, features).sqrt(), uniform(0, 2 * math.pi, n, features)
    local = 0.6 * 0.9 * head_axes.unsqueeze(1) * torch.stack([radius * phi.cos(), radius * phi.sin()], -1)
    cos, sin = head_angle.cos()[:, None], head_angle.sin()[:, None]
    centres = torch.stack([cos * local[..., 0] - sin * local[..., 1], sin * local[..., 0] + cos * local[..., 1]], -1)
    axes, angles = uniform(0.05, 0.35, n, features, 2), uniform(0, math.pi, n, features)
    intensities = uniform(-0.3, 0.5, n, features) * (torch.arange(features) < count[:, None])
    head_rim = uniform(0.5, 0.8, n)
    images = []
    for rows in torch.arange(n).split(CHUNK):  # small temporaries: 5x faster than all n at once
        zero = torch.zeros(len(rows), 2, dtype=torch.float64)
        image = ellipse_indicator(size, zero, head_axes[rows], head_angle[rows]).double()
        image -= head_rim[rows, None, None] * ellipse_indicator(size, zero, 0.9 * head_axes[rows], head_angle[rows])
        for k in range(features):
            inside = ellipse_indicator(size, centres[rows, k], axes[rows, k], angles[rows, k])
            image += intensities[rows, k, None, None] * inside
        images.append(image.clamp(0, 1).float().unsqueeze(1))
    return torch.cat(images) if images else torch.empty(0, 1, size, size)
