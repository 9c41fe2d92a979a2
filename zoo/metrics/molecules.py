"""Structure-elucidation metrics of DiffSpectra (its ``compute_metrics.py``), written with rdkit.

* **top-k exact match**: a spectrum counts as solved when any of its first ``k`` samples has the reference's
  structure key: the InChIKey of the tautomer-canonical molecule without stereochemistry (the spectra here
  carry no stereo information);
* **validity**: the fraction of samples that rdkit sanitises; **connected**: of those that are also one fragment;
* **atom / molecule stability** (EDM, JODO): an atom is stable when the bond orders of its explicit bonds
  (kekulised) sum to the valence allowed for its element and formal charge (:data:`VALENCES`); a molecule when
  all its atoms are; a sample that did not decode is an unstable molecule;
* **Tanimoto**: Morgan fingerprints (radius 2, 2048 bits) of the best sample against the reference, 0 for a
  spectrum without a valid sample;
* :func:`spectrum_retrieval`: the nearest-neighbour baseline (cosine similarity of spectra against a library).

Samples are nested lists ``samples[i][j]``: sample ``j`` (an rdkit ``Mol`` or ``None``) for spectrum ``i``;
references are SMILES.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from zoo.optional import require

#: allowed valence (sum of explicit bond orders) by element and formal charge
VALENCES = {"H": {0: 1}, "C": {0: 4, 1: 3, -1: 3}, "N": {0: 3, 1: 4, -1: 2}, "O": {0: 2, 1: 3, -1: 1},
            "F": {0: 1}}


def _sanitized(mol):
    """A sanitised copy of ``mol``, or ``None`` when rdkit rejects it (or ``mol`` is ``None``)."""
    Chem = require("rdkit.Chem")

    if mol is None:
        return None
    copy = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(copy)
    except Exception:  # noqa: BLE001  (rdkit raises several sanitisation errors)
        return None
    return copy


def is_valid(mol) -> bool:
    """Whether ``mol`` (an rdkit ``Mol`` or ``None``) passes rdkit's sanitisation."""
    return _sanitized(mol) is not None


def is_connected(mol) -> bool:
    """Whether ``mol`` is valid and a single fragment."""
    Chem = require("rdkit.Chem")

    return is_valid(mol) and len(Chem.GetMolFrags(mol)) == 1


@lru_cache(maxsize=100_000)
def _smiles_key(smiles: str) -> str | None:
    Chem = require("rdkit.Chem")

    return structure_key(Chem.MolFromSmiles(smiles))


def structure_key(mol) -> str | None:
    """InChIKey of the tautomer-canonical, stereo-free molecule; ``mol`` is a ``Mol``, a SMILES or ``None``.

    ``None`` when the molecule is missing or invalid.
    """
    Chem = require("rdkit.Chem")
    rdMolStandardize = require("rdkit.Chem.MolStandardize.rdMolStandardize")

    if isinstance(mol, str):
        return _smiles_key(mol)
    mol = _sanitized(mol)
    if mol is None:
        return None
    Chem.RemoveStereochemistry(mol)
    canonical = rdMolStandardize.TautomerEnumerator().Canonicalize(Chem.RemoveHs(mol))
    return Chem.MolToInchiKey(canonical) or None


def atom_stability(mol) -> tuple[int, int]:
    """``(stable atoms, atoms)`` of ``mol`` under :data:`VALENCES`, counting explicit bonds only."""
    Chem = require("rdkit.Chem")

    kekulised = Chem.Mol(mol)
    try:
        Chem.Kekulize(kekulised, clearAromaticFlags=True)
    except Exception:  # noqa: BLE001  (an aromatic ring with no Kekulé form: its 1.5 orders are counted)
        kekulised = mol
    stable = 0
    for atom in kekulised.GetAtoms():
        valence = sum(bond.GetBondTypeAsDouble() for bond in atom.GetBonds())
        stable += valence == VALENCES.get(atom.GetSymbol(), {}).get(atom.GetFormalCharge())
    return stable, kekulised.GetNumAtoms()


def tanimoto(mol, reference) -> float:
    """Morgan (radius 2, 2048 bits) Tanimoto similarity of two molecules (``Mol`` or SMILES; 0 if one is invalid)."""
    Chem, DataStructs = require("rdkit.Chem"), require("rdkit.DataStructs")
    rdFingerprintGenerator = require("rdkit.Chem.rdFingerprintGenerator")

    mols = [Chem.MolFromSmiles(m) if isinstance(m, str) else _sanitized(m) for m in (mol, reference)]
    if any(m is None for m in mols):
        return 0.0
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    first, second = (generator.GetFingerprint(Chem.RemoveHs(m)) for m in mols)
    return DataStructs.TanimotoSimilarity(first, second)


def top_k_accuracy(samples: list[list], references: list[str], k: int) -> float:
    """Fraction of spectra whose first ``k`` samples hold the reference structure (:func:`structure_key`)."""
    _check(samples, references)
    hits = [_smiles_key(ref) is not None and _smiles_key(ref) in {structure_key(m) for m in row[:k]}
            for row, ref in zip(samples, references)]
    return sum(hits) / len(hits)


def molecule_metrics(samples: list[list], references: list[str], ks=(1, 10)) -> dict[str, float]:
    """``top{k}`` for each ``k`` in ``ks``, ``validity``, ``connected``, ``atom_stability``, ``molecule_stability`` and
    ``tanimoto`` (mean over spectra of the best valid sample's similarity)."""
    _check(samples, references)
    metrics = {f"top{k}": top_k_accuracy(samples, references, k) for k in ks}
    flat = [mol for row in samples for mol in row]
    metrics["validity"] = sum(map(is_valid, flat)) / len(flat)
    metrics["connected"] = sum(map(is_connected, flat)) / len(flat)
    counts = [atom_stability(mol) for mol in flat if mol is not None]
    atoms = sum(total for _, total in counts)
    metrics["atom_stability"] = sum(stable for stable, _ in counts) / atoms if atoms else 0.0
    metrics["molecule_stability"] = sum(stable == total for stable, total in counts) / len(flat)
    metrics["tanimoto"] = sum(max((tanimoto(mol, ref) for mol in row), default=0.0)
                              for row, ref in zip(samples, references)) / len(samples)
    return metrics


def spectrum_retrieval(library: torch.Tensor, library_smiles: list[str], queries: torch.Tensor,
                       query_smiles: list[str], ks=(1, 10)) -> dict[str, float]:
    """Nearest-neighbour structure elucidation: each query spectrum ``(Q, S)`` returns the library molecules
    ``(M, S)`` with the highest cosine similarity. ``top{k}``: the fraction of queries whose structure is among
    the ``k`` nearest; ``tanimoto``: mean Morgan similarity of the nearest molecule to the query's.

    A library disjoint from the queries (train vs test molecules) can only hit a query through a molecule with
    the same structure key (a stereoisomer or a tautomer).
    """
    if library.dim() != 2 or queries.dim() != 2 or library.shape[1] != queries.shape[1]:
        raise ValueError(f"expected library (M, S) and queries (Q, S) spectra, got {tuple(library.shape)} and "
                         f"{tuple(queries.shape)}")
    if len(library_smiles) != len(library) or len(query_smiles) != len(queries):
        raise ValueError("give one SMILES per library spectrum and one per query spectrum")
    similarity = torch.nn.functional.normalize(queries.double(), dim=1) @ \
        torch.nn.functional.normalize(library.double(), dim=1).T
    nearest = similarity.topk(min(max(ks), len(library)), dim=1).indices.tolist()
    retrieved = [[library_smiles[j] for j in row] for row in nearest]
    metrics = {}
    for k in ks:
        hits = [_smiles_key(ref) is not None and _smiles_key(ref) in {_smiles_key(s) for s in row[:k]}
                for row, ref in zip(retrieved, query_smiles)]
        metrics[f"top{k}"] = sum(hits) / len(hits)
    metrics["tanimoto"] = sum(tanimoto(row[0], ref) for row, ref in zip(retrieved, query_smiles)) / len(retrieved)
    return metrics


def _check(samples: list[list], references: list[str]) -> None:
    if len(samples) != len(references) or not references or not all(len(row) for row in samples):
        raise ValueError(f"expected one non-empty list of samples per reference SMILES, got {len(samples)} lists "
                         f"for {len(references)} references")
