"""Errors of a predicted tangent vector field on a point cloud, and its singularities, as RVGP (Peach et al., ICLR
2024) reports them. Fields are ``(n, D)`` ambient vectors at the nodes; frames ``T (n, D, d)`` have orthonormal columns
spanning the tangent planes.

* :func:`field_relative_l2`: ``‖V̂ − V‖_F / ‖V‖_F`` over the whole field;
* :func:`mean_angular_error`: the mean angle (degrees) between ``v̂_i`` and ``v_i`` over the nodes where ``v_i ≠ 0``;
* :func:`normal_fraction`: ``‖N Nᵀ V̂‖_F / ‖V̂‖_F``, the share of the prediction off the tangent planes, for unit
  normals ``N``;
* :func:`field_singularities`: the zeros of a field on a surface (``d = 2``) and their Poincaré–Hopf indices, by the
  winding number of the field around a small loop at every node: the node's ``k`` nearest neighbours, ordered by
  angle in its tangent plane, with their vectors expressed in the node's frame. Loops that wind (``w_i ≠ 0``) are
  grouped into connected clusters of the kNN graph; a cluster is one singularity, at the centroid of its nodes, of
  index the ``w_i`` of its node with the smallest ``‖v_i‖`` (the nearest to the zero: near a zero of index ±2
  the loops that pass by it, without enclosing it, can also wind, by ±1);
* :func:`singularity_error`: the distance from a true singularity to the nearest detected one of the same index.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from torch import Tensor

from zoo.functional.connection import knn_graph


def field_relative_l2(prediction: Tensor, target: Tensor) -> Tensor:
    """``‖V̂ − V‖_F / ‖V‖_F`` of two ``(n, D)`` fields."""
    return (prediction - target).norm() / target.norm()


def mean_angular_error(prediction: Tensor, target: Tensor, rtol: float = 1e-8) -> Tensor:
    """Mean angle in degrees between the rows of ``prediction`` and ``target (n, D)``, over the rows with
    ``‖v_i‖ > rtol max_j ‖v_j‖`` (a zero true vector has no direction); a zero predicted vector counts 90°."""
    norm = target.norm(dim=1)
    keep = norm > rtol * norm.max()
    cosine = (prediction[keep] * target[keep]).sum(1) / (prediction[keep].norm(dim=1) * norm[keep]).clamp_min(1e-300)
    return torch.rad2deg(torch.arccos(cosine.clamp(-1, 1))).mean()


def normal_fraction(prediction: Tensor, normals: Tensor) -> Tensor:
    """``‖N Nᵀ V̂‖_F / ‖V̂‖_F`` of ``prediction (n, D)`` against orthonormal normals ``N (n, D, D − d)``, or
    ``(n, D)`` for a hypersurface's unit normal."""
    normals = normals[..., None] if normals.dim() == 2 else normals
    return torch.einsum("nac,nc->na", normals, torch.einsum("nac,na->nc", normals, prediction)).norm() / \
        prediction.norm()


def winding_numbers(points: np.ndarray, vectors: np.ndarray, frames: np.ndarray, n_neighbors: int = 8) -> np.ndarray:
    """``w (n,)`` int: the turns of ``vectors (n, D)`` around each node's loop of ``n_neighbors`` neighbours (module
    doc); ``points (n, D)``, ``frames (n, D, 2)``."""
    if frames.shape[2] != 2:
        raise ValueError(f"winding numbers need a surface: frames must be (n, D, 2), got {frames.shape}")
    _, index = cKDTree(points).query(points, k=n_neighbors + 1)
    ring = index[:, 1:]                                                          # (n, k)
    offsets = np.einsum("nkD,nDa->nka", points[ring] - points[:, None], frames)  # neighbours in the node's plane
    order = np.argsort(np.arctan2(offsets[..., 1], offsets[..., 0]), axis=1)
    ring = np.take_along_axis(ring, order, axis=1)
    local = np.einsum("nkD,nDa->nka", vectors[ring], frames)                     # their vectors in the node's frame
    angle = np.arctan2(local[..., 1], local[..., 0])
    turn = np.diff(np.concatenate([angle, angle[:, :1]], axis=1), axis=1)
    return np.rint(((turn + np.pi) % (2 * np.pi) - np.pi).sum(1) / (2 * np.pi)).astype(int)


def field_singularities(points, vectors, frames, n_neighbors: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Singularities of a tangent field on a surface (module doc): locations ``(s, D)`` and indices ``(s,)`` (the
    sum of the indices is the Euler characteristic when every zero is found: 2 on S², 0 on the torus).

    ``points (n, D)``, ``vectors (n, D)``, ``frames (n, D, 2)``, arrays or tensors."""
    points, vectors, frames = (np.asarray(torch.as_tensor(a, dtype=torch.float64).detach().cpu())
                               for a in (points, vectors, frames))
    if not (points.shape == vectors.shape == frames.shape[:2]):
        raise ValueError(f"points {points.shape} and vectors {vectors.shape} must be (n, D) and frames "
                         f"{frames.shape} (n, D, 2)")
    winding = winding_numbers(points, vectors, frames, n_neighbors)
    flagged = np.flatnonzero(winding)
    if not len(flagged):
        return np.zeros((0, points.shape[1])), np.zeros(0, dtype=int)
    count, label = connected_components(knn_graph(points, n_neighbors)[flagged][:, flagged], directed=False)
    locations = np.stack([points[flagged[label == c]].mean(0) for c in range(count)])
    norms = np.linalg.norm(vectors, axis=1)
    indices = np.array([winding[min(flagged[label == c], key=norms.__getitem__)] for c in range(count)])
    return locations, indices


def singularity_error(locations: np.ndarray, indices: np.ndarray, true_location: np.ndarray,
                      true_index: int) -> float:
    """The distance from ``true_location (D,)`` to the nearest of ``locations (s, D)`` whose index is
    ``true_index``; ``inf`` when there is none (the singularity is not recovered)."""
    same = locations[indices == true_index]
    return float(np.linalg.norm(same - true_location, axis=1).min()) if len(same) else math.inf
