"""The ten TU anticancer screens RQGNN reports (MCF-7, MOLT-4, ...), through torch_geometric's ``TUDataset``.

Not shipped in any wheel: ``download=True`` lets torch_geometric fetch a screen into ``root`` (needs the
internet); otherwise ``root/NAME/raw/`` must already hold its TU text files, and a clear error says so.
PyG maps the graph labels −1 / 1 to 0 / 1, so the actives (1) are the anomalies, as in the paper. The split is
RQGNN's stratified 70 / 15 / 15 (seed 2023 by default). ``x`` is the one-hot atom label, whose size
(``d_input``) differs per screen (MOLT-4: 64): the error on a mismatch names the right value.
"""

from __future__ import annotations

from pathlib import Path

from zoo.data.graph.anomaly import TUAnomalyDataModule

SCREENS = ("MCF-7", "MOLT-4", "PC-3", "SW-620", "NCI-H23", "OVCAR-8", "P388", "SF-295", "SN12C", "UACC257")


class TUScreenDataModule(TUAnomalyDataModule):
    """One TU anticancer screen (module doc); batches are PyG ``Batch`` objects with ``y`` 1 for actives."""

    def __init__(self, root: str, name: str = "MCF-7", download: bool = False, d_input: int | None = None,
                 fractions=(0.7, 0.15, 0.15), batch_size: int = 512, seed: int = 2023, num_workers: int = 0):
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        if name not in SCREENS:
            raise ValueError(f"unknown TU screen {name!r}: expected one of {', '.join(SCREENS)}")
        if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
            raise ValueError(f"fractions must be three positive numbers (train, val, test) summing to 1, got {fractions}")
        self.root, self.name, self.download = Path(root).expanduser(), name, download
        self.d_input, self.fractions = d_input, tuple(fractions)

    def load(self):
        from torch_geometric.datasets import TUDataset

        raw = self.root / self.name / "raw"
        needed = [raw / f"{self.name}_{key}.txt" for key in ("A", "graph_indicator")]
        if not self.download and not all(path.is_file() for path in needed):
            raise FileNotFoundError(f"the TU screen {self.name} is not in {raw}: pass data.download=true on a machine "
                                    f"with internet, or copy its TU text files there (offline alternative: "
                                    f"data=spectral_anomaly or data=molecules data.target=pains)")
        dataset = TUDataset(str(self.root), self.name)
        if self.d_input is not None and dataset.num_node_labels != self.d_input:
            raise ValueError(f"{self.name} has {dataset.num_node_labels} node labels: set data.d_input="
                             f"{dataset.num_node_labels} (the model's in_channels follows it)")
        return dataset

    def split_sizes(self, num_graphs: int) -> dict[str, int]:
        n_train, n_val = round(self.fractions[0] * num_graphs), round(self.fractions[1] * num_graphs)
        return {"train": n_train, "val": n_val, "test": num_graphs - n_train - n_val}
