"""The DDIM pieces the diffusion solvers share: the ε-model contract, Tweedie's denoiser and the DDIM update.

**ε-model.** Any callable ``model(x_t: (B, C, H, W), alpha_bar: (B,)) -> ε̂ (B, C, H, W)`` for the VP process
``x_t = √ᾱ x₀ + √(1−ᾱ) ε``, carrying ``model.schedule`` whose ``subsequence(steps)`` gives ``(steps,)`` values of
ᾱ, noisiest first (DDIM's uniform skip). Nothing else of the model is used, so a trained network and the exact
Gaussian oracle (``zoo.inverse.gaussian``) are interchangeable.

**Tweedie.** ``x̂₀ = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t``; it is ``E[x₀ | x_t]`` when ``ε̂ = E[ε | x_t]``.

**DDIM update** t → s (ᾱ_s > ᾱ_t), written with DDS's noise mixing η ∈ [0, 1]::

    x_s = √ᾱ_s x̂₀ + √(1−ᾱ_s) (η z + √(1−η²) ε̂),   z ~ N(0, I).

DDIM (Song et al. 2021) writes the same family with σ_s: ``x_s = √ᾱ_s x̂₀ + √(1−ᾱ_s−σ_s²) ε̂ + σ_s z``,
``σ_s = η_DDIM √((1−ᾱ_s)/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_s)``, so the two are related by ``η = σ_s / √(1−ᾱ_s)``
(:func:`ddim_mixing`). DDS's η is the step-independent fraction of fresh noise; DDIM's is relative to DDPM's
posterior standard deviation. They are not the same number: DDPM's ancestral step (η_DDIM = 1) over 50 of 1000
linear-β steps is a DDS mixing of 0.42–0.57 on the first 45 steps (rising to 0.99 on the last), so DDS's default
η = 0.85 injects more fresh noise than DDPM does.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import Tensor, nn

EPSILON_MODEL = ("an epsilon-model: a callable model(x_t: (B, C, H, W), alpha_bar: (B,)) -> eps_hat (B, C, H, W) "
                 "with model.schedule.subsequence(steps) -> (steps,) alpha_bar values, noisiest first")


def check_epsilon_model(model) -> None:
    """Raise a ValueError saying what is expected unless ``model`` is callable as ``model(x_t, alpha_bar)`` and has
    ``model.schedule.subsequence``."""
    if not callable(model):
        raise ValueError(f"expected {EPSILON_MODEL}; got a non-callable {type(model).__name__}")
    if not callable(getattr(getattr(model, "schedule", None), "subsequence", None)):
        raise ValueError(f"expected {EPSILON_MODEL}; {type(model).__name__} has no schedule with a subsequence "
                         "method")
    try:
        inspect.signature(model.forward if isinstance(model, nn.Module) else model).bind(None, None)
    except TypeError as err:
        raise ValueError(f"expected {EPSILON_MODEL}; {type(model).__name__} cannot be called as "
                         f"model(x_t, alpha_bar): {err}") from None


def alpha_bar_pairs(schedule, steps: int) -> list[tuple[float, float]]:
    """``[(ᾱ_t, ᾱ_s), ...]``, one pair per step: ``schedule.subsequence(steps)`` in order, and ᾱ_s = 1 (x₀ itself)
    after the last, so that the last DDIM update returns its x̂₀."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    alpha_bars = torch.as_tensor(schedule.subsequence(steps), dtype=torch.float64)
    if alpha_bars.shape != (steps,) or not ((alpha_bars > 0) & (alpha_bars < 1)).all() \
            or not (alpha_bars.diff() > 0).all():
        raise ValueError(f"schedule.subsequence({steps}) must give ({steps},) alpha_bar values in (0, 1), increasing "
                         f"(noisiest first); got {alpha_bars.tolist()}")
    values = alpha_bars.tolist()
    return list(zip(values, values[1:] + [1.0]))


def per_sample(alpha_bar, x: Tensor) -> Tensor:
    """ᾱ as a ``(B,)`` tensor of ``x``'s dtype and device, from a float or a ``()`` / ``(B,)`` tensor."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=x.dtype, device=x.device)
    if alpha_bar.dim() > 1 or alpha_bar.numel() not in (1, x.shape[0]):
        raise ValueError(f"alpha_bar must be a float or a (B,) = ({x.shape[0]},) tensor, got shape "
                         f"{tuple(alpha_bar.shape)}")
    return alpha_bar.reshape(-1).expand(x.shape[0])


def tweedie(model, x_t: Tensor, alpha_bar) -> tuple[Tensor, Tensor]:
    """``(x̂₀, ε̂)``, both ``(B, C, H, W)``: ``ε̂ = model(x_t, ᾱ)`` and ``x̂₀ = (x_t − √(1−ᾱ) ε̂) / √ᾱ``. ``alpha_bar``
    is a float or a ``(B,)`` tensor. Gradients flow through the model unless the caller turns them off."""
    alpha_bar = per_sample(alpha_bar, x_t)
    eps_hat = model(x_t, alpha_bar)
    if not isinstance(eps_hat, Tensor) or eps_hat.shape != x_t.shape:
        got = tuple(eps_hat.shape) if isinstance(eps_hat, Tensor) else type(eps_hat).__name__
        raise ValueError(f"expected {EPSILON_MODEL}; for x_t of shape {tuple(x_t.shape)} it returned {got}")
    a = alpha_bar.view(-1, *([1] * (x_t.dim() - 1)))
    return (x_t - (1 - a).sqrt() * eps_hat) / a.sqrt(), eps_hat


def ddim_mixing(alpha_bar_t: float, alpha_bar_s: float, eta_ddim: float = 1.0) -> float:
    """DDS's mixing η of the DDIM step t → s with DDIM's ``η_DDIM``: ``η_DDIM √((1 − ᾱ_t/ᾱ_s) / (1 − ᾱ_t))``
    (``σ_s / √(1−ᾱ_s)``, see the module docstring); ``η_DDIM = 1`` is DDPM's ancestral step."""
    return eta_ddim * math.sqrt((1 - alpha_bar_t / alpha_bar_s) / (1 - alpha_bar_t))


def ddim_step(x0_hat: Tensor, eps_hat: Tensor, alpha_bar_s: float, eta: float,
              generator: torch.Generator | None = None) -> Tensor:
    """``x_s = √ᾱ_s x̂₀ + √(1−ᾱ_s) (η z + √(1−η²) ε̂)``, ``(B, C, H, W)``; z is drawn only when it is used
    (η > 0 and ᾱ_s < 1), so ᾱ_s = 1 returns x̂₀ and η = 0 is deterministic."""
    if not 0 <= eta <= 1:
        raise ValueError(f"eta (the fraction of fresh noise) must be in [0, 1], got {eta!r}")
    if alpha_bar_s == 1:
        return x0_hat
    noise = math.sqrt(1 - eta ** 2) * eps_hat
    if eta > 0:
        z = torch.randn(eps_hat.shape, generator=generator, dtype=eps_hat.dtype, device=eps_hat.device)
        noise = noise + eta * z
    return math.sqrt(alpha_bar_s) * x0_hat + math.sqrt(1 - alpha_bar_s) * noise
