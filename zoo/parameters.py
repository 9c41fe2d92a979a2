"""Optimiser parameter groups that honour the zoo layers' own hyper-parameters, for any ``nn.Module``.

A parameter may carry its own hyper-parameters as ``param._optim = {"lr": 1e-3, "weight_decay": 0.0}``: the SSM
state tensors of S4D / S5 (``log_dt``, ``A_real_log``, ``A_imag``, ``B``; ``Lambda``, ``log_Delta``) train at their
own learning rate without weight decay, the recipe of the S4 papers; PINN eigenvalues have their own lr. A plain
``torch.optim.AdamW(model.parameters())`` silently gives them the base lr and decay; pass the groups instead::

    optimizer = torch.optim.AdamW(zoo.parameter_groups(model, lr=3e-3, weight_decay=0.05))
"""

from __future__ import annotations

from torch import nn


def parameter_groups(model: nn.Module, *, lr: float | None = None, weight_decay: float | None = None) -> list[dict]:
    """Optimiser groups for ``model``: the base group (every trainable parameter without ``_optim``), then one group per
    distinct ``_optim`` dict. Frozen parameters (``requires_grad=False``) are left out.

    Args:
        model: any module, e.g. a user's network holding zoo layers.
        lr, weight_decay: the base group's values (``None``: the optimiser's own default, or its ``lr=`` argument). A
            parameter's ``_optim`` entries override them in its group; what it leaves out is the base's.
    Returns:
        ``[{"params": [...], "lr": ..., "weight_decay": ...}, ...]`` for any ``torch.optim`` constructor.
    """
    base = {key: value for key, value in (("lr", lr), ("weight_decay", weight_decay)) if value is not None}
    groups: dict[tuple, dict] = {(): {"params": [], **base}}
    for param in model.parameters():
        if not param.requires_grad:
            continue
        special = getattr(param, "_optim", {})
        groups.setdefault(tuple(sorted(special.items())), {"params": [], **base, **special})["params"].append(param)
    return [group for group in groups.values() if group["params"]]
