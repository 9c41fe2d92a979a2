import pytest
import torch

import zoo
from zoo.molecules.diffusion import N_EDGE, N_NODE, State, pair_mask, remove_com
from zoo.molecules.dmt import DMT, CoordinateUpdate, random_batch

pytest.importorskip("rdkit")


def orthogonal(seed, proper=True):
    Q, R = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    Q = Q * torch.sign(torch.diagonal(R))
    return Q if (torch.det(Q) > 0) == proper else -Q


def random_inputs(B=2, N=6, seed=0, padding=2):
    """A noisy state, a self-conditioning estimate (with some bonds) and a condition, float64, with padding."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[-1, N - padding:] = False
    pairs = pair_mask(mask).unsqueeze(-1)

    def state():
        edges = torch.rand(B, N, N, N_EDGE, generator=g, dtype=torch.float64)
        return State(remove_com(1.5 * torch.randn(B, N, 3, generator=g, dtype=torch.float64), mask),
                     torch.randn(B, N, N_NODE, generator=g, dtype=torch.float64) * mask.unsqueeze(-1),
                     (edges + edges.transpose(1, 2)) / 2 * pairs)

    return state(), state(), torch.randn(B, 64, generator=g, dtype=torch.float64), mask


@pytest.fixture
def dmt():
    torch.manual_seed(0)
    return DMT(width=32, edge_width=16, n_blocks=2, n_heads=4).double()


@pytest.mark.parametrize("proper", [True, False], ids=["rotation", "reflection"])
def test_dmt_is_e3_equivariant_in_positions_and_invariant_in_features(dmt, proper):
    """x̂(Rz + a) = R x̂(z) (CoM-free output), node and edge outputs unchanged, under rotation or reflection."""
    z, estimate, c, mask = random_inputs()
    R, shift = orthogonal(1, proper), torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    out = dmt(z, estimate, c, mask)
    moved = dmt(State(z.pos @ R.T + shift, z.nodes, z.edges), State(estimate.pos @ R.T - shift, *estimate[1:]), c, mask)
    assert torch.allclose(moved.pos, out.pos @ R.T, atol=1e-10)
    assert torch.allclose(moved.nodes, out.nodes, atol=1e-10) and torch.allclose(moved.edges, out.edges, atol=1e-10)
    assert not torch.allclose(out.pos, z.pos, atol=1e-3)  # the coordinate update does something
    assert (out.pos.sum(1).abs() < 1e-10).all() and (out.pos[~mask] == 0).all()
    assert torch.equal(out.edges, out.edges.transpose(1, 2))


def test_coordinate_update_is_equivariant():
    torch.manual_seed(0)
    update = CoordinateUpdate(8, 4, 5).double()
    mask = torch.ones(1, 5, dtype=torch.bool)
    h, e, rbf = (torch.randn(1, 5, 8).double(), torch.randn(1, 5, 5, 4).double(), torch.randn(1, 5, 5, 5).double())
    x = remove_com(torch.randn(1, 5, 3, dtype=torch.float64), mask)
    distance = torch.cdist(x, x)
    R = orthogonal(2)
    assert torch.allclose(update(x @ R.T + 1.0, h, e, rbf, distance, mask), update(x, h, e, rbf, distance, mask) @ R.T,
                          atol=1e-12)


def test_dmt_is_permutation_equivariant(dmt):
    z, estimate, c, mask = random_inputs(B=1, N=7, seed=3)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(4))

    def permute(s):
        return State(s.pos[:, perm], s.nodes[:, perm], s.edges[:, perm][:, :, perm])

    out = dmt(z, estimate, c, mask)
    moved = dmt(permute(z), permute(estimate), c, mask[:, perm])
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(moved, permute(out)))


def test_padding_does_not_change_the_real_atoms(dmt):
    z, estimate, c, mask = random_inputs(B=1, N=5, seed=5, padding=0)
    padded = [State(torch.cat([s.pos, torch.full((1, 2, 3), 7.0, dtype=torch.float64)], 1),
                    torch.cat([s.nodes, torch.ones(1, 2, N_NODE, dtype=torch.float64)], 1),
                    torch.nn.functional.pad(s.edges, (0, 0, 0, 2, 0, 2), value=1.0)) for s in (z, estimate)]
    out = dmt(z, estimate, c, mask)
    bigger = dmt(*padded, c, torch.nn.functional.pad(mask, (0, 2), value=False))
    assert torch.allclose(bigger.pos[:, :5], out.pos, atol=1e-10)
    assert torch.allclose(bigger.nodes[:, :5], out.nodes, atol=1e-10)
    assert torch.allclose(bigger.edges[:, :5, :5], out.edges, atol=1e-10)


def test_diffspectra_loss_sampling_modes_and_step_count():
    torch.manual_seed(0)
    model = zoo.create_model("diffspectra", width=32, edge_width=16, n_blocks=2).double()
    batch = random_batch(model)
    batch = {key: value.double() if value.is_floating_point() else value for key, value in batch.items()}
    terms = model.loss(batch)
    assert set(terms) == {"loss", "pos", "nodes", "edges", "count"} and torch.isfinite(terms["loss"])
    calls = []
    model.dmt.register_forward_hook(lambda *args: calls.append(1))
    model.eval()
    molecules = model.sample(batch["spectrum"][:2], n_atoms=[3, 5], n_steps=7)
    assert len(calls) == 7 and [pos.shape for _, pos in molecules] == [(3, 3), (5, 3)]
    with torch.no_grad():  # predicted-count mode: make the count head certain of 4 atoms
        model.count_head[-1].bias.copy_(torch.nn.functional.one_hot(torch.tensor(3), model.max_atoms) * 1e6)
    assert [pos.shape[0] for _, pos in model.sample(batch["spectrum"][:3], n_steps=2)] == [4, 4, 4]


def test_diffspectra_bad_input_is_explained():
    model = zoo.create_model("diffspectra", width=16, edge_width=8, n_blocks=1)
    batch = random_batch(model)
    with pytest.raises(KeyError, match="needs the batch keys \\['spectrum'\\]"):
        model.loss({key: value for key, value in batch.items() if key != "spectrum"})
    with pytest.raises(ValueError, match="n_atoms must hold 2 counts in 1..29"):
        model.sample(batch["spectrum"][:2], n_atoms=[3, 40], n_steps=1)
    with pytest.raises(ValueError, match="spectrum must be \\(batch, 3501\\)"):
        model.sample(batch["spectrum"][:2, :100], n_atoms=[3, 4], n_steps=1)
