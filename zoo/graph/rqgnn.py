"""RQGNN: "Rayleigh Quotient Graph Neural Networks for Graph-level Anomaly Detection" (Dong et al., ICLR 2024).

A graph ``G`` with ``n`` nodes carries one-hot node labels ``X ∈ {0,1}^{n×F}`` and the normalised Laplacian
``L = I − D^{-1/2} A D^{-1/2}``, with scipy's convention for an isolated node (``L_ii = 0``, as
``scipy.sparse.csgraph.laplacian(normed=True)``; PyG's ``get_laplacian("sym")`` sets ``L_ii = 1`` instead).

**Rayleigh quotient per channel** ``c``::

    r_c = x_cᵀ L x_c / x_cᵀ x_c,      x_cᵀ L x_c = Σ_{(i,j) ∈ E} (x_ic/√d_i − x_jc/√d_j)²   (undirected edges)

the spectral-energy-weighted mean eigenvalue. A channel absent from a graph (``x_cᵀ x_c = 0``) gets
``r_c = 0``. ``rq_form="numerator"`` keeps only ``x_cᵀ L x_c``, as the reference code does.

**RQL** ``h_R = LeakyReLU(W₆(W₅ r + b₅) + b₆)`` (F → hidden → hidden, no activation in between).

**CWGNN** ``H⁰ = σ(W₂ σ(W₁ X))``; ``q`` Chebyshev filters of order ``K``,
``Z_j = Σ_{k<K} T_k(L̂) H⁰ Θ_{j,k}`` with ``L̂ = L − I`` (λ_max = 2); ``H = σ(W₄ σ(W₃ [Z₁ ‖ … ‖ Z_q]))``.
The filters are a registered ``nn.ModuleList`` and train; the reference keeps them in a plain Python list,
so they stay at their random initialisation: ``freeze_wavelets=True`` reproduces that. All q filters read the
same basis ``T_k(L̂)H⁰``, k < K, built once per forward from a sparse ``L̂`` built once: K − 1 sparse products
in all (the reference runs q ``ChebConv``s, q(K − 1) edge-wise propagations).

**RQ-pooling** ``t_G = σ(W₉ σ(W₈ r))``, ``α_i = ⟨H_i, t_G⟩`` (no softmax), ``h_P = Σ_i α_i H_i``.

**Head** ``logits = W₇ Dropout(BatchNorm([h_P ‖ h_R]))``; σ is LeakyReLU throughout.

**Loss** class-balanced focal loss (:func:`zoo.tasks.losses.class_balanced_focal_loss`, weights from
:func:`zoo.tasks.losses.class_balanced_weights`; the anomaly task owns it); the anomaly score is
``softmax(logits)[:, 1]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.graph.sparse import csr_matrix, sparse_product
from zoo.registry import register_model

PAPER = "Rayleigh Quotient Graph Neural Networks for Graph-level Anomaly Detection (Dong et al., ICLR 2024)"
RQ_FORMS = ("normalised", "numerator")


def _check_graph(x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None) -> torch.Tensor:
    """Validate the PyG fields and return ``batch`` (all zeros for a single graph)."""
    if x.ndim != 2:
        raise ValueError(f"node features x must be (num_nodes, F), got shape {tuple(x.shape)}")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be (2, num_edges) with both directions of each undirected edge, "
                         f"got shape {tuple(edge_index.shape)}")
    if edge_index.numel() and int(edge_index.max()) >= x.shape[0]:
        raise ValueError(f"edge_index refers to node {int(edge_index.max())} but x has {x.shape[0]} rows")
    if batch is None:
        return torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    if batch.shape != (x.shape[0],):
        raise ValueError(f"batch must be (num_nodes,) = ({x.shape[0]},), got shape {tuple(batch.shape)}")
    return batch


def normalised_adjacency(edge_index: torch.Tensor, num_nodes: int, dtype: torch.dtype) -> tuple[torch.Tensor,
                                                                                                torch.Tensor]:
    """Edge weights ``1/√(d_i d_j)`` of ``D^{-1/2} A D^{-1/2}`` ``(num_edges,)`` and the degrees ``(num_nodes,)``.

    ``edge_index`` lists both directions of every undirected edge (PyG's convention), so ``d_i`` is the
    number of edges leaving ``i``. Isolated nodes have ``d_i = 0`` and no edges.
    """
    row, col = edge_index
    degree = torch.zeros(num_nodes, dtype=dtype, device=edge_index.device).index_add_(
        0, row, torch.ones(row.shape[0], dtype=dtype, device=edge_index.device))
    inv_sqrt = degree.clamp(min=1).rsqrt()
    return inv_sqrt[row] * inv_sqrt[col], degree


def rayleigh_quotient(x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor | None = None,
                      num_graphs: int | None = None, form: str = "normalised", eps: float = 1e-12) -> torch.Tensor:
    """Per-graph, per-channel Rayleigh quotient ``r`` ``(num_graphs, F)`` of node features ``x`` ``(num_nodes, F)``.

    ``form="normalised"``: ``x_cᵀLx_c / x_cᵀx_c``, set to 0 where ``x_cᵀx_c <= eps`` (an empty channel);
    ``form="numerator"``: ``x_cᵀLx_c`` only (the reference code). ``L`` follows scipy's convention
    (an isolated node contributes to ``x_cᵀx_c`` but not to ``x_cᵀLx_c``).
    """
    if form not in RQ_FORMS:
        raise ValueError(f"unknown rq_form {form!r}: expected one of {', '.join(RQ_FORMS)}")
    batch = _check_graph(x, edge_index, batch)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    row, col = edge_index
    _, degree = normalised_adjacency(edge_index, x.shape[0], x.dtype)
    scaled = x * degree.clamp(min=1).rsqrt()[:, None]
    # each undirected edge appears twice in edge_index: halve the sum of squared differences
    energy = 0.5 * (scaled[row] - scaled[col]).square()
    numerator = x.new_zeros(num_graphs, x.shape[1]).index_add_(0, batch[row], energy)
    if form == "numerator":
        return numerator
    denominator = x.new_zeros(num_graphs, x.shape[1]).index_add_(0, batch, x.square())
    empty = denominator <= eps
    return torch.where(empty, torch.zeros_like(numerator), numerator / denominator.masked_fill(empty, 1.0))


def _csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """The ``[n, n]`` CSR matrix with ``values`` at (``rows``, ``cols``) (each ``(nnz,)``, in any order)."""
    order = torch.argsort(rows * n + cols)
    return csr_matrix(F.pad(torch.cumsum(torch.bincount(rows, minlength=n), 0), (1, 0)), cols[order], values[order])


def shifted_laplacian(edge_index: torch.Tensor, num_nodes: int, dtype: torch.dtype) -> tuple[torch.Tensor,
                                                                                              torch.Tensor]:
    """``L̂ = L − I`` and its transpose, sparse CSR ``(num_nodes, num_nodes)`` each: ``−1/√(d_i d_j)`` on the
    edges, ``−1`` on an isolated node's diagonal (scipy's ``L_ii = 0``), 0 elsewhere."""
    weight, degree = normalised_adjacency(edge_index, num_nodes, dtype)
    isolated = torch.nonzero(degree == 0)[:, 0]
    rows, cols = torch.cat([edge_index, isolated.expand(2, -1)], dim=1)
    values = -torch.cat([weight, weight.new_ones(isolated.shape[0])])
    return _csr(rows, cols, values, num_nodes), _csr(cols, rows, values, num_nodes)


def chebyshev_basis(h: torch.Tensor, laplacian: tuple[torch.Tensor, torch.Tensor], K: int) -> torch.Tensor:
    """``[T_0(L̂)H ‖ … ‖ T_{K−1}(L̂)H]`` ``(num_nodes, K·F)`` of ``H`` ``(num_nodes, F)``, ``laplacian = (L̂, L̂ᵀ)``.

    ``T_0(L̂)H = H``, ``T_1(L̂)H = L̂H``, ``T_k = 2L̂T_{k−1} − T_{k−2}``: one sparse product a hop.
    """
    terms = [h]
    for k in range(1, K):
        propagated = sparse_product(terms[-1], laplacian)
        terms.append(propagated if k == 1 else propagated.mul_(2).sub_(terms[-2]))
    return torch.cat(terms, dim=-1)


class ChebyshevWavelet(nn.Module):
    """One Chebyshev filter of order ``K``: ``Z = Σ_{k<K} T_k(L̂) H Θ_k + b`` with ``L̂ = L − I``.

    With scipy's convention ``L̂ = −D^{-1/2}AD^{-1/2}`` on nodes with edges and ``L̂_ii = −1`` on isolated nodes.
    ``H`` ``(num_nodes, in_channels)`` -> ``Z`` ``(num_nodes, out_channels)``; :meth:`filter` applies the filter to
    a :func:`chebyshev_basis` (RQGNN's q filters share one).
    """

    def __init__(self, in_channels: int, out_channels: int, K: int):
        super().__init__()
        if K < 1:
            raise ValueError(f"the Chebyshev order K must be >= 1, got {K}")
        self.K = K
        self.theta = nn.Parameter(torch.empty(K, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        for weight in self.theta:
            nn.init.xavier_uniform_(weight)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.filter(chebyshev_basis(h, shifted_laplacian(edge_index, h.shape[0], h.dtype), self.K))

    def filter(self, basis: torch.Tensor) -> torch.Tensor:
        """``Σ_k T_k(L̂)H Θ_k + b`` from the basis ``(num_nodes, K·in_channels)`` -> ``(num_nodes, out_channels)``."""
        return torch.addmm(self.bias, basis, self.theta.flatten(0, 1))


def _mlp(sizes: list[int]) -> nn.Sequential:
    """``σ(W_2 σ(W_1 ·))``: linear layers of ``sizes``, each followed by LeakyReLU (σ)."""
    layers: list[nn.Module] = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(size_in, size_out), nn.LeakyReLU()]
    return nn.Sequential(*layers)


class RQGNN(nn.Module):
    """RQGNN on a PyG ``Batch`` (``x`` ``(num_nodes, in_channels)`` one-hot labels, ``edge_index``, ``batch``)
    -> logits ``(num_graphs, num_classes)``. See the module docstring for the symbols.

    Args:
        in_channels: ``F``, the number of node-label channels.
        hidden: width of RQL, CWGNN's output and RQ-pooling (64 in the paper).
        num_classes: 2 (normal, anomaly).
        width: ``q``, the number of Chebyshev filters (4). depth: their order ``K`` (6).
        dropout: before the classifier (0.4).
        rq_form: ``"normalised"`` (the paper) or ``"numerator"`` (the reference code).
        freeze_wavelets: keep the filters at their initialisation, as the reference code does.
    """

    def __init__(self, in_channels: int = 16, hidden: int = 64, num_classes: int = 2, width: int = 4, depth: int = 6,
                 dropout: float = 0.4, rq_form: str = "normalised", freeze_wavelets: bool = False, eps: float = 1e-12):
        super().__init__()
        if rq_form not in RQ_FORMS:
            raise ValueError(f"unknown rq_form {rq_form!r}: expected one of {', '.join(RQ_FORMS)}")
        if width < 1:
            raise ValueError(f"width (the number q of Chebyshev filters) must be >= 1, got {width}")
        self.in_channels, self.num_classes, self.rq_form, self.eps = in_channels, num_classes, rq_form, eps
        self.depth = depth
        self.rql = nn.Sequential(nn.Linear(in_channels, hidden), nn.Linear(hidden, hidden), nn.LeakyReLU())
        self.encoder = _mlp([in_channels, in_channels, in_channels])
        self.wavelets = nn.ModuleList(ChebyshevWavelet(in_channels, in_channels, depth) for _ in range(width))
        self.wavelets.requires_grad_(not freeze_wavelets)
        self.combine = _mlp([width * in_channels, hidden, hidden])
        self.pool_query = _mlp([in_channels, hidden, hidden])
        self.head = nn.Sequential(nn.BatchNorm1d(2 * hidden), nn.Dropout(dropout), nn.Linear(2 * hidden, num_classes))

    def forward(self, data) -> torch.Tensor:
        x, edge_index = data.x, data.edge_index
        batch = _check_graph(x, edge_index, getattr(data, "batch", None))
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x has {x.shape[1]} node-label channels but the model was built with "
                             f"in_channels={self.in_channels}: set in_channels to the dataset's number of labels")
        num_graphs = int(getattr(data, "num_graphs", 0) or (int(batch.max()) + 1))
        r = rayleigh_quotient(x, edge_index, batch, num_graphs, self.rq_form, self.eps)  # (B, F)
        h_r = self.rql(r)                                                                  # (B, hidden)
        h0 = self.encoder(x)                                                               # (N, F)
        basis = chebyshev_basis(h0, shifted_laplacian(edge_index, x.shape[0], x.dtype), self.depth)  # (N, K F)
        z = torch.cat([wavelet.filter(basis) for wavelet in self.wavelets], dim=-1)        # (N, q F)
        h = self.combine(z)                                                                # (N, hidden)
        alpha = (h * self.pool_query(r)[batch]).sum(-1, keepdim=True)                      # (N, 1)
        h_p = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, alpha * h)          # (B, hidden)
        return self.head(torch.cat([h_p, h_r], dim=-1))


class RQLogistic(nn.Module):
    """The RQ-only baseline: logistic regression on the Rayleigh-quotient vector, ``logits = W r + b``.

    A PyG ``Batch`` (``x`` ``(num_nodes, in_channels)``) -> logits ``(num_graphs, num_classes)``.
    """

    def __init__(self, in_channels: int = 16, num_classes: int = 2, rq_form: str = "normalised"):
        super().__init__()
        if rq_form not in RQ_FORMS:
            raise ValueError(f"unknown rq_form {rq_form!r}: expected one of {', '.join(RQ_FORMS)}")
        self.in_channels, self.num_classes, self.rq_form = in_channels, num_classes, rq_form
        self.linear = nn.Linear(in_channels, num_classes)

    def forward(self, data) -> torch.Tensor:
        if data.x.shape[-1] != self.in_channels:
            raise ValueError(f"x has {data.x.shape[-1]} node-label channels but the model was built with "
                             f"in_channels={self.in_channels}: set in_channels to the dataset's number of labels")
        num_graphs = getattr(data, "num_graphs", None)
        return self.linear(rayleigh_quotient(data.x, data.edge_index, getattr(data, "batch", None), num_graphs,
                                             self.rq_form))


def _example(model: RQGNN):
    from torch_geometric.data import Batch, Data

    generator = torch.Generator().manual_seed(0)
    graphs = []
    for n in (5, 7, 4):
        labels = torch.randint(model.in_channels, (n,), generator=generator)
        ring = torch.arange(n)
        edges = torch.stack([ring, (ring + 1) % n])
        graphs.append(Data(x=F.one_hot(labels, model.in_channels).float(),
                           edge_index=torch.cat([edges, edges.flip(0)], dim=1)))
    return Batch.from_data_list(graphs), (3, model.num_classes)


register_model("rqgnn", family="graph", task="anomaly", paper=PAPER, capabilities=("graph_level",),
               example=_example)(RQGNN)
register_model("rq_logistic", family="graph", task="anomaly", paper=PAPER, capabilities=("graph_level",),
               example=_example)(RQLogistic)
