"""T1: "Transform Once: Efficient Operator Learning in Frequency Domain" (Poli et al., NeurIPS 2022).

T1 transforms its lifted input once, works on a block of low-frequency coefficients in every layer, and
transforms back at most once, at the very end::

    v    = P([a, cos πx, cos πy])            lifting Linear(in + d → W), pointwise in space
    Z    = T v · √(N_ref/N)                  the one forward transform (orthonormal DCT-II, or rfft)
    Ẑ₀   = Z[block]                          the kept low-frequency block, m1 × m2 modes (M coefficients)
    Ẑ_ℓ  = B₂ B₁ σ(A_ℓ ⊙ Ẑ_{ℓ−1}) + Ẑ_{ℓ−1}   A_ℓ ∈ R^{W×W×m1×m2}: a W×W channel-mixing matrix per mode;
                                             B_d: an m_d × m_d mode-mixing matrix per channel along axis d
    Ŷ    = Q(Ẑ_L) on the block, 0 outside    (with ``keep_high``: Q(Z with Z[block] = Ẑ_L) everywhere)
    y    = T⁻¹ Ŷ · √(N/N_ref)                only with ``inverse=True``

Q is pointwise over modes (W → head_width → out, activation between, no bias, so zero modes stay zero).
The layers only read and write the block, so with ``keep_high=False`` every layer costs O(W²M), whatever
the grid size N: that is the paper's speed-up.

**Transform.** :func:`dct` / :func:`idct` are the orthonormal DCT-II and its inverse, the DCT-III (scipy's
``dct(norm="ortho")`` / ``idct(norm="ortho")``), each one complex FFT of length N (Makhoul's even/odd
reordering), applied separably over the spatial axes. The transform is orthogonal, so ‖T v‖ = ‖v‖
(Parseval) and a loss on the coefficients equals the loss in space: an ``inverse=False`` model is trained
against :meth:`T1.transform_target` (the reference's Navier–Stokes runs: ``perform_inverse=False`` with a
relative L2 on DCT(y)). ``transform="dft"`` uses ``rfftn(norm="ortho")`` and complex weights; every axis but
the last keeps its m_d lowest non-negative *and* m_d negative frequencies (indices ``[:m]`` and ``[-m:]``),
the last (rfft) axis its first m_d, so the 2-D block is 2·m1 × m2 complex coefficients. For the rfft the
half-spectrum weighting makes coefficient losses only approximately equal to spatial ones.

**Initialisation** (variance preserving). A white field of variance v has white orthonormal coefficients of
variance v; keeping M of its N coefficients keeps the fraction M/N of its energy. The first layer, whose input
is the white lifted field truncated to the block, draws A with the paper's

    σ_A = g · √(N / (W · M)),      N = H·W at ``resolution``,  g = 1 (DCT), ½ (DFT, each of re and im)

so that its output carries the energy N·v again (for the rfft M counts the 2·m1·m2 complex coefficients, each
standing for itself and its conjugate, except the last axis' k = 0 column, its own mirror: ≈ 1/(2 m2) less). The mode-mixing matrices keep energy: σ_B = 1/√m (DCT), 1/√(2m) per
part (DFT). Every later layer sees a field already band-limited to the block, where nothing is discarded: the
same formula with N = the block's own size (M for the DCT, 2M for the rfft) gives σ_A = 1/√W (DCT), 1/√(2W)
per part (DFT); with the residual these branches are also scaled by 1/√(L − 1), so that the L − 1 residual
additions grow the energy by at most e^c (c ≈ ½, GELU's energy ratio) instead of (1 + c)^{L−1}. With
``keep_high`` the first layer discards nothing either and uses the block's size too. Tested on a white field:
with the defaults (GELU, residual) every layer's output variance stays within 2x of the input's, DCT and DFT.
Not with ``act="sin"`` (the first layer's pre-activations have variance ≈ N/M and sin saturates) nor with
``residual=False`` (GELU halves the energy in every layer). The head uses σ = 1/√fan_in (1/√(2 fan_in) per
part, DFT).

**Resolution.** The orthonormal coefficients of a smooth field grow as √N, so they are multiplied by
√(N_ref/N) after the forward transform and by √(N/N_ref) before the inverse (both 1 at ``resolution``).
The positional channels are cos(π x_d) at the cell centres x_d = (i + ½)/n, which is exactly DCT mode 1 on
every grid. A DCT model with ``keep_high=False`` then maps an input that is a cosine series with fewer modes
than the grid to the same band-limited output function on every grid (tested: trained at 32², evaluated at
64²): that is the ``resolution_invariant`` capability. ``keep_high`` and the DFT (whose periodic extension
of a non-periodic field jumps at the boundary) are not claimed to be.

Deliberate differences from the reference (DiffEqML/kairos, ``models/t1.py``, ``layers/fdm2d.py``):

* 2-D ``transform="dft"`` works: the reference never defines its second mode-mixing weight size, keeps only
  the non-negative first-axis frequencies, and inverts a 2-D rfft with a 1-D ``irfft``.
* ``modes=(m1, m2)`` are both used (the reference passes ``modes1`` twice); ``keep_high`` keeps every
  coefficient outside the block (the reference's slicing drops the last m1 rows).
* The variance-preserving σ_A applies to the layer that truncates the white lifted field; the reference
  applies it to every layer, which multiplies the energy by ≈ N/M per layer (×2·10⁴ after 8 layers of the
  Navier–Stokes configuration), or, with ``first_layer_init_only``, uses 1/√W later without the residual
  scaling. The DFT mode-mixing σ is 1/√(2m) per part (the reference's ½/√m halves the energy on each axis).
* The head starts at σ = 1/√fan_in instead of 1e-8 (at 1e-8 the layers' gradients underflow float32 at init)
  and uses the layer activation (GELU by default; the reference head is always ``sin``). Activations act on
  the real and imaginary parts separately (the reference's complex ``sin`` grows as cosh of the imaginary part).
* Coefficients are normalised by √(N_ref/N); the positional channels are cos(π x) at cell centres
  (reference: x = linspace(0, 1), whose DCT has every odd mode and aliases differently on every grid).

Shapes: input ``(batch, in_channels, *spatial)`` with 1 or 2 spatial axes (as many as ``resolution``);
output ``(batch, out_channels, *spatial)``, real in space with ``inverse=True``; with ``inverse=False`` the
coefficients: real ``(batch, out, H, W)`` for the DCT, complex ``(batch, out, H, W//2 + 1)`` for the DFT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.operators.common import check_operator_input, grid_channels
from zoo.registry import register_model

TRANSFORMS = ("dct", "dft")
ACTIVATIONS = {"gelu": F.gelu, "sin": torch.sin, "tanh": torch.tanh, "identity": None}


# -- the orthonormal DCT-II / DCT-III through the FFT ----------------------------------------------------

def _twiddle(n: int, like: Tensor) -> Tensor:
    """exp(−iπk/(2n)), k = 0 … n−1, complex, on the device of ``like`` and in its precision."""
    k = torch.arange(n, device=like.device, dtype=like.real.dtype)
    return torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))


def _ortho_scale(n: int, like: Tensor) -> Tensor:
    """The orthonormal DCT-II's α_k: √(1/n) for k = 0, √(2/n) otherwise."""
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=like.dtype, device=like.device)
    scale[0] = math.sqrt(1.0 / n)
    return scale


def dct(x: Tensor, dim: int = -1) -> Tensor:
    """Orthonormal DCT-II along ``dim``: X_k = α_k Σₙ xₙ cos(πk(2n+1)/(2N)) (scipy ``dct(x, norm="ortho")``).

    Makhoul: with v = [x₀, x₂, x₄, …, x₅, x₃, x₁], Σₙ xₙ cos(πk(2n+1)/(2N)) = Re(e^{−iπk/(2N)} FFT(v)_k).
    """
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    return (torch.fft.fft(v) * (_twiddle(n, x) * _ortho_scale(n, x))).real.movedim(-1, dim)


def idct(z: Tensor, dim: int = -1) -> Tensor:
    """Orthonormal DCT-III along ``dim``, the inverse of :func:`dct` (scipy ``idct(z, norm="ortho")``).

    With C_k = X_k / α_k the unnormalised DCT-II (C_N = 0): FFT(v)_k = e^{iπk/(2N)} (C_k − i C_{N−k}).
    """
    z = z.movedim(dim, -1)
    n = z.shape[-1]
    c = z / _ortho_scale(n, z)
    c_mirror = torch.cat([torch.zeros_like(c[..., :1]), c[..., 1:].flip(-1)], dim=-1)    # C_{N−k}
    v = torch.fft.ifft(torch.complex(c, -c_mirror) * _twiddle(n, z).conj()).real
    x = torch.empty_like(v)
    half = (n + 1) // 2
    x[..., ::2] = v[..., :half]
    x[..., 1::2] = v[..., half:].flip(-1)
    return x.movedim(-1, dim)


def forward_transform(x: Tensor, transform: str, n_dim: int) -> Tensor:
    """``(…, *spatial)`` → coefficients: real ``(…, *spatial)`` (dct) or complex ``(…, …, n_last//2 + 1)`` (dft)."""
    if transform == "dft":
        return torch.fft.rfftn(x, dim=tuple(range(-n_dim, 0)), norm="ortho")
    for dim in range(-n_dim, 0):
        x = dct(x, dim)
    return x


def inverse_transform(z: Tensor, transform: str, size: tuple[int, ...]) -> Tensor:
    """Coefficients → a real field of spatial ``size`` (over the last ``len(size)`` axes)."""
    if transform == "dft":
        return torch.fft.irfftn(z, s=size, dim=tuple(range(-len(size), 0)), norm="ortho")
    for dim in range(-len(size), 0):
        z = idct(z, dim)
    return z


# -- the kept block, activations, weights -----------------------------------------------------------------

def block_shape(modes: tuple[int, ...], transform: str) -> tuple[int, ...]:
    """Shape of the kept block: ``modes`` (dct); every axis but the last doubled (dft: ± frequencies)."""
    if transform == "dct":
        return tuple(modes)
    return tuple(2 * m for m in modes[:-1]) + (modes[-1],)


def block_index(modes: tuple[int, ...], size: tuple[int, ...], transform: str, device=None) -> tuple:
    """``z[block_index(...)]``: the kept block ``(batch, C, *block_shape)`` of coefficients ``(batch, C, *coeffs)``.

    Axis d keeps indices ``[:m_d]``; for the DFT every axis but the last also keeps ``[-m_d:]`` (the negative
    frequencies −m_d … −1), so that a weight index always means the same frequency on every grid.
    """
    index = [slice(None), slice(None)]
    n_dim = len(modes)
    for d, (m, n) in enumerate(zip(modes, size)):
        i = torch.arange(m, device=device)
        if transform == "dft" and d < n_dim - 1:
            i = torch.cat([i, torch.arange(n - m, n, device=device)])
        index.append(i.view([-1 if e == d else 1 for e in range(n_dim)]))
    return tuple(index)


def activation(z: Tensor, name: str) -> Tensor:
    """Pointwise activation; on a complex tensor it acts on the real and imaginary parts separately."""
    fn = ACTIVATIONS[name]
    if fn is None:
        return z
    return torch.complex(fn(z.real), fn(z.imag)) if z.is_complex() else fn(z)


def _weight(shape: tuple[int, ...], std: float, complex_: bool) -> nn.Parameter:
    """N(0, std²) entries; complex ones are stored as a trailing (re, im) axis of std each, so that checkpoints,
    optimisers and adapters see real tensors."""
    return nn.Parameter(std * torch.randn(*shape, 2) if complex_ else std * torch.randn(*shape))


def _value(param: Tensor, complex_: bool) -> Tensor:
    return torch.view_as_complex(param) if complex_ else param


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


def _bmm(x: Tensor, w: Tensor) -> Tensor:
    """``x (batch, rows, k) @ w (batch, k, n)`` with contiguous operands and gradients: CPU ``bmm`` multiplies a
    batch of strided matrices one at a time, ≈3× slower than a contiguous batch."""
    return _ContiguousGrad.apply(torch.bmm(x.contiguous(), w))


# -- the T1 layer and model ---------------------------------------------------------------------------------

class T1Layer(nn.Module):
    """One T1 layer on the kept block: ``(batch, W, *block)`` → ``(batch, W, *block)``,
    ``Ẑ ↦ B_d ⋯ B_1 σ(A ⊙ Ẑ) + Ẑ`` (channel mixing per mode, activation, mode mixing per axis and channel,
    residual). ``A`` is stored mode-major, ``(*block, W, W)``: ``A[k]`` is the W×W matrix of mode k (one batched
    matmul); ``B_d (W, block_d, block_d)``. Complex weights (``complex_``) have a trailing (re, im) axis.
    """

    def __init__(self, width: int, block: tuple[int, ...], std_A: float, complex_: bool = False,
                 act: str = "gelu", residual: bool = True):
        super().__init__()
        self.width, self.complex_, self.act, self.residual = width, complex_, act, residual
        gain = math.sqrt(0.5) if complex_ else 1.0
        self.A = _weight((*block, width, width), std_A, complex_)
        self.B = nn.ParameterList(_weight((width, m, m), gain / math.sqrt(m), complex_) for m in block)

    def forward(self, z_hat: Tensor) -> Tensor:
        batch, width, block = z_hat.shape[0], self.width, z_hat.shape[2:]
        A = _value(self.A, self.complex_).reshape(-1, width, width)                              # (M, W, W)
        h = _bmm(z_hat.flatten(2).permute(2, 0, 1), A)                                            # (M, b, W)
        h = activation(h.permute(1, 2, 0).reshape(batch, width, *block), self.act)
        for d, B in enumerate(self.B):    # mix the modes along spatial axis d, per channel
            moved = h.movedim(2 + d, -1).transpose(0, 1)                                          # (W, b, …, m_d)
            h = _bmm(moved.reshape(width, -1, moved.shape[-1]), _value(B, self.complex_))
            h = h.view(moved.shape).transpose(0, 1).movedim(-1, 2 + d)
        return h + z_hat if self.residual else h


class T1(nn.Module):
    """Transform Once operator: ``(batch, in_channels, *spatial)`` → ``(batch, out_channels, *spatial)``.

    ``resolution`` (one entry per spatial axis, 1-D or 2-D) is the grid the model is built for: N = prod of it
    in the variance-preserving init, and the reference of the √(N_ref/N) coefficient normalisation. ``modes``
    is an int (every axis) or one int per axis; the model runs on any grid large enough for them. The paper's
    Navier–Stokes run: width 48, modes 24, 8 layers, resolution (64, 64), ``inverse=False`` with a relative L2
    against :meth:`transform_target`.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, modes: int | Sequence[int] = 16,
                 n_layers: int = 4, resolution: Sequence[int] = (32, 32), transform: str = "dct",
                 keep_high: bool = False, inverse: bool = True, act: str = "gelu", residual: bool = True,
                 head_width: int = 64):
        super().__init__()
        resolution = _positive_ints(resolution, "resolution")
        n_dim = len(resolution)
        modes = _positive_ints((modes,) * n_dim if isinstance(modes, int) else modes, "modes")
        if n_dim not in (1, 2) or len(modes) != n_dim:
            raise ValueError(f"T1: resolution must have 1 or 2 entries (one per spatial axis) and modes as many "
                             f"(or one int), got resolution={resolution}, modes={modes}")
        if transform not in TRANSFORMS:
            raise ValueError(f"T1: transform must be one of {TRANSFORMS}, got {transform!r}")
        if act not in ACTIVATIONS:
            raise ValueError(f"T1: act must be one of {tuple(ACTIVATIONS)}, got {act!r}")
        _positive_ints((in_channels, out_channels, width, n_layers, head_width),
                       "in_channels, out_channels, width, n_layers and head_width")
        self.in_channels, self.out_channels, self.n_dim, self.width = in_channels, out_channels, n_dim, width
        self.modes, self.resolution, self.transform = modes, resolution, transform
        self.keep_high, self.inverse, self.act = keep_high, inverse, act
        self._check_size(resolution)

        complex_, block = transform == "dft", block_shape(modes, transform)
        g, n_kept = (0.5 if complex_ else 1.0), math.prod(block)
        n_band = 2 * n_kept if complex_ else n_kept    # the N of a white field whose spectrum is the block
        self.lift = nn.Linear(in_channels + n_dim, width)
        self.layers = nn.ModuleList()
        for layer in range(n_layers):
            n_in = math.prod(resolution) if layer == 0 and not keep_high else n_band
            branch = math.sqrt(n_layers - 1) if layer > 0 and residual else 1.0
            std_A = g * math.sqrt(n_in / (width * n_kept)) / branch
            self.layers.append(T1Layer(width=width, block=block, std_A=std_A, complex_=complex_, act=act,
                                       residual=residual))
        gain = math.sqrt(0.5) if complex_ else 1.0
        self.head_in = _weight((width, head_width), gain / math.sqrt(width), complex_)
        self.head_out = _weight((head_width, out_channels), gain / math.sqrt(head_width), complex_)

    def _check_size(self, size: tuple[int, ...]) -> None:
        if self.transform == "dct":
            fits, rule = all(m <= n for m, n in zip(self.modes, size)), "m ≤ n on every axis"
        else:
            fits = all(2 * m <= n for m, n in zip(self.modes[:-1], size)) and self.modes[-1] <= size[-1] // 2 + 1
            rule = "2·m ≤ n on every axis but the last, m ≤ n//2 + 1 on the last (rfft)"
        if not fits:
            raise ValueError(f"T1 with modes={self.modes} and transform={self.transform!r} needs {rule}, got a grid "
                             f"{size}: use a finer grid or fewer modes")

    def _norm(self, size: tuple[int, ...]) -> float:
        """√(N_ref / N): brings the coefficients of a field on ``size`` to the scale of ``resolution``."""
        return math.sqrt(math.prod(self.resolution) / math.prod(size))

    def head(self, z: Tensor) -> Tensor:
        """Q, pointwise over modes: ``(batch, W, *modes)`` → ``(batch, out_channels, *modes)``, no bias."""
        complex_ = self.transform == "dft"
        h = activation(torch.einsum("bi...,io->bo...", z, _value(self.head_in, complex_)), self.act)
        return torch.einsum("bi...,io->bo...", h, _value(self.head_out, complex_))

    def transform_target(self, y: Tensor) -> Tensor:
        """A spatial target ``(batch, out, *spatial)`` in the coefficients an ``inverse=False`` model outputs.

        DCT, by Parseval: ``‖model(x) − transform_target(y)‖ = √(N_ref/N) ‖to_spatial(model(x)) − y‖``, so the
        relative errors are equal at every resolution (and the absolute ones at ``resolution``).
        """
        return forward_transform(y, self.transform, self.n_dim) * self._norm(tuple(y.shape[2:]))

    def to_spatial(self, z: Tensor, size: tuple[int, ...] | None = None) -> Tensor:
        """Coefficients (an ``inverse=False`` output) → the field on ``size`` (DFT: required; DCT: z's own)."""
        if size is None:
            if self.transform == "dft":
                raise ValueError("T1.to_spatial: give size=(H, W) for transform='dft' (the rfft halves the last axis)")
            size = tuple(z.shape[2:])
        return inverse_transform(z, self.transform, tuple(size)) / self._norm(tuple(size))

    def forward(self, x: Tensor) -> Tensor:
        check_operator_input(x, self.in_channels, self.n_dim, "T1")
        size = tuple(x.shape[2:])
        self._check_size(size)
        position = torch.cos(math.pi * grid_channels(x, centred=True))
        v = self.lift(torch.cat([x, position], dim=1).movedim(1, -1)).movedim(-1, 1)       # (b, W, *spatial)
        z = forward_transform(v, self.transform, self.n_dim) * self._norm(size)            # (b, W, *coeffs)
        index = block_index(self.modes, size, self.transform, x.device)
        z_hat = z[index]                                                                   # (b, W, *block)
        for layer in self.layers:
            z_hat = layer(z_hat)
        if self.keep_high:
            z = z.clone()
            z[index] = z_hat
            out = self.head(z)
        else:
            out = z.new_zeros(z.shape[0], self.out_channels, *z.shape[2:])
            out[index] = self.head(z_hat)                                                   # (b, out, *coeffs)
        if not self.inverse:
            return out
        return inverse_transform(out, self.transform, size) / self._norm(size)


def _positive_ints(value, name: str) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else ()
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"T1: {name} must be a list of positive ints, got {value!r}")
    return values


def _example(model: T1):
    """An input on the model's ``resolution`` and the output shape (the rfft's half last axis, DFT coefficients)."""
    out = (2, model.out_channels, *model.resolution)
    if not model.inverse and model.transform == "dft":
        out = (*out[:-1], model.resolution[-1] // 2 + 1)
    return torch.randn(2, model.in_channels, *model.resolution), out


register_model("t1", family="operators", task="operator",
               paper="Transform Once: Efficient Operator Learning in Frequency Domain (Poli et al., 2022)",
               capabilities=("resolution_invariant",), example=_example)(T1)
