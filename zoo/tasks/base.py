"""The base LightningModule of every task: builds the model through the registry, owns optimisation.

Tasks are one per objective, never one per model: the model is named by ``model = {"name": ...,
**kwargs}`` and built with :func:`zoo.checkpoint.build_model` (:func:`zoo.create_model`, then a compressed model's
factorised layers), so hyper-parameters stay plain containers and a
checkpoint loads with ``torch.load(weights_only=True)`` and rebuilds without Lightning.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics import Metric, MetricCollection

from zoo.arguments import plain
from zoo.checkpoint import build_model
from zoo.tasks.optim import build_optimizer, build_scheduler

STAGES = ("train", "val", "test")


class ZooTask(L.LightningModule):
    """Shared plumbing. Subclasses implement ``shared_step(batch, stage) -> loss`` and log their metrics.

    Args:
        model: ``{"name": <registered model>, **constructor kwargs}``.
        optimizer: ``{"name": <torch.optim class>, "lr": ..., **kwargs}``.
        scheduler: ``{"name": "cosine", "warmup_steps": ...}`` or ``None`` (constant lr).
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["evaluator"])  # a run-time object (GenerativeTask's), not plain data
        for key, value in self.hparams.items():
            self.hparams[key] = plain(value)
        self.model = build_model(dict(self.hparams.model))

    def on_fit_start(self) -> None:
        """A model whose forward needs a statistic of the training inputs (``fit_reference(x)``, e.g. the Riemannian
        mean of ``acm_ts``) gets it from the datamodule's whole training split, on every process alike, unless it has it
        (``reference_fitted``: a resumed run or an ``init_from=`` start keeps the one it loaded)."""
        if not hasattr(self.model, "fit_reference") or self.model.reference_fitted:
            return
        split = getattr(getattr(self.trainer, "datamodule", None), "splits", {}).get("train")
        if split is None:
            raise RuntimeError(f"{type(self.model).__name__} needs fit_reference(train_x) before training, and the "
                               f"trainer has no zoo datamodule to take its training split from: call "
                               f"model.fit_reference(train_x) yourself before trainer.fit")
        inputs = [batch[0] for batch in DataLoader(split, batch_size=256, collate_fn=getattr(
            self.trainer.datamodule, "collate", None))]
        self.model.fit_reference(torch.cat(inputs).to(self.device))

    def init_metrics(self, metrics: dict[str, Metric]) -> None:
        """One copy of ``metrics`` per stage, logged as ``{stage}/{name}``."""
        collection = MetricCollection(metrics)
        self.metrics = nn.ModuleDict({f"{stage}_": collection.clone(prefix=f"{stage}/") for stage in STAGES})

    def setup(self, stage: str) -> None:
        """Several test loaders (a datamodule's ``test_names``, e.g. ``["test", "test_ood"]``) get their own metrics,
        logged as ``{name}/{metric}``; the first is ``test``."""
        names = list(getattr(getattr(self.trainer, "datamodule", None), "test_names", None) or ["test"])
        if names[0] != "test":
            raise ValueError(f"a datamodule's test_names must start with 'test', got {names}")
        self.test_names = names
        if hasattr(self, "metrics"):
            for name in names[1:]:
                if f"{name}_" not in self.metrics:
                    self.metrics[f"{name}_"] = self.metrics["test_"].clone(prefix=f"{name}/")

    def log_value(self, stage: str, name: str, value, batch_size: int | None = None, prog_bar: bool = False,
                  on_step: bool | None = None) -> None:
        """Log ``{stage}/{name}`` per epoch (and per step in training), averaged over the samples (``batch_size`` a
        batch; Lightning infers it when ``None``). Outside training the epoch value is synced over processes
        (``sync_dist``), so a DDP run reports all of its samples, not rank 0's share: the sample counts are summed
        as floats (Lightning keeps an int count's mean over processes as an int, which truncates it when the
        processes hold unequal shares)."""
        self.log(f"{stage}/{name}", value, prog_bar=prog_bar, on_step=stage == "train" if on_step is None else on_step,
                 on_epoch=True, add_dataloader_idx=False, batch_size=None if batch_size is None else float(batch_size),
                 sync_dist=stage != "train")

    def log_metrics(self, stage: str, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Update the stage's metrics with a batch and log them (reduced over the epoch)."""
        collection = self.metrics[f"{stage}_"]
        collection(prediction, target)
        self.log_dict(collection, prog_bar=True, on_step=False, on_epoch=True, add_dataloader_idx=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def predict_batch(self, batch, hint: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` -> ``(self(x), y)``, with a clear error (ending in ``hint``) when the shapes differ."""
        x, y = batch
        prediction = self(x)
        if prediction.shape != y.shape:
            raise ValueError(f"the model returned shape {tuple(prediction.shape)} but the target has shape "
                             f"{tuple(y.shape)}: {hint}")
        return prediction, y

    def objective(self, prediction, target: torch.Tensor) -> torch.Tensor:
        """The batch-mean loss this task trains on, from the task's output and the target (no logging): what
        ``zoo.analysis`` and ``zoo.compress`` differentiate when ``eval.py`` runs them on a checkpoint."""
        raise NotImplementedError(f"{type(self).__name__} has no (prediction, target) loss: analysis= and compress= "
                                  "need a supervised task (classification, regression, operator, anomaly)")

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "val")

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self.shared_step(batch, getattr(self, "test_names", ["test"])[dataloader_idx])

    def configure_optimizers(self):
        optimizer = build_optimizer(self.model, self.hparams.optimizer)
        scheduler = build_scheduler(optimizer, self.hparams.scheduler, int(self.trainer.estimated_stepping_batches))
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}
