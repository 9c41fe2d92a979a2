"""IR spectra for DiffSpectra: the harmonic analysis against closed forms, GFN2-xTB bands against textbook ranges
and experiment, the graphs, the shard datamodule and the QM9S reader (the evaluator: tests/evaluation)."""

import importlib.util
import math

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402

from zoo.data.spectra.datamodule import SpectraDataModule, read_qm9s  # noqa: E402
from zoo.data.spectra.ir import BOHR, GRID, MASSES, harmonic_analysis, lorentzian_spectrum  # noqa: E402
from zoo.data.spectra.qm9 import molecule_arrays  # noqa: E402

# gas-phase geometries (Å) near the minima
WATER = ([8, 1, 1], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]])
FORMALDEHYDE = ([6, 8, 1, 1], [[0, 0, -0.53], [0, 0, 0.68], [0, 0.94, -1.11], [0, -0.94, -1.11]])
METHANOL = ([6, 8, 1, 1, 1, 1], [[-0.0467, 0.6636, 0], [-0.0467, -0.7591, 0], [-1.0869, 0.9809, 0],
                                 [0.4363, 1.0780, 0.8847], [0.4363, 1.0780, -0.8847], [0.8653, -1.0812, 0]])


def test_harmonic_analysis_of_a_charged_spring_matches_the_closed_form():
    """Two atoms (H, F) on a spring k along z carrying charges ±q: one mode, ν̃ = √(k/μ)/(2πc), A = (N_A π/3c²) q²/μ."""
    k, q = 0.6, 0.4  # Hartree/Bohr², e
    hessian = np.zeros((6, 6))
    for i, j, sign in ((2, 2, 1), (5, 5, 1), (2, 5, -1), (5, 2, -1)):
        hessian[i, j] = sign * k
    dipole_derivatives = np.zeros((6, 3))
    dipole_derivatives[0:3] = q * np.eye(3)  # μ = q r_H − q r_F
    dipole_derivatives[3:6] = -q * np.eye(3)
    wavenumbers, intensities = harmonic_analysis(np.array([1, 9]), np.array([[0, 0, 0], [0, 0, 0.92]]), hessian,
                                                 dipole_derivatives)
    mu = MASSES[1] * MASSES[9] / (MASSES[1] + MASSES[9])  # u
    hartree, bohr, amu, c = 4.3597447222e-18, BOHR * 1e-10, 1.66053906660e-27, 2.99792458e10  # SI, c in cm/s
    expected = math.sqrt(k * hartree / bohr ** 2 / (mu * amu)) / (2 * math.pi * c)
    avogadro, e, c_si = 6.02214076e23, 1.602176634e-19, 2.99792458e8
    # A = N_A π / (3 c²) |∂μ/∂Q|² / (4π ε0) in km/mol, with |∂μ/∂Q|² = q² e² / (μ u)
    epsilon0 = 8.8541878128e-12
    coulomb = 1 / (4 * math.pi * epsilon0)
    expected_intensity = avogadro * math.pi / (3 * c_si ** 2) * coulomb * q ** 2 * e ** 2 / (mu * amu) / 1e3
    assert wavenumbers.shape == (1,)  # 3N − 5 for a linear molecule
    assert wavenumbers[0] == pytest.approx(expected, rel=1e-5)
    assert intensities[0] == pytest.approx(expected_intensity, rel=1e-4)


def test_lorentzian_peak_height_and_area():
    """A stick A at ν̃0 gives A/(πγ) at ν̃0 and area A (up to the tails beyond the grid, ≈ 2γ/(π·range))."""
    spectrum = lorentzian_spectrum(np.array([2000.0, -150.0]), np.array([50.0, 999.0]), hwhm=10.0)
    assert spectrum.shape == (3501,) and GRID[0] == 500 and GRID[-1] == 4000
    assert spectrum[GRID == 2000.0][0] == pytest.approx(50 / (math.pi * 10), rel=1e-12)  # imaginary mode dropped
    tails = 50 / math.pi * (math.atan(10 / 1500) + math.atan(10 / 2000))
    assert spectrum.sum() == pytest.approx(50 - tails, rel=1e-4)


@pytest.fixture(scope="module")
def gfn2_spectra():
    pytest.importorskip("tblite")
    from zoo.data.spectra.ir import ir_spectrum

    return {name: ir_spectrum(z, np.array(x, dtype=float)) for name, (z, x) in
            {"water": WATER, "formaldehyde": FORMALDEHYDE, "methanol": METHANOL}.items()}


def _strongest(result, low, high):
    window = (GRID >= low) & (GRID <= high)
    return GRID[window][result["spectrum"][window].argmax()]


def test_gfn2_strongest_bands_in_textbook_ranges(gfn2_spectra):
    water, formaldehyde, methanol = (gfn2_spectra[name] for name in ("water", "formaldehyde", "methanol"))
    assert 3500 <= _strongest(water, 2500, 4000) <= 3800  # O–H stretch
    assert 1700 <= _strongest(formaldehyde, 500, 4000) <= 1850  # C=O stretch, the strongest band
    assert 2750 <= _strongest(formaldehyde, 2500, 3300) <= 3100  # aldehyde C–H stretches
    assert 3500 <= _strongest(methanol, 3300, 4000) <= 3700  # O–H stretch
    assert 2800 <= _strongest(methanol, 2500, 3300) <= 3100  # C–H stretches
    assert 1000 <= _strongest(methanol, 500, 4000) <= 1100  # C–O stretch, the strongest band


def test_gfn2_frequencies_match_experiment(gfn2_spectra):
    """Against the gas-phase fundamentals (NIST CCCBDB): water 1595, 3657, 3756; formaldehyde 1167, 1249, 1500,
    1746, 2782, 2843 cm⁻¹. GFN2-xTB's harmonic wavenumbers are within 8 % of them (it is fitted to experiment)."""
    for name, experiment in (("water", [1595, 3657, 3756]), ("formaldehyde", [1167, 1249, 1500, 1746, 2782, 2843])):
        wavenumbers = np.sort(gfn2_spectra[name]["wavenumbers"])
        assert wavenumbers.min() > 0  # a relaxed minimum: no imaginary mode
        np.testing.assert_allclose(wavenumbers, experiment, rtol=0.08)


def test_molecule_arrays_of_formaldehyde():
    graph = molecule_arrays(*FORMALDEHYDE, reference_smiles="C=O")
    assert graph["smiles"] == "C=O"
    assert graph["atom_types"].tolist() == [1, 3, 0, 0]  # C O H H in ("H", "C", "N", "O", "F")
    expected = torch.zeros(4, 4, dtype=torch.long)
    expected[0, 1] = expected[1, 0] = 2
    expected[0, 2] = expected[2, 0] = expected[0, 3] = expected[3, 0] = 1
    assert torch.equal(graph["bonds"], expected) and graph["charges"].tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="not the reference"):
        molecule_arrays(*FORMALDEHYDE, reference_smiles="CO")


def test_molecule_arrays_of_a_strained_cage_falls_back_to_hueckel_connectivity():
    """QM9 62305 (B3LYP geometry): van der Waals radii bond the cage's cross-ring C···C and fail; Hückel fits it."""
    numbers = [7, 6, 6, 7, 6, 6, 8, 6, 6, 1, 1, 1, 1, 1, 1]
    positions = [[-0.0088, 1.4979, -0.0371], [0.0328, 0.0438, -0.051], [0.9847, -0.5164, -1.0223],
                 [1.7426, -0.923, -1.7963], [0.0335, -0.6263, 1.346], [-1.4921, -0.3559, 1.5308],
                 [-1.8074, -1.7336, 1.8837], [-0.7966, -1.8478, 0.8427], [-1.3499, -0.6531, 0.0055],
                 [0.912, 1.8735, 0.1741], [-0.2562, 1.8509, -0.9578], [0.8146, -0.6158, 2.1045],
                 [-2.0024, 0.4556, 2.0412], [-0.4688, -2.8348, 0.5241], [-2.1326, -0.6728, -0.7512]]
    graph = molecule_arrays(numbers, positions, reference_smiles="NC1(C#N)C2C3OC2C13")
    assert graph["smiles"] == Chem.MolToSmiles(Chem.MolFromSmiles("NC1(C#N)C2C3OC2C13"))
    assert graph["bonds"].sum().item() // 2 == 17 + 2  # 17 bonds, the nitrile counted three times


def _fake_molecules(count: int) -> list[dict]:
    """Hand-made entries: alternately water and formaldehyde, with one-hot 'spectra' at distinct wavenumbers."""
    molecules = []
    for index in range(count):
        numbers, positions = (WATER, FORMALDEHYDE)[index % 2]
        spectrum = torch.zeros(len(GRID))
        spectrum[index] = 9.0
        molecules.append({"index": index, **molecule_arrays(numbers, positions), "spectrum": spectrum})
    return molecules


@pytest.fixture()
def shard_dir(tmp_path):
    from zoo.cache import atomic_save

    molecules = _fake_molecules(12)
    for shard in range(3):
        atomic_save({"molecules": molecules[shard::3], "failed": [], "seconds": 1.0}, tmp_path / "spectra" /
                    f"shard_{shard:05d}.pt")
    return tmp_path


def test_datamodule_splits_and_batch_layout(shard_dir):
    data = SpectraDataModule(data_dir=str(shard_dir), n_train=5, n_val=3, n_test=2, batch_size=4, seed=1)
    data.setup()
    sizes = {name: len(split) for name, split in data.splits.items()}
    assert sizes == {"train": 5, "val": 3, "test": 2}
    indices = [item["index"] for split in data.splits.values() for item in split]
    assert len(set(indices)) == 10  # disjoint
    again = SpectraDataModule(data_dir=str(shard_dir), n_train=5, n_val=3, n_test=2, seed=1)
    again.setup()
    assert [item["index"] for item in again.splits["test"]] == [item["index"] for item in data.splits["test"]]
    batch = next(iter(data.train_dataloader()))
    B, N = 4, max(len(item["atom_types"]) for item in data.splits["train"][:4])
    assert batch["pos"].shape == (B, 4, 3) and batch["bonds"].shape == (B, 4, 4)
    assert batch["spectrum"].shape == (B, 3501)
    assert batch["atom_types"].dtype == batch["charges"].dtype == batch["bonds"].dtype == torch.int64
    assert batch["mask"].dtype == torch.bool and N == 4
    assert batch["mask"].sum(1).tolist() == [3 if smiles == "O" else 4 for smiles in batch["smiles"]]
    assert batch["spectrum"].max().item() == pytest.approx(1.0)  # log10(9 + 1)
    assert (batch["bonds"][~batch["mask"]] == 0).all()


def test_datamodule_errors(tmp_path, shard_dir):
    with pytest.raises(FileNotFoundError, match="scripts/build_spectra.py"):
        SpectraDataModule(data_dir=str(tmp_path / "empty")).setup()
    with pytest.raises(ValueError, match="only 12 are available"):
        SpectraDataModule(data_dir=str(shard_dir), n_train=20, n_val=3, n_test=2).setup()


def test_read_qm9s_fixture(tmp_path):
    Data = pytest.importorskip("torch_geometric.data").Data
    structures = [Data(z=torch.tensor(z), pos=torch.tensor(x), smile=s) for (z, x), s in
                  ((WATER, "O"), (FORMALDEHYDE, "C=O"), (FORMALDEHYDE, "CO"), (METHANOL, "CO"))]
    torch.save(structures, tmp_path / "qm9s.pt")
    rows = [",".join(["", *(f"{w:.1f}" for w in GRID)])]
    for index in (1, 0, 2, 3):
        rows.append(",".join([str(index), *("0.5" if w == 600 + index else "0" for w in GRID)]))
    (tmp_path / "ir_broaden.csv").write_text("\n".join(rows) + "\n")
    molecules = read_qm9s(tmp_path)
    assert [(m["index"], m["smiles"]) for m in molecules] == [(1, "C=O"), (0, "O"), (3, "CO")]  # 2: wrong SMILES
    assert molecules[0]["spectrum"][GRID == 601].item() == 0.5 and molecules[0]["spectrum"].sum() == 0.5
    data = SpectraDataModule(data_dir=str(tmp_path / "cache"), root=str(tmp_path), n_train=None, n_val=1, n_test=1)
    data.setup()
    assert sorted(item["smiles"] for split in data.splits.values() for item in split) == ["C=O", "CO", "O"]
    with pytest.raises(FileNotFoundError, match="ir_broaden.csv"):
        read_qm9s(tmp_path / "cache")


def test_build_first_reads_qm9pack_and_builds_the_smallest_molecules():
    pytest.importorskip("tblite")
    if importlib.util.find_spec("qm9pack") is None:  # (importing it needs setuptools' pkg_resources: not needed)
        pytest.skip("qm9pack is not installed")
    from zoo.data.spectra.qm9 import build_first

    methane, ammonia, water = build_first(3)
    assert [m["smiles"] for m in (methane, ammonia, water)] == ["C", "N", "O"]
    assert [len(m["wavenumbers"]) for m in (methane, ammonia, water)] == [9, 6, 3]  # 3N − 6
    assert methane["bonds"].sum().item() == 8 and (methane["bonds"][0, 1:] == 1).all()  # four C–H, both ways
    assert 2900 <= _strongest(methane, 2500, 4000) <= 3150  # C–H stretch (experiment 3019; GFN2 ≈ 3100)
