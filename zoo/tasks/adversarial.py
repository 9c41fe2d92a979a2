"""Adversarial: a generator and a critic trained against each other by manual optimisation (WGAN-GP).

The model exposes ``latent(n) -> z``, ``forward(z, cond) -> fake``, ``critic(x, cond) -> (B,)``, ``critic_loss(real,
fake, cond, lambda_gp) -> {"loss", "wasserstein", "gradient_penalty"}``, ``generator_loss(fake, cond)`` and its two
networks as the submodules ``generator`` and ``discriminator`` (each gets its own optimiser; e.g.
:class:`zoo.generative.WGANGP`).
Every training batch is one critic step (on ``L_D``, with the penalty weight ``lambda_gp``); after every ``n_critic``
critic steps comes one generator step (on ``L_G``, with a fresh ``z``), Gulrajani et al.'s Algorithm 1. The two
optimisers (``optimizer`` for the generator, ``critic_optimizer`` for the critic; defaults Adam(1e-4, β = (0, 0.9)))
are both in a checkpoint, and the step counter is Lightning's ``global_step`` (which counts both optimisers' steps),
so a resumed run goes on with the right phase.

Batches are tuples ``(x,)`` or ``(x, cond)``: ``x`` ``(B, C, T)``, ``cond`` ``(B, p)``. Logged: ``train/critic_loss``,
``train/wasserstein`` (``E[D(x)] − E[D(G(z))]``), ``train/gradient_penalty``, ``train/generator_loss``; validation
and test log ``wasserstein`` (the critic's estimate, no penalty) and ``energy_distance`` between the batch and as many
generated samples (:func:`zoo.metrics.samples.energy_distance`), what a checkpoint monitors.
"""

from __future__ import annotations

from torch import Tensor

from zoo.metrics.samples import energy_distance
from zoo.tasks.base import ZooTask
from zoo.tasks.optim import build_optimizer

METHODS = ("latent", "critic", "critic_loss", "generator_loss", "generator", "discriminator")


class AdversarialTask(ZooTask):
    """WGAN-GP training (module doc).

    Args:
        model: ``{"name": <registered model>, **kwargs}`` (it must expose :data:`METHODS`, module doc).
        optimizer: the generator's. critic_optimizer: the critic's (``None``: the same settings). n_critic: critic
        steps per generator step. lambda_gp: λ.
    """

    automatic_optimization = False

    def __init__(self, model: dict, optimizer: dict, critic_optimizer: dict | None = None, n_critic: int = 5,
                 lambda_gp: float = 10.0):
        super().__init__(model, optimizer, None)
        missing = [name for name in METHODS if not callable(getattr(self.model, name, None))]
        if missing:
            raise TypeError(f"model {self.hparams.model['name']!r} has no {', '.join(missing)}: the adversarial task "
                            "trains a generator against a critic (e.g. wgan_gp)")
        if not isinstance(n_critic, int) or n_critic < 1:
            raise ValueError(f"task.n_critic={n_critic!r} must be a positive integer (critic steps per generator step)")
        if not lambda_gp >= 0:
            raise ValueError(f"task.lambda_gp={lambda_gp!r} must be >= 0")
        self.n_critic, self.lambda_gp = n_critic, float(lambda_gp)

    @staticmethod
    def unpack(batch) -> tuple[Tensor, Tensor | None]:
        """``(x,)`` or ``(x, cond)`` -> ``(x, cond or None)``."""
        if not isinstance(batch, (list, tuple)) or len(batch) not in (1, 2):
            raise ValueError("an adversarial batch is a tuple (x,) or (x, cond), got "
                             f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
        return batch[0], batch[1] if len(batch) == 2 else None

    def generate(self, n: int, cond: Tensor | None) -> Tensor:
        return self.model(self.model.latent(n), cond)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        x, cond = self.unpack(batch)
        generator_optimizer, critic_optimizer = self.optimizers()
        generator_turn = self.global_step % (self.n_critic + 1) == self.n_critic - 1   # module doc
        terms = self.model.critic_loss(x, self.generate(len(x), cond).detach(), cond, self.lambda_gp)
        critic_optimizer.zero_grad()
        self.manual_backward(terms["loss"])
        critic_optimizer.step()
        for key, name in (("loss", "critic_loss"), ("wasserstein", "wasserstein"),
                          ("gradient_penalty", "gradient_penalty")):
            self.log_value("train", name, terms[key], batch_size=len(x), prog_bar=name == "wasserstein")
        if generator_turn:
            loss = self.model.generator_loss(self.generate(len(x), cond), cond)
            generator_optimizer.zero_grad()
            self.manual_backward(loss)
            generator_optimizer.step()
            self.log_value("train", "generator_loss", loss, batch_size=len(x))
        return terms["loss"].detach()

    def shared_step(self, batch, stage: str) -> Tensor:
        x, cond = self.unpack(batch)
        fake = self.generate(len(x), cond)
        wasserstein = self.model.critic(x, cond).mean() - self.model.critic(fake, cond).mean()
        distance = energy_distance(x, fake)
        self.log_value(stage, "wasserstein", wasserstein, batch_size=len(x))
        self.log_value(stage, "energy_distance", distance, batch_size=len(x), prog_bar=True)
        return distance

    def configure_optimizers(self):
        critic = self.hparams.critic_optimizer or self.hparams.optimizer
        return [build_optimizer(self.model.generator, self.hparams.optimizer),
                build_optimizer(self.model.discriminator, critic)]
