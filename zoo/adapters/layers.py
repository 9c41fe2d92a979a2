"""FLoRA and LoRA weight updates, and the layers that add them to a frozen base layer.

FLoRA ("FLoRA: Low-Rank Core Space for N-dimension", Si et al., 2024; ICLR 2025 as "Maintaining Structural
Integrity in Parameter Spaces for Parameter Efficient Fine-tuning") gives an N-mode weight
``W ∈ R^{d_1×…×d_N}`` a Tucker-shaped update::

    ΔW = s · G ×₁ A₁ ×₂ A₂ … ×_N A_N,    G ∈ R^{r_1×…×r_N},  A_n ∈ R^{d_n×r_n}

with ``Π r_n + Σ d_n r_n`` trainable numbers. A convolution kernel keeps its topology: its spatial modes get
their own factors instead of being flattened into a matrix as LoRA/LoCon do. With N = 2 (a linear layer)
``ΔW = s · A_out G A_inᵀ``: LoRA with an ``r_out × r_in`` core between its two factors.

Modes, in the order of the stored weight: ``nn.Linear`` ``(out, in)``; ``nn.ConvNd`` ``(out, in / groups,
*kernel)``: the input mode has ``in_channels / groups`` entries, so depthwise and grouped convolutions work
(the reference sizes it ``in_channels`` and fails on them); the spectral weights of the neural operators
``(in, out, *kept_modes)``, complex (complex core and factors, stored as real ``(..., 2)`` pairs).

Initialisation: ``zero_core`` (the paper) sets G = 0 and draws every factor from Kaiming-normal with
``a = √3`` (std ``1/√(2 r_n)``); ``lora`` draws G and the factors and sets the output-mode factor to 0. Both
give ΔW = 0, so an injected model starts exactly at the base model. LoRA's ``ΔW = (α/r) B A`` views the
weight as the matrix ``(d_out, rest)`` (LoCon for convolutions) with A Kaiming-uniform (``a = √5``) and B = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.operators.spectral import FactorizedTensor, FactorizedWeight


def _parameter(shape: Sequence[int], is_complex: bool) -> nn.Parameter:
    """A zero parameter of ``shape``, stored as real ``(*shape, 2)`` pairs when complex."""
    return nn.Parameter(torch.zeros(*shape, 2) if is_complex else torch.zeros(*shape))


def _value(param: Tensor, is_complex: bool) -> Tensor:
    return torch.view_as_complex(param) if is_complex else param


def _normal_(param: Tensor, std: float, is_complex: bool) -> None:
    """Gaussian entries with ``E|z|² = std²`` (real and imaginary parts share the variance)."""
    nn.init.normal_(param, std=std / math.sqrt(2) if is_complex else std)


def mode_ranks(dims: Sequence[int], rank: int | Sequence[int]) -> tuple[int, ...]:
    """Per-mode ranks, each clamped to its mode's size: an int for every mode, or a list of the ranks of the
    modes in order. A list must cover every mode; a weight with fewer modes uses the leading entries
    (``[8, 8, 2, 2]`` gives a 3×3 Conv2d ``(8, 8, 2, 2)``, a 1×1 Conv2d ``(8, 8, 1, 1)``, a Linear ``(8, 8)``)."""
    ranks = [rank] * len(dims) if isinstance(rank, int) else list(rank)[:len(dims)]
    if len(ranks) < len(dims):
        raise ValueError(f"ranks {list(rank)} do not fit a weight with {len(dims)} modes {list(dims)}: give one rank "
                         f"per mode (or one int for all)")
    return tuple(min(r, d) for r, d in zip(ranks, dims))


class TuckerDelta(nn.Module):
    """FLoRA's ``ΔW = s · G ×₁ A₁ … ×_N A_N``; calling it returns ΔW of shape ``dims`` (complex if ``is_complex``).

    ``out_mode`` is the weight's output mode (the factor the ``lora`` init sets to zero).
    """

    def __init__(self, dims: Sequence[int], rank: int | Sequence[int], scale: float = 1.0, init: str = "zero_core",
                 is_complex: bool = False, out_mode: int = 0):
        super().__init__()
        self.dims, self.ranks = tuple(dims), mode_ranks(dims, rank)
        self.scale, self.is_complex = scale, is_complex
        self.core = _parameter(self.ranks, is_complex)
        self.factors = nn.ParameterList(_parameter((d, r), is_complex) for d, r in zip(self.dims, self.ranks))
        for factor, r in zip(self.factors, self.ranks):
            _normal_(factor, 1 / math.sqrt(2 * r), is_complex)  # kaiming_normal_(a=√3): gain √(2/4), fan-in r
        if init == "lora":
            _normal_(self.core, 1 / math.sqrt(math.prod(self.ranks) // self.ranks[out_mode]), is_complex)
            nn.init.zeros_(self.factors[out_mode])

    def extra_repr(self) -> str:
        return f"dims={self.dims}, ranks={self.ranks}, scale={self.scale}"

    def forward(self) -> Tensor:
        factors = [_value(factor, self.is_complex) for factor in self.factors]
        tucker = FactorizedTensor("tucker", self.dims, self.ranks, _value(self.core, self.is_complex), factors)
        return self.scale * tucker.reconstruct()


class LowRankDelta(nn.Module):
    """LoRA / LoCon: ``ΔW = (α/r) B A`` with the weight viewed as ``(d_out, rest)``; returns ΔW of shape ``dims``."""

    def __init__(self, dims: Sequence[int], rank: int, alpha: float | None = None, is_complex: bool = False,
                 out_mode: int = 0):
        super().__init__()
        self.dims, self.out_mode, self.is_complex = tuple(dims), out_mode, is_complex
        rest = math.prod(dims) // dims[out_mode]
        self.rank = min(rank, dims[out_mode], rest)
        self.scaling = (alpha if alpha is not None else self.rank) / self.rank
        self.A = _parameter((self.rank, rest), is_complex)
        self.B = _parameter((dims[out_mode], self.rank), is_complex)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))

    def extra_repr(self) -> str:
        return f"dims={self.dims}, rank={self.rank}, scaling={self.scaling}"

    def forward(self) -> Tensor:
        product = _value(self.B, self.is_complex) @ _value(self.A, self.is_complex)  # (d_out, rest)
        moved = [d for j, d in enumerate(self.dims) if j != self.out_mode]
        return self.scaling * torch.movedim(product.reshape(self.dims[self.out_mode], *moved), 0, self.out_mode)


class AdapterLayer(nn.Module):
    """A frozen ``base_layer`` plus an update ``adapter`` (a :class:`TuckerDelta` or :class:`LowRankDelta`).

    ``merge()`` adds ΔW into the base weight (keeping a copy of the original, so ``unmerge()`` restores it bit
    for bit); ``enabled = False`` runs the base layer alone. Attributes the wrapper lacks (``weight``,
    ``in_features``, ...) are read from the base layer.
    """

    def __init__(self, base_layer: nn.Module, adapter: nn.Module, dropout: float = 0.0):
        super().__init__()
        self.base_layer, self.adapter = base_layer, adapter
        self.dropout = nn.Dropout(dropout)
        self.merged, self.enabled = False, True
        self._original: Tensor | None = None

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("base_layer"), name)

    @property
    def active(self) -> bool:
        """Whether the forward pass adds ΔW itself (enabled and not merged into the base weight)."""
        return self.enabled and not self.merged

    def delta_weight(self) -> Tensor:
        """ΔW in the layout of the base weight (see the module doc)."""
        return self.adapter()

    def _base_parameter(self) -> nn.Parameter:
        weight = getattr(self.base_layer, "weight", None)
        if not isinstance(weight, nn.Parameter):
            raise TypeError(f"cannot merge into {type(self.base_layer).__name__}({self.base_layer.extra_repr()}): it "
                            "has no dense weight (a factorised spectral weight); keep this adapter unmerged")
        return weight

    @torch.no_grad()
    def merge(self) -> None:
        """``W ← W + ΔW`` (no-op when merged already)."""
        if self.merged:
            return
        weight = self._base_parameter()
        delta = self.delta_weight()
        self._original = weight.detach().clone()
        weight.add_(torch.view_as_real(delta) if delta.is_complex() else delta)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the weight saved by :meth:`merge`, exactly (no-op when not merged)."""
        if not self.merged:
            return
        self._base_parameter().copy_(self._original)
        self._original, self.merged = None, False


class LayerAdapter(AdapterLayer):
    """Adapter for ``nn.Linear`` and ``nn.Conv1d/2d/3d``: ``y = op(x, W) + op(dropout(x), ΔW)`` where ``op`` is the
    base layer's own linear map or convolution (same stride, padding, dilation, groups; bias once). Without
    dropout the two terms are one call, ``op(x, W + ΔW)``: an adapted layer costs what the base layer does."""

    def _op(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if isinstance(self.base_layer, nn.Linear):
            return F.linear(x, weight, bias)
        return self.base_layer._conv_forward(x, weight, bias)

    def forward(self, x: Tensor) -> Tensor:
        if not self.active:
            return self.base_layer(x)
        base = self.base_layer
        delta = self.delta_weight().to(x.dtype)
        if self.dropout.p == 0:
            return self._op(x, base.weight + delta, base.bias)
        return base(x) + self._op(self.dropout(x), delta, None)


class SpectralAdapter(AdapterLayer):
    """Adapter for a neural operator's complex spectral weight (:class:`FactorizedWeight`, shape
    ``(in, out, *kept_modes)``): ``contract(x̂) = base.contract(x̂) + Σ_i x̂[b, i, k] ΔW[i, o, k]``.

    Dropout zeroes input coefficients ``x̂[b, i, k]`` whole (real and imaginary parts together).
    """

    def contract(self, x: Tensor) -> Tensor:
        """``x̂ (batch, in, *kept_modes)`` -> ``(batch, out, *kept_modes)``."""
        y = self.base_layer.contract(x)
        if not self.active:
            return y
        x = x * self.dropout(torch.ones_like(x.real))
        return y + torch.einsum("bi...,io...->bo...", x, self.delta_weight().to(x.dtype))

    def reconstruct(self) -> Tensor:
        """The dense complex weight the layer applies, ``W (+ ΔW while not merged)``."""
        weight = self.base_layer.reconstruct()
        return weight + self.delta_weight() if self.active else weight


#: the layers an adapter can wrap, with the wrapper, the output mode and whether the weight is complex
SUPPORTED: dict[type, tuple[type[AdapterLayer], int, bool]] = {
    nn.Linear: (LayerAdapter, 0, False),
    nn.Conv1d: (LayerAdapter, 0, False),
    nn.Conv2d: (LayerAdapter, 0, False),
    nn.Conv3d: (LayerAdapter, 0, False),
    FactorizedWeight: (SpectralAdapter, 1, True),
}


def weight_modes(layer: nn.Module) -> tuple[int, ...]:
    """The mode sizes of ``layer``'s weight as an adapter sees it (module doc)."""
    if isinstance(layer, FactorizedWeight):
        return layer.shape
    return tuple(layer.weight.shape)
