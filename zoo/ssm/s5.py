"""S5: "Simplified State Space Layers for Sequence Modeling" (Smith, Warrington, Linderman, ICLR 2023), and S5-PTD
from "Robustifying State-space Models for Long Sequences via Approximate Diagonalization" (Yu et al., ICLR 2024).

One multi-input multi-output diagonal SSM per layer, shared by all ``H = d_model`` channels::

    x'(t) = Λ x(t) + B̃ u(t),      y(t) = Re(C̃ x(t)) + D∘u(t),      x ∈ ℂ^P', u, y ∈ ℝ^H,  Λ = diag(λ_1 … λ_P').

Discretisation with a learnt step Δ_p per state (``log_Delta ~ U[log dt_min, log dt_max]``, ``Λ̄ = diag(Λ̄_p)``):

    ZOH        Λ̄ = exp(ΛΔ),                    B̄ = Λ⁻¹(Λ̄ − I) B̃
    bilinear   Λ̄ = (I − ΔΛ/2)⁻¹(I + ΔΛ/2),     B̄ = (I − ΔΛ/2)⁻¹ Δ B̃

Recurrence ``x_k = Λ̄ x_{k−1} + B̄ u_k``, ``y_k = Re(C̃ x_k) + D∘u_k`` (the state includes the current input), run for
all k at once by a parallel associative scan of the pairs ``(a_k, b_k) = (Λ̄, B̄ u_k)`` under

    (a_i, b_i) • (a_j, b_j) = (a_j a_i, a_j b_i + b_j),

whose inclusive scan is ``(Λ̄^{k+1}, x_k)``: O(P'·L) work, O(log L) depth (:func:`parallel_scan`).

Initialisation (``d_state = P``, ``blocks = J``, block size ``n = P/J``), as lindermanlab/S5 ``train.py`` and
``ssm_init.py``:

* ``init="legs"`` (S5): per block the normal part of HiPPO-LegS, ``A_N = V diag(Λ) V*`` with ``V`` unitary and
  ``Re λ = −½`` (:func:`zoo.ssm.hippo.legs_normal`); Λ is repeated over the J blocks, V is block-diagonal and
  ``V⁻¹ = V*``. With ``conj_sym=True`` (the default, as the reference) each block keeps one eigenvalue of each
  conjugate pair (the n/2 with Im λ < 0), so the layer has ``P' = P/2`` complex states and outputs
  ``y = 2 Re(C̃ x) + D∘u``: a real P-dimensional system, one state of each conjugate pair. ``conj_sym=False`` keeps all
  ``P' = P`` eigenvalues (the second half the conjugates of the first) and outputs ``Re(C̃ x) + D∘u``.
* ``init="ptd"`` (S5-PTD): per block ``A_LegS(n) + E = V diag(Λ) V⁻¹`` from :func:`zoo.ssm.ptd.ptd_perturbation`,
  with the true inverse V⁻¹ (V is not unitary); conjugate symmetry is off (``P' = P``).
* ``B̃ = V⁻¹ B`` with real ``B (P, H)`` and ``C̃ = C V`` with complex ``C (H, P)`` (two independent ones,
  ``C̃ (H, 2P')``, for a bidirectional layer), every real entry "lecun normal": a normal truncated at ±2σ and
  rescaled to standard deviation ``1/√P``. For B this is the reference's jax ``lecun_normal`` on its ``(P, H)``
  layout, whose fan-in is P, not H; for C it is the reference's default ``C_init="trunc_standard_normal"``.
  ``D ~ N(0, 1)`` per channel.

Layer: SSM -> GELU -> dropout -> S5's default ``activation="half_glu1"``, ``z ← z ∘ σ(W z + b)`` (one
``Linear(H, H)``, the GLU's value path tied to its input); ``"full_glu"`` is ``Linear(H, 2H)`` + GLU (as S4D), and
``"gelu"`` stops after the dropout. The backbone (encoder, residual, LayerNorm, pooling, decoder) is
:class:`zoo.ssm.backbone.SequenceBackbone`.

Optimiser hook: ``Lambda_re``, ``Lambda_im``, ``B`` and ``log_Delta`` carry ``param._optim = {"lr": lr,
"weight_decay": 0.0}`` (the reference's default ``opt_config="standard"`` trains exactly these with the SSM lr and
no decay, and C, D and the GLU with the global lr and decay); with ``lr=0`` they are frozen buffers.

Deliberate differences from the reference code (lindermanlab/S5, ``s5/ssm.py``, ``layers.py``, ``seq_model.py``):

* The scan is written here (PyTorch has no ``associative_scan``): a recursive odd/even scan over the length.
  Λ̄ does not depend on k; the scan still takes one ``a_k`` per step (broadcast over the batch) and is general.
* The backbone uses LayerNorm, post-norm by default; the reference's LRA runs use BatchNorm and pre-norm, and its
  "standard" optimiser config also puts the norms' parameters in the SSM-lr group (here they use the defaults).
* Only the default C init; no ``step_rescale`` or variable integration steps. ``clip_eigs`` is kept
  (``Re λ ← min(Re λ, −1e−4)`` in the forward pass; the S5-PTD runs need it at n = 128).
* Tensors are ``(batch, length, d_model)``; Δ is ``log_Delta (P',)`` (the reference: ``log_step (P', 1)``); complex
  tensors are stored as ``torch.view_as_real`` pairs.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from zoo.ssm.backbone import SequenceBackbone, check_input, register_sequence_model, register_ssm_tensor
from zoo.ssm.hippo import legs_normal
from zoo.ssm.s4d import DISCS

INITS = ("legs", "ptd")
ACTIVATIONS = ("half_glu1", "full_glu", "gelu")
#: standard deviation of a standard normal truncated to [−2, 2]
_TRUNC_STD = math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(math.sqrt(2)))


# ------------------------------------------------------------------------------------------------------- scan
def parallel_scan(a: Tensor, b: Tensor, dim: int = 1, reverse: bool = False) -> tuple[Tensor, Tensor]:
    """Inclusive scan of ``(a_k, b_k)`` along ``dim`` under ``(a_i, b_i)•(a_j, b_j) = (a_j a_i, a_j b_i + b_j)``.

    Returns ``(a_0 a_1 ⋯ a_k, x_k)`` for ``k = 0 … L−1``, where ``x_k = a_k x_{k−1} + b_k`` and ``x_{−1} = 0``;
    ``reverse=True`` scans from the end (``x_k = a_k x_{k+1} + b_k``). ``a`` and ``b`` have the same number of
    dimensions and the same size ``L`` along ``dim``, and broadcast against each other in the others (an ``a`` of
    size 1 on the batch dimension is never expanded over it). The recursion combines neighbours (2i, 2i+1),
    scans the L/2 pairs and fills in the even positions: about 2L products in 2·⌈log2 L⌉ sequential rounds; an
    odd length is padded with the identity ``(1, 0)``.
    """
    if a.ndim != b.ndim or a.ndim == 0 or a.shape[dim] != b.shape[dim] or a.shape[dim] == 0:
        raise ValueError(
            f"parallel_scan expects a and b with as many dimensions and one nonzero length along dim={dim}, "
            f"got a {tuple(a.shape)} and b {tuple(b.shape)}"
        )
    try:
        shape = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError as err:
        raise ValueError(f"parallel_scan: a {tuple(a.shape)} and b {tuple(b.shape)} do not broadcast") from err
    dtype = torch.result_type(a, b)
    a, b = a.to(dtype), b.to(dtype).expand(shape)
    if reverse:
        a, b = a.flip(dim), b.flip(dim)
    prod, x = _scan(a.movedim(dim, 0), b.movedim(dim, 0))
    prod, x = prod.movedim(0, dim), x.movedim(0, dim)
    return (prod.flip(dim), x.flip(dim)) if reverse else (prod, x)


def _scan(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`parallel_scan` along dimension 0."""
    n = a.shape[0]
    if n == 1:
        return a, b
    if n % 2:  # pad with the identity element (1, 0)
        prod, x = _scan(torch.cat([a, torch.ones_like(a[:1])]), torch.cat([b, torch.zeros_like(b[:1])]))
        return prod[:n], x[:n]
    a_even, a_odd = a.unflatten(0, (n // 2, 2)).unbind(1)
    b_even, b_odd = b.unflatten(0, (n // 2, 2)).unbind(1)
    # the pairs (2i, 2i+1) combined and scanned: the prefixes ending at the odd positions 1, 3, 5, …
    prod_odd, x_odd = _scan(a_odd * a_even, torch.addcmul(b_odd, a_odd, b_even))
    # even position 2i: the prefix ending at 2i−1 (the identity for i = 0), then element 2i
    prod_even = a_even * _shift(prod_odd, 1.0)
    x_even = torch.addcmul(b_even, a_even, _shift(x_odd, 0.0))
    return torch.stack([prod_even, prod_odd], 1).flatten(0, 1), torch.stack([x_even, x_odd], 1).flatten(0, 1)


def _shift(x: Tensor, fill: float) -> Tensor:
    """``(fill, x_0, …, x_{m−2})`` along dimension 0."""
    return torch.cat([torch.full_like(x[:1], fill), x[:-1]])


# ------------------------------------------------------------------------------------------------------- init
def _lecun_normal(*shape: int, fan_in: int) -> Tensor:
    """float64 normal truncated at ±2σ, rescaled to standard deviation ``1/√fan_in`` (jax's ``lecun_normal``)."""
    std = 1 / math.sqrt(fan_in) / _TRUNC_STD
    return nn.init.trunc_normal_(torch.empty(*shape, dtype=torch.float64), std=std, a=-2 * std, b=2 * std)


def _block_eig(n: int, init: str, conj_sym: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block's ``(Λ (m,), V (n, m), V⁻¹ (m, n))`` complex128, ``m = n/2`` with ``conj_sym`` else ``n``."""
    if init == "ptd":
        from zoo.ssm.ptd import ptd_perturbation  # the PTD solver (and its cache) is only needed for this init

        ptd = ptd_perturbation(n)
        return ptd["Lambda"], ptd["V"], ptd["V_inv"]
    Lambda, V = legs_normal(n)
    if not conj_sym:
        Lambda, V = np.concatenate([Lambda, Lambda.conj()]), np.concatenate([V, V.conj()], axis=1)
    return Lambda, V, V.conj().T


# -------------------------------------------------------------------------------------------------------- SSM
class S5SSM(nn.Module):
    """The MIMO diagonal SSM: ``forward(u (batch, length, H)) -> y (batch, length, H)``, ``y = Re(C̃ x) + D∘u``.

    Parameters: ``Lambda_re (P',)``, ``Lambda_im (P',)``, ``B (P', H, 2)``, ``log_Delta (P',)``,
    ``C (H, channels·P', 2)`` (channels 2 when bidirectional) and ``D (H,)``; complex tensors are stored with
    ``torch.view_as_real``. ``P' = d_state/2`` with ``conj_sym`` (outputs ``2 Re(C̃ x) + D∘u``), else ``d_state``.
    A bidirectional SSM adds a reverse scan ``x̃_k = Λ̄ x̃_{k+1} + B̄ u_k`` and outputs ``Re(C̃ [x; x̃]) + D∘u``.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        blocks: int = 4,
        init: str = "legs",
        conj_sym: bool = True,
        disc: str = "zoh",
        bidirectional: bool = False,
        clip_eigs: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: float = 1e-3,
    ):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown S5 init {init!r}; valid choices: {', '.join(INITS)}")
        if disc not in DISCS:
            raise ValueError(f"unknown discretisation {disc!r}; valid choices: {', '.join(DISCS)}")
        if d_model < 1 or blocks < 1 or d_state < 1 or d_state % blocks:
            raise ValueError(
                f"need d_model, blocks >= 1 and d_state a positive multiple of blocks, "
                f"got d_model={d_model}, d_state={d_state}, blocks={blocks}"
            )
        if conj_sym and (d_state // blocks) % 2:
            raise ValueError(f"conj_sym needs an even block size d_state/blocks, got {d_state}/{blocks}")
        if init == "ptd" and conj_sym:
            raise ValueError("S5-PTD (init='ptd') has no conjugate symmetry; set conj_sym=False")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        if lr < 0:
            raise ValueError(f"lr must be >= 0 (0 freezes Λ, B and Δ), got {lr}")
        self.d_model, self.d_state, self.blocks, self.init = d_model, d_state, blocks, init
        self.conj_sym, self.disc, self.bidirectional, self.clip_eigs = conj_sym, disc, bidirectional, clip_eigs

        H, P, dtype = d_model, d_state, torch.get_default_dtype()
        Lambda, V, V_inv = (torch.from_numpy(t) for t in _block_eig(P // blocks, init, conj_sym))
        Lambda, V, V_inv = Lambda.repeat(blocks), torch.block_diag(*[V] * blocks), torch.block_diag(*[V_inv] * blocks)
        B = V_inv @ _lecun_normal(P, H, fan_in=P).to(V.dtype)  # (P', H)
        C = torch.cat([torch.complex(*_lecun_normal(2, H, P, fan_in=P)) @ V for _ in range(1 + bidirectional)], -1)
        log_Delta = torch.rand(len(Lambda), dtype=torch.float64) * math.log(dt_max / dt_min) + math.log(dt_min)

        register_ssm_tensor(self, "Lambda_re", Lambda.real.to(dtype), lr)
        register_ssm_tensor(self, "Lambda_im", Lambda.imag.to(dtype), lr)
        register_ssm_tensor(self, "B", torch.view_as_real(B).to(dtype), lr)
        register_ssm_tensor(self, "log_Delta", log_Delta.to(dtype), lr)
        self.C = nn.Parameter(torch.view_as_real(C).to(dtype))
        self.D = nn.Parameter(torch.randn(H, dtype=dtype))
        self._step_cache: tuple[Tensor, Tensor] | None = None

    @property
    def Lambda(self) -> Tensor:
        """The continuous-time eigenvalues ``Λ (P',)`` complex (Re clipped to <= −1e−4 with ``clip_eigs``)."""
        real = self.Lambda_re.clamp(max=-1e-4) if self.clip_eigs else self.Lambda_re
        return torch.complex(real, self.Lambda_im)

    def discretize(self) -> tuple[Tensor, Tensor]:
        """The discrete system ``(Λ̄ (P',), B̄ (P', H))``, complex."""
        Lambda, Delta, B = self.Lambda, torch.exp(self.log_Delta), torch.view_as_complex(self.B)
        if self.disc == "zoh":
            return torch.exp(Delta * Lambda), (torch.expm1(Delta * Lambda) / Lambda).unsqueeze(-1) * B
        return (1 + Delta * Lambda / 2) / (1 - Delta * Lambda / 2), (Delta / (1 - Delta * Lambda / 2)).unsqueeze(-1) * B

    def _output(self, x: Tensor, u: Tensor) -> Tensor:
        """``y = Re(C̃ x) + D∘u`` (2 Re with ``conj_sym``): ``x (..., channels·P')``, ``u (..., H)`` -> ``(..., H)``."""
        y = (x @ torch.view_as_complex(self.C).T).real
        return (2 * y if self.conj_sym else y) + self.D * u

    def forward(self, u: Tensor) -> Tensor:
        """``u (batch, length, H)`` -> ``y (batch, length, H)``, in the parameters' precision."""
        Lambda_bar, B_bar = self.discretize()
        u = u.to(self.D.dtype)
        Bu = u.to(B_bar.dtype) @ B_bar.T  # (batch, length, P')
        a = Lambda_bar.expand(1, u.shape[1], -1)  # time-invariant, shared over the batch
        x = parallel_scan(a, Bu, dim=1)[1]
        if self.bidirectional:
            x = torch.cat([x, parallel_scan(a, Bu, dim=1, reverse=True)[1]], dim=-1)
        return self._output(x, u)

    def setup_step(self) -> None:
        """Cache ``(Λ̄, B̄)`` for :meth:`step` (call again after the parameters change or move device)."""
        if self.bidirectional:
            raise RuntimeError("a bidirectional S5 layer looks at future inputs and has no recurrent (step) mode")
        with torch.no_grad():
            self._step_cache = self.discretize()

    def default_state(self, batch_size: int) -> Tensor:
        """Zero state ``(batch_size, P')``, complex of the parameters' precision."""
        return torch.view_as_complex(self.B).new_zeros(batch_size, self.B.shape[0])

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """``x_k = Λ̄ x_{k−1} + B̄ u_k``: ``u (batch, H)``, ``state (batch, P')`` -> ``(y (batch, H), state)``."""
        if self.bidirectional:
            raise RuntimeError("a bidirectional S5 layer looks at future inputs and has no recurrent (step) mode")
        if self._step_cache is None:
            raise RuntimeError("call setup_step() before step()")
        Lambda_bar, B_bar = self._step_cache
        u = u.to(self.D.dtype)
        state = Lambda_bar * state + u.to(B_bar.dtype) @ B_bar.T
        return self._output(state, u), state


# ------------------------------------------------------------------------------------------------------ layer
class S5Layer(nn.Module):
    """S5 block on ``(batch, length, d_model)`` -> ``(batch, length, d_model)``.

    :class:`S5SSM`, GELU, dropout (one mask per channel, shared over the length), then the ``activation``'s output
    map: ``"half_glu1"`` ``z ∘ σ(W z + b)`` (default, as S5), ``"full_glu"`` ``Linear(H, 2H)`` + GLU, or ``"gelu"``
    (nothing more). Recurrent mode: ``setup_step()``, ``default_state(batch)`` (zeros ``(batch, P')`` complex) and
    ``step(u (batch, d_model), state) -> (y (batch, d_model), state)``; a bidirectional layer has none.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        blocks: int = 4,
        init: str = "legs",
        conj_sym: bool = True,
        disc: str = "zoh",
        activation: str = "half_glu1",
        dropout: float = 0.0,
        bidirectional: bool = False,
        clip_eigs: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: float = 1e-3,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown S5 activation {activation!r}; valid choices: {', '.join(ACTIVATIONS)}")
        self.d_model, self.activation = d_model, activation
        self.ssm = S5SSM(d_model=d_model, d_state=d_state, blocks=blocks, init=init, conj_sym=conj_sym, disc=disc,
                         bidirectional=bidirectional, clip_eigs=clip_eigs, dt_min=dt_min, dt_max=dt_max, lr=lr)
        self.dropout = nn.Dropout1d(dropout)
        if activation != "gelu":
            self.output_linear = nn.Linear(d_model, (2 if activation == "full_glu" else 1) * d_model)

    def _mix(self, y: Tensor) -> Tensor:
        """GELU, channel dropout and the output map, ``(batch, length, H)`` -> same."""
        z = rearrange(self.dropout(rearrange(F.gelu(y), "b l h -> b h l")), "b h l -> b l h")
        if self.activation == "half_glu1":
            return z * torch.sigmoid(self.output_linear(z))
        if self.activation == "full_glu":
            return F.glu(self.output_linear(z), dim=-1)
        return z

    def forward(self, u: Tensor) -> Tensor:
        """``u (batch, length, d_model)`` -> ``(batch, length, d_model)``."""
        check_input(u, "S5Layer", f"(batch, length, d_model={self.d_model})", 3, self.d_model)
        return self._mix(self.ssm(u))

    def setup_step(self) -> None:
        """Cache the discrete system (see :meth:`S5SSM.setup_step`)."""
        self.ssm.setup_step()

    def default_state(self, batch_size: int) -> Tensor:
        """Zero state ``(batch_size, P')`` complex."""
        return self.ssm.default_state(batch_size)

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One time step: ``u (batch, d_model)``, ``state (batch, P')`` -> ``(y (batch, d_model), state)``."""
        check_input(u, "S5Layer.step", f"(batch, d_model={self.d_model})", 2, self.d_model)
        expected = (u.shape[0], self.ssm.B.shape[0])
        if not isinstance(state, Tensor) or state.shape != expected:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"S5Layer.step expects state of shape {expected}, got {got}")
        y, state = self.ssm.step(u, state)
        return self._mix(y.unsqueeze(1)).squeeze(1), state


# ------------------------------------------------------------------------------------------------------ model
class S5Model(SequenceBackbone):
    """Stack of S5 layers: :class:`zoo.ssm.backbone.SequenceBackbone` with :class:`S5Layer`.

    ``x (batch, length, d_input)`` -> ``(batch, d_output)`` for ``pooling="mean"|"last"``, or
    ``(batch, length, d_output)`` for ``pooling="none"``; step mode as the backbone (causal layers,
    ``pooling="last"|"none"``). ``d_state`` is S5's P (``ssm_size_base``): ``P/2`` complex states per layer with
    ``conj_sym``, ``P`` without (S5-PTD).
    """

    def __init__(
        self,
        d_input: int = 1,
        d_output: int = 10,
        d_model: int = 64,
        n_layers: int = 4,
        d_state: int = 64,
        blocks: int = 4,
        dropout: float = 0.1,
        prenorm: bool = False,
        pooling: str = "mean",
        init: str = "legs",
        conj_sym: bool = True,
        disc: str = "zoh",
        activation: str = "half_glu1",
        bidirectional: bool = False,
        clip_eigs: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: float = 1e-3,
    ):
        layer = partial(S5Layer, d_model=d_model, d_state=d_state, blocks=blocks, init=init, conj_sym=conj_sym,
                        disc=disc, activation=activation, dropout=dropout, bidirectional=bidirectional,
                        clip_eigs=clip_eigs, dt_min=dt_min, dt_max=dt_max, lr=lr)
        super().__init__(make_layer=layer, d_input=d_input, d_output=d_output, d_model=d_model, n_layers=n_layers,
                         dropout=dropout, prenorm=prenorm, pooling=pooling)


register_sequence_model(
    "s5", "Simplified State Space Layers for Sequence Modeling (Smith, Warrington, Linderman, ICLR 2023)"
)(S5Model)


register_sequence_model(
    "s5_ptd", "Robustifying State-space Models for Long Sequences via Approximate Diagonalization (Yu et al., ICLR 2024)"
)(partial(S5Model, init="ptd", conj_sym=False))  # S5-PTD: d_state complex states per layer, the true V⁻¹
