"""The IR set DiffSpectra trains on: the built shards or the real QM9S files, in dense batches and splits.

:func:`read_shards` and :func:`read_qm9s` read the built set (:mod:`zoo.data.spectra.qm9`, ``scripts/build_spectra.py``)
or the real QM9S files, and :class:`SpectraDataModule` makes dense batches and splits of them
(:mod:`zoo.evaluation.spectra` scores a model on them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from zoo.cache import cached
from zoo.data.base import SplitDataModule
from zoo.data.spectra.ir import GRID
from zoo.data.spectra.qm9 import build_first, molecule_arrays

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
        super().__init__(batch_size=batch_size, num_workers=num_workers)
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
