"""Diffusion Molecule Transformer (JODO's denoiser) conditioned on SpecFormer: DiffSpectra (Wang et al., 2025).

The denoiser ``x̂_θ(z_t, t, c)`` predicts the clean molecule from a noisy one (features in
:mod:`zoo.molecules.diffusion`). Every block ``l`` works on node states ``h`` (B, N, d), pair states ``e``
(B, N, N, d_e) and coordinates ``x`` (B, N, 3):

* distance features: ``e_ij += W_d φ(d_ij)``, ``φ`` Gaussian bases of ``d_ij = ‖x_i − x_j‖`` (time enters
  through the block's modulation of ``e``);
* adaLN: ``LN(·)(1 + scale) + shift`` and a ``gate`` on every residual branch, for nodes and pairs, all from
  ``SiLU(c)``, where ``c = emb(λ_t) + W_c · SpecFormer(spectrum)`` (learned-sinusoidal noise-level embedding of
  the log-SNR plus the projected spectrum condition), so every block sees the spectrum;
* all-pair relational attention: ``a^k_ij = softmax_j(q^k_i · k^k_j / √d_h + b^k(e_ij))`` over the real atoms,
  with two extra heads restricted to the self-conditioned bond adjacency and to the 2 Å spatial adjacency
  (each atom also attends to itself); the pre-softmax scores of every head update the pairs;
* an E(3)-equivariant coordinate update ``x_i += 1/n Σ_j (x_i − x_j)/(d_ij + 1) · tanh(MLP(h_i, h_j, e_ij, φ(d_ij)))``
  followed by centre-of-mass removal.

Jumping-knowledge MLPs read the node (pair) states of all blocks and give ``x̂_h`` (``x̂_e``, symmetrised); ``x̂_pos``
is the last block's coordinates. The inputs are the noisy state and the self-conditioning estimate (zeros
without one). A small head on the spectrum condition predicts the atom count (for sampling without the true
count; the reference samples with the true count, hydrogens included).

Deliberate differences from the reference: the coordinate update runs in every block (not once at the end);
the two adjacency heads are masked attention heads with their own projections; the spectrum condition is
projected to ``d_cond`` (the paper: 256 -> 1024); the atom-count head is ours.

The model ``diffspectra``: ``loss(batch)`` (the weighted diffusion loss with self-conditioning, p = 0.5, plus
the count head's cross-entropy), ``forward(batch)`` (the loss as a scalar), ``sample(spectrum, n_atoms, n_steps)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.molecules.diffusion import (ATOM_TYPES, CHARGES, N_EDGE, N_NODE, T_MIN, State, ancestral_sample, decode,
                                     encode, log_snr, pair_mask, q_sample, remove_com, weighted_loss, zeros_like)
from zoo.molecules.specformer import SPECTRA, SpecFormer, random_spectra
from zoo.registry import register_model

PAPER = "DiffSpectra: Molecular Structure Elucidation from Spectra using Diffusion Models (Wang et al., 2025)"


def mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: ``LN(x)(1 + scale) + shift`` with per-molecule (B, C) shift and scale broadcast over atoms / pairs."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
    return F.layer_norm(x, x.shape[-1:]) * (1 + scale.view(shape)) + shift.view(shape)


def gated(x: Tensor, gate: Tensor) -> Tensor:
    return x * gate.view((x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],))


class GaussianBasis(nn.Module):
    """Distances (...) -> ``exp(−(d − μ_k)² / 2w²)`` for ``n`` centres ``μ_k`` evenly on [0, cutoff] Å: (..., n)."""

    def __init__(self, n: int, cutoff: float):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0, cutoff, n), persistent=False)
        self.width = cutoff / (n - 1)

    def forward(self, d: Tensor) -> Tensor:
        return torch.exp(-(d.unsqueeze(-1) - self.centres.to(d.dtype)).square() / (2 * self.width ** 2))


class NoiseLevelEmbedding(nn.Module):
    """Learned sinusoidal embedding of the log-SNR: ``λ'`` = ``λ_t / 10`` -> ``[λ', sin 2πwλ', cos 2πwλ']`` with
    learned frequencies ``w`` -> MLP: times (B,) -> (B, d_cond)."""

    def __init__(self, d_cond: int, n_frequencies: int = 16):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_frequencies))
        self.mlp = mlp(2 * n_frequencies + 1, d_cond, d_cond)

    def forward(self, t: Tensor) -> Tensor:
        lam = (log_snr(t) / 10).unsqueeze(-1)
        angle = 2 * math.pi * lam * self.w
        return self.mlp(torch.cat([lam, angle.sin(), angle.cos()], -1))


class RelationalAttention(nn.Module):
    """Attention over the real atoms with a pair bias ``b(e_ij)`` per head; ``n_heads`` free heads plus one head
    on the bond adjacency and one on the spatial adjacency: h (B, N, d), e (B, N, N, d_e), adjacency
    (B, N, N, 2) bool, mask (B, N) -> (update (B, N, d), pre-softmax scores (B, N, N, n_heads + 2))."""

    def __init__(self, d: int, d_edge: int, n_heads: int):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"width ({d}) must be divisible by n_heads ({n_heads})")
        self.heads, self.d_head = n_heads + 2, d // n_heads
        self.qkv = nn.Linear(d, 3 * self.heads * self.d_head)
        self.bias = nn.Linear(d_edge, self.heads)
        self.out = nn.Linear(self.heads * self.d_head, d)

    def forward(self, h: Tensor, e: Tensor, adjacency: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        B, N, _ = h.shape
        q, k, v = self.qkv(h).view(B, N, 3, self.heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.mT / math.sqrt(self.d_head) + self.bias(e).permute(0, 3, 1, 2)  # (B, heads, N, N)
        eye = torch.eye(N, dtype=torch.bool, device=h.device)
        free = mask[:, None, None, :].expand(B, self.heads - 2, N, N)
        restricted = (adjacency.permute(0, 3, 1, 2) & mask[:, None, None, :]) | eye
        allowed = torch.cat([free, restricted], 1) | eye  # every atom may attend to itself (no empty rows)
        attention = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        update = (attention @ v).transpose(1, 2).reshape(B, N, self.heads * self.d_head)
        return self.out(update), scores.permute(0, 2, 3, 1)


class CoordinateUpdate(nn.Module):
    """``x_i += 1/n Σ_{j≠i} (x_i − x_j)/(d_ij + 1) · tanh(MLP(h_i, h_j, e_ij, φ(d_ij)))``, then CoM removal:
    E(3)-equivariant in x (the MLP sees invariants only). x (B, N, 3) -> (B, N, 3)."""

    def __init__(self, d: int, d_edge: int, n_rbf: int):
        super().__init__()
        # the MLP's first layer on [h_i, h_j, e_ij, φ(d_ij)], split so the node parts are computed once per atom
        self.first_i, self.first_j = nn.Linear(d, d_edge), nn.Linear(d, d_edge, bias=False)
        self.first_pair = nn.Linear(d_edge + n_rbf, d_edge, bias=False)
        self.second = nn.Linear(d_edge, 1)

    def forward(self, x: Tensor, h: Tensor, e: Tensor, rbf: Tensor, distance: Tensor, mask: Tensor) -> Tensor:
        hidden = self.first_i(h).unsqueeze(2) + self.first_j(h).unsqueeze(1) + self.first_pair(torch.cat([e, rbf], -1))
        weight = torch.tanh(self.second(F.silu(hidden))) * pair_mask(mask).unsqueeze(-1)  # (B, N, N, 1)
        direction = (x.unsqueeze(2) - x.unsqueeze(1)) / (distance.unsqueeze(-1) + 1)
        n = mask.sum(1).clamp(min=1).to(x.dtype).view(-1, 1, 1)
        return remove_com(x + (weight * direction).sum(2) / n, mask)


class DMTBlock(nn.Module):
    """One block: distance features, adaLN-modulated relational attention and FFNs on nodes and pairs, coordinate
    update. (h, e, x) -> (h, e, x) with the shapes of the module docstring; ``c`` (B, d_cond)."""

    def __init__(self, d: int, d_edge: int, n_heads: int, d_cond: int, n_rbf: int, cutoff: float,
                 spatial_cutoff: float):
        super().__init__()
        self.rbf, self.spatial_cutoff = GaussianBasis(n_rbf, cutoff), spatial_cutoff
        self.distance = nn.Linear(n_rbf, d_edge)
        self.adaln = nn.Linear(d_cond, 6 * d + 6 * d_edge)
        self.attention = RelationalAttention(d, d_edge, n_heads)
        self.ffn_h = mlp(d, 2 * d, d)
        self.pair = nn.Linear(self.attention.heads + d_edge, d_edge)
        self.ffn_e = mlp(d_edge, 2 * d_edge, d_edge)
        self.coordinates = CoordinateUpdate(d, d_edge, n_rbf)
        self.sizes = [d] * 6 + [d_edge] * 6

    def forward(self, h: Tensor, e: Tensor, x: Tensor, c: Tensor, bonded: Tensor, mask: Tensor):
        distance = (x.unsqueeze(2) - x.unsqueeze(1)).square().sum(-1).clamp(min=1e-12).sqrt()  # (B, N, N)
        rbf = self.rbf(distance)
        e = e + self.distance(rbf)
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f, *edge = self.adaln(F.silu(c)).split(self.sizes, -1)
        shift_p, scale_p, gate_p, shift_g, scale_g, gate_g = edge
        adjacency = torch.stack([bonded, distance < self.spatial_cutoff], -1)
        update, scores = self.attention(modulate(h, shift_a, scale_a), e, adjacency, mask)
        h = h + gated(update, gate_a)
        h = h + gated(self.ffn_h(modulate(h, shift_f, scale_f)), gate_f)
        e = e + gated(self.pair(torch.cat([scores, modulate(e, shift_p, scale_p)], -1)), gate_p)
        e = e + gated(self.ffn_e(modulate(e, shift_g, scale_g)), gate_g)
        h, e = h * mask.unsqueeze(-1), e * pair_mask(mask).unsqueeze(-1)
        return h, e, self.coordinates(x, h, e, rbf, distance, mask)


class DMT(nn.Module):
    """The denoiser ``x̂_θ``: noisy state ``z`` and self-conditioning estimate ``x̃`` (:class:`State`), condition
    ``c`` (B, d_cond), mask (B, N) -> the clean-state estimate (a :class:`State`, edges symmetric, zero on padding)."""

    def __init__(self, width: int = 64, edge_width: int = 32, n_blocks: int = 3, n_heads: int = 4, d_cond: int = 64,
                 n_rbf: int = 16, cutoff: float = 10.0, spatial_cutoff: float = 2.0):
        super().__init__()
        self.rbf = GaussianBasis(n_rbf, cutoff)
        self.node_in = nn.Linear(2 * N_NODE, width)
        self.edge_in = nn.Linear(2 * N_EDGE + n_rbf, edge_width)
        self.blocks = nn.ModuleList(DMTBlock(d=width, d_edge=edge_width, n_heads=n_heads, d_cond=d_cond, n_rbf=n_rbf,
                                             cutoff=cutoff, spatial_cutoff=spatial_cutoff)
                                    for _ in range(n_blocks))
        self.node_out = mlp(n_blocks * width, width, N_NODE)
        self.edge_out = mlp(n_blocks * edge_width, edge_width, N_EDGE)

    def forward(self, z: State, self_cond: State, c: Tensor, mask: Tensor) -> State:
        pairs = pair_mask(mask).unsqueeze(-1)
        x = remove_com(z.pos, mask)
        estimate = remove_com(self_cond.pos, mask)
        estimate_distance = (estimate.unsqueeze(2) - estimate.unsqueeze(1)).square().sum(-1).clamp(min=1e-12).sqrt()
        h = self.node_in(torch.cat([z.nodes, self_cond.nodes], -1)) * mask.unsqueeze(-1)
        e = self.edge_in(torch.cat([z.edges, self_cond.edges, self.rbf(estimate_distance)], -1)) * pairs
        bonded = self_cond.edges[..., 0] > 0.5
        hs, es = [], []
        for block in self.blocks:
            h, e, x = block(h, e, x, c, bonded, mask)
            hs.append(h), es.append(e)
        nodes = self.node_out(torch.cat(hs, -1)) * mask.unsqueeze(-1)
        edges = self.edge_out(torch.cat(es, -1))
        return State(x, nodes, (edges + edges.transpose(1, 2)) / 2 * pairs)


class DiffSpectra(nn.Module):
    """SpecFormer condition + DMT denoiser + VP diffusion (batch format: :mod:`zoo.molecules.diffusion`).

    Args:
        spectra: the spectra SpecFormer reads (default IR only).
        width, edge_width, n_blocks, n_heads: the DMT (paper: 256, 64, 8, 16).
        d_cond: the width of the noise-level + spectrum condition ``c``.
        spec_d_model, spec_layers, spec_heads, spec_d_ff, spec_dim: SpecFormer (paper: 128, 3, 16, 256, 256).
        self_cond_prob: the probability that a training molecule is self-conditioned (paper: 0.5).
        loss_weights: ``(λ_pos, λ_h, λ_e)`` (paper: 1, 0.25, 0.1).
        count_weight: the weight of the atom-count head's cross-entropy in the loss.
        max_atoms: the largest atom count (hydrogens included) the count head predicts (QM9: 29).
        n_steps: the default number of ancestral sampling steps (paper: 1000).
    """

    def __init__(self, spectra: list[str] | tuple[str, ...] = ("ir",), width: int = 64, edge_width: int = 32,
                 n_blocks: int = 3, n_heads: int = 4, d_cond: int = 64, spec_d_model: int = 32, spec_layers: int = 2,
                 spec_heads: int = 4, spec_d_ff: int = 64, spec_dim: int = 64, self_cond_prob: float = 0.5,
                 loss_weights: list[float] | tuple[float, ...] = (1.0, 0.25, 0.1), count_weight: float = 0.1,
                 max_atoms: int = 29, n_steps: int = 100):
        super().__init__()
        if len(loss_weights) != 3:
            raise ValueError(f"loss_weights must be (pos, nodes, edges), got {list(loss_weights)}")
        if not 0 <= self_cond_prob <= 1:
            raise ValueError(f"self_cond_prob must be in [0, 1], got {self_cond_prob}")
        self.self_cond_prob, self.loss_weights, self.count_weight = self_cond_prob, tuple(loss_weights), count_weight
        self.max_atoms, self.n_steps = max_atoms, n_steps
        self.specformer = SpecFormer(spectra=spectra, d_model=spec_d_model, n_heads=spec_heads, n_layers=spec_layers,
                                     d_ff=spec_d_ff, d_out=spec_dim)
        self.spectrum_to_cond = nn.Linear(spec_dim, d_cond)
        self.noise_level = NoiseLevelEmbedding(d_cond)
        self.dmt = DMT(width=width, edge_width=edge_width, n_blocks=n_blocks, n_heads=n_heads, d_cond=d_cond)
        self.count_head = mlp(spec_dim, spec_dim, max_atoms)

    @property
    def spectra(self) -> tuple[str, ...]:
        return self.specformer.spectra

    def denoise(self, z: State, t: Tensor, self_cond: State, spectrum: Tensor, mask: Tensor) -> State:
        """``x̂_θ(z_t, t, c)`` with the SpecFormer embedding ``spectrum`` (B, spec_dim) and times ``t`` (B,)."""
        c = self.noise_level(t) + self.spectrum_to_cond(spectrum)
        return self.dmt(z, self_cond, c, mask)

    def loss(self, batch: dict) -> dict[str, Tensor]:
        """``{"loss", "pos", "nodes", "edges", "count"}`` for a batch (format in :mod:`zoo.molecules.diffusion`)."""
        dtype = next(self.parameters()).dtype
        x, mask = encode(batch, dtype), batch["mask"]
        B, n_atoms = mask.shape[0], mask.sum(1)
        if n_atoms.min() < 1 or n_atoms.max() > self.max_atoms:
            raise ValueError(f"every molecule needs 1..max_atoms={self.max_atoms} atoms, got counts "
                             f"{int(n_atoms.min())}..{int(n_atoms.max())}")
        t = T_MIN + (1 - T_MIN) * torch.rand(B, dtype=dtype, device=mask.device)
        z = q_sample(x, t, mask)
        spectrum = self.specformer(batch)
        self_cond = zeros_like(mask, dtype)
        chosen = torch.rand(B, device=mask.device) < self.self_cond_prob
        if chosen.any():
            with torch.no_grad():
                estimate = self.denoise(z, t, self_cond, spectrum, mask)
            self_cond = State(*(torch.where(chosen.view(-1, *[1] * (a.dim() - 1)), a, 0) for a in estimate))
        terms = weighted_loss(self.denoise(z, t, self_cond, spectrum, mask), x, t, mask, self.loss_weights)
        terms["count"] = F.cross_entropy(self.count_head(spectrum), n_atoms - 1)
        terms["loss"] = terms["loss"] + self.count_weight * terms["count"]
        return terms

    def forward(self, batch: dict) -> Tensor:
        """The training objective (a scalar): ``loss(batch)["loss"]``."""
        return self.loss(batch)["loss"]

    @torch.no_grad()
    def predict_atom_count(self, spectrum: Tensor | dict) -> Tensor:
        """The count head's most likely atom count (hydrogens included) per spectrum: (B,) int64."""
        return self.count_head(self.specformer(spectrum)).argmax(-1) + 1

    @torch.no_grad()
    def sample(self, spectrum: Tensor | dict, n_atoms: Tensor | list[int] | None = None, n_steps: int | None = None):
        """One molecule per spectrum (B, L) (or a batch dict of spectra): a list of B ``(Mol or None, positions
        (n, 3) Å)``. ``n_atoms`` (B,) is the true atom count (the reference's mode); ``None`` uses the count head."""
        embedding = self.specformer(spectrum)
        B = embedding.shape[0]
        counts = self.predict_atom_count(spectrum) if n_atoms is None else torch.as_tensor(n_atoms).long()
        if counts.shape != (B,) or counts.min() < 1 or counts.max() > self.max_atoms:
            raise ValueError(f"n_atoms must hold {B} counts in 1..{self.max_atoms}, got {counts.tolist()}")
        counts = counts.to(embedding.device)
        mask = torch.arange(int(counts.max()), device=embedding.device) < counts.unsqueeze(-1)
        x_hat = ancestral_sample(lambda z, t, previous: self.denoise(z, t, previous, embedding, mask), mask,
                                 self.n_steps if n_steps is None else n_steps, embedding.dtype)
        return decode(x_hat, mask)


def random_batch(model: DiffSpectra, batch: int = 4, n_max: int = 6) -> dict:
    """A random batch in the DiffSpectra format (random molecules: chains of single bonds, no chemistry)."""
    counts = torch.randint(2, n_max + 1, (batch,))
    counts[0] = n_max
    mask = torch.arange(n_max) < counts.unsqueeze(-1)
    chain = torch.diag(torch.ones(n_max - 1, dtype=torch.long), 1)
    bonds = (chain + chain.T) * pair_mask(mask)
    spectra = random_spectra(model.specformer, batch)
    return {"pos": torch.randn(batch, n_max, 3), "atom_types": torch.randint(len(ATOM_TYPES), (batch, n_max)),
            "charges": torch.randint(CHARGES[0], CHARGES[-1] + 1, (batch, n_max)), "bonds": bonds, "mask": mask,
            **(spectra if isinstance(spectra, dict) else {SPECTRA[model.spectra[0]][3]: spectra})}


register_model("diffspectra", family="molecules", task="generative", paper=PAPER, capabilities=("sample",),
               example=lambda model: (random_batch(model), ()))(DiffSpectra)
