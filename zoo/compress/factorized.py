"""A Linear layer stored as a rank-r product ``W ≈ A B``: two Linears, ``in -> r`` (``B``) then ``r -> out`` (``A``).

Parameters ``r (in + out) + out`` instead of ``in · out + out``. :func:`zoo.compress.fwsvd` and
:func:`zoo.compress.svd` put one in place of every targeted ``nn.Linear``; :meth:`FactorizedLinear.merge` gives
the ``nn.Linear`` of ``W = A B`` back.
"""

from __future__ import annotations

import torch
from torch import nn


class FactorizedLinear(nn.Module):
    """``y = x (A B)ᵀ + b``: ``(..., in_features) -> (..., out_features)``.

    ``B``: ``nn.Linear(in_features, rank, bias=False)``, weight ``(rank, in_features)``; ``A``:
    ``nn.Linear(rank, out_features, bias=bias)``, weight ``(out_features, rank)`` and the original bias ``b``.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True,
                 device: torch.device | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.B = nn.Linear(in_features, rank, bias=False, device=device, dtype=dtype)
        self.A = nn.Linear(rank, out_features, bias=bias, device=device, dtype=dtype)

    @classmethod
    def from_factors(cls, A: torch.Tensor, B: torch.Tensor, bias: torch.Tensor | None = None) -> FactorizedLinear:
        """The layer with ``A: (out, r)``, ``B: (r, in)`` and ``bias: (out,)`` (copied), on their device and dtype."""
        (out_features, rank), (_, in_features) = A.shape, B.shape
        layer = cls(in_features=in_features, out_features=out_features, rank=rank, bias=bias is not None,
                    device=A.device, dtype=A.dtype)
        with torch.no_grad():
            layer.A.weight.copy_(A)
            layer.B.weight.copy_(B)
            if bias is not None:
                layer.A.bias.copy_(bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(self.B(x))

    @property
    def weight(self) -> torch.Tensor:
        """``A B``: ``(out_features, in_features)``, computed on each read, for code that reads a Linear's weight
        (e.g. the fast path of ``nn.TransformerEncoderLayer`` in eval mode); writing to it changes nothing."""
        return self.A.weight @ self.B.weight

    @property
    def bias(self) -> torch.Tensor | None:
        """The original bias ``b``: ``(out_features,)``, or ``None``."""
        return self.A.bias

    def merge(self) -> nn.Linear:
        """A new ``nn.Linear(in_features, out_features)`` with weight ``A B`` and bias ``b``."""
        merged = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                           device=self.A.weight.device, dtype=self.A.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(self.weight)
            if self.bias is not None:
                merged.bias.copy_(self.bias)
        return merged

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"
