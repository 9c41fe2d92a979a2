"""Langevin-MD data: BAOAB against the Boltzmann distribution of harmonic oscillators, GFN2-xTB forces against finite
differences of its energy, the resumable sharded build and the datamodule's splits, batches and errors."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("tblite")

from zoo.data import MDDataModule  # noqa: E402
from zoo.data.md import datamodule as md_datamodule  # noqa: E402
from zoo.data.md import dynamics  # noqa: E402
from zoo.data.md.datamodule import build_md, read_md  # noqa: E402
from zoo.data.md.dynamics import ACCELERATION, BOLTZMANN, MOLECULES, XTBForces, baoab, bonds, relaxed  # noqa: E402

TINY = {"temperatures": (300, 600, 1200), "samples_per_temperature": (6, 4, 4), "trajectories_per_temperature": 2,
        "stride": 5, "burn_in": 20}


def test_baoab_samples_the_boltzmann_distribution_of_harmonic_oscillators():
    """3-D oscillators of stiffness k and masses m: ⟨x²⟩ = k_B T/k and ⟨v²⟩ = k_B T/m per coordinate, within 4 Monte
    Carlo σ (the oscillators are independent, so σ comes from the spread of their time averages)."""
    n, k, temperature, steps, burn_in = 2000, 1.0, 300.0, 4000, 500  # oscillators, eV/Å², K, steps
    masses = np.linspace(1.0, 4.0, n)  # u
    steps_iterator = baoab(lambda x: (0.5 * k * (x ** 2).sum(), -k * x), np.zeros((n, 3)), masses, temperature,
                           np.random.default_rng(0), dt_fs=0.5, friction=0.1)
    x2, v2 = np.zeros((n, 3)), np.zeros((n, 3))
    for step, (x, v, _, _) in enumerate(steps_iterator):
        if step >= burn_in:
            x2, v2 = x2 + x ** 2, v2 + v ** 2
        if step == burn_in + steps - 1:
            break
    kt = BOLTZMANN * temperature
    scaled = {"x²": (x2 / steps * k / kt).mean(1),  # 1 in expectation
              "v²": (v2 / steps * masses[:, None] / (ACCELERATION * kt)).mean(1)}
    for name, values in scaled.items():
        sigma = values.std() / np.sqrt(n)
        assert abs(values.mean() - 1) < 4 * sigma, (name, values.mean(), sigma)


def test_relaxed_ethanol_is_a_minimum_with_its_eight_bonds():
    numbers, positions = MOLECULES["ethanol"].numbers, relaxed("ethanol")
    energy, forces = XTBForces(numbers, positions)(positions)
    assert np.abs(forces).max() < 5e-3  # eV/Å
    assert -315 < energy < -305  # eV: GFN2-xTB's ethanol, about -11.39 Hartree
    assert len(bonds(numbers, positions)) == 8  # C-C, C-O, O-H and five C-H


def test_gfn2_forces_are_minus_the_gradient_of_the_energy():
    numbers = MOLECULES["ethanol"].numbers
    positions = relaxed("ethanol") + 0.05 * np.random.default_rng(0).standard_normal((9, 3))
    forces_fn = XTBForces(numbers, positions)
    _, forces = forces_fn(positions)
    step, finite_differences = 1e-3, np.zeros_like(positions)  # Å
    for index in np.ndindex(positions.shape):
        energies = []
        for sign in (1, -1):
            shifted = positions.copy()
            shifted[index] += sign * step
            energies.append(forces_fn(shifted)[0])
        finite_differences[index] = -(energies[0] - energies[1]) / (2 * step)
    assert np.abs(forces).max() > 0.5  # displaced: the check is not about zeros
    np.testing.assert_allclose(forces, finite_differences, atol=1e-3)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("md") / "tiny"
    progress = []
    built = build_md(folder, workers=2, progress=progress.append, **TINY)
    return folder, built, progress


def test_build_writes_one_shard_per_trajectory_with_frames_of_each_temperature(tiny_build):
    folder, built, progress = tiny_build
    assert built == 6 and sorted(progress) == [2, 2, 2, 2, 3, 3]
    assert sorted(path.name for path in folder.iterdir()) == [
        "T1200_traj000.pt", "T1200_traj001.pt", "T300_traj000.pt", "T300_traj001.pt", "T600_traj000.pt",
        "T600_traj001.pt", "manifest.json"]  # no temporaries left
    frames = read_md(folder, TINY["temperatures"], 2)
    for temperature, n in zip(TINY["temperatures"], TINY["samples_per_temperature"]):
        found = frames[temperature]
        assert found["z"].tolist() == [6, 6, 8, 1, 1, 1, 1, 1, 1] and found["dropped"] == 0
        assert found["pos"].shape == found["forces"].shape == (n, 9, 3) and found["energy"].shape == (n,)
        assert found["pos"].dtype == found["energy"].dtype == found["forces"].dtype == torch.float64
    first = frames[300]["pos"]
    assert len({tuple(frame.flatten().tolist()) for frame in first}) == len(first)  # trajectories differ
    masses = torch.tensor([dynamics.MASSES[z] for z in frames[300]["z"].tolist()], dtype=torch.float64)
    centres = masses @ first / masses.sum()  # (n, 3): frames are centred at the centre of mass
    torch.testing.assert_close(centres, torch.zeros_like(centres), atol=1e-12, rtol=0)


def test_a_second_build_resumes_and_rebuilds_only_missing_shards(tiny_build):
    folder = tiny_build[0]
    mtimes = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.pt")}
    assert build_md(folder, **TINY) == 0
    assert {path.name: path.stat().st_mtime_ns for path in folder.glob("*.pt")} == mtimes
    before = torch.load(folder / "T600_traj001.pt", weights_only=True)
    (folder / "T600_traj001.pt").unlink()
    assert build_md(folder, **TINY) == 1  # the same seed gives the same trajectory
    torch.testing.assert_close(torch.load(folder / "T600_traj001.pt", weights_only=True)["pos"], before["pos"])


def test_a_build_killed_midway_leaves_whole_shards_only(tmp_path, monkeypatch):
    calls = []

    def fails_second(**arguments):
        calls.append(arguments)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return dynamics.sample_trajectory(**arguments)

    monkeypatch.setattr(md_datamodule, "sample_trajectory", fails_second)
    settings = {**TINY, "temperatures": (300,), "samples_per_temperature": (4,)}
    with pytest.raises(KeyboardInterrupt):
        build_md(tmp_path, **settings)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["T300_traj000.pt", "manifest.json"]
    assert build_md(tmp_path, **settings) == 1


def test_a_folder_built_with_other_settings_is_refused(tiny_build):
    folder = tiny_build[0]
    with pytest.raises(ValueError, match=f"{folder}.*use those settings or another folder"):
        build_md(folder, **{**TINY, "stride": 6})
    assert json.loads((folder / "manifest.json").read_text())["stride"] == TINY["stride"]


@pytest.mark.parametrize("bad, match", [
    ({"temperatures": (300, 300, 600)}, "temperatures"), ({"temperatures": (300.5, 600, 1200)}, "temperatures"),
    ({"samples_per_temperature": (6, 4)}, "samples_per_temperature"),
    ({"trajectories_per_temperature": 5}, "trajectories_per_temperature"), ({"molecule": "benzene"}, "ethanol"),
    ({"stride": 0}, "stride"), ({"friction": -0.1}, "friction")])
def test_bad_build_settings_are_errors_naming_them(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        build_md(tmp_path, **{**TINY, **bad})


@pytest.fixture(scope="module")
def datamodule(tmp_path_factory):
    data = MDDataModule(data_dir=str(tmp_path_factory.mktemp("data")), n_train=12, n_val=4, n_test=4,
                        temperatures=(300, 900), batch_size=5, trajectories=2)
    data.setup()
    return data


def test_datamodule_splits_and_test_names(datamodule):
    assert datamodule.test_names == ("test", "test_900K")
    assert {name: len(split) for name, split in datamodule.splits.items()} == {
        "train": 12, "val": 4, "test": 4, "test_900K": 4}
    assert datamodule.folder.parent.name == "md" and datamodule.folder.name.startswith("ethanol_")
    first = [frame.pos for name in ("train", "val", "test") for frame in datamodule.splits[name]]
    assert len({tuple(pos.flatten().tolist()) for pos in first}) == 20  # disjoint


def test_energies_are_relative_to_the_mean_training_energy(datamodule):
    train = torch.cat([frame.energy for frame in datamodule.splits["train"]])
    assert abs(float(train.mean())) < 1e-5
    assert -315 < datamodule.energy_shift < -305  # eV
    hot, cool = (torch.cat([frame.energy for frame in datamodule.splits[name]]) for name in ("test_900K", "test"))
    assert hot.mean() > cool.mean()  # more thermal energy at 900 K than at 300 K


def test_batches_are_pyg_batches_of_frames(datamodule):
    batch = next(iter(datamodule.train_dataloader()))
    assert batch.num_graphs == 5
    assert batch.pos.shape == batch.forces.shape == (45, 3) and batch.energy.shape == (5,)
    assert batch.z.shape == batch.batch.shape == (45,)
    assert batch.pos.dtype == batch.energy.dtype == batch.forces.dtype == torch.float32
    assert batch.z.dtype == batch.batch.dtype == torch.long
    assert batch.batch.tolist() == [i for i in range(5) for _ in range(9)]
    assert len(datamodule.test_dataloader()) == 2


def test_the_same_settings_reuse_the_build_and_another_seed_gets_its_own(datamodule):
    data_dir = datamodule.folder.parent.parent
    again = MDDataModule(data_dir=str(data_dir), n_train=12, n_val=4, n_test=4, temperatures=(300, 900), batch_size=5,
                         trajectories=2)
    assert again.folder == datamodule.folder and again.build() == 0
    assert MDDataModule(data_dir=str(data_dir), n_train=12, n_val=4, n_test=4, temperatures=(300, 900),
                        trajectories=2, seed=1).folder != datamodule.folder


def test_too_few_intact_frames_is_an_error_naming_the_keys(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(dynamics, "BOND_STRETCH", 0.5)  # every bond is longer than half its relaxed length
    data = MDDataModule(data_dir=str(tmp_path), n_train=2, n_val=1, n_test=1, temperatures=(300,), trajectories=1)
    with pytest.raises(ValueError, match="n_train, n_val or n_test"):
        data.setup()
    assert "4 dropped" in caplog.text


@pytest.mark.parametrize("bad, match", [({"molecule": "benzene"}, "known molecules are \\['ethanol'\\]"),
                                        ({"n_train": 0}, "n_train"), ({"temperatures": ()}, "temperatures")])
def test_bad_datamodule_keys_are_errors_naming_them(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        MDDataModule(data_dir=str(tmp_path), **bad)
