"""Sparse CSR operators of message passing, built once per forward and applied at every layer or hop.

``csr_matrix(crow, col, values)`` -> a square CSR matrix ``[n, n]``; ``sparse_product(h, (A, Aᵀ))`` -> ``A h``
``[n, C]`` for a dense ``h [n, C]``, whose backward multiplies by the ``Aᵀ`` built with ``A`` (left to itself,
autograd sorts A into its transpose again at every product). The product runs in A's dtype: under autocast a
bfloat16 ``h`` is cast up (CPU sparse kernels have no bfloat16), and the next layer casts it down again.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


def csr_matrix(crow: Tensor, col: Tensor, values: Tensor) -> Tensor:
    """``[n, n]`` CSR matrix, n = ``crow.numel() − 1``: row i holds ``values`` at the columns
    ``col[crow[i]:crow[i + 1]]`` (``col``, ``values`` ``[nnz]``)."""
    n = crow.numel() - 1
    with warnings.catch_warnings():  # torch's one-time notice that sparse CSR support is in beta
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)


def _product(matrix: Tensor, h: Tensor) -> Tensor:
    with torch.autocast(h.device.type, enabled=False):
        return matrix @ h.to(matrix.dtype)


class _SparseProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, matrix: Tensor, transpose: Tensor) -> Tensor:
        ctx.transpose, ctx.dtype = transpose, h.dtype
        return _product(matrix, h)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        return _product(ctx.transpose, grad).to(ctx.dtype), None, None


def sparse_product(h: Tensor, operator: tuple[Tensor, Tensor]) -> Tensor:
    """``A h`` ``[n, C]`` for ``operator = (A, Aᵀ)``, sparse ``[n, n]`` each, and a dense ``h [n, C]``; gradients
    reach ``h`` only."""
    return _SparseProduct.apply(h, *operator)
