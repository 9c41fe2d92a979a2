"""Generative models that own their objective (``loss(batch) -> dict``) and ``sample``: LightSB, KVAE, and the DDPM
image prior of :mod:`zoo.inverse`."""

from zoo.generative.ddpm import DDPMUNet, VPSchedule  # registers "ddpm_unet"
from zoo.generative.kvae import KoopmanVAE  # registers "kvae"
from zoo.generative.lightsb import LightSB, brownian_bridge  # registers "lightsb"

__all__ = ["DDPMUNet", "KoopmanVAE", "LightSB", "VPSchedule", "brownian_bridge"]
