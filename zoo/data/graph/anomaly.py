"""Synthetic graph-level anomalies for RQGNN, written in TU text format and read back with PyG's ``TUDataset``.

**Normal graphs** are molecule-like: ``n ∈ [min_nodes, max_nodes]`` nodes, a random tree (each new node
joins an earlier node of degree < 4) plus 0–3 ring closures, and with probability 0.1 one isolated node
(a counter-ion, as in the TU anticancer screens). Node labels ``0 .. num_labels−1`` are **smooth**: ``2 + n // 6``
seed nodes each get a label (label 0 with probability 0.3, else uniform; the first seed always 0, like
carbon), every node takes the label of its nearest seed (multi-source BFS), and 5%
of the nodes are relabelled at random.

**Anomalies** (``anomaly_fraction`` of the graphs, 5–8% as the TU screens) come from the same generator:

- ``kind="spectral"``: **high-frequency labels**, the same label multiset placed so that neighbours differ
  (the most frequent labels on one side of the tree's 2-colouring, the rest on the other: label counts
  unchanged, ``x_cᵀLx_c / x_cᵀx_c`` raised towards 1 and beyond). Only the spectrum of the labels changes.
- ``kind="motif"``: an **extra motif**, a 4-clique or a triangle fan glued to a random node (cycles the
  tree-plus-rings generator rarely makes), with smooth labels: a structural anomaly, not a spectral one.
- ``kind="control"``: anomalies differ **only in label counts**: their seeds favour the last label
  instead of label 0; structure and smoothness are those of normal graphs.

**Files.** ``NAME_A.txt`` (1-based node pairs, both directions), ``NAME_graph_indicator.txt``,
``NAME_node_labels.txt`` and ``NAME_graph_labels.txt`` (1 = anomaly) under ``data_dir/spectral_anomaly/
NAME/raw/``, with ``NAME`` built from every generation parameter; ``TUDataset`` finds them and never
downloads. The generated arrays are cached with :func:`zoo.cache.cached`; the text folder is written to a
temporary folder and renamed into place (atomic).

**Batches** are PyG ``Batch`` objects: ``x`` ``(num_nodes, num_labels)`` one-hot float, ``edge_index``,
``batch`` and ``y`` ``(num_graphs,)`` int64 (1 = anomaly).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import deque
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.cache import cached
from zoo.data.base import SplitDataModule

log = logging.getLogger(__name__)

KINDS = ("spectral", "motif", "control")
_CACHE_VERSION = 4  # bump when the generator changes what a seed produces


def _tree_with_rings(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """A random tree on ``n`` nodes (degree <= 4) plus 0-3 extra edges closing rings."""
    edges, degree = [], np.zeros(n, dtype=int)
    for node in range(1, n):
        candidates = np.flatnonzero(degree[:node] < 4)
        parent = int(rng.choice(candidates))
        edges.append((parent, node))
        degree[[parent, node]] += 1
    existing = set(edges)
    for _ in range(int(rng.integers(0, 4))):
        i, j = sorted(int(v) for v in rng.choice(n, 2, replace=False))
        if (i, j) not in existing and degree[i] < 4 and degree[j] < 4:
            edges.append((i, j))
            existing.add((i, j))
            degree[[i, j]] += 1
    return edges


def _smooth_labels(rng: np.random.Generator, n: int, edges: list[tuple[int, int]], num_labels: int,
                   common: int) -> np.ndarray:
    """Nearest-seed labels (multi-source BFS) with 5% random relabelling; seeds favour label ``common``."""
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        neighbours[i].append(j)
        neighbours[j].append(i)
    seeds = rng.choice(n, 2 + n // 6, replace=False)
    labels = np.full(n, -1)
    for index, seed in enumerate(seeds):
        common_label = index == 0 or rng.random() < 0.3
        labels[seed] = common if common_label else int(rng.integers(num_labels))
    queue = deque(int(seed) for seed in seeds)
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if labels[other] < 0:
                labels[other] = labels[node]
                queue.append(other)
    labels[labels < 0] = common  # nodes a seed cannot reach
    noisy = rng.random(n) < 0.05
    labels[noisy] = rng.integers(num_labels, size=int(noisy.sum()))
    return labels


def _alternate(rng: np.random.Generator, labels: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """The same label multiset placed so that neighbours differ: the most frequent labels fill one side of
    the tree's 2-colouring (BFS parity from node 0), the rest the other side (nodes in random order)."""
    n = len(labels)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges[:n - 1]:  # the tree edges come first
        neighbours[i].append(j)
        neighbours[j].append(i)
    parity, queue = np.full(n, -1), deque([0])
    parity[0] = 0
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if parity[other] < 0:
                parity[other] = 1 - parity[node]
                queue.append(other)
    order = np.concatenate([rng.permutation(np.flatnonzero(parity == side)) for side in (0, 1)])
    values, counts = np.unique(labels, return_counts=True)
    by_frequency = np.repeat(values[np.argsort(-counts, kind="stable")], np.sort(counts)[::-1])
    placed = np.empty_like(labels)
    placed[order] = by_frequency
    return placed


def _motif(rng: np.random.Generator, n: int) -> tuple[int, list[tuple[int, int]]]:
    """Extra nodes and edges of a 4-clique or a triangle fan glued to node ``anchor`` of an ``n``-node graph."""
    anchor = int(rng.integers(n))
    if rng.random() < 0.5:  # 4-clique on the anchor and 3 new nodes
        nodes = [anchor, n, n + 1, n + 2]
        return 3, [(a, b) for index, a in enumerate(nodes) for b in nodes[index + 1:]]
    # triangle fan: a path of 4 new nodes, every one joined to the anchor
    path = [n, n + 1, n + 2, n + 3]
    return 4, [(anchor, v) for v in path] + list(zip(path[:-1], path[1:]))


def generate_graph(rng: np.random.Generator, anomalous: bool, kind: str, num_labels: int, min_nodes: int,
                   max_nodes: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One graph of the module docstring: node labels ``(n,)`` and undirected edges ``[(i, j), ...]``."""
    n = int(rng.integers(min_nodes, max_nodes + 1))
    edges = _tree_with_rings(rng, n)
    control = anomalous and kind == "control"
    labels = _smooth_labels(rng, n, edges, num_labels, common=num_labels - 1 if control else 0)
    if anomalous and kind == "spectral":
        labels = _alternate(rng, labels, edges)
    elif anomalous and kind == "motif":
        extra, motif_edges = _motif(rng, n)
        labels = np.concatenate([labels, np.full(extra, labels[motif_edges[0][0]])])
        edges, n = edges + motif_edges, n + extra
    if rng.random() < 0.1:  # a counter-ion: one isolated node
        labels = np.append(labels, int(rng.integers(num_labels)))
    return labels, edges


def generate_anomaly_dataset(num_graphs: int, num_anomalies: int, kind: str = "spectral", num_labels: int = 8,
                             min_nodes: int = 10, max_nodes: int = 30, seed: int = 0) -> dict[str, torch.Tensor]:
    """``num_graphs`` graphs, the first ``num_anomalies`` anomalous, in TU arrays (0-based here):
    ``edges`` ``(E, 2)`` both directions, ``graph_indicator`` ``(N,)``, ``node_labels`` ``(N,)``,
    ``graph_labels`` ``(num_graphs,)``."""
    if kind not in KINDS:
        raise ValueError(f"unknown anomaly kind {kind!r}: expected one of {', '.join(KINDS)}")
    if not 0 <= num_anomalies <= num_graphs:
        raise ValueError(f"num_anomalies must lie in [0, num_graphs={num_graphs}], got {num_anomalies}")
    if not 2 <= min_nodes <= max_nodes:
        raise ValueError(f"need 2 <= min_nodes <= max_nodes, got min_nodes={min_nodes}, max_nodes={max_nodes}")
    if num_labels < 2:
        raise ValueError(f"num_labels must be >= 2, got {num_labels}")
    rng = np.random.default_rng(seed)
    edges, indicator, node_labels, offset = [], [], [], 0
    for graph in range(num_graphs):
        labels, graph_edges = generate_graph(rng, graph < num_anomalies, kind, num_labels, min_nodes, max_nodes)
        pairs = np.asarray(graph_edges, dtype=np.int64).reshape(-1, 2) + offset
        edges.append(np.concatenate([pairs, pairs[:, ::-1]]))
        indicator.append(np.full(len(labels), graph))
        node_labels.append(labels)
        offset += len(labels)
    return {"edges": torch.from_numpy(np.concatenate(edges)),
            "graph_indicator": torch.from_numpy(np.concatenate(indicator)),
            "node_labels": torch.from_numpy(np.concatenate(node_labels).astype(np.int64)),
            "graph_labels": (torch.arange(num_graphs) < num_anomalies).long()}


def write_tu(arrays: dict[str, torch.Tensor], raw_dir: str | os.PathLike, name: str) -> Path:
    """Write ``arrays`` (as :func:`generate_anomaly_dataset`) as TU text files ``raw_dir/NAME_*.txt``.

    The files go to a temporary sibling folder that is renamed to ``raw_dir`` (atomic); an existing
    ``raw_dir`` is left as it is.
    """
    raw_dir = Path(raw_dir)
    if raw_dir.is_dir():
        return raw_dir
    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=raw_dir.parent, prefix=".raw."))
    try:
        np.savetxt(tmp / f"{name}_A.txt", arrays["edges"].numpy() + 1, fmt="%d", delimiter=", ")
        for key in ("graph_indicator", "node_labels", "graph_labels"):
            np.savetxt(tmp / f"{name}_{key}.txt", arrays[key].numpy() + (key == "graph_indicator"), fmt="%d")
        os.replace(tmp, raw_dir)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not raw_dir.is_dir():  # not a concurrent writer that won the rename
            raise
    return raw_dir


def stratified_split(labels: torch.Tensor, sizes: dict[str, int], seed: int) -> dict[str, torch.Tensor]:
    """Indices per split with each class spread in proportion to the split sizes (each split gets at least
    one anomaly when there are enough), from a permutation fixed by ``seed``."""
    total = sum(sizes.values())
    if total != len(labels):
        raise ValueError(f"the split sizes add up to {total} but there are {len(labels)} graphs")
    generator = torch.Generator().manual_seed(seed)
    anomalies = torch.nonzero(labels == 1).flatten()[torch.randperm(int((labels == 1).sum()), generator=generator)]
    normals = torch.nonzero(labels == 0).flatten()[torch.randperm(int((labels == 0).sum()), generator=generator)]
    splits, start_a, start_n = {}, 0, 0
    for index, (split, size) in enumerate(sizes.items()):
        left = len(anomalies) - start_a
        if index == len(sizes) - 1:
            count = left
        else:
            reserved = len(sizes) - 1 - index  # one anomaly for each later split
            count = max(min(max(round(len(anomalies) * size / total), 1), size, left - reserved), 0)
        splits[split] = torch.cat([anomalies[start_a:start_a + count], normals[start_n:start_n + size - count]])
        start_a, start_n = start_a + count, start_n + size - count
    return splits


class TUAnomalyDataModule(SplitDataModule):
    """A graph-level anomaly set read by ``torch_geometric.datasets.TUDataset`` (graph label 1 = anomaly), split
    stratified (:func:`stratified_split`); batches are PyG ``Batch`` objects, made by PyG's own collater through
    the base's loaders (:mod:`zoo.data.base`: each validation and test graph is read once under DDP). A subclass
    gives :meth:`load` (the dataset) and :meth:`split_sizes`; :meth:`label_counts` gives the training counts the
    class-balanced loss needs. Fact (a class attribute): ``num_classes`` (2: normal, anomaly)."""

    num_classes = 2
    facts = ("num_classes",)

    def __init__(self, batch_size: int, seed: int, num_workers: int):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.seed = seed

    @property
    def collate(self):
        """PyG's collater (``Data`` objects -> a ``Batch``), as ``torch_geometric.loader.DataLoader`` uses."""
        from torch_geometric.loader.dataloader import Collater

        return Collater(None)

    def load(self):
        raise NotImplementedError

    def split_sizes(self, num_graphs: int) -> dict[str, int]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        dataset = self.load()
        indices = stratified_split(dataset.y, self.split_sizes(len(dataset)), self.seed)
        self.splits = {split: dataset[index] for split, index in indices.items()}

    def label_counts(self, split: str = "train") -> torch.Tensor:
        """Normal and anomalous graphs in ``split``: ``(2,)`` int64."""
        self.setup()
        return torch.bincount(self.splits[split].y, minlength=2)


class SpectralAnomalyDataModule(TUAnomalyDataModule):
    """The generated anomaly set (module docstring), read through ``torch_geometric.datasets.TUDataset``.

    ``n_train + n_val + n_test`` graphs, ``round(anomaly_fraction * total)`` (at least 3) of them anomalous,
    split stratified (:func:`stratified_split`). ``kind``: ``"spectral"``, ``"motif"`` or ``"control"``.
    ``d_input`` is ``num_labels`` (one-hot node labels), a generation setting. :meth:`label_counts` gives the
    training counts the class-balanced loss needs.
    """

    def __init__(self, data_dir: str = "data", kind: str = "spectral", d_input: int = 8,
                 n_train: int = 1400, n_val: int = 300, n_test: int = 300, anomaly_fraction: float = 0.07,
                 min_nodes: int = 10, max_nodes: int = 30, batch_size: int = 128, seed: int = 0,
                 num_workers: int = 0):
        super().__init__(batch_size, seed, num_workers)
        if kind not in KINDS:
            raise ValueError(f"unknown anomaly kind {kind!r}: expected one of {', '.join(KINDS)}")
        if not 0 < anomaly_fraction < 0.5:
            raise ValueError(f"anomaly_fraction must lie in (0, 0.5), got {anomaly_fraction}")
        for name, size in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if size < 1:
                raise ValueError(f"{name} must be a positive integer, got {size}")
        self.data_dir, self.kind, self.d_input = Path(data_dir), kind, d_input
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        total = sum(self.sizes.values())
        self.num_anomalies = min(max(round(anomaly_fraction * total), 3), total // 2)
        self.min_nodes, self.max_nodes = min_nodes, max_nodes

    @property
    def name(self) -> str:
        """The TU dataset name: every generation parameter and the seed."""
        return (f"{self.kind}-v{_CACHE_VERSION}-n{sum(self.sizes.values())}-a{self.num_anomalies}-l{self.d_input}-"
                f"nodes{self.min_nodes}-{self.max_nodes}-seed{self.seed}")

    @property
    def root(self) -> Path:
        return self.data_dir / "spectral_anomaly"

    def _generate(self) -> dict[str, torch.Tensor]:
        log.info("spectral anomalies: generating %s", self.name)
        return generate_anomaly_dataset(sum(self.sizes.values()), self.num_anomalies, self.kind, self.d_input,
                                        self.min_nodes, self.max_nodes, self.seed)

    def prepare_data(self) -> None:
        raw = self.root / self.name / "raw"
        if not raw.is_dir():  # the TU files, once written, are the data: no need to read the arrays again
            write_tu(cached(self.root / f"{self.name}.pt", self._generate), raw, self.name)

    def load(self):
        """The whole set as PyG's ``TUDataset`` (labels 0..num_labels−1 one-hot in ``x``, even if a small set
        lacks the top labels)."""
        from torch_geometric.datasets import TUDataset

        self.prepare_data()
        dataset = TUDataset(str(self.root), self.name, transform=self._pad_labels)
        if dataset.num_node_labels > self.d_input:
            raise ValueError(f"{self.name} has {dataset.num_node_labels} node labels, more than d_input={self.d_input}")
        return dataset

    def _pad_labels(self, data):
        data.x = F.pad(data.x, (0, self.d_input - data.x.shape[1]))
        return data

    def split_sizes(self, num_graphs: int) -> dict[str, int]:
        return self.sizes
