"""ZINC through torch_geometric's real loader, on a tiny fixture in ZINC's raw format (tests never download)."""

import pickle

import pytest
import torch

from zoo.data.graph.zinc import ZincDataModule


def write_fixture(raw):
    """Three molecules per split in ZINC's raw format: atom types, a bond-type adjacency, the target."""
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for split in ("train", "val", "test"):
        molecules = []
        for n in (5, 7, 9):
            bonds = torch.zeros(n, n, dtype=torch.long)
            for i in range(n):  # a ring of single bonds, one double bond
                bonds[i, (i + 1) % n] = bonds[(i + 1) % n, i] = 1
            bonds[0, 1] = bonds[1, 0] = 2
            molecules.append({"atom_type": torch.randint(28, (n,), generator=generator), "bond_type": bonds,
                              "num_atom": n, "logP_SA_cycle_normalized": torch.randn(1, generator=generator)})
        (raw / f"{split}.pickle").write_bytes(pickle.dumps(molecules))
        (raw / f"{split}.index").write_text("0,2\n")


def test_zinc_subset_reads_through_torch_geometric(tmp_path):
    write_fixture(tmp_path / "raw")
    data = ZincDataModule(root=str(tmp_path), batch_size=2)
    data.prepare_data()
    data.setup()
    assert [len(data.splits[split]) for split in ("train", "val", "test")] == [2, 2, 2]  # the .index subset
    batch, y = next(iter(data.val_dataloader()))  # in order: the 5-ring first
    assert batch.x.shape == (5 + 9, 28) and batch.edge_attr.shape == (2 * (5 + 9), 4)
    assert batch.eigvals.shape == (2, 38) and y.shape == (2, 1)
    # the 5-ring's normalised Laplacian spectrum: 1 - cos(2πk/5)
    expected = sorted((1 - torch.cos(2 * torch.pi * torch.arange(5, dtype=torch.float64) / 5)).tolist())
    assert torch.allclose(batch.eigvals[0, :5].double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_missing_zinc_is_a_clear_error_not_a_download(tmp_path):
    data = ZincDataModule(root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="download=true"):
        data.setup()
    assert not (tmp_path / "nowhere").exists()
