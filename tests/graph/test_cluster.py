"""Bootstrap-AMG clustering of attributed graphs (zoo.graph.cluster) and the attributed SBM generator, checked against
hand-built graphs, networkx, scipy and sklearn in float64."""

import networkx as nx
import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.csgraph import laplacian
from scipy.spatial.distance import cdist
from sklearn.metrics import normalized_mutual_info_score

from zoo.data.graph.attributed_sbm import attributed_sbm, planted_partition
from zoo.graph.cluster import augment_attributes, bamg_cluster, block_distance, smooth_vectors, super_nodes

pytest.importorskip("pyamg")


@pytest.fixture(scope="module")
def clear_sbm():
    """200 vertices, 4 well-separated blocks (mean degree ≈ 25 inside, ≈ 3 across): the 4 lowest Laplacian
    eigenvectors are the block structure, with a gap λ₄ ≈ 3.7 < λ₅ ≈ 17."""
    return attributed_sbm(n=200, n_blocks=4, p_in=0.5, p_out=0.02, n_attrs=2, n_values=5, rho=0.7, seed=0)


def test_augmentation_by_hand():
    # path 0 - 1 - 2 (weights 2, 3); attribute 0 takes values {0, 1}, attribute 1 takes values {5, 7}
    adj = sp.csr_array(np.array([[0, 2, 0], [2, 0, 3], [0, 3, 0]], dtype=float))
    attrs = np.array([[0, 5], [1, 5], [0, 7]])
    adj_aug, value_index = augment_attributes(adj, attrs, weight=0.5)
    # value vertices: 3 = (a0, 0), 4 = (a0, 1), 5 = (a1, 5), 6 = (a1, 7)
    expected = np.zeros((7, 7))
    expected[:3, :3] = adj.toarray()
    for i, value_nodes in enumerate([(3, 5), (4, 5), (3, 6)]):
        for v in value_nodes:
            expected[i, v] = expected[v, i] = 0.5
    np.testing.assert_array_equal(adj_aug.toarray(), expected)
    np.testing.assert_array_equal(value_index, [[3, 5], [4, 5], [3, 6]])
    assert (adj_aug.nnz - adj.nnz) // 2 == 3 * 2  # n · n_attr new edges


def test_augmentation_matches_networkx(clear_sbm):
    adj, attrs, _ = clear_sbm
    n, n_attr = attrs.shape
    adj_aug, value_index = augment_attributes(adj, attrs)
    graph = nx.from_scipy_sparse_array(adj)
    for i in range(n):
        for a in range(n_attr):
            graph.add_edge(i, ("value", a, int(attrs[i, a])), weight=1.0)
    n_values = sum(len(np.unique(attrs[:, a])) for a in range(n_attr))
    assert adj_aug.shape == (graph.number_of_nodes(),) * 2 == (n + n_values,) * 2
    assert (adj_aug.nnz // 2, graph.number_of_edges()) == (adj.nnz // 2 + n * n_attr,) * 2
    # value_index names each value vertex: networkx's adjacency in that vertex order must be adj_aug
    order = list(range(n)) + [None] * n_values
    for i in range(n):
        for a in range(n_attr):
            order[value_index[i, a]] = ("value", a, int(attrs[i, a]))
    reference = nx.to_scipy_sparse_array(graph, nodelist=order, weight="weight")
    np.testing.assert_array_equal(adj_aug.toarray(), reference.toarray())
    # the Laplacian the clustering embeds: rows sum to 0, and it is networkx's
    L = laplacian(adj_aug)
    np.testing.assert_allclose(L @ np.ones(adj_aug.shape[0]), 0.0, atol=1e-12)
    np.testing.assert_allclose(L.toarray(), nx.laplacian_matrix(graph, nodelist=order).toarray())


def test_block_distance_is_euclidean_distance_of_concatenation():
    rng = np.random.default_rng(0)
    blocks, centres = rng.standard_normal((30, 3, 5)), rng.standard_normal((4, 3, 5))
    np.testing.assert_allclose(block_distance(blocks, centres), cdist(blocks.reshape(30, -1), centres.reshape(4, -1)),
                               rtol=1e-12)
    W, value_index = rng.standard_normal((12, 5)), rng.integers(8, 12, size=(8, 2))
    blocks = super_nodes(W, value_index)
    np.testing.assert_array_equal(blocks[:, 0], W[:8])
    np.testing.assert_array_equal(blocks[:, 1:], W[value_index])


@pytest.mark.parametrize("method", ["bootstrap", "adaptive_sa", "eig"])
def test_smooth_vectors_span_the_low_eigenvectors(clear_sbm, method):
    adj, _, _ = clear_sbm
    L = laplacian(adj)
    _, eigvecs = sla.eigh(L.toarray())
    W = smooth_vectors(L, 4, method=method, seed=0)
    np.testing.assert_allclose(W.T @ W, np.eye(4), atol=1e-10)
    rayleigh = np.einsum("ij,ij->j", W, L @ W)
    noise = np.random.default_rng(1).standard_normal((L.shape[0], 16))
    random_rayleigh = np.einsum("ij,ij->j", noise, L @ noise) / np.einsum("ij,ij->j", noise, noise)
    assert rayleigh.max() < 0.2 * random_rayleigh.min()
    angles = np.degrees(sla.subspace_angles(W, eigvecs[:, :4]))
    assert angles.max() < (1e-6 if method == "eig" else 10.0)
    np.random.seed(5)  # reproducible for a seed, whatever numpy's global generator holds (pyamg draws from it)
    np.testing.assert_array_equal(smooth_vectors(L, 4, method=method, seed=0), W)


def test_bamg_cluster_recovers_a_clear_sbm(clear_sbm):
    adj, attrs, blocks = clear_sbm
    matching = np.repeat(blocks[:, None], 2, axis=1)  # attributes that agree with the structure (rho = 1)
    for attributes, block in ((matching, True), (attrs, False), (None, True)):
        labels = bamg_cluster(adj, attributes, n_clusters=4, k=4, block=block, seed=0)
        assert labels.shape == (200,)
        assert normalized_mutual_info_score(blocks, labels) > 0.99


def test_attributed_sbm():
    p_in, p_out = planted_partition(c=10.0, epsilon=0.25, n=1000, n_blocks=4)
    assert (p_in * 1000 + 3 * p_out * 1000) / 4 == pytest.approx(10.0) and p_out / p_in == pytest.approx(0.25)
    adj, attrs, blocks = attributed_sbm(n=103, n_blocks=4, p_in=0.3, p_out=0.05, n_attrs=3, rho=1.0, seed=2)
    assert adj.shape == (103, 103) and (adj != adj.T).nnz == 0 and adj.diagonal().sum() == 0
    assert np.bincount(blocks).tolist() == [26, 26, 26, 25]
    np.testing.assert_array_equal(attrs, np.repeat(blocks[:, None], 3, axis=1))
    _, attrs, blocks = attributed_sbm(n=2000, rho=0.0, seed=3)
    assert attrs.min() >= 0 and attrs.max() == 4 and not (attrs == blocks[:, None]).any()


def test_bad_inputs(clear_sbm):
    adj, attrs, _ = clear_sbm
    with pytest.raises(ValueError, match=r"attrs must have shape \(n, n_attr\)"):
        augment_attributes(adj, attrs[:-1])
    with pytest.raises(ValueError, match="non-negative category codes"):
        augment_attributes(adj, attrs - 1)
    with pytest.raises(TypeError, match="integer category codes"):
        augment_attributes(adj, attrs.astype(float))
    with pytest.raises(ValueError, match="symmetric"):
        augment_attributes(sp.triu(adj, format="csr"), attrs)
    with pytest.raises(TypeError, match="scipy sparse"):
        augment_attributes(adj.toarray(), attrs)
    with pytest.raises(ValueError, match="at least n_clusters"):
        bamg_cluster(adj, attrs, n_clusters=4, k=3)
    with pytest.raises(ValueError, match="unknown method 'lobpcg'"):
        smooth_vectors(laplacian(adj), 4, method="lobpcg")
    with pytest.raises(ValueError, match="n_values must be at least n_blocks"):
        attributed_sbm(n=100, n_blocks=6, n_values=5)
