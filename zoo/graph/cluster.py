"""Bootstrap-AMG clustering of attributed graphs.

"Extending Bootstrap AMG for Clustering of Attributed Graphs" (D'Ambra, Vassilevski, Cutillo; Appl. Math. Comput. 447,
2023; arXiv 2109.09367), with the bootstrap of "Bootstrap AMG for Spectral Clustering" (D'Ambra, Cutillo, Vassilevski;
CMM 2019). A graph ``G = (V, E)`` with ``n`` vertices, each carrying ``n_attr`` categorical attributes:

1. **Augmentation** (Cheng, Zhou & Yu's SA-Cluster graph): one new vertex per observed (attribute ``a``, value ``v``)
   pair, and an edge of weight ``weight`` from every vertex to the vertex of each of its values. The augmented graph
   has ``n_aug = n + Σ_a #values(a)`` vertices and ``n · n_attr`` new edges.
2. **Embedding**: ``k`` algebraically smooth vectors ``W (n_aug, k)`` of the augmented Laplacian ``L = D − A`` (small
   Rayleigh quotients ``wᵀLw / wᵀw``), in place of its ``k`` smallest eigenvectors. The bootstrap: ``w₀ = 1``; step
   ``j = 1..k−1`` builds an AMG hierarchy ``B_j`` whose near-null space is ``w_{j−1}``, then runs the composite solver
   ``x ← x − B_i L x`` (``i = 1..j``, multiplicative) on ``L x = 0`` from a random ``x``; what it fails to reduce is
   the next smooth vector ``w_j``. The columns are orthonormalised by an SVD, as the reference does.
3. **Vector-valued distance**: vertex ``i`` is a super-node of ``nb = 1 + n_attr`` coordinate blocks, its own row of
   ``W`` and the rows of its values' vertices; ``d(i, c) = √(Σ_b Σ_d (x_{i,b,d} − c_{b,d})²)``. This is the
   Euclidean distance of the concatenated blocks, so the paper's block k-means is k-means on the concatenation
   (``zoo.functional.clustering.kmeans``). The attribute blocks make up ``n_attr / (1 + n_attr)`` of it: with noisy
   attributes and ``weight = 1`` the clusters follow the attributes more than the structure (``scripts/bamg_study.py``).

Deliberate differences from the reference code (``bootcmatch/BCMatch4Graphs``, C): the hierarchies are pyamg's
smoothed aggregation (the reference uses its own pairwise compatible-matching aggregation) with a Gauss–Seidel coarse
"solve", as the reference's defaults, so the smoothest modes stay unresolved; the singular Laplacian is shifted by
``shift · mean(diag L)`` and the constant vector is projected out of the iterates (the reference adds a rank-one
update pinning vertex 0); the number of vectors is ``k`` (the reference bootstraps until a convergence ratio of
1e-6 or 40 hierarchies); the Laplacian keeps the edge weights (the reference's incidence product drops them); k-means
starts from k-means++ and keeps the least inertia of ``n_init`` starts (the reference keeps the best modularity of
100 random starts).

pyamg is optional (extra ``[graph]``) and imported (:func:`zoo.optional.require`) where the AMG methods use it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import laplacian
from scipy.sparse.linalg import eigsh

from zoo.functional.clustering import kmeans
from zoo.optional import require

METHODS = ("bootstrap", "adaptive_sa", "eig")


def _check_adjacency(adj) -> sp.csr_array:
    """``adj`` as a float64 CSR array, checked square, finite, non-negative and symmetric."""
    if not sp.issparse(adj):
        raise TypeError(f"adj must be a scipy sparse adjacency matrix (n, n), got {type(adj).__name__}: "
                        "convert it with scipy.sparse.csr_array(adj)")
    adj = sp.csr_array(adj, dtype=np.float64)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adj must be square (n, n), got shape {adj.shape}")
    if not np.isfinite(adj.data).all() or (adj.data < 0).any():
        raise ValueError("adj must hold finite, non-negative edge weights")
    tol = 1e-12 * max(adj.data.max(initial=0.0), 1.0)
    if (abs(adj - adj.T) > tol).nnz:
        raise ValueError("adj must be symmetric (an undirected graph): symmetrise it, e.g. adj.maximum(adj.T)")
    return adj


def _check_attributes(attrs, n: int) -> np.ndarray:
    """``attrs`` as an int64 array ``(n, n_attr)`` of non-negative category codes."""
    attrs = np.asarray(attrs)
    if attrs.ndim != 2 or attrs.shape[0] != n or attrs.shape[1] < 1:
        raise ValueError(f"attrs must have shape (n, n_attr) = ({n}, n_attr >= 1), one row per vertex of adj; "
                         f"got {attrs.shape}")
    if not np.issubdtype(attrs.dtype, np.integer):
        raise TypeError(f"attrs must hold integer category codes, got dtype {attrs.dtype}: encode each attribute's "
                        "values as 0, 1, 2, ... (e.g. numpy.unique(column, return_inverse=True))")
    if (attrs < 0).any():
        raise ValueError("attrs must hold non-negative category codes; got a negative value")
    return attrs.astype(np.int64)


def augment_attributes(adj, attrs, weight: float = 1.0) -> tuple[sp.csr_array, np.ndarray]:
    """The attribute-augmented graph.

    Args:
        adj: symmetric scipy sparse adjacency ``(n, n)``.
        attrs: category codes ``(n, n_attr)``, non-negative integers.
        weight: the weight of every vertex–value edge (the reference's 1).
    Returns:
        ``adj_aug (n_aug, n_aug)`` CSR, ``n_aug = n + Σ_a #values(a)`` (observed values only): ``adj`` in the top-left
        block, the value vertices after it, attribute by attribute, values ascending; and ``value_index (n, n_attr)``
        int64, the augmented vertex of vertex ``i``'s value of attribute ``a``.
    """
    adj = _check_adjacency(adj)
    n = adj.shape[0]
    attrs = _check_attributes(attrs, n)
    if not weight > 0:
        raise ValueError(f"weight (of the vertex–value edges) must be positive, got {weight}")
    value_index = np.empty_like(attrs)
    offset = n
    for a in range(attrs.shape[1]):
        values, inverse = np.unique(attrs[:, a], return_inverse=True)
        value_index[:, a] = offset + inverse
        offset += len(values)
    rows = np.repeat(np.arange(n), attrs.shape[1])
    incidence = sp.csr_array((np.full(rows.size, float(weight)), (rows, value_index.ravel() - n)),
                             shape=(n, offset - n))
    return sp.block_array([[adj, incidence], [incidence.T, None]], format="csr"), value_index


def _bootstrap_vectors(A: sp.csr_array, k: int, rng: np.random.Generator, iters: int) -> np.ndarray:
    """``[w₀ = 1, w₁, ..., w_{k−1}]`` ``(n, k)`` of the bootstrap on the SPD ``A`` (module docstring, step 2)."""
    pyamg = require("pyamg")
    n = A.shape[0]
    w = np.ones(n)
    vectors, cycles = [w / np.sqrt(n)], []
    for _ in range(k - 1):
        hierarchy = pyamg.smoothed_aggregation_solver(A, B=w[:, None], max_coarse=10, coarse_solver="gauss_seidel")
        cycles.append(hierarchy.aspreconditioner())
        x = rng.standard_normal(n)
        for _ in range(iters):
            for cycle in cycles:  # the multiplicative composite solver, error propagation Π_i (I − B_i A)
                x = x - cycle @ (A @ x)
            x -= x.mean()  # the constant is w₀ and the Laplacian's null vector: keep it out
            x /= np.sqrt(x @ (A @ x))  # A-norm 1, as the reference, so the iterate never underflows
        w = x
        vectors.append(w / np.linalg.norm(w))
    return np.stack(vectors, 1)


def smooth_vectors(L, k: int, method: str = "bootstrap", seed: int = 0, shift: float = 1e-8,
                   iters: int = 15) -> np.ndarray:
    """``k`` algebraically smooth vectors of a graph Laplacian, orthonormal columns.

    Args:
        L: symmetric positive semi-definite sparse Laplacian ``(n, n)``, e.g. ``scipy.sparse.csgraph.laplacian(adj)``.
        k: the number of vectors, ``1 <= k < n``.
        method: ``"bootstrap"`` (the paper's bootstrap AMG, module docstring), ``"adaptive_sa"`` (the ``k``
            candidates of pyamg's adaptive smoothed aggregation) or ``"eig"`` (the ``k`` smallest eigenvectors, the
            reference the AMG vectors approximate).
        seed: the random start of the AMG methods.
        shift: ``L + shift · mean(diag L) · I`` is what the AMG methods see (``L`` itself is singular); ``"eig"``
            shifts and inverts around ``−shift · mean(diag L)``.
        iters: composite-solver sweeps per bootstrap step (the reference's 15).
    Returns:
        ``W (n, k)``, ``WᵀW = I``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    L = sp.csr_array(L, dtype=np.float64)
    n = L.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k (the number of smooth vectors) must satisfy 1 <= k < n = {n}, got {k}")
    scale = shift * float(L.diagonal().mean())
    if method == "eig":
        _, vectors = eigsh(L, k=k, sigma=-scale, which="LM", v0=np.ones(n))
        return vectors
    A = (L + scale * sp.eye_array(n)).tocsr()
    state = np.random.get_state()  # pyamg draws from numpy's global generator (spectral radii, aSA's random start):
    np.random.seed(seed)  # seed it for reproducible vectors, and restore it after
    try:
        if method == "bootstrap":
            W = _bootstrap_vectors(A, k, np.random.default_rng(seed), iters)
        else:
            hierarchy, _ = require("pyamg.aggregation").adaptive_sa_solver(A, num_candidates=k, max_coarse=10)
            W = np.asarray(hierarchy.levels[0].B)
    finally:
        np.random.set_state(state)
    U, _, _ = np.linalg.svd(W, full_matrices=False)
    return U


def super_nodes(W: np.ndarray, value_index: np.ndarray) -> np.ndarray:
    """The super-node blocks ``(n, 1 + n_attr, k)``: vertex ``i``'s row ``W[i]``, then ``W[value_index[i, a]]``.

    ``W (n_aug, k)`` embeds the augmented graph, ``value_index (n, n_attr)`` from :func:`augment_attributes`.
    """
    n = value_index.shape[0]
    return np.concatenate([W[:n, None], W[value_index]], axis=1)


def block_distance(blocks: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The paper's vector-valued distance ``d(i, c) = √(Σ_b Σ_d (x_{i,b,d} − c_{b,d})²)``.

    ``blocks (n, nb, k)``, ``centres (m, nb, k)`` -> ``(n, m)``.
    """
    per_block = ((blocks[:, None] - centres[None]) ** 2).sum(-1)  # (n, m, nb): squared distance per block
    return np.sqrt(per_block.sum(-1))


def bamg_cluster(adj, attrs, n_clusters: int, k: int, method: str = "bootstrap", weight: float = 1.0,
                 block: bool = True, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """Cluster the vertices of an attributed graph (module docstring, steps 1–3).

    Args:
        adj: symmetric scipy sparse adjacency ``(n, n)``.
        attrs: category codes ``(n, n_attr)``; ``None`` clusters the structure alone (the plain graph's smooth
            vectors and k-means).
        n_clusters: the number of clusters, ``1 <= n_clusters <= n``.
        k: the number of smooth vectors, ``k >= n_clusters``.
        method: see :func:`smooth_vectors`.
        weight: the vertex–value edge weight (:func:`augment_attributes`).
        block: k-means on the super-nodes (the paper); ``False`` uses each vertex's own row of ``W`` alone.
        seed: the smooth vectors' and k-means' random starts.
        n_init: k-means starts.
    Returns:
        ``labels (n,)`` int64 in ``0..n_clusters−1``.
    """
    adj = _check_adjacency(adj)
    n = adj.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must satisfy 1 <= n_clusters <= n = {n}, got {n_clusters}")
    if k < n_clusters:
        raise ValueError(f"k (the number of smooth vectors) must be at least n_clusters = {n_clusters}, got {k}")
    if attrs is None:
        X = smooth_vectors(laplacian(adj), k, method=method, seed=seed)
    else:
        adj_aug, value_index = augment_attributes(adj, attrs, weight=weight)
        W = smooth_vectors(laplacian(adj_aug), k, method=method, seed=seed)
        X = super_nodes(W, value_index).reshape(n, -1) if block else W[:n]
    labels, _, _ = kmeans(X, n_clusters, n_init=n_init, seed=seed)
    return labels
