"""Positional-encoding baselines for SPE's comparison, and the masked MLP they share with SPE.

Every PE module maps ``(eigvals [B, width], eigvecs [num_nodes, width], edge_index [2, E], batch [num_nodes])``
(as stored by :class:`zoo.functional.LaplacianEigenpairs`) to ``[num_nodes, pe_dim]``.

- :class:`LapPE`: raw Laplacian eigenvectors through a linear map, with a random sign flip of every
  eigenvector of every graph at each training step (Dwivedi et al., 2020). Not sign- or basis-invariant.
- :class:`SignNetPE`: SignNet (Lim et al., ICLR 2023) in its light form, PE = ρ([φ(v_k, λ_k) + φ(−v_k, λ_k)]_k)
  with φ an MLP applied to each (node, eigenvector) entry and ρ an MLP over the concatenated eigenvectors.
  Sign-invariant, not basis-invariant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.functional import eigvec_mask

NORMS = ("batch", "none")


class MaskedBatchNorm(nn.Module):
    """BatchNorm over the entries where ``mask`` is True only: ``x [..., C]``, ``mask [...]`` -> ``[..., C]``.

    Masked-out entries (padded eigenvalues, padded columns) are left out of the statistics and set to 0.
    ``mask=None`` normalises over every entry.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            return self.norm(x.reshape(-1, x.size(-1))).reshape(x.shape)
        out = x.new_zeros(x.shape)
        out[mask] = self.norm(x[mask])
        return out


class MaskedMLP(nn.Module):
    """``n_layers`` Linear layers, each hidden one followed by (masked) BatchNorm and ReLU.

    ``x [..., in_dim]`` (``mask [...]`` for the norm) -> ``[..., out_dim]``.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, n_layers: int = 2, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}: expected one of {NORMS}")
        if n_layers < 1:
            raise ValueError(f"an MLP needs n_layers >= 1, got {n_layers}")
        dims = [in_dim] + [hidden] * (n_layers - 1) + [out_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(MaskedBatchNorm(hidden) for _ in range(n_layers - 1)) if norm == "batch" else None

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for index, linear in enumerate(self.linears[:-1]):
            x = linear(x)
            x = torch.relu(x if self.norms is None else self.norms[index](x, mask))
        return self.linears[-1](x)


class LapPE(nn.Module):
    """Raw eigenvectors ``[num_nodes, width]`` -> Linear -> ``[num_nodes, pe_dim]``; random signs while training."""

    def __init__(self, width: int, pe_dim: int):
        super().__init__()
        self.linear = nn.Linear(width, pe_dim)

    def forward(self, eigvals: Tensor, eigvecs: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        if self.training:
            signs = torch.randint(0, 2, eigvals.shape, device=eigvecs.device).to(eigvecs.dtype) * 2 - 1
            eigvecs = eigvecs * signs[batch]
        return self.linear(eigvecs)


class SignNetPE(nn.Module):
    """SignNet-light: φ ``(v_ik, λ_k) -> hidden`` on every entry, φ(v) + φ(−v), ρ over ``width · hidden``."""

    def __init__(self, width: int, pe_dim: int, hidden: int = 16, norm: str = "batch"):
        super().__init__()
        self.phi = MaskedMLP(2, hidden, hidden, n_layers=2, norm=norm)
        self.rho = MaskedMLP(width * hidden, hidden, pe_dim, n_layers=2, norm=norm)

    def forward(self, eigvals: Tensor, eigvecs: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        mask = eigvec_mask(eigvecs, batch, eigvals.size(0))[batch]  # [num_nodes, width]
        lam = eigvals[batch]
        h = (self.phi(torch.stack([eigvecs, lam], -1), mask) + self.phi(torch.stack([-eigvecs, lam], -1), mask))
        h = h * mask[..., None]
        return self.rho(h.flatten(1))
