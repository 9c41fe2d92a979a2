"""Snapshot clustering for local reduced-order bases (Daniel, Casenave, Akkari, Ketata & Ryckelynck, "Physics-informed
cluster analysis and a priori efficiency criterion for the construction of local reduced-order bases").

Snapshots ``u_i ∈ R^n`` of a parametric problem are split into ``K`` clusters, one local POD basis each
(:mod:`zoo.rom.pod`). The paper's point is the dissimilarity: a POD basis spans lines, so the sine of the angle
between two snapshots,

    δ(u, v) = √(1 − (⟨u, v⟩ / (‖u‖ ‖v‖))²)        (:func:`zoo.functional.clustering.sine_dissimilarity`)

blind to scale and sign (``δ(u, αu) = 0``, the cosine squared: the notes' ``|cos|``), clustered by k-medoids (a
dissimilarity without a mean), gathers snapshots that one low-dimensional space holds; Euclidean k-means instead splits
collinear snapshots of different amplitudes. :func:`cluster_snapshots` offers both, plus Euclidean k-medoids.
A new snapshot belongs to the cluster of its nearest medoid (or centre) by the same dissimilarity
(:func:`assign_clusters`).
"""

from __future__ import annotations

import numpy as np

from zoo.functional.clustering import kmeans, kmedoids, sine_dissimilarity, squared_distances

DISSIMILARITIES = ("sine", "euclid")
METHODS = ("kmedoids", "kmeans")


def pairwise_dissimilarity(X, Y, kind: str) -> np.ndarray:
    """``δ(x_i, y_j)`` for rows ``X (n, d)``, ``Y (m, d)`` -> ``(n, m)``: ``kind`` ``"sine"`` or ``"euclid"``
    (``‖x − y‖``)."""
    if kind not in DISSIMILARITIES:
        raise ValueError(f"dissimilarity={kind!r}: expected one of {DISSIMILARITIES}")
    if kind == "sine":
        return sine_dissimilarity(X, Y)
    return np.sqrt(squared_distances(np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)))


def cluster_snapshots(S, k: int, *, dissimilarity: str = "sine", method: str = "kmedoids", seed: int = 0,
                      n_init: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Cluster snapshots ``S (n_snap, n)`` into ``k`` groups.

    ``method="kmedoids"`` (the paper's, with ``dissimilarity="sine"``; ``"euclid"`` also works) or ``"kmeans"``
    (Lloyd, Euclidean only: the sine has no mean). Returns ``labels (n_snap,)`` in ``0..k-1`` and the clusters'
    representatives ``(k, n)``: the medoid snapshots, or k-means' centres; :func:`assign_clusters` assigns new
    snapshots to them.
    """
    S = _snapshots(S, "S")
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {METHODS}")
    if method == "kmeans":
        if dissimilarity != "euclid":
            raise ValueError(f"method='kmeans' with dissimilarity={dissimilarity!r}: k-means needs the mean of a "
                             f"cluster, which only 'euclid' has; use method='kmedoids' for the sine dissimilarity")
        labels, centres, _ = kmeans(S, k, n_init=n_init, seed=seed)
        return labels, centres
    D = pairwise_dissimilarity(S, S, dissimilarity)
    if dissimilarity == "euclid":  # the Gram form leaves round-off on the diagonal and between the triangles
        D = (D + D.T) / 2
        np.fill_diagonal(D, 0.0)
    labels, medoids, _ = kmedoids(D, k, n_init=n_init, seed=seed)
    return labels, S[medoids]


def assign_clusters(U, representatives, *, dissimilarity: str = "sine") -> np.ndarray:
    """The cluster of each snapshot ``U (n_u, n)``: its nearest representative ``(k, n)`` (medoids or centres of
    :func:`cluster_snapshots`) by ``dissimilarity`` -> ``(n_u,)``."""
    U, R = _snapshots(U, "U"), _snapshots(representatives, "representatives")
    if U.shape[1] != R.shape[1]:
        raise ValueError(f"snapshots of {U.shape[1]} values and representatives of {R.shape[1]}: both must live on the "
                         f"same grid")
    return pairwise_dissimilarity(U, R, dissimilarity).argmin(1)


def _snapshots(S, name: str) -> np.ndarray:
    S = S.detach().cpu().numpy() if hasattr(S, "detach") else np.asarray(S)
    S = S.astype(np.float64)
    if S.ndim != 2 or not np.all(np.isfinite(S)):
        problem = f"shape {S.shape}" if S.ndim != 2 else "non-finite values"
        raise ValueError(f"{name}: expected finite snapshots as rows, (n_snap, n); got {problem} (flatten fields with "
                         f"S.reshape(n_snap, -1))")
    return S
