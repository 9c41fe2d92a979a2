"""Checkpoints without Lightning: safe loading, Lightning ``.ckpt`` -> ``nn.Module``, safetensors export.

A zoo checkpoint is either

* a Lightning ``.ckpt`` written by ``train.py``: ``state_dict`` (keys ``model.*``) and
  ``hyper_parameters["model"] = {"name": ..., **kwargs}`` as plain containers, or
* a folder written by :func:`save_pretrained`: ``model.safetensors`` + ``config.json``, or by :func:`zoo.publish`:
  the same with a model card (``README.md``) that must match them (:func:`zoo.card.verify_card`).

Whatever takes weights (:func:`load_model`, ``create_model(pretrained=...)``, ``train.py init_from=``) also takes a run
folder (its best checkpoint, else its last) and a published folder on the Hugging Face Hub, ``hf://owner/repo``.

Every ``torch.load`` here uses ``weights_only=True``, and the run config ``train.py`` stores in a ``.ckpt``
(``zoo_config``) is checked as data when it is read (:func:`run_config`): a checkpoint can never run code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import safetensors.torch
import torch
import yaml
from torch import nn

from zoo.card import HUB_PREFIX, hub_snapshot, verify_card
from zoo.io import atomic_path
from zoo.registry import CONFIG_ATTR, create_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_EXPECTED = "a .ckpt written by zoo's train.py, or a folder written by zoo.save_pretrained or zoo.publish"
#: the repository's Hydra configs: the only place a ``_target_`` (code to call) may come from
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
#: the parts of a stored run config that eval.py rebuilds, each from the config group of the same name
REBUILT = ("data", "task", "evaluator")
#: the rebuilt parts a run config may lack or hold as null (a run without an evaluator, or one from before them)
OPTIONAL = ("evaluator",)
#: what a tool changed in a built model, by the key of the model config that records it as plain data: ``load_model``
#: builds the model from the rest of the config, then calls ``rebuild(model, record)`` before loading the weights
#: (``"compression"``: the factorised Linear layers, registered by ``zoo.compress``)
REBUILDERS: dict[str, Callable[[nn.Module, object], None]] = {}


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, foreign, tampered with, or of another model."""


class Fitted(nn.Module):
    """A module with buffers whose shapes come from the data it is fitted on (a GP's training inputs, a smoother's
    posterior): declare them with :meth:`register_fitted` (empty until ``fit`` sets them) and a state dict restores
    them at their stored shapes, through :func:`load_weights` and through ``load_state_dict`` (a Lightning resume)."""

    def register_fitted(self, name: str, dtype: torch.dtype = torch.float64) -> None:
        self.register_buffer(name, torch.empty(0, dtype=dtype))
        self._fitted_names = (*getattr(self, "_fitted_names", ()), name)

    @property
    def is_fitted(self) -> bool:
        return all(getattr(self, name).numel() for name in self._fitted_names)

    def adopt_shapes(self, state: dict[str, torch.Tensor], prefix: str = "") -> None:
        """Resize the fitted buffers to those of ``state`` (keys ``prefix + name``), so that loading it matches."""
        for name in self._fitted_names:
            stored = state.get(prefix + name)
            if stored is not None:
                setattr(self, name, torch.empty(stored.shape, dtype=stored.dtype, device=getattr(self, name).device))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.adopt_shapes(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


@functools.cache
def config_targets(group: str) -> frozenset[str]:
    """The ``_target_`` of every option of the repository's config group ``group`` (``configs/<group>/*.yaml``;
    a ``# @package _global_`` option such as ``task/classification.yaml`` holds it under its group key)."""
    targets = set()
    for file in sorted((CONFIG_DIR / group).glob("*.yaml")):
        option = yaml.safe_load(file.read_text()) or {}
        option = option.get(group, option) if isinstance(option, dict) else {}
        if isinstance(option, dict) and isinstance(option.get("_target_"), str):
            targets.add(option["_target_"])
    return frozenset(target for target in targets if target.startswith("zoo."))


def current_target(group: str, target) -> str | None:
    """The ``_target_`` of the repository's config group ``group`` that a stored ``target`` stands for: itself if a
    config names it, else the one config target of the same class name (a class the package has since moved,
    e.g. ``zoo.data.timeseries.TimeSeriesDataModule`` -> ``zoo.data.TimeSeriesDataModule``), else ``None``."""
    known = config_targets(group)
    if not isinstance(target, str) or not target.startswith("zoo."):
        return None
    if target in known:
        return target
    moved = [option for option in known if option.rpartition(".")[2] == target.rpartition(".")[2]]
    return moved[0] if len(moved) == 1 else None


def _directives(value, key: str) -> list[str]:
    """The dotted keys below ``key`` that Hydra would act on (``_target_``, ``_args_``, ``_partial_``, ...)."""
    if isinstance(value, dict):
        return [found for name, item in value.items()
                for found in ([f"{key}.{name}"] if str(name).startswith("_") else _directives(item, f"{key}.{name}"))]
    if isinstance(value, (list, tuple)):
        return [found for index, item in enumerate(value) for found in _directives(item, f"{key}[{index}]")]
    return []


def run_config(checkpoint: dict, path: str | os.PathLike) -> dict | None:
    """The run config ``train.py`` stored in ``checkpoint`` (``checkpoint["zoo_config"]``), or ``None``.

    It is data, never code: its ``data`` and ``task`` sections and its ``evaluator`` if it has one (the ones
    :data:`REBUILT` from it) must name a ``_target_`` that an option of the repository's config group of the same
    name names (or named before the class moved: :func:`current_target`), and hold no other Hydra key (``_args_``, ``_partial_``, a nested ``_target_``, ...) at any depth;
    anything else is a :class:`CheckpointError` that names the file and the key. The other sections (trainer,
    callbacks, ...) are never rebuilt from a checkpoint.
    """
    config = checkpoint.get("zoo_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: zoo_config is a {type(config).__name__}, not the run config train.py writes")
    for section in REBUILT:
        values = config.get(section)
        if values is None and section in OPTIONAL:
            continue
        if not isinstance(values, dict):
            raise CheckpointError(f"{path}: zoo_config.{section} is missing or not a mapping; expected the "
                                  f"{section} config train.py writes")
        target = values.get("_target_")
        if current_target(section, target) is None:
            raise CheckpointError(
                f"{path}: zoo_config.{section}._target_ = {target!r} is not named by any of the repository's "
                f"configs/{section}/*.yaml ({', '.join(sorted(config_targets(section)))}); a checkpoint may not name "
                "code to run, so it is refused. If you wrote that class, add a config for it under configs/ and "
                "retrain")
        extra = _directives({key: item for key, item in values.items() if key != "_target_"}, f"zoo_config.{section}")
        if extra:
            raise CheckpointError(f"{path}: {extra[0]} is a Hydra directive, which a checkpoint may not carry "
                                  "(only plain values); the file is refused")
    return config


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a Lightning ``.ckpt`` (``weights_only=True``, on CPU), check it is a zoo checkpoint and that its run
    config is plain data (:func:`run_config`)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(str(file) for file in path.glob("**/*.ckpt"))[:4]
        hint = f"; it holds {', '.join(found)}" if found else ""
        raise IsADirectoryError(f"checkpoint {path} is a folder: pass a .ckpt file, e.g. "
                                f"{path / 'checkpoints' / 'last.ckpt'}{hint}")
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
    run_config(checkpoint, path)
    return checkpoint


def run_checkpoint(run: Path) -> Path:
    """The checkpoint a run folder written by ``train.py`` stands for: its best (``metrics.json``'s
    ``best_checkpoint``, looked up in the folder's ``checkpoints/``, so a moved folder works), else its last."""
    summary = run / "metrics.json"
    best = json.loads(summary.read_text()).get("best_checkpoint") if summary.is_file() else None
    for candidate in ([run / "checkpoints" / Path(best).name] if best else []) + [run / "checkpoints" / "last.ckpt"]:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"run folder {run} has no checkpoints/last.ckpt (nor the best checkpoint its metrics.json "
                            "names): pass one of its .ckpt files")


def weights_source(path: str | os.PathLike) -> Path:
    """The file or folder that ``path`` names for its weights: ``hf://owner/repo`` -> the downloaded published folder,
    a folder with ``checkpoints/`` and no ``config.json`` (a run folder) -> :func:`run_checkpoint`, anything else
    itself."""
    if str(path).startswith(HUB_PREFIX):
        return hub_snapshot(str(path))
    path = Path(path)
    if path.is_dir() and not (path / CONFIG_NAME).is_file() and (path / "checkpoints").is_dir():
        return run_checkpoint(path)
    return path


def read_weights(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor], dict | None]:
    """The model config ``{"name": ..., **kwargs}`` and plain state dict of a ``.ckpt`` or a pretrained folder,
    and the adapter options (``zoo_config.finetune``) of a ``.ckpt`` of a run fine-tuned with adapters, whose
    state holds the base weights and the adapters' apart (``None`` otherwise). ``path`` is anything
    :func:`weights_source` takes; a published folder's model card is checked against its files first."""
    path = weights_source(path)
    if path.is_dir() and not (path / CONFIG_NAME).is_file() and any(path.glob("**/*.ckpt")):
        read_checkpoint(path)  # a folder of runs: the error names the .ckpt files in it
    if path.is_dir():
        weights, config = path / WEIGHTS_NAME, path / CONFIG_NAME
        for needed in (weights, config):
            if not needed.is_file():
                raise FileNotFoundError(f"{path} has no {needed.name}; expected {_EXPECTED}")
        verify_card(path)
        try:
            state = safetensors.torch.load_file(weights)
            model = json.loads(config.read_text())
        except Exception as err:
            raise CheckpointError(f"cannot read the pretrained folder {path}: {err}") from err
        if not isinstance(model, dict) or "name" not in model:
            raise CheckpointError(f"{config} has no model 'name'; expected {_EXPECTED}")
        return model, state, None
    checkpoint = read_checkpoint(path)
    prefix = "model."
    state = {key[len(prefix):]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}
    finetune = dict((run_config(checkpoint, path) or {}).get("finetune") or {})
    adapters = finetune if finetune.get("method", "none") != "none" else None
    return dict(checkpoint["hyper_parameters"]["model"]), state, adapters


def read_pretrained(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """The model config and plain state dict of :func:`read_weights`; a fine-tuned run's ``.ckpt`` (base weights
    and adapters apart) is refused with the ways to its adapted weights."""
    config, state, adapters = read_weights(path)
    if adapters:
        run = weights_source(path).resolve().parent.parent
        raise CheckpointError(
            f"{path} holds a model fine-tuned with {adapters['method']} adapters, kept apart from its base weights "
            f"(zoo_config.finetune): load the merged model {run / 'merged'} (written with finetune.save=merged or "
            f"both), or put {run / 'adapters'} on the base model with zoo.adapters.load_adapters; `python eval.py "
            f"ckpt_path={path}` tests it as it is, and `train.py init_from={path}` merges the adapters first")
    return config, state


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
    from the model's is skipped, so that parameter keeps its fresh initialisation (a new head); a :class:`Fitted`
    module's data-shaped buffers take the stored shapes instead. With
    ``strict`` any missing, unexpected or shape-skipped key raises :class:`CheckpointError`.
    """
    for old, new in (remap or {}).items():
        state = {(new + key[len(old):] if key.startswith(old) else key): value for key, value in state.items()}
    for prefix, module in model.named_modules():
        if isinstance(module, Fitted):
            module.adopt_shapes(state, prefix + "." if prefix else "")
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
    """Build the model stored in a ``.ckpt``, a pretrained or published folder, a run folder or ``hf://owner/repo``
    (:func:`weights_source`) and load its weights (strictly), in eval mode.

    ``name`` checks the stored model is the one expected; ``overrides`` replace constructor kwargs
    that do not change parameter shapes (e.g. ``dropout=0.0``). A config entry of :data:`REBUILDERS` (e.g. a
    compressed model's ``"compression"``) is applied to the built model before its weights are loaded.
    """
    config, state = read_pretrained(path)
    if name is not None and config["name"] != name:
        raise CheckpointError(f"{path} holds a {config['name']!r} model, not {name!r}")
    model = build_model({**config, **overrides})
    load_weights(model, state, strict=True)
    return model.eval()


def rebuild_records(config: dict) -> dict:
    """The entries of a model config ``{"name": ..., **kwargs}`` that :data:`REBUILDERS` apply after building."""
    return {key: value for key, value in config.items() if key in REBUILDERS}


def build_model(config: dict) -> nn.Module:
    """:func:`zoo.create_model` from a model config, then its :func:`rebuild_records` applied (e.g. a compressed
    model's factorised layers), so the weights of the model that config describes load."""
    records = rebuild_records(config)
    model = create_model(**{key: value for key, value in config.items() if key not in records})
    for key, record in records.items():
        REBUILDERS[key](model, record)
    return model


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
    """Create ``folder/<name>`` for every ``name: writer`` (``writer(path)`` writes the file): each under a
    temporary name first (:func:`zoo.io.atomic_path`), all renamed into place once every writer has succeeded,
    so a crash never leaves a half-written file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for name, writer in writers.items():
            writer(str(stack.enter_context(atomic_path(folder / name))))
    return folder
