"""Graph datasets for SPE's experiments: substructure (cycle) counting on regenerated random graphs.

**Cycle counting** (the GNN-AK / I²-GNN task SPE reports, regenerated offline since its ``.mat`` file is
on Google Drive). Each graph is, with equal probability,

- Erdős–Rényi G(n, p) with mean degree c = p (n − 1) drawn uniformly from [2, 4], or
- random regular with degree 3 or 4 (4 when 3n is odd),

with n uniform in [n_min, n_max]. The target is the number of simple cycles of length 3, 4, 5 and 6
(networkx ``simple_cycles(G, length_bound=6)``), one row ``y [1, 4]`` per graph; with ``standardize``
each column is shifted and scaled by the training split's mean and std (as the reference code does),
kept in ``target_mean`` / ``target_std``. The distribution differs from the original 5k-graph set.

Graphs are generated from ``seed`` and cached under ``data_dir/cycles/`` (``zoo.cache.cached``, atomic
writes) in a file named by every generation parameter. On loading, every graph gets node features
``x = 1 [n, 1]`` and the eigenpairs of :class:`zoo.functional.LaplacianEigenpairs` (full spectrum
padded to ``width``, default n_max, or the first ``d`` extended to the next eigengap).

Batches are ``(batch, batch.y)``: a torch_geometric ``Batch`` (``x``, ``edge_index``, ``batch``,
``eigvals [B, width]``, ``eigvecs [N, width]``, ``y [B, 4]``) and its targets, so
:class:`zoo.tasks.RegressionTask` trains a model that takes the whole ``Batch`` (``spe_gine``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from zoo.data.base import GeneratedData, SplitDataModule
from zoo.data.graph.batches import collate_graphs
from zoo.functional import LaplacianEigenpairs

log = logging.getLogger(__name__)

CYCLE_LENGTHS = (3, 4, 5, 6)
_CACHE_VERSION = 1  # bump when the generator changes what a seed produces


def count_cycles(graph: nx.Graph, lengths: tuple[int, ...] = CYCLE_LENGTHS) -> list[int]:
    """The number of simple cycles of each length in ``lengths`` (each cycle counted once)."""
    counts = dict.fromkeys(lengths, 0)
    for cycle in nx.simple_cycles(graph, length_bound=max(lengths)):
        if len(cycle) in counts:
            counts[len(cycle)] += 1
    return [counts[length] for length in lengths]


def random_graph(rng: np.random.Generator, n_min: int, n_max: int) -> nx.Graph:
    """An ER graph (mean degree in [2, 4]) or a random 3- or 4-regular graph, each with probability 1/2."""
    n = int(rng.integers(n_min, n_max + 1))
    seed = int(rng.integers(2**31))
    if rng.random() < 0.5:
        return nx.gnp_random_graph(n, rng.uniform(2, 4) / (n - 1), seed=seed)
    degree = 3 if n * 3 % 2 == 0 and rng.random() < 0.5 else 4
    return nx.random_regular_graph(degree, n, seed=seed)


def generate_cycle_graphs(num_graphs: int, n_min: int = 10, n_max: int = 25, seed: int = 0) -> dict[str, torch.Tensor]:
    """``num_graphs`` random graphs: ``edge_index [2, sum E]`` (both directions), ``num_nodes [G]``,
    ``num_edges [G]`` (directed count) and ``counts [G, 4]`` (3- to 6-cycles), int64."""
    if not 5 <= n_min <= n_max:
        raise ValueError(f"need 5 <= n_min <= n_max (random regular graphs of degree 4), got {n_min}, {n_max}")
    rng = np.random.default_rng(seed)
    edges, num_nodes, num_edges, counts = [], [], [], []
    for _ in range(num_graphs):
        graph = random_graph(rng, n_min, n_max)
        pairs = torch.tensor(list(graph.edges()), dtype=torch.long).view(-1, 2).T
        edges.append(torch.cat([pairs, pairs.flip(0)], 1))
        num_nodes.append(graph.number_of_nodes())
        num_edges.append(edges[-1].size(1))
        counts.append(count_cycles(graph))
    return {"edge_index": torch.cat(edges, 1), "num_nodes": torch.tensor(num_nodes),
            "num_edges": torch.tensor(num_edges),
            "counts": torch.tensor(counts, dtype=torch.long)}


class CycleCountDataModule(GeneratedData, SplitDataModule):
    """3- to 6-cycle counts on random graphs (module docstring); batches ``(Batch, y [B, 4])``.

    Facts (class attributes): ``d_input`` (1: constant node features) and ``num_targets`` (4), what a model's
    ``in_dim`` and ``out_dim`` must be; ``width`` is the eigenpair columns (``spe_gine``'s ``width``).
    """

    collate = staticmethod(collate_graphs)
    d_input, num_targets = 1, len(CYCLE_LENGTHS)
    facts = ("d_input", "num_targets")

    def __init__(self, data_dir: str = "data", n_train: int = 1500, n_val: int = 500, n_test: int = 1000,
                 n_min: int = 10, n_max: int = 25, width: int | None = None, d: int | None = None,
                 standardize: bool = True, batch_size: int = 64, seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        for name, size in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if size < 1:
                raise ValueError(f"{name} must be a positive integer, got {size}")
        width = n_max if width is None else width
        if d is None and width < n_max:
            raise ValueError(f"the full spectrum of an {n_max}-node graph needs width >= n_max={n_max}, got "
                             f"{width}: raise width or set d (eigenpairs kept) below it")
        self.data_dir, self.n_min, self.n_max, self.seed = Path(data_dir), n_min, n_max, seed
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.transform = LaplacianEigenpairs(width=width, d=d)
        self.width, self.standardize = width, standardize
        self.target_mean = torch.zeros(self.num_targets)
        self.target_std = torch.ones(self.num_targets)

    @property
    def cache_path(self) -> Path:
        sizes = "-".join(str(size) for size in self.sizes.values())
        name = f"cycles-v{_CACHE_VERSION}-n{self.n_min}-{self.n_max}-g{sizes}-seed{self.seed}.pt"
        return self.data_dir / "cycles" / name

    def _generate(self) -> dict[str, torch.Tensor]:
        log.info("cycle counting: generating %d graphs into %s", sum(self.sizes.values()), self.cache_path)
        return generate_cycle_graphs(sum(self.sizes.values()), self.n_min, self.n_max, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.load()
        edge_blocks = data["edge_index"].split(data["num_edges"].tolist(), dim=1)
        counts = data["counts"].double()
        train = counts[:self.sizes["train"]]
        if self.standardize:
            self.target_mean, self.target_std = train.mean(0).float(), train.std(0).clamp_min(1e-6).float()
        targets = (counts.float() - self.target_mean) / self.target_std
        graphs = [self.transform(Data(x=torch.ones(int(n), 1), edge_index=edges, y=y[None], num_nodes=int(n)))
                  for n, edges, y in zip(data["num_nodes"], edge_blocks, targets)]
        start = 0
        for split, size in self.sizes.items():
            self.splits[split] = graphs[start:start + size]
            start += size
