import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.utils import from_networkx

from zoo.functional import LaplacianEigenpairs, eigvec_mask, laplacian_eigenpairs, normalized_laplacian


def pyg(graph: nx.Graph):
    data = from_networkx(nx.convert_node_labels_to_integers(graph))
    data.num_nodes = graph.number_of_nodes()
    return data


def nx_laplacian(graph: nx.Graph) -> torch.Tensor:
    graph = nx.convert_node_labels_to_integers(graph)
    return torch.from_numpy(nx.normalized_laplacian_matrix(graph, nodelist=range(len(graph))).toarray())


@pytest.mark.parametrize("graph", [nx.cycle_graph(7), nx.petersen_graph(), nx.path_graph(5), nx.star_graph(4),
                                   nx.gnp_random_graph(12, 0.3, seed=1)])
def test_laplacian_matches_networkx(graph):
    data = pyg(graph)
    assert torch.allclose(normalized_laplacian(data.edge_index, data.num_nodes), nx_laplacian(graph), atol=1e-12)


@pytest.mark.parametrize("n", [5, 8])
def test_cycle_spectrum_closed_form(n):
    """C_n is 2-regular: L = I − A/2, eigenvalues 1 − cos(2πk/n), k = 0..n−1."""
    data = LaplacianEigenpairs(width=10, dtype=torch.float64)(pyg(nx.cycle_graph(n)))
    expected = np.sort([1 - math.cos(2 * math.pi * k / n) for k in range(n)])
    assert data.eigvals.shape == (1, 10) and data.eigvecs.shape == (n, 10)
    assert np.allclose(data.eigvals[0, :n].numpy(), expected, atol=1e-12)
    assert torch.all(data.eigvals[0, n:] == 0) and torch.all(data.eigvecs[:, n:] == 0)
    V = data.eigvecs[:, :n]
    L = nx_laplacian(nx.cycle_graph(n))
    assert torch.allclose(V.T @ V, torch.eye(n, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(L @ V, V * data.eigvals[0, :n], atol=1e-12)


def test_petersen_spectrum_closed_form():
    """Petersen: 3-regular, adjacency spectrum 3, 1 (×5), −2 (×4), so L = I − A/3 has 0, 2/3 (×5), 5/3 (×4)."""
    values, _ = laplacian_eigenpairs(normalized_laplacian(pyg(nx.petersen_graph()).edge_index, 10))
    assert torch.allclose(values, torch.tensor([0.0] + [2 / 3] * 5 + [5 / 3] * 4, dtype=torch.float64), atol=1e-12)


def test_eigengap_extension_keeps_whole_eigenspaces():
    L = normalized_laplacian(pyg(nx.petersen_graph()).edge_index, 10)
    assert laplacian_eigenpairs(L, d=1)[0].numel() == 1  # λ₁ = 0 is simple
    for d in range(2, 7):  # any cut inside the 2/3 eigenspace extends to its end
        assert laplacian_eigenpairs(L, d=d)[0].numel() == 6
    assert laplacian_eigenpairs(L, d=7)[0].numel() == 10
    values, vectors = laplacian_eigenpairs(nx_laplacian(nx.cycle_graph(8)), d=2)  # 1 − cos(π/4) is double
    assert values.numel() == 3 and vectors.shape == (8, 3)
    data = LaplacianEigenpairs(width=8, d=2)(pyg(nx.cycle_graph(8)))
    assert (data.eigvecs.abs().sum(0) > 0).tolist() == [True] * 3 + [False] * 5


def test_isolated_nodes_follow_scipy_convention():
    graph = nx.path_graph(3)
    graph.add_nodes_from([3, 4])
    data = pyg(graph)
    L = normalized_laplacian(data.edge_index, 5)
    assert torch.allclose(L, nx_laplacian(graph), atol=1e-12)
    assert L[3, 3] == 0 and L[4, 4] == 0
    values, vectors = laplacian_eigenpairs(L)
    assert torch.allclose(values[:3], torch.zeros(3, dtype=torch.float64), atol=1e-12)  # three components
    assert torch.allclose(values[3:], torch.tensor([1.0, 2.0], dtype=torch.float64), atol=1e-12)  # path P3
    assert torch.allclose(vectors[3:, :3].abs().sum(0).sort().values, torch.tensor([0.0, 1, 1], dtype=torch.float64))


def test_small_graphs_n_at_most_d_are_padded():
    for n in (1, 2, 3):
        data = LaplacianEigenpairs(width=6, d=4)(pyg(nx.complete_graph(n)))
        assert data.eigvals.shape == (1, 6) and data.eigvecs.shape == (n, 6)
        assert int((data.eigvecs.abs().sum(0) > 0).sum()) == n
    single = LaplacianEigenpairs(width=3)(pyg(nx.empty_graph(1)))
    assert single.eigvals.tolist() == [[0.0, 0.0, 0.0]] and single.eigvecs.abs().tolist() == [[1.0, 0.0, 0.0]]


def test_batching_and_padding_mask():
    transform = LaplacianEigenpairs(width=10)
    batch = Batch.from_data_list([transform(pyg(nx.cycle_graph(4))), transform(pyg(nx.petersen_graph()))])
    assert batch.eigvals.shape == (2, 10) and batch.eigvecs.shape == (14, 10)
    mask = eigvec_mask(batch.eigvecs, batch.batch, 2)
    assert mask.sum(1).tolist() == [4, 10]


def test_edge_weights_enter_the_laplacian():
    data = pyg(nx.path_graph(3))
    weight = torch.tensor([1.0, 1.0, 3.0, 3.0])  # edges (0,1), (1,0), (1,2), (2,1)
    L = normalized_laplacian(data.edge_index, 3, weight)
    assert torch.isclose(L[1, 2], torch.tensor(-3 / math.sqrt(4 * 3), dtype=torch.float64))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="raise width"):
        LaplacianEigenpairs(width=5)(pyg(nx.cycle_graph(8)))
    with pytest.raises(ValueError, match="raise width"):
        LaplacianEigenpairs(width=3, d=2)(pyg(nx.petersen_graph()))
    with pytest.raises(ValueError, match="not undirected"):
        normalized_laplacian(torch.tensor([[0], [1]]), 2)
    with pytest.raises(ValueError, match="num_nodes"):
        normalized_laplacian(torch.tensor([[0, 5], [5, 0]]), 3)
