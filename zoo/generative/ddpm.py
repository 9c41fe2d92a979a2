"""DDPM ε-model: "Denoising Diffusion Probabilistic Models" (Ho, Jain, Abbeel; NeurIPS 2020), with DDIM sampling
("Denoising Diffusion Implicit Models", Song, Meng, Ermon; ICLR 2021). The image prior of :mod:`zoo.inverse`.

Variance-preserving forward process with linear betas (:class:`VPSchedule`)::

    ᾱ_t = Π_{s ≤ t} (1 − β_s),   β_t linear from beta_start to beta_end,   t = 1 … T
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,   ε ~ N(0, I),   x_0 ∈ [-1, 1]^{C×H×W}

The network ``ε_θ(x_t, ᾱ)`` is Ho et al.'s U-Net at a small size: residual blocks (GroupNorm, SiLU, 3×3 conv, the
noise embedding added as a per-channel shift), one block group per resolution of ``channel_mults`` with a 2× down /
up-sampling between them, skip connections from every down block to the up path, and single-head self-attention
at the lowest resolution (``attention``).

**Continuous noise level.** The network sees the noise level itself, not a timestep index: ``alpha_bar`` enters
through sinusoidal features of the log-SNR ``λ = log(ᾱ / (1 − ᾱ))`` (clamped to ``±LOG_SNR_MAX``) and an MLP.
Training draws ``t`` uniformly from 1 … T of the linear schedule, but a sampler may then use any ᾱ in (0, 1] —
HIR-Diff's exponential schedule ``ᾱ(s) ∝ 1 − e^{−k s/T}`` hits none of the training timesteps — without retraining.

Shapes: ``forward(x_t (B, C, H, W), alpha_bar (B,)) -> ε̂ (B, C, H, W)``; ``loss({"x": (B, C, H, W)})`` the
ε-MSE; ``sample(n) -> (n, C, H, W)`` in [-1, 1]. ``H`` and ``W`` must be divisible by ``2^(levels − 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.functional.diffusion import VPSchedule
from zoo.registry import register_model

PAPER = ("Denoising Diffusion Probabilistic Models (Ho, Jain, Abbeel; NeurIPS 2020); DDIM sampling "
         "(Song, Meng, Ermon; ICLR 2021)")
#: |log-SNR| beyond this is clamped (ᾱ = 1 has λ = +∞; the linear schedule spans about −10 … 9)
LOG_SNR_MAX = 20.0
#: λ is scaled by this before the sinusoids, so adjacent training timesteps (Δλ ≈ 0.02) differ by ~1 radian
LOG_SNR_SCALE = 50.0


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 8 groups (or the largest count dividing ``channels`` below it)."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class NoiseEmbedding(nn.Module):
    """ᾱ ``(B,)`` -> ``(B, dim)``: sinusoids of ``LOG_SNR_SCALE · λ`` (geometric frequencies 1 … 10⁻⁴, as
    Transformer positions) through Linear–SiLU–Linear."""

    def __init__(self, features: int, dim: int):
        super().__init__()
        half = features // 2
        self.register_buffer("frequencies", torch.exp(-math.log(1e4) * torch.arange(half) / half), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * half, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, alpha_bar: Tensor) -> Tensor:
        log_snr = (alpha_bar.log() - torch.log1p(-alpha_bar)).clamp(-LOG_SNR_MAX, LOG_SNR_MAX)
        angle = LOG_SNR_SCALE * log_snr.unsqueeze(-1) * self.frequencies.to(alpha_bar.dtype)
        return self.mlp(torch.cat([angle.sin(), angle.cos()], -1))


class ResBlock(nn.Module):
    """``h + conv(drop(SiLU(GN(conv(SiLU(GN(h))) + W e))))``, a 1×1 conv on the skip when the width changes:
    ``(B, c_in, H, W)``, embedding ``e (B, d)`` -> ``(B, c_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int, d_embedding: int, dropout: float):
        super().__init__()
        self.first = nn.Sequential(group_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.shift = nn.Sequential(nn.SiLU(), nn.Linear(d_embedding, c_out))
        self.second = nn.Sequential(group_norm(c_out), nn.SiLU(), nn.Dropout(dropout),
                                    nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        return self.skip(h) + self.second(self.first(h) + self.shift(e)[:, :, None, None])


class SelfAttention(nn.Module):
    """Single-head self-attention over the ``H·W`` positions, residual: ``(B, c, H, W)`` -> same."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv, self.out = nn.Conv2d(channels, 3 * channels, 1), nn.Conv2d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        B, c, H, W = h.shape
        q, k, v = self.qkv(self.norm(h)).flatten(2).transpose(1, 2).chunk(3, -1)  # (B, HW, c) each
        attended = F.scaled_dot_product_attention(q, k, v)
        return h + self.out(attended.transpose(1, 2).reshape(B, c, H, W))


class DDPMUNet(nn.Module):
    """The ε-model ``ε_θ(x_t, ᾱ)`` and its schedule ``self.schedule`` (module doc).

    Args:
        in_channels: image channels ``C`` (1 for phantoms, 3 for RGB).
        base_channels: width of the first resolution; level ``i`` has ``base_channels · channel_mults[i]``.
        channel_mults: one multiplier per resolution (``len(channel_mults)`` levels, halving the size between).
        num_res_blocks: residual blocks per level on the way down (one more on the way up, as Ho et al.).
        attention: self-attention between the two residual blocks at the lowest resolution.
        dropout: in every residual block.
        timesteps, beta_start, beta_end: the training schedule (:class:`VPSchedule`).
        image_size: the side of the square images :meth:`sample` draws (and the training data has).
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, channel_mults: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, attention: bool = True, dropout: float = 0.0, timesteps: int = 1000,
                 beta_start: float = 1e-4, beta_end: float = 0.02, image_size: int = 32):
        super().__init__()
        if not channel_mults or any(not isinstance(m, int) or m < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be a non-empty list of positive integers, got {channel_mults!r}")
        self.divisor = 2 ** (len(channel_mults) - 1)  # H and W must be multiples of it
        if image_size % self.divisor:
            raise ValueError(f"image_size={image_size} must be divisible by 2^(levels - 1) = {self.divisor} "
                             f"(channel_mults={list(channel_mults)} has {len(channel_mults)} levels)")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels, self.image_size = in_channels, image_size
        self.schedule = VPSchedule(timesteps, beta_start, beta_end)
        d_embedding = 4 * base_channels
        self.embedding = NoiseEmbedding(base_channels, d_embedding)
        widths = [base_channels * m for m in channel_mults]
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        self.down, skips, width = nn.ModuleList(), [base_channels], base_channels
        for level, out in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(width, out, d_embedding, dropout))
                width = out
                skips.append(width)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
                skips.append(width)
        self.middle = nn.ModuleList([ResBlock(width, width, d_embedding, dropout),
                                     SelfAttention(width) if attention else nn.Identity(),
                                     ResBlock(width, width, d_embedding, dropout)])
        self.up = nn.ModuleList()
        for level, out in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(width + skips.pop(), out, d_embedding, dropout))
                width = out
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(width, width, 3, padding=1)))
        self.head = nn.Sequential(group_norm(width), nn.SiLU(), nn.Conv2d(width, in_channels, 3, padding=1))

    def _check(self, x: Tensor, name: str) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{name} must have shape (batch, {self.in_channels}, H, W) (in_channels="
                             f"{self.in_channels}), got {tuple(x.shape)}")
        if x.shape[-2] % self.divisor or x.shape[-1] % self.divisor:
            raise ValueError(f"{name}: H and W must be divisible by 2^(levels - 1) = {self.divisor}, got "
                             f"{tuple(x.shape[-2:])}")

    def forward(self, x_t: Tensor, alpha_bar: Tensor) -> Tensor:
        """``ε̂ = ε_θ(x_t, ᾱ)``: ``x_t (B, C, H, W)``, ``alpha_bar (B,)`` in (0, 1] -> ``(B, C, H, W)``."""
        self._check(x_t, "x_t")
        if alpha_bar.shape != (x_t.shape[0],):
            raise ValueError(f"alpha_bar must have shape (batch,) = ({x_t.shape[0]},), one noise level per image, "
                             f"got {tuple(alpha_bar.shape)}")
        if not ((alpha_bar > 0) & (alpha_bar <= 1)).all():
            raise ValueError(f"alpha_bar must lie in (0, 1], got values in [{alpha_bar.min().item():.3g}, "
                             f"{alpha_bar.max().item():.3g}]")
        e = self.embedding(alpha_bar)
        h = self.conv_in(x_t)
        skips = [h]
        for layer in self.down:
            h = layer(h, e) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        first, attend, second = self.middle
        h = second(attend(first(h, e)), e)
        for layer in self.up:
            h = layer(torch.cat([h, skips.pop()], 1), e) if isinstance(layer, ResBlock) else layer(h)
        return self.head(h)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The ε-MSE ``E‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, ᾱ_t)‖²`` with ``t ~ U{1 … T}``: ``batch["x"]``
        ``(B, C, H, W)`` in [-1, 1] -> ``{"loss": ()}``."""
        x0 = batch["x"]
        self._check(x0, 'batch["x"]')
        t = torch.randint(1, self.schedule.timesteps + 1, (x0.shape[0],), device=x0.device)
        alpha_bar = self.schedule.alpha_bars.to(x0.device)[t - 1].to(x0.dtype)
        eps = torch.randn_like(x0)
        scale = alpha_bar[:, None, None, None]
        x_t = scale.sqrt() * x0 + (1 - scale).sqrt() * eps
        return {"loss": F.mse_loss(self(x_t, alpha_bar), eps)}

    @torch.no_grad()
    def sample(self, n: int, steps: int = 50, eta: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """DDIM over ``schedule.subsequence(steps)`` from ``x ~ N(0, I)``: ``(n, C, image_size, image_size)`` in
        [-1, 1]. Each step clamps ``x̂₀ = (x_t − √(1−ᾱ) ε̂) / √ᾱ`` to [-1, 1] and re-derives ε̂ from it (guided
        diffusion's ``clip_denoised``), then ``x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s − σ²) ε̂ + σ z`` with
        ``σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)`` (``eta = 0``: deterministic, 1: DDPM's variance); the last
        step returns x̂₀. ``generator`` (on the model's device) makes the draw reproducible."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
        param = next(self.parameters())
        shape = (n, self.in_channels, self.image_size, self.image_size)
        x = torch.randn(shape, generator=generator, device=param.device, dtype=param.dtype)
        levels = self.schedule.subsequence(steps).tolist()
        for alpha_bar, alpha_next in zip(levels[:-1], levels[1:]):
            x0, eps = self._denoise(x, alpha_bar)
            sigma = eta * math.sqrt((1 - alpha_next) / (1 - alpha_bar) * (1 - alpha_bar / alpha_next))
            noise = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
            x = math.sqrt(alpha_next) * x0 + math.sqrt(1 - alpha_next - sigma ** 2) * eps + sigma * noise
        return self._denoise(x, levels[-1])[0]

    def _denoise(self, x_t: Tensor, alpha_bar: float) -> tuple[Tensor, Tensor]:
        """x̂₀ clamped to [-1, 1] and the ε̂ it implies, at the noise level ``alpha_bar`` shared by the batch."""
        eps = self(x_t, torch.full((x_t.shape[0],), alpha_bar, device=x_t.device, dtype=x_t.dtype))
        x0 = ((x_t - math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha_bar)).clamp(-1, 1)
        return x0, (x_t - math.sqrt(alpha_bar) * x0) / math.sqrt(1 - alpha_bar)


def _example(model: DDPMUNet) -> tuple[tuple[Tensor, Tensor], tuple[int, ...]]:
    shape = (2, model.in_channels, model.image_size, model.image_size)
    return (torch.randn(shape), torch.tensor([0.05, 0.9])), shape


register_model("ddpm_unet", family="generative", task="generative", paper=PAPER, capabilities=("sample",),
               example=_example)(DDPMUNet)
