"""S4D: "On the Parameterization and Initialization of Diagonal State Space Models" (Gu, Gupta, Goel, Ré, 2022).

Each of the ``H = d_model`` channels is a single-input single-output SSM whose ``N = d_state`` dimensional real
state is carried by ``N/2`` complex modes (the other half are their complex conjugates)::

    x'(t) = Λ x(t) + B u(t),        y(t) = 2 Re(C x(t)) + D u(t),        Λ = diag(λ_0 … λ_{N/2-1}).

Discretisation with a learnt step Δ per channel:

    ZOH        Ā = exp(ΔΛ),                  B̄ = (exp(ΔΛ) − 1)/Λ · B
    bilinear   Ā = (1 + ΔΛ/2)/(1 − ΔΛ/2),    B̄ = ΔB/(1 − ΔΛ/2)

Recurrent view: ``x_k = Ā x_{k−1} + B̄ u_k``, ``y_k = 2 Re(C x_k) + D u_k`` (the state includes the current input).
Unrolled, it is the causal convolution ``y = K ∗ u + D u`` with the kernel

    K_ℓ = 2 Re Σ_n C_n B̄_n Ā_n^ℓ,        ℓ = 0 … L−1,

a Vandermonde product in ``log Ā_n`` (``exp(ℓ log Ā_n) = Ā_n^ℓ``), computed in O(H·N·L) time and, chunked over ℓ
in both passes, O(H·N·chunk) memory. The convolution itself is an FFT at ``n = 2L``.

Parameterisation: ``λ_n = −exp(A_real_log_n) + i·A_imag_n`` (so Re λ < 0 always), ``Δ = exp(log_dt)`` with
``log_dt ~ U[log dt_min, log dt_max]``, ``C ~ CN(0, 1)`` (variance ½ per part), ``D ~ N(0, 1)``, and
the initialisations (n = 0 … N/2−1):

    lin    λ_n = −½ + iπn                                B = 1
    inv    λ_n = −½ + i(N/π)(N/(2n+1) − 1)               B = 1
    real   λ_n = −(n+1)                                  B = 1
    legs   λ = eigenvalues of the normal part of HiPPO-LegS (``hippo.normal``),       B = ½ V* B_LegS
    legt   λ = −½ + i Im(eigenvalues of the normal part of HiPPO-LegT),           B = V* B_LegT
    fout   λ = −½ + i Im(eigenvalues of the normal part of HiPPO-FouT) = −½ − iπk,  B = V* B_FouT
    ptd    λ = all n = N/2 eigenvalues of A_LegS(n) + E (``zoo.ssm.ptd.ptd_init``),  B = V_E⁻¹ B_LegS(n)

The HiPPO inits keep one mode of each conjugate pair of the N×N normal part ``A_N = A + P Pᵀ = V Λ V*`` (LegS
and FouT have a rank-1 correction P, LegT a rank-2 one; see ``zoo.ssm.hippo``). LegS's normal part has
Re λ = −½ exactly. LegT's and FouT's are skew-symmetric, Re λ = 0 (FouT's slowest mode, k = 0, is λ = 0 itself:
its cos0/sin0 pair), which ``Re λ = −exp(·) < 0`` cannot hold: they get Re λ = −½, as lin and inv. S4D-FouT
then has the conjugate of lin's spectrum (the same under 2 Re), with |B_k| = 1, and 1/√2 for k = 0. B = V* B is
not halved for legt and fout, as in the reference (``hippo.nplr``); the ½ of legs is the S4D paper's result
for LegS.

ptd counts sizes differently: d_state N means the perturbed HiPPO-LegS of size n = N/2 (legs, legt and fout
use size N), and the kernel's N/2 complex modes are *all* n eigenvalues of A_LegS(n) + E, under the same
2 Re as the other inits. For a real E they come in conjugate pairs, so each pair is counted twice; this is
the reference robustness model (S4-PTD ``s4_PTD.py``: N = 64 from the n = 32 perturbed LegS). PTD's
perturbation makes Re λ < 0; the init raises an error if the solver returns anything else.

Optimiser hook: ``log_dt``, ``A_real_log``, ``A_imag`` and ``B`` carry ``param._optim = {"lr": lr,
"weight_decay": 0.0}``; the training code puts every distinct ``_optim`` dict into its own parameter group
(everything else uses the optimiser's defaults). With ``lr=0`` they are registered as buffers and stay frozen.
``copy.deepcopy`` of a Parameter drops such attributes (torch behaviour), so build the groups from the model
the registry made, not from a deep copy of it.

Deliberate differences from the reference code (state-spaces/s4, ``models/s4/s4d.py`` and ``SSMKernelDiag``):

* S4D-LegS uses B = ½ V* B_LegS, as the paper's theory says; the reference drops the ½ and clips Im B to
  [−2, 2] (``legs_reference=True`` reproduces that).
* S4D-LegT and S4D-FouT (reference: ``SSMKernelDiag`` with ``init="legt"`` (``rank=2``) or ``"fout"``) get
  Re λ = −½; the reference clamps −Re λ = 0 to 1e−4 (``inv_transform``), modes that barely decay over a
  sequence. −½ is the reference's own choice for its diagonal Fourier measure (``hippo.transition("foud")``:
  FouT's skew part at doubled frequency, minus ½ I).
* The Vandermonde product is one chunked autograd function (``exp(ℓ log Ā)`` rebuilt chunk by chunk in both
  passes from about 2√chunk exponentials per chunk) instead of pykeops / a CUDA extension / a naive einsum that
  stores the H·N·L matrix. Δ goes through ``exp`` (as the minimal reference layer), not softplus.
* ``A_imag`` stores Im λ with its own sign (the reference stores −Im λ; the two are equal under 2 Re).
* There is no ``l_max``: the kernel is built for the length of each input, so step mode and convolution
  mode agree at every length.
* Tensors are ``(batch, length, d_model)`` and the output mixing is ``Linear(H, 2H)`` + GLU (the reference
  uses ``Conv1d(H, 2H, 1)`` on ``(batch, d_model, length)``; same map).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from zoo.ssm.backbone import SequenceBackbone, check_input, register_sequence_model, register_ssm_tensor
from zoo.ssm.hippo import TRANSITIONS, normal

INITS = ("lin", "inv", "real", "legs", "legt", "fout", "ptd")
DISCS = ("zoh", "bilinear")


# ----------------------------------------------------------------------------------------------- Vandermonde
class _Vandermonde(torch.autograd.Function):
    """``K[c, h, ℓ] = Re Σ_n W[c, h, n] · exp(ℓ · s[h, n])``, recomputing ``exp(ℓ s)`` chunk by chunk in backward.

    Gradients follow PyTorch's convention for complex inputs (conjugate Wirtinger, ``∂/∂Re + i ∂/∂Im``):
    ``grad_W = Σ_ℓ g_ℓ conj(exp(ℓ s))`` and ``grad_s = Σ_ℓ g_ℓ conj(ℓ W exp(ℓ s))``. The forward-mode derivative is
    ``dK = Re Σ_n (dW + ℓ W ds) exp(ℓ s)``. The backward is built from differentiable operations, so
    ``torch.func`` transforms it (Hessian-vector products by forward-over-reverse, double backward, vmap).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(W: Tensor, s: Tensor, L: int, chunk: int) -> Tensor:
        K = W.real.new_empty(*W.shape[:-1], L)
        for start, _, E in _powers(s, L, chunk):
            K[..., start : start + E.shape[-1]] = torch.einsum("chn,hnl->chl", W, E).real
        return K

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        W, s, ctx.L, ctx.chunk = inputs
        ctx.save_for_backward(W, s)
        ctx.save_for_forward(W, s)

    @staticmethod
    def jvp(ctx, dW: Tensor | None, ds: Tensor | None, *_) -> Tensor:
        W, s = ctx.saved_tensors
        dK = W.real.new_zeros(*W.shape[:-1], ctx.L)
        for start, ell, E in _powers(s, ctx.L, ctx.chunk):
            if dW is not None:
                dK[..., start : start + len(ell)] += torch.einsum("chn,hnl->chl", dW, E).real
            if ds is not None:
                dK[..., start : start + len(ell)] += torch.einsum("chn,hnl->chl", W * ds, E * ell).real
        return dK

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        W, s = ctx.saved_tensors
        grad = grad.to(W.dtype)
        grad_W, weighted = torch.zeros_like(W), torch.zeros_like(W)
        for start, ell, E in _powers(s, ctx.L, ctx.chunk):
            E_conj = E.conj()  # (H, N, chunk)
            g = grad[..., start : start + len(ell)]  # (channels, H, chunk)
            if ctx.needs_input_grad[0]:
                grad_W += torch.einsum("chl,hnl->chn", g, E_conj)
            if ctx.needs_input_grad[1]:
                weighted += torch.einsum("chl,hnl->chn", g * ell, E_conj)
        grad_s = (W.conj() * weighted).sum(0) if ctx.needs_input_grad[1] else None
        return (grad_W if ctx.needs_input_grad[0] else None), grad_s, None, None


def _powers(s: Tensor, L: int, chunk: int) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Yield ``(ℓ₀, ℓ (c,), exp(ℓ s) (H, N, c))`` for consecutive chunks ``ℓ = ℓ₀ … ℓ₀+c−1`` of ``0 … L−1``.

    Writing ``ℓ = ℓ₀ + r·q + j`` with ``0 <= j < r = ⌈√chunk⌉``, ``exp(ℓ s) = exp((ℓ₀ + r q) s) · exp(j s)``: about
    2√chunk complex exponentials per chunk and mode instead of ``chunk`` (a product of two correctly rounded
    factors, so within a few ulp of the direct exponential).
    """
    r = math.isqrt(chunk - 1) + 1
    arange = partial(torch.arange, device=s.device, dtype=s.real.dtype)
    inner = torch.exp(s.unsqueeze(-1) * arange(r))  # (H, N, r)
    for start in range(0, L, chunk):
        ell = arange(start, min(start + chunk, L))
        outer = torch.exp(s.unsqueeze(-1) * ell[::r])  # (H, N, ⌈c/r⌉)
        yield start, ell, (outer.unsqueeze(-1) * inner.unsqueeze(-2)).flatten(-2)[..., : len(ell)]


def vandermonde(W: Tensor, s: Tensor, L: int, chunk: int = 256) -> Tensor:
    """Real kernel ``K[c, h, ℓ] = Re Σ_n W[c, h, n] exp(ℓ s[h, n])`` for ``ℓ = 0 … L−1``.

    ``W (channels, H, N)`` and ``s (H, N)`` complex of one dtype -> ``K (channels, H, L)`` real. Forward and
    backward both work on ``chunk`` values of ℓ at a time: peak memory is O(H·N·chunk), not O(H·N·L).
    """
    if W.ndim != 3 or s.shape != W.shape[1:] or not (W.is_complex() and W.dtype == s.dtype):
        raise ValueError(
            f"vandermonde expects complex W (channels, H, N) and s (H, N) of one dtype, "
            f"got W {tuple(W.shape)} {W.dtype} and s {tuple(s.shape)} {s.dtype}"
        )
    if L < 1 or chunk < 1:
        raise ValueError(f"vandermonde needs L >= 1 and chunk >= 1, got L={L}, chunk={chunk}")
    return _Vandermonde.apply(W, s, L, chunk)


# ---------------------------------------------------------------------------------------------------- kernel
class S4DKernel(nn.Module):
    """Diagonal SSM convolution kernel: ``forward(L) -> K (channels, H, L)``, ``K_ℓ = 2 Re Σ_n C_n B̄_n Ā_n^ℓ``.

    Parameters: ``log_dt (H,)``, ``A_real_log (H, N/2)``, ``A_imag (H, N/2)``, ``B (H, N/2, 2)`` and
    ``C (channels, H, N/2, 2)`` (complex tensors stored with ``torch.view_as_real``). ``channels`` output kernels
    share Λ, B and Δ and differ in C (a bidirectional layer uses two).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        init: str = "lin",
        disc: str = "zoh",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: float = 1e-3,
        channels: int = 1,
        legs_reference: bool = False,
        chunk: int = 256,
    ):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown S4D init {init!r}; valid choices: {', '.join(INITS)}")
        if disc not in DISCS:
            raise ValueError(f"unknown discretisation {disc!r}; valid choices: {', '.join(DISCS)}")
        if d_state < 2 or d_state % 2:
            raise ValueError(f"d_state must be a positive even number (N/2 complex modes), got {d_state}")
        if d_model < 1 or channels < 1 or chunk < 1:
            raise ValueError(f"d_model, channels and chunk must be >= 1, got {d_model}, {channels}, {chunk}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        if lr < 0:
            raise ValueError(f"lr must be >= 0 (0 freezes Λ, B and Δ), got {lr}")
        self.d_model, self.d_state, self.init, self.disc, self.chunk = d_model, d_state, init, disc, chunk

        H, N, dtype = d_model, d_state, torch.get_default_dtype()
        n = torch.arange(N // 2, dtype=torch.float64)
        B = torch.ones(N // 2, dtype=torch.complex128)
        if init == "lin":
            Lambda = torch.complex(-0.5 * torch.ones_like(n), math.pi * n)
        elif init == "inv":
            Lambda = torch.complex(-0.5 * torch.ones_like(n), N / math.pi * (N / (2 * n + 1) - 1))
        elif init == "real":
            Lambda = torch.complex(-(n + 1), torch.zeros_like(n))
        elif init == "ptd":
            from zoo.ssm.ptd import ptd_init  # the PTD solver (and its cache) is only needed for this init

            Lambda, B = (torch.as_tensor(x, dtype=torch.complex128) for x in ptd_init(N // 2, seed=0))
            if not torch.all(Lambda.real < 0):
                raise RuntimeError(
                    f"ptd_init({N // 2}) returned eigenvalues with Re λ >= 0 (max {Lambda.real.max().item():.3g}); "
                    "the S4D parameterisation Re λ = −exp(·) needs a stable init"
                )
        else:  # HiPPO normal part: legs, legt, fout
            Lambda, V = normal(init, N)
            Lambda = torch.complex(-0.5 * torch.ones_like(n), torch.from_numpy(Lambda.imag))
            B = torch.from_numpy(V.conj().T @ TRANSITIONS[init](N)[1])
            if init == "legs":
                B = torch.complex(B.real, B.imag.clamp(-2, 2)) if legs_reference else B / 2
        log_dt = torch.rand(H, dtype=torch.float64) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)

        def per_channel(x: Tensor) -> Tensor:  # (N/2, ...) -> (H, N/2, ...), own memory, default dtype
            return repeat(x, "n ... -> h n ...", h=H).to(dtype).contiguous()

        register_ssm_tensor(self, "log_dt", log_dt.to(dtype), lr)
        register_ssm_tensor(self, "A_real_log", per_channel(torch.log(-Lambda.real)), lr)
        register_ssm_tensor(self, "A_imag", per_channel(Lambda.imag), lr)
        register_ssm_tensor(self, "B", per_channel(torch.view_as_real(B)), lr)
        C = torch.randn(channels, H, N // 2, dtype=torch.complex128)
        self.C = nn.Parameter(torch.view_as_real(C).to(dtype))

    def _log_discretize(self) -> tuple[Tensor, Tensor]:
        """``(log Ā, B̄)``, each ``(H, N/2)`` complex; ZOH passes ``ΔΛ`` itself, exact even when Ā underflows."""
        dt = torch.exp(self.log_dt).unsqueeze(-1)  # (H, 1)
        Lambda = torch.complex(-torch.exp(self.A_real_log), self.A_imag)  # (H, N/2)
        B = torch.view_as_complex(self.B)
        dtA = dt * Lambda
        if self.disc == "zoh":
            return dtA, torch.expm1(dtA) / Lambda * B
        return torch.log((1 + dtA / 2) / (1 - dtA / 2)), dt * B / (1 - dtA / 2)

    def discretize(self) -> tuple[Tensor, Tensor]:
        """The discrete system ``(Ā, B̄)``, each ``(H, N/2)`` complex."""
        log_dA, dB = self._log_discretize()
        return torch.exp(log_dA), dB

    def forward(self, L: int) -> Tensor:
        """Kernel ``K (channels, H, L)``, real, of the parameters' precision."""
        log_dA, dB = self._log_discretize()
        return vandermonde(2 * torch.view_as_complex(self.C) * dB, log_dA, L, self.chunk)


# ----------------------------------------------------------------------------------------------------- layer
class S4DLayer(nn.Module):
    """S4D block on ``(batch, length, d_model)`` -> ``(batch, length, d_model)``.

    ``y = K ∗ u + D∘u`` (causal FFT convolution), GELU, dropout (one mask per channel, shared over the length, as
    the reference's DropoutNd), then position-wise ``Linear(H, 2H)`` + GLU.

    ``bidirectional=True`` gives the kernel a second channel K¹ that runs backwards (as in state-spaces/s4):
    the length-2L kernel ``pad(K⁰, (0, L)) + pad(flip(K¹), (L, 0))`` under the circular FFT convolution at
    ``n = 2L`` gives ``y_t = Σ_{τ≤t} K⁰_{t−τ} u_τ + Σ_{τ>t} K¹_{τ−t−1} u_τ + D u_t``; such a layer has no
    recurrent mode.

    Recurrent mode (inference): ``setup_step()`` caches Ā, B̄, C from the current parameters (call it again after
    they change or move device), ``default_state(batch)`` gives zeros ``(batch, H, N/2)`` complex, and
    ``step(u (batch, H), state) -> (y (batch, H), state)`` runs ``x_k = Ā x_{k−1} + B̄ u_k``,
    ``y_k = 2 Re(C x_k) + D u_k`` and the same activation and output map.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        init: str = "lin",
        disc: str = "zoh",
        dropout: float = 0.0,
        bidirectional: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: float = 1e-3,
        legs_reference: bool = False,
        chunk: int = 256,
    ):
        super().__init__()
        self.d_model, self.bidirectional = d_model, bidirectional
        channels = 2 if bidirectional else 1
        self.kernel = S4DKernel(d_model=d_model, d_state=d_state, init=init, disc=disc, dt_min=dt_min, dt_max=dt_max,
                                lr=lr, channels=channels, legs_reference=legs_reference, chunk=chunk)
        self.D = nn.Parameter(torch.randn(d_model))
        self.activation = nn.GELU()
        self.dropout = nn.Dropout1d(dropout)
        self.output_linear = nn.Linear(d_model, 2 * d_model)
        self._step_cache: tuple[Tensor, Tensor, Tensor] | None = None

    def forward(self, u: Tensor) -> Tensor:
        """``u (batch, length, d_model)`` -> ``(batch, length, d_model)``; the FFT runs in the kernel's dtype."""
        check_input(u, "S4DLayer", f"(batch, length, d_model={self.d_model})", 3, self.d_model)
        L = u.shape[1]
        k = self.kernel(L)  # (channels, H, L)
        k = F.pad(k[0], (0, L)) + F.pad(k[1].flip(-1), (L, 0)) if self.bidirectional else k[0]
        u = rearrange(u, "b l h -> b h l").to(k.dtype)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        y = self.dropout(self.activation(y + self.D.unsqueeze(-1) * u))  # (batch, H, L)
        return F.glu(self.output_linear(rearrange(y, "b h l -> b l h")), dim=-1)

    def setup_step(self) -> None:
        """Cache ``(Ā, B̄, C)``, each ``(H, N/2)`` complex, for :meth:`step`."""
        if self.bidirectional:
            raise RuntimeError("a bidirectional S4DLayer looks at future inputs and has no recurrent (step) mode")
        with torch.no_grad():
            dA, dB = self.kernel.discretize()
            self._step_cache = (dA, dB, torch.view_as_complex(self.kernel.C)[0].clone())

    def default_state(self, batch_size: int) -> Tensor:
        """Zero state ``(batch_size, H, N/2)``, complex of the parameters' precision."""
        C = torch.view_as_complex(self.kernel.C)
        return C.new_zeros(batch_size, *C.shape[1:])

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One time step: ``u (batch, d_model)``, ``state (batch, H, N/2)`` -> ``(y (batch, d_model), state)``."""
        if self.bidirectional:
            raise RuntimeError("a bidirectional S4DLayer looks at future inputs and has no recurrent (step) mode")
        if self._step_cache is None:
            raise RuntimeError("call setup_step() before step()")
        check_input(u, "S4DLayer.step", f"(batch, d_model={self.d_model})", 2, self.d_model)
        dA, dB, C = self._step_cache
        expected = (u.shape[0], *dA.shape)
        if state.shape != expected:
            raise ValueError(f"S4DLayer.step expects state of shape {expected}, got {tuple(state.shape)}")
        state = dA * state + dB * u.unsqueeze(-1)
        y = 2 * (C * state).sum(-1).real + self.D * u
        y = self.dropout(self.activation(y).unsqueeze(-1)).squeeze(-1)
        return F.glu(self.output_linear(y), dim=-1), state


# ----------------------------------------------------------------------------------------------------- model
class S4DModel(SequenceBackbone):
    """Stack of S4D layers for sequence classification or sequence-to-sequence regression.

    ``x (batch, length, d_input)`` -> Linear encoder -> ``n_layers`` × [S4DLayer, dropout, residual, LayerNorm]
    -> pooling -> Linear ``decoder`` -> ``(batch, d_output)`` for ``pooling="mean"|"last"``, or
    ``(batch, length, d_output)`` for ``pooling="none"``. Post-norm by default; ``prenorm=True`` normalises the
    layer's input instead. Dropout masks whole channels, as the reference's ``example.py``.

    Recurrent mode (causal, ``bidirectional=False``, ``pooling="last"|"none"``): ``setup_step()``,
    ``default_state(batch)`` (a list with one state per layer) and
    ``step(x (batch, d_input), state) -> (y (batch, d_output), state)``, where ``y`` after step t equals the
    convolution-mode output at position t (for "last": of the sequence x_0 … x_t). Mean pooling has no step mode.
    """

    def __init__(
        self,
        d_input: int = 1,
        d_output: int = 10,
        d_model: int = 64,
        n_layers: int = 4,
        d_state: int = 64,
        dropout: float = 0.1,
        prenorm: bool = False,
        pooling: str = "mean",
        init: str = "lin",
        disc: str = "zoh",
        bidirectional: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: float = 1e-3,
        legs_reference: bool = False,
    ):
        layer = partial(S4DLayer, d_model=d_model, d_state=d_state, init=init, disc=disc, dropout=dropout,
                        bidirectional=bidirectional, dt_min=dt_min, dt_max=dt_max, lr=lr, legs_reference=legs_reference)
        super().__init__(make_layer=layer, d_input=d_input, d_output=d_output, d_model=d_model, n_layers=n_layers,
                         dropout=dropout, prenorm=prenorm, pooling=pooling)


register_sequence_model(
    "s4d", "On the Parameterization and Initialization of Diagonal State Space Models (Gu et al., 2022)"
)(S4DModel)

register_sequence_model(
    "s4_ptd", "Robustifying State-space Models for Long Sequences via Approximate Diagonalization (Yu et al., ICLR 2024)"
)(partial(S4DModel, init="ptd"))
