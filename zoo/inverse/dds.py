"""Diffusion posterior samplers for linear inverse problems ``y = A x + n`` with any ε-model (see
``zoo.inverse.diffusion``): DDS and, as its baseline, DPS.

**DDS** — "Decomposed Diffusion Sampler for Accelerating Large-Scale Inverse Problems" (Chung, Lee, Ye; ICLR 2024).
Per step t → s over ``model.schedule.subsequence(steps)``:

1. ``ε̂ = ε_θ(x_t, ᾱ_t)`` and Tweedie's ``x̂₀ = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t``, without gradients;
2. data consistency by M conjugate-gradient steps **started at x̂₀** on ``(I + γAᴴA) x = x̂₀ + γAᴴy`` (noisy y), or on
   ``AᴴA x = Aᴴy`` (``gamma=None``, noiseless y). CG from x̂₀ moves x̂₀ only within the Krylov subspace
   ``x̂₀ + span{r₀, AᴴA r₀, …}``; the paper's argument is that this subspace approximates the tangent space of the
   clean-data manifold at x̂₀, replacing MCG's / DPS's gradient through the network;
3. the DDIM update with DDS's mixing η: ``x_s = √ᾱ_s x̂₀' + √(1−ᾱ_s) (η z + √(1−η²) ε̂)``; the last step returns
   ``x̂₀'``. η is the fraction of fresh noise, not DDIM's η (``zoo.inverse.diffusion.ddim_mixing`` converts).

Defaults are the reference code's (``HJ-harry/DDS``, ``main.py``): ``T_sampling = 50``, ``CG_iter = 5``,
``eta = 0.85``, ``gamma = 1.0``. Unlike the reference, the single-coil MRI case is not special-cased (the reference
replaces CG by ``x̂₀ − A†(Ax̂₀ − y)`` there), the schedule does not pad ``times_next`` with −1 (the last of the
``steps`` network evaluations gives the output), and nothing is moved to CUDA.

**DPS** — "Diffusion Posterior Sampling for General Noisy Inverse Problems" (Chung, Kim, Mccann, Klasky, Ye; ICLR
2023), Algorithm 1: the ancestral step (DDIM with η_DDIM = 1; DDPM's step with the posterior variance β̃ when all T
steps are used, a uniform subsequence otherwise) from ``x̂₀(x_t)`` and ``ε̂(x_t)``, then
``x_s −= ζ ∇_{x_t} ‖y − A x̂₀(x_t)‖``, the gradient through the network. As in the reference code
(``DPS2022/diffusion-posterior-sampling``, ``condition_methods.py``) the step uses the norm, not its square, which
normalises the step by the residual's size; unlike it, the norm is per sample (the reference takes one norm over
the whole batch, coupling the samples), x̂₀ is not clipped to [−1, 1] (the Gaussian oracle is not bounded), and the
ancestral variance is β̃ rather than a learned one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.inverse.cg import cg
from zoo.inverse.diffusion import alpha_bar_pairs, check_epsilon_model, ddim_mixing, ddim_step, tweedie


def _start(model, op, y: Tensor, x_T: Tensor | None, generator: torch.Generator | None) -> Tensor:
    """Check the model and ``y`` ``(B, *op.out_shape)``; return ``x_T`` ``(B, *op.in_shape)`` (N(0, I) if None), real,
    of y's precision and device."""
    check_epsilon_model(model)
    if tuple(y.shape[1:]) != tuple(op.out_shape):
        raise ValueError(f"measurement y of shape {tuple(y.shape)} does not fit {type(op).__name__}'s out_shape "
                         f"{tuple(op.out_shape)}: expected (B, *out_shape)")
    shape = (y.shape[0], *op.in_shape)
    if x_T is None:
        return torch.randn(shape, generator=generator, dtype=y.real.dtype, device=y.device)
    if tuple(x_T.shape) != shape:
        raise ValueError(f"x_T of shape {tuple(x_T.shape)} does not fit (B, *op.in_shape) = {shape}")
    return x_T


def data_consistency(op, AHy: Tensor, x0_hat: Tensor, iters: int, gamma: float | None) -> Tensor:
    """DDS's step 2: ``iters`` CG steps from x̂₀ on ``(I + γAᴴA) x = x̂₀ + γAᴴy``, or on ``AᴴA x = Aᴴy`` if
    ``gamma`` is None; ``(B, *op.in_shape)``."""
    if gamma is None:
        return cg(op.normal, AHy, x0_hat, iters)
    return cg(lambda x: x + gamma * op.normal(x), x0_hat + gamma * AHy, x0_hat, iters)


@torch.no_grad()
def dds(model, op, y: Tensor, steps: int = 50, cg_iters: int = 5, eta: float = 0.85, gamma: float | None = 1.0,
        x_T: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """DDS posterior sample(s) ``(B, *op.in_shape)`` for ``y`` ``(B, *op.out_shape)``, with ``steps`` network
    evaluations; η = 0 with a fixed ``x_T`` is deterministic."""
    x = _start(model, op, y, x_T, generator)
    AHy = op.AH(y)
    for alpha_bar_t, alpha_bar_s in alpha_bar_pairs(model.schedule, steps):
        x0_hat, eps_hat = tweedie(model, x, alpha_bar_t)
        x = ddim_step(data_consistency(op, AHy, x0_hat, cg_iters, gamma), eps_hat, alpha_bar_s, eta, generator)
    return x


def measurement_gradient(model, op, y: Tensor, x_t: Tensor, alpha_bar) -> tuple[Tensor, Tensor, Tensor]:
    """``(x̂₀, ε̂, g)``, each ``(B, *op.in_shape)``, detached: Tweedie at ``x_t`` and ``g = ∇_{x_t} Σ_b ‖y_b −
    A x̂₀(x_t)_b‖``, the gradient of each sample's residual norm through the network."""
    with torch.enable_grad():
        x_t = x_t.detach().requires_grad_(True)
        x0_hat, eps_hat = tweedie(model, x_t, alpha_bar)
        residual = (y - op.A(x0_hat)).reshape(len(y), -1)
        (gradient,) = torch.autograd.grad(torch.linalg.vector_norm(residual, dim=1).sum(), x_t)
    return x0_hat.detach(), eps_hat.detach(), gradient


def dps(model, op, y: Tensor, steps: int = 1000, zeta: float = 1.0, x_T: Tensor | None = None,
        generator: torch.Generator | None = None) -> Tensor:
    """DPS posterior sample(s) ``(B, *op.in_shape)`` for ``y`` ``(B, *op.out_shape)`` with ``steps`` network
    evaluations (and as many backward passes); ``zeta`` is the step size ζ on the residual norm's gradient."""
    x = _start(model, op, y, x_T, generator)
    for alpha_bar_t, alpha_bar_s in alpha_bar_pairs(model.schedule, steps):
        x0_hat, eps_hat, gradient = measurement_gradient(model, op, y, x, alpha_bar_t)
        x = ddim_step(x0_hat, eps_hat, alpha_bar_s, ddim_mixing(alpha_bar_t, alpha_bar_s), generator) - zeta * gradient
    return x
