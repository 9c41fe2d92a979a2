"""Classification: cross-entropy on logits ``(batch, num_classes)``, accuracy per stage."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from zoo.tasks.base import ZooTask


class ClassificationTask(ZooTask):
    """Batches are ``(x, y)`` with integer labels ``y`` of shape ``(batch,)`` in ``[0, num_classes)``.

    Logs ``{stage}/loss`` and ``{stage}/acc`` for stage in train, val, test.
    """

    def __init__(self, model: dict, num_classes: int, optimizer: dict, scheduler: dict | None = None,
                 label_smoothing: float = 0.0):
        super().__init__(model, optimizer, scheduler)
        self.init_metrics({"acc": MulticlassAccuracy(num_classes, average="micro")})

    def objective(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        num_classes = self.hparams.num_classes
        if logits.ndim != 2 or logits.shape[1] != num_classes:
            raise ValueError(
                f"the model returned logits of shape {tuple(logits.shape)}; the classification task expects "
                f"(batch, num_classes={num_classes}): check the model's output size (d_output) and pooling"
            )
        loss = self.objective(logits, y)
        self.log_value(stage, "loss", loss, batch_size=len(y), prog_bar=stage != "test")
        self.log_metrics(stage, logits, y)
        return loss
