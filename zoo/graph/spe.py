"""Stable and Expressive Positional Encodings (SPE), Huang et al., "On the Stability of Expressive Positional
Encodings for Graph Neural Networks", ICLR 2024; and the GINE model that consumes them.

With the normalised Laplacian's eigenpairs (Λ, V) of a graph (:mod:`zoo.functional.laplacian`):

    z_ℓ = φ_ℓ(Λ) ∈ R^d,  ℓ = 1..m        (φ_ℓ an MLP applied to each eigenvalue on its own)
    W_ℓ = V diag(z_ℓ) Vᵀ ∈ R^{n×n}       (stacked as W ∈ R^{n×n×m})
    SPE(V, Λ) = Σ_k ρ(W)[:, k, :] ∈ R^{n×p}

ρ is a GIN that passes messages along W's first axis, h_i ← MLP((1+ε) h_i + Σ_{j∈N(i)} h_j), with weights
shared over the second axis (each column k is an n×m signal of its own). Equal eigenvalues get equal
weights z_ℓ, so W, hence SPE, is invariant to eigenvector signs and to the basis chosen inside each
eigenspace, and the paper bounds ‖ΔSPE‖ by the Lipschitz constants of φ and ρ times ‖ΔL‖ (divided by the
gap λ_{d+1} − λ_d when the spectrum is truncated; there is no gap term with the full spectrum).

Batched: ``to_dense_batch`` and one einsum build W for all graphs; no loop over graphs. ρ runs on the real
(node i, column k) pairs of W, k < n of i's graph, packed once (P = Σ_G n_G² rows instead of the padded
num_nodes · n_max), so its BatchNorm is plain BatchNorm over real entries, its matmuls skip the padding, and
GIN's neighbour sum is one sparse matrix (:func:`pair_adjacency`) built once per forward. Departures from the
reference code (Graph-COM/SPE): BatchNorm in φ and ρ counts only real eigenvalues and real columns (the
reference counts the padding, so its output depends on the batch's composition); GIN's ε starts at 0,
not ``randn``; the per-layer PE MLP takes any ``pe_dim`` (the reference hard-codes 37).

:class:`SPEGINE` (registered ``spe_gine``): x⁰ = Linear(x) + Linear(PE), every GINE layer t adds MLP_t(PE)
to its input (residual layers), add or mean pooling, an MLP head. ``pe`` picks SPE or a baseline of
:mod:`zoo.graph.pe` (``none``, ``lap``, ``signnet``), so the paper's comparison runs with one model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool
from torch_geometric.utils import to_dense_batch

from zoo.functional import LaplacianEigenpairs, eigvec_mask
from zoo.graph.pe import LapPE, MaskedMLP, SignNetPE
from zoo.graph.sparse import csr_matrix, sparse_product
from zoo.registry import register_model

SPE_PAPER = "Huang et al., On the Stability of Expressive Positional Encodings for Graph Neural Networks, ICLR 2024"
PES = ("spe", "none", "lap", "signnet")
POOLINGS = {"add": global_add_pool, "mean": global_mean_pool}


def pair_adjacency(edge_index: Tensor, mask: Tensor, dtype: torch.dtype) -> Tensor:
    """ρ's neighbour sum on the packed pairs as a sparse CSR matrix ``[P, P]``, P = ``mask.sum()``.

    ``mask [num_nodes, n_max]`` marks each node's real columns; the pairs (i, k) are packed node-major, in the
    order of ``mask.nonzero()``. Row (t, k) holds a 1 at (s, k) for every edge s → t of ``edge_index [2, E]``
    (an edge's two ends are in one graph, so they have the same real columns).
    """
    num_nodes, device = mask.size(0), mask.device
    node, column = mask.nonzero(as_tuple=True)                                 # [P]
    columns = mask.sum(1)
    first_pair = torch.cumsum(columns, 0) - columns                            # [num_nodes]
    source, target = edge_index[:, torch.argsort(edge_index[1] * num_nodes + edge_index[0])]  # by target, source
    in_degree = torch.bincount(target, minlength=num_nodes)
    first_edge = torch.cumsum(in_degree, 0) - in_degree                        # [num_nodes]: t's first edge s → t
    row_size = in_degree[node]                                                 # [P]: row (t, k) has deg t entries
    crow = F.pad(torch.cumsum(row_size, 0), (1, 0))                            # [P + 1]
    row = torch.repeat_interleave(torch.arange(node.numel(), device=device), row_size)         # [nnz]
    edge = first_edge[node[row]] + torch.arange(row.numel(), device=device) - crow[row]        # [nnz]: its s → t
    col = first_pair[source[edge]] + column[row]
    return csr_matrix(crow, col, torch.ones(col.numel(), dtype=dtype, device=device))


class RhoGINLayer(nn.Module):
    """One GIN layer of ρ on W's packed real (node, column) pairs: ``h [P, in]`` -> ``[P, out]``.

    h_(i,k) ← MLP((1+ε) h_(i,k) + Σ_{j∈N(i)} h_(j,k)) for every column k at once, the sum being A h with
    ``adjacency = (A, Aᵀ)`` (:func:`pair_adjacency`); BatchNorm statistics over the P real pairs.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, norm: str = "batch"):
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(()))
        self.mlp = MaskedMLP(in_dim, hidden, out_dim, n_layers=2, norm=norm)

    def forward(self, h: Tensor, adjacency: tuple[Tensor, Tensor]) -> Tensor:
        return self.mlp((1 + self.eps) * h + sparse_product(h, adjacency))


class SPE(nn.Module):
    """SPE positional encodings: ``forward(eigvals [B, d], eigvecs [num_nodes, d], edge_index, batch)``
    -> ``[num_nodes, p]`` (padded eigenpairs, as stored by ``LaplacianEigenpairs``, are masked out).

    Args:
        m: the number of eigenvalue maps φ_ℓ (channels of W).
        p: the output size.
        phi_hidden, phi_layers: each φ_ℓ is a scalar MLP 1 → phi_hidden → ... → 1.
        rho_hidden, rho_layers: ρ is a GIN of ``rho_layers`` layers of width ``rho_hidden``.
        norm: ``"batch"`` (BatchNorm over real eigenvalues and real pairs only) or ``"none"``.
    """

    def __init__(self, m: int = 8, p: int = 16, phi_hidden: int = 16, phi_layers: int = 3, rho_hidden: int = 32,
                 rho_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if min(m, p, phi_layers, rho_layers) < 1:
            raise ValueError(f"m, p, phi_layers and rho_layers must be >= 1, got {m}, {p}, {phi_layers}, {rho_layers}")
        self.m, self.p = m, p
        self.phi = nn.ModuleList(MaskedMLP(1, phi_hidden, 1, phi_layers, norm) for _ in range(m))
        dims = [m] + [rho_hidden] * (rho_layers - 1) + [p]
        self.rho = nn.ModuleList(RhoGINLayer(a, rho_hidden, b, norm) for a, b in zip(dims[:-1], dims[1:]))

    def eigenspace_tensor(self, eigvals: Tensor, eigvecs: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """W restricted to real rows: ``[num_nodes, n_max, m]``, and the real-column mask ``[num_nodes, n_max]``.

        φ runs on the real eigenvalues only (packed), so its BatchNorm never sees the padding.
        """
        num_graphs = eigvals.size(0)
        real = eigvec_mask(eigvecs, batch, num_graphs)  # [B, d]
        z_real = torch.cat([phi(eigvals[real][:, None]) for phi in self.phi], -1)  # [real eigenvalues, m]
        z = z_real.new_zeros(*real.shape, self.m)
        z[real] = z_real  # [B, d, m], 0 on padding
        V, node_mask = to_dense_batch(eigvecs, batch, batch_size=num_graphs)  # [B, n_max, d], [B, n_max]
        W = torch.einsum("bid,bdm,bjd->bijm", V, z, V)
        return W[node_mask], node_mask[batch]

    def forward(self, eigvals: Tensor, eigvecs: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        if eigvals.dim() != 2 or eigvecs.dim() != 2 or eigvals.size(1) != eigvecs.size(1):
            raise ValueError(f"expected eigvals [num_graphs, d] and eigvecs [num_nodes, d], got "
                             f"{tuple(eigvals.shape)} and {tuple(eigvecs.shape)} (use LaplacianEigenpairs)")
        if batch.numel() != eigvecs.size(0) or (batch.numel() > 1 and (batch[1:] < batch[:-1]).any()):
            raise ValueError("batch must give every node's graph, sorted (as a torch_geometric Batch stores it)")
        W, mask = self.eigenspace_tensor(eigvals, eigvecs, batch)
        node, column = mask.nonzero(as_tuple=True)
        h = W[node, column]  # [P, m]: the real pairs, packed node-major
        adjacency = (pair_adjacency(edge_index, mask, eigvecs.dtype),
                     pair_adjacency(edge_index.flip(0), mask, eigvecs.dtype))
        for index, layer in enumerate(self.rho):
            h = layer(h, adjacency)
            if index < len(self.rho) - 1:
                h = torch.relu(h)
        return h.new_zeros(eigvecs.size(0), self.p).index_add_(0, node, h)


class SPEGINE(nn.Module):
    """GINE with positional encodings at the input and at every layer: PyG ``Batch`` -> ``[num_graphs, out_dim]``.

    The batch needs ``x [num_nodes, in_dim]``, ``edge_index``, ``batch`` and, unless ``pe="none"``,
    ``eigvals [num_graphs, width]`` and ``eigvecs [num_nodes, width]`` (``LaplacianEigenpairs(width)``);
    ``edge_attr [E, edge_dim]`` when ``edge_dim > 0``: GINE messages are ReLU(h_j + Linear(e_ij)), with one
    edge encoder shared by the layers (0: no edge features, messages ReLU(h_j)).
    """

    def __init__(self, in_dim: int = 1, out_dim: int = 1, hidden: int = 64, n_layers: int = 4, edge_dim: int = 0,
                 pooling: str = "add", pe: str = "spe", width: int = 25, pe_dim: int = 16, m: int = 8,
                 phi_hidden: int = 16, phi_layers: int = 3, rho_hidden: int = 32, rho_layers: int = 3,
                 norm: str = "batch"):
        super().__init__()
        if pe not in PES:
            raise ValueError(f"unknown pe {pe!r}: expected one of {PES}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}: expected one of {sorted(POOLINGS)}")
        self.in_dim, self.out_dim, self.width, self.edge_dim = in_dim, out_dim, width, edge_dim
        self.pooling, self.pe_kind = pooling, pe
        self.pe = {"spe": lambda: SPE(m=m, p=pe_dim, phi_hidden=phi_hidden, phi_layers=phi_layers,
                                      rho_hidden=rho_hidden, rho_layers=rho_layers, norm=norm),
                   "lap": lambda: LapPE(width, pe_dim), "signnet": lambda: SignNetPE(width, pe_dim, phi_hidden, norm),
                   "none": lambda: None}[pe]()
        self.encoder = nn.Linear(in_dim, hidden)
        self.pe_encoder = nn.Linear(pe_dim, hidden) if self.pe is not None else None
        self.pe_layers = nn.ModuleList(MaskedMLP(pe_dim, hidden, hidden, 2, norm) for _ in range(n_layers)
                                       ) if self.pe is not None else None
        self.edge_encoder = nn.Linear(edge_dim, hidden) if edge_dim else None
        self.convs = nn.ModuleList(GINEConv(MaskedMLP(hidden, hidden, hidden, 2, norm), train_eps=True)
                                   for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) if norm == "batch" else nn.Identity()
                                   for _ in range(n_layers))
        self.head = MaskedMLP(hidden, hidden, out_dim, 3, norm)

    def forward(self, data: Batch) -> Tensor:
        if getattr(data, "x", None) is None or data.x.dim() != 2 or data.x.size(1) != self.in_dim:
            raise ValueError(f"expected node features data.x [num_nodes, {self.in_dim}] (in_dim), got "
                             f"{None if getattr(data, 'x', None) is None else tuple(data.x.shape)}")
        batch = getattr(data, "batch", None)
        batch = data.x.new_zeros(data.num_nodes, dtype=torch.long) if batch is None else batch
        h = self.encoder(data.x)
        pe = None
        if self.pe is not None:
            if getattr(data, "eigvecs", None) is None or data.eigvecs.size(1) != self.width:
                raise ValueError(f"pe={self.pe_kind!r} needs data.eigvals / data.eigvecs of width {self.width}: "
                                 f"apply zoo.graph.LaplacianEigenpairs(width={self.width}) to every graph")
            pe = self.pe(data.eigvals, data.eigvecs, data.edge_index, batch)
            h = h + self.pe_encoder(pe)
        if self.edge_encoder is not None:
            edge_attr = getattr(data, "edge_attr", None)
            if edge_attr is None or tuple(edge_attr.shape) != (data.edge_index.size(1), self.edge_dim):
                got = None if edge_attr is None else tuple(edge_attr.shape)
                raise ValueError(f"edge_dim={self.edge_dim} needs data.edge_attr [num_edges, {self.edge_dim}], got "
                                 f"{got} (edge_dim=0: graphs without edge features)")
            edge_attr = self.edge_encoder(edge_attr.to(h.dtype))
        else:
            edge_attr = h.new_zeros(data.edge_index.size(1), h.size(1))
        for t, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h_in = h + self.pe_layers[t](pe) if pe is not None else h
            h = h + torch.relu(norm(conv(h_in, data.edge_index, edge_attr)))
        return self.head(POOLINGS[self.pooling](h, batch, size=getattr(data, "num_graphs", 1)))


def spe_gine_example(model: SPEGINE) -> tuple[Batch, tuple[int, ...]]:
    """Three small graphs (C5, P4, Petersen) with their eigenpairs: the registry sweep's input."""
    import networkx as nx
    from torch_geometric.utils import from_networkx

    transform = LaplacianEigenpairs(width=model.width)
    graphs = []
    for graph in (nx.cycle_graph(5), nx.path_graph(4), nx.petersen_graph()):
        data = from_networkx(graph)
        data.x = torch.randn(graph.number_of_nodes(), model.in_dim)
        if model.edge_dim:
            data.edge_attr = torch.randn(data.edge_index.size(1), model.edge_dim)
        graphs.append(transform(data))
    return Batch.from_data_list(graphs), (3, model.out_dim)


@register_model("spe_gine", family="graph", task="regression", paper=SPE_PAPER,
                example=spe_gine_example)
def spe_gine(width: int = 12, **kwargs) -> SPEGINE:
    """SPE-GINE on 12 eigenpair columns; every other :class:`SPEGINE` argument passes through ``kwargs``."""
    return SPEGINE(width=width, **kwargs)
