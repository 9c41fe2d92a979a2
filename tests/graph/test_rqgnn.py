import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.sparse import csgraph
from torch_geometric.data import Batch, Data

import zoo
from zoo.graph.rqgnn import ChebyshevWavelet, rayleigh_quotient


def undirected(pairs) -> torch.Tensor:
    edges = torch.tensor(pairs, dtype=torch.long).T
    return torch.cat([edges, edges.flip(0)], dim=1)


def scipy_laplacian(edge_index: torch.Tensor, n: int) -> np.ndarray:
    adjacency = np.zeros((n, n))
    adjacency[edge_index[0].numpy(), edge_index[1].numpy()] = 1.0
    return csgraph.laplacian(adjacency, normed=True)


# a triangle with a tail (0-1-2-0, 2-3) and an isolated node 4
EDGES = undirected([(0, 1), (1, 2), (2, 0), (2, 3)])
N = 5


def test_rayleigh_quotient_matches_scipy_laplacian_with_isolated_node():
    laplacian = scipy_laplacian(EDGES, N)
    assert laplacian[4, 4] == 0  # scipy's convention for an isolated node
    x = torch.randn(N, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[:, 2] = 0  # an empty channel
    expected = [(x[:, c].numpy() @ laplacian @ x[:, c].numpy()) / (x[:, c].numpy() @ x[:, c].numpy()) for c in (0, 1)]
    r = rayleigh_quotient(x, EDGES)
    assert r.shape == (1, 3)
    np.testing.assert_allclose(r[0, :2].numpy(), expected, rtol=1e-12)
    assert r[0, 2] == 0
    numerator = rayleigh_quotient(x, EDGES, form="numerator")
    np.testing.assert_allclose(numerator[0, :2].numpy(),
                               [x[:, c].numpy() @ laplacian @ x[:, c].numpy() for c in (0, 1)], rtol=1e-12)


def test_rayleigh_quotient_of_an_eigenvector_is_its_eigenvalue():
    eigenvalues, eigenvectors = np.linalg.eigh(scipy_laplacian(EDGES, N))
    r = rayleigh_quotient(torch.from_numpy(eigenvectors), EDGES)
    np.testing.assert_allclose(r[0].numpy(), eigenvalues, atol=1e-12)


def test_rayleigh_quotient_per_graph_in_a_batch():
    x = torch.randn(N + 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    path = undirected([(0, 1), (1, 2)]) + N
    batch = torch.tensor([0] * N + [1] * 3)
    r = rayleigh_quotient(x, torch.cat([EDGES, path], dim=1), batch)
    laplacian = scipy_laplacian(undirected([(0, 1), (1, 2)]), 3)
    second = x[N:].numpy()
    np.testing.assert_allclose(r[1].numpy(), np.diag(second.T @ laplacian @ second) / (second ** 2).sum(0), rtol=1e-12)
    np.testing.assert_allclose(r[0].numpy(), rayleigh_quotient(x[:N], EDGES)[0].numpy(), rtol=1e-12)


def test_chebyshev_wavelet_matches_explicit_polynomial():
    torch.manual_seed(0)
    wavelet = ChebyshevWavelet(3, 2, K=4).double()
    h = torch.randn(N, 3, dtype=torch.float64)
    shifted = torch.from_numpy(scipy_laplacian(EDGES, N)) - torch.eye(N, dtype=torch.float64)
    terms = [h, shifted @ h]
    terms.append(2 * shifted @ terms[1] - terms[0])
    terms.append(2 * shifted @ terms[2] - terms[1])
    expected = sum(term @ theta for term, theta in zip(terms, wavelet.theta)) + wavelet.bias
    torch.testing.assert_close(wavelet(h, EDGES), expected, rtol=1e-12, atol=1e-12)


def graphs(in_channels: int):
    generator = torch.Generator().manual_seed(3)
    data = []
    for n, pairs in ((5, [(0, 1), (1, 2), (2, 0), (2, 3)]), (4, [(0, 1), (1, 2), (2, 3), (3, 0)])):
        labels = torch.randint(in_channels, (n,), generator=generator)
        data.append(Data(x=F.one_hot(labels, in_channels).double(), edge_index=undirected(pairs)))
    return data


@pytest.mark.parametrize("freeze", [False, True])
def test_wavelets_train_unless_frozen(freeze):
    torch.manual_seed(0)
    model = zoo.create_model("rqgnn", in_channels=4, hidden=8, freeze_wavelets=freeze).double()
    model(Batch.from_data_list(graphs(4))).square().sum().backward()
    names = [name for name, _ in model.named_parameters()]
    assert any(name.startswith("wavelets.") for name in names)  # registered (state_dict, .to(device))
    for name, param in model.named_parameters():
        if name.startswith("wavelets."):
            assert param.requires_grad is not freeze
            assert (param.grad is None) is freeze
            if not freeze:
                assert param.grad.abs().sum() > 0, name


def test_graph_output_is_permutation_invariant():
    torch.manual_seed(0)
    model = zoo.create_model("rqgnn", in_channels=4, hidden=8).double().eval()
    data = graphs(4)
    permuted = []
    for graph in data:
        perm = torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(7))
        inverse = torch.argsort(perm)
        permuted.append(Data(x=graph.x[perm], edge_index=inverse[graph.edge_index]))
    torch.testing.assert_close(model(Batch.from_data_list(permuted)), model(Batch.from_data_list(data)),
                               rtol=1e-10, atol=1e-10)


def test_registry_example_and_bad_input():
    model = zoo.create_model("rqgnn")
    inputs, shape = zoo.model_info("rqgnn").example(model)
    assert model(inputs).shape == shape == (3, 2)
    assert zoo.model_info("rqgnn").family == "graph"
    inputs.x = inputs.x[:, :5]
    with pytest.raises(ValueError, match="in_channels=16"):
        model(inputs)
    with pytest.raises(ValueError, match="rq_form"):
        zoo.create_model("rqgnn", rq_form="paper")


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
def test_anomaly_task_weights_the_focal_loss_by_the_class_counts():
    from zoo.tasks.anomaly import AnomalyTask

    data = graphs(4)
    for graph, label in zip(data, (0, 1)):
        graph.y = torch.tensor([label])
    batch = Batch.from_data_list(data)
    model = {"name": "rq_logistic", "in_channels": 4}
    with pytest.raises(ValueError, match="class_counts"):
        AnomalyTask(model, {"name": "Adam", "lr": 0.01}).shared_step(batch, "train")
    task = AnomalyTask(model, {"name": "Adam", "lr": 0.01}, class_counts=[90, 10], gamma=2.0).double()
    loss = task.shared_step(batch, "train")
    logits = task.model(batch).detach().numpy()
    raw = np.array([(1 - 0.999) / (1 - 0.999 ** 90), (1 - 0.999) / (1 - 0.999 ** 10)])
    weights = 2 * raw / raw.sum()
    expected = 0.0
    for b, y in enumerate((0, 1)):
        for c in range(2):
            p = 1 / (1 + np.exp(-logits[b, c]))
            p_t = p if c == y else 1 - p
            expected += weights[y] * (1 - p_t) ** 2 * -np.log(p_t)
    assert loss.item() == pytest.approx(expected / 2, rel=1e-6)


def test_shared_chebyshev_basis_matches_the_per_filter_implementation(a78ab53):
    """Same weights, same logits (training and eval mode) and gradients as commit a78ab53's RQGNN, whose q filters
    each rebuilt the normalised adjacency and propagated on their own (tests/graph/conftest.py)."""
    expected = a78ab53["rqgnn"]
    model = zoo.create_model("rqgnn", in_channels=5, hidden=8, dropout=0.0).double()
    torch.nn.utils.vector_to_parameters(expected["params"], model.parameters())
    batch = Batch(x=expected["x"], edge_index=expected["edge_index"], batch=expected["batch"])
    logits = model.train()(batch)
    (logits * expected["weights"]).sum().backward()
    with torch.no_grad():
        logits_eval = model.eval()(batch)
    for name, value in [("logits_train", logits), ("grads", torch.cat([p.grad.flatten() for p in model.parameters()])),
                        ("logits_eval", logits_eval)]:
        torch.testing.assert_close(value, expected[name], rtol=1e-9, atol=1e-9, msg=name)
