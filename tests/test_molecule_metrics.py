"""Structure-elucidation metrics (zoo.metrics.molecules) on hand-made molecules with known answers."""

import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402
from rdkit.Chem import rdFingerprintGenerator  # noqa: E402

from zoo.metrics.molecules import (atom_stability, is_connected, is_valid, molecule_metrics,  # noqa: E402
                                   spectrum_retrieval, structure_key, tanimoto, top_k_accuracy)


def mol(smiles: str):
    return Chem.AddHs(Chem.MolFromSmiles(smiles))


def test_structure_key_merges_tautomers_and_stereoisomers_only():
    assert structure_key("Oc1ccccn1") == structure_key("O=c1cccc[nH]1")  # 2-hydroxypyridine / 2-pyridone
    assert structure_key(r"C/C=C/C") == structure_key(r"C/C=C\C") == structure_key(mol("CC=CC"))
    assert structure_key("CCO") != structure_key("COC")  # constitutional isomers differ
    assert structure_key(None) is None


def test_validity_and_atom_stability_by_valence():
    pentavalent = Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False)
    assert not is_valid(pentavalent) and not is_valid(None) and is_valid(mol("CCO"))
    assert is_connected(mol("CCO")) and is_valid(mol("C.C")) and not is_connected(mol("C.C"))
    assert atom_stability(mol("C")) == (5, 5)
    methyl = Chem.RWMol()  # CH3 radical: carbon with three explicit bonds
    methyl.AddAtom(Chem.Atom(6))
    for _ in range(3):
        methyl.AddBond(0, methyl.AddAtom(Chem.Atom(1)), Chem.BondType.SINGLE)
    assert atom_stability(methyl.GetMol()) == (3, 4)
    assert atom_stability(mol("C[N+](=O)[O-]")) == (7, 7)  # N+ with valence 4, O- with 1
    assert atom_stability(mol("c1ccccc1")) == (12, 12)  # aromatic bonds are kekulised first
    assert atom_stability(Chem.MolFromSmiles("CO")) == (0, 2)  # implicit hydrogens are not bonds


def test_top_k_validity_stability_tanimoto_on_a_hand_made_set():
    samples = [[mol("OCC"), mol("COC"), None],  # solved at top-1
               [mol("CC"), mol("C=O"), mol("CCC")],  # C=O solved at top-2
               [None, mol("C.C"), mol("CC")]]  # N#N never solved; C.C is valid, not connected
    references = ["CCO", "C=O", "N#N"]
    assert top_k_accuracy(samples, references, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(samples, references, 2) == pytest.approx(2 / 3)
    metrics = molecule_metrics(samples, references, ks=(1, 3))
    assert metrics["top1"] == pytest.approx(1 / 3) and metrics["top3"] == pytest.approx(2 / 3)
    assert metrics["validity"] == pytest.approx(7 / 9) and metrics["connected"] == pytest.approx(6 / 9)
    assert metrics["atom_stability"] == 1.0 and metrics["molecule_stability"] == pytest.approx(7 / 9)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    bits = {s: set(generator.GetFingerprint(Chem.MolFromSmiles(s)).GetOnBits()) for s in ("CC", "C.C", "N#N")}
    by_hand = max(len(bits[s] & bits["N#N"]) / len(bits[s] | bits["N#N"]) for s in ("CC", "C.C"))
    assert metrics["tanimoto"] == pytest.approx((1 + 1 + by_hand) / 3)
    with pytest.raises(ValueError, match="one non-empty list"):
        molecule_metrics(samples[:2], references)


def test_tanimoto_counts_bits_by_hand():
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    first, second = (set(generator.GetFingerprint(Chem.MolFromSmiles(s)).GetOnBits()) for s in ("CCO", "CCN"))
    assert tanimoto(mol("CCO"), "CCN") == pytest.approx(len(first & second) / len(first | second))
    assert tanimoto(None, "CCN") == 0.0 and tanimoto("CCO", "OCC") == 1.0


def test_nearest_neighbour_spectrum_retrieval():
    library = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    smiles = ["CCO", "C=O", "CC", r"C/C=C/C"]
    # query 0 points at library 0 (cosine 0.99), query 1 (a stereoisomer of library 3) at library 0 first, 3 second
    queries = torch.tensor([[10.0, 1, 0, 0], [3.0, 0, 0, 2]])
    metrics = spectrum_retrieval(library, smiles, queries, ["OCC", r"C/C=C\C"], ks=(1, 2))
    assert metrics["top1"] == 0.5 and metrics["top2"] == 1.0
    assert metrics["tanimoto"] == pytest.approx((1 + tanimoto("CCO", "CC=CC")) / 2)
    with pytest.raises(ValueError, match="library"):
        spectrum_retrieval(library, smiles, queries[:, :3], ["CCO", "CC"])
