"""Generative models that own their objective (``loss(batch) -> dict``) and ``sample``: LightSB, KVAE."""

from zoo.generative.kvae import KoopmanVAE  # registers "kvae"
from zoo.generative.lightsb import LightSB, brownian_bridge  # registers "lightsb"

__all__ = ["KoopmanVAE", "LightSB", "brownian_bridge"]
