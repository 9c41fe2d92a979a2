"""HIR-Diff: "Unsupervised Hyperspectral Image Restoration via Improved Diffusion Models" (Pang, Rui, Cui, Wang,
Meng, Cao, CVPR 2024), on any ε-model of ``zoo.inverse.diffusion`` trained on r-channel (RGB: r = 3) images in
[-1, 1].

**Low-rank model.** A hyperspectral image (HSI) ``X`` (C bands × HW pixels, values in [0, 1]) is written
``X = E Z``: ``Z`` (r × HW) the *reduced image*, ``E`` (C × r) the coefficient matrix, estimated once from the
degraded measurement ``Y`` (its band matrix, C × hw, Eq. 14)::

    Y = U S Vᵀ,   V_r = U[:, :r]  (the top-r left singular vectors, over bands),
    b = r bands by rank-revealing QR of V_rᵀ,   E = V_r (V_r[b, :])⁻¹,

so that ``E[b, :] = I`` and ``Z = X[b]``: the reduced image is r bands of the HSI itself (the "image field"), which an
image prior can model. For ×s super-resolution ``Y`` is the low-resolution measurement itself, as in the reference
(the band space does not depend on the pixel count); for inpainting it is the masked measurement, whose missing
pixels are zero columns of ``Y`` and so do not change ``V_r`` when the mask is shared by the bands.

**Sampling.** DDIM (η = 0) on ``Z`` in the model's space [-1, 1], from ``Z_T ~ N(0, I)``; at each step t → s::

    x̂₀ = clamp((Z_t − √(1−ᾱ_t) ε̂(Z_t, ᾱ_t)) / √ᾱ_t, −1, 1),      X̂ = E (x̂₀ + 1)/2,
    Z_s = √ᾱ_s x̂₀ + √(1−ᾱ_s) ε̂ − ∇_{Z_t} 𝓛(X̂),

the gradient taken through the network, as in the reference; the last step has ᾱ_s = 1 and the output is
``clamp(E (Z_0 + 1)/2, 0, 1)``. The guidance loss, per sample, with ``𝒜`` the degradation (``op.A``), ``m`` the number
of measured entries (those of ``𝒜(1)`` that are not zero: all of ``y`` for denoising and SR, the observed ones for
inpainting), and forward differences ``∇_x, ∇_y, ∇_λ`` over rows, columns and bands::

    𝓛(X̂) = η₁ (HW/4) ‖y − 𝒜(X̂)‖² / m  +  η₂ (HW/128) Σ_{d ∈ {x, y, λ}} mean |w_d ⊙ ∇_d X̂|,

and the batch's losses are summed (so a sample's step does not depend on the batch size). Edge-aware weights
(``tv_weights="auto"``, the reference's choice for denoising) come from ``X̃``, the rank-r SVD projection of the
measurement mapped to image space (:func:`naive_estimate`): ``g_d = |mean over bands of ∇_d X̃|``,
``w_d = max g_d / (g_d + 0.5 max g_d)``, then all three divided by their largest value.

**η normalisation.** The reference multiplies its command-line η₁, η₂ by 256·64 and 8·64 and divides by the number
of entries of X̂ (by the observed count for inpainting) on 256 × 256 crops (the size its UNet is built for; the
crops' size is not in the code). Writing those constants as HW/4 and HW/128 keeps the step on each pixel of ``Z``
the same for any image size and band count (the gradient on ``Z`` sums the residual over bands through ``Eᵀ``), and
the η's here equal the reference's command-line values at 256 × 256 — except SR, whose fidelity the reference divides
by the high-resolution count C·H·W and this module by the measured count C·H·W/s²: its 500 at ×4 is 500/16 here.

**Exponential schedule** (reference ``make_beta_schedule("exp")``, k = 8, 5 for inpainting)::

    ᾱ_t = floor + (1 − floor) (1 − e^{−k (1 − t/T)}) / (1 − e^{−k}),   t = 0 … T (T = 1000, floor = 1e-3),

i.e. ``1 − e^{−k s/T}`` on ``s = T − t``, min–max normalised to [floor, 1]: ᾱ_0 = 1, ᾱ_T = floor. It is used like
any VP schedule: ᾱ_1 … ᾱ_T with DDIM's uniform skip (t = 1, 1 + T/n, …, noisiest first), then ᾱ_0 = 1. With
n = 20 and k = 8 the noisiest step is ᾱ ≈ 0.33, not the floor: the sampler still starts from pure noise, as in the
reference.

**Differs from the reference (LiPang/HIRDiff) on purpose.**
- The output is the final iterate. The reference keeps the iterate with the best PSNR against the ground truth and
  returns it when the final one scores lower: an oracle that a restoration method cannot use.
- Band selection: the reference calls MATLAB's strong RRQR (Gu–Eisenstat, ``sRRQR_rank(V_rᵀ, 1.2, 3)``). Here:
  scipy's column-pivoted QR (LAPACK ``geqp3``, the greedy pivoting that strong RRQR starts from), then strong RRQR's
  swaps. With k = r rows, ``R₁₁⁻¹R₁₂`` is ``E[rest, :]ᵀ``, so the strong-RRQR condition is ``|E| ≤ f = 1.2``; while an
  entry ``|E[j, i]| > f``, band ``j`` replaces ``b_i`` (``|det V_r[b, :]|`` grows by ``|E[j, i]|``, so this ends).
  MATLAB swaps the first such entry in column order, this the largest: both end with ``|E| ≤ 1.2`` but may select
  different bands. Bands are sorted, as in the reference.
- The reference's sign flip of V's second column changes nothing (E does not depend on the signs of V_r's
  columns) and is left out.
- One loss for all tasks: TV without the reference's wrap-around differences (its denoising / SR loss compares the
  last row with the first), each direction's mean; TV weights per sample (the reference takes maxima over the
  batch); fidelity per measured entry (see above).
- The model is called with ᾱ, as the ε-model contract says (the reference passes ᾱ to an SR3 network trained on √ᾱ).
- For n steps not dividing T the reference's ``arange(0, T, T // n)`` gives one step too many; here exactly n.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.functional.diffusion import VPSchedule
from zoo.inverse.diffusion import alpha_bar_pairs, check_epsilon_model, ddim_step, tweedie
from zoo.inverse.operators import BlurDownsample, Identity, Inpaint, LinearOperator
from zoo.modes import evaluating

BAND_SELECTIONS = ("rrqr", "uniform")
SCHEDULES = ("exp", "linear")
TV_WEIGHTS = ("auto", "uniform")
#: strong RRQR's bound on the entries of E (the reference's sRRQR_rank(V_rᵀ, 1.2, 3))
RRQR_BOUND = 1.2
#: the reference's diffusion_steps, the T of its exponential schedule
EXP_TIMESTEPS = 1000
#: the reference's settings per task (its README commands: denoising σ = 50, ×4 SR, 80 % inpainting), in this
#: module's normalisation; k and tv_weights for any other operator: the reference's defaults
TASK_DEFAULTS = {
    Identity: {"eta1": 16.0, "eta2": 10.0, "k": 8.0, "tv_weights": "auto"},
    BlurDownsample: {"eta1": 500.0 / 16, "eta2": 12.0, "k": 8.0, "tv_weights": "uniform"},
    Inpaint: {"eta1": 8.0, "eta2": 6.0, "k": 5.0, "tv_weights": "uniform"},
}
GENERIC_DEFAULTS = {"k": 8.0, "tv_weights": "uniform"}


def _as_batch(y: Tensor, name: str) -> Tensor:
    """``y`` as ``(B, C, H, W)`` from ``(C, H, W)`` or ``(B, C, H, W)``."""
    if not isinstance(y, Tensor) or y.dim() not in (3, 4) or not y.is_floating_point():
        got = f"{y.dtype} tensor of shape {tuple(y.shape)}" if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"{name} must be a real (C, H, W) or (B, C, H, W) tensor, got a {got}")
    return y if y.dim() == 4 else y.unsqueeze(0)


def _select_bands(V: np.ndarray, band_selection: str) -> np.ndarray:
    """``(r,)`` sorted band indices for the ``(C, r)`` basis ``V`` (see the module docstring)."""
    C, r = V.shape
    if band_selection == "uniform":
        return np.array([C * i // (r + 1) for i in range(1, r + 1)])
    _, pivots = scipy.linalg.qr(V.T, mode="r", pivoting=True)
    bands = pivots[:r].copy()
    while True:
        E = V @ np.linalg.inv(V[bands])
        j, i = np.unravel_index(np.abs(E).argmax(), E.shape)
        if abs(E[j, i]) <= RRQR_BOUND:
            return np.sort(bands)
        bands[i] = j


def subspace_basis(y: Tensor, rank: int = 3, band_selection: str = "rrqr") -> tuple[Tensor, Tensor]:
    """``(E (B, C, r), bands (B, r) long)`` from the band matrix of ``y`` ``(C, H, W)`` or ``(B, C, H, W)`` (any pixel
    count): ``E = V_r (V_r[b, :])⁻¹`` with ``V_r`` the top-``rank`` left singular vectors over bands and ``b`` the bands
    chosen by ``band_selection``: ``"rrqr"`` (pivoted QR + strong-RRQR swaps, ``|E| ≤ 1.2``) or ``"uniform"`` (bands
    ``⌊C i / (r + 1)⌋``, i = 1 … r, the reference's ``--no_rrqr``). Computed in float64, returned in ``y``'s dtype;
    ``E[b, :] = I``."""
    y = _as_batch(y, "y")
    B, C = y.shape[:2]
    Y = y.detach().reshape(B, C, -1).to(torch.float64)
    if not isinstance(rank, int) or not 1 <= rank <= min(C, Y.shape[-1]):
        raise ValueError(f"rank must be an int in [1, min(bands, pixels)] = [1, {min(C, Y.shape[-1])}], got {rank!r}")
    if band_selection not in BAND_SELECTIONS:
        raise ValueError(f"band_selection must be one of {BAND_SELECTIONS}, got {band_selection!r}")
    V = torch.linalg.svd(Y, full_matrices=False).U[..., :rank]
    bands = torch.from_numpy(np.stack([_select_bands(v.cpu().numpy(), band_selection) for v in V]))
    bands = bands.to(device=y.device, dtype=torch.long)
    V_b = V[torch.arange(B, device=y.device)[:, None], bands]
    cond = torch.linalg.cond(V_b)
    if not (cond < 1e12).all():
        raise ValueError(f"the selected bands {bands.tolist()} give a singular V_r[b, :] (condition numbers "
                         f"{cond.tolist()}): use band_selection='rrqr'")
    return (V @ torch.linalg.inv(V_b)).to(y.dtype), bands


def expand(E: Tensor, Z: Tensor) -> Tensor:
    """``X = E Z``: ``(B, C, r)`` and ``(B, r, H, W)`` → ``(B, C, H, W)``."""
    return torch.einsum("bcr,brhw->bchw", E, Z)


def exp_alpha_bars(k: float = 8.0, floor: float = 1e-3, timesteps: int = EXP_TIMESTEPS) -> Tensor:
    """``(T,)`` float64: the exponential schedule's ᾱ_t for t = 1 … T (decreasing to ᾱ_T = floor; ᾱ_0 = 1 is
    implicit), see the module docstring."""
    if not k > 0 or not 0 < floor < 1 or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"the exponential schedule needs k > 0, 0 < floor < 1 and an int timesteps >= 1; got "
                         f"k={k!r}, floor={floor!r}, timesteps={timesteps!r}")
    t = torch.arange(1, timesteps + 1, dtype=torch.float64)
    return floor + (1 - floor) * torch.expm1(-k * (1 - t / timesteps)) / math.expm1(-k)


def exp_schedule(steps: int, k: float = 8.0, floor: float = 1e-3, timesteps: int = EXP_TIMESTEPS) -> Tensor:
    """``(steps,)`` float64: the exponential schedule with DDIM's uniform skip, noisiest first (the order the sampler
    uses them in, followed by ᾱ = 1)."""
    return VPSchedule.from_alpha_bars(exp_alpha_bars(k, floor, timesteps)).subsequence(steps)


def linear_schedule(schedule, steps: int) -> Tensor:
    """``(steps,)`` float64: the model's own schedule with DDIM's uniform skip, ``schedule.subsequence(steps)``."""
    return torch.as_tensor(schedule.subsequence(steps), dtype=torch.float64)


def check_problem(y: Tensor, op: LinearOperator) -> tuple[int, int, int]:
    """``(C, H, W)`` of the image ``op`` acts on, after checking that ``y`` is a batch of its measurements and that
    the measurement keeps the C bands on its first axis (the spectral basis is estimated from them)."""
    if len(op.in_shape) != 3 or len(op.out_shape) != 3 or op.out_shape[0] != op.in_shape[0]:
        raise ValueError(f"HIR-Diff needs an operator from (C, H, W) images to (C, h, w) measurements; "
                         f"{type(op).__name__} maps {tuple(op.in_shape)} to {tuple(op.out_shape)}")
    if not isinstance(y, Tensor) or y.dim() != 4 or tuple(y.shape[1:]) != tuple(op.out_shape):
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"measurement of shape {got} does not fit {type(op).__name__}'s out_shape "
                         f"{tuple(op.out_shape)}: pass a batch (B, {', '.join(map(str, op.out_shape))})")
    C, H, W = op.in_shape
    if C < 2:
        raise ValueError(f"HIR-Diff restores images with several bands; op.in_shape {tuple(op.in_shape)} has {C}")
    return C, H, W


def task_settings(op: LinearOperator, *, eta1: float | None = None, eta2: float | None = None,
                  k: float | None = None, tv_weights: str | None = None) -> dict:
    """``{"eta1", "eta2", "k", "tv_weights"}``: the arguments given, the others from ``TASK_DEFAULTS`` for
    ``op``'s type (η's must be given for other operators)."""
    given = {"eta1": eta1, "eta2": eta2, "k": k, "tv_weights": tv_weights}
    defaults = TASK_DEFAULTS.get(type(op), GENERIC_DEFAULTS)
    missing = [name for name, value in given.items() if value is None and name not in defaults]
    if missing:
        raise ValueError(f"HIR-Diff has defaults for {[cls.__name__ for cls in TASK_DEFAULTS]} only: pass "
                         f"{missing} for {type(op).__name__}")
    settings = {name: defaults[name] if value is None else value for name, value in given.items()}
    if settings["tv_weights"] not in TV_WEIGHTS:
        raise ValueError(f"tv_weights must be one of {TV_WEIGHTS} (or None: the task's default), got "
                         f"{settings['tv_weights']!r}")
    return settings


def naive_estimate(y: Tensor, op: LinearOperator) -> Tensor:
    """``(B, C, H, W)``: the measurement in image space by the simplest inverse: ``y`` itself for ``Identity``,
    bicubic upsampling for ``BlurDownsample``, each band's missing pixels filled with the mean of its observed ones
    for ``Inpaint``."""
    check_problem(y, op)
    if isinstance(op, Identity):
        return y
    if isinstance(op, BlurDownsample):
        return F.interpolate(y, size=tuple(op.in_shape[1:]), mode="bicubic", align_corners=False)
    if isinstance(op, Inpaint):
        observed = (op.A(torch.ones(1, *op.in_shape, dtype=y.dtype, device=y.device)) != 0).expand_as(y)
        fill = (y * observed).sum((2, 3), keepdim=True) / observed.sum((2, 3), keepdim=True).clamp_min(1)
        return torch.where(observed, y, fill)
    raise ValueError(f"no image-space estimate for {type(op).__name__}: supported are Identity, BlurDownsample "
                     "and Inpaint")


def low_rank_projection(x: Tensor, rank: int = 3) -> Tensor:
    """``(B, C, H, W)``: ``V_r V_rᵀ X`` per sample, the best rank-``rank`` approximation of the band matrix of ``x``
    that keeps its band space (the reference's ``svd_denoise``)."""
    x = _as_batch(x, "x")
    B, C = x.shape[:2]
    if not isinstance(rank, int) or not 1 <= rank <= C:
        raise ValueError(f"rank must be an int in [1, bands = {C}], got {rank!r}")
    X = x.reshape(B, C, -1)
    V = torch.linalg.svd(X.to(torch.float64), full_matrices=False).U[..., :rank].to(x.dtype)
    return (V @ (V.transpose(1, 2) @ X)).reshape(x.shape)


def differences(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Forward differences of ``(B, C, H, W)`` along rows, columns and bands: ``(B, C, H−1, W)``,
    ``(B, C, H, W−1)``, ``(B, C−1, H, W)`` (no wrap-around)."""
    return x.diff(dim=2), x.diff(dim=3), x.diff(dim=1)


def edge_weights(x_tilde: Tensor, delta: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """The reference's TV weights from an estimate ``x_tilde`` ``(B, C, H, W)``: ``(B, 1, H−1, W)``,
    ``(B, 1, H, W−1)``, ``(B, 1, H, W)`` with ``w_d = max g_d / (g_d + δ max g_d)``, ``g_d = |mean over bands of
    ∇_d x̃|``, divided by the largest weight of the sample (so the largest is 1; flat regions weigh most)."""
    weights = []
    for d in differences(x_tilde):
        g = d.mean(1, keepdim=True).abs()
        top = g.amax(dim=(1, 2, 3), keepdim=True).clamp_min(torch.finfo(g.dtype).tiny)
        weights.append(top / (g + delta * top))
    largest = torch.stack([w.amax(dim=(1, 2, 3)) for w in weights]).amax(0).view(-1, 1, 1, 1)
    return tuple(w / largest for w in weights)


class GuidanceLoss:
    """HIR-Diff's guidance ``𝓛(X̂)`` (module docstring) for the measurements ``y`` of ``op``: called on
    ``X̂ (B, C, H, W)`` in [0, 1], it returns the ``(B,)`` per-sample losses. ``tv_weights``: ``"uniform"``, or
    ``"auto"`` (edge weights from the rank-``rank`` projection of :func:`naive_estimate`)."""

    def __init__(self, y: Tensor, op: LinearOperator, *, eta1: float, eta2: float, tv_weights: str = "uniform",
                 rank: int = 3):
        C, H, W = check_problem(y, op)
        if tv_weights not in TV_WEIGHTS:
            raise ValueError(f"tv_weights must be one of {TV_WEIGHTS}, got {tv_weights!r}")
        self.y, self.op = y, op
        ones = torch.ones(1, C, H, W, dtype=y.dtype, device=y.device)
        #: m, the number of measured entries per sample
        self.measured = int(torch.count_nonzero(op.A(ones)))
        self.fidelity_scale = eta1 * H * W / 4 / self.measured
        self.tv_scale = eta2 * H * W / 128
        self.weights = (edge_weights(low_rank_projection(naive_estimate(y, op), rank)) if tv_weights == "auto"
                        else (None, None, None))

    def __call__(self, x_hat: Tensor) -> Tensor:
        fidelity = (self.y - self.op.A(x_hat)).flatten(1).square().sum(1)
        tv = sum((d if w is None else w * d).abs().flatten(1).mean(1) for d, w in zip(differences(x_hat), self.weights))
        return self.fidelity_scale * fidelity + self.tv_scale * tv


def hirdiff(model, y: Tensor, op: LinearOperator, *, rank: int = 3, steps: int = 20, schedule: str = "exp",
            k: float | None = None, eta1: float | None = None, eta2: float | None = None,
            band_selection: str = "rrqr", tv_weights: str | None = None, x_T: Tensor | None = None,
            generator: torch.Generator | None = None) -> Tensor:
    """Restore ``(B, C, H, W)`` images in [0, 1] from measurements ``y`` ``(B, *op.out_shape)`` of ``op`` (acting on
    images in [0, 1]: ``Identity`` for denoising, ``BlurDownsample`` for SR, ``Inpaint``) with the ε-``model`` on
    ``rank`` channels (module docstring). ``schedule``: ``"exp"`` (:func:`exp_schedule` with ``k``) or ``"linear"``
    (the model's own). ``eta1``, ``eta2``, ``k``, ``tv_weights``: ``None`` takes the reference's setting for the
    operator's task (``TASK_DEFAULTS``). ``x_T``: the initial ``(B, rank, H, W)`` noise (drawn from ``generator`` when
    ``None``).

    The result is the final iterate: the reference's pick of the iterate with the best PSNR against the ground truth
    is an oracle and is not done here. The model runs in eval mode; its own modes are restored afterwards."""
    check_epsilon_model(model)
    _, H, W = check_problem(y, op)
    settings = task_settings(op, eta1=eta1, eta2=eta2, k=k, tv_weights=tv_weights)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    alpha_bars = VPSchedule.from_alpha_bars(exp_alpha_bars(settings["k"])) if schedule == "exp" else model.schedule
    pairs = alpha_bar_pairs(alpha_bars, steps)
    E, _ = subspace_basis(y, rank, band_selection)
    loss = GuidanceLoss(y, op, eta1=settings["eta1"], eta2=settings["eta2"], tv_weights=settings["tv_weights"],
                        rank=rank)
    shape = (y.shape[0], rank, H, W)
    if x_T is None:
        x_T = torch.randn(shape, generator=generator, dtype=y.dtype, device=y.device)
    elif tuple(x_T.shape) != shape:
        raise ValueError(f"x_T must be the (B, rank, H, W) = {shape} initial noise, got {tuple(x_T.shape)}")
    z = x_T
    with evaluating(model) if isinstance(model, nn.Module) else nullcontext(), torch.enable_grad():
        for alpha_bar_t, alpha_bar_s in pairs:
            z_t = z.detach().requires_grad_()
            x0_hat, eps_hat = tweedie(model, z_t, alpha_bar_t)
            x0_hat = x0_hat.clamp(-1, 1)
            (gradient,) = torch.autograd.grad(loss(expand(E, (x0_hat + 1) / 2)).sum(), z_t)
            z = ddim_step(x0_hat.detach(), eps_hat.detach(), alpha_bar_s, eta=0.0) - gradient
    return expand(E, (z + 1) / 2).clamp(0, 1)
