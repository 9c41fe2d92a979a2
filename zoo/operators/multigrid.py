"""Multi-grid domain decomposition, the "MG" of "Multi-Grid Tensorized Fourier Neural Operator for High-Resolution
PDEs" (Kossaifi et al., TMLR 2023), around any 2-D operator; registered with a TFNO inside as ``mg_tfno``.

An input ``a (batch, C, H, W)`` is cut into ``n × n`` patches, ``n = 2^levels``, of ``h × w = H/n × W/n`` points,
stacked on the batch axis. Each patch ``(i, j)`` is seen at ``levels + 1`` scales, all on windows of the same
``(h + 2p_H) × (w + 2p_W)`` points, ``p_H = round(δ·H)``, ``p_W = round(δ·W)`` (δ = ``padding_fraction``)::

    level 0:   a[i·h − p_H : (i+1)·h + p_H,  j·w − p_W : (j+1)·w + p_W]            the patch and a margin
    level l:   a_l[s_i : s_i + h + 2p_H,  …],   a_l = a[::2^l, ::2^l],   s_i = i·h/2^l − (h − h/2^l)/2 − p_H

(indices taken circularly, i.e. the domain is treated as periodic). Level ``l`` covers ``2^l`` times the patch's
extent around it at ``2^l`` times coarser sampling: the same number of points, a wider context. The levels are
concatenated as channels, so the inner model takes ``C·(levels + 1)`` channels on ``(h + 2p_H) × (w + 2p_W)``
grids. Its outputs lose their margins ``p`` and are stitched back to ``(batch, C_out, H, W)``.

**Grid sizes.** ``H`` and ``W`` must be divisible by ``4^levels``: ``2^levels`` patches per axis, each of a size
divisible by ``2^levels`` so that the coarse windows move by whole coarse points. A coarse window is centred on
its patch to within one coarse point (``(h − h/2^l)/2`` is rounded down, and ``a[::2^l]`` starts at the patch
grid's first point); in physical units that offset shrinks as ``1/H``.

**Resolution.** The number of patches is fixed and the patch size, the margin (a fraction of the axis) and the
windows of every level scale with ``H, W``: at any admissible resolution each patch and each context window
covers the same part of the physical domain, sampled proportionally finer. With a resolution-invariant inner
model (FNO/TFNO) the wrapper is therefore resolution-invariant up to the rounding of ``p`` and the sub-point
centring above (zero-shot super-resolution is tested on a trained model).

**Grids that do not divide** (Darcy's 33² or 65², which include both boundaries): ``pad_input=True`` adds zeros
at the bottom and right up to the next multiple of ``4^levels`` and crops the output back, like FNO's domain
padding on a non-periodic problem. The few added points are a fixed count, not a fraction of the axis.

**Stitching.** ``stitching=False`` (training only) returns the un-stitched patches ``(batch·n², C_out, h, w)`` in
training mode, for a loop that computes the loss per patch against :meth:`MultigridPatching.split` of the
target; evaluation always stitches. The zoo's regression task needs the default ``stitching=True``.

Deliberate differences from neuraloperator's ``MultigridPatching2D``: a clear error on grids that do not divide
(the reference floors the coarse strides without a check); the margin is added at ``levels = 0`` too (it then
acts as circular domain padding); the coarse windows are gathered with circular indices, so a margin may exceed
the size of a coarse level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from einops import rearrange
from torch import Tensor, nn

from zoo.arguments import AtLeast
from zoo.operators.common import check_operator_input, operator_example
from zoo.operators.fno import TFNO_PAPER, tfno
from zoo.registry import register_model


def circular_windows(n_points: int, n_windows: int, stride: int, size: int, start: int, device) -> Tensor:
    """Indices ``(n_windows, size)``: window ``k`` holds ``(start + k·stride + t) mod n_points``, t < size."""
    first = start + stride * torch.arange(n_windows, device=device)
    return (first[:, None] + torch.arange(size, device=device)) % n_points


def check_patching(levels, padding_fraction) -> None:
    """Raise a clear error unless ``levels`` is an int ≥ 0 and ``0 ≤ padding_fraction < ½``."""
    if not isinstance(levels, int) or levels < 0:
        raise ValueError(f"MultigridPatching: levels must be an int ≥ 0, got {levels!r}")
    if not 0 <= padding_fraction < 0.5:
        raise ValueError(f"MultigridPatching: padding_fraction must be in [0, 0.5), got {padding_fraction!r}")


class MultigridPatching(nn.Module):
    """Multi-grid patching around ``model``: ``(batch, C, H, W) -> (batch, C_out, H, W)`` (see the module doc).

    ``model`` maps ``(batch·4^levels, C·(levels + 1), h + 2p_H, w + 2p_W)`` to ``(…, C_out, …)`` on any grid and
    exposes ``in_channels`` (``C·(levels + 1)``), ``out_channels`` and ``n_dim = 2``.
    """

    def __init__(self, model: nn.Module, levels: int = 1, padding_fraction: float = 0.0, stitching: bool = True,
                 pad_input: bool = False):
        super().__init__()
        check_patching(levels, padding_fraction)
        n_dim = getattr(model, "n_dim", None)
        if n_dim != 2:
            raise ValueError(f"MultigridPatching wraps 2-D operators (a model with n_dim = 2), got n_dim={n_dim}")
        if model.in_channels % (levels + 1):
            raise ValueError(f"MultigridPatching(levels={levels}) feeds levels + 1 = {levels + 1} views of each input "
                             f"channel to the model, whose in_channels={model.in_channels} is not a multiple of it")
        self.model, self.levels, self.padding_fraction, self.stitching = model, levels, padding_fraction, stitching
        self.pad_input = pad_input
        self.in_channels, self.out_channels, self.n_dim = model.in_channels // (levels + 1), model.out_channels, 2
        self.n_patches = 2**levels

    def extra_repr(self) -> str:
        return (f"levels={self.levels}, padding_fraction={self.padding_fraction}, stitching={self.stitching}, "
                f"pad_input={self.pad_input}")

    def margins(self, height: int, width: int) -> tuple[int, int]:
        """``(p_H, p_W) = (round(δ·H), round(δ·W))``."""
        return round(self.padding_fraction * height), round(self.padding_fraction * width)

    def check_input(self, x) -> None:
        check_operator_input(x, self.in_channels, 2, type(self).__name__)
        divisor = 4**self.levels
        if x.shape[-2] % divisor or x.shape[-1] % divisor:
            raise ValueError(f"{type(self).__name__}(levels={self.levels}) needs H and W divisible by 4^levels = "
                             f"{divisor} ({self.n_patches} patches per axis, each a multiple of {self.n_patches} "
                             f"points); got (H, W) = {tuple(x.shape[-2:])}: use pad_input=True, resample or crop "
                             f"the input, or use fewer levels")

    def patch(self, x: Tensor) -> Tensor:
        """``(batch, C, H, W) -> (batch·n², C·(levels + 1), h + 2p_H, w + 2p_W)``: every patch at every level."""
        n, (height, width) = self.n_patches, x.shape[-2:]
        h, w = height // n, width // n
        p_h, p_w = self.margins(height, width)
        views = []
        for level in range(self.levels + 1):
            step = 2**level
            coarse = x[..., ::step, ::step]
            rows = circular_windows(height // step, n, h // step, h + 2 * p_h, -((h - h // step) // 2) - p_h, x.device)
            cols = circular_windows(width // step, n, w // step, w + 2 * p_w, -((w - w // step) // 2) - p_w, x.device)
            windows = coarse[:, :, rows][..., cols]                     # (batch, C, n, h + 2p_H, n, w + 2p_W)
            views.append(rearrange(windows, "b c i h j w -> (b i j) c h w"))
        return torch.cat(views, dim=1)

    def split(self, y: Tensor) -> Tensor:
        """``(batch, C, H, W) -> (batch·n², C, h, w)``: the patches alone (e.g. of a target, for ``stitching=False``)."""
        return rearrange(y, "b c (i h) (j w) -> (b i j) c h w", i=self.n_patches, j=self.n_patches)

    def stitch(self, y: Tensor) -> Tensor:
        """``(batch·n², C, h, w) -> (batch, C, n·h, n·w)``: the inverse of :meth:`split`."""
        return rearrange(y, "(b i j) c h w -> b c (i h) (j w)", i=self.n_patches, j=self.n_patches)

    def forward(self, x: Tensor) -> Tensor:
        check_operator_input(x, self.in_channels, 2, type(self).__name__)
        height, width = x.shape[-2:]
        if self.pad_input:
            divisor = 4**self.levels
            x = nn.functional.pad(x, (0, -width % divisor, 0, -height % divisor))
        self.check_input(x)
        patches = self.patch(x)
        try:
            y = self.model(patches)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}: the inner model rejects the patches of shape "
                             f"{tuple(patches.shape)} (levels={self.levels}, margins {self.margins(*x.shape[-2:])}): "
                             f"{err}") from err
        p_h, p_w = self.margins(*x.shape[-2:])
        y = y[..., p_h:y.shape[-2] - p_h, p_w:y.shape[-1] - p_w]
        if self.training and not self.stitching:
            return y
        return self.stitch(y)[..., :height, :width]


@register_model("mg_tfno", family="operators", task="operator", paper=TFNO_PAPER,
                capabilities=("resolution_invariant",), example=operator_example(), kwargs_to=tfno)
def mg_tfno(in_channels: int = 1, out_channels: int = 1, levels: Annotated[int, AtLeast(0)] = 1,
            padding_fraction: float = 0.0625, stitching: bool = True, pad_input: bool = False,
            modes: int | Sequence[int] = 8, **tfno_kwargs) -> MultigridPatching:
    """MG-TFNO: :class:`MultigridPatching` around a TFNO (``modes`` and ``tfno_kwargs``: width, rank, ...) that takes
    ``in_channels·(levels + 1)`` channels. Defaults: 2 × 2 patches with margins of 1/16 of each axis, and 8 modes
    (a patch has fewer points than the whole grid)."""
    check_patching(levels, padding_fraction)
    inner = tfno(in_channels=in_channels * (levels + 1), out_channels=out_channels, modes=modes, **tfno_kwargs)
    return MultigridPatching(inner, levels=levels, padding_fraction=padding_fraction, stitching=stitching,
                             pad_input=pad_input)
