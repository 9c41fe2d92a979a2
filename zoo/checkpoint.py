"""Checkpoints without Lightning: safe loading, Lightning ``.ckpt`` -> ``nn.Module``, safetensors export.

A zoo checkpoint is either

* a Lightning ``.ckpt`` written by ``train.py``: ``state_dict`` (keys ``model.*``) and
  ``hyper_parameters["model"] = {"name": ..., **kwargs}`` as plain containers, or
* a folder written by :func:`save_pretrained`: ``model.safetensors`` + ``config.json``.

Every ``torch.load`` here uses ``weights_only=True``: a checkpoint can never run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import safetensors.torch
import torch
from torch import nn

from zoo.registry import CONFIG_ATTR, create_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_EXPECTED = "a .ckpt written by zoo's train.py, or a folder written by zoo.save_pretrained"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, foreign, or of another model."""


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a Lightning ``.ckpt`` (``weights_only=True``, on CPU) and check it is a zoo checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; expected {_EXPECTED}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated, corrupt or unsafe pickles
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt, truncated or not a torch file): {err}") from err
    model = checkpoint.get("hyper_parameters", {}).get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(model, dict) or "name" not in model or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"{path} is not a zoo checkpoint: it has no 'state_dict' and 'hyper_parameters.model.name'; expected {_EXPECTED}"
        )
    return checkpoint


def read_pretrained(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """The model config ``{"name": ..., **kwargs}`` and plain state dict of a ``.ckpt`` or a pretrained folder."""
    path = Path(path)
    if path.is_dir():
        weights, config = path / WEIGHTS_NAME, path / CONFIG_NAME
        for needed in (weights, config):
            if not needed.is_file():
                raise FileNotFoundError(f"{path} has no {needed.name}; expected {_EXPECTED}")
        try:
            state = safetensors.torch.load_file(weights)
            model = json.loads(config.read_text())
        except Exception as err:
            raise CheckpointError(f"cannot read the pretrained folder {path}: {err}") from err
        if not isinstance(model, dict) or "name" not in model:
            raise CheckpointError(f"{config} has no model 'name'; expected {_EXPECTED}")
        return model, state
    checkpoint = read_checkpoint(path)
    prefix = "model."
    state = {key[len(prefix):]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}
    return dict(checkpoint["hyper_parameters"]["model"]), state


@dataclass
class LoadReport:
    """What :func:`load_weights` did: keys loaded, missing in the checkpoint, unexpected, and skipped for shape."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_skipped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"]
        lines += [f"  missing (kept fresh init): {key}" for key in self.missing]
        lines += [f"  unexpected (ignored): {key}" for key in self.unexpected]
        lines += [
            f"  shape-skipped (re-initialised): {key} checkpoint {list(old)} -> model {list(new)}"
            for key, old, new in self.shape_skipped
        ]
        return "\n".join(lines)


def load_weights(
    model: nn.Module, state: dict[str, torch.Tensor], strict: bool = False, remap: dict[str, str] | None = None
) -> LoadReport:
    """Copy matching tensors of ``state`` into ``model`` and report the rest.

    ``remap`` renames key prefixes first (``{"encoder.": "backbone."}``). A tensor whose shape differs
    from the model's is skipped, so that parameter keeps its fresh initialisation (a new head). With
    ``strict`` any missing, unexpected or shape-skipped key raises :class:`CheckpointError`.
    """
    for old, new in (remap or {}).items():
        state = {(new + key[len(old):] if key.startswith(old) else key): value for key, value in state.items()}
    own = model.state_dict()
    report = LoadReport(
        missing=[key for key in own if key not in state],
        unexpected=[key for key in state if key not in own],
        shape_skipped=[
            (key, tuple(value.shape), tuple(own[key].shape))
            for key, value in state.items()
            if key in own and value.shape != own[key].shape
        ],
    )
    skipped = {key for key, _, _ in report.shape_skipped}
    matched = {key: value for key, value in state.items() if key in own and key not in skipped}
    report.loaded = sorted(matched)
    if not matched:
        raise CheckpointError(f"no tensor of the checkpoint matches the model:\n{report}")
    if strict and (report.missing or report.unexpected or report.shape_skipped):
        raise CheckpointError(f"checkpoint does not match the model exactly (strict=True):\n{report}")
    model.load_state_dict(matched, strict=False)
    return report


def load_model(path: str | os.PathLike, name: str | None = None, **overrides) -> nn.Module:
    """Build the model stored in a ``.ckpt`` or pretrained folder and load its weights (strictly), in eval mode.

    ``name`` checks the stored model is the one expected; ``overrides`` replace constructor kwargs
    that do not change parameter shapes (e.g. ``dropout=0.0``).
    """
    config, state = read_pretrained(path)
    if name is not None and config["name"] != name:
        raise CheckpointError(f"{path} holds a {config['name']!r} model, not {name!r}")
    model = create_model(**{**config, **overrides})
    load_weights(model, state, strict=True)
    return model.eval()


def save_pretrained(model: nn.Module, folder: str | os.PathLike, config: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (``{"name": ..., **kwargs}``) into ``folder``.

    ``config`` defaults to what :func:`zoo.create_model` recorded on the model. Files are written
    atomically (to a temporary name, then renamed).
    """
    config = config if config is not None else getattr(model, CONFIG_ATTR, None)
    if not config or "name" not in config:
        raise ValueError(
            "save_pretrained needs the model's config: build it with zoo.create_model, or pass "
            "config={'name': <registered name>, **constructor kwargs}"
        )
    return write_atomically(folder, {
        WEIGHTS_NAME: lambda path: safetensors.torch.save_model(model, path),
        CONFIG_NAME: lambda path: Path(path).write_text(json.dumps(config, indent=2, sort_keys=True)),
    })


def write_atomically(folder: str | os.PathLike, writers: dict[str, Callable[[str], object]]) -> Path:
    """Create ``folder/<name>`` for every ``name: writer`` (``writer(path)`` writes the file) in a temporary
    folder first, then rename each into place: a crash never leaves a half-written file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for name, writer in writers.items():
            writer(os.path.join(tmp, name))
        for name in writers:
            os.replace(os.path.join(tmp, name), folder / name)
    return folder
