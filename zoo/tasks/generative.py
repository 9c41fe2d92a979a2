"""Generative: the model owns its objective, ``model.loss(batch) -> {"loss": ..., **terms}``.

Sample-quality metrics (cBW2-UVP, discriminative score, ...) need the data's ground truth, so the
datamodule computes them: after the test loop the task calls ``datamodule.sample_metrics(model)``
(if it has one) and logs each entry as ``test/<key>``; a datamodule with ``plot_samples(model, path)``
also gets a figure, ``samples.png``, in the trainer's log folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.tasks.base import ZooTask


def batch_size(batch) -> int | None:
    """The number of samples in a tensor batch or a dict of them (the leading size of its first tensor)."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    if isinstance(batch, dict):
        return next((len(value) for value in batch.values() if isinstance(value, torch.Tensor)), None)
    return None


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
        size = batch_size(batch)
        for key, value in terms.items():
            self.log_value(stage, key, value, batch_size=size, prog_bar=key == "loss",
                           on_step=stage == "train" and key == "loss")
        return terms["loss"]

    def on_test_epoch_end(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if callable(getattr(datamodule, "sample_metrics", None)):
            with torch.inference_mode(False), torch.enable_grad():  # some metrics train a post-hoc classifier
                for key, value in datamodule.sample_metrics(self.model).items():
                    self.log(f"test/{key}", float(value), add_dataloader_idx=False)
        if callable(getattr(datamodule, "plot_samples", None)):
            folder = Path(self.trainer.log_dir or self.trainer.default_root_dir)  # a broadcast: every process asks
            if self.trainer.is_global_zero:
                folder.mkdir(parents=True, exist_ok=True)
                datamodule.plot_samples(self.model, folder / "samples.png")
