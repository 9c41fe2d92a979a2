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

Both updates factor as ``ΔW = A ×_out B``: ``A`` of the weight's layout with its output mode of size r, ``B
(d_out, r)`` (:meth:`LowRankUpdate.low_rank`). FLoRA's ``A`` is the core with every factor but the output one
contracted in (a tensor of ``r_out · Π_{n≠out} d_n`` entries); the output factor comes last, one matrix product
that writes ΔW in the weight's own layout. The layers run ``A`` and ``B`` as two thin maps, or merge ΔW first.

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

from zoo.operators.spectral import FactorizedWeight, mode_product


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


def add_mixed_channels(y: Tensor, B: Tensor, z: Tensor, n_spatial: int, groups: int = 1) -> Tensor:
    """``y + B z``: ``B (out, r)`` applied as a 1×1 convolution with ``groups`` to ``z (*batch, groups · r,
    *spatial)`` and added to ``y (*batch, out, *spatial)`` (``n_spatial`` spatial axes), as one fused matrix product
    and sum (``addmm`` / ``baddbmm``) that writes y's own memory layout: on a CPU several times faster than a 1×1
    convolution into few input channels, forward and backward, and no separate sum. The result has y's strides
    (channels last stays channels last), so the layers after it round as they do after the base layer alone."""
    r, spatial, channel = B.shape[1], y.shape[y.ndim - n_spatial:], y.ndim - n_spatial - 1
    if y.is_contiguous():
        rows = z.reshape(-1, r, math.prod(spatial))  # (samples · groups, r, positions)
        blocks = B.reshape(groups, -1, r).expand(len(rows) // groups, -1, -1, -1).reshape(len(rows), -1, r)
        return torch.baddbmm(y.reshape(len(rows), -1, rows.shape[-1]), blocks, rows).reshape(y.shape)
    y_last = y.movedim(channel, -1)  # channels last: (..., positions, out) is y's own layout
    if groups == 1 and y_last.is_contiguous():
        product = torch.addmm(y_last.reshape(-1, y.shape[channel]), z.movedim(channel, -1).reshape(-1, r), B.t())
        return product.reshape(y_last.shape).movedim(-1, channel)
    return torch.empty_like(y).copy_(add_mixed_channels(y.contiguous(), B, z, n_spatial, groups))


class LowRankUpdate(nn.Module):
    """A weight update ``ΔW = A ×_out B`` of shape ``dims``; calling it returns ΔW (complex if ``is_complex``)."""

    dims: tuple[int, ...]
    out_mode: int

    def low_rank(self) -> tuple[Tensor, Tensor]:
        """``(A, B)``: ``A`` of shape ``dims`` with ``dims[out_mode]`` replaced by the rank r, ``B (d_out, r)``."""
        raise NotImplementedError

    def forward(self) -> Tensor:
        return mode_product(*self.low_rank(), self.out_mode)


class TuckerDelta(LowRankUpdate):
    """FLoRA's ``ΔW = s · G ×₁ A₁ … ×_N A_N``: ``A = G ×_{n≠out} A_n``, ``B = s A_out``.

    ``out_mode`` is the weight's output mode (the factor the ``lora`` init sets to zero).
    """

    def __init__(self, dims: Sequence[int], rank: int | Sequence[int], scale: float = 1.0, init: str = "zero_core",
                 is_complex: bool = False, out_mode: int = 0):
        super().__init__()
        self.dims, self.ranks = tuple(dims), mode_ranks(dims, rank)
        self.scale, self.is_complex, self.out_mode = scale, is_complex, out_mode
        self.core = _parameter(self.ranks, is_complex)
        self.factors = nn.ParameterList(_parameter((d, r), is_complex) for d, r in zip(self.dims, self.ranks))
        for factor, r in zip(self.factors, self.ranks):
            _normal_(factor, 1 / math.sqrt(2 * r), is_complex)  # kaiming_normal_(a=√3): gain √(2/4), fan-in r
        if init == "lora":
            _normal_(self.core, 1 / math.sqrt(math.prod(self.ranks) // self.ranks[out_mode]), is_complex)
            nn.init.zeros_(self.factors[out_mode])

    def extra_repr(self) -> str:
        return f"dims={self.dims}, ranks={self.ranks}, scale={self.scale}"

    def low_rank(self) -> tuple[Tensor, Tensor]:
        """The core takes the factors of the other modes in ascending ``1/r_n − 1/d_n``, the cheapest order: a
        mode product costs the tensor's size times ``d_n``, and swapping neighbours ``a, b`` changes the sum by
        ``d_a d_b (key_a − key_b)`` times the rest, so the modes that grow least go first."""
        A, factors = _value(self.core, self.is_complex), [_value(factor, self.is_complex) for factor in self.factors]
        others = [n for n in range(len(self.dims)) if n != self.out_mode]
        for n in sorted(others, key=lambda n: 1 / self.ranks[n] - 1 / self.dims[n]):
            A = mode_product(A, factors[n], n)
        return A, self.scale * factors[self.out_mode]


class LowRankDelta(LowRankUpdate):
    """LoRA / LoCon: ``ΔW = (α/r) B A`` with the weight viewed as ``(d_out, rest)``: ``A (r, rest)`` in the
    weight's layout, ``(α/r) B``."""

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

    def low_rank(self) -> tuple[Tensor, Tensor]:
        moved = [d for j, d in enumerate(self.dims) if j != self.out_mode]
        A = _value(self.A, self.is_complex).reshape(self.rank, *moved).movedim(0, self.out_mode)
        return A, self.scaling * _value(self.B, self.is_complex)


class AdapterLayer(nn.Module):
    """A frozen ``base_layer`` plus an update ``adapter`` (a :class:`LowRankUpdate`: FLoRA's or LoRA's).

    ``merge()`` adds ΔW into the base weight (keeping a copy of the original, so ``unmerge()`` restores it bit
    for bit); ``enabled = False`` runs the base layer alone. Attributes the wrapper lacks (``weight``,
    ``in_features``, ...) are read from the base layer.
    """

    def __init__(self, base_layer: nn.Module, adapter: LowRankUpdate, dropout: float = 0.0):
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
    def merge(self, restorable: bool = True) -> None:
        """``W ← W + ΔW`` (no-op when merged already); ``restorable=False`` keeps no copy of W, for a wrapper that
        is dropped next (:func:`~zoo.adapters.merge_and_unload`)."""
        if self.merged:
            return
        weight = self._base_parameter()
        delta = self.delta_weight()
        self._original = weight.detach().clone() if restorable else None
        weight.add_(torch.view_as_real(delta) if delta.is_complex() else delta)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the weight saved by :meth:`merge`, exactly (no-op when not merged)."""
        if not self.merged:
            return
        if self._original is None:
            raise RuntimeError("this layer was merged with restorable=False: its original weight is gone")
        self._base_parameter().copy_(self._original)
        self._original, self.merged = None, False


#: the forms of a :class:`LayerAdapter`
FORMS = ("auto", "two-path", "merged")


class LayerAdapter(AdapterLayer):
    """Adapter for ``nn.Linear`` and ``nn.Conv1d/2d/3d``, ``ΔW = A ×_out B`` with ``A (r, c, *kernel)``, ``c = in /
    groups``, and ``B (out, r)``, in one of two forms that agree to rounding:

    * ``"two-path"``: ``y = op(x, W) + B(A(dropout(x)))``: the frozen base layer, then ``A`` as a linear map, or a
      convolution with the base's kernel, stride, padding, dilation and padding mode into r channels per group
      (each of the ``g`` groups gets the same r filters), then ``B`` as a 1×1 convolution with the base's groups
      (:func:`add_mixed_channels`, fused with the sum);
    * ``"merged"``: ``y = op(x, W + ΔW)``, one call of the base layer's own map (bias once).

    Neither costs what the base layer alone does. Per call, with N output positions (batch × output pixels) and
    ``K = Π kernel``, the two-path form adds ``N r (g c K + out)`` multiply-adds, the merged one ``out r c K`` to
    build ΔW. With gradients the merged form also computes the full weight gradient ``N out c K`` (what full
    fine-tuning pays, with W + ΔW and its gradient in memory), the two-path form only the input gradient of the
    frozen layer and the thin maps' gradients. ``form = "auto"`` (the default) takes the form with fewer
    multiply-adds for the input at hand: in training the two-path form (but the merged one for depthwise
    convolutions, whose g r thin channels outnumber the base's), in inference the merged form on large inputs
    and the two-path form where N is small next to the weight (a linear head on a small batch). With dropout in
    training only the two-path form applies (dropout acts on the adapter's input).
    """

    form = "auto"

    def _op(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if isinstance(self.base_layer, nn.Linear):
            return F.linear(x, weight, bias)
        return self.base_layer._conv_forward(x, weight, bias)

    def _two_path(self, x: Tensor, A: Tensor, B: Tensor) -> Tensor:
        """``base(x) + B(A(dropout(x)))``: the adapter's input through ``A`` into r channels per group, then ``B``."""
        y, x = self.base_layer(x), self.dropout(x)
        if isinstance(self.base_layer, nn.Linear):  # y + (x Aᵀ) Bᵀ, the product and the sum in one addmm
            z = F.linear(x, A)
            return torch.addmm(y.reshape(-1, y.shape[-1]), z.reshape(-1, z.shape[-1]), B.t()).reshape(y.shape)
        groups = self.base_layer.groups
        z = self._op(x, A.repeat(groups, *[1] * (A.ndim - 1)) if groups > 1 else A, None)
        return add_mixed_channels(y, B, z, A.ndim - 2, groups)

    def _merges(self, x: Tensor, A: Tensor, B: Tensor) -> bool:
        """Whether ``x`` runs the merged form (the class doc's multiply-adds when ``form == "auto"``)."""
        if self.form not in FORMS:
            raise ValueError(f"unknown form {self.form!r} of {type(self).__name__}; valid: {', '.join(FORMS)}")
        dropping = self.training and self.dropout.p > 0
        if dropping or self.form != "auto":
            return self.form == "merged" and not dropping
        out, c, *kernel = self.base_layer.weight.shape
        K, g = math.prod(kernel), getattr(self.base_layer, "groups", 1)
        n = x.numel() // (c * g * math.prod(getattr(self.base_layer, "stride", ())))
        rank = B.shape[1]
        thin, build = n * rank * (g * c * K + out), out * rank * c * K
        if torch.is_grad_enabled() and (A.requires_grad or B.requires_grad):  # the adapter trains
            return n * out * c * K + 3 * build < 3 * thin
        return build < thin

    def forward(self, x: Tensor) -> Tensor:
        if not self.active:
            return self.base_layer(x)
        A, B = (factor.to(x.dtype) for factor in self.adapter.low_rank())
        if self._merges(x, A, B):
            return self._op(x, self.base_layer.weight + mode_product(A, B, 0), self.base_layer.bias)
        return self._two_path(x, A, B)


class SpectralAdapter(AdapterLayer):
    """Adapter for a neural operator's complex spectral weight (:class:`FactorizedWeight`, shape
    ``(in, out, *kept_modes)``): ``contract(x̂) = base.contract(x̂) + Σ_j B[o, j] Σ_i x̂[b, i, k] A[i, j, k]``.

    Always the two-path form: a spectral weight has its own matrix for every kept frequency, so, unlike a
    convolution kernel, ΔW is not shared across positions and merging saves nothing per sample. The thin path
    costs ``batch · K · r (in + out)`` multiply-adds for K kept frequencies, a dense ΔW ``batch · K · in · out``
    plus ``r · in · out · K`` to build it (fewer only when ``r ≥ in · out / (in + out)``), and a factorised base
    weight cannot take a dense ΔW at all. Dropout zeroes input coefficients ``x̂[b, i, k]`` whole (real and
    imaginary parts together).
    """

    def contract(self, x: Tensor) -> Tensor:
        """``x̂ (batch, in, *kept_modes)`` -> ``(batch, out, *kept_modes)``."""
        y = self.base_layer.contract(x)
        if not self.active:
            return y
        A, B = (factor.to(x.dtype) for factor in self.adapter.low_rank())  # (in, r, *kept_modes), (out, r)
        x = x * self.dropout(torch.ones_like(x.real))
        return add_mixed_channels(y, B, torch.einsum("bi...,ir...->br...", x, A), x.ndim - 2)

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
