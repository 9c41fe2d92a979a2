"""DiffSpectra's diffusion: one continuous VP process over a molecule's coordinates, atom types, charges and bonds.

Paper: "DiffSpectra: Molecular Structure Elucidation from Spectra using Diffusion Models" (Wang et al., 2025),
whose recipe is JODO's: the discrete parts are relaxed to continuous features, not given a discrete kernel.

**Batch format** (what ``zoo.data.spectra.datamodule`` produces; ``zoo.molecules.dmt.DiffSpectra.loss`` and ``sample``
consume it), a dict:

=================  ===================  ==============================================================
key                shape, dtype         meaning
=================  ===================  ==============================================================
``"pos"``          (B, N, 3) float      coordinates in Å (any origin: the centre of mass is removed here)
``"atom_types"``   (B, N) int64         index into :data:`ATOM_TYPES` ``("H", "C", "N", "O", "F")``
``"charges"``      (B, N) int64         formal charge, one of :data:`CHARGES` ``(-1, 0, 1)``
``"bonds"``        (B, N, N) int64      bond order 0..3 (kekulised; 0 = none), symmetric, 0 on the diagonal
``"mask"``         (B, N) bool          True for real atoms (hydrogens included), False for padding
``"spectrum"``     (B, S) float         IR spectrum on the 3501-point grid 500..4000 cm⁻¹ (1 cm⁻¹ steps),
                                        already log10(x + 1)-normalised
``"smiles"``       list of B str        canonical SMILES, for metrics only
=================  ===================  ==============================================================

N is the largest atom count in the batch (<= 29 for QM9); padded entries may hold anything (they are masked).
A multi-modal SpecFormer also reads ``"spectrum_raman"`` (B, 3501) and ``"spectrum_uv"`` (B, 701).

**Features** (``normalize_factors`` 1, 4, 4, 1): ``x = (x_pos, x_h, x_e)`` with ``x_pos`` (B, N, 3) centre-of-mass
free, ``x_h = [onehot(type), onehot(charge)] / 4`` (B, N, 8) and ``x_e = [bond exists, order / 3]`` (B, N, N, 2).

**Forward process** ``z_t = α_t x + σ_t ε`` with the cosine schedule of DPM-Solver's ``NoiseScheduleVP``:
``α_t = cos(π/2 · (T t + s)/(1 + s)) / cos(π/2 · s/(1 + s))``, ``s = 0.008``, ``T = 0.9946`` (so ``α_1 > 0``),
``σ_t = √(1 − α_t²)``, ``t ~ U(1e-5, 1)``. Position noise is centre-of-mass free over the real atoms, edge noise
symmetric with a zero diagonal, and padding gets none.

**Loss** (data prediction ``x̂ = x̂_θ(z_t, t, c)``): ``w_t [λ_pos ‖x̂_pos − R* x_pos‖² + λ_h ‖x̂_h − x_h‖² +
λ_e ‖x̂_e − x_e‖²]``, ``w_t = √(α_t / σ_t)``, ``(λ_pos, λ_h, λ_e) = (1, 0.25, 0.1)``, each ``‖·‖²`` a mean over the
real entries of a molecule, ``R*`` the Kabsch rotation taking ``x_pos`` closest to ``x̂_pos``.

**Ancestral sampling** from ``z_1 ~ N(0, I)`` on the grid ``t_i = 1 − i/n``: ``z_s ~ q(z_s | z_t, x = x̂)``, i.e.
``mean = α_{t|s} σ_s²/σ_t² z_t + α_s σ_{t|s}²/σ_t² x̂``, ``var = σ_{t|s}² σ_s²/σ_t²`` with ``α_{t|s} = α_t/α_s`` and
``σ_{t|s}² = σ_t² − α_{t|s}² σ_s²``; the last step (``s = 0``) returns ``x̂`` itself. Decoding: argmax type and
charge, a bond where the existence channel exceeds 1/2 with order ``round(3 · order channel)`` in 1..3.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.optional import require

ATOM_TYPES = ("H", "C", "N", "O", "F")
CHARGES = (-1, 0, 1)
MAX_BOND = 3
FEATURE_SCALE = 4.0  # the one-hot types and charges are divided by it
N_NODE = len(ATOM_TYPES) + len(CHARGES)  # node feature channels
N_EDGE = 2  # edge feature channels: bond exists, order / 3
T_MIN = 1e-5


class State(NamedTuple):
    """A (clean, noisy or predicted) molecule batch in feature space."""

    pos: Tensor  # (B, N, 3)
    nodes: Tensor  # (B, N, N_NODE)
    edges: Tensor  # (B, N, N, N_EDGE)


def check_batch(batch: dict, keys: tuple[str, ...] = ("pos", "atom_types", "charges", "bonds", "mask")) -> None:
    """Raise a clear error when ``batch`` does not follow the batch format of this module's docstring."""
    if not isinstance(batch, dict):
        raise TypeError(f"a DiffSpectra batch is a dict with keys {keys}, got {type(batch).__name__}")
    missing = [key for key in keys if key not in batch]
    if missing:
        raise KeyError(f"the batch lacks {missing}; it needs {keys} (see zoo.molecules.diffusion's docstring)")
    mask = batch["mask"]
    if mask.dtype != torch.bool or mask.dim() != 2:
        raise ValueError(f"batch['mask'] must be a (B, N) bool tensor, got {tuple(mask.shape)} {mask.dtype}")
    B, N = mask.shape
    expected = {"pos": ((B, N, 3), True), "atom_types": ((B, N), False), "charges": ((B, N), False),
                "bonds": ((B, N, N), False)}
    for key, (shape, floating) in expected.items():
        value = batch[key]
        if tuple(value.shape) != shape or value.is_floating_point() != floating:
            kind = "float" if floating else "int64"
            raise ValueError(f"batch[{key!r}] must be a {kind} tensor of shape {shape} (mask is (B, N) = {(B, N)}), "
                             f"got {tuple(value.shape)} {value.dtype}")
    types, charges, bonds = batch["atom_types"][mask], batch["charges"][mask], batch["bonds"]
    if types.numel() and (types.min() < 0 or types.max() >= len(ATOM_TYPES)):
        raise ValueError(f"batch['atom_types'] must index {ATOM_TYPES}, got values in [{types.min()}, {types.max()}]")
    if charges.numel() and (charges.min() < CHARGES[0] or charges.max() > CHARGES[-1]):
        raise ValueError(f"batch['charges'] must be formal charges in {CHARGES}, "
                         f"got values in [{charges.min()}, {charges.max()}]")
    real = pair_mask(mask)
    if (bonds[real] < 0).any() or (bonds[real] > MAX_BOND).any() or not torch.equal(bonds * real, (bonds * real).mT):
        raise ValueError("batch['bonds'] must be symmetric bond orders in 0..3 between real atoms")


def pair_mask(mask: Tensor) -> Tensor:
    """(B, N) real atoms -> (B, N, N) pairs of distinct real atoms."""
    eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
    return mask[:, :, None] & mask[:, None, :] & ~eye


def remove_com(pos: Tensor, mask: Tensor) -> Tensor:
    """Subtract the centre of mass (uniform weights) of the real atoms; padding is set to 0: (B, N, 3)."""
    weight = mask.unsqueeze(-1).to(pos.dtype)
    com = (pos * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1)
    return (pos - com) * weight


def encode(batch: dict, dtype: torch.dtype = torch.float32) -> State:
    """The clean features ``x`` of a batch (see the module docstring), zero on padding."""
    check_batch(batch)
    mask = batch["mask"]
    types = torch.where(mask, batch["atom_types"], 0)
    charges = torch.where(mask, batch["charges"], 0) - CHARGES[0]
    nodes = torch.cat([F.one_hot(types, len(ATOM_TYPES)), F.one_hot(charges, len(CHARGES))], -1)
    nodes = nodes.to(dtype) / FEATURE_SCALE * mask.unsqueeze(-1)
    bonds = torch.where(pair_mask(mask), batch["bonds"], 0).to(dtype)
    edges = torch.stack([(bonds > 0).to(dtype), bonds / MAX_BOND], -1)
    return State(remove_com(batch["pos"].to(dtype), mask), nodes, edges)


def zeros_like(mask: Tensor, dtype: torch.dtype) -> State:
    """An all-zero state for a (B, N) mask (self-conditioning's "no estimate yet")."""
    B, N = mask.shape
    return State(*(mask.new_zeros(shape, dtype=dtype) for shape in ((B, N, 3), (B, N, N_NODE), (B, N, N, N_EDGE))))


def cosine_alpha_sigma(t: Tensor, s: float = 0.008, t_end: float = 0.9946) -> tuple[Tensor, Tensor]:
    """``(α_t, σ_t)`` of the cosine VP schedule (module docstring), each shaped like ``t``."""
    alpha = torch.cos(math.pi / 2 * (t_end * t + s) / (1 + s)) / math.cos(math.pi / 2 * s / (1 + s))
    return alpha, (1 - alpha.square()).clamp(min=0).sqrt()


def log_snr(t: Tensor) -> Tensor:
    """``λ_t = log(α_t² / σ_t²)``, shaped like ``t`` (finite for t > 0)."""
    alpha, sigma = cosine_alpha_sigma(t)
    return 2 * (alpha.log() - sigma.log())


def _per_molecule(value: Tensor, like: Tensor) -> Tensor:
    """Broadcast a (B,) tensor against ``like`` (B, ...)."""
    return value.reshape(-1, *([1] * (like.dim() - 1)))


def noise(mask: Tensor, dtype: torch.dtype) -> State:
    """``ε``: standard normal noise, centre-of-mass free on positions, symmetric with zero diagonal on edges, zero
    on padding."""
    B, N = mask.shape
    pos = remove_com(torch.randn(B, N, 3, dtype=dtype, device=mask.device), mask)
    nodes = torch.randn(B, N, N_NODE, dtype=dtype, device=mask.device) * mask.unsqueeze(-1)
    upper = torch.randn(B, N_EDGE, N, N, dtype=dtype, device=mask.device).triu(1)
    edges = (upper + upper.mT).permute(0, 2, 3, 1) * pair_mask(mask).unsqueeze(-1)
    return State(pos, nodes, edges)


def q_sample(x: State, t: Tensor, mask: Tensor, eps: State | None = None) -> State:
    """``z_t = α_t x + σ_t ε`` for times ``t`` (B,), with ``ε`` from :func:`noise` unless given."""
    alpha, sigma = cosine_alpha_sigma(t)
    eps = noise(mask, x.pos.dtype) if eps is None else eps
    return State(*(_per_molecule(alpha, a) * a + _per_molecule(sigma, e) * e for a, e in zip(x, eps)))


@torch.no_grad()
def kabsch_rotation(P: Tensor, Q: Tensor, mask: Tensor) -> Tensor:
    """The proper rotation ``R`` (B, 3, 3) minimising ``Σ_i ‖R p_i − q_i‖²`` over the real atoms of centred
    ``P``, ``Q`` (B, N, 3): with ``H = Σ_i p_i q_iᵀ = U S Vᵀ``, ``R = V diag(1, 1, sign det(V Uᵀ)) Uᵀ``."""
    weight = mask.unsqueeze(-1).to(P.dtype)
    H = (P * weight).mT @ Q
    U, _, Vh = torch.linalg.svd(H)
    d = torch.linalg.det(Vh.mT @ U.mT).sign()
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return Vh.mT @ D @ U.mT


def kabsch_align(target: Tensor, reference: Tensor, mask: Tensor) -> Tensor:
    """``target`` (B, N, 3) rotated to best match ``reference`` (both centred): ``R* p_i`` for every atom."""
    return target @ kabsch_rotation(target, reference, mask).mT


def weighted_loss(pred: State, x: State, t: Tensor, mask: Tensor,
                  weights: tuple[float, float, float] = (1.0, 0.25, 0.1)) -> dict[str, Tensor]:
    """The DiffSpectra loss (module docstring): ``{"loss", "pos", "nodes", "edges"}``, the terms unweighted means."""
    alpha, sigma = cosine_alpha_sigma(t)
    n = mask.sum(1).clamp(min=1)
    pairs = pair_mask(mask)
    target_pos = kabsch_align(x.pos, pred.pos.detach(), mask)
    pos = ((pred.pos - target_pos).square().sum(-1) * mask).sum(1) / (3 * n)
    nodes = ((pred.nodes - x.nodes).square().sum(-1) * mask).sum(1) / (N_NODE * n)
    edges = ((pred.edges - x.edges).square().sum(-1) * pairs).sum((1, 2)) / (N_EDGE * pairs.sum((1, 2)).clamp(min=1))
    w = (alpha / sigma).sqrt()
    loss = (w * (weights[0] * pos + weights[1] * nodes + weights[2] * edges)).mean()
    return {"loss": loss, "pos": pos.mean(), "nodes": nodes.mean(), "edges": edges.mean()}


def ancestral_step(z: State, x_hat: State, t: Tensor, s: Tensor, mask: Tensor) -> State:
    """One draw ``z_s ~ q(z_s | z_t, x = x̂)`` for scalar times ``0 <= s < t`` (module docstring)."""
    alpha_t, sigma_t = cosine_alpha_sigma(t)
    alpha_s, sigma_s = cosine_alpha_sigma(s) if s > 0 else (torch.ones_like(s), torch.zeros_like(s))
    alpha_ts = alpha_t / alpha_s
    var_ts = sigma_t.square() - alpha_ts.square() * sigma_s.square()
    c_z, c_x = alpha_ts * sigma_s.square() / sigma_t.square(), alpha_s * var_ts / sigma_t.square()
    std = (var_ts * sigma_s.square() / sigma_t.square()).sqrt()
    eps = noise(mask, z.pos.dtype)
    return State(*(c_z * a + c_x * b + std * e for a, b, e in zip(z, x_hat, eps)))


@torch.no_grad()
def ancestral_sample(denoise: Callable[[State, Tensor, State], State], mask: Tensor, n_steps: int,
                     dtype: torch.dtype = torch.float32) -> State:
    """Sample ``x̂`` for the (B, N) atom ``mask`` in ``n_steps`` calls of ``denoise(z_t, t (B,), x̂_prev) -> x̂``,
    which self-conditions on the previous estimate (zeros at the first step)."""
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    times = torch.linspace(1, 0, n_steps + 1, dtype=dtype, device=mask.device)
    z, x_hat = noise(mask, dtype), zeros_like(mask, dtype)
    for t, s in zip(times[:-1], times[1:]):
        x_hat = denoise(z, t.expand(mask.shape[0]), x_hat)
        z = ancestral_step(z, x_hat, t, s, mask)
    return z


def graph_to_mol(atom_types: list[int], charges: list[int], bonds: Tensor, pos: Tensor | None = None):
    """An rdkit ``Mol`` with explicit hydrogens (no implicit ones are added) from type indices, formal charges
    and an (n, n) bond-order matrix (upper triangle read), with a conformer from ``pos`` (n, 3) in Å; ``None``
    when rdkit cannot sanitise it."""
    Chem, Point3D = require("rdkit.Chem"), require("rdkit.Geometry").Point3D
    require("rdkit.RDLogger").DisableLog("rdApp.*")
    order_type = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for type_index, charge in zip(atom_types, charges):
        atom = Chem.Atom(ATOM_TYPES[type_index])
        atom.SetFormalCharge(int(charge))
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    for i, j in torch.triu_indices(len(atom_types), len(atom_types), 1).T.tolist():
        if int(bonds[i, j]) > 0:
            mol.AddBond(i, j, order_type[int(bonds[i, j])])
    if pos is not None:
        conformer = Chem.Conformer(len(atom_types))
        for i, (a, b, c) in enumerate(pos.tolist()):
            conformer.SetAtomPosition(i, Point3D(a, b, c))
        mol.AddConformer(conformer, assignId=True)
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # rdkit raises several sanitisation errors; all mean "not a valid molecule"
        return None
    return mol.GetMol()


def decode(x_hat: State, mask: Tensor) -> list[tuple[object, Tensor]]:
    """Molecules from a sampled state: a list of B ``(Mol or None, positions (n, 3) Å)`` over the real atoms."""
    types = x_hat.nodes[..., :len(ATOM_TYPES)].argmax(-1)
    charges = x_hat.nodes[..., len(ATOM_TYPES):].argmax(-1) + CHARGES[0]
    order = (x_hat.edges[..., 1] * MAX_BOND).round().clamp(1, MAX_BOND).long()
    bonds = torch.where(x_hat.edges[..., 0] > 0.5, order, 0)
    molecules = []
    for b in range(mask.shape[0]):
        real = mask[b].nonzero().squeeze(-1)
        pos = x_hat.pos[b, real].float().cpu()
        mol = graph_to_mol(types[b, real].tolist(), charges[b, real].tolist(), bonds[b][real][:, real].cpu(), pos)
        molecules.append((mol, pos))
    return molecules
