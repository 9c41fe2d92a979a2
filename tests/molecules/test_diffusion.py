import math

import pytest
import torch

from zoo.molecules.diffusion import (ATOM_TYPES, State, ancestral_step, check_batch, cosine_alpha_sigma, decode,
                                     encode, kabsch_align, kabsch_rotation, q_sample, weighted_loss)

Chem = pytest.importorskip("rdkit.Chem")


def molecule_batch(smiles_list, seed=0):
    """A batch (module docstring format) of rdkit molecules with explicit hydrogens and random coordinates."""
    mols = [Chem.AddHs(Chem.MolFromSmiles(smiles)) for smiles in smiles_list]
    for mol in mols:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    N = max(mol.GetNumAtoms() for mol in mols)
    B = len(mols)
    batch = {"pos": torch.randn(B, N, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64),
             "atom_types": torch.zeros(B, N, dtype=torch.long), "charges": torch.zeros(B, N, dtype=torch.long),
             "bonds": torch.zeros(B, N, N, dtype=torch.long), "mask": torch.zeros(B, N, dtype=torch.bool)}
    for b, mol in enumerate(mols):
        for atom in mol.GetAtoms():
            batch["atom_types"][b, atom.GetIdx()] = ATOM_TYPES.index(atom.GetSymbol())
            batch["charges"][b, atom.GetIdx()] = atom.GetFormalCharge()
            batch["mask"][b, atom.GetIdx()] = True
        for bond in mol.GetBonds():
            i, j, order = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), int(bond.GetBondTypeAsDouble())
            batch["bonds"][b, i, j] = batch["bonds"][b, j, i] = order
    return batch


def random_rotation(seed):
    Q, R = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    Q = Q * torch.sign(torch.diagonal(R))
    return Q if torch.det(Q) > 0 else -Q


def test_cosine_schedule_matches_its_closed_form():
    t = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    alpha, sigma = cosine_alpha_sigma(t)
    f = [math.cos((0.9946 * u + 0.008) / 1.008 * math.pi / 2) ** 2 for u in t.tolist()]
    expected = torch.tensor([math.sqrt(v / f[0]) for v in f], dtype=torch.float64)
    assert torch.allclose(alpha, expected, atol=1e-12)
    assert alpha[0] == 1 and sigma[0] == 0 and 0 < alpha[-1] < 0.01
    assert torch.allclose(alpha.square() + sigma.square(), torch.ones_like(t), atol=1e-12)


def test_forward_process_matches_closed_form_marginals():
    """z_t = α_t x + σ_t ε: the sample mean is α_t x, entries of node / edge noise have std σ_t, edges stay symmetric
    with a zero diagonal, padding stays zero, positions are CoM-free with covariance σ_t² (I − 11ᵀ/n) per axis."""
    torch.manual_seed(0)
    batch = molecule_batch(["CO", "C"])  # methanol, 6 atoms; methane, 5 atoms (+1 padding)
    x = encode(batch, torch.float64)
    M, n = 20000, 5
    t = torch.full((M,), 0.4, dtype=torch.float64)
    alpha, sigma = (v.item() for v in cosine_alpha_sigma(torch.tensor(0.4, dtype=torch.float64)))
    mask = batch["mask"][1:].expand(M, -1)
    clean = State(*(a[1:].expand(M, *a.shape[1:]) for a in x))
    z = q_sample(clean, t, mask)
    tolerance = 5 * sigma / math.sqrt(M)
    for noisy, a in zip(z, clean):
        assert torch.allclose(noisy.mean(0), alpha * a[0], atol=tolerance)
    node_noise = (z.nodes - alpha * clean.nodes)[:, :n]
    assert torch.allclose(node_noise.std(0), torch.full_like(node_noise[0], sigma), rtol=0.03)
    edge_noise = (z.edges - alpha * clean.edges)[:, :n, :n]
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    assert torch.allclose(edge_noise.std(0)[off_diagonal], torch.full((n * n - n, 2), sigma, dtype=torch.float64),
                          rtol=0.03)
    assert torch.equal(z.edges, z.edges.transpose(1, 2)) and (z.edges.diagonal(0, 1, 2) == 0).all()
    assert (z.pos[:, n:] == 0).all() and (z.nodes[:, n:] == 0).all() and (z.edges[:, n:] == 0).all()
    assert z.pos[:, :n].sum(1).abs().max() < 1e-12  # centre-of-mass free (the clean positions are centred)
    pos_noise = (z.pos - alpha * clean.pos)[:, :n, 0]
    covariance = pos_noise.T @ pos_noise / M
    expected = sigma ** 2 * (torch.eye(n, dtype=torch.float64) - 1 / n)
    assert torch.allclose(covariance, expected, atol=0.03 * sigma ** 2)


def test_ancestral_step_carries_the_marginal_from_t_to_s():
    """With the true x as x̂: z_t ~ q(z_t | x) then z_s ~ q(z_s | z_t, x) gives q(z_s | x) = N(α_s x, σ_s²)."""
    torch.manual_seed(1)
    batch = molecule_batch(["C=O"])
    M = 20000
    x = State(*(a.expand(M, *a.shape[1:]) for a in encode(batch, torch.float64)))
    mask = batch["mask"].expand(M, -1)
    t, s = torch.tensor(0.7, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    z_s = ancestral_step(q_sample(x, t.expand(M), mask), x, t, s, mask)
    alpha_s, sigma_s = (v.item() for v in cosine_alpha_sigma(s))
    assert torch.allclose(z_s.nodes.mean(0), alpha_s * x.nodes[0], atol=5 * sigma_s / math.sqrt(M))
    assert torch.allclose(z_s.nodes.std(0), torch.full_like(x.nodes[0], sigma_s), rtol=0.03)
    final = ancestral_step(z_s, x, s, torch.tensor(0.0, dtype=torch.float64), mask)  # s = 0: exactly x̂
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(final, x))


def test_kabsch_recovers_a_known_rotation_and_ignores_padding():
    torch.manual_seed(2)
    R = random_rotation(3)
    P = torch.randn(1, 7, 3, dtype=torch.float64)
    mask = torch.tensor([[True] * 6 + [False]])
    P[0, :6] -= P[0, :6].mean(0)
    Q = P @ R.T
    Q[0, 6] = 100.0  # padding: must not matter
    assert torch.allclose(kabsch_rotation(P, Q, mask)[0], R, atol=1e-10)
    assert torch.allclose(kabsch_align(P, Q, mask)[0, :6], Q[0, :6], atol=1e-10)
    mirrored = kabsch_rotation(P, -P, mask)[0]  # a reflection is not a rotation: the best proper one comes out
    assert torch.allclose(torch.det(mirrored), torch.tensor(1.0, dtype=torch.float64), atol=1e-10)


def test_weighted_loss_is_rotation_blind_and_weights_each_term():
    batch = molecule_batch(["CCO", "CO"])
    x, mask = encode(batch, torch.float64), batch["mask"]
    t = torch.tensor([0.2, 0.6], dtype=torch.float64)
    rotated = State(x.pos @ random_rotation(4).T, x.nodes, x.edges)
    assert weighted_loss(rotated, x, t, mask)["loss"].abs() < 1e-20
    shifted = State(rotated.pos, x.nodes + 0.1 * mask.unsqueeze(-1), x.edges + 0.2 * (x.edges != 0))
    alpha, sigma = cosine_alpha_sigma(t)
    edge_fraction = (x.edges != 0).sum((1, 2, 3)) / (2 * (mask.sum(1) ** 2 - mask.sum(1)))
    expected = (alpha / sigma).sqrt() * (0.25 * 0.1 ** 2 + 0.1 * 0.2 ** 2 * edge_fraction)
    assert torch.allclose(weighted_loss(shifted, x, t, mask)["loss"], expected.mean(), atol=1e-12)


@pytest.mark.parametrize("smiles", ["CCO", "CC(C)=O", "C[NH3+]"])
def test_decoding_graphs_gives_the_right_molecule(smiles):
    batch = molecule_batch([smiles])
    (mol, pos), = decode(encode(batch, torch.float64), batch["mask"])
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.CanonSmiles(smiles)
    assert mol.GetNumAtoms() == batch["mask"].sum() and pos.shape == (mol.GetNumAtoms(), 3)
    assert torch.allclose(torch.tensor(mol.GetConformer().GetPositions()), encode(batch, torch.float64).pos[0],
                          atol=1e-6)


def test_an_impossible_valence_decodes_to_none():
    batch = molecule_batch(["C"])  # methane, then a fifth hydrogen bonded to the carbon
    for key, value in (("atom_types", 0), ("charges", 0), ("mask", True)):
        batch[key] = torch.cat([batch[key], torch.full((1, 1), value, dtype=batch[key].dtype)], 1)
    batch["pos"] = torch.randn(1, 6, 3, dtype=torch.float64)
    batch["bonds"] = torch.nn.functional.pad(batch["bonds"], (0, 1, 0, 1))
    batch["bonds"][0, 0, 5] = batch["bonds"][0, 5, 0] = 1
    assert decode(encode(batch, torch.float64), batch["mask"])[0][0] is None


def test_bad_batches_get_clear_errors():
    batch = molecule_batch(["CO"])
    with pytest.raises(KeyError, match="lacks \\['bonds'\\]"):
        check_batch({key: value for key, value in batch.items() if key != "bonds"})
    with pytest.raises(ValueError, match="atom_types.*int64"):
        check_batch({**batch, "atom_types": batch["atom_types"].float()})
    with pytest.raises(ValueError, match="index \\('H', 'C', 'N', 'O', 'F'\\)"):
        check_batch({**batch, "atom_types": batch["atom_types"] + 5})
    with pytest.raises(ValueError, match="symmetric"):
        check_batch({**batch, "bonds": batch["bonds"].triu()})
