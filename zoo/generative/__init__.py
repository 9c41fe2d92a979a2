"""Generative models that own their objective (``loss(batch) -> dict``) and ``sample``: LightSB, KVAE, the DDPM
image prior of :mod:`zoo.inverse`, and the WGAN-GP (trained adversarially by :class:`zoo.tasks.AdversarialTask`) with
its linear baselines (:mod:`~zoo.generative.linear_generators`)."""

from zoo.generative.ddpm import DDPMUNet, VPSchedule  # registers "ddpm_unet"
from zoo.generative.kvae import KoopmanVAE  # registers "kvae"
from zoo.generative.lightsb import LightSB, brownian_bridge  # registers "lightsb"
from zoo.generative.linear_generators import PCAGenerator, PCAMixtureGenerator
from zoo.generative.wgan import WGANGP, gradient_penalty  # registers "wgan_gp"

__all__ = ["DDPMUNet", "KoopmanVAE", "LightSB", "PCAGenerator", "PCAMixtureGenerator", "VPSchedule", "WGANGP",
           "brownian_bridge", "gradient_penalty"]
