"""Generative: the model owns its objective, ``model.loss(batch) -> {"loss": ..., **terms}``.

Sample-quality metrics (cBW2-UVP, discriminative score, ...) come from the run's evaluator
(:mod:`zoo.evaluation`, named by ``configs/evaluator/``): after the test loop the task calls
``evaluator(model, datamodule)`` and logs each entry as ``test/<key>``, and ``evaluator.plot`` draws
``samples.png`` in the trainer's log folder. The evaluator is a run-time object, not a hyper-parameter:
checkpoints never hold it (``eval.py`` rebuilds it from the run config, like the datamodule).
"""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.evaluation import Evaluator
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

    Every entry of the dict returned by ``model.loss(batch)`` is logged as ``{stage}/{key}``; ``evaluator`` (if
    any) scores the model after the test loop (see the module docstring).
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None,
                 evaluator: Evaluator | None = None):
        super().__init__(model, optimizer, scheduler)
        if not callable(getattr(self.model, "loss", None)):
            raise TypeError(f"model {self.hparams.model['name']!r} has no loss(batch) method; the generative "
                            "task needs one (use the classification or regression task instead)")
        self.evaluator = evaluator

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
        if self.evaluator is None:
            return
        datamodule = self.trainer.datamodule
        if datamodule is None:
            raise ValueError(f"{type(self.evaluator).__name__} scores the model against a datamodule's data: test "
                             "with trainer.test(task, datamodule=...)")
        with torch.inference_mode(False), torch.enable_grad():  # some metrics train a post-hoc classifier
            for key, value in self.evaluator(self.model, datamodule).items():
                self.log(f"test/{key}", float(value), add_dataloader_idx=False)
        folder = Path(self.trainer.log_dir or self.trainer.default_root_dir)  # a broadcast: every process asks
        if self.trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            self.evaluator.plot(self.model, datamodule, folder / "samples.png")
