"""LSM: "Solving High-Dimensional PDEs with Latent Spectral Models" (Wu et al., ICML 2023).

LSM is a U-Net whose five skip levels each pass through a *neural spectral block* (NSB)::

    v   = P([a, x, y])                    lifting Linear(in + d → C) on the input and the grid linspace(0, 1)
    v   ← zero-pad v at the end of each axis by ``padding`` pixels
    x₀  = DoubleConv(v),  x_l = DoubleConv(MaxPool₂(x_{l−1}))          l = 1 … 4, channels C, 2C, 4C, 8C, 8C
    u₄  = NSB(x₄),        u_l = DoubleConv([NSB(x_l), Up₂(u_{l+1})])    l = 3 … 0 (Up₂: (bi/tri)linear, ×2)
    y   = Linear(128 → out) GELU Linear(C → 128) crop(Conv1×1(u₀))

``DoubleConv`` is twice (Conv3×3 without bias → norm → ReLU); the norm is BatchNorm (the paper) or GroupNorm.

**The neural spectral block** at a level with C channels, patch p, T latent tokens, K basis functions and
h heads (C/h channels per head):

1. *Patchify.* The map is cut into non-overlapping p×p patches, folded into the batch: each patch is a
   set of P = p² pixel tokens x_patch ∈ R^{P×C}. p is the same at every level, so the patches cover more of
   the domain at coarse levels (one patch covers the whole coarsest map at the paper's sizes).
2. *Encoder cross-attention* to learned latent tokens L ∈ R^{h×T×C/h} (init (1/C)·U(0, 1)), with
   [K, V] = Conv1×1(x_patch) (C → 2C), per head::

       z = softmax(L Kᵀ) V + L                      (softmax over the P pixels)

3. *Latent spectral transition.* Per channel c of each token value z (channels ordered head by head),
   with the basis φ(z) = [sin(πkz/K), cos(πkz/K)], k = 0 … K−1, and W ∈ R^{C×2K} (init (1/C)·U(0, 1))::

       z′_c = Σ_m W[c, m] φ_m(z_c) + z_c

   The column W[:, 0] multiplies sin(0) = 0: it never receives a gradient, as in the paper (k starts at 0).
4. *Decoder cross-attention.* Q = Conv1×1(x_patch) (C → C), keys and values the tokens z′, per head::

       out = softmax(Q z′ᵀ) z′ + x_patch           (softmax over the T tokens)

   then de-patchify.

Neither attention divides the scores by √(C/h): the paper's equations and the reference code have no
scaling, and this file follows them (the latent tokens start small, (1/C)·U(0, 1), which keeps the scores
small at initialisation).

**Sizes.** Four poolings by 2, then p×p patches at the coarsest level: the padded grid must be divisible by
16·p along every axis (the paper's Darcy: 85² padded by 11 to 96² with p = 6). A grid that is not raises a
ValueError that names the padding that works.

**Not resolution invariant.** The 3×3 convolutions and the max-pooling act in pixel units, the patches
are fixed in pixels and ``padding`` is fixed in pixels, and BatchNorm statistics are those of the training
grid: a model trained at 32² computes a different function at 64² (a 3×3 stencil spans twice less of the
domain, a patch covers a quarter of the area). The registry does not give it ``resolution_invariant``.

Deliberate differences from the reference (thuml/Latent-Spectral-Models, ``models/LSM_2D.py``):

* No hard-coded ``.cuda()``: the basis frequencies are built on the input's device and dtype.
* The output is cropped back to the input's size; the reference's ``x[..., :-pad_h, :-pad_w]`` empties
  an axis whose padding is 0 while the other's is not.
* ``padding`` is given per axis in the order of the axes (H, W) (the reference lists it as (W, H)).
* The Conv1×1 giving K and V is split into halves (first C channels K, last C channels V) instead of the
  reference's interleaving; this only permutes its output channels, so the model class is the same.
  Conv1×1 maps are written as ``nn.Linear`` over the channel axis (the same function).
* ``norm="group"`` (GroupNorm with gcd(8, channels) groups) makes each sample's output independent of the
  rest of the batch in training too; BatchNorm (the paper's) does so only in eval mode.
* The same code runs on 1-D and 3-D grids (``n_dim``; the reference ships a separate 3-D file), with
  linear / trilinear upsampling.

Shapes: input ``(batch, in_channels, *spatial)``, output ``(batch, out_channels, *spatial)`` with ``n_dim``
spatial axes (2 by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from zoo.operators.common import check_operator_input, with_grid
from zoo.registry import register_model

NORMS = ("batch", "group")
N_LEVELS = 5            # U-Net levels: 4 poolings by 2 between them
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_UPSAMPLE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def latent_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q kᵀ) v over the key axis, **without** 1/√d scaling (as in the paper).

    q ``(batch, heads, Nq, d)``, k and v ``(batch, heads, Nk, d)`` → ``(batch, heads, Nq, d)``.
    """
    return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v


# --------------------------------------------------------------------------------------------------
# The neural spectral block
# --------------------------------------------------------------------------------------------------

class NeuralSpectralBlock(nn.Module):
    """One NSB: patchify → encoder attention to latent tokens → spectral transition → decoder attention.

    ``(batch, C, *spatial)`` → ``(batch, C, *spatial)``; every spatial size must be divisible by its patch size.
    Attributes: ``latent`` L ``(heads, T, C/heads)``, ``W`` ``(C, 2K)``, ``to_kv`` (C → 2C), ``to_q`` (C → C).
    """

    def __init__(self, channels: int, num_basis: int, num_tokens: int, patch_size: tuple[int, ...],
                 n_heads: int = 8):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"LSM: {channels} channels do not split into {n_heads} heads; "
                             f"use a width divisible by n_heads={n_heads}")
        self.num_basis, self.n_heads = num_basis, n_heads
        self.patch_size = tuple(patch_size)
        self.latent = nn.Parameter(torch.rand(n_heads, num_tokens, channels // n_heads) / channels)
        self.W = nn.Parameter(torch.rand(channels, 2 * num_basis) / channels)
        self.to_kv = nn.Linear(channels, 2 * channels)
        self.to_q = nn.Linear(channels, channels)

    def _heads(self, t: Tensor) -> Tensor:
        """``(batch, N, C)`` → ``(batch, heads, N, C/heads)``; channel c = head·(C/heads) + j."""
        return rearrange(t, "b n (h d) -> b h n d", h=self.n_heads)

    def _patterns(self) -> tuple[str, str]:
        axes = range(len(self.patch_size))
        grid = " ".join(f"(n{i} p{i})" for i in axes)
        patches = " ".join(f"n{i}" for i in axes)
        pixels = " ".join(f"p{i}" for i in axes)
        return f"b c {grid}", f"(b {patches}) ({pixels}) c"

    def patchify(self, x: Tensor) -> Tensor:
        """``(batch, C, *spatial)`` → ``(batch · n_patches, P, C)``: the P = Π p pixels of each patch."""
        image, patches = self._patterns()
        sizes = {f"p{i}": p for i, p in enumerate(self.patch_size)}
        return rearrange(x, f"{image} -> {patches}", **sizes)

    def unpatchify(self, u: Tensor, spatial: tuple[int, ...]) -> Tensor:
        """Inverse of :meth:`patchify`: ``(batch · n_patches, P, C)`` → ``(batch, C, *spatial)``."""
        image, patches = self._patterns()
        sizes = {f"p{i}": p for i, p in enumerate(self.patch_size)}
        sizes.update({f"n{i}": n // p for i, (n, p) in enumerate(zip(spatial, self.patch_size))})
        return rearrange(u, f"{patches} -> {image}", **sizes)

    def encode(self, x_patch: Tensor) -> Tensor:
        """z = softmax(L Kᵀ) V + L: ``(B, P, C)`` pixels → ``(B, T, C)`` tokens."""
        k, v = self.to_kv(x_patch).chunk(2, dim=-1)
        latent = self.latent.expand(x_patch.shape[0], *self.latent.shape)
        z = latent_attention(latent, self._heads(k), self._heads(v)) + latent
        return rearrange(z, "b h t d -> b t (h d)")

    def transition(self, z: Tensor) -> Tensor:
        """z′_c = Σ_m W[c, m] φ_m(z_c) + z_c, φ(z) = [sin(πkz/K), cos(πkz/K)]_{k<K}: ``(…, C)`` → ``(…, C)``."""
        K = self.num_basis
        k = torch.arange(K, device=z.device, dtype=z.dtype)
        angle = z.unsqueeze(-1) * (math.pi * k / K)                               # (…, C, K)
        # the sin half W[:, :K] and the cos half W[:, K:], without stacking φ into one (…, C, 2K) copy
        return (torch.sin(angle) * self.W[:, :K]).sum(-1) + (torch.cos(angle) * self.W[:, K:]).sum(-1) + z

    def decode(self, x_patch: Tensor, z: Tensor) -> Tensor:
        """softmax(Q z′ᵀ) z′ + x_patch with Q = Conv1×1(x_patch): ``(B, P, C)``, ``(B, T, C)`` → ``(B, P, C)``."""
        tokens = self._heads(z)
        out = latent_attention(self._heads(self.to_q(x_patch)), tokens, tokens)
        return rearrange(out, "b h n d -> b n (h d)") + x_patch

    def forward(self, x: Tensor) -> Tensor:
        x_patch = self.patchify(x)
        z = self.transition(self.encode(x_patch))
        return self.unpatchify(self.decode(x_patch, z), tuple(x.shape[2:]))


# --------------------------------------------------------------------------------------------------
# The U-Net
# --------------------------------------------------------------------------------------------------

def _pool(x: Tensor) -> Tensor:
    """Max-pooling by 2 along every spatial axis: ``(batch, C, *spatial)`` → ``(batch, C, *spatial / 2)``."""
    return getattr(F, f"max_pool{x.ndim - 2}d")(x, 2)


def _norm(kind: str, n_dim: int, channels: int) -> nn.Module:
    if kind == "batch":
        return _BATCH_NORM[n_dim](channels)
    return nn.GroupNorm(math.gcd(8, channels), channels)


class DoubleConv(nn.Sequential):
    """(Conv3×3 without bias → norm → ReLU) × 2: ``(batch, c_in, *spatial)`` → ``(batch, c_out, *spatial)``."""

    def __init__(self, c_in: int, c_out: int, c_mid: int, n_dim: int, norm: str):
        conv = _CONV[n_dim]
        super().__init__(conv(c_in, c_mid, 3, padding=1, bias=False), _norm(norm, n_dim, c_mid), nn.ReLU(),
                         conv(c_mid, c_out, 3, padding=1, bias=False), _norm(norm, n_dim, c_out), nn.ReLU())


class LSM(nn.Module):
    """Latent Spectral Model: ``(batch, in_channels, *spatial)`` → ``(batch, out_channels, *spatial)``.

    ``width`` C, ``num_basis`` K, ``num_tokens`` T, ``patch_size`` p (int or one per axis), ``padding`` (pixels
    added at the end of each axis; int or one per axis), ``norm`` "batch" (paper) or "group". The padded grid
    must be divisible by 16·p along every axis. Not resolution invariant (see the module docstring). The defaults
    are CPU-sized (32² grids; the paper's Darcy: width 64, patch_size 6, padding 11 on 85²).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, num_basis: int = 12,
                 num_tokens: int = 4, patch_size: int | Sequence[int] = 2, padding: int | Sequence[int] = 0,
                 n_dim: int = 2, norm: str = "batch", n_heads: int = 8, head_width: int = 128):
        super().__init__()
        if n_dim not in _CONV:
            raise ValueError(f"LSM: n_dim must be 1, 2 or 3, got {n_dim!r}")
        if norm not in NORMS:
            raise ValueError(f"LSM: norm must be one of {NORMS}, got {norm!r}")
        self.in_channels, self.out_channels, self.n_dim, self.norm = in_channels, out_channels, n_dim, norm
        self.patch_size = _per_axis(patch_size, n_dim, "patch_size", minimum=1)
        self.padding = _per_axis(padding, n_dim, "padding", minimum=0)
        channels = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.lift = nn.Linear(in_channels + n_dim, width)
        self.encoder = nn.ModuleList(DoubleConv(c_in=c_in, c_out=c, c_mid=c, n_dim=n_dim, norm=norm)
                                     for c_in, c in zip([width] + channels[:-1], channels))
        self.nsb = nn.ModuleList(NeuralSpectralBlock(channels=c, num_basis=num_basis, num_tokens=num_tokens,
                                                     patch_size=self.patch_size, n_heads=n_heads)
                                 for c in channels)
        # decoder level l: [NSB(x_l), Up(u_{l+1})] has 2·channels[l] channels → channels[l − 1] (width at l = 0)
        self.decoder = nn.ModuleList(DoubleConv(c_in=2 * c, c_out=channels[max(level - 1, 0)], c_mid=c, n_dim=n_dim,
                                                norm=norm)
                                     for level, c in enumerate(channels[:-1]))
        self.out_conv = _CONV[n_dim](width, width, 1)
        self.head = nn.Sequential(nn.Linear(width, head_width), nn.GELU(), nn.Linear(head_width, out_channels))

    def check_size(self, spatial: tuple[int, ...]) -> None:
        """Raise a clear error unless ``spatial`` + ``padding`` is divisible by 16·p along every axis."""
        multiple = [2 ** (N_LEVELS - 1) * p for p in self.patch_size]
        padded = [n + pad for n, pad in zip(spatial, self.padding)]
        if all(n % m == 0 for n, m in zip(padded, multiple)):
            return
        works = [(-n) % m for n, m in zip(spatial, multiple)]    # the smallest padding that works
        raise ValueError(
            f"LSM: the padded grid {tuple(padded)} (input {tuple(spatial)} + padding {list(self.padding)}) must be "
            f"divisible by 16·patch_size = {multiple} along every axis (4 poolings by 2, then patches of "
            f"{list(self.patch_size)} pixels at the coarsest level); use padding={works} for this input")

    def forward(self, a: Tensor) -> Tensor:
        check_operator_input(a, self.in_channels, self.n_dim, "LSM")
        spatial = tuple(a.shape[2:])
        self.check_size(spatial)
        x = self.lift(with_grid(a).movedim(1, -1)).movedim(-1, 1)
        x = F.pad(x, [side for pad in reversed(self.padding) for side in (0, pad)])
        skips = []
        for level, conv in enumerate(self.encoder):
            x = conv(x if level == 0 else _pool(x))
            skips.append(x)
        u = self.nsb[-1](skips[-1])
        for level in reversed(range(N_LEVELS - 1)):
            up = F.interpolate(u, scale_factor=2, mode=_UPSAMPLE[self.n_dim], align_corners=True)
            u = self.decoder[level](torch.cat([self.nsb[level](skips[level]), up], dim=1))
        u = self.out_conv(u)[(..., *(slice(0, n) for n in spatial))]
        return self.head(u.movedim(1, -1)).movedim(-1, 1)


def _per_axis(value, n_dim: int, name: str, minimum: int) -> tuple[int, ...]:
    values = (value,) * n_dim if isinstance(value, int) else tuple(value)
    if len(values) != n_dim or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum
                                       for v in values):
        raise ValueError(f"LSM: {name} must be an int >= {minimum} or a list of {n_dim} such ints "
                         f"(one per spatial axis), got {value!r}")
    return values


def _example(model: LSM):
    """The smallest grid the model accepts: the least n ≥ 1 with n + padding divisible by 16·p, per axis."""
    spatial = tuple(16 * p - pad % (16 * p) for p, pad in zip(model.patch_size, model.padding))
    return torch.randn(2, model.in_channels, *spatial), (2, model.out_channels, *spatial)


register_model("lsm", family="operators", task="operator",
               paper="Solving High-Dimensional PDEs with Latent Spectral Models (Wu et al., 2023)",
               capabilities=(), example=_example)(LSM)
