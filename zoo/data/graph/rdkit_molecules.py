"""The molecules rdkit ships in its wheel, as graphs, with ZINC's penalised logP and PAINS alerts as targets.

No download: rdkit's data files hold about 16k drug-like molecules (NCI's first 5k, the WEHI PAINS test set,
a ChEMBL series). :func:`molecule_pool` parses them, keeps single-fragment molecules with 9–38 heavy atoms
(ZINC's range) with ordinary bonds, drops duplicate canonical SMILES and sorts them, so the pool is the same on every machine with
the same rdkit. Targets:

* ``logp``: ZINC's penalised logP, ``logP − SA − max(0, largest ring size − 6)`` (Crippen logP, Ertl's
  synthetic-accessibility score from rdkit's Contrib, the ring penalty of the JT-VAE / ZINC benchmark);
* ``pains``: 1 when any PAINS filter of rdkit's ``FilterCatalog`` matches (about 7.5 % of the pool): the
  graph-level anomaly-detection target.

Graphs: node feature ``x [n]`` the index of the atom's element in :data:`ELEMENTS` (the last index for any
other element), ``edge_index [2, 2m]`` both directions of every bond, ``edge_attr [2m]`` the bond type index
(single, double, triple, aromatic). rdkit is the ``chem`` extra: ``pip install -e ".[chem]"``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from zoo.arguments import accepts
from zoo.data.base import GeneratedData, SplitDataModule
from zoo.data.graph.batches import collate_graphs
from zoo.functional import LaplacianEigenpairs
from zoo.optional import require

ELEMENTS = ("C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "other")
BONDS = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
#: rdkit data files: (path under RDConfig.RDDataDir or RDContribDir, SMILES column, separator)
SOURCES = (("data", "NCI/first_5K.smi", 0, "\t"), ("data", "Pains/test_data/wehi_mols.csv", 0, ","),
           ("contrib", "FreeWilson/data/CHEMBL2321810.smi", 0, " "))
MIN_ATOMS, MAX_ATOMS = 9, 38


def require_rdkit():
    """Import rdkit (the ``chem`` extra; the error names it when missing) and silence its logging."""
    require("rdkit.RDLogger").DisableLog("rdApp.*")


def _smiles_in_sources() -> Iterator[str]:
    RDConfig = require("rdkit.RDConfig")

    roots = {"data": RDConfig.RDDataDir, "contrib": RDConfig.RDContribDir}
    for root, path, column, separator in SOURCES:
        with open(os.path.join(roots[root], path)) as handle:
            for line in handle:
                fields = line.strip().split(separator)
                if fields and fields[column]:
                    yield fields[column].strip('"')


@lru_cache(maxsize=1)
def molecule_pool() -> tuple[str, ...]:
    """Sorted canonical SMILES of the single-fragment molecules with 9–38 heavy atoms in rdkit's data files
    (and only single, double, triple and aromatic bonds)."""
    require_rdkit()
    Chem = require("rdkit.Chem")

    pool = set()
    for smiles in _smiles_in_sources():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or len(Chem.GetMolFrags(mol)) != 1 or not MIN_ATOMS <= mol.GetNumAtoms() <= MAX_ATOMS:
            continue
        if any(str(bond.GetBondType()) not in BONDS for bond in mol.GetBonds()):  # dative, quadruple, ...
            continue
        pool.add(Chem.MolToSmiles(mol))
    return tuple(sorted(pool))


@lru_cache(maxsize=1)
def _sa_scorer():
    RDConfig = require("rdkit.RDConfig")

    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    spec = importlib.util.spec_from_file_location("zoo_sascorer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("zoo_sascorer", module)
    spec.loader.exec_module(module)
    return module


def ring_penalty(mol) -> int:
    """``max(0, largest ring size − 6)`` (0 for an acyclic molecule)."""
    rings = mol.GetRingInfo().AtomRings()
    return max(0, max((len(ring) for ring in rings), default=0) - 6)


def penalized_logp(mol) -> float:
    """ZINC's target: Crippen logP − SA score − ring penalty."""
    return require("rdkit.Chem.Crippen").MolLogP(mol) - _sa_scorer().calculateScore(mol) - ring_penalty(mol)


@lru_cache(maxsize=1)
def _pains_catalog():
    catalogs = require("rdkit.Chem.FilterCatalog")
    params = catalogs.FilterCatalogParams()
    params.AddCatalog(catalogs.FilterCatalogParams.FilterCatalogs.PAINS)
    return catalogs.FilterCatalog(params)


def has_pains_alert(mol) -> bool:
    """Whether any PAINS (A, B or C) substructure filter matches."""
    return _pains_catalog().HasMatch(mol)


def mol_to_graph(mol) -> dict[str, torch.Tensor]:
    """``x [n]`` element indices, ``edge_index [2, 2m]`` and ``edge_attr [2m]`` bond-type indices."""
    x = torch.tensor([ELEMENTS.index(a.GetSymbol()) if a.GetSymbol() in ELEMENTS else len(ELEMENTS) - 1
                      for a in mol.GetAtoms()], dtype=torch.long)
    pairs, kinds = [], []
    for bond in mol.GetBonds():
        i, j, kind = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), BONDS.index(str(bond.GetBondType()))
        pairs += [(i, j), (j, i)]
        kinds += [kind, kind]
    edge_index = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    return {"x": x, "edge_index": edge_index, "edge_attr": torch.tensor(kinds, dtype=torch.long)}


def murcko_scaffold(mol) -> str:
    """The canonical SMILES of the Bemis–Murcko scaffold ('' for an acyclic molecule)."""
    return require("rdkit.Chem.Scaffolds.MurckoScaffold").MurckoScaffoldSmiles(mol=mol)


# --------------------------------------------------------------------------------------------------
# The datamodule
# --------------------------------------------------------------------------------------------------

TARGETS = ("logp", "pains")
SPLITS = ("random", "size")
_CACHE_VERSION = 1


def featurize_pool(target: str, pool_size: int | None = None) -> dict:
    """The pool (or a seeded random ``pool_size`` of it) as concatenated tensors: ``elements [N]``, ``edge_index [2, E]`` (local ids), ``bonds [E]``,
    ``num_atoms [G]``, ``num_edges [G]``, ``y [G]`` (float logP or 0/1 PAINS) and ``smiles`` (list of str)."""
    if target not in TARGETS:
        raise ValueError(f"unknown molecule target {target!r}: expected one of {TARGETS}")
    from rich.progress import track

    Chem = require("rdkit.Chem")
    smiles = list(molecule_pool())
    if pool_size is not None:
        keep = torch.randperm(len(smiles), generator=torch.Generator().manual_seed(0))[:pool_size]
        smiles = [smiles[i] for i in keep.sort().values]
    elements, edges, bonds, num_atoms, num_edges, y = [], [], [], [], [], []
    for text in track(smiles, description=f"molecules: {target}"):
        mol = Chem.MolFromSmiles(text)
        graph = mol_to_graph(mol)
        elements.append(graph["x"])
        edges.append(graph["edge_index"])
        bonds.append(graph["edge_attr"])
        num_atoms.append(mol.GetNumAtoms())
        num_edges.append(graph["edge_index"].size(1))
        y.append(penalized_logp(mol) if target == "logp" else float(has_pains_alert(mol)))
    return {"elements": torch.cat(elements), "edge_index": torch.cat(edges, 1), "bonds": torch.cat(bonds),
            "num_atoms": torch.tensor(num_atoms), "num_edges": torch.tensor(num_edges),
            "y": torch.tensor(y, dtype=torch.float64), "smiles": smiles}


def split_indices(y: torch.Tensor, num_atoms: torch.Tensor, split: str, fractions: tuple[float, float, float],
                  seed: int, stratify: bool, id_max_atoms: int, ood_min_atoms: int) -> dict[str, torch.Tensor]:
    """Indices of ``train``, ``val``, ``test`` (and ``test_ood`` for the size split).

    ``random``: a seeded permutation cut by ``fractions`` (within each class when ``stratify``). ``size``: the
    same on the molecules with at most ``id_max_atoms`` heavy atoms; ``test_ood`` holds every molecule with at
    least ``ood_min_atoms`` (the gap between the two keeps the shift clear).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {SPLITS}")
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ValueError(f"fractions must be three positive numbers (train, val, test) summing to 1, got {fractions}")
    generator = torch.Generator().manual_seed(seed)
    pool = torch.arange(len(y)) if split == "random" else torch.nonzero(num_atoms <= id_max_atoms).flatten()
    groups = [pool[y[pool] == label] for label in y[pool].unique()] if stratify else [pool]
    parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for group in groups:
        group = group[torch.randperm(len(group), generator=generator)]
        n_train, n_val = round(fractions[0] * len(group)), round(fractions[1] * len(group))
        for name, chunk in zip(parts, (group[:n_train], group[n_train:n_train + n_val], group[n_train + n_val:])):
            parts[name].append(chunk)
    indices = {name: torch.cat(chunks).sort().values for name, chunks in parts.items()}
    if split == "size":
        if not id_max_atoms < ood_min_atoms:
            raise ValueError(f"the size split needs id_max_atoms < ood_min_atoms, got {id_max_atoms}, {ood_min_atoms}")
        indices["test_ood"] = torch.nonzero(num_atoms >= ood_min_atoms).flatten()
    return indices


class MoleculeDataModule(GeneratedData, SplitDataModule):
    """rdkit's bundled molecules (module doc) as graphs; batches ``(Batch, y)``
    (:func:`~zoo.data.graph.batches.collate_graphs`).

    ``x [n, 10]`` one-hot elements, ``edge_attr [2m, 4]`` one-hot bond types, the eigenpairs of
    :class:`~zoo.functional.LaplacianEigenpairs` (full spectrum padded to ``width``, at least 38 = the largest
    molecule),
    ``y [1, 1]`` penalised logP (``target="logp"``) or ``y [1]`` the PAINS class 0/1 (``target="pains"``,
    stratified split). ``split="size"`` adds a second test loader, ``test_ood`` (molecules of at least
    ``ood_min_atoms`` heavy atoms; training uses at most ``id_max_atoms``): metrics ``test/...`` and
    ``test_ood/...``. ``max_train`` caps the training split (a CPU-sized subset of it, seeded); ``pool_size``
    uses a seeded random subset of the whole pool (quick runs and smoke tests).

    Facts (class attributes): ``d_input`` (10 elements), ``edge_dim`` (4 bond types), ``num_targets`` (1, the logP
    regression's outputs) and ``num_classes`` (2, the PAINS target's classes).
    """

    collate = staticmethod(collate_graphs)
    d_input, edge_dim, num_targets, num_classes = len(ELEMENTS), len(BONDS), 1, 2
    facts = ("d_input", "edge_dim", "num_targets", "num_classes")

    def __init__(self, data_dir: str = "data", target: str = "logp", split: str = "random",
                 fractions=(0.8, 0.1, 0.1), id_max_atoms: int = 22, ood_min_atoms: int = 28,
                 max_train: int | None = None, batch_size: int = 64, seed: int = 0, num_workers: int = 0,
                 width: int = MAX_ATOMS, pool_size: int | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        require_rdkit()
        if target not in TARGETS:
            raise ValueError(f"unknown molecule target {target!r}: expected one of {TARGETS}")
        if width < MAX_ATOMS:
            raise ValueError(f"width={width} eigenpair columns cannot hold the full spectrum of the largest molecule "
                             f"({MAX_ATOMS} atoms): use width >= {MAX_ATOMS}")
        for key, size in (("max_train", max_train), ("pool_size", pool_size)):
            if size is not None and (not accepts(int, size) or size < 1):
                raise ValueError(f"data.{key}={size!r}: expected an int >= 1, or null for all the molecules")
        self.data_dir, self.target, self.split, self.fractions = Path(data_dir), target, split, tuple(fractions)
        self.id_max_atoms, self.ood_min_atoms, self.max_train = id_max_atoms, ood_min_atoms, max_train
        self.seed = seed
        self.test_names = ["test", "test_ood"] if split == "size" else ["test"]
        self.width, self.transform = width, LaplacianEigenpairs(width=width)
        self.pool_size = pool_size

    @property
    def cache_path(self) -> Path:
        pool = "" if self.pool_size is None else f"-pool{self.pool_size}"
        rdkit_version = require("rdkit").__version__
        return self.data_dir / "molecules" / f"{self.target}-v{_CACHE_VERSION}{pool}-rdkit{rdkit_version}.pt"

    def _generate(self) -> dict:
        return featurize_pool(self.target, self.pool_size)

    def _graph(self, data: dict, index: int, node_start: int, edge_start: int) -> Data:
        n, m = int(data["num_atoms"][index]), int(data["num_edges"][index])
        label = data["y"][index]
        y = label.float().view(1, 1) if self.target == "logp" else label.long().view(1)
        return self.transform(Data(
            x=F.one_hot(data["elements"][node_start:node_start + n], len(ELEMENTS)).float(),
            edge_index=data["edge_index"][:, edge_start:edge_start + m],
            edge_attr=F.one_hot(data["bonds"][edge_start:edge_start + m], len(BONDS)).float(), y=y, num_nodes=n))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.load()
        node_starts = torch.cumsum(data["num_atoms"], 0) - data["num_atoms"]
        edge_starts = torch.cumsum(data["num_edges"], 0) - data["num_edges"]
        indices = split_indices(data["y"], data["num_atoms"], self.split, self.fractions, self.seed,
                                stratify=self.target == "pains", id_max_atoms=self.id_max_atoms,
                                ood_min_atoms=self.ood_min_atoms)
        if self.max_train is not None and self.max_train < len(indices["train"]):
            keep = torch.randperm(len(indices["train"]), generator=torch.Generator().manual_seed(self.seed + 1))
            indices["train"] = indices["train"][keep[:self.max_train]].sort().values
        self.splits = {name: [self._graph(data, int(i), int(node_starts[i]), int(edge_starts[i])) for i in chunk]
                       for name, chunk in indices.items()}

    def label_counts(self, split: str = "train") -> list[int]:
        """``[normal, anomalous]`` counts of a split (``target="pains"``), for class-balanced losses."""
        if self.target != "pains":
            raise ValueError(f"label_counts is for the classification target 'pains', not {self.target!r}")
        self.setup()
        labels = torch.cat([graph.y for graph in self.splits[split]])
        return torch.bincount(labels, minlength=2).tolist()
