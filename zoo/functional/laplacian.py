"""Normalised-Laplacian eigenpairs per graph, in float64, as SPE (Huang et al., ICLR 2024) consumes them.

The graph datamodules store them (:class:`LaplacianEigenpairs`) and the graph models read them
(:func:`eigvec_mask`), so the math and its storage format live here, below both.

L = I − D^{-1/2} A D^{-1/2} (weighted by ``edge_weight`` when given). An isolated node follows the scipy /
networkx convention L_ii = 0 (it is a connected component of its own, with eigenvalue 0 and eigenvector
e_i), not PyG ``get_laplacian("sym")``'s L_ii = 1.

:class:`LaplacianEigenpairs` stores, per graph, eigenvalues ``data.eigvals`` ``[1, width]`` (graph-level,
so a batch of B graphs has ``[B, width]``) and eigenvectors ``data.eigvecs`` ``[n, width]`` (node-level),
sorted by ascending eigenvalue, λ₁ = 0 included, zero-padded to ``width`` columns. Either

- the full spectrum (``d=None``): all n eigenpairs, so SPE's stability bound has no eigengap term; or
- the first ``d`` eigenpairs *extended to the next eigengap*: while λ_{k+1} − λ_k < ``gap_tol`` the next
  eigenpair is kept too, so a degenerate eigenspace is never split (splitting one breaks basis invariance).

A padded column has eigenvector 0 (real eigenvectors have unit norm), which is how :func:`eigvec_mask`
tells padding from a real eigenvalue 0.

PyG's ``AddLaplacianEigenvectorPE`` is not used: it returns no eigenvalues, drops the λ₁ eigenvector,
draws random signs on every call, crashes when n ≤ k, and switches to nondeterministic ARPACK for
n ≥ 100.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data


def normalized_laplacian(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None) -> Tensor:
    """Dense L = I − D^{-1/2} A D^{-1/2}, ``[n, n]`` float64; L_ii = 0 for an isolated node.

    ``edge_index`` ``[2, E]`` lists each undirected edge in both directions (PyG's convention);
    ``edge_weight`` ``[E]`` (default 1). Duplicate edges add up.
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, num_edges], got {tuple(edge_index.shape)}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(f"edge_index holds node ids outside [0, {num_nodes}): pass the graph's num_nodes")
    weight = torch.ones(edge_index.size(1), dtype=torch.float64) if edge_weight is None else edge_weight.double()
    adjacency = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    adjacency.index_put_((edge_index[0], edge_index[1]), weight, accumulate=True)
    if not torch.allclose(adjacency, adjacency.T):
        raise ValueError("the graph is not undirected: list every edge in both directions "
                         "(torch_geometric.utils.to_undirected) with equal weights")
    degree = adjacency.sum(1)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(1e-300).rsqrt(), torch.zeros_like(degree))
    connected = (degree > 0).double()
    return torch.diag(connected) - inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


def laplacian_eigenpairs(laplacian: Tensor, d: int | None = None, gap_tol: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Ascending eigenvalues ``[k]`` and orthonormal eigenvectors ``[n, k]`` of a symmetric ``[n, n]`` matrix.

    ``d=None`` keeps all k = n; otherwise k = min(d, n), raised while λ_{k+1} − λ_k < ``gap_tol``.
    """
    values, vectors = torch.linalg.eigh(laplacian.double())
    n = values.numel()
    if d is None:
        return values, vectors
    if d < 1:
        raise ValueError(f"d (the number of eigenpairs) must be a positive integer or None (full spectrum), got {d}")
    k = min(d, n)
    while k < n and values[k] - values[k - 1] < gap_tol:
        k += 1
    return values[:k], vectors[:, :k]


def eigvec_mask(eigvecs: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """``[num_graphs, width]`` bool: True where a graph's column is a real eigenvector, False for padding."""
    sq_norm = eigvecs.new_zeros(num_graphs, eigvecs.size(1)).index_add_(0, batch, eigvecs.square())
    return sq_norm > 0.5


class LaplacianEigenpairs:
    """PyG transform: ``data.eigvals`` ``[1, width]`` and ``data.eigvecs`` ``[n, width]`` (module docstring).

    Args:
        width: stored columns (every graph is padded to it, so graphs batch); with ``d=None`` it must be
            at least the largest graph's n (n_max).
        d: the number of eigenpairs before the eigengap extension; ``None`` keeps the full spectrum.
        gap_tol: eigenvalues closer than this count as one eigenspace.
        dtype: the stored dtype (the eigendecomposition itself always runs in float64).
    Uses ``data.edge_weight`` when present.
    """

    def __init__(self, width: int, d: int | None = None, gap_tol: float = 1e-6, dtype: torch.dtype = torch.float32):
        if width < 1:
            raise ValueError(f"width must be a positive integer, got {width}")
        if d is not None and d > width:
            raise ValueError(f"d={d} eigenpairs do not fit in width={width} columns: raise width or lower d")
        self.width, self.d, self.gap_tol, self.dtype = width, d, gap_tol, dtype

    def __call__(self, data: Data) -> Data:
        n = data.num_nodes
        laplacian = normalized_laplacian(data.edge_index, n, getattr(data, "edge_weight", None))
        values, vectors = laplacian_eigenpairs(laplacian, self.d, self.gap_tol)
        k = values.numel()
        if k > self.width:
            what = "nodes" if self.d is None else f"eigenpairs after extending d={self.d} to the next eigengap"
            raise ValueError(f"a graph with {n} nodes needs {k} columns ({what}) but width={self.width}: "
                             f"raise width to at least {k}")
        data.eigvals = torch.zeros(1, self.width, dtype=self.dtype)
        data.eigvals[0, :k] = values.to(self.dtype)
        data.eigvecs = torch.zeros(n, self.width, dtype=self.dtype)
        data.eigvecs[:, :k] = vectors.to(self.dtype)
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(width={self.width}, d={self.d}, gap_tol={self.gap_tol})"
