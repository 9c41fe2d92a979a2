"""Operator models in physical units: the training statistics an operator checkpoint keeps, and a wrapper using them.

An operator model (FNO, TFNO, T1, LSM, ...) learns on normalised fields: its input is ``(x - x_mean) / x_std``
and its output is ``(y - y_mean) / y_std``, with the per-channel mean and std of the training split's inputs
``x`` and targets ``y`` (shape ``(channels,)``). :class:`zoo.tasks.OperatorTask` keeps the four statistics as
buffers, so every ``.ckpt`` of an operator run holds them next to the weights (state keys ``x_mean``,
``x_std``, ``y_mean``, ``y_std``). ``zoo.load_model(ckpt)`` returns the bare model (normalised in, normalised
out); :func:`load_operator` returns it wrapped in :class:`Normalised`, which takes and returns physical fields::

    operator = load_operator("runs/fno_darcy/<time>/checkpoints/best.ckpt")
    u = operator(a)                      # a (batch, 1, s, s) coefficient -> u (batch, 1, s, s) pressure
    operator.statistics()                # {"x_mean": ..., "x_std": ..., "y_mean": ..., "y_std": ...}

Checkpoints written before the input statistics were stored have ``y_mean`` / ``y_std`` only: for those,
:func:`operator_statistics` is an error that says how to supply ``x_mean`` / ``x_std``.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from zoo.checkpoint import CheckpointError, load_model, read_checkpoint

STATISTICS = ("x_mean", "x_std", "y_mean", "y_std")


def _per_channel(statistic: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """``(channels,)`` -> ``(1, channels, 1, ...)``, broadcastable against ``field (batch, channels, *spatial)``."""
    return statistic.view(1, -1, *[1] * (field.ndim - 2))


def normalise(field: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``(field - mean) / std`` per channel of ``field (batch, channels, *spatial)``."""
    return (field - _per_channel(mean, field)) / _per_channel(std, field)


def denormalise(field: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``field · std + mean`` per channel of ``field (batch, channels, *spatial)``."""
    return field * _per_channel(std, field) + _per_channel(mean, field)


class Normalised(nn.Module):
    """``model`` in physical units: ``x (batch, in, *spatial)`` -> ``model((x - x_mean) / x_std) · y_std + y_mean``
    ``(batch, out, *spatial)``; the statistics are buffers of shape ``(in,)`` and ``(out,)``."""

    def __init__(self, model: nn.Module, x_mean: torch.Tensor, x_std: torch.Tensor, y_mean: torch.Tensor,
                 y_std: torch.Tensor):
        super().__init__()
        self.model = model
        for name, value in zip(STATISTICS, (x_mean, x_std, y_mean, y_std)):
            value = torch.as_tensor(value, dtype=torch.float32)
            if value.ndim != 1:
                raise ValueError(f"{name} must be a (channels,) tensor, got shape {tuple(value.shape)}")
            self.register_buffer(name, value.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return denormalise(self.model(normalise(x, self.x_mean, self.x_std)), self.y_mean, self.y_std)

    def statistics(self) -> dict[str, torch.Tensor]:
        """``{"x_mean", "x_std", "y_mean", "y_std"}``: copies of the training split's per-channel statistics."""
        return {name: getattr(self, name).clone() for name in STATISTICS}


def operator_statistics(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The training statistics ``{"x_mean", "x_std", "y_mean", "y_std"}`` (each ``(channels,)`` float32) stored in
    the ``.ckpt`` of an operator run (read with ``weights_only=True``)."""
    state = read_checkpoint(path)["state_dict"]
    if "y_mean" not in state:
        raise CheckpointError(f"{path} is not an operator run's checkpoint: it has no y_mean / y_std (the statistics "
                              f"zoo.tasks.OperatorTask stores); zoo.load_model({str(path)!r}) loads its model alone")
    if "x_mean" not in state:
        raise CheckpointError(
            f"{path} was written before operator checkpoints stored their input statistics: it has y_mean / y_std "
            f"but no x_mean / x_std. Its model takes inputs normalised by its training split's mean and std: build "
            f"that datamodule and call setup() (its x_mean, x_std), then Normalised(zoo.load_model(path), x_mean, "
            f"x_std, y_mean, y_std) with the stored y statistics; `python eval.py ckpt_path=...` does this itself")
    return {name: state[name].float().clone() for name in STATISTICS}


def load_operator(path: str | os.PathLike, **overrides) -> Normalised:
    """The model of an operator run's ``.ckpt`` (``zoo.load_model(path, **overrides)``) wrapped with its stored
    statistics (:class:`Normalised`), in eval mode: physical fields in, physical fields out."""
    return Normalised(load_model(path, **overrides), **operator_statistics(path)).eval()


__all__ = ["Normalised", "STATISTICS", "denormalise", "load_operator", "normalise", "operator_statistics"]
