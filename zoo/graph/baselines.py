"""GIN with mean pooling: "How Powerful are Graph Neural Networks?" (Xu, Hu, Leskovec, Jegelka, ICLR 2019).

The non-spectral baseline of RQGNN's comparison. ``L`` GIN layers
``h_i ← MLP((1 + ε) h_i + Σ_{j ∈ N(i)} h_j)`` (2-layer MLPs with ReLU, ε learnt, starting at 0), then
``mean_i h_i`` per graph and a linear head: a PyG ``Batch`` (``x`` ``(num_nodes, in_channels)``) ->
logits ``(num_graphs, num_classes)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GINConv, global_mean_pool

from zoo.registry import register_model

GIN_PAPER = "How Powerful are Graph Neural Networks? (Xu et al., ICLR 2019)"


class GINMean(nn.Module):
    """``n_layers`` GIN layers of width ``hidden``, mean pooling, a linear head (see the module docstring)."""

    def __init__(self, in_channels: int = 16, hidden: int = 64, num_classes: int = 2, n_layers: int = 3):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.in_channels, self.num_classes = in_channels, num_classes
        sizes = [in_channels] + [hidden] * n_layers
        self.layers = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()),
                    train_eps=True)
            for a in sizes[:-1])
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, data) -> torch.Tensor:
        x = data.x
        if x.ndim != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be (num_nodes, in_channels={self.in_channels}), got shape {tuple(x.shape)}: "
                             f"set in_channels to the dataset's node feature size")
        batch = getattr(data, "batch", None)
        for layer in self.layers:
            x = layer(x, data.edge_index)
        return self.head(global_mean_pool(x, batch))


def _example(model: GINMean):
    from torch_geometric.data import Batch, Data

    generator = torch.Generator().manual_seed(0)
    graphs = []
    for n in (5, 6):
        ring = torch.arange(n)
        edges = torch.stack([ring, (ring + 1) % n])
        graphs.append(Data(x=torch.randn(n, model.in_channels, generator=generator),
                           edge_index=torch.cat([edges, edges.flip(0)], dim=1)))
    return Batch.from_data_list(graphs), (2, model.num_classes)


register_model("gin_mean", family="graph", task="anomaly", paper=GIN_PAPER, capabilities=("graph_level",),
               example=_example)(GINMean)
