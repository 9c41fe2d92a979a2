"""Generative: the model owns its objective, ``model.loss(batch) -> {"loss": ..., **terms}``."""

from __future__ import annotations

import torch

from zoo.tasks.base import ZooTask


class GenerativeTask(ZooTask):
    """For models that train with their own objective (VAE, bridge, diffusion).

    Every entry of the dict returned by ``model.loss(batch)`` is logged as ``{stage}/{key}``.
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None):
        super().__init__(model, optimizer, scheduler)
        if not callable(getattr(self.model, "loss", None)):
            raise TypeError(f"model {self.hparams.model['name']!r} has no loss(batch) method; the generative "
                            "task needs one (use the classification or regression task instead)")

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        terms = self.model.loss(batch)
        if not isinstance(terms, dict) or "loss" not in terms:
            raise TypeError(f"model.loss(batch) must return a dict with a 'loss' key, got {type(terms).__name__}")
        for key, value in terms.items():
            self.log(f"{stage}/{key}", value, prog_bar=key == "loss", on_step=stage == "train" and key == "loss",
                     on_epoch=True, add_dataloader_idx=False)
        return terms["loss"]
