"""Spectral convolution (FNO's Fourier layer) on 1-D, 2-D and 3-D grids, with dense or factorised weights.

"Fourier Neural Operator for Parametric PDEs" (Li et al., 2021) and, for the factorised weights, "Multi-Grid
Tensorized Fourier Neural Operator" (Kossaifi et al., MG-TFNO / TFNO). For an input ``x (batch, in, *spatial)``
on a periodic grid of ``N = n_1 ⋯ n_d`` points::

    x̂_i[k]   = Σ_n x_i[n] e^{−2πi k·n/N}                       (rfftn over the spatial axes, unnormalised)
    ŷ_o[k]   = Σ_i W[i, o, k] x̂_i[k]                           for every kept frequency k, 0 elsewhere
    y_o[n]   = irfftn(ŷ_o)[n] = (1/N) Re Σ_{kept k} c_k ŷ_o[k] e^{2πi k·n/N},   c_k = 2 if k_d > 0 else 1

(the rfft keeps ``k_d ≥ 0`` of the last axis; ``irfftn`` supplies the conjugate half, and on the ``k_d = 0``
plane it takes the real part, i.e. the kernel there acts as its Hermitian part ``½(W[k] + conj W[−k])``).
The unnormalised forward / ``1/N`` inverse pair makes the layer resolution-consistent: a band-limited function
sampled on two grids gives the same function sampled on the two grids (up to rounding).

**Modes kept.** ``modes = (m_1, …, m_d)`` (an int means the same m on every axis):

* every axis but the last keeps the ``2m − 1`` integer frequencies ``|k| ≤ m − 1`` (both signs), stored in FFT
  order on a weight axis of size ``2m − 1``: index ``j`` ↔ frequency ``j`` for ``j < m`` and ``j − (2m − 1)``
  for ``j ≥ m``;
* the last axis keeps ``k = 0 … m − 1`` (``m`` rfft bins).

So ``modes=12`` in 2-D keeps 23 × 12 frequencies (neuraloperator 2.0's ``n_modes=(24, 24)`` keeps 24 × 13, its
centred block including −12; the original FNO's ``modes=12`` keeps 24 × 12, including −12 but not +12). Our set
is symmetric, so the same weight is the same continuous operator at every resolution. **The Nyquist frequency
is never kept**: an axis of ``n`` points must have ``n ≥ 2m − 1`` (then ``m − 1 < n/2``), otherwise the layer
raises a ``ValueError`` that names the axis; it does not clamp, because silently dropping modes would make
the same weights a different operator on coarse grids. "All modes" of an odd grid ``n`` is ``m = (n + 1)/2``;
an even grid's Nyquist row can never be kept.

**Weights.** ``W`` has shape ``(in, out, 2m_1 − 1, …, 2m_{d−1} − 1, m_d)``, complex, stored as real
parameters with a trailing axis of 2 (real, imaginary) so that checkpoints, optimisers and adapters see plain
float tensors. Initialisation: complex Gaussian with ``E|W|² = 2/(in + out)`` (neuraloperator 2.0's choice);
the original FNO's ``U[0, 1/(in·out))`` makes the spectral path about ``width`` times weaker than the skip.
Factorised weights initialise their factors so that the reconstructed entries have the same ``E|W|²``.

Factorisations of the order-K tensor ``W`` of shape ``(d_1, …, d_K)`` (``K = d + 2``), complex parameter counts:

* ``dense``:   ``Π d_j``
* ``tucker``:  core ``G (r_1, …, r_K)`` and factors ``U_j (d_j, r_j)``: ``Π r_j + Σ d_j r_j``
* ``cp``:      factors ``U_j (d_j, R)``, ``W = Σ_r Π_j U_j[·, r]`` (no separate weights λ): ``R Σ d_j``
* ``tt``:      cores ``G_j (r_{j−1}, d_j, r_j)``, ``r_0 = r_K = 1``: ``Σ r_{j−1} d_j r_j``

(each complex entry is two real parameters). ``rank`` is a float, the fraction of the dense tensor's parameters
to keep (the ranks are solved for it: Tucker scales every ``r_j = round(α d_j)`` by one ``α``; TT uses one bond
rank, capped at each bond's maximal rank), or an int (every rank; capped at ``d_j`` for Tucker), or a list
(Tucker: K ranks; TT: the K − 1 bond ranks).

**Joint factorisation** (MG-TFNO's global factorisation; neuraloperator 0.3's ``joint_factorization=True``,
dropped in 2.0): the ``L`` layers of a network share one order-(K+1) tensor ``W (L, in, out, *mode_sizes)``
factorised as above (:class:`JointFactorizedWeight`; ``rank`` is then a fraction of ``L`` dense weights), and
layer ``l`` uses ``W[l]``; a :class:`SpectralConv` built with ``shared=..., layer=l`` reads that slice.

``implementation="factorized"`` contracts ``x̂`` with the factors in a fixed, cheap order (input factor first,
then the core or the spatial factors, output factor last) without building ``W``; ``"reconstructed"`` builds
``W`` with :meth:`reconstruct` and applies it densely. ``"auto"`` (default) picks the one with fewer
multiply-adds for the batch at hand (:meth:`FactorizedWeight.costs`): at batch 20, width 32, ``modes=12``, Tucker
rank 0.1 that is ``"factorized"``, also the faster one measured (forward + backward, 2 CPU threads, 32² and 64²).
Both work on ``x̂`` laid out as ``(modes, batch, in)``, so every product is a batched matrix product.

Deliberate differences from neuraloperator: no tensorly dependency (our own contractions); the symmetric mode
set above (see issues #190, #244, #508 there on the mode semantics); no bias in the spectral conv (the FNO
block's pointwise skip has one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

FACTORIZATIONS = ("dense", "tucker", "cp", "tt")
IMPLEMENTATIONS = ("auto", "factorized", "reconstructed")


def as_modes(modes: int | Sequence[int], n_dim: int | None) -> tuple[int, ...]:
    """Modes per spatial axis from an int (``n_dim`` axes, 2 if None) or a sequence (``n_dim`` must match)."""
    if isinstance(modes, int):
        modes = (modes,) * (2 if n_dim is None else n_dim)
    modes = tuple(int(m) for m in modes)
    if n_dim is not None and len(modes) != n_dim:
        raise ValueError(f"modes {modes} give {len(modes)} spatial axes, but n_dim={n_dim}")
    if not 1 <= len(modes) <= 3:
        raise ValueError(f"spectral convolutions support 1, 2 or 3 spatial axes, got modes={modes}")
    if min(modes) < 1:
        raise ValueError(f"modes must be positive, got {modes}")
    return modes


def kept_frequencies(modes: Sequence[int]) -> list[list[int]]:
    """The integer frequencies kept on each axis, in the order of the weight's mode axes (see the module doc)."""
    *rest, last = modes
    return [list(range(m)) + list(range(-(m - 1), 0)) for m in rest] + [list(range(last))]


def _complex_parameter(shape: Sequence[int], std: float) -> nn.Parameter:
    """A complex Gaussian tensor with ``E|z|² = std²``, stored as real ``(*shape, 2)``."""
    return nn.Parameter(torch.randn(*shape, 2) * (std / math.sqrt(2)))


def _c(param: Tensor) -> Tensor:
    return torch.view_as_complex(param)


def mode_product(tensor: Tensor, factor: Tensor, axis: int) -> Tensor:
    """``tensor ×_axis factor``: contract ``tensor``'s axis (size r) with ``factor (d, r)``, keeping the axis place.

    With ``tensor`` viewed as ``(P, r, Q)``: P products ``factor @ block`` (one matrix product for the first axis)
    that write the result's own layout, when the blocks have at least d columns; ``(P, r) @ factorᵀ`` for the last
    axis; otherwise one matrix product on a copy with the axis moved last (many narrow blocks multiply slowly)."""
    shape, d = tensor.shape, factor.shape[0]
    blocks = tensor.reshape(math.prod(shape[:axis]), shape[axis], -1)
    if blocks.shape[-1] == 1:
        product = blocks[..., 0] @ factor.t()
    elif blocks.shape[-1] >= d or len(blocks) == 1:
        product = torch.bmm(factor.expand(len(blocks), -1, -1), blocks)
    else:
        return torch.movedim(torch.tensordot(tensor, factor, dims=([axis], [1])), -1, axis)
    return product.reshape(*shape[:axis], d, *shape[axis + 1:])


def _modes_first(tensor: Tensor) -> Tensor:
    """``(a, b, *modes) -> (Π modes, a, b)``, contiguous: the layout in which every contraction below is a batched
    matrix product over the kept modes (on CPU much faster than einsum's strided batches)."""
    return tensor.reshape(*tensor.shape[:2], -1).permute(2, 0, 1).contiguous()


class FactorizedTensor:
    """The complex components of one tensor of shape ``shape`` and the maths on them (no parameters).

    ``core``: the dense tensor (dense) or the Tucker core; ``factors``: Tucker factors ``(d_j, r_j)``, CP factors
    ``(d_j, R)`` or TT cores ``(r_{j−1}, d_j, r_j)``. Built afresh from the parameters at every call by
    :meth:`FactorizedWeight.tensor` and :meth:`JointFactorizedWeight.layer`.
    """

    def __init__(self, factorization: str, shape: Sequence[int], ranks: Sequence[int], core: Tensor | None,
                 factors: Sequence[Tensor]):
        self.factorization, self.shape, self.ranks = factorization, tuple(shape), tuple(ranks)
        self.core, self.factors = core, list(factors)

    def reconstruct(self) -> Tensor:
        """The dense complex tensor of shape ``shape``."""
        if self.factorization == "dense":
            return self.core
        if self.factorization == "tucker":
            weight = self.core
            for factor in self.factors:  # contracting axis 0 each time and appending the new axis cycles back to order
                weight = torch.tensordot(weight, factor, dims=([0], [1]))
            return weight
        if self.factorization == "cp":
            rank = self.ranks[0]
            channels = torch.einsum("ir,or->ior", self.factors[0], self.factors[1])
            return (channels.reshape(-1, rank) @ self._cp_spatial().reshape(rank, -1)).reshape(self.shape)
        weight = self.factors[0][0]  # tt: (d_1, r_1)
        for core in self.factors[1:]:
            weight = torch.tensordot(weight, core, dims=([-1], [0]))
        return weight.squeeze(-1)

    def _cp_spatial(self) -> Tensor:
        """``S[r, *mode_sizes] = Π_spatial U_j[k_j, r]``."""
        spatial = self.factors[2].t()
        for factor in self.factors[3:]:
            spatial = spatial.unsqueeze(-1) * factor.t().reshape(factor.shape[1], *[1] * (spatial.ndim - 1), -1)
        return spatial

    def costs(self, batch: int) -> dict[str, int]:
        """Complex multiply-adds of the two implementations for ``batch`` inputs (the forward pass)."""
        i, o, *modes = self.shape
        m = math.prod(modes)
        dense = batch * i * o * m
        if self.factorization == "dense":
            return {"factorized": dense, "reconstructed": dense}
        if self.factorization == "tucker":
            r = self.ranks
            expand = sum(math.prod(r[:2]) * math.prod(modes[:j + 1]) * math.prod(r[2 + j:]) for j in range(len(modes)))
            factorized = batch * m * (i * r[0] + r[0] * r[1] + r[1] * o) + expand
            build = sum(math.prod(self.shape[:j + 1]) * math.prod(r[j:]) for j in range(len(r)))
        elif self.factorization == "cp":
            r = self.ranks[0]
            factorized = batch * m * r * (i + o + 1) + r * m
            build = r * (i * o + m + i * o * m)
        else:
            bonds = (1, *self.ranks, 1)
            spatial = sum(bonds[2] * math.prod(modes[:j + 1]) * bonds[2 + j] * bonds[3 + j] for j in range(1, len(modes)))
            factorized = batch * m * (i * bonds[1] + bonds[1] * o) + bonds[1] * o * bonds[2] * m + spatial
            build = sum(math.prod(self.shape[:j + 1]) * bonds[j] * bonds[j + 1] for j in range(1, len(self.shape)))
        return {"factorized": factorized, "reconstructed": build + dense}

    def contract(self, x: Tensor, implementation: str = "auto") -> Tensor:
        """``x̂ (batch, in, *mode_sizes)`` -> ``(batch, out, *mode_sizes)``, ``ŷ[b,o,k] = Σ_i x̂[b,i,k] W[i,o,k]``.

        Works on ``x̂`` as ``(modes, batch, in)``: the factorised products are then matrix products with the input
        factor, per-mode ones with the (expanded) core, and one with the output factor.
        """
        if implementation == "auto":
            costs = self.costs(x.shape[0])
            implementation = "factorized" if costs["factorized"] < costs["reconstructed"] else "reconstructed"
        batch, _, *modes = x.shape
        x = _modes_first(x)
        if self.factorization == "dense" or implementation == "reconstructed":
            y = x @ _modes_first(self.reconstruct().to(x.dtype))
        elif self.factorization == "tucker":
            core = self.core.to(x.dtype)
            for axis, factor in enumerate(self.factors[2:], start=2):  # expand the core's spatial axes
                core = mode_product(core, factor.to(x.dtype), axis)
            y = (x @ self.factors[0].to(x.dtype)) @ _modes_first(core) @ self.factors[1].to(x.dtype).t()
        elif self.factorization == "cp":
            spatial = self._cp_spatial().to(x.dtype).reshape(self.ranks[0], -1).t().unsqueeze(1)  # (modes, 1, R)
            y = (x @ self.factors[0].to(x.dtype)) * spatial @ self.factors[1].to(x.dtype).t()
        else:
            spatial = self.factors[2]  # tt: contract the spatial cores into (r_2, *modes)
            for core in self.factors[3:]:
                spatial = torch.tensordot(spatial, core, dims=([-1], [0]))
            mixing = torch.tensordot(self.factors[1], spatial.squeeze(-1), dims=([2], [0]))  # (r_1, out, *modes)
            y = (x @ self.factors[0][0].to(x.dtype)) @ _modes_first(mixing.to(x.dtype))
        return y.permute(1, 2, 0).reshape(batch, -1, *modes)


class FactorizedWeight(nn.Module):
    """A complex tensor of shape ``(in, out, *mode_sizes)``, dense or factorised (see the module doc).

    :meth:`reconstruct` gives the dense complex tensor; :meth:`contract` maps ``x̂ (batch, in, *mode_sizes)`` to
    ``(batch, out, *mode_sizes)``, ``ŷ[b, o, k] = Σ_i x̂[b, i, k] W[i, o, k]``.
    """

    def __init__(self, shape: Sequence[int], factorization: str | None = "dense", rank: float | int | Sequence[int] = 0.1,
                 std: float = 1.0, implementation: str = "auto"):
        super().__init__()
        factorization = (factorization or "dense").lower()
        if factorization not in FACTORIZATIONS:
            raise ValueError(f"unknown factorization {factorization!r}; valid choices: {', '.join(FACTORIZATIONS)} (or None)")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {implementation!r}; valid choices: {', '.join(IMPLEMENTATIONS)}")
        self.shape, self.factorization, self.implementation = tuple(shape), factorization, implementation
        order, dims = len(self.shape), self.shape
        if factorization == "dense":
            self.ranks: tuple[int, ...] = ()
            self.weight = _complex_parameter(dims, std)
        elif factorization == "tucker":
            self.ranks = tucker_ranks(dims, rank)
            self.core = _complex_parameter(self.ranks, std)  # unit-variance factors keep E|W|² = std²
            self.factors = nn.ParameterList(_complex_parameter((d, r), 1 / math.sqrt(r)) for d, r in zip(dims, self.ranks))
        elif factorization == "cp":
            self.ranks = (cp_rank(dims, rank),)
            factor_std = (std**2 / self.ranks[0]) ** (1 / (2 * order))
            self.factors = nn.ParameterList(_complex_parameter((d, self.ranks[0]), factor_std) for d in dims)
        else:
            self.ranks = tt_ranks(dims, rank)
            bonds = (1, *self.ranks, 1)
            core_std = (std**2 / math.prod(self.ranks)) ** (1 / (2 * order))
            self.factors = nn.ParameterList(_complex_parameter((bonds[j], d, bonds[j + 1]), core_std)
                                            for j, d in enumerate(dims))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, factorization={self.factorization!r}, ranks={self.ranks}"

    def tensor(self) -> FactorizedTensor:
        """The current parameters as complex components."""
        core = _c(self.weight) if self.factorization == "dense" else _c(self.core) if self.factorization == "tucker" else None
        factors = [] if self.factorization == "dense" else [_c(f) for f in self.factors]
        return FactorizedTensor(self.factorization, self.shape, self.ranks, core, factors)

    def reconstruct(self) -> Tensor:
        """The dense complex tensor ``(in, out, *mode_sizes)`` the parameters represent."""
        return self.tensor().reconstruct()

    def costs(self, batch: int) -> dict[str, int]:
        """Complex multiply-adds of the ``factorized`` and ``reconstructed`` contractions for ``batch`` inputs."""
        return self.tensor().costs(batch)

    def contract(self, x: Tensor) -> Tensor:
        """``x̂ (batch, in, *mode_sizes)`` -> ``(batch, out, *mode_sizes)`` with :attr:`implementation`."""
        return self.tensor().contract(x, self.implementation)


class JointFactorizedWeight(FactorizedWeight):
    """One factorised tensor ``W (L, in, out, *mode_sizes)`` shared by the ``L`` spectral convolutions of a network.

    The factorisation and its ``rank`` fraction apply to the whole order-(K+1) tensor (the MG-TFNO paper's global
    factorisation); ``W[l]`` is layer ``l``'s weight. :meth:`layer` gives ``W[l]`` as an order-K factorised tensor
    without building ``W``: Tucker contracts the layer factor's row ``U_0[l]`` into the core, CP scales the
    input factor's columns by ``U_0[l]``, TT contracts the first core's ``G_0[0, l]`` into the second one.
    """

    def __init__(self, n_layers: int, shape: Sequence[int], factorization: str | None = "tucker",
                 rank: float | int | Sequence[int] = 0.1, std: float = 1.0, implementation: str = "auto"):
        if n_layers < 1:
            raise ValueError(f"a joint factorisation needs at least one layer, got n_layers={n_layers}")
        super().__init__((n_layers, *shape), factorization, rank, std, implementation)
        self.n_layers = n_layers

    def layer(self, index: int) -> FactorizedTensor:
        """``W[index]``, shape ``(in, out, *mode_sizes)``, as complex components."""
        if not 0 <= index < self.n_layers:
            raise IndexError(f"layer {index} out of range for a joint weight of {self.n_layers} layers")
        full, shape = self.tensor(), self.shape[1:]
        if self.factorization == "dense":
            return FactorizedTensor("dense", shape, (), full.core[index], [])
        first, second, *rest = full.factors
        if self.factorization == "tucker":
            core = torch.tensordot(first[index], full.core, dims=([0], [0]))
            return FactorizedTensor("tucker", shape, self.ranks[1:], core, [second, *rest])
        if self.factorization == "cp":
            return FactorizedTensor("cp", shape, self.ranks, None, [second * first[index], *rest])
        merged = torch.tensordot(first[0, index], second, dims=([0], [0])).unsqueeze(0)  # tt: (1, d_1, r_1)
        return FactorizedTensor("tt", shape, self.ranks[1:], None, [merged, *rest])

    def view(self, index: int) -> JointLayer:
        """A handle on ``W[index]`` for :class:`SpectralConv` (it reads the parameters at every call)."""
        self.layer(index)  # validates the index
        return JointLayer(self, index)


class JointLayer:
    """Layer ``index`` of a :class:`JointFactorizedWeight`, with :class:`FactorizedWeight`'s ``reconstruct`` and
    ``contract``. A plain object, not a module: the parameters are registered once, in the joint weight's owner."""

    def __init__(self, joint: JointFactorizedWeight, index: int):
        self.joint, self.index = joint, index

    def reconstruct(self) -> Tensor:
        return self.joint.layer(self.index).reconstruct()

    def contract(self, x: Tensor) -> Tensor:
        return self.joint.layer(self.index).contract(x, self.joint.implementation)


def _check_rank(rank) -> None:
    if isinstance(rank, float) and not rank > 0:
        raise ValueError(f"a rank fraction must be positive, got {rank}")
    if isinstance(rank, int) and rank < 1:
        raise ValueError(f"ranks must be at least 1, got {rank}")


def tucker_parameters(dims: Sequence[int], ranks: Sequence[int]) -> int:
    """Complex entries of a Tucker tensor: ``Π r_j + Σ d_j r_j``."""
    return math.prod(ranks) + sum(d * r for d, r in zip(dims, ranks))


def cp_parameters(dims: Sequence[int], rank: int) -> int:
    """Complex entries of a CP tensor: ``R Σ d_j``."""
    return rank * sum(dims)


def tt_parameters(dims: Sequence[int], ranks: Sequence[int]) -> int:
    """Complex entries of a tensor train with bond ranks ``r_1 … r_{K−1}``: ``Σ r_{j−1} d_j r_j``."""
    bonds = (1, *ranks, 1)
    return sum(bonds[j] * d * bonds[j + 1] for j, d in enumerate(dims))


def tucker_ranks(dims: Sequence[int], rank) -> tuple[int, ...]:
    """Tucker ranks from a parameter fraction (one scale α, ``r_j = clamp(round(α d_j), 1, d_j)``), an int or a list."""
    if isinstance(rank, Sequence):
        if len(rank) != len(dims):
            raise ValueError(f"Tucker needs {len(dims)} ranks for a tensor of shape {tuple(dims)}, got {list(rank)}")
        return tuple(max(1, min(int(r), d)) for r, d in zip(rank, dims))
    _check_rank(rank)
    if isinstance(rank, int):
        return tuple(min(rank, d) for d in dims)
    target = rank * math.prod(dims)
    ranks = lambda alpha: tuple(max(1, min(d, round(alpha * d))) for d in dims)  # noqa: E731
    low, high = 0.0, 1.0
    for _ in range(60):  # the parameter count is monotone in α
        mid = (low + high) / 2
        low, high = (mid, high) if tucker_parameters(dims, ranks(mid)) <= target else (low, mid)
    best = min((ranks(low), ranks(high)), key=lambda r: abs(tucker_parameters(dims, r) - target))
    return best


def cp_rank(dims: Sequence[int], rank) -> int:
    """The CP rank from a parameter fraction (``R = round(fraction Π d_j / Σ d_j)``, at least 1) or an int."""
    _check_rank(rank)
    return rank if isinstance(rank, int) else max(1, round(rank * math.prod(dims) / cp_parameters(dims, 1)))


def tt_ranks(dims: Sequence[int], rank) -> tuple[int, ...]:
    """TT bond ranks from a parameter fraction (one bond rank r, capped at each bond's maximal rank
    ``min(Π d_{≤j}, Π d_{>j})``), an int, or a list of the K − 1 bond ranks."""
    caps = [min(math.prod(dims[:j]), math.prod(dims[j:])) for j in range(1, len(dims))]
    if isinstance(rank, Sequence):
        if len(rank) != len(caps):
            raise ValueError(f"TT needs {len(caps)} bond ranks for a tensor of shape {tuple(dims)}, got {list(rank)}")
        return tuple(max(1, min(int(r), c)) for r, c in zip(rank, caps))
    _check_rank(rank)
    ranks = lambda r: tuple(min(r, c) for c in caps)  # noqa: E731
    if isinstance(rank, int):
        return ranks(rank)
    target, r = rank * math.prod(dims), 1
    while r < max(caps) and tt_parameters(dims, ranks(r + 1)) <= target:
        r += 1
    if r < max(caps) and abs(tt_parameters(dims, ranks(r + 1)) - target) < abs(tt_parameters(dims, ranks(r)) - target):
        r += 1
    return ranks(r)


class SpectralConv(nn.Module):
    """The Fourier layer ``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)`` on d = 1, 2, 3 axes.

    ``modes``: an int (the same on every axis; ``n_dim`` axes, 2 if None) or one int per axis; see the module
    doc for which frequencies are kept and the grid size each needs. ``factorization`` (None/"dense", "tucker",
    "cp", "tt"), ``rank`` and ``implementation`` go to :class:`FactorizedWeight`. With ``shared`` (a
    :class:`JointFactorizedWeight` of shape ``(L, in, out, *mode_sizes)``) the layer uses ``shared``'s slice
    ``layer`` instead and owns no parameters (the factorisation arguments are then ignored): register
    ``shared`` in the module that owns the layers.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int] = 8, n_dim: int | None = None,
                 factorization: str | None = None, rank: float | int | Sequence[int] = 0.1,
                 implementation: str = "auto", init_std: float | None = None,
                 shared: JointFactorizedWeight | None = None, layer: int = 0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes = as_modes(modes, n_dim)
        self.n_dim = len(self.modes)
        shape = (in_channels, out_channels, *(2 * m - 1 for m in self.modes[:-1]), self.modes[-1])
        if shared is None:
            std = math.sqrt(2 / (in_channels + out_channels)) if init_std is None else init_std
            self.weight: FactorizedWeight | JointLayer = FactorizedWeight(shape, factorization, rank, std, implementation)
        elif shared.shape[1:] != shape:
            raise ValueError(f"the shared weight has layer shape {shared.shape[1:]}, but in_channels={in_channels}, "
                             f"out_channels={out_channels}, modes={self.modes} need {shape}")
        else:
            self.weight = shared.view(layer)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    def reconstruct(self) -> Tensor:
        """The dense complex weight ``(in, out, 2m_1 − 1, …, m_d)``."""
        return self.weight.reconstruct()

    def check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        spatial = ", ".join(f"n{j + 1}" for j in range(self.n_dim))
        if not isinstance(x, Tensor) or x.ndim != self.n_dim + 2:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} expects input of shape (batch, in_channels={self.in_channels}, {spatial}), got {got}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{name} expects {self.in_channels} input channels (batch, channels, {spatial}), "
                             f"got {x.shape[1]} in shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{name} expects a floating-point input, got {x.dtype}")
        for axis, (n, m) in enumerate(zip(x.shape[2:], self.modes)):
            if n < 2 * m - 1:
                raise ValueError(f"{name} keeps frequencies |k| ≤ {m - 1} on spatial axis {axis} (modes={m}), which "
                                 f"needs at least {2 * m - 1} grid points (the Nyquist frequency is never kept); got {n}")

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        spatial = x.shape[2:]
        dims = tuple(range(2, x.ndim))
        x_ft = torch.fft.rfftn(x, dim=dims)
        x_ft = x_ft[..., : self.modes[-1]]
        for axis, m in zip(dims[:-1], self.modes[:-1]):  # frequencies 0 … m−1 and −(m−1) … −1, in FFT order
            n = x_ft.shape[axis]
            x_ft = torch.cat([x_ft.narrow(axis, 0, m), x_ft.narrow(axis, n - m + 1, m - 1)], dim=axis)
        y_ft = self.weight.contract(x_ft)
        for axis, m, n in zip(dims[:-1], self.modes[:-1], spatial[:-1]):  # put the kept block back, zeros between
            zeros = y_ft.new_zeros(*y_ft.shape[:axis], n - 2 * m + 1, *y_ft.shape[axis + 1:])
            y_ft = torch.cat([y_ft.narrow(axis, 0, m), zeros, y_ft.narrow(axis, m, m - 1)], dim=axis)
        return torch.fft.irfftn(y_ft, s=spatial, dim=dims)  # zero-pads the last axis to n_d // 2 + 1 bins
