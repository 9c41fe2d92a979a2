"""QM9 molecules for the IR set: the bond graph of a geometry, the ``qm9pack`` records, and one built entry.

:func:`molecule_arrays` (the kekulised bond graph of a geometry, the dense batch layout of DiffSpectra),
:func:`qm9_records` and :func:`build_molecule` (one QM9 molecule end to end: what ``scripts/build_spectra.py`` runs,
with the spectrum of :func:`zoo.data.spectra.ir.ir_spectrum`), :func:`build_first` (a few of them in this process).
"""

from __future__ import annotations

import ast
import csv

import numpy as np
import torch

from zoo.data.spectra.ir import ir_spectrum
from zoo.optional import locate, require

# --------------------------------------------------------------------------------------------------
# Molecular graphs (the dense batch layout of DiffSpectra)
# --------------------------------------------------------------------------------------------------

ATOM_TYPES = ("H", "C", "N", "O", "F")
ATOMIC_NUMBERS = (1, 6, 7, 8, 9)


def canonical_smiles(mol) -> str:
    """Canonical SMILES without stereochemistry (the structure the metrics compare)."""
    Chem = require("rdkit.Chem")

    mol = Chem.Mol(mol)
    Chem.RemoveStereochemistry(mol)
    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)


def molecule_arrays(numbers, positions, reference_smiles: str | None = None) -> dict:
    """The bond graph that fits a geometry (rdkit's ``DetermineBonds``, neutral molecule; connectivity from van der
    Waals radii, or from extended Hückel when that fails or gives another molecule than the reference), kekulised.

    ``numbers (N,)`` atomic numbers, ``positions (N, 3)`` Å. Returns ``atom_types (N,)`` indices into
    :data:`ATOM_TYPES`, ``pos (N, 3)``, ``charges (N,)`` formal charges, ``bonds (N, N)`` bond orders 0..3 and
    ``smiles`` (:func:`canonical_smiles`). With ``reference_smiles``, raises ``ValueError`` when the graph is
    another molecule (a geometry that rearranged, or bonds that do not fit).
    """
    Chem, rdDetermineBonds = require("rdkit.Chem"), require("rdkit.Chem.rdDetermineBonds")

    numbers, positions = [int(z) for z in numbers], np.asarray(positions, dtype=np.float64)
    block = f"{len(numbers)}\n\n" + "".join(
        f"{Chem.GetPeriodicTable().GetElementSymbol(z)} {x:.6f} {y:.6f} {w:.6f}\n" for z, (x, y, w) in
        zip(numbers, positions))
    target = None if reference_smiles is None else Chem.MolFromSmiles(reference_smiles)
    if reference_smiles is not None and target is None:
        raise ValueError(f"the reference SMILES {reference_smiles!r} does not parse")
    mol, error = None, None
    for use_hueckel in (False, True):  # van der Waals radii first; extended-Hückel connectivity for strained cages
        candidate = Chem.MolFromXYZBlock(block)
        try:
            rdDetermineBonds.DetermineBonds(candidate, charge=0, useHueckel=use_hueckel)
        except ValueError as err:  # no bond orders fit this connectivity
            error = err
            continue
        smiles = canonical_smiles(candidate)
        if target is None or smiles == canonical_smiles(target):
            mol = candidate
            break
        error = ValueError(f"the relaxed geometry is {smiles}, not the reference {reference_smiles}")
    if mol is None:
        raise error
    Chem.Kekulize(mol, clearAromaticFlags=True)
    bonds = np.zeros((len(numbers), len(numbers)), dtype=np.int64)
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        bonds[i, j] = bonds[j, i] = int(bond.GetBondTypeAsDouble())
    return {"atom_types": torch.tensor([ATOMIC_NUMBERS.index(z) for z in numbers]),
            "pos": torch.tensor(positions, dtype=torch.float32),
            "charges": torch.tensor([atom.GetFormalCharge() for atom in mol.GetAtoms()]),
            "bonds": torch.from_numpy(bonds), "smiles": smiles}


# --------------------------------------------------------------------------------------------------
# QM9 molecules (the qm9pack wheel) and one shard entry
# --------------------------------------------------------------------------------------------------

QM9_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")


def qm9_records(limit: int | None = None) -> list[dict]:
    """The molecules of the ``qm9pack`` wheel in QM9's order (smallest first), the first ``limit`` of them (all
    when ``None``): ``index``, ``smiles``, ``elements`` and ``xyz`` (B3LYP geometry, Å) as the CSV strings.

    Reads the wheel's CSV files directly (``import qm9pack`` needs setuptools' ``pkg_resources``).
    """
    folder = locate("qm9pack") / "data"
    csv.field_size_limit(1 << 24)
    records = []
    for part in QM9_PARTS:
        with open(folder / part, newline="") as handle:
            for row in csv.DictReader(handle):
                if limit is not None and len(records) == limit:
                    return records
                records.append({"index": int(row["Index"]), "smiles": row["SMILES"], "elements": row["Elements"],
                                "xyz": row["XYZ_Ang"]})
    return records


def build_molecule(record: dict, hwhm: float = 10.0) -> dict:
    """One entry: the graph of :func:`molecule_arrays` at the GFN2-xTB minimum of a :func:`qm9_records` record,
    its IR sticks (``wavenumbers``, ``intensities``) and its broadened ``spectrum (3501,)``.

    Raises when GFN2-xTB fails or the relaxed geometry is not QM9's molecule.
    """
    symbols = ast.literal_eval(record["elements"])  # Python literals: "['C','H']", "[[0.6,0.,0.]]"
    numbers = np.array([ATOMIC_NUMBERS[ATOM_TYPES.index(symbol)] for symbol in symbols])
    result = ir_spectrum(numbers, np.array(ast.literal_eval(record["xyz"]), dtype=np.float64), hwhm=hwhm)
    graph = molecule_arrays(numbers, result["positions"], reference_smiles=record["smiles"])
    return {"index": record["index"], **graph,
            "wavenumbers": torch.tensor(result["wavenumbers"], dtype=torch.float32),
            "intensities": torch.tensor(result["intensities"], dtype=torch.float32),
            "spectrum": torch.tensor(result["spectrum"], dtype=torch.float32)}


def build_first(n: int) -> list[dict]:
    """The first ``n`` QM9 molecules (QM9's order: 1–4 heavy atoms for small ``n``) that :func:`build_molecule`
    accepts, built in this process: seconds for a few dozen (smoke tests)."""
    molecules = []
    for record in qm9_records(limit=2 * n + 10):
        try:
            molecules.append(build_molecule(record))
        except Exception:  # noqa: BLE001  (SCF failure, changed molecule: the next one)
            continue
        if len(molecules) == n:
            return molecules
    raise RuntimeError(f"only {len(molecules)} of the first {2 * n + 10} QM9 molecules built; use the shards")
