"""A TU anticancer screen through PyG's real TUDataset loader, on a tiny fixture (tests never download)."""

import pytest

from zoo.data.graph.anomaly import generate_anomaly_dataset, write_tu
from zoo.data.graph.tu_screens import TUScreenDataModule


def test_screen_reads_its_tu_files_and_splits_stratified(tmp_path):
    arrays = generate_anomaly_dataset(40, 8, num_labels=6, min_nodes=6, max_nodes=9, seed=0)
    arrays["graph_labels"] = 2 * arrays["graph_labels"] - 1  # the screens' labels are -1 (inactive) / 1 (active)
    write_tu(arrays, tmp_path / "MCF-7" / "raw", "MCF-7")
    data = TUScreenDataModule(root=str(tmp_path), name="MCF-7", d_input=6, batch_size=8, fractions=(0.5, 0.25, 0.25))
    data.setup()
    assert [len(data.splits[split]) for split in ("train", "val", "test")] == [20, 10, 10]
    assert data.label_counts("train").tolist() == [16, 4]  # actives (label 1) are the anomalies, 8 of 40
    batch = next(iter(data.val_dataloader()))
    assert batch.x.shape[1] == 6 and set(batch.y.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="set data.d_input=6"):
        TUScreenDataModule(root=str(tmp_path), name="MCF-7", d_input=64).setup()


def test_missing_screen_is_a_clear_error_not_a_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=true"):
        TUScreenDataModule(root=str(tmp_path), name="MOLT-4").setup()
    with pytest.raises(ValueError, match="unknown TU screen"):
        TUScreenDataModule(root=str(tmp_path), name="MOLT4")
    assert not any(tmp_path.iterdir())
