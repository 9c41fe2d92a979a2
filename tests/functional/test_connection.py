"""The connection Laplacian: L ⊗ I_d on a plane with identity frames, orthogonal connections, symmetric PSD, d zero
eigenvalues on a flat torus and none on the sphere (hairy ball), clear errors; float64."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from zoo.functional.connection import connection_laplacian, connections, knn_graph, tangent_frames
from zoo.graph import connection_laplacian as graph_connection_laplacian


def planar_grid(side: int = 8) -> np.ndarray:
    u, v = np.meshgrid(np.arange(side, dtype=float), np.arange(side, dtype=float), indexing="ij")
    return np.stack([u.ravel(), v.ravel(), np.zeros(side * side)], axis=1)      # the plane z = 0 in R³


def flat_torus(n_u: int = 24, n_v: int = 24) -> np.ndarray:
    """The flat torus ``(cos u, sin u, cos v, sin v)`` in R⁴ on a grid: zero curvature, trivial holonomy."""
    u, v = np.meshgrid(2 * np.pi * np.arange(n_u) / n_u, 2 * np.pi * np.arange(n_v) / n_v, indexing="ij")
    return np.stack([np.cos(u).ravel(), np.sin(u).ravel(), np.cos(v).ravel(), np.sin(v).ravel()], axis=1)


def fibonacci_sphere(n: int = 600) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z**2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def smallest(L: sp.csr_matrix, k: int) -> np.ndarray:
    return np.linalg.eigvalsh(L.toarray())[:k]


def test_on_a_plane_with_identity_frames_it_is_the_graph_laplacian_times_the_identity():
    points = planar_grid()
    frames = np.tile(np.eye(3)[:, :2], (len(points), 1, 1))
    L_c, returned = connection_laplacian(points, n_neighbors=4, frames=frames)
    W = knn_graph(points, 4)
    L = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
    np.testing.assert_array_equal(L_c.toarray(), np.kron(L.toarray(), np.eye(2)))
    torch.testing.assert_close(returned, torch.from_numpy(frames))
    eigenvalues = np.linalg.eigvalsh(L.toarray())
    np.testing.assert_allclose(np.linalg.eigvalsh(L_c.toarray()), np.sort(np.repeat(eigenvalues, 2)), atol=1e-12)


def test_connections_are_orthogonal_and_transposes_of_each_other():
    points = fibonacci_sphere(300)
    frames = tangent_frames(points, 10)
    W = knn_graph(points, 10).tocoo()
    O = connections(frames, W.row, W.col)
    np.testing.assert_allclose(O @ np.swapaxes(O, 1, 2), np.broadcast_to(np.eye(2), O.shape), atol=1e-12)
    back = connections(frames, W.col, W.row)
    np.testing.assert_allclose(back, np.swapaxes(O, 1, 2), atol=1e-12)


def test_local_pca_finds_the_dimension_and_the_tangent_plane_of_the_sphere():
    points = fibonacci_sphere(600)
    frames = tangent_frames(points, 10)
    assert frames.shape == (600, 3, 2)
    np.testing.assert_allclose(np.einsum("nDa,nDb->nab", frames, frames), np.broadcast_to(np.eye(2), (600, 2, 2)),
                               atol=1e-12)
    assert np.abs(np.einsum("nD,nDa->na", points, frames)).max() < 0.1     # ⟂ the normal (= the point), to O(h)


@pytest.mark.parametrize("cloud", ["sphere", "torus"])
def test_the_connection_laplacian_is_symmetric_positive_semidefinite(cloud):
    points = fibonacci_sphere(400) if cloud == "sphere" else flat_torus(16, 16)
    L_c, frames = connection_laplacian(torch.from_numpy(points), n_neighbors=8)
    dense = L_c.toarray()
    assert frames.shape == (len(points), points.shape[1], 2) and frames.dtype == torch.float64
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    assert np.linalg.eigvalsh(dense)[0] > -1e-10


def test_the_flat_torus_has_d_parallel_fields_and_the_sphere_none():
    torus, _ = connection_laplacian(flat_torus(), n_neighbors=8)
    low = smallest(torus, 3)
    assert low[1] < 1e-3 * low[2]                           # two zero eigenvalues, then the spectral gap
    sphere, _ = connection_laplacian(fibonacci_sphere(), n_neighbors=10)
    W = knn_graph(fibonacci_sphere(), 10)
    scalar = smallest(sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W, 2)
    assert scalar[0] < 1e-10                                 # the scalar Laplacian has its constant function
    assert smallest(sphere, 1)[0] > 0.1 * scalar[1]          # no parallel vector field on S² (hairy ball)


def test_bad_input_names_the_key():
    with pytest.raises(ValueError, match="n_neighbors=10 needs 1 <= n_neighbors < the 5 points"):
        connection_laplacian(np.random.default_rng(0).normal(size=(5, 3)), n_neighbors=10)
    with pytest.raises(ValueError, match=r"points must be \(n, D\)"):
        connection_laplacian(np.zeros(7), n_neighbors=2)
    with pytest.raises(ValueError, match=r"frames must be \(n, D, d\)"):
        connection_laplacian(planar_grid(3), n_neighbors=2, frames=np.zeros((9, 2, 2)))
    with pytest.raises(ValueError, match="dim=4"):
        tangent_frames(planar_grid(4), 4, dim=4)


def test_the_graph_family_exports_it():
    assert graph_connection_laplacian is connection_laplacian
