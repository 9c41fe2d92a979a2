"""FNO and TFNO: "Fourier Neural Operator for Parametric Partial Differential Equations" (Li et al., ICLR 2021) with
the improved backbone and Tucker-factorised weights of "Multi-Grid Tensorized Fourier Neural Operator for
High-Resolution PDEs" (Kossaifi et al., TMLR 2023), in the form of neuraloperator 2.0's ``FNO``.

For an input ``a (batch, in_channels, *spatial)`` on a grid with coordinates ``x`` (d = 1, 2, 3 axes)::

    v₀     = P([a, x])                                 lifting: channel MLP (in + d → r_P·width → width)
    v₀     ← pad(v₀)                                   zero padding on the right of each axis, round(δ·n) points
    h      = σ(N₁(K_ℓ v_ℓ) + W_ℓ v_ℓ)                   spectral conv K_ℓ, pointwise linear skip W_ℓ
    v_ℓ₊₁  = σ(N₂(M_ℓ(h) + g_ℓ ⊙ v_ℓ))                  channel MLP M_ℓ (width → e·width → width), soft gate g_ℓ
    u      = Q(crop(v_L))                              projection: channel MLP (width → r_Q·width → out)

σ is not applied after the last block. N₁, N₂ are identities, GroupNorm with one group (``norm="group"``) or
per-channel instance norm with affine weights (``norm="instance"``). ``preactivation=True`` moves σ and the
norms in front: ``u = N₁(σ(v))``, ``h = K u + W u``, ``v ← M(N₂(σ(h))) + g ⊙ u``.

**Padding** ``domain_padding = δ`` (a float, or one per axis) is a *fraction* of each axis, so it scales with the
resolution (neuraloperator issue #72: fixed-pixel padding breaks zero-shot super-resolution). Zeros on the
right/bottom make a non-periodic problem (Darcy) look periodic to the FFT; leave δ = 0 for periodic data.

**Weights.** ``factorization`` / ``rank`` / ``implementation`` choose :class:`~zoo.operators.spectral.SpectralConv`'s
weights per layer; ``joint_factorization=True`` factorises the ``L`` spectral weights as one tensor
``(L, width, width, *mode_sizes)`` (the MG-TFNO paper's global factorisation). TFNO is FNO with
``factorization="tucker"`` and ``rank=0.1`` (a tenth of the dense parameters). Which frequencies ``modes`` keeps,
and the grid size each needs (``n ≥ 2m − 1``, after padding), is in :mod:`zoo.operators.spectral`.

**Resolution.** Every weight acts per kept frequency or per point, so the same model runs on any grid large enough
for its modes; for a band-limited periodic input without grid channels or padding, two grids give samples of
the same output function up to the aliasing of the pointwise activations (tested).

Deliberate differences from neuraloperator 2.0: our mode set (see :mod:`zoo.operators.spectral`); the bias sits
in the linear skip ``W_ℓ`` instead of the spectral conv; instance norm has affine weights; the grid channels are
``linspace(0, 1, n)`` per axis; no ``resolution_scaling_factor`` / ``output_shape``.

Shapes: input ``(batch, in_channels, *spatial)``, output ``(batch, out_channels, *spatial)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.operators.common import check_operator_input, operator_example, with_grid
from zoo.operators.spectral import JointFactorizedWeight, SpectralConv, as_modes
from zoo.registry import register_model

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "tanh": F.tanh}
NORMS = ("none", "group", "instance")


def pointwise(in_channels: int, out_channels: int, n_dim: int, bias: bool = True) -> nn.Module:
    """A linear map of the channels at every grid point: ``(batch, in, *spatial) -> (batch, out, *spatial)``."""
    return (nn.Conv1d, nn.Conv2d, nn.Conv3d)[n_dim - 1](in_channels, out_channels, kernel_size=1, bias=bias)


class ChannelMLP(nn.Module):
    """Two pointwise layers with σ between: ``(batch, in, *spatial) -> (batch, out, *spatial)``."""

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int, n_dim: int, act: str = "gelu"):
        super().__init__()
        self.fc1 = pointwise(in_channels, hidden_channels, n_dim)
        self.fc2 = pointwise(hidden_channels, out_channels, n_dim)
        self.act = ACTIVATIONS[act]

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SoftGating(nn.Module):
    """``g ⊙ x``: one learned weight per channel (initialised to 1), ``(batch, C, *spatial)`` in and out."""

    def __init__(self, channels: int, n_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, *[1] * n_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.weight * x


def make_norm(norm: str | None, channels: int) -> nn.Module:
    """``None``/"none": identity; "group": GroupNorm with one group; "instance": per-channel instance norm (affine)."""
    norm = norm or "none"
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid choices: {', '.join(NORMS)} (or None)")
    if norm == "none":
        return nn.Identity()
    return nn.GroupNorm(1 if norm == "group" else channels, channels)


class FNOBlock(nn.Module):
    """One Fourier block around a spectral conv ``K``: ``(batch, width, *spatial)`` in and out (see the module doc).

    ``last=True`` leaves out the final σ (post-activation only: with preactivation there is none at the end).
    """

    def __init__(self, conv: SpectralConv, act: str = "gelu", norm: str | None = None, preactivation: bool = False,
                 channel_mlp_expansion: float = 0.5, last: bool = False):
        super().__init__()
        width, n_dim = conv.in_channels, conv.n_dim
        self.conv = conv
        self.skip = pointwise(width, width, n_dim)
        self.mlp = ChannelMLP(in_channels=width, out_channels=width,
                              hidden_channels=max(1, round(channel_mlp_expansion * width)), n_dim=n_dim, act=act)
        self.gate = SoftGating(width, n_dim)
        self.norm1, self.norm2 = make_norm(norm, width), make_norm(norm, width)
        self.act, self.preactivation, self.last = ACTIVATIONS[act], preactivation, last

    def forward(self, v: Tensor) -> Tensor:
        if self.preactivation:
            u = self.norm1(self.act(v))
            h = self.conv(u) + self.skip(u)
            return self.mlp(self.norm2(self.act(h))) + self.gate(u)
        act = (lambda t: t) if self.last else self.act
        h = act(self.norm1(self.conv(v)) + self.skip(v))
        return act(self.norm2(self.mlp(h) + self.gate(v)))


class FNO(nn.Module):
    """FNO / TFNO ``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``, d = 1, 2, 3 (module doc).

    ``modes``: an int (``n_dim`` axes, 2 if None) or one per axis. ``domain_padding``: a fraction δ ≥ 0, or one
    per axis. ``grid``: append the coordinates ``linspace(0, 1, n)`` of every axis as input channels.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, modes: int | Sequence[int] = 12,
                 n_layers: int = 4, n_dim: int | None = None, lifting_channel_ratio: float = 2,
                 projection_channel_ratio: float = 2, channel_mlp_expansion: float = 0.5, act: str = "gelu",
                 norm: str | None = "none", preactivation: bool = False, domain_padding: float | Sequence[float] = 0.0,
                 grid: bool = True, factorization: str | None = None, rank: float | int | Sequence[int] = 1.0,
                 implementation: str = "auto", joint_factorization: bool = False):
        super().__init__()
        self.modes = as_modes(modes, n_dim)
        self.n_dim = len(self.modes)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width),
                            ("n_layers", n_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"FNO: {name} must be a positive int, got {value!r}")
        if act not in ACTIVATIONS:
            raise ValueError(f"FNO: unknown act {act!r}; valid choices: {', '.join(ACTIVATIONS)}")
        padding = list(domain_padding) if isinstance(domain_padding, Sequence) else [float(domain_padding)] * self.n_dim
        if len(padding) != self.n_dim or min(padding) < 0:
            raise ValueError(f"FNO: domain_padding must be a fraction ≥ 0 or one per axis ({self.n_dim}), "
                             f"got {domain_padding!r}")
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        self.domain_padding, self.grid = tuple(padding), grid
        lifted = in_channels + (self.n_dim if grid else 0)
        self.lifting = ChannelMLP(in_channels=lifted, out_channels=width,
                                  hidden_channels=round(lifting_channel_ratio * width), n_dim=self.n_dim, act=act)
        conv_kwargs = dict(modes=self.modes, factorization=factorization, rank=rank, implementation=implementation)
        if joint_factorization:
            shape = (width, width, *(2 * m - 1 for m in self.modes[:-1]), self.modes[-1])
            self.joint_weight = JointFactorizedWeight(n_layers=n_layers, shape=shape, factorization=factorization,
                                                      rank=rank, std=math.sqrt(1 / width),
                                                      implementation=implementation)
            conv_kwargs = dict(modes=self.modes, shared=self.joint_weight)
        self.blocks = nn.ModuleList(
            FNOBlock(SpectralConv(width, width, layer=l, **conv_kwargs), act=act, norm=norm,
                     preactivation=preactivation, channel_mlp_expansion=channel_mlp_expansion, last=l == n_layers - 1)
            for l in range(n_layers))
        self.projection = ChannelMLP(in_channels=width, out_channels=out_channels,
                                     hidden_channels=round(projection_channel_ratio * width), n_dim=self.n_dim, act=act)

    def padding(self, spatial: Sequence[int]) -> list[int]:
        """Zeros appended to each axis of a grid of size ``spatial``: ``round(δ_d · n_d)``."""
        return [round(fraction * n) for fraction, n in zip(self.domain_padding, spatial)]

    def check_input(self, x) -> None:
        check_operator_input(x, self.in_channels, self.n_dim, type(self).__name__)
        for axis, (n, pad, m) in enumerate(zip(x.shape[2:], self.padding(x.shape[2:]), self.modes)):
            if n + pad < 2 * m - 1:
                raise ValueError(f"{type(self).__name__} with modes={m} on spatial axis {axis} needs at least "
                                 f"{2 * m - 1} points there (after a domain padding of {pad}); got {n}: use fewer "
                                 f"modes or a finer grid")

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        spatial = x.shape[2:]
        v = self.lifting(with_grid(x) if self.grid else x)
        pads = self.padding(spatial)
        v = F.pad(v, [p for pad in reversed(pads) for p in (0, pad)])
        for block in self.blocks:
            v = block(v)
        v = v[(..., *(slice(0, n) for n in spatial))]
        return self.projection(v)


FNO_PAPER = "Fourier Neural Operator for Parametric Partial Differential Equations (Li et al., 2021)"
TFNO_PAPER = "Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs (Kossaifi et al., 2023)"


@register_model("fno", family="operators", task="operator", paper=FNO_PAPER,
                capabilities=("resolution_invariant",), example=operator_example())
def fno(factorization: str = "dense", rank: float | int | Sequence[int] = 1.0, **kwargs) -> FNO:
    """FNO with dense weights; every other :class:`FNO` argument passes through ``kwargs``."""
    return FNO(factorization=factorization, rank=rank, **kwargs)


@register_model("tfno", family="operators", task="operator", paper=TFNO_PAPER,
                capabilities=("resolution_invariant",), example=operator_example())
def tfno(factorization: str = "tucker", rank: float | int | Sequence[int] = 0.1, **kwargs) -> FNO:
    """TFNO: :class:`FNO` with Tucker weights at a tenth of the dense parameters (``joint_factorization=True``
    for the paper's one tensor across layers); every other :class:`FNO` argument passes through ``kwargs``."""
    return FNO(factorization=factorization, rank=rank, **kwargs)
