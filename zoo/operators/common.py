"""Pieces every neural operator shares: input checks, grid positional channels, the registry example.

Every operator maps ``(batch, in_channels, *spatial)`` to ``(batch, out_channels, *spatial)`` on 1-D,
2-D or 3-D grids; the coordinates of the grid are appended as extra input channels where the paper does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

AXES = ("H", "W", "D")


def check_operator_input(x, in_channels: int, n_dim: int, name: str) -> None:
    """Raise a clear error unless ``x`` is a floating tensor ``(batch, in_channels, *spatial)`` with ``n_dim`` axes."""
    spatial = ", ".join(AXES[:n_dim]) if n_dim > 1 else "L"
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a tensor of shape (batch, {in_channels}, {spatial}), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point input, got {x.dtype}: convert it with x.float()")
    if x.ndim != n_dim + 2 or x.shape[1] != in_channels:
        raise ValueError(f"{name} expects input of shape (batch, {in_channels}, {spatial}) ({n_dim} spatial axes, "
                         f"channels first), got {tuple(x.shape)}")


def grid_channels(x: Tensor, centred: bool = False) -> Tensor:
    """Coordinates in [0, 1] of each grid point, ``(batch, n_dim, *spatial)`` for ``x (batch, C, *spatial)``.

    ``centred=False``: ``linspace(0, 1, n)`` (FNO, LSM); ``centred=True``: cell centres ``(i + ½)/n`` (the points
    a DCT-II samples, T1).
    """
    axes = []
    for n in x.shape[2:]:
        if centred:
            axes.append((torch.arange(n, device=x.device, dtype=x.dtype) + 0.5) / n)
        else:
            axes.append(torch.linspace(0, 1, n, device=x.device, dtype=x.dtype))
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)
    return grid.unsqueeze(0).expand(x.shape[0], *grid.shape)


def with_grid(x: Tensor, centred: bool = False) -> Tensor:
    """``x (batch, C, *spatial)`` with the grid appended: ``(batch, C + n_dim, *spatial)``."""
    return torch.cat([x, grid_channels(x, centred)], dim=1)


def operator_example(size: int = 32):
    """A registry example: ``example(model) -> (input, output_shape)`` on a ``size^n_dim`` grid.

    The model must expose ``in_channels``, ``out_channels`` and ``n_dim``.
    """

    def example(model: nn.Module):
        spatial = (size,) * model.n_dim
        return torch.randn(2, model.in_channels, *spatial), (2, model.out_channels, *spatial)

    return example
