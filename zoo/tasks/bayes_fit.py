"""Models fitted by their own inference rather than by a task's optimiser: an exact GP's marginal likelihood (RVGP),
conditional expectation propagation with Kalman smoothing (FunBaT).

The training split is one batch, a dict of keyword arguments for ``model.fit(**batch)`` (e.g. ``coords (N, K)`` and
``y (N,)``), fitted once per epoch (a datamodule's training split is fitted whole, so one epoch is the fit). Evaluation
batches are ``(x, y)``: ``model(x)`` is scored against ``y`` by RMSE and relative L2 (``‖ŷ − y‖ / ‖y‖`` over a whole
batch, averaged over batches: these datamodules give each split as one batch, so it is the split's relative L2).
"""

from __future__ import annotations

import torch
from torchmetrics import MeanSquaredError

from zoo.metrics import RelativeL2Error
from zoo.tasks.base import ZooTask


class BayesFitTask(ZooTask):
    """No optimiser and no scheduler: ``model.fit(**batch)`` is the training step (module doc)."""

    def __init__(self, model: dict, optimizer: dict | None = None, scheduler: dict | None = None):
        if optimizer or scheduler:
            raise ValueError("the bayes_fit task fits its model by the model's own inference (model.fit): drop "
                             "task.optimizer and task.scheduler")
        super().__init__(model, optimizer, scheduler)
        self.automatic_optimization = False
        self.init_metrics({"rmse": MeanSquaredError(squared=False), "rel_l2": RelativeL2Error()})

    def training_step(self, batch, batch_idx: int) -> None:
        if not isinstance(batch, dict):
            raise ValueError(f"the bayes_fit task's training batch is a dict of keyword arguments for model.fit, got "
                             f"a {type(batch).__name__}: use a datamodule made for it (data=continuous_tensor, "
                             "data=manifold_vectors)")
        self.model.fit(**batch)

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        if self.trainer.sanity_checking:      # Lightning's check runs before the fit: nothing is fitted yet
            return None
        return self.shared_step(batch, "val")

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        prediction, y = self.predict_batch(batch, "the model predicts one value per entry of the split")
        loss = (prediction - y).square().mean()
        self.log_value(stage, "loss", loss, batch_size=len(y), prog_bar=stage != "test")
        self.log_metrics(stage, prediction.reshape(1, -1), y.reshape(1, -1))
        return loss

    def configure_optimizers(self):
        return None
