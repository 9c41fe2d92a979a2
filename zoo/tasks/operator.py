"""Operator learning: map an input field to an output field, trained and scored by relative L2 / H1 errors.

Batches are ``(x, y)`` in physical units: ``x (batch, in_channels, *spatial)``, ``y (batch, out_channels,
*spatial)``. The task normalises the input and decodes the output with the training split's per-channel
statistics (:mod:`zoo.normaliser`): ``ŷ = model((x - x_mean) / x_std) · y_std + y_mean``, and computes the loss
and metrics in physical units (as LSM and FNO do). The four statistics are buffers of the task, copied from the
datamodule (its ``x_mean, x_std, y_mean, y_std``, those it has) when a fit starts and saved in every checkpoint,
so ``eval.py ckpt_path=... data=<other data>`` normalises and decodes with the *training* statistics, never
with those of the data it is given, and ``zoo.normaliser.load_operator(ckpt)`` runs the model on raw fields.

A checkpoint written before the input statistics were stored (``y_mean`` / ``y_std`` only) still loads: its
inputs are then normalised with the statistics of the datamodule the trainer is given (its training split, as
that older code did inside the datamodule), with a warning, since on other data this renormalises the set.
Without a datamodule that has them, such a task refuses to predict rather than guess.

Test loaders at several resolutions (``datamodule.test_resolutions``, the first being the training one) are
logged as ``test/<metric>`` for the first and ``test_<resolution>/<metric>`` for the others: zero-shot
super-resolution for the resolution-invariant models.
"""

from __future__ import annotations

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torchmetrics import MeanSquaredError

from zoo.metrics import RelativeH1Error, RelativeL2Error, relative_h1, relative_l2
from zoo.normaliser import STATISTICS, denormalise, normalise
from zoo.tasks.base import ZooTask

LOSSES = ("rel_l2", "rel_h1", "mse")


def _fill_missing_input_statistics(task: "OperatorTask", state_dict: dict, prefix: str, *_) -> None:
    """A load_state_dict pre-hook: a state without ``x_mean`` / ``x_std`` (an older operator checkpoint) keeps the
    task's own, and unless a datamodule has given those, the task waits for one (module doc)."""
    if prefix + "y_mean" in state_dict and prefix + "x_mean" not in state_dict:
        state_dict[prefix + "x_mean"], state_dict[prefix + "x_std"] = task.x_mean.clone(), task.x_std.clone()
        task.input_statistics_missing = not task.statistics_from_data


class OperatorTask(ZooTask):
    """Args:
        loss: ``"rel_l2"``, ``"rel_h1"`` (mean over samples of the relative errors) or ``"mse"``.
        periodic: whether the problem's domain is periodic (the finite differences of the H1 error).
    Logs ``{stage}/loss``, ``{stage}/rel_l2``, ``{stage}/rel_h1`` and ``{stage}/mse``. Buffers ``x_mean``,
    ``x_std`` ``(in_channels,)`` and ``y_mean``, ``y_std`` ``(out_channels,)``: 0 and 1 until a fit copies the
    datamodule's.
    """

    def __init__(self, model: dict, optimizer: dict, scheduler: dict | None = None, loss: str = "rel_l2",
                 periodic: bool = False):
        if loss not in LOSSES:
            raise ValueError(f"unknown operator loss {loss!r}: expected one of {LOSSES}")
        super().__init__(model, optimizer, scheduler)
        channels = {side: getattr(self.model, f"{side}_channels", None) for side in ("in", "out")}
        if not all(isinstance(count, int) for count in channels.values()):
            raise ValueError(f"OperatorTask needs an operator model with int `in_channels` and `out_channels` ((batch, "
                             f"channels, *spatial) fields); {type(self.model).__name__} has {channels}: pick an "
                             f"operator model (zoo.list_models(family='operators'))")
        for name in STATISTICS:
            count = channels["in" if name.startswith("x") else "out"]
            self.register_buffer(name, torch.zeros(count) if name.endswith("mean") else torch.ones(count))
        self.statistics_from_data = False  # set when a datamodule's statistics were copied in
        self.input_statistics_missing = False  # an older checkpoint without x_mean / x_std was loaded (module doc)
        self.register_load_state_dict_pre_hook(_fill_missing_input_statistics)
        self.init_metrics({"rel_l2": RelativeL2Error(), "rel_h1": RelativeH1Error(periodic), "mse": MeanSquaredError()})

    def copy_statistics(self, datamodule, names=STATISTICS) -> list[str]:
        """Copy those of ``names`` that ``datamodule`` has (after its ``setup``) into the buffers; returns the names
        copied."""
        copied = []
        for name in names:
            if getattr(datamodule, name, None) is None:
                continue
            value, buffer = torch.as_tensor(getattr(datamodule, name)), getattr(self, name)
            if value.shape != buffer.shape:
                raise ValueError(f"the datamodule's {name} has shape {tuple(value.shape)} but the model has "
                                 f"{buffer.numel()} {'input' if name.startswith('x') else 'output'} channels: set the "
                                 f"model's in_channels / out_channels to the data's")
            buffer.copy_(value)
            copied.append(name)
        self.statistics_from_data = self.statistics_from_data or bool(copied)
        if {"x_mean", "x_std"} <= set(copied):
            self.input_statistics_missing = False
        return copied

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit":  # Lightning sets the datamodule up first
            self.copy_statistics(getattr(self.trainer, "datamodule", None))

    def _inputs_from_datamodule(self) -> None:
        """An older checkpoint (no x statistics, loaded before or by the trainer): the datamodule's (module doc)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.input_statistics_missing and self.copy_statistics(datamodule, ("x_mean", "x_std")):
            rank_zero_warn(
                "this operator checkpoint was written before checkpoints stored their input statistics (it has "
                "y_mean / y_std but no x_mean / x_std): its inputs are normalised with the training split of the "
                f"datamodule given now ({type(datamodule).__name__}), as the code that wrote it did. That is right "
                "for the run's own data; on other data it renormalises the set with its own statistics. Retrain to "
                "store them")

    def on_validation_start(self) -> None:
        self._inputs_from_datamodule()

    def on_test_start(self) -> None:
        self._inputs_from_datamodule()

    def on_predict_start(self) -> None:
        self._inputs_from_datamodule()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, in, *spatial)`` in physical units -> ``ŷ (batch, out, *spatial)`` in physical units."""
        if self.input_statistics_missing:
            raise RuntimeError(
                "this OperatorTask holds a checkpoint written before input statistics were stored (no x_mean / "
                "x_std) and no datamodule has given them: test it with a Trainer and the run's datamodule (eval.py "
                "does; the datamodule's training split gives them), or call task.copy_statistics(datamodule, "
                "('x_mean', 'x_std')) after the datamodule's setup()")
        return denormalise(self.model(normalise(x, self.x_mean, self.x_std)), self.y_mean, self.y_std)

    def objective(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "rel_l2":
            return relative_l2(prediction, y)
        if self.hparams.loss == "rel_h1":
            return relative_h1(prediction, y, self.hparams.periodic)
        return torch.nn.functional.mse_loss(prediction, y)

    def shared_step(self, batch, stage: str) -> torch.Tensor:
        prediction, y = self.predict_batch(batch, "check the model's out_channels and the data's grid")
        loss = self.objective(prediction, y)
        self.log_value(stage, "loss", loss, batch_size=len(y), prog_bar=stage == "train")
        self.log_metrics(stage, prediction, y)
        return loss
