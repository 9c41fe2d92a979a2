"""The two products a MACE layer can use, behind one interface: Gaunt (this package) or e3nn's Clebsch–Gordan.

Features are ``(..., K, (L+1)²)``: K channels of spherical-harmonic coefficients of degrees 0..L in e3nn's order,
one irrep per degree with the parity of a polynomial of the position, ``(−1)^l`` (e3nn's ``0e + 1o + 2e + ...``).

* :func:`gaunt_product` is :class:`~zoo.equivariant.gaunt.GauntTensorProduct` with one weight per channel and
  degree before and after: the paths ``(l1, l2) → l3`` with ``l1 + l2 + l3`` even, at fixed Gaunt ratios.
* :class:`CGProduct` is e3nn's ``TensorProduct`` channel by channel (``"uuu"``) with one learnable weight per
  channel and path, on **every** path Clebsch–Gordan allows. Its output may keep both parities of each degree
  (``keep_pseudo=True``), so that a later product sees the paths a Gaunt product lacks (``1 ⊗ 1 → 1``, the cross
  product, is a ``1e``); the natural-parity part is what leaves the many-body product.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.equivariant.gaunt import GauntTensorProduct
from zoo.optional import require


def gaunt_product(lmax1: int, lmax2: int, lmax_out: int, channels: int, method: str = "fft") -> GauntTensorProduct:
    """``forward(x1 (..., K, (lmax1+1)²), x2 (..., K, (lmax2+1)²)) -> (..., K, (lmax_out+1)²)``."""
    return GauntTensorProduct(lmax1, lmax2, lmax_out, channels=channels, weights=True, method=method)


def natural_irreps(channels: int, lmax: int):
    """e3nn's ``Kx0e + Kx1o + Kx2e + ...`` up to ``lmax``."""
    return require("e3nn.o3").Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])


def to_flat(x: Tensor) -> Tensor:
    """``(..., K, (L+1)²) -> (..., K (L+1)²)`` in e3nn's layout of :func:`natural_irreps` (channel-major per l)."""
    L = round(x.shape[-1] ** 0.5) - 1
    return torch.cat([x[..., l * l:(l + 1) ** 2].flatten(-2) for l in range(L + 1)], dim=-1)


def from_flat(flat: Tensor, irreps, channels: int, lmax: int) -> Tensor:
    """The natural-parity irreps ``l ≤ lmax`` of ``flat (..., irreps.dim)`` as ``(..., K, (lmax+1)²)``; an absent one
    is zero."""
    blocks = {(ir.l, ir.p): block for (_, ir), block in zip(irreps, irreps.slices())}
    out = []
    for l in range(lmax + 1):
        block = blocks.get((l, (-1) ** l))
        shape = flat.shape[:-1] + (channels, 2 * l + 1)
        out.append(flat.new_zeros(shape) if block is None else flat[..., block].reshape(shape))
    return torch.cat(out, dim=-1)


class CGProduct(nn.Module):
    """Channel-wise Clebsch–Gordan product of natural-parity (or, for ``x1``, any-parity) features.

    ``forward(x1, x2 (..., K, (lmax2+1)²)) -> (..., K, (lmax_out+1)²)`` when ``keep_pseudo`` is off; with it on, the
    output is e3nn's flat layout of :attr:`irreps_out` (every reachable irrep ``l ≤ lmax_out`` of either parity),
    which a following ``CGProduct`` takes as ``x1`` (its ``irreps1``). ``x1`` in natural parity may be given as
    ``(..., K, (lmax1+1)²)``.
    """

    def __init__(self, lmax1: int, lmax2: int, lmax_out: int, channels: int, keep_pseudo: bool = False,
                 irreps1=None):
        super().__init__()
        o3 = require("e3nn.o3")
        self.channels, self.lmax_out, self.keep_pseudo = channels, lmax_out, keep_pseudo
        self.flat_in = irreps1 is not None
        self.irreps1 = irreps1 if irreps1 is not None else natural_irreps(channels, lmax1)
        irreps2 = natural_irreps(channels, lmax2)
        reachable = {ir for _, ir1 in self.irreps1 for _, ir2 in irreps2 for ir in ir1 * ir2 if ir.l <= lmax_out}
        if not keep_pseudo:
            reachable = {ir for ir in reachable if ir.p == (-1) ** ir.l}
        self.irreps_out = o3.Irreps([(channels, ir) for ir in sorted(reachable)])
        instructions = [(i1, i2, io, "uuu", True) for i1, (_, ir1) in enumerate(self.irreps1)
                        for i2, (_, ir2) in enumerate(irreps2) for io, (_, ir) in enumerate(self.irreps_out)
                        if ir in ir1 * ir2]
        self.tp = o3.TensorProduct(self.irreps1, irreps2, self.irreps_out, instructions, internal_weights=True,
                                   shared_weights=True)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        x1 = x1 if self.flat_in else to_flat(x1)
        out = self.tp(x1, to_flat(x2))
        return out if self.keep_pseudo else from_flat(out, self.irreps_out, self.channels, self.lmax_out)

    def natural(self, out: Tensor) -> Tensor:
        """The natural-parity part ``(..., K, (lmax_out+1)²)`` of an output of :meth:`forward`."""
        return from_flat(out, self.irreps_out, self.channels, self.lmax_out) if self.keep_pseudo else out


class CGConvolution(nn.Module):
    """The edge product of a later MACE layer with e3nn: ``h_j ⊗ Y(r̂_ij)``, one weight per channel and path from
    the radial network (``"uvu"``, as in MACE).

    ``forward(h (E, K, (lmax_h+1)²), Y (E, (lmax+1)²), weights (E, weight_numel)) -> (E, K, (lmax+1)²)``.
    """

    def __init__(self, lmax_h: int, lmax: int, channels: int):
        super().__init__()
        o3 = require("e3nn.o3")
        self.channels, self.lmax = channels, lmax
        irreps_h, irreps_y = natural_irreps(channels, lmax_h), natural_irreps(1, lmax)
        self.irreps_out = natural_irreps(channels, lmax)
        instructions = [(i1, i2, io, "uvu", True) for i1, (_, ir1) in enumerate(irreps_h)
                        for i2, (_, ir2) in enumerate(irreps_y) for io, (_, ir) in enumerate(self.irreps_out)
                        if ir in ir1 * ir2]
        self.tp = o3.TensorProduct(irreps_h, irreps_y, self.irreps_out, instructions, internal_weights=False,
                                   shared_weights=False)
        self.weight_numel = self.tp.weight_numel

    def forward(self, h: Tensor, Y: Tensor, weights: Tensor) -> Tensor:
        return from_flat(self.tp(to_flat(h), Y, weights), self.irreps_out, self.channels, self.lmax)
