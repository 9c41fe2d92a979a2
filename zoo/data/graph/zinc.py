"""ZINC (the 12k subset or the full 250k) through torch_geometric's ``ZINC`` loader, for users who have it.

ZINC is not shipped in any wheel: ``download=True`` lets torch_geometric fetch it into ``root`` (needs the
internet); otherwise ``root/raw/`` must already hold ``{train,val,test}.pickle`` and ``.index``, and a clear
error says so. Tests use a tiny fixture in that format; the offline analogue is
:class:`zoo.data.graph.rdkit_molecules.MoleculeDataModule`.

Graphs: ``x [n, 28]`` one-hot atom types, ``edge_attr [2m, 4]`` one-hot bond types (index 0 unused, as in
ZINC), the full spectrum of :class:`~zoo.functional.LaplacianEigenpairs` padded to ``width`` (38 = the
largest ZINC molecule), ``y [1, 1]`` the normalised penalised logP (``logP_SA_cycle_normalized``).
"""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch_geometric.data import Data

from zoo.data.base import SplitDataModule
from zoo.data.graph.batches import collate_graphs
from zoo.functional import LaplacianEigenpairs

ATOM_TYPES, BOND_TYPES, MAX_ATOMS = 28, 4, 38
RAW_FILES = tuple(f"{split}.{kind}" for split in ("train", "val", "test") for kind in ("pickle", "index"))


class ZincFeatures:
    """Pre-transform: one-hot atom and bond types, ``y`` as ``[1, 1]``, then the eigenpairs."""

    def __init__(self, width: int):
        self.eigenpairs = LaplacianEigenpairs(width=width)

    def __call__(self, data: Data) -> Data:
        data.x = F.one_hot(data.x.view(-1), ATOM_TYPES).float()
        data.edge_attr = F.one_hot(data.edge_attr.view(-1), BOND_TYPES).float()
        data.y = data.y.view(1, 1).float()
        return self.eigenpairs(data)


class ZincDataModule(SplitDataModule):
    """torch_geometric's ZINC (``subset=True``: ZINC-12k, 10k / 1k / 1k) with SPE's eigenpairs; batches
    ``(Batch, y [B, 1])``. ``root`` is a folder of your own; ``download=True`` fetches the data into it. Facts (class
    attributes): ``d_input`` (28 atom types), ``edge_dim`` (4 bond types), ``num_targets`` (1)."""

    collate = staticmethod(collate_graphs)
    d_input, edge_dim, num_targets = ATOM_TYPES, BOND_TYPES, 1
    facts = ("d_input", "edge_dim", "num_targets")

    def __init__(self, root: str, subset: bool = True, download: bool = False, width: int = MAX_ATOMS,
                 batch_size: int = 128, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if width < MAX_ATOMS:
            raise ValueError(f"width={width} cannot hold the full spectrum of ZINC's largest molecule ({MAX_ATOMS} "
                             f"atoms): use width >= {MAX_ATOMS}")
        self.root, self.subset, self.download, self.width = Path(root).expanduser(), subset, download, width

    def _check_raw(self) -> None:
        raw = self.root / "raw"
        missing = [name for name in RAW_FILES if not (raw / name).is_file()]
        if missing and not self.download:
            raise FileNotFoundError(f"ZINC is not in {raw} (missing {', '.join(missing)}): pass data.download=true on "
                                    f"a machine with internet, or copy torch_geometric's ZINC raw files there "
                                    f"(offline alternative: data=molecules)")

    def prepare_data(self) -> None:
        self._check_raw()
        from torch_geometric.datasets import ZINC

        ZINC(str(self.root), subset=self.subset, split="train", pre_transform=ZincFeatures(self.width))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self._check_raw()
        from torch_geometric.datasets import ZINC

        for split in ("train", "val", "test"):
            dataset = ZINC(str(self.root), subset=self.subset, split=split, pre_transform=ZincFeatures(self.width))
            self.splits[split] = list(dataset)
