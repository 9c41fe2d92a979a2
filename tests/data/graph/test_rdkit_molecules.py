"""rdkit's bundled molecules as graphs: targets and graph conversion against hand-checked molecules."""

import pytest
import torch

pytest.importorskip("rdkit", reason="the molecule data needs the chem extra: pip install -e '.[chem]'")
from rdkit import Chem  # noqa: E402
from rdkit.Chem import Crippen  # noqa: E402

from zoo.data.graph.rdkit_molecules import (ELEMENTS, MAX_ATOMS, MIN_ATOMS, has_pains_alert,  # noqa: E402
                                            mol_to_graph, molecule_pool, murcko_scaffold, penalized_logp, ring_penalty)


def test_ring_penalty_counts_atoms_beyond_six_in_the_largest_ring():
    assert ring_penalty(Chem.MolFromSmiles("c1ccccc1")) == 0
    assert ring_penalty(Chem.MolFromSmiles("C1CCCCCCC1")) == 2          # cyclooctane
    assert ring_penalty(Chem.MolFromSmiles("C1CCCCCCCCCCC1CC1CC1")) == 6  # 12-ring and a cyclopropyl
    assert ring_penalty(Chem.MolFromSmiles("CCO")) == 0


def test_penalized_logp_subtracts_sa_and_ring_penalty_from_crippen_logp():
    mol = Chem.MolFromSmiles("C1CCCCCCC1")
    value = penalized_logp(mol)
    sa = Crippen.MolLogP(mol) - 2 - value
    assert 1.0 <= sa <= 10.0  # Ertl's SA score lives in [1, 10]
    # a simple molecule is easy to make (SA near 1), a strained cage much harder
    assert Crippen.MolLogP(Chem.MolFromSmiles("CCO")) - penalized_logp(Chem.MolFromSmiles("CCO")) < 3


def test_pains_alert_on_a_rhodanine_and_not_on_benzene():
    assert has_pains_alert(Chem.MolFromSmiles("O=C1NC(=S)SC1=Cc1ccccc1"))  # ene_rhod, a textbook PAINS
    assert not has_pains_alert(Chem.MolFromSmiles("c1ccccc1"))


def test_graph_of_chlorobenzene():
    graph = mol_to_graph(Chem.MolFromSmiles("Clc1ccccc1"))
    assert graph["x"].tolist() == [ELEMENTS.index("Cl")] + [ELEMENTS.index("C")] * 6
    assert graph["edge_index"].shape == (2, 14) and graph["edge_attr"].shape == (14,)
    assert sorted(graph["edge_attr"].tolist()) == [0, 0] + [3] * 12  # one single bond, six aromatic
    pairs = set(map(tuple, graph["edge_index"].t().tolist()))
    assert all((j, i) in pairs for i, j in pairs)  # both directions
    assert graph["x"].dtype == torch.long
    assert mol_to_graph(Chem.MolFromSmiles("[Na+]"))["edge_index"].shape == (2, 0)


def test_scaffold_of_toluene_is_benzene():
    assert murcko_scaffold(Chem.MolFromSmiles("Cc1ccccc1")) == "c1ccccc1"
    assert murcko_scaffold(Chem.MolFromSmiles("CCO")) == ""


@pytest.mark.slow
def test_pool_is_single_fragment_zinc_sized_and_deterministic():
    pool = molecule_pool()
    assert 14_000 < len(pool) < 16_500 and list(pool) == sorted(set(pool))
    for smiles in pool[::500]:
        mol = Chem.MolFromSmiles(smiles)
        assert MIN_ATOMS <= mol.GetNumAtoms() <= MAX_ATOMS and len(Chem.GetMolFrags(mol)) == 1


def test_size_split_keeps_small_molecules_in_distribution_and_large_ones_out():
    from zoo.data.graph.rdkit_molecules import split_indices

    num_atoms = torch.arange(10, 40).repeat(10)
    y = torch.randn(len(num_atoms), dtype=torch.float64)
    parts = split_indices(y, num_atoms, "size", (0.8, 0.1, 0.1), seed=0, stratify=False, id_max_atoms=22,
                          ood_min_atoms=28)
    seen = torch.cat(list(parts.values()))
    assert len(seen) == len(set(seen.tolist()))  # disjoint
    assert all(num_atoms[parts[name]].max() <= 22 for name in ("train", "val", "test"))
    assert num_atoms[parts["test_ood"]].min() >= 28 and len(parts["test_ood"]) == 12 * 10
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (104, 13, 13)  # 130 molecules <= 22 atoms


def test_stratified_split_keeps_the_anomaly_share():
    from zoo.data.graph.rdkit_molecules import split_indices

    y = torch.zeros(1000, dtype=torch.float64)
    y[:60] = 1
    parts = split_indices(y, torch.full((1000,), 20), "random", (0.7, 0.15, 0.15), seed=1, stratify=True,
                          id_max_atoms=22, ood_min_atoms=28)
    assert [int(y[parts[name]].sum()) for name in ("train", "val", "test")] == [42, 9, 9]
    with pytest.raises(ValueError, match="fractions"):
        split_indices(y, torch.full((1000,), 20), "random", (0.7, 0.2, 0.2), 0, True, 22, 28)


def test_datamodule_batches_graphs_with_eigenpairs_and_an_ood_test_loader(tmp_path, monkeypatch):
    import zoo.data.graph.rdkit_molecules as molecules

    smiles = ("CC(=O)Oc1ccccc1C(=O)O", "O=C1NC(=S)SC1=Cc1ccccc1", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
              "c1ccc2ccccc2c1", "CCN(CC)CCOC(=O)c1ccc(N)cc1", "C" * 28 + "O")
    monkeypatch.setattr(molecules, "molecule_pool", lambda: smiles)
    data = molecules.MoleculeDataModule(data_dir=str(tmp_path), target="logp", split="size", fractions=(0.5, 0.25, 0.25),
                                        batch_size=4)
    data.setup()
    assert data.test_names == ["test", "test_ood"] and len(data.splits["test_ood"]) == 2  # the two >= 28-atom chains
    batch, y = next(iter(data.train_dataloader()))
    assert batch.x.shape[1] == 10 and batch.edge_attr.shape[1] == 4 and batch.eigvals.shape[1] == 38
    assert y.shape == (batch.num_graphs, 1) and y.dtype == torch.float32
    assert (tmp_path / "molecules").is_dir()  # cached
    with pytest.raises(ValueError, match="width >= 38"):
        molecules.MoleculeDataModule(data_dir=str(tmp_path), width=30)
    for key in ("max_train", "pool_size"):  # a negative size used to cut that many off the end
        with pytest.raises(ValueError, match=f"data.{key}=-5: expected an int >= 1, or null for all the molecules"):
            molecules.MoleculeDataModule(data_dir=str(tmp_path), **{key: -5})
