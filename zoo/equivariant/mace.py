"""A MACE-style interatomic potential whose products are Gaunt (``gaunt_mace``) or Clebsch–Gordan (``cg_mace``).

"Enabling Efficient Equivariant Operations in the Fourier Basis via Gaunt Tensor Products" (Luo, Chen,
Krishnapriyan, ICLR 2024) replaces the Clebsch–Gordan products of MACE ("MACE: Higher Order Equivariant Message
Passing Neural Networks for Fast and Accurate Force Fields", Batatia et al., NeurIPS 2022) by Gaunt products. The
two registered models are the same network; only the product differs (:mod:`zoo.equivariant.products`).

Atoms ``i`` with species ``z_i`` and positions ``r_i``; neighbours ``j`` of ``i`` within the cutoff ``r_c``,
``r_ij = r_j − r_i``. Node features ``h_i^(t)`` are ``(K, (L_h+1)²)``: K channels of degrees ``0..L_h``. Layer t:

    A_i     = (1/n̄) Σ_j R(|r_ij|) Y(r̂_ij) ⊗ h_j^(t)         (t = 1: h scalar, A_{i,k,lm} = (1/n̄) Σ_j R_{kl} Y_lm h_{jk})
    B_i^(1) = A_i,  B_i^(ν) = B_i^(ν−1) ⊗ A_i  (ν ≤ correlation)             the many-body ("symmetric") product
    m_i     = Σ_ν W_ν B_i^(ν)                                                  channel mixing per degree
    h_i^(t+1) = W m_i + W_sc h_i^(t),      E = Σ_i Σ_t readout_t(h_i^(t+1), scalars)

``Y`` are e3nn's real spherical harmonics of degrees ≤ ``lmax`` (integral normalisation × √4π, so ``Y_0 = 1``),
``R`` a radial network on a Bessel basis with MACE's polynomial envelope, ``n̄`` the mean neighbour count.
With the Gaunt product, ``R`` gives one weight per channel and degree of ``Y``; with Clebsch–Gordan (MACE), one
per channel and path. A, B up to ``lmax``; the messages and features passed on up to ``hidden_lmax`` (scalars only
after the last layer, as in MACE). Forces are ``F = −∂E/∂r`` by autograd
(:func:`zoo.functional.energy_and_forces`).

Departures from MACE: the many-body product is the iterated two-body product with learnable weights per channel
and path (CG) or per channel and degree (Gaunt) instead of MACE's symmetric contraction with weights per species;
the readouts are linear except the last (a one-hidden-layer MLP, as in MACE); no per-species reference energies
(the data's energies are relative to a per-molecule reference).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.equivariant.products import CGConvolution, CGProduct, gaunt_product
from zoo.equivariant.sh_fourier import check_lmax, flat_index
from zoo.optional import require
from zoo.registry import register_model

PAPER = ("Enabling Efficient Equivariant Operations in the Fourier Basis via Gaunt Tensor Products (Luo, Chen, "
         "Krishnapriyan; ICLR 2024); MACE (Batatia et al.; NeurIPS 2022)")
PRODUCTS = ("gaunt", "cg")


class BesselBasis(nn.Module):
    """``forward(r (E,)) -> (E, n)``: ``√(2/r_c) sin(nπ r / r_c) / r · u(r / r_c)``, ``n = 1..n_basis``, with MACE's
    envelope ``u(x) = 1 − (p+1)(p+2)/2 x^p + p(p+2) x^{p+1} − p(p+1)/2 x^{p+2}`` (zero with two derivatives at r_c)."""

    def __init__(self, cutoff: float, n_basis: int = 8, p: int = 5):
        super().__init__()
        self.cutoff, self.n_basis, self.p = cutoff, n_basis, p

    def forward(self, r: Tensor) -> Tensor:
        x, p = r / self.cutoff, self.p
        envelope = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        n = torch.arange(1, self.n_basis + 1, dtype=r.dtype, device=r.device)
        bessel = math.sqrt(2 / self.cutoff) * torch.sin(n * math.pi / self.cutoff * r[:, None]) / r[:, None]
        return bessel * (envelope * (x < 1))[:, None]


class DegreeLinear(nn.Module):
    """Channel mixing with one matrix per degree (equivariant): ``(..., K_in, (L+1)²) -> (..., K_out, (L+1)²)``."""

    def __init__(self, channels_in: int, channels_out: int, lmax: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(lmax + 1, channels_out, channels_in) / math.sqrt(channels_in))
        self.register_buffer("l_idx", flat_index(lmax)[1], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("...ci,ikc->...ki", x, self.weight[self.l_idx])


def radial_mlp(n_basis: int, hidden: int, n_out: int) -> nn.Sequential:
    """``(E, n_basis) -> (E, n_out)``, without biases (as e3nn's ``FullyConnectedNet`` in MACE): a zero basis at
    the cutoff gives zero weights, so the energy is smooth where a neighbour leaves."""
    return nn.Sequential(nn.Linear(n_basis, hidden, bias=False), nn.SiLU(), nn.Linear(hidden, hidden, bias=False),
                         nn.SiLU(), nn.Linear(hidden, n_out, bias=False))


class Interaction(nn.Module):
    """One MACE layer: ``forward(h (N, K, (lmax_h+1)²), Y (E, (lmax+1)²), basis (E, n), src, dst) -> h' (N, K,
    (lmax_out+1)²)`` (module doc)."""

    def __init__(self, product: str, channels: int, lmax: int, lmax_h: int, lmax_out: int, correlation: int,
                 n_basis: int, radial_hidden: int, avg_neighbors: float, method: str):
        super().__init__()
        K, self.lmax, self.lmax_h, self.avg_neighbors = channels, lmax, lmax_h, avg_neighbors
        self.up = DegreeLinear(K, K, lmax_h)
        self.register_buffer("l_idx", flat_index(lmax)[1], persistent=False)
        if lmax_h == 0:                   # scalar features: the edge product is a scaling in both variants
            self.conv, n_radial = None, K * (lmax + 1)
        elif product == "gaunt":
            self.conv, n_radial = gaunt_product(lmax, lmax_h, lmax, K, method), K * (lmax + 1)
        else:
            self.conv = CGConvolution(lmax_h, lmax, K)
            n_radial = self.conv.weight_numel
        self.radial = radial_mlp(n_basis, radial_hidden, n_radial)
        self.products = nn.ModuleList()
        for nu in range(2, correlation + 1):
            last = nu == correlation
            if product == "gaunt":
                self.products.append(gaunt_product(lmax, lmax, lmax_out if last else lmax, K, method))
            else:
                previous = self.products[-1].irreps_out if self.products else None
                self.products.append(CGProduct(lmax, lmax, lmax_out if last else lmax, K, keep_pseudo=not last,
                                               irreps1=previous))
        self.mix = nn.ModuleList(DegreeLinear(K, K, lmax_out) for _ in range(correlation))
        self.lmax_out = lmax_out
        self.out = DegreeLinear(K, K, lmax_out)
        self.skip = DegreeLinear(K, K, min(lmax_h, lmax_out))

    def atomic_basis(self, h: Tensor, Y: Tensor, basis: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        """``A (N, K, (lmax+1)²)``."""
        h_j, weights = self.up(h)[src], self.radial(basis)
        if isinstance(self.conv, CGConvolution):
            messages = self.conv(h_j, Y, weights)
        else:
            RY = weights.unflatten(-1, (h.shape[1], self.lmax + 1))[..., self.l_idx] * Y[:, None, :]   # R_kl Y_lm
            messages = RY * h_j if self.conv is None else self.conv(RY, h_j)
        A = messages.new_zeros((h.shape[0],) + messages.shape[1:]).index_add_(0, dst, messages)
        return A / self.avg_neighbors

    def forward(self, h: Tensor, Y: Tensor, basis: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        A = self.atomic_basis(h, Y, basis, src, dst)
        d_out = (self.lmax_out + 1) ** 2
        m, B = self.mix[0](A[..., :d_out]), A
        for nu, product in enumerate(self.products, start=1):
            B = product(B, A)
            natural = product.natural(B) if isinstance(product, CGProduct) else B
            m = m + self.mix[nu](natural[..., :d_out])
        skip = self.skip(h[..., :(min(self.lmax_h, self.lmax_out) + 1) ** 2])
        return self.out(m) + nn.functional.pad(skip, (0, d_out - skip.shape[-1]))


class MACE(nn.Module):
    """``forward(batch) -> energy (B,)``: ``batch`` has ``pos (N, 3)`` Å, ``z (N,)`` atomic numbers and ``batch
    (N,)`` molecule indices (a torch_geometric ``Batch``; a single molecule without ``batch`` is molecule 0).

    Args:
        product: ``"gaunt"`` or ``"cg"`` (module doc). method: the Gaunt product's ``"grid"`` (default: faster on
            CPU at these degrees, ``scripts/benchmark.py --comparisons gaunt``) or ``"fft"`` (the paper's).
        elements: the atomic numbers the model embeds (one-hot, then linear); another one is an error.
        channels: K. lmax: degree of Y, A and B. hidden_lmax: degree of the features between layers.
        correlation: body order ν of the many-body product. cutoff: r_c in Å. avg_neighbors: n̄.
    """

    def __init__(self, product: str = "gaunt", elements: tuple[int, ...] | list[int] = (1, 6, 7, 8, 9),
                 channels: int = 32, lmax: int = 3, hidden_lmax: int = 1, num_layers: int = 2, correlation: int = 3,
                 cutoff: float = 5.0, n_basis: int = 8, radial_hidden: int = 64, avg_neighbors: float = 8.0,
                 readout_hidden: int = 16, method: str = "grid"):
        super().__init__()
        if product not in PRODUCTS:
            raise ValueError(f"product={product!r}: expected one of {PRODUCTS}")
        check_lmax("lmax", lmax)
        if not 0 <= hidden_lmax <= lmax:
            raise ValueError(f"hidden_lmax={hidden_lmax!r}: expected 0 <= hidden_lmax <= lmax={lmax}")
        for key, value in (("num_layers", num_layers), ("correlation", correlation), ("channels", channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r}: expected a positive int")
        self.lmax, self.cutoff = lmax, cutoff
        self.elements = list(elements)
        species = torch.full((max(self.elements) + 1,), -1, dtype=torch.long)
        species[torch.tensor(self.elements)] = torch.arange(len(self.elements))
        self.register_buffer("species", species, persistent=False)
        self.embedding = nn.Linear(len(self.elements), channels, bias=False)
        self.basis = BesselBasis(cutoff, n_basis)
        self.layers, self.readouts = nn.ModuleList(), nn.ModuleList()
        lmax_h = 0
        for t in range(num_layers):
            last = t == num_layers - 1
            lmax_out = 0 if last else hidden_lmax
            self.layers.append(Interaction(product, channels, lmax, lmax_h, lmax_out, correlation, n_basis,
                                           radial_hidden, avg_neighbors, method))
            self.readouts.append(nn.Sequential(nn.Linear(channels, readout_hidden), nn.SiLU(),
                                               nn.Linear(readout_hidden, 1)) if last else nn.Linear(channels, 1))
            lmax_h = lmax_out

    def species_index(self, z: Tensor) -> Tensor:
        known = (z >= 0) & (z < len(self.species))
        index = torch.where(known, self.species[z.clamp(0, len(self.species) - 1)], -1)
        if (index < 0).any():
            unknown = sorted(set(z[index < 0].tolist()))
            raise ValueError(f"atomic numbers {unknown} are not among the model's elements={self.elements}: "
                             "build the model with elements= listing every element of the data")
        return index

    def edges(self, pos: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """``(src, dst)``: every ordered pair ``j → i`` of one molecule with ``|r_ij| < cutoff`` (dense, O(N²))."""
        d = torch.cdist(pos.detach(), pos.detach())
        mask = (batch[:, None] == batch[None, :]) & (d < self.cutoff)
        mask.fill_diagonal_(False)
        dst, src = mask.nonzero(as_tuple=True)
        return src, dst

    def forward(self, batch) -> Tensor:
        pos, z = batch.pos, batch.z
        if pos.dim() != 2 or pos.shape[-1] != 3 or z.shape != pos.shape[:1]:
            raise ValueError(f"batch.pos must be (N, 3) and batch.z (N,), got {tuple(pos.shape)} and "
                             f"{tuple(z.shape)}")
        index = getattr(batch, "batch", None)
        index = torch.zeros_like(z) if index is None else index
        src, dst = self.edges(pos, index)
        vectors = pos[src] - pos[dst]
        Y = require("e3nn.o3").spherical_harmonics(list(range(self.lmax + 1)), vectors, normalize=True,
                                                   normalization="integral") * math.sqrt(4 * math.pi)
        basis = self.basis(vectors.norm(dim=-1))
        h = self.embedding(nn.functional.one_hot(self.species_index(z), len(self.elements)).to(pos.dtype))[..., None]
        atomic = pos.new_zeros(len(z))
        for layer, readout in zip(self.layers, self.readouts):
            h = layer(h, Y, basis, src, dst)
            atomic = atomic + readout(h[..., 0]).squeeze(-1)
        n_molecules = int(index.max()) + 1 if len(index) else 0
        return pos.new_zeros(n_molecules).index_add_(0, index, atomic)


def _example(model: MACE):
    from types import SimpleNamespace

    pos = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0], [3.0, 0.0, 0.0], [3.0, 1.1, 0.2]])
    batch = SimpleNamespace(pos=pos, z=torch.tensor([8, 1, 1, 6, 8]), batch=torch.tensor([0, 0, 0, 1, 1]))
    return batch, (2,)


def _register(name: str, product: str):
    def build(**kwargs) -> MACE:
        return MACE(product=product, **kwargs)

    build.__doc__ = f"MACE with the {'Gaunt' if product == 'gaunt' else 'Clebsch–Gordan (e3nn)'} product."
    register_model(name, family="equivariant", paper=PAPER, task="potential", capabilities=("graph_level",),
                   example=_example, kwargs_to=MACE)(build)


_register("gaunt_mace", "gaunt")
_register("cg_mace", "cg")
