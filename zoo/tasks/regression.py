"""Regression: prediction and target of the same shape ``(batch, *)``; MSE, MAE and relative L2 per stage."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from zoo.metrics import RelativeL2Error, relative_l2
from zoo.tasks.base import ZooTask

LOSSES = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss, "rel_l2": relative_l2}


class RegressionTask(ZooTask):
    """Batches are ``(x, y)``; the model maps ``x`` to a tensor shaped like ``y``.

    Args:
        loss: ``"mse"``, ``"mae"`` or ``"rel_l2"`` (mean over samples of ‖ŷ − y‖₂ / ‖y‖₂).
    Logs ``{stage}/loss``, ``{stage}/mse``, ``{stage}/mae`` and ``{stage}/rel_l2``.
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None, loss: str = "mse"):
        if loss not in LOSSES:
            raise ValueError(f"unknown regression loss {loss!r}: expected one of {sorted(LOSSES)}")
        super().__init__(model, optimizer, scheduler)
        self.init_metrics({"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "rel_l2": RelativeL2Error()})

    def objective(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return LOSSES[self.hparams.loss](prediction, y)

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        prediction, y = self.predict_batch(batch, "check the model's output size (d_output) and pooling")
        loss = self.objective(prediction, y)
        self.log_value(stage, "loss", loss, batch_size=len(y), prog_bar=stage != "test")
        self.log_metrics(stage, prediction, y)
        return loss
