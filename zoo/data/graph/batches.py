"""Batches of the graph datamodules: a list of PyG graphs -> ``(Batch, Batch.y)``."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data


def collate_graphs(items: list[Data]) -> tuple[Batch, torch.Tensor]:
    """A list of graphs -> ``(Batch, Batch.y)``: the targets beside the ``Batch`` a model takes whole."""
    batch = Batch.from_data_list(items)
    return batch, batch.y
