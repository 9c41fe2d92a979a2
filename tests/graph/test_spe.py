import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.utils import from_networkx

import zoo
from zoo.data.graph.cycles import CycleCountDataModule, count_cycles
from zoo.functional import laplacian_eigenpairs, normalized_laplacian
from zoo.graph import SPE, LapPE, LaplacianEigenpairs, SignNetPE
from zoo.graph.pe import MaskedBatchNorm

WIDTH = 12


def graph_data(graph: nx.Graph, width: int = WIDTH) -> Batch:
    data = from_networkx(nx.convert_node_labels_to_integers(graph))
    data.num_nodes = graph.number_of_nodes()
    data.x = torch.ones(data.num_nodes, 1, dtype=torch.float64)
    return LaplacianEigenpairs(width=width, dtype=torch.float64)(data)


def run(spe: SPE, batch: Batch) -> torch.Tensor:
    return spe(batch.eigvals, batch.eigvecs, batch.edge_index, batch.batch)


def one(graph: nx.Graph, width: int = WIDTH) -> Batch:
    return Batch.from_data_list([graph_data(graph, width)])


def make_spe(**kwargs) -> SPE:
    torch.manual_seed(0)
    return SPE(m=4, p=6, phi_hidden=8, rho_hidden=16, **kwargs).double().eval()


def star_with_tail() -> nx.Graph:
    graph = nx.star_graph(4)  # eigenvalue 1 with multiplicity 3, not vertex-transitive
    graph.add_edges_from([(4, 5), (5, 6)])
    return graph


DEGENERATE = {"cycle8": nx.cycle_graph(8), "petersen": nx.petersen_graph(), "star_tail": star_with_tail()}


def random_basis_change(values: torch.Tensor, vectors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """V with a random orthogonal Q applied inside every eigenspace (random signs included)."""
    out, start, n = vectors.clone(), 0, values.numel()
    while start < n:
        stop = start + 1
        while stop < n and values[stop] - values[stop - 1] < 1e-8:
            stop += 1
        size = stop - start
        q, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
        signs = torch.randint(0, 2, (size,), generator=generator).double() * 2 - 1
        out[:, start:stop] = vectors[:, start:stop] @ (q * signs)
        start = stop
    return out


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_invariant_to_signs_and_basis_inside_eigenspaces(name):
    batch = one(DEGENERATE[name])
    n = batch.num_nodes
    values = batch.eigvals[0, :n]
    assert (values[1:] - values[:-1]).min() < 1e-8, "the test graph must have a repeated eigenvalue"
    rotated = batch.clone()
    rotated.eigvecs = batch.eigvecs.clone()
    rotated.eigvecs[:, :n] = random_basis_change(values, batch.eigvecs[:, :n], torch.Generator().manual_seed(3))
    assert (rotated.eigvecs - batch.eigvecs).abs().max() > 0.1  # the basis really changed
    spe = make_spe()
    assert torch.allclose(run(spe, rotated), run(spe, batch), atol=1e-9)
    lap = LapPE(WIDTH, 6).double().eval()  # raw eigenvectors are not invariant
    assert (lap(rotated.eigvals, rotated.eigvecs, None, rotated.batch)
            - lap(batch.eigvals, batch.eigvecs, None, batch.batch)).abs().max() > 1e-3


def test_signnet_is_sign_invariant_but_not_basis_invariant():
    batch = one(nx.petersen_graph())
    flipped = batch.clone()
    flipped.eigvecs = batch.eigvecs * (torch.arange(WIDTH) % 2 * 2 - 1).double()
    torch.manual_seed(0)
    signnet = SignNetPE(WIDTH, 6, hidden=8).double().eval()
    out = signnet(batch.eigvals, batch.eigvecs, None, batch.batch)
    assert torch.allclose(signnet(flipped.eigvals, flipped.eigvecs, None, flipped.batch), out, atol=1e-12)
    rotated = batch.clone()
    rotated.eigvecs = random_basis_change(batch.eigvals[0], batch.eigvecs, torch.Generator().manual_seed(4))
    assert (signnet(rotated.eigvals, rotated.eigvecs, None, rotated.batch) - out).abs().max() > 1e-4


def test_eigenspace_tensor_closed_form_constant_phi():
    """With φ_ℓ ≡ c_ℓ and the full spectrum, W_ℓ = c_ℓ V Vᵀ = c_ℓ I."""
    spe = make_spe()
    constants = torch.tensor([0.5, -1.0, 2.0, 3.0], dtype=torch.float64)
    with torch.no_grad():
        for phi, c in zip(spe.phi, constants):
            phi.linears[-1].weight.zero_()
            phi.linears[-1].bias.fill_(c)
    batch = Batch.from_data_list([graph_data(nx.cycle_graph(5)), graph_data(nx.petersen_graph())])
    W, mask = spe.eigenspace_tensor(batch.eigvals, batch.eigvecs, batch.batch)
    assert W.shape == (15, 10, 4) and mask.sum(1).tolist() == [5] * 5 + [10] * 10
    for start, n in ((0, 5), (5, 10)):
        expected = torch.eye(n, dtype=torch.float64)[..., None] * constants
        assert torch.allclose(W[start:start + n, :n], expected, atol=1e-12)
    assert torch.all(W[:5, 5:] == 0)


def test_eigenspace_tensor_matches_per_graph_formula():
    spe = make_spe()
    graphs = [nx.cycle_graph(6), star_with_tail(), nx.gnp_random_graph(9, 0.4, seed=2)]
    batch = Batch.from_data_list([graph_data(g) for g in graphs])
    W, _ = spe.eigenspace_tensor(batch.eigvals, batch.eigvecs, batch.batch)
    start = 0
    for graph in graphs:
        n = graph.number_of_nodes()
        values, vectors = laplacian_eigenpairs(normalized_laplacian(graph_data(graph).edge_index, n))
        for ell, phi in enumerate(spe.phi):
            z = phi(values[:, None])[:, 0]
            assert torch.allclose(W[start:start + n, :n, ell], vectors @ torch.diag(z) @ vectors.T, atol=1e-10)
        start += n


def test_permutation_equivariant():
    graph = nx.gnp_random_graph(10, 0.35, seed=5)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    new_label = {int(old): new for new, old in enumerate(perm)}  # node `new` of the copy is node perm[new]
    permuted = nx.Graph()
    permuted.add_nodes_from(range(10))
    permuted.add_edges_from((new_label[a], new_label[b]) for a, b in graph.edges())
    spe = make_spe()
    assert torch.allclose(run(spe, one(permuted)), run(spe, one(graph))[perm], atol=1e-9)


@pytest.mark.parametrize("train", [False, True])
def test_batching_equals_per_graph_and_padding_is_ignored(train):
    """Eval: a batch gives each graph's own PE. Train (batch statistics): widening the eigen-padding
    from 12 to 20 columns changes nothing, so padded eigenvalues never enter BatchNorm statistics."""
    graphs = [nx.cycle_graph(6), nx.petersen_graph(), star_with_tail(), nx.path_graph(3)]
    spe = make_spe().train(train)
    batch = Batch.from_data_list([graph_data(g) for g in graphs])
    wide = Batch.from_data_list([graph_data(g, width=20) for g in graphs])
    out = run(spe, batch)
    assert out.shape == (batch.num_nodes, 6)
    assert torch.allclose(run(spe, wide), out, atol=1e-10)
    if not train:
        assert torch.allclose(torch.cat([run(spe, one(g)) for g in graphs]), out, atol=1e-10)


def test_masked_batch_norm_uses_only_real_entries():
    x = torch.randn(3, 4, 2, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    norm = MaskedBatchNorm(2).double().train()
    out = norm(x, mask)
    real = x[mask]
    expected = (real - real.mean(0)) / torch.sqrt(real.var(0, unbiased=False) + norm.norm.eps)
    assert torch.allclose(out[mask], expected, atol=1e-12)
    assert torch.all(out[~mask] == 0)


def cycle_weights(edge_index: torch.Tensor, per_edge: torch.Tensor) -> torch.Tensor:
    """Symmetric weights of C_n's directed edge list from one weight per undirected edge {i, i+1 mod n}."""
    n = per_edge.numel()
    low, high = edge_index.min(0).values, edge_index.max(0).values
    position = torch.where((high - low) == 1, low, torch.full_like(low, n - 1))  # edge {n-1, 0} is number n-1
    return per_edge[position]


def test_stability_bounded_for_spe_unbounded_for_raw_eigenvectors():
    """C_8 with edge weights 1 + δu has eigenvalue pairs δ apart. Perturbing the weights by ε r rotates the
    eigenvectors inside each pair by O(ε/δ); SPE changes by O(ε) whatever δ."""
    generator = torch.Generator().manual_seed(1)
    u = torch.rand(8, generator=generator, dtype=torch.float64)
    r = torch.randn(8, generator=generator, dtype=torch.float64)
    edge_index = one(nx.cycle_graph(8)).edge_index
    batch = torch.zeros(8, dtype=torch.long)
    spe, eps = make_spe(), 1e-7
    ratios = {}
    for delta in (1e-3, 1e-4):
        weights = cycle_weights(edge_index, 1 + delta * u)
        values, vectors = laplacian_eigenpairs(normalized_laplacian(edge_index, 8, weights))
        perturbed = cycle_weights(edge_index, 1 + delta * u + eps * r)
        values2, vectors2 = laplacian_eigenpairs(normalized_laplacian(edge_index, 8, perturbed))
        assert (values[1:] - values[:-1]).min() < 10 * delta
        vectors2 = vectors2 * torch.sign((vectors * vectors2).sum(0))  # best signs: only rotations remain
        raw = (vectors2 - vectors).norm() / eps
        pe_change = spe(values2[None], vectors2, edge_index, batch) - spe(values[None], vectors, edge_index, batch)
        pe = pe_change.norm() / eps
        ratios[delta] = (raw.item(), pe.item())
    (raw3, pe3), (raw4, pe4) = ratios[1e-3], ratios[1e-4]
    assert raw3 > 50 and raw4 > 5 * raw3  # raw eigenvectors: ‖ΔV‖/ε grows like 1/δ
    assert pe3 < 1 and pe4 < 2 * pe3  # SPE: bounded, independent of the gap


def test_spe_gine_all_pe_options_and_errors():
    batch = Batch.from_data_list([graph_data(g) for g in DEGENERATE.values()])
    batch.x = batch.x.float()
    batch.eigvals, batch.eigvecs = batch.eigvals.float(), batch.eigvecs.float()
    for pe in ("spe", "none", "lap", "signnet"):
        model = zoo.create_model("spe_gine", pe=pe, width=WIDTH, out_dim=4)
        assert model(batch).shape == (3, 4)
        model.eval()  # batching == per graph
        singles = torch.cat([model(Batch.from_data_list([batch.get_example(i)])) for i in range(3)])
        assert torch.allclose(model(batch), singles, atol=1e-5)
    batch.edge_attr = torch.randn(batch.edge_index.size(1), 2)
    assert zoo.create_model("spe_gine", width=WIDTH, edge_dim=2)(batch).shape == (3, 1)
    with pytest.raises(ValueError, match="edge_attr"):
        zoo.create_model("spe_gine", width=WIDTH, edge_dim=3)(batch)
    with pytest.raises(ValueError, match="unknown pe"):
        zoo.create_model("spe_gine", pe="rwse")
    with pytest.raises(ValueError, match="LaplacianEigenpairs"):
        zoo.create_model("spe_gine", width=7)(batch)
    with pytest.raises(ValueError, match="in_dim"):
        zoo.create_model("spe_gine", in_dim=3, width=WIDTH)(batch)
    with pytest.raises(ValueError, match="eigvecs"):
        SPE()(torch.zeros(1, 3), torch.zeros(4, 5), batch.edge_index, torch.zeros(4, dtype=torch.long))


def test_cycle_counts_closed_forms():
    """K_n has n!/((n−k)! 2k) k-cycles; the Petersen graph has girth 5, 12 pentagons and 10 hexagons."""
    assert count_cycles(nx.complete_graph(6)) == [20, 45, 72, 60]
    assert count_cycles(nx.petersen_graph()) == [0, 0, 12, 10]


def test_cycle_count_datamodule(tmp_path):
    kwargs = dict(data_dir=str(tmp_path), n_train=6, n_val=3, n_test=3, n_min=6, n_max=12, batch_size=4)
    dm = CycleCountDataModule(standardize=False, **kwargs)
    dm.setup()
    assert dm.cache_path.is_file() and [len(dm.splits[s]) for s in ("train", "val", "test")] == [6, 3, 3]
    batch, y = next(iter(dm.val_dataloader()))
    assert y.shape == (3, 4) and batch.eigvals.shape == (3, 12) and batch.eigvecs.shape == (batch.num_nodes, 12)
    for graph in dm.splits["train"]:
        A = torch.zeros(graph.num_nodes, graph.num_nodes, dtype=torch.float64)
        A[graph.edge_index[0], graph.edge_index[1]] = 1
        assert graph.y[0, 0] == torch.trace(A @ A @ A) / 6  # triangles
        assert 6 <= graph.num_nodes <= 12
    standardized = CycleCountDataModule(**kwargs)
    standardized.setup()  # read back from the cache
    train_y = torch.cat([graph.y for graph in standardized.splits["train"]])
    assert torch.allclose(train_y.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(train_y * standardized.target_std + standardized.target_mean,
                          torch.cat([graph.y for graph in dm.splits["train"]]), atol=1e-4)
    with pytest.raises(ValueError, match="width >= n_max"):
        CycleCountDataModule(n_max=25, width=20)


@pytest.mark.parametrize("case", ["spe_full", "spe_truncated"])
def test_packed_rho_matches_the_padded_implementation(case, a78ab53):
    """Same weights, same outputs, gradients and running statistics as the padded ρ of commit a78ab53
    (tests/graph/conftest.py), with the full spectrum and with d = 4 eigenpairs (more padded eigenvalues)."""
    expected = a78ab53[case]
    spe = SPE(m=4, p=6, phi_hidden=8, rho_hidden=16).double()
    torch.nn.utils.vector_to_parameters(expected["params"], spe.parameters())
    eigvals, eigvecs = expected["eigvals"].clone().requires_grad_(), expected["eigvecs"].clone().requires_grad_()
    out = spe.train()(eigvals, eigvecs, expected["edge_index"], expected["batch"])
    (out * expected["weights"]).sum().backward()
    running = [b.flatten() for name, b in spe.named_buffers() if name.endswith(("running_mean", "running_var"))]
    with torch.no_grad():
        out_eval = spe.eval()(expected["eigvals"], expected["eigvecs"], expected["edge_index"], expected["batch"])
    for name, value in [("out_train", out), ("grads", torch.cat([p.grad.flatten() for p in spe.parameters()])),
                        ("grad_eigvals", eigvals.grad), ("grad_eigvecs", eigvecs.grad),
                        ("running_stats", torch.cat(running)), ("out_eval", out_eval)]:
        torch.testing.assert_close(value, expected[name], rtol=1e-9, atol=1e-9, msg=name)
