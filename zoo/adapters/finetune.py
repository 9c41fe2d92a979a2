"""The adapter lifecycle of a training run (``train.py init_from=<ckpt> finetune=flora|lora``): the ``finetune``
config group's options, the injection, what a run saves when it ends, and the plain weights of a fine-tuned run's
checkpoint (``init_from`` of one merges its adapters first)."""

from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from zoo.adapters.config import config_from_dict
from zoo.adapters.tuner import count_parameters, inject_adapters, merge_and_unload, save_adapters
from zoo.checkpoint import load_weights, save_pretrained
from zoo.registry import create_model

#: what a fine-tuned run writes into its folder: ``adapters/``, ``merged/`` or both
SAVES = ("adapters", "merged", "both")


def finetune_options(finetune: dict | None) -> tuple[dict | None, str]:
    """``(adapter config dict or None, what to save)`` from a ``finetune`` group (``method: none`` means none)."""
    options = dict(finetune or {})
    save = options.pop("save", "adapters")
    if options.get("method", "none") == "none":
        return None, save
    if save not in SAVES:
        raise ValueError(f"finetune.save={save!r}: expected one of {', '.join(SAVES)}")
    return options, save


def add_adapters(model: nn.Module, options: dict) -> tuple[int, int]:
    """Inject the adapters of a ``finetune`` group's ``options``; returns ``(trainable, total)`` parameters."""
    inject_adapters(model, config_from_dict(options))
    return count_parameters(model)


def save_finetuned(model: nn.Module, save: str, folder: Path) -> dict[str, str]:
    """Write the adapters (``folder/adapters``) and/or the merged plain model (``folder/merged``, a pretrained
    folder) as ``save`` says; returns what was written."""
    written = {}
    if save in ("adapters", "both"):
        written["adapters"] = str(save_adapters(model, folder / "adapters"))
    if save in ("merged", "both"):
        merged = merge_and_unload(copy.deepcopy(model))
        written["merged"] = str(save_pretrained(merged, folder / "merged", model.zoo_config))
    return written


def merged_weights(config: dict, state: dict, adapters: dict) -> dict:
    """The plain weights of a fine-tuned run's model (``config``, its ``state`` with base weights and adapters
    apart, its ``finetune`` options ``adapters``): the adapters loaded, then merged in."""
    model = create_model(**config)
    add_adapters(model, finetune_options(adapters)[0])
    load_weights(model, state, strict=True)
    return merge_and_unload(model).state_dict()
