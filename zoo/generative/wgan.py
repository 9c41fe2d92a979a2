"""WGAN-GP for time histories: "Uncertainty quantification in a mechanical submodel driven by a Wasserstein-GAN"
(Boukraichi, Akkari, Casenave, Ryckelynck), with the gradient penalty of Gulrajani et al. (2017).

A generator ``G`` maps latent noise ``z ~ N(0, I_{d_z})`` (and optionally the load parameters ``c``) to a set of
boundary-condition histories ``x = G(z, c)`` ``(C, T)``; a critic ``D`` scores histories. With ``x̂ = εx + (1−ε)G(z)``,
``ε ~ U(0, 1)`` per sample::

    L_D = E[D(G(z))] − E[D(x)] + λ E[(‖∇_x̂ D(x̂)‖₂ − 1)²]        (λ = 10)
    L_G = −E[D(G(z))]

``E[D(x)] − E[D(G(z))]`` estimates the Wasserstein-1 distance (up to the critic's Lipschitz constant). The penalty is
per sample, so the critic has no BatchNorm (``critic_norm="layer"``: LayerNorm over each sample's features, or
``"none"``), and its gradient is taken with ``create_graph=True`` so the penalty trains the critic.

Training (``n_critic`` critic steps per generator step, two Adam optimisers) is :class:`zoo.tasks.AdversarialTask`'s.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from zoo.registry import register_model

PAPER = ("Uncertainty quantification in a mechanical submodel driven by a Wasserstein-GAN (Boukraichi, Akkari, "
         "Casenave, Ryckelynck); WGAN-GP (Gulrajani et al., NeurIPS 2017)")
NORMS = ("layer", "none")


def gradient_penalty(critic: Callable[[Tensor, Tensor | None], Tensor], real: Tensor, fake: Tensor,
                     cond: Tensor | None = None, epsilon: Tensor | None = None) -> Tensor:
    """``E[(‖∇_x̂ D(x̂)‖₂ − 1)²]`` at ``x̂ = ε real + (1 − ε) fake``: real, fake ``(B, ...)``, ``epsilon`` ``(B,)``
    (uniform when ``None``), ``critic(x, cond) -> (B,)``; a scalar that keeps the graph (``create_graph=True``)."""
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} samples must have the same shape")
    if epsilon is None:
        epsilon = torch.rand(len(real), dtype=real.dtype, device=real.device)
    epsilon = epsilon.reshape(-1, *[1] * (real.dim() - 1))
    mixed = (epsilon * real + (1 - epsilon) * fake).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(mixed, cond).sum(), mixed, create_graph=True)
    return (gradient.flatten(1).norm(dim=1) - 1).pow(2).mean()


class Generator(nn.Module):
    """``(z (B, d_z), cond (B, p) | None) -> x (B, C, T)``: a linear map to ``(width, T / 2^n_blocks)``, then
    ``n_blocks`` × (linear upsampling ×2, Conv1d(5), LeakyReLU), then a Conv1d(5) to ``C`` channels."""

    def __init__(self, channels: int, length: int, latent_dim: int, cond_dim: int, width: int, n_blocks: int):
        super().__init__()
        self.width, self.start = width, length // 2**n_blocks
        self.project = nn.Linear(latent_dim + cond_dim, width * self.start)
        blocks = []
        for _ in range(n_blocks):
            blocks += [nn.Upsample(scale_factor=2, mode="linear"), nn.Conv1d(width, width, 5, padding=2),
                       nn.LeakyReLU(0.2)]
        self.blocks = nn.Sequential(nn.LeakyReLU(0.2), *blocks, nn.Conv1d(width, channels, 5, padding=2))

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        inputs = z if cond is None else torch.cat([z, cond], 1)
        return self.blocks(self.project(inputs).view(len(z), self.width, self.start))


class Critic(nn.Module):
    """``(x (B, C, T), cond (B, p) | None) -> (B,)``: ``n_blocks`` × (Conv1d(5, stride 2), LayerNorm or none,
    LeakyReLU), flattened, joined by ``cond``, then an MLP to one score. No BatchNorm (module doc)."""

    def __init__(self, channels: int, length: int, cond_dim: int, width: int, n_blocks: int, norm: str):
        super().__init__()
        layers, in_channels = [], channels
        for block in range(n_blocks):
            layers.append(nn.Conv1d(in_channels, width, 5, stride=2, padding=2))
            if norm == "layer":
                layers.append(nn.LayerNorm([width, length // 2 ** (block + 1)]))
            layers.append(nn.LeakyReLU(0.2))
            in_channels = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(width * (length // 2**n_blocks) + cond_dim, width), nn.LeakyReLU(0.2),
                                  nn.Linear(width, 1))

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        features = self.features(x)
        return self.head(features if cond is None else torch.cat([features, cond], 1))[:, 0]


class WGANGP(nn.Module):
    """A 1-D convolutional WGAN-GP (module doc).

    Args:
        channels: C, the histories per sample (2: ``u(a, t), u(b, t)``). length: T, a multiple of ``2^n_blocks``.
        latent_dim: d_z. cond_dim: p, the conditioning parameters (0: unconditional). width: conv channels.
        n_blocks: up-/down-sampling blocks of the generator and the critic. critic_norm: ``"layer"`` or ``"none"``.
    """

    def __init__(self, channels: int = 2, length: int = 128, latent_dim: int = 16, cond_dim: int = 0,
                 width: int = 32, n_blocks: int = 3, critic_norm: str = "layer"):
        super().__init__()
        if critic_norm not in NORMS:
            raise ValueError(f"critic_norm={critic_norm!r}: expected one of {NORMS} (no BatchNorm: the gradient "
                             "penalty is per sample)")
        for key, value in (("channels", channels), ("latent_dim", latent_dim), ("width", width),
                           ("n_blocks", n_blocks)):
            if value < 1:
                raise ValueError(f"{key}={value} must be a positive integer")
        if cond_dim < 0:
            raise ValueError(f"cond_dim={cond_dim} must be >= 0 (0: unconditional)")
        if length % 2**n_blocks:
            raise ValueError(f"length={length} must be a multiple of 2^n_blocks = {2**n_blocks}: change length "
                             "(the data's n_records) or n_blocks")
        self.channels, self.length, self.latent_dim, self.cond_dim = channels, length, latent_dim, cond_dim
        self.generator = Generator(channels, length, latent_dim, cond_dim, width, n_blocks)
        self.discriminator = Critic(channels, length, cond_dim, width, n_blocks, critic_norm)

    @property
    def objective_parameters(self) -> tuple[str, ...]:
        """The critic's parameters: the objectives train them, ``forward`` (the generator) never uses them."""
        return tuple(f"discriminator.{name}" for name, _ in self.discriminator.named_parameters())

    def _check_cond(self, cond: Tensor | None, batch: int) -> None:
        if (cond is None) != (self.cond_dim == 0):
            raise ValueError(f"this model has cond_dim={self.cond_dim}: pass cond (B, {self.cond_dim})"
                             if self.cond_dim else "this model is unconditional (cond_dim=0): pass cond=None")
        if cond is not None and tuple(cond.shape) != (batch, self.cond_dim):
            raise ValueError(f"cond must be ({batch}, {self.cond_dim}), got {tuple(cond.shape)}")

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """``G(z, cond)``: ``z`` ``(B, d_z)`` -> ``(B, C, T)``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, latent_dim={self.latent_dim}), got {tuple(z.shape)}")
        self._check_cond(cond, len(z))
        return self.generator(z, cond)

    def critic(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """``D(x, cond)``: ``(B, C, T)`` -> ``(B,)``."""
        if tuple(x.shape[1:]) != (self.channels, self.length):
            raise ValueError(f"x must be (B, {self.channels}, {self.length}), got {tuple(x.shape)}")
        self._check_cond(cond, len(x))
        return self.discriminator(x, cond)

    def latent(self, n: int) -> Tensor:
        """``n`` draws of ``z ~ N(0, I)`` ``(n, d_z)`` on the parameters' device and dtype."""
        parameter = next(self.parameters())
        return torch.randn(n, self.latent_dim, device=parameter.device, dtype=parameter.dtype)

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None) -> Tensor:
        """``n`` histories ``(n, C, T)`` (``cond`` ``(n, p)`` for a conditional model)."""
        return self(self.latent(n), cond)

    def gradient_penalty(self, real: Tensor, fake: Tensor, cond: Tensor | None = None) -> Tensor:
        """:func:`gradient_penalty` of this critic."""
        return gradient_penalty(self.critic, real, fake, cond)

    def critic_loss(self, real: Tensor, fake: Tensor, cond: Tensor | None = None,
                    lambda_gp: float = 10.0) -> dict[str, Tensor]:
        """``{"loss": L_D, "wasserstein": E[D(x)] − E[D(G(z))], "gradient_penalty": ...}`` (``fake`` detached by the
        caller)."""
        wasserstein = self.critic(real, cond).mean() - self.critic(fake, cond).mean()
        penalty = self.gradient_penalty(real, fake, cond)
        return {"loss": -wasserstein + lambda_gp * penalty, "wasserstein": wasserstein.detach(),
                "gradient_penalty": penalty.detach()}

    def generator_loss(self, fake: Tensor, cond: Tensor | None = None) -> Tensor:
        """``L_G = −E[D(G(z))]``."""
        return -self.critic(fake, cond).mean()


def _example(model: WGANGP) -> tuple[tuple[Tensor, ...], tuple[int, ...]]:
    inputs = (torch.randn(4, model.latent_dim),) + ((torch.randn(4, model.cond_dim),) if model.cond_dim else ())
    return inputs, (4, model.channels, model.length)


register_model("wgan_gp", family="generative", task="adversarial", paper=PAPER, capabilities=("sample",),
               example=_example)(WGANGP)
