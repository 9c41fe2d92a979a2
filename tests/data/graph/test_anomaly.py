import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from zoo.data.graph.anomaly import SpectralAnomalyDataModule, generate_anomaly_dataset, stratified_split
from zoo.graph import rayleigh_quotient


def graphs_of(arrays):
    """Per graph: (node labels, networkx graph) from the generator's arrays."""
    out = []
    for graph in range(len(arrays["graph_labels"])):
        nodes = torch.nonzero(arrays["graph_indicator"] == graph).flatten()
        first = int(nodes[0])
        mask = (arrays["graph_indicator"][arrays["edges"][:, 0]] == graph)
        g = nx.Graph()
        g.add_nodes_from(range(len(nodes)))
        g.add_edges_from((arrays["edges"][mask] - first).tolist())
        out.append((arrays["node_labels"][nodes].numpy(), g))
    return out


@pytest.mark.parametrize("kind", ["spectral", "motif", "control"])
def test_generator_structure(kind):
    arrays = generate_anomaly_dataset(60, 10, kind=kind, num_labels=6, min_nodes=8, max_nodes=16, seed=1)
    assert arrays["graph_labels"].sum() == 10 and len(arrays["graph_labels"]) == 60
    assert arrays["node_labels"].min() >= 0 and arrays["node_labels"].max() < 6
    edges = {tuple(edge) for edge in arrays["edges"].tolist()}
    assert all((j, i) in edges for i, j in edges)  # both directions of every edge
    for labels, g in graphs_of(arrays):
        non_isolated = [node for node in g if g.degree(node) > 0]
        assert nx.is_connected(g.subgraph(non_isolated))  # a tree plus rings (plus motifs), maybe one ion
        assert g.number_of_nodes() - len(non_isolated) <= 1
        if kind != "motif":
            assert 8 <= len(non_isolated) <= 16


def test_motif_anomalies_carry_a_clique_or_a_triangle_fan():
    arrays = generate_anomaly_dataset(40, 20, kind="motif", num_labels=6, seed=3)
    for index, (_, g) in enumerate(graphs_of(arrays)[:20]):
        assert sum(nx.triangles(g).values()) // 3 >= 3, f"anomaly {index} has no 4-clique or triangle fan"


def test_spectral_anomalies_keep_the_label_histogram():
    """High-frequency anomalies move labels, never change them: their label shares match the normal graphs'."""
    arrays = generate_anomaly_dataset(1000, 500, kind="spectral", num_labels=6, seed=4)
    one_hot = torch.nn.functional.one_hot(arrays["node_labels"], 6).double()
    shares = one_hot.new_zeros(1000, 6).index_add_(0, arrays["graph_indicator"], one_hot)
    shares = shares / shares.sum(1, keepdim=True)
    y = arrays["graph_labels"].bool()
    assert (shares[y].mean(0) - shares[~y].mean(0)).abs().max() < 0.03


def test_anomalies_are_spectral_in_the_spectral_set_only():
    def mean_rq_gap(kind):
        arrays = generate_anomaly_dataset(400, 100, kind=kind, num_labels=6, seed=0)
        one_hot = torch.nn.functional.one_hot(arrays["node_labels"], 6).double()
        r = rayleigh_quotient(one_hot, arrays["edges"].T, arrays["graph_indicator"])
        counts = one_hot.new_zeros(400, 6).index_add_(0, arrays["graph_indicator"], one_hot)
        smoothness = r.gather(1, counts.argmax(1, keepdim=True))[:, 0]  # RQ of the most frequent label
        y = arrays["graph_labels"].bool()
        return float(smoothness[y].mean() - smoothness[~y].mean())

    assert mean_rq_gap("spectral") > 0.3
    assert abs(mean_rq_gap("motif")) < 0.1
    assert abs(mean_rq_gap("control")) < 0.05


def test_control_anomalies_differ_in_label_counts():
    arrays = generate_anomaly_dataset(300, 100, kind="control", num_labels=6, seed=2)
    last = torch.zeros(300).index_add_(0, arrays["graph_indicator"], (arrays["node_labels"] == 5).float())
    first = torch.zeros(300).index_add_(0, arrays["graph_indicator"], (arrays["node_labels"] == 0).float())
    y = arrays["graph_labels"].bool()
    assert last[y].mean() > 2 * last[~y].mean() and first[y].mean() < first[~y].mean()


def test_stratified_split_keeps_the_anomaly_share():
    labels = torch.tensor([1] * 14 + [0] * 186)
    splits = stratified_split(labels, {"train": 140, "val": 30, "test": 30}, seed=0)
    assert [len(index) for index in splits.values()] == [140, 30, 30]
    assert torch.cat(list(splits.values())).sort().values.equal(torch.arange(200))
    assert [int(labels[index].sum()) for index in splits.values()] == [10, 2, 2]
    tiny = stratified_split(torch.tensor([1, 1, 1] + [0] * 13), {"train": 8, "val": 4, "test": 4}, seed=0)
    assert [int(torch.tensor([1, 1, 1] + [0] * 13)[index].sum()) for index in tiny.values()] == [1, 1, 1]


def test_datamodule_reads_tu_files_through_tudataset(tmp_path):
    dm = SpectralAnomalyDataModule(data_dir=str(tmp_path), n_train=70, n_val=15, n_test=15, d_input=6,
                                   batch_size=16)
    dm.setup()
    raw = tmp_path / "spectral_anomaly" / dm.name / "raw"
    assert sorted(path.name for path in raw.iterdir()) == sorted(
        f"{dm.name}_{key}.txt" for key in ("A", "graph_indicator", "node_labels", "graph_labels"))
    first_edge = np.loadtxt(raw / f"{dm.name}_A.txt", delimiter=",", dtype=int, max_rows=1)
    assert first_edge.min() >= 1  # TU files are 1-based
    arrays = torch.load(tmp_path / "spectral_anomaly" / f"{dm.name}.pt", weights_only=True)
    dataset = dm.load()
    assert type(dataset).__name__ == "TUDataset" and len(dataset) == 100
    for index in (0, 7, 99):  # the loader gives back exactly the generated graphs
        nodes = torch.nonzero(arrays["graph_indicator"] == index).flatten()
        graph = dataset[index]
        assert graph.x.shape == (len(nodes), 6)
        assert graph.x.argmax(1).equal(arrays["node_labels"][nodes])
        assert int(graph.y) == int(arrays["graph_labels"][index])
        mask = arrays["graph_indicator"][arrays["edges"][:, 0]] == index
        expected = {tuple(edge) for edge in (arrays["edges"][mask] - int(nodes[0])).tolist()}
        assert {tuple(edge) for edge in graph.edge_index.T.tolist()} == expected
    assert dm.label_counts("train").tolist() == [65, 5] and dm.label_counts("test").sum() == 15
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, Batch) and batch.x.shape[1] == 6 and batch.y.shape == (16,)


def test_datamodule_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        SpectralAnomalyDataModule(data_dir=str(tmp_path), kind="cliques")
    with pytest.raises(ValueError, match="anomaly_fraction"):
        SpectralAnomalyDataModule(data_dir=str(tmp_path), anomaly_fraction=0.7)
