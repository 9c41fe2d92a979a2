"""Optimiser and scheduler from plain config dicts, with per-parameter hyper-parameters.

A parameter may carry its own hyper-parameters as ``param._optim = {"lr": 1e-3, "weight_decay": 0.0}``
(the convention of the S4 code base: SSM state matrices train slower and without decay). Such
parameters get an optimiser group of their own (:func:`zoo.parameter_groups`, which a plain PyTorch loop uses
too); every other trainable parameter uses the base group.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo.arguments import accepts, check_arguments
from zoo.parameters import parameter_groups

SCHEDULERS = ("cosine", "constant")


def build_optimizer(model: nn.Module, config: dict) -> torch.optim.Optimizer:
    """``config = {"name": "AdamW", "lr": ..., **kwargs}`` names any ``torch.optim`` class; every option is checked
    against the class's annotations, and an error names its key (``task.optimizer.lr``)."""
    config = dict(config)
    name = config.pop("name")
    cls = getattr(torch.optim, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"unknown optimizer {name!r}: expected a class of torch.optim such as 'AdamW', 'Adam' or 'SGD'")
    check_arguments(cls, config, caller=f"torch.optim.{name}", prefix="task.optimizer")
    try:
        return cls(parameter_groups(model), **config)
    except ValueError as err:  # torch's range checks ("Invalid learning rate: -1") name no key
        raise ValueError(f"task.optimizer ({name}): {err}") from err


def build_scheduler(optimizer: torch.optim.Optimizer, config: dict | None, total_steps: int) -> dict | None:
    """A per-step Lightning scheduler dict, or ``None`` for a constant learning rate.

    ``config = {"name": "cosine", "warmup_steps": W}``: linear warm-up over W steps, then a half
    cosine from each group's lr down to 0 at ``total_steps``.
    """
    if not config or config.get("name") == "constant":
        return None
    config = dict(config)
    name, warmup = config.pop("name"), config.pop("warmup_steps", 0)
    if name not in SCHEDULERS or config:
        raise ValueError(f"scheduler {name!r} with options {sorted(config)}: expected name in {SCHEDULERS} and only 'warmup_steps'")
    if not accepts(int, warmup) or warmup < 0:
        raise ValueError(f"task.scheduler.warmup_steps={warmup!r}: expected an int >= 0")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
