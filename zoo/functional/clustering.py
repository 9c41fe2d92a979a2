"""Lloyd's k-means with k-means++ seeding, in numpy float64: the clustering step shared by the ROM snapshot clusters
(Euclidean k-means) and Bootstrap-AMG graph clustering (the block distance of a super-node is the Euclidean distance
of its concatenated blocks, so block k-means is this k-means on the concatenation).

An empty cluster (possible after a Lloyd step) is re-seeded at the point farthest from its centre, so no centroid is
ever the mean of nothing (the division by zero of BCMatch4Graphs' ``computeCentroids``).

For a dissimilarity that has no mean, :func:`kmedoids` (k-medoids++ seeding, alternating updates, PAM swaps) works on
a precomputed matrix, e.g. the :func:`sine_dissimilarity` of ROM snapshots (Daniel et al., ``zoo.rom``); it lives
here so that the data layer can label snapshots by it without importing a model family.
"""

from __future__ import annotations

import numpy as np


def kmeans_plus_plus(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): each next centre drawn with probability ∝ D(x)², the squared
    distance to the nearest centre chosen so far. ``X (n, d)`` -> centres ``(k, d)``."""
    centres = [X[rng.integers(len(X))]]
    d2 = ((X - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        index = rng.choice(len(X), p=d2 / total) if total > 0 else rng.integers(len(X))
        centres.append(X[index])
        d2 = np.minimum(d2, ((X - X[index]) ** 2).sum(1))
    return np.stack(centres)


def squared_distances(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``‖x_i − c_j‖²`` for ``X (n, d)``, ``centres (k, d)`` -> ``(n, k)``, clipped at 0 against round-off."""
    return np.maximum((X ** 2).sum(1)[:, None] - 2 * X @ centres.T + (centres ** 2).sum(1)[None], 0.0)


def kmeans(X: np.ndarray, k: int, *, n_init: int = 10, max_iter: int = 300, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's algorithm from ``n_init`` k-means++ starts; the start with the least inertia wins.

    Args:
        X: points ``(n, d)``.
        k: number of clusters, ``1 <= k <= n``.
    Returns:
        ``labels (n,)`` in ``0..k-1``, ``centres (k, d)``, inertia ``Σ_i ‖x_i − c_{label_i}‖²``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not 1 <= k <= len(X):
        raise ValueError(f"kmeans needs points (n, d) and 1 <= k <= n; got shape {X.shape} and k={k}")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centres = kmeans_plus_plus(X, k, rng)
        labels = None
        for _ in range(max_iter):
            d2 = squared_distances(X, centres)
            new = d2.argmin(1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = labels == j
                if members.any():
                    centres[j] = X[members].mean(0)
                else:  # re-seed an empty cluster at the point worst served by its centre
                    far = d2[np.arange(len(X)), labels].argmax()
                    centres[j], labels[far] = X[far], j
        inertia = float(squared_distances(X, centres)[np.arange(len(X)), labels].sum())
        if best is None or inertia < best[2]:
            best = (labels.copy(), centres.copy(), inertia)
    return best


def sine_dissimilarity(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """The sine of the angle between the lines of two vectors, ``δ(u, v) = √(1 − (⟨u, v⟩ / (‖u‖ ‖v‖))²)``, for every
    pair of rows: ``X (n, d)``, ``Y (m, d)`` (``X`` when ``None``) -> ``(n, m)`` in ``[0, 1]``, float64.

    Squaring the cosine makes ``δ`` blind to scale and sign, ``δ(u, αu) = 0`` for every ``α ≠ 0``, as a POD basis is
    (it holds the line of ``u``, not ``u``); ``δ`` of orthogonal vectors is 1. It is evaluated as
    ``½ ‖û − v̂‖ ‖û + v̂‖`` (``= 2 sin(θ/2) cos(θ/2)`` for unit vectors ``û, v̂``), which keeps the small angles that
    ``1 − cos²`` would cancel away, and makes ``δ(X)`` exactly symmetric with a zero diagonal. A zero row has no
    direction: an error.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = X if Y is None else np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"sine_dissimilarity needs rows of equal length, X (n, d) and Y (m, d); got shapes {X.shape} "
                         f"and {Y.shape}")
    units = []
    for name, Z in (("X", X), ("Y", Y)):
        norm = np.linalg.norm(Z, axis=1)
        if not np.all(norm > 0):
            raise ValueError(f"sine_dissimilarity: rows {np.flatnonzero(norm == 0)[:10].tolist()} of {name} are zero "
                             f"vectors, which have no direction; drop them before clustering")
        units.append(Z / norm[:, None])
    U, V = units
    D = np.stack([np.linalg.norm(V - u, axis=1) * np.linalg.norm(V + u, axis=1) for u in U]) / 2
    return np.minimum(D, 1.0)


def kmedoids_plus_plus(D: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-medoids++ seeding: k-means++ (:func:`kmeans_plus_plus`) on a dissimilarity matrix ``D (n, n)``, each next
    medoid drawn with probability ∝ δ², the squared dissimilarity to the nearest medoid so far -> indices ``(k,)``."""
    medoids = [int(rng.integers(len(D)))]
    d2 = D[medoids[0]] ** 2
    for _ in range(1, k):
        total = d2.sum()
        index = int(rng.choice(len(D), p=d2 / total)) if total > 0 else int(rng.integers(len(D)))
        medoids.append(index)
        d2 = np.minimum(d2, D[index] ** 2)
    return np.array(medoids)


def _swap(D: np.ndarray, medoids: np.ndarray) -> np.ndarray:
    """PAM's swap phase: while some (medoid, non-medoid) exchange lowers the cost ``Σ_i min_j D[i, m_j]``, make the
    best one. For medoid slot ``j``, every candidate's cost is ``Σ_i min(D[i, c], min_{j' ≠ j} D[i, m_j'])``."""
    medoids = medoids.copy()
    while True:
        cost = D[:, medoids].min(1).sum()
        best = (cost * (1 - 1e-12), None, None)
        for j in range(len(medoids)):
            others = np.delete(medoids, j)
            rest = D[:, others].min(1) if len(others) else np.full(len(D), np.inf)
            costs = np.minimum(D, rest[:, None]).sum(0)  # (n,): the cost with candidate c in slot j
            costs[medoids] = np.inf
            c = int(costs.argmin())
            if costs[c] < best[0]:
                best = (costs[c], j, c)
        if best[1] is None:
            return medoids
        medoids[best[1]] = best[2]


def kmedoids(D: np.ndarray, k: int, *, n_init: int = 10, max_iter: int = 100, swap: bool = True, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray, float]:
    """k-medoids on a precomputed dissimilarity matrix: from each of ``n_init`` k-medoids++ starts, alternate
    (assign every point to its nearest medoid; make each cluster's medoid the member with the least summed
    dissimilarity to the others) until the medoids stop moving, then, with ``swap``, refine by PAM's swap phase;
    the start with the least cost wins.

    Args:
        D: symmetric dissimilarities ``(n, n)`` with a zero diagonal (e.g. :func:`sine_dissimilarity`).
        k: number of clusters, ``1 <= k <= n``.
    Returns:
        ``labels (n,)`` in ``0..k-1``, medoid indices ``(k,)`` (``labels[medoids[j]] == j``), cost
        ``Σ_i D[i, medoid of i]``.
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or not 1 <= k <= len(D):
        raise ValueError(f"kmedoids needs a square dissimilarity matrix (n, n) and 1 <= k <= n; got shape {D.shape} "
                         f"and k={k}")
    if not np.allclose(D, D.T) or np.any(np.diag(D) != 0) or np.any(D < 0):
        raise ValueError("kmedoids: D must be symmetric, non-negative and zero on its diagonal (a dissimilarity "
                         "matrix such as sine_dissimilarity(X))")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        medoids = kmedoids_plus_plus(D, k, rng)
        for _ in range(max_iter):
            labels = D[:, medoids].argmin(1)
            new = medoids.copy()
            for j in range(k):
                members = np.flatnonzero(labels == j)
                if len(members):  # a medoid is its own nearest medoid unless tied, so clusters rarely empty
                    new[j] = members[D[np.ix_(members, members)].sum(1).argmin()]
            if np.array_equal(new, medoids):
                break
            medoids = new
        if swap:
            medoids = _swap(D, medoids)
        labels = D[:, medoids].argmin(1)
        labels[medoids] = np.arange(k)  # a medoid tied with another stays in its own cluster
        cost = float(D[np.arange(len(D)), medoids[labels]].sum())
        if best is None or cost < best[2]:
            best = (labels, medoids, cost)
    return best
