"""Operator learning: map an input field to an output field, trained and scored by relative L2 / H1 errors.

Batches are ``(x, y)``: ``x (batch, in_channels, *spatial)`` normalised by the datamodule, ``y (batch,
out_channels, *spatial)`` in physical units. The model predicts ``y`` normalised per channel with the training
set's ``y_mean`` / ``y_std``; the task decodes, ``ŷ = model(x) · y_std + y_mean``, and computes the loss and
metrics in physical units (as LSM and FNO do). The two statistics are buffers of the task, copied from the
datamodule when a fit starts and saved in every checkpoint, so ``eval.py`` decodes with the training set's
statistics on any data it is given.

Test loaders at several resolutions (``datamodule.test_resolutions``, the first being the training one) are
logged as ``test/<metric>`` for the first and ``test_<resolution>/<metric>`` for the others: zero-shot
super-resolution for the resolution-invariant models.
"""

from __future__ import annotations

import torch
from torchmetrics import MeanSquaredError

from zoo.metrics import RelativeH1Error, RelativeL2Error, relative_h1, relative_l2
from zoo.tasks.base import ZooTask

LOSSES = ("rel_l2", "rel_h1", "mse")


class OperatorTask(ZooTask):
    """Args:
        loss: ``"rel_l2"``, ``"rel_h1"`` (mean over samples of the relative errors) or ``"mse"``.
        periodic: whether the problem's domain is periodic (the finite differences of the H1 error).
    Logs ``{stage}/loss``, ``{stage}/rel_l2``, ``{stage}/rel_h1`` and ``{stage}/mse``.
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None, loss: str = "rel_l2",
                 periodic: bool = False):
        if loss not in LOSSES:
            raise ValueError(f"unknown operator loss {loss!r}: expected one of {LOSSES}")
        super().__init__(model, optimizer, scheduler)
        out_channels = getattr(self.model, "out_channels", None)
        if not isinstance(out_channels, int):
            raise ValueError(f"OperatorTask needs an operator model with an int `out_channels` (batch, out_channels, "
                             f"*spatial) outputs; {type(self.model).__name__} has none: pick an operator model "
                             f"(zoo.list_models(family='operators'))")
        self.register_buffer("y_mean", torch.zeros(out_channels))
        self.register_buffer("y_std", torch.ones(out_channels))
        self.init_metrics({"rel_l2": RelativeL2Error(), "rel_h1": RelativeH1Error(periodic), "mse": MeanSquaredError()})

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = getattr(self.trainer, "datamodule", None)
        if stage == "fit" and hasattr(datamodule, "y_mean"):  # Lightning sets the datamodule up first
            self.y_mean.copy_(torch.as_tensor(datamodule.y_mean))
            self.y_std.copy_(torch.as_tensor(datamodule.y_std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, in, *spatial)`` normalised -> ``ŷ (batch, out, *spatial)`` in physical units."""
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return self.model(x) * self.y_std.view(shape) + self.y_mean.view(shape)

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        prediction, y = self.predict_batch(batch, "check the model's out_channels and the data's grid")
        if self.hparams.loss == "rel_l2":
            loss = relative_l2(prediction, y)
        elif self.hparams.loss == "rel_h1":
            loss = relative_h1(prediction, y, self.hparams.periodic)
        else:
            loss = torch.nn.functional.mse_loss(prediction, y)
        self.log_value(stage, "loss", loss, prog_bar=stage == "train")
        self.log_metrics(stage, prediction, y)
        return loss
