"""The connection Laplacian of a point cloud on a d-manifold: the vector-field analogue of the graph Laplacian.

From RVGP ("Implicit Gaussian process representation of vector fields over arbitrary latent manifolds", Peach et
al., ICLR 2024), after Singer & Wu's vector diffusion maps. For points ``X (n, D)``:

* a symmetric k-nearest-neighbour graph, ``L = Deg − W`` its combinatorial Laplacian (``W_ij = 1`` on an edge);
* tangent frames ``T_i (D, d)`` by local PCA: the top ``d`` right singular vectors of the centred ``⌈1.5 k⌉``
  nearest neighbours of ``x_i`` (Euclidean neighbours: the reference takes geodesic ones, the same for dense
  clouds); ``d``, unless given, is the smallest dimension that explains ``explained`` of the local variance,
  the median over the points;
* connections ``O_ij = U Vᵀ`` from ``T_iᵀ T_j = U Σ Vᵀ``: the orthogonal ``d × d`` map nearest to the projection of
  frame j onto frame i (parallel transport from j to i, ``O_ji = O_ijᵀ``);
* ``L_c`` (``nd × nd``): block ``(i, i) = deg_i I_d``, block ``(i, j) = −W_ij O_ij`` — ``kron(L, 1_{d×d})`` with the
  off-diagonal blocks replaced by the connections. Symmetric positive semi-definite; on a flat manifold with trivial
  holonomy (a flat torus) it has ``d`` zero eigenvalues (the parallel fields), on the sphere none (no parallel
  field: the hairy ball theorem).

Shared math: the graph family re-exports it (``zoo.graph.connection_laplacian``) and the GP family builds on it.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from scipy.spatial import cKDTree


def knn_graph(points: np.ndarray, n_neighbors: int) -> sp.csr_matrix:
    """The symmetric k-nearest-neighbour adjacency ``W (n, n)`` of ``points (n, D)`` (an edge if either point is
    among the other's ``n_neighbors`` nearest), 0/1 entries."""
    n = len(points)
    _, index = cKDTree(points).query(points, k=n_neighbors + 1)
    rows = np.repeat(np.arange(n), n_neighbors)
    W = sp.csr_matrix((np.ones(rows.size), (rows, index[:, 1:].ravel())), shape=(n, n))
    return ((W + W.T) > 0).astype(np.float64).tocsr()


def tangent_frames(points: np.ndarray, n_neighbors: int, dim: int | None = None,
                   explained: float = 0.9) -> np.ndarray:
    """Orthonormal frames ``T (n, D, d)`` by PCA of each point's ``⌈1.5 n_neighbors⌉`` nearest neighbours (module
    doc); ``dim`` fixes ``d``, else the median dimension explaining ``explained`` of the local variance."""
    m = min(len(points), math.ceil(1.5 * n_neighbors) + 1)
    _, index = cKDTree(points).query(points, k=m)
    local = points[index] - points[index].mean(axis=1, keepdims=True)           # (n, m, D)
    _, s, vt = np.linalg.svd(local, full_matrices=False)                        # vt (n, min(m, D), D)
    if dim is None:
        ratio = np.cumsum(s**2, axis=1) / np.sum(s**2, axis=1, keepdims=True)
        dim = int(np.median(np.argmax(ratio >= explained, axis=1) + 1))
    if not 1 <= dim <= min(m, points.shape[1]):
        raise ValueError(f"dim={dim}: expected 1 <= dim <= min(neighbourhood size {m}, ambient dimension "
                         f"{points.shape[1]})")
    return np.ascontiguousarray(np.swapaxes(vt[:, :dim], 1, 2))


def connections(frames: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``O (E, d, d)``, ``O_e = U Vᵀ`` from the SVD of ``T_{rows[e]}ᵀ T_{cols[e]}`` (module doc)."""
    u, _, vt = np.linalg.svd(np.einsum("eDa,eDb->eab", frames[rows], frames[cols]))
    return u @ vt


def connection_laplacian(points, n_neighbors: int = 10, dim: int | None = None,
                         frames=None) -> tuple[sp.csr_matrix, torch.Tensor]:
    """``(L_c, frames)``: the connection Laplacian, a scipy CSR matrix ``(n d, n d)`` float64 (node-major: rows
    ``i d .. i d + d − 1`` are node i's frame coordinates), and the frames ``(n, D, d)`` as a float64 tensor.

    ``points (n, D)`` (array or tensor); ``frames`` given ``(n, D, d)`` (orthonormal columns) are used instead of
    the local PCA.
    """
    points = np.asarray(torch.as_tensor(points, dtype=torch.float64).detach().cpu())
    if points.ndim != 2:
        raise ValueError(f"points must be (n, D), got shape {points.shape}")
    if not isinstance(n_neighbors, int) or not 1 <= n_neighbors < len(points):
        raise ValueError(f"n_neighbors={n_neighbors!r} needs 1 <= n_neighbors < the {len(points)} points: pass "
                         "fewer neighbours or more points")
    if frames is None:
        frames = tangent_frames(points, n_neighbors, dim)
    else:
        frames = np.asarray(torch.as_tensor(frames, dtype=torch.float64))
        if frames.ndim != 3 or frames.shape[:2] != points.shape:
            raise ValueError(f"frames must be (n, D, d) = ({len(points)}, {points.shape[1]}, d), got {frames.shape}")
    n, d = len(points), frames.shape[2]
    W = knn_graph(points, n_neighbors).tocoo()
    O = connections(frames, W.row, W.col)
    block = np.arange(d)
    off_rows = (W.row[:, None, None] * d + block[None, :, None]).repeat(d, axis=2)
    off_cols = (W.col[:, None, None] * d + block[None, None, :]).repeat(d, axis=1)
    degree = np.asarray(W.sum(axis=1)).ravel()
    rows = np.concatenate([off_rows.ravel(), np.arange(n * d)])
    cols = np.concatenate([off_cols.ravel(), np.arange(n * d)])
    values = np.concatenate([-(W.data[:, None, None] * O).ravel(), np.repeat(degree, d)])
    return sp.csr_matrix((values, (rows, cols)), shape=(n * d, n * d)), torch.from_numpy(frames)
