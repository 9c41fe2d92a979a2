"""IR spectra of QM9 molecules for DiffSpectra: GFN2-xTB harmonic analysis, and the datamodule that reads them.

QM9S (the paper's data) cannot be downloaded here, so ``scripts/build_spectra.py`` computes an IR set with a real
method: each QM9 molecule (from the PyPI wheel ``qm9pack``, B3LYP geometries) is relaxed with GFN2-xTB (``tblite``),
its Hessian ``H`` and dipole derivatives ``∂μ/∂x`` come from central finite differences of the analytic gradient
and dipole, and the harmonic analysis gives wavenumbers ``ν̃_k`` and intensities

    ``ν̃_k = √λ_k / (2πc)``, ``λ_k`` the eigenvalues of the mass-weighted Hessian ``M^{-1/2} H M^{-1/2}``
    projected off translations and rotations;
    ``A_k = (N_A π / 3c²) · |∂μ/∂Q_k|²`` (km/mol), ``∂μ/∂Q_k = Σ_i ∂μ/∂x_i · L_ik / √m_i``.

The sticks are Lorentzian-broadened, ``S(ν̃) = Σ_k A_k (γ/π) / ((ν̃ − ν̃_k)² + γ²)``, on QM9S's grid: 500–4000 cm⁻¹
at 1 cm⁻¹ (3501 points). Label results "IR-proxy (GFN2-xTB), not QM9S": GFN2 wavenumbers are unscaled harmonic
ones. Units inside the harmonic analysis are atomic (Hartree, Bohr, e·Bohr) with masses in u.

Then, in order: :func:`molecule_arrays` (the kekulised bond graph of a geometry), :func:`qm9_records` and
:func:`build_molecule` (one QM9 molecule end to end, what the builder runs), :func:`read_shards` and
:func:`read_qm9s` (the built set, or the real QM9S files), and :class:`SpectraDataModule` (dense batches, splits;
:mod:`zoo.evaluation.spectra` scores a model on them).
"""

from __future__ import annotations

import ast
import csv
import os
from pathlib import Path

import numpy as np
import torch

from zoo.cache import cached
from zoo.data.splits import SplitDataModule
from zoo.optional import locate, require

BOHR = 0.52917721092  # Å
#: √(Hartree / (Bohr² u)) in cm⁻¹: the wavenumber of a unit eigenvalue of the mass-weighted Hessian
HARTREE_BOHR2_AMU_TO_CM = 5140.4871
#: (e)² / u in km/mol: the IR intensity of a unit dipole derivative ∂μ/∂Q (μ in e·Bohr, Q in Bohr·√u)
E2_PER_AMU_TO_KM_MOL = 974.8801
#: most abundant isotope masses (u) of QM9's elements
MASSES = {1: 1.00782503, 6: 12.0, 7: 14.00307401, 8: 15.99491462, 9: 18.99840316}
GRID = np.arange(500.0, 4001.0, 1.0)  # cm⁻¹, 3501 points (QM9S)


def _calculator(numbers: np.ndarray, positions_bohr: np.ndarray):
    calc = require("tblite.interface").Calculator("GFN2-xTB", numbers, positions_bohr)
    calc.set("verbosity", 0)
    return calc


def relax(numbers: np.ndarray, positions: np.ndarray, gtol: float = 1e-4, max_steps: int = 300) -> np.ndarray:
    """GFN2-xTB minimum (BFGS on the analytic gradient) from ``positions (N, 3)`` Å; returns ``(N, 3)`` Å.

    ``gtol`` is the largest gradient component allowed at convergence (Hartree/Bohr).
    """
    from scipy.optimize import minimize

    calc = _calculator(numbers, positions / BOHR)
    restart = calc.singlepoint()  # each step starts its SCF from the previous density (half the cost)

    def energy_and_gradient(flat):
        calc.update(flat.reshape(-1, 3))
        result = calc.singlepoint(restart)
        return result.get("energy"), result.get("gradient").ravel()

    fit = minimize(energy_and_gradient, (positions / BOHR).ravel(), jac=True, method="BFGS",
                   options={"gtol": gtol, "maxiter": max_steps})
    return fit.x.reshape(-1, 3) * BOHR


def hessian_and_dipole_derivatives(numbers: np.ndarray, positions: np.ndarray, step: float = 5e-3):
    """Central finite differences at ``positions (N, 3)`` Å with displacement ``step`` Bohr.

    Returns ``H (3N, 3N)`` in Hartree/Bohr² (symmetrised) and ``∂μ/∂x (3N, 3)`` in e (e·Bohr per Bohr).
    Costs ``6N`` GFN2-xTB single points.
    """
    base = (positions / BOHR).ravel()
    calc = _calculator(numbers, base.reshape(-1, 3))
    restart = calc.singlepoint()  # SCF guesses from the previous displacement's density
    hessian, dipole_derivatives = np.empty((base.size, base.size)), np.empty((base.size, 3))
    for coordinate in range(base.size):
        sides = []
        for sign in (1.0, -1.0):
            shifted = base.copy()
            shifted[coordinate] += sign * step
            calc.update(shifted.reshape(-1, 3))
            result = calc.singlepoint(restart)
            sides.append((result.get("gradient").ravel(), result.get("dipole")))
        hessian[coordinate] = (sides[0][0] - sides[1][0]) / (2 * step)
        dipole_derivatives[coordinate] = (sides[0][1] - sides[1][1]) / (2 * step)
    return (hessian + hessian.T) / 2, dipole_derivatives


def rigid_motions(masses: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Orthonormal basis ``(3N, r)`` of the mass-weighted translations and rotations (r = 6, or 5 if linear)."""
    weights = np.sqrt(masses)
    centred = positions - (masses[:, None] * positions).sum(0) / masses.sum()
    vectors = []
    for axis in np.eye(3):
        vectors.append((weights[:, None] * axis[None, :]).ravel())
        vectors.append((weights[:, None] * np.cross(axis[None, :], centred)).ravel())
    u, s, _ = np.linalg.svd(np.stack(vectors, 1), full_matrices=False)
    return u[:, s > 1e-6 * s.max()]


def harmonic_analysis(numbers: np.ndarray, positions: np.ndarray, hessian: np.ndarray,
                      dipole_derivatives: np.ndarray):
    """Wavenumbers ``(3N − r,)`` cm⁻¹ (negative = imaginary) and IR intensities ``(3N − r,)`` km/mol.

    ``positions (N, 3)`` (any length unit), ``hessian (3N, 3N)`` Hartree/Bohr², ``dipole_derivatives (3N, 3)`` e.
    """
    masses = np.array([MASSES[int(z)] for z in numbers])
    inv_sqrt_m = np.repeat(masses ** -0.5, 3)
    weighted = hessian * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    rigid = rigid_motions(masses, positions)
    internal = np.linalg.svd(rigid, full_matrices=True)[0][:, rigid.shape[1]:]  # complement of the rigid motions
    eigenvalues, vectors = np.linalg.eigh(internal.T @ weighted @ internal)
    modes = internal @ vectors  # (3N, 3N − r) mass-weighted normal coordinates L
    wavenumbers = np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * HARTREE_BOHR2_AMU_TO_CM
    dmu_dq = (modes * inv_sqrt_m[:, None]).T @ dipole_derivatives  # (3N − r, 3)
    return wavenumbers, E2_PER_AMU_TO_KM_MOL * (dmu_dq ** 2).sum(1)


def lorentzian_spectrum(wavenumbers: np.ndarray, intensities: np.ndarray, hwhm: float = 10.0,
                        grid: np.ndarray = GRID) -> np.ndarray:
    """``S(ν̃) = Σ_k A_k (γ/π) / ((ν̃ − ν̃_k)² + γ²)`` on ``grid (S,)``, γ = ``hwhm`` cm⁻¹; imaginary modes dropped."""
    real = wavenumbers > 0
    offsets = grid[:, None] - wavenumbers[None, real]
    return (intensities[None, real] * (hwhm / np.pi) / (offsets ** 2 + hwhm ** 2)).sum(1)


def ir_spectrum(numbers, positions, relax_first: bool = True, hwhm: float = 10.0) -> dict:
    """The whole GFN2-xTB IR pipeline for one molecule: ``numbers (N,)`` atomic numbers, ``positions (N, 3)`` Å.

    Returns ``positions`` (the relaxed geometry, Å), ``wavenumbers`` and ``intensities`` (the sticks) and
    ``spectrum`` (the broadened spectrum on :data:`GRID`).
    """
    numbers, positions = np.asarray(numbers, dtype=np.int64), np.asarray(positions, dtype=np.float64)
    unknown = sorted(set(numbers.tolist()) - set(MASSES))
    if positions.shape != (len(numbers), 3) or unknown:
        raise ValueError(f"expected numbers (N,) of QM9 elements {sorted(MASSES)} and positions (N, 3) Å; got "
                         f"shapes {numbers.shape}, {positions.shape} and unknown elements {unknown}")
    if relax_first:
        positions = relax(numbers, positions)
    hessian, dipole_derivatives = hessian_and_dipole_derivatives(numbers, positions)
    wavenumbers, intensities = harmonic_analysis(numbers, positions, hessian, dipole_derivatives)
    return {"positions": positions, "wavenumbers": wavenumbers, "intensities": intensities,
            "spectrum": lorentzian_spectrum(wavenumbers, intensities, hwhm)}


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


# --------------------------------------------------------------------------------------------------
# Reading the built shards, or the real QM9S files
# --------------------------------------------------------------------------------------------------

SHARD_GLOB = "shard_*.pt"


def read_shards(folder: str | os.PathLike) -> list[dict]:
    """Every molecule in the shards ``scripts/build_spectra.py`` wrote to ``folder``, sorted by QM9 index."""
    paths = sorted(Path(folder).glob(SHARD_GLOB))
    if not paths:
        raise FileNotFoundError(
            f"no IR spectra in {folder}: build them with `OMP_NUM_THREADS=1 python scripts/build_spectra.py "
            f"--n 5000 --workers 2 --out {folder}` (needs `pip install tblite qm9pack`), or pass root= a folder "
            "holding the real QM9S files (ir_broaden.csv and qm9s.pt)")
    molecules = [molecule for path in paths for molecule in torch.load(path, weights_only=True)["molecules"]]
    return sorted(molecules, key=lambda molecule: molecule["index"])


def read_qm9s(root: str | os.PathLike) -> list[dict]:
    """The IR spectra of the real QM9S release (figshare 10.6084/m9.figshare.24235333), for users who have it.

    ``root`` holds ``ir_broaden.csv`` (a header of the 3501 wavenumbers 500..4000, then one row per molecule: its
    id, then 3501 intensities) and ``qm9s.pt`` (the release's pickled list of molecules, read with
    ``weights_only=False``: load only a file you trust; item ``id`` has ``z`` atomic numbers, ``pos`` Å and
    ``smile``). Molecules whose geometry gives no bond graph, or another molecule than ``smile``, are dropped.
    """
    root = Path(root)
    spectra_path, structures_path = root / "ir_broaden.csv", root / "qm9s.pt"
    missing = [path.name for path in (spectra_path, structures_path) if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"QM9S root {root} lacks {missing}: expected ir_broaden.csv and qm9s.pt from the "
                                "QM9S release (figshare 10.6084/m9.figshare.24235333)")
    structures = torch.load(structures_path, map_location="cpu", weights_only=False)
    molecules = []
    with open(spectra_path) as handle:
        header = handle.readline().rstrip("\n").split(",")[1:]
        if len(header) != len(GRID) or float(header[0]) != GRID[0] or float(header[-1]) != GRID[-1]:
            raise ValueError(f"{spectra_path} should have {len(GRID)} columns 500..4000 cm^-1 after the id column")
        for line in handle:
            fields = line.rstrip("\n").split(",")
            index, structure = int(float(fields[0])), structures[int(float(fields[0]))]
            try:
                graph = molecule_arrays(np.asarray(structure.z), np.asarray(structure.pos), structure.smile)
            except ValueError:
                continue
            spectrum = torch.tensor([float(value) for value in fields[1:]], dtype=torch.float32)
            molecules.append({"index": index, **graph, "spectrum": spectrum})
    return molecules


def normalise_spectrum(spectrum: torch.Tensor) -> torch.Tensor:
    """``log10(x + 1)`` (the DiffSpectra / MolSpectra input transform), for non-negative spectra ``(..., S)``."""
    return torch.log10(spectrum.clamp(min=0) + 1)


def collate_molecules(items: list[dict]) -> dict:
    """Pad molecules to the largest one: ``pos (B, N, 3)``, ``atom_types``/``charges (B, N)``, ``bonds (B, N, N)``,
    ``mask (B, N)``, ``spectrum (B, S)`` (already normalised), ``smiles`` (list of B str)."""
    B, N = len(items), max(len(item["atom_types"]) for item in items)
    batch = {"pos": torch.zeros(B, N, 3), "atom_types": torch.zeros(B, N, dtype=torch.long),
             "charges": torch.zeros(B, N, dtype=torch.long), "bonds": torch.zeros(B, N, N, dtype=torch.long),
             "mask": torch.zeros(B, N, dtype=torch.bool)}
    for b, item in enumerate(items):
        n = len(item["atom_types"])
        batch["pos"][b, :n] = item["pos"]
        batch["atom_types"][b, :n] = item["atom_types"]
        batch["charges"][b, :n] = item["charges"]
        batch["bonds"][b, :n, :n] = item["bonds"]
        batch["mask"][b, :n] = True
    batch["spectrum"] = torch.stack([item["spectrum"] for item in items])
    batch["smiles"] = [item["smiles"] for item in items]
    return batch


class SpectraDataModule(SplitDataModule):
    """QM9 molecules with IR spectra (GFN2-xTB shards in ``data_dir/spectra``, or QM9S from ``root``) in the
    dense DiffSpectra batch layout of :func:`collate_molecules`.

    Split: a permutation seeded by ``seed``; the first ``n_test`` molecules are the test split, the next ``n_val``
    the validation split, the next ``n_train`` (all the rest when ``None``) the training split (:meth:`split`).

    ``build=True`` and no shards (a fresh checkout, a smoke test): the first ``n_train + n_val + n_test``
    molecules of QM9 (the smallest ones) are computed here with :func:`build_first` and cached in
    ``data_dir/spectra``; a real run reads the shards of ``scripts/build_spectra.py``.
    """

    collate = staticmethod(collate_molecules)

    def __init__(self, data_dir: str = "data", root: str | None = None, n_train: int | None = None,
                 n_val: int = 200, n_test: int = 200, batch_size: int = 32, seed: int = 0, num_workers: int = 0,
                 build: bool = False):
        super().__init__(batch_size, num_workers)
        if min(n_val, n_test) < 1 or (n_train is not None and n_train < 1):
            raise ValueError(f"n_train (or None), n_val and n_test must be positive, got {n_train}, {n_val}, {n_test}")
        self.folder = Path(data_dir) / "spectra"
        self.root, self.n_train, self.n_val, self.n_test = root, n_train, n_val, n_test
        self.seed = seed
        self.build = build

    def _molecules(self) -> list[dict]:
        if self.root is not None:
            return cached(self.folder / "qm9s_ir.pt", lambda: read_qm9s(self.root))
        if self.build and self.n_train is not None and not any(self.folder.glob(SHARD_GLOB)):
            n = self.n_train + self.n_val + self.n_test
            return cached(self.folder / f"qm9_first{n}.pt", lambda: build_first(n))
        return read_shards(self.folder)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        molecules = self._molecules()
        wanted = self.n_test + self.n_val + (self.n_train or 1)
        if wanted > len(molecules):
            raise ValueError(f"asked for {wanted} molecules (n_test + n_val + n_train) but only {len(molecules)} are "
                             f"available: lower them, or build more with scripts/build_spectra.py")
        order = torch.randperm(len(molecules), generator=torch.Generator().manual_seed(self.seed)).tolist()
        stops = {"test": self.n_test, "val": self.n_test + self.n_val,
                 "train": len(molecules) if self.n_train is None else self.n_test + self.n_val + self.n_train}
        start = 0
        for name in ("test", "val", "train"):
            self.splits[name] = [{**molecules[i], "spectrum": normalise_spectrum(molecules[i]["spectrum"])}
                                 for i in order[start:stops[name]]]
            start = stops[name]

    def split(self, name: str) -> list[dict]:
        """The molecules of split ``name`` (``"train"``, ``"val"`` or ``"test"``) in order, spectra normalised."""
        self.setup()
        return self.splits[name]
